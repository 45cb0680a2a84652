/* io.c - port I/O for the interpreter: in/out (E4-E7, EC-EF) and the
 * string forms ins/outs (6C-6F, with rep), the CPL > IOPL check against the
 * TSS I/O permission bitmap, and the path to the machine's port bus.  Every
 * port access may change device interrupt lines, so it asks the run loop to
 * re-check for a pending interrupt. */
#include "../../core/machine.h"
#include "sys.h"

/* rep ins/outs iterations per step: the rest runs at the next step (the
 * instruction restarts with updated ECX/ESI/EDI), so kicks stay prompt. */
#define REP_CHUNK 4096

void io_check(struct interp_cpu *c, uint16_t port, int len)
{
    if (!(c->cr0 & CR0_PE))
        return;
    unsigned iopl = (c->eflags >> 12) & 3;
    if (c->cpl <= iopl && !(c->eflags & FLAG_VM))
        return;
    const struct seg_reg *tr = &c->seg[SEG_TR];
    if (tr->unusable || !(tr->type & 8) || tr->limit < 103)
        cpu_fault_err(c, EXC_GP, 0);
    uint32_t tb = (uint32_t)tr->base;
    uint32_t map = lin_read(c, tb + 102, 2, false);
    uint32_t at = map + port / 8u;
    if (at + 1 > tr->limit)
        cpu_fault_err(c, EXC_GP, 0);
    uint32_t bits = lin_read(c, tb + at, 2, false);
    uint32_t need = ((1u << len) - 1) << (port & 7);
    if (bits & need)
        cpu_fault_err(c, EXC_GP, 0);
}

uint32_t port_in(struct interp_cpu *c, uint16_t port, int len)
{
    uint8_t d[4] = {0xff, 0xff, 0xff, 0xff};
    if (c->m)
        machine_pio(c->m, port, d, (unsigned)len, false);
    c->check_irq = true;
    return io_get(d, (unsigned)len);
}

void port_out(struct interp_cpu *c, uint16_t port, int len, uint32_t val)
{
    if (c->m) {
        uint8_t d[4];
        io_put(d, (unsigned)len, val);
        machine_pio(c->m, port, d, (unsigned)len, true);
    }
    c->check_irq = true;
}

void ex_in_out(struct interp_cpu *c, const struct insn *i)
{
    int size = (i->op & 1) ? i->opsize : 1;
    uint16_t port = (i->op & 8) ? (uint16_t)c->r[R_EDX] : (uint16_t)(i->imm & 0xff);
    io_check(c, port, size);
    if (i->op & 2)
        port_out(c, port, size, reg_get(c, R_EAX, size));
    else
        reg_set(c, R_EAX, size, port_in(c, port, size));
}

void ex_ins_outs(struct interp_cpu *c, const struct insn *i)
{
    int size = (i->op & 1) ? i->opsize : 1;
    bool out = i->op & 2;
    uint16_t port = (uint16_t)c->r[R_EDX];
    uint32_t am = i->addrsize == 2 ? 0xffffu : 0xffffffffu;
    int32_t step = (c->eflags & FLAG_DF) ? -size : size;
    int idx = out ? R_ESI : R_EDI;
    int seg = out ? (i->seg != SEG_NONE ? i->seg : SEG_DS) : SEG_ES;
    io_check(c, port, size);
    for (int n = 0;; n++) {
        if (i->rep && (c->r[R_ECX] & am) == 0)
            return;
        if (n == REP_CHUNK) {
            c->eip = c->insn_eip; /* continue at the next step */
            return;
        }
        uint32_t a = c->r[idx] & am;
        if (out) {
            port_out(c, port, size, mem_read(c, seg, a, size));
        } else {
            mem_check_write(c, seg, a, (uint32_t)size);
            mem_write(c, seg, a, size, port_in(c, port, size));
        }
        c->r[idx] = (c->r[idx] & ~am) | ((a + (uint32_t)step) & am);
        if (!i->rep)
            return;
        c->r[R_ECX] = (c->r[R_ECX] & ~am) | ((c->r[R_ECX] - 1) & am);
    }
}
