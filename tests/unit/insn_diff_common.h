/* insn_diff_common.h - shared by the instruction differential tests
 * (test_insn_diff.c against the host CPU, test_insn_diff16.c against
 * Unicorn in 16-bit code): instruction templates written as hex strings,
 * the seeded PRNG with edge values, and which flags the SDM leaves
 * undefined per instruction (those are not compared). */
#ifndef POPEK_INSN_DIFF_COMMON_H
#define POPEK_INSN_DIFF_COMMON_H
#include <stdint.h>
#include <stdlib.h>

#include "core/cpu_state.h"
#include "core/util.h"

#define ARITH (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF)

enum kind {
    K_ARITH, K_LOGIC, K_NONE, K_SHIFT, K_ROT, K_SHD, K_MUL, K_DIV, K_BT,
    K_BTMEM, K_BSF, K_DAA, K_AAA, K_AAM, K_STR, K_CMPXCHG, K_CX8,
    K_STACK,    /* ESP and EBP point into the compared window */
    K_RET,      /* K_STACK, and [ESP]/EAX/[EBX] hold the end address */
    K_X87,      /* x87 sequences, FPU starts in the FNINIT state */
    K_X87ENV,   /* K_X87 ending in fnstenv/fnsave [ebx]: FIP..FDS ignored */
};
enum cnt { C_NONE, C_ONE, C_CL, C_IMM };

struct tmpl {
    const char *name;
    const char *hex;    /* "ii" = count byte, "jj" = random byte */
    enum kind kind;
    int width;          /* operand bits (shifts, shld) */
    enum cnt cnt;
    int shop;           /* shift op (group 2 /r) */
};

#define T(n, h, k) { n, h, k, 32, C_NONE, 0 }
#define S(n, h, k, w, c, op) { n, h, k, w, c, op }

/* ---- PRNG (xorshift64*) ---- */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static inline uint32_t rnd_value(void)
{
    static const uint32_t edge[] = {
        0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
        0x80000000, 0xffffffff, 0x100, 0xfffffffe, 0x10000, 0x80008080,
        0x0f0f0f0f, 0x99, 0x9a, 0x09, 0x0a, 0xfa, 0x7fff7f7f };
    switch (rnd() % 8) {
    case 0: case 1: case 2: return edge[rnd() % ARRAY_SIZE(edge)];
    case 3: return rnd() & 0xff;
    case 4: return rnd() & 0xffff;
    default: return rnd();
    }
}

static inline uint8_t rnd_count(void)
{
    static const uint8_t cnt[] = { 0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 18, 31,
                                   32, 33, 63, 255, 0x20 + 1, 0x40 + 8 };
    return rnd() % 3 ? cnt[rnd() % sizeof(cnt)] : (uint8_t)rnd();
}

/* ---- templates -> bytes ---- */
static inline int assemble(const char *hex, uint8_t *out, int max, uint8_t count)
{
    int n = 0;
    for (const char *p = hex; *p && n < max;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (p[0] == 'i' && p[1] == 'i')
            out[n++] = count;
        else if (p[0] == 'j' && p[1] == 'j')
            out[n++] = (uint8_t)rnd();
        else
            out[n++] = (uint8_t)strtoul((char[]){ p[0], p[1], 0 }, NULL, 16);
        p += 2;
    }
    return n;
}

/* Flags the SDM leaves undefined for this case: not compared. */
static inline uint32_t undef_flags(const struct tmpl *t, unsigned count)
{
    unsigned c = count & 31;
    switch (t->kind) {
    case K_LOGIC: return FLAG_AF;
    case K_SHIFT:
        if (c == 0)
            return 0;
        return FLAG_AF | (c > 1 ? FLAG_OF : 0) |
               (c >= (unsigned)t->width && t->shop != 7 ? FLAG_CF : 0);
    case K_ROT: return c != 1 ? FLAG_OF : 0;
    case K_SHD: return c == 0 ? 0 : FLAG_AF | (c > 1 ? FLAG_OF : 0);
    case K_MUL: return FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
    case K_DIV: return ARITH;
    case K_BT: case K_BTMEM: return FLAG_OF | FLAG_SF | FLAG_AF | FLAG_PF;
    case K_BSF: return ARITH & ~FLAG_ZF;
    case K_DAA: return FLAG_OF;
    case K_AAA: return FLAG_OF | FLAG_SF | FLAG_ZF | FLAG_PF;
    case K_AAM: return FLAG_OF | FLAG_AF | FLAG_CF;
    default: return 0;
    }
}

#endif
