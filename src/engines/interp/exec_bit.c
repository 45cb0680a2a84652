/* exec_bit.c - bit instructions of the interpreter: BT BTS BTR BTC (0F A3 AB
 * B3 BB with a register bit offset, 0F BA /4-/7 with imm8), BSF/BSR (0F BC
 * BD), SETcc (0F 90-9F) and CMOVcc (0F 40-4F).
 * Memory forms with a register offset address beyond the operand: the
 * signed offset selects the operand-sized word at ea + (offset >> log2 w)
 * * size.  Undefined flags: BT* change only CF.  BSF/BSR with a source of
 * 0 set ZF only and leave the destination unchanged; otherwise ZF=0, CF OF
 * AF = 0, SF PF from the index (bochs' P6 model). */
#include "exec.h"

static void bit_op(struct interp_cpu *c, const struct insn *i, int kind,
                   int32_t bitoff, bool reg_offset)
{
    int size = i->opsize;
    unsigned w = size * 8;
    uint32_t v, nv;
    unsigned bit;
    if (i->mod == 3) {
        bit = (uint32_t)bitoff & (w - 1);
        v = reg_get(c, i->rm, size);
    } else {
        uint32_t off = insn_ea(c, i);
        if (reg_offset) {
            int32_t word = size == 4 ? bitoff >> 5 : (int16_t)bitoff >> 4;
            off = addr_wrap(i, off + (uint32_t)(word * size));
        }
        bit = (uint32_t)bitoff & (w - 1);
        v = mem_read(c, i->ea_seg, off, size);
        uint32_t cf = (v >> bit) & 1;
        if (kind != 0) {
            nv = kind == 1 ? v | (1u << bit)
                 : kind == 2 ? v & ~(1u << bit) : v ^ (1u << bit);
            mem_write(c, i->ea_seg, off, size, nv);
        }
        flags_set(c, cf ? FLAG_CF : 0, FLAG_CF);
        return;
    }
    uint32_t cf = (v >> bit) & 1;
    if (kind != 0) {
        nv = kind == 1 ? v | (1u << bit)
             : kind == 2 ? v & ~(1u << bit) : v ^ (1u << bit);
        reg_set(c, i->rm, size, nv);
    }
    flags_set(c, cf ? FLAG_CF : 0, FLAG_CF);
}

/* 0F A3 bt, AB bts, B3 btr, BB btc: r/m, reg */
void ex_bt_r(struct interp_cpu *c, const struct insn *i)
{
    int kind = ((i->op & 0xff) >> 3) & 3; /* A3:0 AB:1 B3:2 BB:3 */
    uint32_t off = reg_get(c, i->reg, i->opsize);
    bit_op(c, i, kind, i->opsize == 2 ? (int16_t)off : (int32_t)off, true);
}

/* 0F BA /4../7: bt/bts/btr/btc r/m, imm8 */
void ex_bt_imm(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg < 4)
        cpu_undefined(c, i);
    bit_op(c, i, i->reg - 4, (int32_t)(i->imm & 0xff), false);
}

/* 0F BC bsf; 0F BD bsr */
static void bit_scan(struct interp_cpu *c, const struct insn *i, bool rev)
{
    uint32_t v = opnd_read(c, i, i->opsize);
    if (v == 0) {
        c->eflags |= FLAG_ZF;
        return;
    }
    uint32_t idx = rev ? 31u - (uint32_t)__builtin_clz(v)
                       : (uint32_t)__builtin_ctz(v);
    reg_set(c, i->reg, i->opsize, idx);
    flags_set(c, flags_szp(idx, i->opsize) & ~FLAG_ZF, FLAGS_ARITH);
}

void ex_bsf(struct interp_cpu *c, const struct insn *i) { bit_scan(c, i, false); }
void ex_bsr(struct interp_cpu *c, const struct insn *i) { bit_scan(c, i, true); }

/* 0F 90-9F setcc r/m8 */
void ex_setcc(struct interp_cpu *c, const struct insn *i)
{
    opnd_write(c, i, 1, cond_true(c->eflags, i->op & 0xf));
}

/* 0F 40-4F cmovcc reg, r/m: the source is read (and may fault) even if the
 * condition is false. */
void ex_cmovcc(struct interp_cpu *c, const struct insn *i)
{
    uint32_t v = opnd_read(c, i, i->opsize);
    if (cond_true(c->eflags, i->op & 0xf))
        reg_set(c, i->reg, i->opsize, v);
}
