/* exec.h - private helpers of the interpreter's user-level instruction
 * handlers (exec_*.c): operand sizes, exact EFLAGS computation for the
 * arithmetic families, condition codes, and the handler prototypes that
 * exec_table.c registers with exec_user_init().  System-side code does not
 * include this; it talks to the handlers only through the dispatch table. */
#ifndef POPEK_INTERP_EXEC_H
#define POPEK_INTERP_EXEC_H
#include <stdint.h>

#include "cpu.h"

#define FLAGS_ARITH (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF)

/* Operand size of opcodes whose low bit selects byte (0) or full size (1). */
static inline int op_size_w(const struct insn *i)
{
    return (i->op & 1) ? i->opsize : 1;
}

static inline uint32_t size_mask(int size)
{
    return size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

static inline uint32_t sign_bit(int size)
{
    return 1u << (size * 8 - 1);
}

static inline uint32_t sign_extend(uint32_t v, int size)
{
    if (size == 1)
        return (uint32_t)(int32_t)(int8_t)v;
    if (size == 2)
        return (uint32_t)(int32_t)(int16_t)v;
    return v;
}

/* Replace the flags in mask with those in val. */
static inline void flags_set(struct interp_cpu *c, uint32_t val, uint32_t mask)
{
    c->eflags = (c->eflags & ~mask) | (val & mask);
}

/* PF, ZF and SF of a result of the given size. */
static inline uint32_t flags_szp(uint32_t res, int size)
{
    uint32_t f = 0;
    res &= size_mask(size);
    if (!__builtin_parity(res & 0xff))
        f |= FLAG_PF;
    if (res == 0)
        f |= FLAG_ZF;
    if (res & sign_bit(size))
        f |= FLAG_SF;
    return f;
}

/* a + b + cin: returns the result and stores all six flags in *fl. */
static inline uint32_t alu_add(uint32_t a, uint32_t b, uint32_t cin, int size,
                               uint32_t *fl)
{
    uint32_t m = size_mask(size);
    a &= m;
    b &= m;
    uint64_t wide = (uint64_t)a + b + cin;
    uint32_t res = (uint32_t)wide & m;
    uint32_t f = flags_szp(res, size);
    if (wide > m)
        f |= FLAG_CF;
    if ((a ^ b ^ res) & 0x10)
        f |= FLAG_AF;
    if ((a ^ res) & (b ^ res) & sign_bit(size))
        f |= FLAG_OF;
    *fl = f;
    return res;
}

/* a - b - bin: returns the result and stores all six flags in *fl. */
static inline uint32_t alu_sub(uint32_t a, uint32_t b, uint32_t bin, int size,
                               uint32_t *fl)
{
    uint32_t m = size_mask(size);
    a &= m;
    b &= m;
    uint32_t res = (a - b - bin) & m;
    uint32_t f = flags_szp(res, size);
    if ((uint64_t)a < (uint64_t)b + bin)
        f |= FLAG_CF;
    if ((a ^ b ^ res) & 0x10)
        f |= FLAG_AF;
    if ((a ^ b) & (a ^ res) & sign_bit(size))
        f |= FLAG_OF;
    *fl = f;
    return res;
}

/* Flags of AND/OR/XOR/TEST: CF=OF=0, AF=0 (undefined; Intel clears it). */
static inline uint32_t flags_logic(uint32_t res, int size)
{
    return flags_szp(res, size);
}

/* Condition code cc (0..15, the low nibble of Jcc/SETcc/CMOVcc). */
static inline bool cond_true(uint32_t f, int cc)
{
    bool r;
    switch (cc >> 1) {
    case 0: r = f & FLAG_OF; break;
    case 1: r = f & FLAG_CF; break;
    case 2: r = f & FLAG_ZF; break;
    case 3: r = f & (FLAG_CF | FLAG_ZF); break;
    case 4: r = f & FLAG_SF; break;
    case 5: r = f & FLAG_PF; break;
    case 6: r = !(f & FLAG_SF) != !(f & FLAG_OF); break;
    default: r = (f & FLAG_ZF) || (!(f & FLAG_SF) != !(f & FLAG_OF)); break;
    }
    return (cc & 1) ? !r : r;
}

/* Memory-operand helpers: the segment and offset of the r/m operand. */
static inline bool insn_is_mem(const struct insn *i)
{
    return i->has_modrm && i->mod != 3;
}

/* The r/m operand with an inline fast path for registers (the common
 * case); memory goes through the system side's rm_read/rm_write. */
static inline uint32_t opnd_read(struct interp_cpu *c, const struct insn *i,
                                 int size)
{
    return i->mod == 3 ? reg_get(c, i->rm, size) : rm_read(c, i, size);
}

static inline void opnd_write(struct interp_cpu *c, const struct insn *i,
                              int size, uint32_t v)
{
    if (i->mod == 3)
        reg_set(c, i->rm, size, v);
    else
        rm_write(c, i, size, v);
}

/* Address arithmetic wrapped to the instruction's address size. */
static inline uint32_t addr_wrap(const struct insn *i, uint32_t a)
{
    return i->addrsize == 2 ? (a & 0xffff) : a;
}

/* ---- handlers, grouped by file ---- */
#define H(name) void name(struct interp_cpu *c, const struct insn *i)
/* exec_alu.c */
H(ex_alu_rm_r); H(ex_alu_r_rm); H(ex_alu_acc_imm); H(ex_grp1);
H(ex_inc_r); H(ex_dec_r); H(ex_test_rm_r); H(ex_test_acc_imm);
H(ex_grp3); H(ex_grp4); H(ex_grp5);
H(ex_cmpxchg); H(ex_xadd); H(ex_cmpxchg8b);
/* exec_shift.c */
H(ex_shift_grp2); H(ex_shld_shrd);
/* exec_muldiv.c */
H(ex_imul_r_rm_imm); H(ex_imul_r_rm);
void ex_mul_div(struct interp_cpu *c, const struct insn *i, int size);
/* exec_bit.c */
H(ex_bt_r); H(ex_bt_imm); H(ex_bsf); H(ex_bsr); H(ex_setcc); H(ex_cmovcc);
/* exec_bcd.c */
H(ex_daa); H(ex_das); H(ex_aaa); H(ex_aas); H(ex_aam); H(ex_aad); H(ex_salc);
/* exec_move.c */
H(ex_mov_rm_r); H(ex_mov_r_rm); H(ex_mov_rm_sreg); H(ex_mov_r_imm);
H(ex_mov_rm_imm); H(ex_mov_moffs); H(ex_lea); H(ex_xchg_rm_r);
H(ex_xchg_acc_r); H(ex_push_r); H(ex_pop_r); H(ex_pop_rm); H(ex_push_imm);
H(ex_pusha); H(ex_popa); H(ex_cbw); H(ex_cwd); H(ex_sahf); H(ex_lahf);
H(ex_xlat); H(ex_lfar); H(ex_enter); H(ex_leave); H(ex_movzx); H(ex_movsx);
H(ex_bswap); H(ex_flagop); H(ex_nop); H(ex_nop_modrm);
/* exec_branch.c */
H(ex_jcc); H(ex_jmp_rel); H(ex_call_rel); H(ex_ret_near); H(ex_loop);
H(ex_bound);
void ex_call_near_abs(struct interp_cpu *c, const struct insn *i);
void ex_jmp_near_abs(struct interp_cpu *c, const struct insn *i);
void ex_far_indirect(struct interp_cpu *c, const struct insn *i, bool call);
/* exec_string.c */
H(ex_movs); H(ex_cmps); H(ex_stos); H(ex_lods); H(ex_scas);
/* exec_x87.c */
H(ex_x87); H(ex_fwait); H(ex_fxsave_grp);
/* exec_sse.c: registers the SSE..SSSE3 handlers with reg(). */
void exec_sse_init(exec_fn *tab, void (*reg)(exec_fn *, unsigned, exec_fn));
#undef H

#endif
