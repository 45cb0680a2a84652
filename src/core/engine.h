/* engine.h - the CPU engine interface: a table of function pointers, like
 * QEMU's AccelOps.  The machine model (RAM, devices, loaders, run loop) never
 * knows which engine runs; engines reach devices only through the machine's
 * io spaces (machine_pio / machine_mmio) and interrupts only through
 * machine_intr_pending / run-loop injection. */
#ifndef POPEK_ENGINE_H
#define POPEK_ENGINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_state.h"
#include "util.h"

struct machine;

/* Why run() returned to the machine's run loop. */
enum exit_reason {
    EXIT_NONE,        /* nothing special (an exit the engine handled) */
    EXIT_KICK,        /* kicked from another thread, or the timer */
    EXIT_IRQ_WINDOW,  /* the vCPU can now accept the pending interrupt */
    EXIT_HLT,         /* hlt: the vCPU waits for an interrupt */
    EXIT_SHUTDOWN,    /* triple fault / shutdown */
    EXIT_STOP,        /* the machine asked to stop (exit/reset requested) */
    EXIT_FAILED,      /* the engine cannot continue: see exit.msg */
    EXIT_UNSUPPORTED, /* the guest ran something the engine doesn't do */
    EXIT_DEBUG,       /* a debugger breakpoint or single step (guest_debug):
                       * the vCPU stopped at an instruction boundary */
};

struct vm_exit {
    enum exit_reason reason;
    char msg[256];
};

#define ENGINE_CAP_LONG_MODE (1u << 0) /* can enter 64-bit guests */

/* The whole vCPU: what an engine switch (and a debugger) must carry beyond
 * struct cpu_state, taken at an instruction boundary.  Pending events are
 * the ones architecturally "in flight" between two instructions. */
struct vcpu_state {
    struct cpu_state regs;           /* incl. EFER and SYSENTER_* */
    _Alignas(16) uint8_t fxsave[512]; /* x87/SSE, FXSAVE layout */
    uint64_t tsc;                    /* guest TSC when the state was taken */
    uint64_t tsc_taken_ns;           /* clock_ns() then (0: unknown): the
                                      * TSC keeps counting across a switch,
                                      * as on a real machine */
    uint64_t apic_base, pat, misc_enable;
    uint64_t tsc_aux;                /* IA32_TSC_AUX (rdtscp, rdpid) */
    uint32_t dr[8];                  /* DR0-3, DR6, DR7 (4, 5 unused) */
    /* Pending events. */
    int pending_irq;        /* external vector injected but not delivered,
                             * or -1 */
    int pending_exc;        /* exception queued for delivery, or -1 */
    bool pending_exc_has_err;
    uint32_t pending_exc_err;
    bool nmi_pending;
    bool intr_shadow;       /* after sti / mov ss / pop ss */
    bool halted;            /* in hlt, waiting for an interrupt */
};

/* What a debugger asks of an engine (set_guest_debug).  Breakpoints are
 * linear addresses: the vCPU stops (EXIT_DEBUG) before executing the
 * instruction there.  sw[] are addresses where the debugger has written
 * int3 into guest memory (engines that run code natively need that byte;
 * it is announced with code_written), hw[] need no memory change.  The
 * first instruction after a resume never stops at its own breakpoint (as
 * EFLAGS.RF), so a debugger can continue from one. */
#define GUEST_DEBUG_MAX_SW 64
#define GUEST_DEBUG_MAX_HW 4
struct guest_debug {
    bool single_step;       /* stop after one instruction */
    unsigned nsw, nhw;
    uint64_t sw[GUEST_DEBUG_MAX_SW];
    uint64_t hw[GUEST_DEBUG_MAX_HW];
};

struct engine_ops {
    const char *name;
    const char *description;
    unsigned caps;
    /* Is this engine built and usable on this host?  If not, write why. */
    bool (*usable)(char *why, size_t n);
    /* Create the VM (engine state lives in m->engine). */
    int (*create)(struct machine *m);
    /* Make guest RAM [gpa, gpa+size) visible to the vCPU.  hva is the
     * machine's own mapping, fd/fd_off the memfd behind it (engines may map
     * it again into views of their own). */
    int (*map_ram)(struct machine *m, uint64_t gpa, uint64_t size, void *hva,
                   int fd, uint64_t fd_off);
    int (*vcpu_create)(struct machine *m);
    /* Run the vCPU until something the machine must look at. */
    int (*run)(struct machine *m, struct vm_exit *exit);
    int (*get_state)(struct machine *m, struct cpu_state *s);
    int (*set_state)(struct machine *m, const struct cpu_state *s);
    /* Can an external interrupt be delivered now?  If not, the engine
     * arranges for run() to return EXIT_IRQ_WINDOW once it can. */
    bool (*irq_window_open)(struct machine *m);
    /* Deliver external interrupt `vector` before the next instruction. */
    void (*inject_irq)(struct machine *m, uint8_t vector);
    /* Optional: latch an NMI (delivered through IDT vector 2 whatever
     * EFLAGS.IF, then blocked until the next IRET).  NULL: NMIs come
     * through inject_irq as vector 2. */
    void (*inject_nmi)(struct machine *m);
    /* Make run() return soon (EXIT_KICK).  Async-signal-safe, any thread. */
    void (*kick)(struct machine *m);
    /* Optional: one line for `popek engines`: the backend and any known
     * limits, as "key=value" words (e.g. "backend=pvm limits=paging32"). */
    void (*describe)(char *buf, size_t n);
    /* ---- optional (NULL: the engine cannot; callers refuse cleanly) ----
     * The full vCPU state, for live engine switching and the debugger.
     * Called between run()s, on the vCPU thread. */
    int (*get_vcpu_state)(struct machine *m, struct vcpu_state *s);
    int (*set_vcpu_state)(struct machine *m, const struct vcpu_state *s);
    /* Breakpoints and single step; d == NULL turns debugging off. */
    int (*set_guest_debug)(struct machine *m, const struct guest_debug *d);
    /* Guest RAM [gpa, gpa+len) was changed behind the engine's back
     * (a debugger's int3): drop anything derived from it (translations,
     * decoded instructions). */
    void (*code_written)(struct machine *m, uint64_t gpa, uint64_t len);
    /* Engine-specific statistics into the --stats JSON object. */
    void (*write_stats)(struct machine *m, struct json *j);
    void (*destroy)(struct machine *m);
};

/* Registry: engines that are built provide their ops; others are NULL. */
extern const struct engine_ops engine_kvm_ops;
extern const struct engine_ops engine_interp_ops;
extern const struct engine_ops engine_bt_ops;

/* Look an engine up by name.  Returns NULL and sets fail() with a clear
 * message if it is unknown, not built yet, or unusable here. */
const struct engine_ops *engine_find(const char *name);
/* Names of all engines known to popek, NULL-terminated. */
extern const char *const engine_names[];

#endif
