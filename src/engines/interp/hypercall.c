/* hypercall.c - vmcall and vmmcall in the interpreter (and so in bt, which
 * calls the interpreter for them): both vendors' instructions enter
 * popek's hypercall interface (src/pv/hypercall.c) with the guest's
 * registers.  Page-table entries are stored through the interpreter's own
 * physical path (so bt's tracing of page tables sees them), TLB flushes
 * are the interpreter's, and "block" is sti+hlt done at once. */
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
    c->pv_tlb_flushed = true;
}

static void block(void *ctx)
{
    struct interp_cpu *c = ctx;
    c->eflags |= FLAG_IF;
    c->halted = true;
    c->check_irq = true;
}

void interp_hypercall(struct interp_cpu *c)
{
    struct pv_vcpu v = {.regs = c->r, .cpl = c->cpl, .ctx = c,
                        .read_phys = read_phys, .write_pte = write_pte,
                        .flush_tlb = flush_tlb, .block = block};
    pv_hypercall(c->m, &v);
}
