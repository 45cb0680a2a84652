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

struct machine;

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
    PV_HC_BLOCK = 5,        /* enable interrupts and halt until one */
    PV_HC_COUNT
};
#define PV_VERSION 0x00010000u      /* 1.0 */
#define PV_MMU_FLUSH_ALL 1u         /* MMU_UPDATE flags: then flush ... */
#define PV_MMU_FLUSH_PAGE 2u        /* ... or invalidate the page at ESI */
#define PV_MMU_MAX 512u
#define PV_CONSOLE_MAX 4096u
enum pv_err {
    PV_EPERM = 1, PV_EFAULT = 14, PV_EINVAL = 22, PV_ENOSYS = 38,
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
};
/* Perform the hypercall in regs[EAX]; the result goes to regs[EAX]. */
void pv_hypercall(struct machine *m, struct pv_vcpu *v);

#endif
