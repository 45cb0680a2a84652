/* exec_muldiv.c - multiply and divide of the interpreter: group 3's MUL IMUL
 * DIV IDIV (F6/F7 /4-/7) and the two/three-operand IMUL (0F AF, 69, 6B).
 * CF=OF report a significant upper half.  Undefined flags: SF ZF PF come
 * from the low half of the result and AF=0 (bochs' choice); DIV/IDIV leave
 * all flags unchanged.  Divide by zero and quotient overflow raise #DE
 * before anything is written. */
#include "exec.h"

static void mul_flags(struct interp_cpu *c, uint32_t lo, int size, bool wide)
{
    uint32_t f = flags_szp(lo, size);
    if (wide)
        f |= FLAG_CF | FLAG_OF;
    flags_set(c, f, FLAGS_ARITH);
}

void ex_mul_div(struct interp_cpu *c, const struct insn *i, int size)
{
    uint32_t src = opnd_read(c, i, size);
    unsigned w = size * 8;
    uint32_t m = size_mask(size);
    switch (i->reg) {
    case 4: { /* mul */
        uint64_t p = (uint64_t)reg_get(c, R_EAX, size) * src;
        uint32_t lo = (uint32_t)p & m, hi = (uint32_t)(p >> w) & m;
        if (size == 1)
            reg_set(c, R_EAX, 2, (uint32_t)p);
        else {
            reg_set(c, R_EAX, size, lo);
            reg_set(c, R_EDX, size, hi);
        }
        mul_flags(c, lo, size, hi != 0);
        break;
    }
    case 5: { /* imul */
        int64_t p = (int64_t)(int32_t)sign_extend(reg_get(c, R_EAX, size), size) *
                    (int32_t)sign_extend(src, size);
        uint32_t lo = (uint32_t)p & m, hi = (uint32_t)((uint64_t)p >> w) & m;
        if (size == 1)
            reg_set(c, R_EAX, 2, (uint32_t)p);
        else {
            reg_set(c, R_EAX, size, lo);
            reg_set(c, R_EDX, size, hi);
        }
        mul_flags(c, lo, size, (int64_t)(int32_t)sign_extend(lo, size) != p);
        break;
    }
    case 6: { /* div */
        if (src == 0)
            cpu_fault(c, EXC_DE);
        uint64_t n = size == 1 ? reg_get(c, R_EAX, 2)
                               : ((uint64_t)reg_get(c, R_EDX, size) << w) |
                                     reg_get(c, R_EAX, size);
        uint64_t q = n / src, r = n % src;
        if (q > m)
            cpu_fault(c, EXC_DE);
        if (size == 1)
            reg_set(c, R_EAX, 2, (uint32_t)(r << 8 | q));
        else {
            reg_set(c, R_EAX, size, (uint32_t)q);
            reg_set(c, R_EDX, size, (uint32_t)r);
        }
        break;
    }
    default: { /* idiv */
        if (src == 0)
            cpu_fault(c, EXC_DE);
        int64_t n;
        if (size == 1)
            n = (int16_t)reg_get(c, R_EAX, 2);
        else if (size == 2)
            n = (int32_t)((reg_get(c, R_EDX, 2) << 16) | reg_get(c, R_EAX, 2));
        else
            n = (int64_t)(((uint64_t)c->r[R_EDX] << 32) | c->r[R_EAX]);
        int64_t d = (int32_t)sign_extend(src, size);
        /* INT64_MIN / -1 overflows in C; it is a quotient overflow. */
        if (n == INT64_MIN && d == -1)
            cpu_fault(c, EXC_DE);
        int64_t q = n / d, r = n % d;
        int64_t lim = (int64_t)1 << (w - 1);
        if (q >= lim || q < -lim)
            cpu_fault(c, EXC_DE);
        if (size == 1)
            reg_set(c, R_EAX, 2, (((uint32_t)r & 0xff) << 8) | ((uint32_t)q & 0xff));
        else {
            reg_set(c, R_EAX, size, (uint32_t)q);
            reg_set(c, R_EDX, size, (uint32_t)r);
        }
        break;
    }
    }
}

static void imul2(struct interp_cpu *c, const struct insn *i, uint32_t a,
                  uint32_t b)
{
    int size = i->opsize;
    int64_t p = (int64_t)(int32_t)sign_extend(a, size) *
                (int32_t)sign_extend(b, size);
    uint32_t lo = (uint32_t)p & size_mask(size);
    reg_set(c, i->reg, size, lo);
    mul_flags(c, lo, size, (int64_t)(int32_t)sign_extend(lo, size) != p);
}

/* 69 6B: imul reg, r/m, imm */
void ex_imul_r_rm_imm(struct interp_cpu *c, const struct insn *i)
{
    uint32_t a = opnd_read(c, i, i->opsize);
    imul2(c, i, a, (uint32_t)insn_simm(i));
}

/* 0F AF: imul reg, r/m */
void ex_imul_r_rm(struct interp_cpu *c, const struct insn *i)
{
    uint32_t b = opnd_read(c, i, i->opsize);
    imul2(c, i, reg_get(c, i->reg, i->opsize), b);
}
