/* kvm_priv.h - private state of the kvm engine (hardware-assisted VMM on
 * Linux KVM), shared by the files in src/engines/kvm: kvm.c (VM lifecycle,
 * KVM_RUN and exit dispatch), kvm_state.c (cpu_state <-> kvm_regs/sregs/
 * MSRs), kvm_assist*.c (instructions KVM's emulator cannot do),
 * kvm_guestmem.c (guest memory by linear address), kvm_cpuid.c (guest
 * CPUID), kvm_kick.c (signal-based kicks), kvm_debug.c (single steps and
 * the #UD trap on kvm_pvm) and kvm_stats.c (exit counters, backend name,
 * --stats output). */
#ifndef POPEK_KVM_PRIV_H
#define POPEK_KVM_PRIV_H
#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../../core/cpu_state.h"
#include "../../core/engine.h"

struct machine;
struct interp_cpu;
struct json;
struct vm_exit;

/* Exit counters are indexed by KVM exit reason; reasons above this limit
 * land in the last slot, "signal" (EINTR) has a slot of its own. */
#define KVM_EXIT_SLOTS 64
#define KVM_SLOT_OTHER (KVM_EXIT_SLOTS - 2)
#define KVM_SLOT_SIGNAL (KVM_EXIT_SLOTS - 1)

struct kvm_engine {
    int sys_fd;   /* /dev/kvm */
    int vm_fd;
    int vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    uint32_t next_slot;      /* next free memory slot */
    pthread_t vcpu_thread;   /* the thread that calls KVM_RUN */
    _Atomic bool have_thread;
    /* KVM_CAP_SYNC_REGS: after each KVM_RUN, run->s.regs holds the
     * registers and sregs (every vCPU ioctl costs microseconds on some
     * backends); changes go back through kvm_dirty_regs. */
    bool sync_regs;
    bool sync_fresh; /* run->s.regs is the current state */
    bool trace;              /* POPEK_KVM_TRACE=1: log every exit */
    bool exit_on_emul_failure; /* KVM_CAP_EXIT_ON_EMULATION_FAILURE on */

    /* Statistics. */
    uint64_t exits[KVM_EXIT_SLOTS];
    uint64_t runs;           /* KVM_RUN calls */
    uint64_t run_ns;         /* time spent inside KVM_RUN */
    uint64_t string_io_ops;  /* KVM_EXIT_IO with count > 1 */
    /* kvm_assist*.c: instructions done for KVM, faults injected */
    uint64_t assist_iret, assist_int, assist_seg, assist_faults;
    uint64_t assist_other; /* CMPXCHG16B, RDRAND/SEED, CLAC/STAC, POPCNT, FWAIT */
    /* kvm_debug.c: single steps to find interrupt windows, and a hardware
     * breakpoint on the guest's #UD handler (kvm_pvm only). */
    bool window_step;        /* single-step while waiting for a window */
    bool step_for_window;    /* irq_window_open() asked for it */
    bool stepping;           /* KVM_GUESTDBG_SINGLESTEP is on */
    uint64_t window_steps;
    /* Stepping is costly (an exit per instruction), so it is skipped
     * inside the handler of an injected interrupt (its IRET exits anyway,
     * see kvm_assist.c) and limited to a budget per injected interrupt. */
    unsigned irq_depth;      /* injected interrupts not yet IRETed */
    unsigned step_budget;
    bool assisted;           /* kvm_assist changed the registers */
    struct interp_cpu *icpu; /* kvm_assist_interp.c: 32-bit assists */
    bool ud_trap;            /* in use on this backend */
    bool ud_armed;           /* the breakpoint is set at ud_addr */
    bool ud_skip;            /* leave it off for one KVM_RUN */
    uint64_t ud_addr;
    uint64_t ud_trapped;     /* #UDs that were our instructions */
    uint64_t ud_genuine;     /* #UDs passed on to the guest */
    /* A debugger's breakpoints and single step (kvm_vcpu_state.c; applied
     * by kvm_debug_prepare, reported by kvm_debug_exit as EXIT_DEBUG). */
    bool udbg_on, udbg_dirty;
    struct guest_debug udbg;
};

/* Single steps allowed while waiting for one interrupt window. */
#define WINDOW_STEP_BUDGET 4096

/* The engine state of a machine (needs machine.h). */
#define KVM_OF(m) ((struct kvm_engine *)(m)->engine)

/* kvm_pv.c: KVM_EXIT_HYPERCALL into src/pv; *halt: BLOCK (end the run as
 * a halt).  0, or -1 with fail(). */
int kvm_pv_hypercall(struct machine *m, struct kvm_engine *k, bool *halt);

/* kvm_state.c */
/* GPR i (enum gpr order) of a kvm_regs. */
__u64 *kvm_gpr(struct kvm_regs *r, int i);
int kvm_fetch_regs(struct kvm_engine *k, struct kvm_regs *r,
                   struct kvm_sregs *sr);
int kvm_store_regs(struct kvm_engine *k, const struct kvm_regs *r,
                   const struct kvm_sregs *sr);
int kvm_get_state(struct machine *m, struct cpu_state *s);
/* A segment register into KVM's layout (kvm_state.c). */
void seg_to_kvm(struct kvm_segment *k, const struct seg_reg *s);
int kvm_set_state(struct machine *m, const struct cpu_state *s);

/* kvm_assist.c: finish an IRET or INT n that KVM's emulator refused.
 * Returns 1 if handled (ex filled in), 0 if not ours, -1 with fail(). */
int kvm_assist(struct machine *m, struct vm_exit *ex);

/* The breakpoint on the #UD handler hit: finish a user-mode INT n that
 * kvm_pvm turned into #UD, or let the handler run.  1 or -1 (fail()). */
int kvm_assist_ud(struct machine *m, struct vm_exit *ex);

/* kvm_debug.c: before each KVM_RUN, set single-stepping and the #UD
 * breakpoint as needed; handle KVM_EXIT_DEBUG (1 handled, 0 not ours,
 * -1 with fail()). */
int kvm_debug_prepare(struct machine *m);
int kvm_debug_exit(struct machine *m, struct vm_exit *ex);

/* kvm_vcpu_state.c: the full vCPU state (live engine switching) and the
 * debugger hooks of engine_ops. */
int kvm_get_vcpu_state(struct machine *m, struct vcpu_state *s);
int kvm_set_vcpu_state(struct machine *m, const struct vcpu_state *s);
int kvm_set_guest_debug(struct machine *m, const struct guest_debug *d);

/* kvm_cpuid.c: KVM_GET_SUPPORTED_CPUID, adjusted, then KVM_SET_CPUID2. */
int kvm_setup_cpuid(struct kvm_engine *k);

/* kvm_kick.c */
int kvm_kick_init(struct kvm_engine *k);   /* on the vCPU thread */
void kvm_kick_drain(void);                 /* consume a pending kick */
void kvm_kick(struct machine *m);

/* kvm_stats.c */
const char *kvm_exit_name(unsigned slot);
const char *kvm_backend_name(void);
void kvm_write_stats(struct machine *m, struct json *j);

#endif
