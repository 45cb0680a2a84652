/* exec_alu.c - the integer ALU instructions of the interpreter: ADD OR ADC
 * SBB AND SUB XOR CMP in all encodings (00-3D, group 1 80-83), INC/DEC,
 * TEST, group 3's TEST/NOT/NEG (MUL/DIV go to exec_muldiv.c), groups 4/5,
 * CMPXCHG, XADD, CMPXCHG8B.  Flags are computed exactly (exec.h).  Memory is
 * written before registers/EFLAGS so a fault leaves the state untouched. */
#include "exec.h"

/* The eight ALU operations in x86 encoding order (ADD OR ADC SBB AND SUB
 * XOR CMP).  Returns the result; *fl gets the six arithmetic flags. */
static inline uint32_t alu_op(int op, uint32_t a, uint32_t b, int size,
                              uint32_t eflags, uint32_t *fl)
{
    uint32_t cf = eflags & FLAG_CF;
    uint32_t r;
    switch (op) {
    case 0: return alu_add(a, b, 0, size, fl);
    case 2: return alu_add(a, b, cf, size, fl);
    case 3: return alu_sub(a, b, cf, size, fl);
    case 5:
    case 7: return alu_sub(a, b, 0, size, fl);
    case 1: r = a | b; break;
    case 4: r = a & b; break;
    default: r = a ^ b; break;
    }
    r &= size_mask(size);
    *fl = flags_logic(r, size);
    return r;
}

/* Apply ALU op `op` to the r/m operand with source b (CMP does not write). */
static void alu_to_rm(struct interp_cpu *c, const struct insn *i, int op,
                      int size, uint32_t b)
{
    uint32_t fl;
    uint32_t a = opnd_read(c, i, size);
    uint32_t r = alu_op(op, a, b, size, c->eflags, &fl);
    if (op != 7)
        opnd_write(c, i, size, r);
    flags_set(c, fl, FLAGS_ARITH);
}

/* 00 01 08 09 ... 38 39: op r/m, reg */
void ex_alu_rm_r(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    alu_to_rm(c, i, (i->op >> 3) & 7, size, reg_get(c, i->reg, size));
}

/* 02 03 0A 0B ... 3A 3B: op reg, r/m */
void ex_alu_r_rm(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    int op = (i->op >> 3) & 7;
    uint32_t fl;
    uint32_t b = opnd_read(c, i, size);
    uint32_t r = alu_op(op, reg_get(c, i->reg, size), b, size, c->eflags, &fl);
    if (op != 7)
        reg_set(c, i->reg, size, r);
    flags_set(c, fl, FLAGS_ARITH);
}

/* 04 05 0C 0D ... 3C 3D: op AL/eAX, imm */
void ex_alu_acc_imm(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    int op = (i->op >> 3) & 7;
    uint32_t fl;
    uint32_t r = alu_op(op, reg_get(c, R_EAX, size), i->imm, size, c->eflags,
                        &fl);
    if (op != 7)
        reg_set(c, R_EAX, size, r);
    flags_set(c, fl, FLAGS_ARITH);
}

/* 80 81 82 83: group 1, op r/m, imm (83 sign-extends imm8). */
void ex_grp1(struct interp_cpu *c, const struct insn *i)
{
    int size = (i->op == 0x81 || i->op == 0x83) ? i->opsize : 1;
    alu_to_rm(c, i, i->reg, size, (uint32_t)insn_simm(i) & size_mask(size));
}

/* INC/DEC leave CF alone. */
static void inc_dec_rm(struct interp_cpu *c, const struct insn *i, int size,
                       bool dec)
{
    uint32_t fl;
    uint32_t v = opnd_read(c, i, size);
    uint32_t r = dec ? alu_sub(v, 1, 0, size, &fl) : alu_add(v, 1, 0, size, &fl);
    opnd_write(c, i, size, r);
    flags_set(c, fl, FLAGS_ARITH & ~FLAG_CF);
}

/* 40-47 inc r; 48-4F dec r */
void ex_inc_r(struct interp_cpu *c, const struct insn *i)
{
    uint32_t fl;
    int r = i->op & 7;
    reg_set(c, r, i->opsize, alu_add(reg_get(c, r, i->opsize), 1, 0, i->opsize, &fl));
    flags_set(c, fl, FLAGS_ARITH & ~FLAG_CF);
}

void ex_dec_r(struct interp_cpu *c, const struct insn *i)
{
    uint32_t fl;
    int r = i->op & 7;
    reg_set(c, r, i->opsize, alu_sub(reg_get(c, r, i->opsize), 1, 0, i->opsize, &fl));
    flags_set(c, fl, FLAGS_ARITH & ~FLAG_CF);
}

/* 84 85: test r/m, reg */
void ex_test_rm_r(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t r = opnd_read(c, i, size) & reg_get(c, i->reg, size);
    flags_set(c, flags_logic(r, size), FLAGS_ARITH);
}

/* A8 A9: test AL/eAX, imm */
void ex_test_acc_imm(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t r = reg_get(c, R_EAX, size) & i->imm;
    flags_set(c, flags_logic(r, size), FLAGS_ARITH);
}

/* F6 F7: group 3 */
void ex_grp3(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t v, fl;
    switch (i->reg) {
    case 0:
    case 1: /* test r/m, imm (/1 is an undocumented alias) */
        v = opnd_read(c, i, size) & i->imm;
        flags_set(c, flags_logic(v, size), FLAGS_ARITH);
        break;
    case 2: /* not: no flags */
        v = opnd_read(c, i, size);
        opnd_write(c, i, size, ~v & size_mask(size));
        break;
    case 3: /* neg: CF = (src != 0) */
        v = opnd_read(c, i, size);
        v = alu_sub(0, v, 0, size, &fl);
        opnd_write(c, i, size, v);
        flags_set(c, fl, FLAGS_ARITH);
        break;
    default:
        ex_mul_div(c, i, size);
        break;
    }
}

/* FE: group 4 (inc/dec r/m8) */
void ex_grp4(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg > 1)
        cpu_undefined(c, i);
    inc_dec_rm(c, i, 1, i->reg == 1);
}

/* FF: group 5 */
void ex_grp5(struct interp_cpu *c, const struct insn *i)
{
    switch (i->reg) {
    case 0:
    case 1:
        inc_dec_rm(c, i, i->opsize, i->reg == 1);
        break;
    case 2:
        ex_call_near_abs(c, i);
        break;
    case 3:
    case 5:
        if (i->mod == 3)
            cpu_undefined(c, i);
        ex_far_indirect(c, i, i->reg == 3);
        break;
    case 4:
        ex_jmp_near_abs(c, i);
        break;
    case 6: {
        uint32_t v = opnd_read(c, i, i->opsize);
        cpu_push(c, v, i->opsize);
        break;
    }
    default:
        cpu_undefined(c, i);
    }
}

/* 0F B0 0F B1: cmpxchg r/m, reg.  The destination is always written (with
 * its old value on mismatch), as on real processors. */
void ex_cmpxchg(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t fl;
    uint32_t dst = opnd_read(c, i, size);
    uint32_t acc = reg_get(c, R_EAX, size);
    alu_sub(acc, dst, 0, size, &fl);
    if (acc == dst) {
        opnd_write(c, i, size, reg_get(c, i->reg, size));
    } else {
        if (i->mod != 3)
            opnd_write(c, i, size, dst);
        reg_set(c, R_EAX, size, dst);
    }
    flags_set(c, fl, FLAGS_ARITH);
}

/* 0F C0 0F C1: xadd r/m, reg */
void ex_xadd(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    uint32_t fl;
    uint32_t dst = opnd_read(c, i, size);
    uint32_t src = reg_get(c, i->reg, size);
    uint32_t sum = alu_add(dst, src, 0, size, &fl);
    if (i->mod == 3) {
        reg_set(c, i->reg, size, dst);
        reg_set(c, i->rm, size, sum);
    } else {
        opnd_write(c, i, size, sum);
        reg_set(c, i->reg, size, dst);
    }
    flags_set(c, fl, FLAGS_ARITH);
}

/* 0F C7 /1: cmpxchg8b m64 */
void ex_cmpxchg8b(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg != 1 || i->mod == 3)
        cpu_undefined(c, i);
    uint32_t off = insn_ea(c, i);
    uint64_t v = mem_read64(c, i->ea_seg, off);
    uint64_t cmp = ((uint64_t)c->r[R_EDX] << 32) | c->r[R_EAX];
    if (v == cmp) {
        mem_write64(c, i->ea_seg, off,
                    ((uint64_t)c->r[R_ECX] << 32) | c->r[R_EBX]);
        c->eflags |= FLAG_ZF;
    } else {
        mem_write64(c, i->ea_seg, off, v);
        c->r[R_EAX] = (uint32_t)v;
        c->r[R_EDX] = (uint32_t)(v >> 32);
        c->eflags &= ~FLAG_ZF;
    }
}
