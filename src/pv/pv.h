/* pv.h - paravirtual interfaces, the same on every engine: the popek
 * hypercall interface (CPUID leaves 0x40000000.., entered by vmcall or
 * vmmcall; numbers and error codes in docs/hypercalls.md) and the KVM
 * leaves Debian's Linux knows (0x40000100.., with kvmclock: see
 * src/devices/kvmclock.c).  Engines call pv_cpuid() for hypervisor leaves
 * and pv_hypercall() with a small vCPU interface for the engine-specific
 * parts (a store the engine's shadow paging must see, TLB flushes, block). */
#ifndef POPEK_PV_H
#define POPEK_PV_H
#include <stdbool.h>
#include <stdint.h>

#include "../core/machine.h"

/* CPUID: popek's own leaves and, with --cpu kvm, KVM's. */
#define PV_CPUID_POPEK 0x40000000u
#define PV_CPUID_KVM 0x40000100u
/* Does leaf belong to the hypervisor range?  Then fill r (EAX..EDX). */
bool pv_cpuid(struct machine *m, uint32_t leaf, uint32_t r[4]);
/* CPUID.1:ECX bit 31 (a hypervisor is present): set when a paravirtual
 * interface an OS detects through it (KVM's) is offered. */
bool pv_hypervisor_bit(struct machine *m);

/* Hypercall numbers (EAX) and errors (negative EAX). */
enum pv_hc {
    PV_HC_VERSION = 0,      /* -> EAX version, EBX feature bits */
    PV_HC_CONSOLE_WRITE = 1,/* EBX gpa, ECX len <= 4096 -> bytes written */
    PV_HC_MMU_UPDATE = 2,   /* EBX gpa of {pte_gpa, value} pairs, ECX n,
                             * EDX flags -> n applied (EBX: failing index) */
    PV_HC_TLB_FLUSH = 3,    /* EBX 0 non-global, 1 page ECX, 2 all */
    PV_HC_YIELD = 4,        /* -> 0 */
    PV_HC_BLOCK = 5,        /* enable interrupts (and events) and halt
                             * until one */
    PV_HC_SET_TRAP_TABLE = 6, /* EBX gpa of ECX {u8 vector, u8 flags,
                               * u16 cs, u32 eip}; ECX 0 clears */
    PV_HC_SET_CALLBACK = 7, /* EBX shared page gpa (0: off), ECX vector */
    PV_HC_STACK_SWITCH = 8, /* EBX ss, ECX esp: the stack for ring 3 traps */
    PV_HC_IRET = 9,         /* frame at ESP: eax eip cs eflags [esp ss] */
    PV_HC_SET_TIMER = 10,   /* EBX ns to the first event (0: off), ECX
                             * period ns (0: one shot) */
    PV_HC_EVENT_SEND = 11,  /* EBX event bits to make pending */
    PV_HC_NEW_BASEPTR = 12, /* EBX page directory gpa (CR3) */
    PV_HC_SHUTDOWN = 13,    /* EBX code: ends popek as isa-debug-exit */
    PV_HC_PORT_IO = 14,     /* EBX port, ECX size 1/2/4 | 0x100 write, EDX
                             * value -> 0, EDX the value read */
    PV_HC_COUNT
};
#define PV_VERSION 0x00010000u      /* 1.0 */
#define PV_MMU_FLUSH_ALL 1u         /* MMU_UPDATE flags: then flush ... */
#define PV_MMU_FLUSH_PAGE 2u        /* ... or invalidate the page at ESI */
#define PV_MMU_MAX 512u
#define PV_CONSOLE_MAX 4096u
#define PV_TRAP_MAX 256u
#define PV_TRAP_DPL 3u              /* trap table flags: who may int n */
#define PV_TRAP_MASK 4u             /* ... entering masks events */
#define PV_EV_TIMER 1u              /* event bits: SET_TIMER's */
enum pv_err {
    PV_EPERM = 1, PV_EFAULT = 14, PV_EBUSY = 16, PV_EINVAL = 22,
    PV_ENOSYS = 38,
};

/* The shared page (SET_CALLBACK): guest RAM both sides read and write. */
struct pv_shared {
    uint32_t vif;           /* bit 0: events may be delivered (virtual IF) */
    uint32_t pending;       /* event bits pending (VMM sets, guest clears) */
    uint32_t cr2;           /* the faulting address of the last #PF */
    uint32_t upcalls;       /* upcalls delivered (VMM counts) */
};

/* Per-machine paravirtual state (created by the first hypercall that needs
 * it, on the machine's device list as "pv"; reset with the machine). */
struct pv_trap {
    uint32_t eip;
    uint16_t cs;
    uint8_t flags;          /* PV_TRAP_DPL | PV_TRAP_MASK */
    bool set;
};
struct pv_state {
    struct machine *m;
    struct pv_trap trap[PV_TRAP_MAX];
    bool traps_on;          /* a trap table is set */
    uint32_t shared_gpa;    /* 0: no shared page */
    uint8_t cb_vector;      /* upcall: delivered as this trap table entry */
    bool stack_set;
    uint16_t kss;           /* STACK_SWITCH */
    uint32_t kesp;
    struct vtimer timer;
    uint64_t period_ns;
    uint64_t upcalls, timer_events;
};

/* What an engine lends the hypercall code: the registers (EAX..EDI, in
 * and out), the privilege level, guest-physical reads, a store of a page
 * table entry as the CPU's own store would be seen (shadow paging must
 * see it), TLB flushes, and blocking. */
struct pv_vcpu {
    uint32_t *regs;         /* [8] in the x86 order EAX ECX EDX EBX ... */
    unsigned cpl;
    void *ctx;
    bool (*read_phys)(void *ctx, uint32_t gpa, void *buf, uint32_t len);
    void (*write_pte)(void *ctx, uint32_t gpa, uint32_t val);
    void (*flush_tlb)(void *ctx, int how, uint32_t lin); /* as TLB_FLUSH */
    void (*block)(void *ctx);
    /* For the trap table, stack switch and iret (may be NULL: then those
     * calls are -ENOSYS): is sel a present segment of the guest's GDT/LDT
     * (code or writable data) with DPL dpl?  *limit gets its limit. */
    bool (*seg_ok)(void *ctx, uint16_t sel, bool code, unsigned dpl,
                   uint32_t *limit);
    /* Read len bytes at linear address lin without faulting: false if
     * not mapped.  sp_lin: the linear address of the top of the stack. */
    bool (*read_lin)(void *ctx, uint32_t lin, void *buf, uint32_t len);
    uint32_t sp_lin;
    /* Pop 4 bytes, then return as iret from the frame at the stack (may
     * raise the guest's exception as iret would: then it does not return). */
    void (*iret)(void *ctx);
    void (*set_cr3)(void *ctx, uint32_t cr3);
};
/* Perform the hypercall in regs[EAX]; the result goes to regs[EAX]. */
void pv_hypercall(struct machine *m, struct pv_vcpu *v);

/* For the engines' event delivery (events.c). */
struct pv_state *pv_state(struct machine *m);  /* NULL if none yet */
struct pv_state *pv_state_get(struct machine *m); /* created if needed */
/* The trap table entry for vector (false: none, deliver through the IDT).
 * kind_soft: an int n; ext: an external interrupt (the upcall masks). */
bool pv_trap(struct machine *m, int vector, bool ext, struct pv_trap *t);
/* The virtual IF, for the frame pushed, and to change it. */
bool pv_vif(struct machine *m);
void pv_set_vif(struct machine *m, bool on);
void pv_set_cr2(struct machine *m, uint32_t cr2);
/* The ring-1 stack for traps from ring 3 (false: use the TSS). */
bool pv_stack(struct machine *m, uint16_t *ss, uint32_t *esp);
/* Make event bits pending; the upcall follows when the flag allows. */
void pv_post(struct machine *m, uint32_t bits);

#endif
