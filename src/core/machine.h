/* machine.h - the PC machine model shared by every engine: guest RAM (a
 * memfd), the physical memory map and port bus, the devices, virtual timers,
 * the console, and the run loop that drives one vCPU through an engine. */
#ifndef POPEK_MACHINE_H
#define POPEK_MACHINE_H
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu_state.h"
#include "engine.h"
#include "io_bus.h"

/* Exit statuses of popek.  Odd values come from the guest through
 * isa-debug-exit ((v << 1) | 1, as in QEMU); popek's own are even. */
enum popek_status {
    ST_GUEST_RESET = 0,     /* guest asked for reset / power-off */
    ST_USAGE = 2,           /* bad command line or bad input file */
    ST_TRIPLE_FAULT = 4,    /* guest triple-faulted or shut down */
    ST_GUEST_HUNG = 6,      /* hlt with interrupts off: would never wake */
    ST_UNSUPPORTED = 8,     /* guest used something the engine lacks */
    ST_HOST_ERROR = 10,     /* engine or host failure */
    ST_TIMEOUT = 12,        /* --timeout expired */
    ST_USER_QUIT = 14,      /* Ctrl-A x on the console */
};

/* Virtual timers on the host monotonic clock, fired by the run loop. */
struct vtimer {
    uint64_t deadline; /* clock_ns(); 0 = not armed */
    void (*cb)(void *opaque);
    void *opaque;
    struct vtimer *next;
};

/* The interrupt controller the machine routes device IRQ lines to. */
struct intc_ops {
    void *ctx;
    void (*set_irq)(void *ctx, int irq, int level);
    bool (*intr)(void *ctx);   /* is INTR asserted to the CPU? */
    int (*ack)(void *ctx);     /* INTA cycle: returns the vector */
};

struct machine_config {
    const char *engine;
    const char *kernel, *initrd, *append;
    uint64_t ram_size;
    const char *stats_path;
    double timeout_s;       /* 0 = none */
    bool quiet;             /* no popek messages on stderr except errors */
};

#define INPUT_RING 4096

struct machine {
    struct machine_config cfg;
    const struct engine_ops *ops;
    void *engine;               /* engine private state */

    /* Guest RAM: one memfd, mapped once here at `ram`. */
    int ram_fd;
    uint8_t *ram;
    uint64_t ram_size;

    struct io_space pio, mmio;
    struct intc_ops intc;

    /* Device state (opaque to the machine; each device file owns its). */
    struct uart *uart;
    struct pic *pic;
    struct pit *pit;
    struct cmos *cmos;
    /* Small devices' state (post_port.c, pci_host.c, reset_ctrl.c),
     * freed by machine_destroy() like the four above. */
    struct post_port *post;
    struct pci_host *pci;
    struct reset_ctrl *reset;

    struct vtimer *timers;
    int timer_fd;               /* timerfd armed at the earliest deadline */
    int wake_fd;                /* eventfd: wakes the halted run loop */

    /* Console input from the I/O thread (single producer/consumer). */
    uint8_t input[INPUT_RING];
    _Atomic unsigned input_head, input_tail;
    pthread_t io_thread;
    bool io_thread_running;
    _Atomic bool io_thread_stop;
    bool stdin_is_tty;

    /* Set by devices or the console to end the run. */
    _Atomic bool stop;
    int status;                 /* popek exit status once stopped */
    char reason[200];           /* one-line reason for the stop */

    /* Statistics. */
    uint64_t start_ns, run_ns;
    uint64_t intr_injected, halts, kicks;
};

/* Check sizes and files named in a config; -1 with fail() if bad. */
int machine_check_config(const struct machine_config *cfg);
/* Build a machine: RAM, devices, engine.  Returns NULL with fail(). */
struct machine *machine_create(const struct machine_config *cfg);
void machine_destroy(struct machine *m);
/* Load the kernel and run until the guest stops; returns the exit status. */
int machine_run(struct machine *m);

/* For devices and engines. */
static inline void machine_pio(struct machine *m, uint16_t port, uint8_t *data,
                               unsigned len, bool is_write)
{
    io_access(&m->pio, port, data, len, is_write);
}
static inline void machine_mmio(struct machine *m, uint64_t gpa, uint8_t *data,
                                unsigned len, bool is_write)
{
    io_access(&m->mmio, gpa, data, len, is_write);
}
/* Host pointer for guest-physical [gpa, gpa+len) if it is all RAM. */
static inline uint8_t *gpa_to_hva(struct machine *m, uint64_t gpa,
                                  uint64_t len)
{
    if (gpa >= m->ram_size || len > m->ram_size - gpa)
        return NULL;
    return m->ram + gpa;
}
void machine_set_irq(struct machine *m, int irq, int level);
bool machine_intr_pending(struct machine *m);
/* Stop the machine with a status and a one-line reason (first call wins). */
void machine_request_stop(struct machine *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void vtimer_init(struct vtimer *t, void (*cb)(void *), void *opaque);
void vtimer_mod(struct machine *m, struct vtimer *t, uint64_t deadline_ns);
void vtimer_del(struct machine *m, struct vtimer *t);

/* Console: bytes to stdout; input bytes from stdin (-1 if none). */
void console_putc(struct machine *m, uint8_t c);
int console_getc(struct machine *m);
bool console_has_input(struct machine *m);

#endif
