/* hypercall.c - vmcall and vmmcall in the interpreter (and so in bt, which
 * calls the interpreter for them): both vendors' instructions enter
 * popek's hypercall interface (src/pv/hypercall.c) with the guest's
 * registers.  Page-table entries are stored through the interpreter's own
 * physical path (so bt's tracing of page tables sees them), TLB flushes
 * are the interpreter's, and "block" is sti+hlt done at once; the trap
 * table's descriptors and the iret frame are read without faulting, and
 * IRET is the interpreter's own iret (with its checks) after the saved
 * EAX is popped.  Events are delivered by cpu_deliver (exceptions.c). */
#include <string.h>

#include "../../pv/pv.h"
#include "sys.h"

static bool read_phys(void *ctx, uint32_t gpa, void *buf, uint32_t len)
{
    struct interp_cpu *c = ctx;
    uint8_t *p = buf;
    for (uint32_t k = 0; k < len; k++)
        p[k] = (uint8_t)phys_read(c, gpa + k, 1);
    return true;
}

static void write_pte(void *ctx, uint32_t gpa, uint32_t val)
{
    phys_write(ctx, gpa, 4, val);
}

static void flush_tlb(void *ctx, int how, uint32_t lin)
{
    struct interp_cpu *c = ctx;
    if (how == 1)
        tlb_flush_page(c, lin);
    else if (how == 0)
        tlb_flush_nonglobal(c);
    else
        tlb_flush_all(c);
    /* one flush per hypercall; bt looks after each instruction */
    c->pv_flush_how = how;
    c->pv_flush_lin = lin;
    c->pv_tlb_flushed = true;
}

static void block(void *ctx)
{
    struct interp_cpu *c = ctx;
    c->eflags |= FLAG_IF;
    c->halted = true;
    c->check_irq = true;
}

/* Guest-linear reads that never fault (nor set A/D bits). */
static bool read_lin(void *ctx, uint32_t lin, void *buf, uint32_t len)
{
    struct interp_cpu *c = ctx;
    uint8_t *p = buf;
    for (uint32_t k = 0; k < len; k++) {
        uint32_t pa;
        if (!mmu_probe(c, lin + k, &pa))
            return false;
        p[k] = (uint8_t)phys_read(c, pa, 1);
    }
    return true;
}

static bool seg_ok(void *ctx, uint16_t sel, bool code, unsigned dpl,
                   uint32_t *limit)
{
    struct interp_cpu *c = ctx;
    uint32_t base, tlimit;
    if (sel & 4) {
        const struct seg_reg *l = &c->seg[SEG_LDTR];
        if (l->unusable || !l->present)
            return false;
        base = (uint32_t)l->base;
        tlimit = l->limit;
    } else {
        base = (uint32_t)c->gdt.base;
        tlimit = c->gdt.limit;
    }
    uint32_t idx = sel & 0xfff8u;
    struct desc d;
    if (!idx || idx + 7 > tlimit || !read_lin(c, base + idx, &d, 8))
        return false;
    if (!desc_s(d) || !desc_p(d) || desc_dpl(d) != dpl)
        return false;
    unsigned type = desc_type(d);
    if (code ? !(type & 8) || (type & 4)         /* non-conforming code */
             : (type & 8) || !(type & 2) || (type & 4)) /* writable data */
        return false;
    *limit = desc_limit(d);
    return true;
}

static void iret(void *ctx)
{
    struct interp_cpu *c = ctx;
    c->r[R_ESP] += 4; /* the saved EAX */
    cpu_iret(c, 4);
}

static void set_cr3(void *ctx, uint32_t cr3)
{
    struct interp_cpu *c = ctx;
    c->cr3 = cr3;
    tlb_flush_nonglobal(c);
}

void interp_hypercall(struct interp_cpu *c)
{
    struct pv_vcpu v = {.regs = c->r, .cpl = c->cpl, .ctx = c,
                        .read_phys = read_phys, .write_pte = write_pte,
                        .flush_tlb = flush_tlb, .block = block,
                        .seg_ok = seg_ok, .read_lin = read_lin,
                        .sp_lin = (uint32_t)c->seg[SEG_SS].base +
                                  (c->r[R_ESP] & stack_mask(c)),
                        .iret = iret, .set_cr3 = set_cr3};
    pv_hypercall(c->m, &v);
    c->check_irq = true; /* an event may be deliverable now */
}
