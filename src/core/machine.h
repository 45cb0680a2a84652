/* machine.h - the machine core shared by every engine and every board:
 * guest RAM (a memfd), the io spaces (port bus, physical memory map, MSRs),
 * the device list, virtual timers, the interrupt hook, the console, and the
 * run loop that drives one vCPU through an engine.  The core knows no
 * device: a board (src/board/pc.c) creates the devices and wires them. */
#ifndef POPEK_MACHINE_H
#define POPEK_MACHINE_H
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu_state.h"
#include "engine.h"
#include "io_bus.h"
#include "iothread.h"
#include "log.h"

struct json;

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
    ST_SIGNAL = 16,         /* stopped by SIGTERM, SIGINT or SIGHUP */
};

/* Virtual timers on the host monotonic clock, fired by the run loop. */
struct vtimer {
    uint64_t deadline; /* clock_ns(); 0 = not armed */
    void (*cb)(void *opaque);
    void *opaque;
    struct vtimer *next;
};

/* The interrupt controller the machine routes device IRQ lines to (set by
 * the board: what asserts INTR to the CPU and answers the INTA cycle). */
struct intc_ops {
    void *ctx;
    void (*set_irq)(void *ctx, int irq, int level);
    bool (*intr)(void *ctx);   /* is INTR asserted to the CPU? */
    int (*ack)(void *ctx);     /* INTA cycle: returns the vector */
    /* Optional: an NMI is pending for the CPU (take: and hand it over,
     * once per NMI).  NMIs do not wait for EFLAGS.IF; the CPU blocks the
     * next one until IRET.  Without it (or an engine without inject_nmi)
     * an NMI is answered by ack() as vector 2. */
    bool (*nmi)(void *ctx, bool take);
};

struct machine_config {
    const char *engine;
    const char *kernel, *initrd, *append;
    uint64_t ram_size;
    const char *stats_path;
    double timeout_s;       /* 0 = none */
    bool quiet;             /* no popek messages on stderr except errors */
    /* --cpu: paravirtual interfaces offered to the guest (src/pv). */
    bool cpu_kvm;           /* KVM's CPUID leaves (Linux's KVM guest) */
    bool cpu_kvmclock;      /* ... with kvmclock (needs cpu_kvm) */
    bool cpu_pv_eoi;        /* ... with PV EOI (needs cpu_kvm) */
    /* IDE drives (--ide FILE[,ro]): primary master, then slave. */
    struct { const char *path; bool ro; } ide[2];
    int n_ide;
    bool verbose;           /* -v: say which engine and why, and more */
    FILE *stats_file;       /* --stats, opened before the guest starts */
    const char *engine_why; /* why this engine (--engine auto), or NULL */
    bool sandbox;           /* install the seccomp filter (sandbox.c) */
    bool test_forbidden_syscall; /* test only: make a forbidden system
                                  * call from the vCPU thread */
    /* Board devices from the command line (the board checks them). */
    const char *disks[8];   /* --disk FILE[,ro] */
    int ndisks;
    const char *net;        /* --net user[,...] */
    bool rng;               /* --rng */
};

#define INPUT_RING 4096

/* A device on the machine's device list (board-created, core-owned): a
 * name, a reset hook and a destroy hook that frees its state. */
struct device {
    const char *name;
    void *opaque;
    void (*reset)(void *opaque);    /* may be NULL */
    void (*destroy)(void *opaque);  /* may be NULL (then free(opaque)) */
    /* its counters for --stats, as an object named after it (NULL: none;
     * set with machine_set_device_stats) */
    void (*stats)(void *opaque, struct json *j);
    struct device *next;
};

/* An interrupt line a device raises: machine_set_irq(m, irq) routes it. */
struct irq_line {
    struct machine *m;
    int irq;                    /* ISA IRQ / GSI number */
};

struct machine {
    struct machine_config cfg;
    const struct engine_ops *ops;
    void *engine;               /* engine private state */

    /* Guest RAM: one memfd, mapped once here at `ram`. */
    int ram_fd;
    uint8_t *ram;
    uint64_t ram_size;

    struct io_space pio, mmio;
    struct io_space msr;        /* model-specific registers served by
                                 * devices (e.g. the local APIC's base),
                                 * 8 bytes at offset 0 of each index */
    struct intc_ops intc;
    /* Interrupts beside the controller's: the paravirtual upcall (src/pv),
     * asked first; NULL until a guest registers one. */
    bool (*pv_event_ready)(struct machine *m);
    int (*pv_event_ack)(struct machine *m);     /* returns the vector */
    /* Message-signalled interrupts (PCI MSI/MSI-X): set by the board to
     * the interrupt controller that receives them; NULL = dropped. */
    void (*msi)(void *ctx, uint64_t addr, uint32_t data);
    void *msi_ctx;
    /* Guest TSC = clock_ns() + tsc_offset (interp and bt run it at 1 GHz;
     * the engine updates this when the guest writes the TSC), so devices
     * (the local APIC's TSC-deadline timer) convert TSC <-> host ns. */
    uint64_t tsc_offset;

    /* Devices, in creation order (the board creates them). */
    struct device *devices;
    void *board;                /* the board's own state, freed by it */
    void (*board_destroy)(struct machine *m);
    /* The device that owns the console's input (the UART). */
    void (*console_rx)(void *opaque);
    void *console_rx_opaque;

    struct vtimer *timers;
    struct vtimer console_flush; /* flushes an unfinished console line */
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

    /* The watchdog (watchdog.c): ends popek when a stop was requested
     * and the vCPU does not come back to the run loop in time. */
    pthread_t watchdog;
    bool watchdog_running;
    _Atomic bool loop_done;     /* the run loop has left (or is leaving) */
    _Atomic bool finishing;     /* run loop or watchdog: who writes the end */
    int signal_fd;              /* signalfd of SIGTERM/SIGINT/SIGHUP */
    /* The control plane (src/control: gdb stub, monitor, engine
     * switching), or NULL.  An engine switch replaces ops/engine on the
     * vCPU thread; kicks from other threads go through
     * machine_engine_kick, which skips the engine while it is replaced. */
    struct control *ctl;
    _Atomic int kick_inflight;
    _Atomic bool engine_swapping;

    /* Guest RAM written by devices behind the engine's back (DMA through
     * m->ram): one bit per 4 KiB page, set from any thread by
     * machine_ram_dirty, taken by the run loop before the engine runs
     * again (engine_ops.code_written drops translations and decoded
     * instructions of those pages). */
    /* The device I/O thread and the bottom halves (iothread.c). */
    struct iothread *iothread;
    struct machine_bh *bhs;
    _Atomic bool bh_pending;

    _Atomic uint64_t *ram_dirty;
    _Atomic bool ram_dirty_any;
    uint64_t ram_dirty_pages;   /* pages handed to the engine */

    /* Statistics. */
    uint64_t start_ns, run_ns;
    uint64_t intr_injected, halts, kicks;
};

/* Check sizes and files named in a config; -1 with fail() if bad. */
int machine_check_config(const struct machine_config *cfg);
/* Build a machine core: RAM, io spaces, engine (no devices: the board adds
 * them, then loads the guest).  Returns NULL with fail(). */
struct machine *machine_create(const struct machine_config *cfg);
void machine_destroy(struct machine *m);
/* The same with an engine given directly (unit tests' fake engines). */
struct machine *machine_create_ops(const struct machine_config *cfg,
                                   const struct engine_ops *ops);
/* Write --stats (if asked); `watchdog` says the vCPU never came back. */
void machine_write_stats(struct machine *m, bool watchdog);
/* Run the loaded guest until it stops; returns the exit status. */
int machine_run(struct machine *m);

/* ---- the device list ---- */
/* Add a device (its state is freed by destroy, or free(), when the machine
 * is destroyed).  -1 with fail() if out of memory. */
int machine_add_device(struct machine *m, const char *name, void *opaque,
                       void (*reset)(void *), void (*destroy)(void *));
/* The state of the first device called name, or NULL. */
void *machine_find_device(struct machine *m, const char *name);
/* Give the device called name a --stats hook. */
void machine_set_device_stats(struct machine *m, const char *name,
                              void (*fn)(void *opaque, struct json *j));
/* Run every device's reset hook, in creation order. */
void machine_reset_devices(struct machine *m);

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
static inline void irq_set(struct irq_line l, int level)
{
    machine_set_irq(l.m, l.irq, level);
}
bool machine_intr_pending(struct machine *m);
/* An NMI waits for the CPU (only with an engine that takes NMIs). */
bool machine_nmi_pending(struct machine *m);
/* A device wrote guest RAM [gpa, gpa+len) through m->ram (DMA): the engine
 * forgets code it derived from those pages before the vCPU runs again
 * (machine_ram_dirty_sync, which the run loop calls before every run).
 * Any thread, after the data is in RAM; the guest must learn that it is
 * (used ring, interrupt) only from the vCPU thread after a sync: virtio
 * publishes completions from a bottom half that syncs first. */
void machine_ram_dirty(struct machine *m, uint64_t gpa, uint64_t len);
/* The vCPU thread, between engine runs: hand the dirty pages to the engine. */
void machine_ram_dirty_sync(struct machine *m);
/* Deliver a message-signalled interrupt (a DWORD write of data to addr). */
void machine_msi(struct machine *m, uint64_t addr, uint32_t data);
/* rdmsr/wrmsr of an MSR a device serves (m->msr): true if one claimed it
 * (then *val was read or written), false if nobody serves it (#GP). */
bool machine_msr(struct machine *m, uint32_t idx, uint64_t *val, bool write);
/* Kick the engine (make run() return soon) from any thread, also from a
 * signal handler; does nothing while an engine switch replaces it. */
static inline void machine_engine_kick(struct machine *m)
{
    atomic_fetch_add(&m->kick_inflight, 1);
    if (!atomic_load(&m->engine_swapping) && m->ops && m->ops->kick &&
        m->engine)
        m->ops->kick(m);
    atomic_fetch_sub(&m->kick_inflight, 1);
}
/* The --stats JSON object (also live, for the monitor; vCPU thread). */
void machine_stats_json(struct machine *m, FILE *f, bool watchdog);
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
