/* kvm_pv.c - popek's hypercalls (src/pv, the same code interp and bt call)
 * on the kvm engine's vmcall exit: KVM_EXIT_HYPERCALL.  KVM executes
 * vmcall/vmmcall in the host kernel (kvm_emulate_hypercall) and exits to
 * user space only for the hypercall numbers enabled with
 * KVM_CAP_EXIT_HYPERCALL, which Linux allows for KVM_HC_MAP_GPA_RANGE
 * alone: so on a stock host popek's numbers never arrive here, and this
 * path is compiled but not exercised (docs/hypercalls.md).  When an exit
 * does come, the registers are fetched, the call is made with guest
 * memory reached through kvm_guestmem (linear) or directly (physical; KVM
 * pages with EPT/NPT, so a page-table store needs no shadow), and the
 * registers go back.  TLB flushes and NEW_BASEPTR reload CR3 through the
 * sregs (KVM flushes the guest TLB on a CR3 write); BLOCK sets IF and
 * ends the run as a halt; IRET is not offered (-ENOSYS). */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/machine.h"
#include "../../pv/pv.h"
#include "kvm_guestmem.h"
#include "kvm_priv.h"

struct kvm_pv {
    struct machine *m;
    struct kvm_sregs sr;
    struct gmem g;
    bool sregs_dirty, block;
};

static bool read_phys(void *ctx, uint32_t gpa, void *buf, uint32_t len)
{
    struct kvm_pv *p = ctx;
    uint8_t *h = gpa_to_hva(p->m, gpa, len);
    if (!h)
        return false;
    memcpy(buf, h, len);
    return true;
}

static void write_pte(void *ctx, uint32_t gpa, uint32_t val)
{
    struct kvm_pv *p = ctx;
    uint8_t *h = gpa_to_hva(p->m, gpa, 4);
    if (h)
        __atomic_store_n((uint32_t *)(void *)h, val, __ATOMIC_SEQ_CST);
}

static void flush_tlb(void *ctx, int how, uint32_t lin)
{
    struct kvm_pv *p = ctx;
    (void)how;
    (void)lin;
    p->sregs_dirty = true; /* the CR3 write flushes */
}

static void block(void *ctx)
{
    ((struct kvm_pv *)ctx)->block = true;
}

static bool seg_ok(void *ctx, uint16_t sel, bool code, unsigned dpl,
                   uint32_t *limit)
{
    struct kvm_pv *p = ctx;
    uint64_t d, where;
    if (!(sel & 0xfff8u) || gm_read_desc(&p->g, sel, &d, &where) != A_OK)
        return false;
    uint32_t hi = (uint32_t)(d >> 32), lo = (uint32_t)d;
    unsigned type = (hi >> 8) & 15;
    if (!(hi & (1u << 12)) || !(hi & (1u << 15)) || ((hi >> 13) & 3) != dpl)
        return false;
    if (code ? !(type & 8) || (type & 4) : (type & 8) || !(type & 2) || (type & 4))
        return false;
    uint32_t l = (lo & 0xffff) | (hi & 0xf0000u);
    *limit = (hi & (1u << 23)) ? (l << 12) | 0xfff : l;
    return true;
}

static bool read_lin(void *ctx, uint32_t lin, void *buf, uint32_t len)
{
    struct kvm_pv *p = ctx;
    return gm_access(&p->g, lin, buf, len, false, false) == A_OK;
}

static void set_cr3(void *ctx, uint32_t cr3)
{
    struct kvm_pv *p = ctx;
    p->sr.cr3 = cr3;
    p->sregs_dirty = true;
}

/* KVM_EXIT_HYPERCALL: 0, or -1 with fail().  *halt: the call was BLOCK. */
int kvm_pv_hypercall(struct machine *m, struct kvm_engine *k, bool *halt)
{
    struct kvm_regs r;
    struct kvm_pv p = {.m = m};
    if (kvm_fetch_regs(k, &r, &p.sr) < 0)
        return -1;
    p.g.m = m;
    p.g.sr = &p.sr;
    p.g.lma = (p.sr.efer & (1u << 10)) != 0;
    uint32_t regs[8];
    for (int i = 0; i < 8; i++)
        regs[i] = (uint32_t)*kvm_gpr(&r, i);
    regs[R_EAX] = (uint32_t)k->run->hypercall.nr;
    struct pv_vcpu v = {.regs = regs, .cpl = p.sr.cs.selector & 3u, .ctx = &p,
                        .read_phys = read_phys, .write_pte = write_pte,
                        .flush_tlb = flush_tlb, .block = block,
                        .seg_ok = seg_ok, .read_lin = read_lin,
                        .sp_lin = (uint32_t)(p.sr.ss.base + (uint32_t)r.rsp),
                        .iret = NULL, .set_cr3 = set_cr3};
    pv_hypercall(m, &v);
    k->run->hypercall.ret = regs[R_EAX];
    for (int i = 0; i < 8; i++)
        *kvm_gpr(&r, i) = regs[i];
    if (p.block)
        r.rflags |= FLAG_IF;
    if (kvm_store_regs(k, &r, &p.sr) < 0)
        return -1;
    *halt = p.block;
    return 0;
}
