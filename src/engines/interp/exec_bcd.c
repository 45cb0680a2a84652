/* exec_bcd.c - the decimal-arithmetic instructions of the interpreter: DAA
 * DAS AAA AAS AAM AAD, and the undocumented SALC (D6).  The SDM pseudocode
 * (AAA/AAS adjust the whole AX).  Undefined flags we produce:
 *   DAA/DAS: OF = 0.   AAA/AAS: SF ZF PF from AL, OF = 0.
 *   AAM/AAD: CF AF OF = 0.
 * These follow what bochs validated against P6-family processors. */
#include "exec.h"

void ex_daa(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t al = c->r[R_EAX] & 0xff, old_al = al;
    bool old_cf = c->eflags & FLAG_CF, cf = false, af = false;
    if ((al & 0xf) > 9 || (c->eflags & FLAG_AF)) {
        cf = old_cf || al + 6 > 0xff;
        al = (al + 6) & 0xff;
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = (al + 0x60) & 0xff;
        cf = true;
    } else {
        cf = false;
    }
    reg_set(c, R_EAX, 1, al);
    flags_set(c, flags_szp(al, 1) | (cf ? FLAG_CF : 0) | (af ? FLAG_AF : 0),
              FLAGS_ARITH);
}

void ex_das(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    uint32_t al = c->r[R_EAX] & 0xff, old_al = al;
    bool old_cf = c->eflags & FLAG_CF, cf = false, af = false;
    if ((al & 0xf) > 9 || (c->eflags & FLAG_AF)) {
        cf = old_cf || al < 6;
        al = (al - 6) & 0xff;
        af = true;
    }
    if (old_al > 0x99 || old_cf) {
        al = (al - 0x60) & 0xff;
        cf = true;
    }
    reg_set(c, R_EAX, 1, al);
    flags_set(c, flags_szp(al, 1) | (cf ? FLAG_CF : 0) | (af ? FLAG_AF : 0),
              FLAGS_ARITH);
}

/* AAA: AX += 0x106; AAS: AX -= 6, AH -= 1; then AL &= 0x0F. */
static void ascii_adjust(struct interp_cpu *c, bool sub)
{
    uint32_t ax = c->r[R_EAX] & 0xffff;
    bool adj = (ax & 0xf) > 9 || (c->eflags & FLAG_AF);
    if (adj && !sub)
        ax += 0x106;
    if (adj && sub) {
        ax -= 6;
        ax -= 0x100;
    }
    ax &= 0xff0f;
    reg_set(c, R_EAX, 2, ax);
    flags_set(c, flags_szp(ax & 0xff, 1) | (adj ? FLAG_CF | FLAG_AF : 0),
              FLAGS_ARITH);
}

void ex_aaa(struct interp_cpu *c, const struct insn *i) { (void)i; ascii_adjust(c, false); }
void ex_aas(struct interp_cpu *c, const struct insn *i) { (void)i; ascii_adjust(c, true); }

/* D4 ib: aam */
void ex_aam(struct interp_cpu *c, const struct insn *i)
{
    uint32_t base = i->imm & 0xff;
    if (base == 0)
        cpu_fault(c, EXC_DE);
    uint32_t al = c->r[R_EAX] & 0xff;
    uint32_t ax = ((al / base) << 8) | (al % base);
    reg_set(c, R_EAX, 2, ax);
    flags_set(c, flags_szp(ax & 0xff, 1), FLAGS_ARITH);
}

/* D5 ib: aad */
void ex_aad(struct interp_cpu *c, const struct insn *i)
{
    uint32_t base = i->imm & 0xff;
    uint32_t ax = c->r[R_EAX];
    uint32_t al = ((ax & 0xff) + ((ax >> 8) & 0xff) * base) & 0xff;
    reg_set(c, R_EAX, 2, al);
    flags_set(c, flags_szp(al, 1), FLAGS_ARITH);
}

/* D6: salc (AL = CF ? FF : 00) */
void ex_salc(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    reg_set(c, R_EAX, 1, (c->eflags & FLAG_CF) ? 0xff : 0);
}
