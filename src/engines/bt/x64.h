/* x64.h - named encoders for the x86-64 host instructions the translator
 * (translate.c) emits, on top of emit.h's byte emitter.  Each encoder
 * writes one instruction; its comment gives the encoding and an example
 * disassembly.  Guest memory is reached as gs:[addr32]: the caller emits
 * x64_gs_a32() before an instruction whose memory operand is guest memory.
 * Memory operands are struct x64_mem (base + index * 2^scale + disp, with
 * the displacement size chosen by the caller, so that the bytes are
 * exactly those intended); bt_ctx fields are reached RIP-relative. */
#ifndef POPEK_BT_X64_H
#define POPEK_BT_X64_H
#include <stdbool.h>
#include <stdint.h>

#include "emit.h"

/* Host registers by encoding number. */
enum x64_reg {
    X_AX, X_CX, X_DX, X_BX, X_SP, X_BP, X_SI, X_DI,
    X_R8, X_R9, X_R10, X_R11,
};
#define X_NONE (-1)

/* [base + index * 2^scale + disp]; base/index X_NONE = absent; dsize is
 * the displacement's size in bytes (0, 1 or 4; no base needs 4, base
 * rbp/r13 needs 1 or 4). */
struct x64_mem {
    int base, index;
    unsigned scale, dsize;
    int32_t disp;
};
static inline struct x64_mem x64_m(int base, int index, unsigned scale,
                                   int32_t disp, unsigned dsize)
{
    return (struct x64_mem){base, index, scale, dsize, disp};
}

/* --- prefixes ------------------------------------------------------- */

/* 65 67: gs segment, 32-bit address: the next operand is guest memory */
static inline void x64_gs_a32(struct emit *e)
{
    e_u8(e, 0x65);
    e_u8(e, 0x67);
}
/* 67: 32-bit address size */
static inline void x64_a32(struct emit *e) { e_u8(e, 0x67); }
/* 66: 16-bit operand size */
static inline void x64_o16(struct emit *e) { e_u8(e, 0x66); }
/* f0: lock */
static inline void x64_lock(struct emit *e) { e_u8(e, 0xf0); }

/* REX (0100WRXB) when any bit is needed: W = 64-bit operand, R/X/B =
 * bit 3 of the ModRM reg, SIB index, ModRM rm or SIB base register. */
static inline void x64_rex(struct emit *e, bool w, int r, int x, int b)
{
    unsigned v = (w ? 8u : 0u) | (r > 0 ? ((unsigned)r >> 3 & 1) << 2 : 0) |
                 (x > 0 ? ((unsigned)x >> 3 & 1) << 1 : 0) |
                 (b > 0 ? ((unsigned)b >> 3 & 1) : 0);
    if (v)
        e_u8(e, (uint8_t)(0x40 | v));
}
static inline void x64_rex_mem(struct emit *e, bool w, int reg,
                               struct x64_mem m)
{
    x64_rex(e, w, reg, m.index, m.base);
}

/* ModRM (+SIB, disp) for reg, [m]. */
static inline void x64_modrm_mem(struct emit *e, unsigned reg,
                                 struct x64_mem m)
{
    unsigned mod = m.base == X_NONE ? 0 : m.dsize == 1 ? 1 : m.dsize ? 2 : 0;
    if (m.index == X_NONE && m.base != X_NONE && (m.base & 7) != 4) {
        e_u8(e, (uint8_t)(mod << 6 | (reg & 7) << 3 | (m.base & 7)));
    } else {
        e_u8(e, (uint8_t)(mod << 6 | (reg & 7) << 3 | 4));
        unsigned idx = m.index == X_NONE ? 4 : (unsigned)m.index & 7;
        unsigned base = m.base == X_NONE ? 5 : (unsigned)m.base & 7;
        e_u8(e, (uint8_t)(m.scale << 6 | idx << 3 | base));
    }
    if (m.dsize == 1)
        e_u8(e, (uint8_t)m.disp);
    else if (m.dsize == 4)
        e_u32(e, (uint32_t)m.disp);
}
/* ModRM for reg, rm (register form). */
static inline void x64_modrm_rr(struct emit *e, unsigned reg, unsigned rm)
{
    e_u8(e, (uint8_t)(0xc0 | (reg & 7) << 3 | (rm & 7)));
}
/* [REX] op ModRM for reg, [rip + bt_ctx field] (tail: immediate bytes
 * that follow the disp32). */
static inline void x64_op_ctx(struct emit *e, bool w, uint8_t op,
                              unsigned reg, size_t field, unsigned tail)
{
    x64_rex(e, w, (int)reg, 0, 0);
    e_u8(e, op);
    e_u8(e, (uint8_t)((reg & 7) << 3 | 5));
    e_ripdisp(e, field, tail);
}

/* --- bt_ctx fields (RIP-relative) ----------------------------------- */

/* [REX.R] 8B /r: mov r32, [rip+field]     e.g. 44 8b 15: mov r10d, [..] */
static inline void x64_mov_r32_ctx(struct emit *e, unsigned r, size_t field)
{
    x64_op_ctx(e, false, 0x8b, r, field, 0);
}
/* REX.W 8B /r: mov r64, [rip+field]       e.g. 4c 8b 0d: mov r9, [..] */
static inline void x64_mov_r64_ctx(struct emit *e, unsigned r, size_t field)
{
    x64_op_ctx(e, true, 0x8b, r, field, 0);
}
/* [REX.R] 0B /r: or r32, [rip+field]      e.g. 44 0b 1d: or r11d, [..] */
static inline void x64_or_r32_ctx(struct emit *e, unsigned r, size_t field)
{
    x64_op_ctx(e, false, 0x0b, r, field, 0);
}
/* REX.W 8D /r: lea r64, [rip+field]       e.g. 48 8d 25: lea rsp, [..] */
static inline void x64_lea_r64_ctx(struct emit *e, unsigned r, size_t field)
{
    x64_op_ctx(e, true, 0x8d, r, field, 0);
}
/* C7 05 disp32 id: mov dword [rip+field], imm32 */
static inline void x64_mov_ctx_imm32(struct emit *e, size_t field,
                                     uint32_t imm)
{
    e_store_imm(e, field, imm);
}

/* --- register and immediate forms ----------------------------------- */

/* [REX] 89 /r: mov dst32, src32           e.g. 41 89 c3: mov r11d, eax */
static inline void x64_mov_r32_r32(struct emit *e, unsigned dst, unsigned src)
{
    x64_rex(e, false, (int)src, 0, (int)dst);
    e_u8(e, 0x89);
    x64_modrm_rr(e, src, dst);
}
/* REX.W 89 /r: mov dst64, src64           e.g. 49 89 e2: mov r10, rsp */
static inline void x64_mov_r64_r64(struct emit *e, unsigned dst, unsigned src)
{
    x64_rex(e, true, (int)src, 0, (int)dst);
    e_u8(e, 0x89);
    x64_modrm_rr(e, src, dst);
}
/* REX.W 87 /r: xchg a64, b64              e.g. 4c 87 d9: xchg rcx, r11 */
static inline void x64_xchg_r64_r64(struct emit *e, unsigned a, unsigned b)
{
    x64_rex(e, true, (int)b, 0, (int)a);
    e_u8(e, 0x87);
    x64_modrm_rr(e, b, a);
}
/* [REX] 09 /r: or dst32, src32            e.g. 45 09 cb: or r11d, r9d */
static inline void x64_or_r32_r32(struct emit *e, unsigned dst, unsigned src)
{
    x64_rex(e, false, (int)src, 0, (int)dst);
    e_u8(e, 0x09);
    x64_modrm_rr(e, src, dst);
}
/* REX.W 39 /r: cmp a64, b64               e.g. 4d 39 c1: cmp r9, r8 */
static inline void x64_cmp_r64_r64(struct emit *e, unsigned a, unsigned b)
{
    x64_rex(e, true, (int)b, 0, (int)a);
    e_u8(e, 0x39);
    x64_modrm_rr(e, b, a);
}
/* REX.W F7 /2: not r64                    e.g. 49 f7 d3: not r11 */
static inline void x64_not_r64(struct emit *e, unsigned r)
{
    x64_rex(e, true, 0, 0, (int)r);
    e_u8(e, 0xf7);
    x64_modrm_rr(e, 2, r);
}
/* [REX] 81 /4 id: and r32, imm32          e.g. 41 81 e3: and r11d, imm */
static inline void x64_and_r32_imm32(struct emit *e, unsigned r, uint32_t imm)
{
    x64_rex(e, false, 0, 0, (int)r);
    e_u8(e, 0x81);
    x64_modrm_rr(e, 4, r);
    e_u32(e, imm);
}
/* [REX] C1 /4 ib: shl r32, imm8           e.g. 41 c1 e1 09: shl r9d, 9 */
static inline void x64_shl_r32_imm8(struct emit *e, unsigned r, uint8_t imm)
{
    x64_rex(e, false, 0, 0, (int)r);
    e_u8(e, 0xc1);
    x64_modrm_rr(e, 4, r);
    e_u8(e, imm);
}
/* [REX] FF /0 or /1: inc/dec r32          e.g. ff c0: inc eax */
static inline void x64_incdec_r32(struct emit *e, bool dec, unsigned r)
{
    x64_rex(e, false, 0, 0, (int)r);
    e_u8(e, 0xff);
    x64_modrm_rr(e, dec ? 1 : 0, r);
}
/* [REX.B] B8+r id: mov r32, imm32         e.g. 41 b9 05 00 00 00: mov r9d, 5 */
static inline void x64_mov_r32_imm32(struct emit *e, unsigned r, uint32_t imm)
{
    x64_rex(e, false, 0, 0, (int)r);
    e_u8(e, (uint8_t)(0xb8 | (r & 7)));
    e_u32(e, imm);
}
/* REX.W B8+r iq: movabs r64, imm64        e.g. 49 ba: movabs r10, imm */
static inline void x64_mov_r64_imm64(struct emit *e, unsigned r, uint64_t imm)
{
    x64_rex(e, true, 0, 0, (int)r);
    e_u8(e, (uint8_t)(0xb8 | (r & 7)));
    e_u32(e, (uint32_t)imm);
    e_u32(e, (uint32_t)(imm >> 32));
}
/* VEX.LZ.0F38.W0 F7 /r: BMI2 flag-free shifts dst32 = src32 op cnt32;
 * pp picks the operation (F3 sarx, 66 shlx, F2 shrx).
 *   e.g. c4 62 32 f7 d8: sarx r11d, eax, r9d */
static inline void x64_bmi2_shift(struct emit *e, unsigned pp, unsigned dst,
                                  unsigned src, unsigned cnt)
{
    e_u8(e, 0xc4);
    e_u8(e, (uint8_t)((~dst >> 3 & 1) << 7 | 0x40 | (~src >> 3 & 1) << 5 |
                      0x02));
    e_u8(e, (uint8_t)((~cnt & 15) << 3 | pp));
    e_u8(e, 0xf7);
    x64_modrm_rr(e, dst, src);
}
static inline void x64_sarx_r32(struct emit *e, unsigned d, unsigned s,
                                unsigned c)
{
    x64_bmi2_shift(e, 2, d, s, c);
}
static inline void x64_shlx_r32(struct emit *e, unsigned d, unsigned s,
                                unsigned c)
{
    x64_bmi2_shift(e, 1, d, s, c);
}
static inline void x64_shrx_r32(struct emit *e, unsigned d, unsigned s,
                                unsigned c)
{
    x64_bmi2_shift(e, 3, d, s, c);
}
/* 9C: pushfq */
static inline void x64_pushfq(struct emit *e) { e_u8(e, 0x9c); }
/* 9D: popfq */
static inline void x64_popfq(struct emit *e) { e_u8(e, 0x9d); }
/* F3 90: pause */
static inline void x64_pause(struct emit *e)
{
    e_u8(e, 0xf3);
    e_u8(e, 0x90);
}

/* --- memory forms (prefixes such as x64_gs_a32 come first) ---------- */

/* [REX] 8D /r: lea r, [m] (w: 64-bit)     e.g. 67 8d 64 24 fc: lea esp,
 * [esp-4] after x64_a32 */
static inline void x64_lea(struct emit *e, bool w, unsigned r,
                           struct x64_mem m)
{
    x64_rex_mem(e, w, (int)r, m);
    e_u8(e, 0x8d);
    x64_modrm_mem(e, r, m);
}
/* [REX] 8B /r: mov r, [m] (w: 64-bit)     e.g. 44 8b 1c 24: mov r11d,
 * [esp] */
static inline void x64_mov_r_m(struct emit *e, bool w, unsigned r,
                               struct x64_mem m)
{
    x64_rex_mem(e, w, (int)r, m);
    e_u8(e, 0x8b);
    x64_modrm_mem(e, r, m);
}
/* [REX] 89 /r: mov [m], r32               e.g. 89 44 24 fc: mov [esp-4],
 * eax */
static inline void x64_mov_m_r32(struct emit *e, struct x64_mem m, unsigned r)
{
    x64_rex_mem(e, false, (int)r, m);
    e_u8(e, 0x89);
    x64_modrm_mem(e, r, m);
}
/* C7 /0 id: mov dword [m], imm32          e.g. c7 44 24 fc: mov dword
 * [esp-4], imm */
static inline void x64_mov_m_imm32(struct emit *e, struct x64_mem m,
                                   uint32_t imm)
{
    x64_rex_mem(e, false, 0, m);
    e_u8(e, 0xc7);
    x64_modrm_mem(e, 0, m);
    e_u32(e, imm);
}
/* F6 /0 ib: test byte [m], imm8           e.g. f6 44 24 01 04: test byte
 * [rsp+1], 4 */
static inline void x64_test_m8_imm8(struct emit *e, struct x64_mem m,
                                    uint8_t imm)
{
    x64_rex_mem(e, false, 0, m);
    e_u8(e, 0xf6);
    x64_modrm_mem(e, 0, m);
    e_u8(e, imm);
}
/* [REX] op(s) /r with reg, [m]: a guest instruction's opcode re-encoded
 * with a host memory operand (ops: 1-3 opcode bytes). */
static inline void x64_op_m(struct emit *e, bool w, const uint8_t *ops,
                            unsigned nops, unsigned reg, struct x64_mem m)
{
    x64_rex_mem(e, w, (int)reg, m);
    e_bytes(e, ops, nops);
    x64_modrm_mem(e, reg, m);
}

/* --- short branches (rel8, patched with x64_patch8) ----------------- */

/* 7x cb: jcc rel8; returns the offset of the rel8 */
static inline uint32_t x64_jcc8(struct emit *e, unsigned cc)
{
    e_u8(e, (uint8_t)(0x70 | cc));
    e_u8(e, 0);
    return e->pos - 1;
}
/* EB cb: jmp rel8 */
static inline uint32_t x64_jmp8(struct emit *e)
{
    e_u8(e, 0xeb);
    e_u8(e, 0);
    return e->pos - 1;
}
/* E3 cb: jrcxz rel8 */
static inline uint32_t x64_jrcxz8(struct emit *e)
{
    e_u8(e, 0xe3);
    e_u8(e, 0);
    return e->pos - 1;
}
/* the rel8 at site jumps to the current position */
static inline void x64_patch8(struct emit *e, uint32_t site)
{
    e->base[site] = (uint8_t)(e->pos - (site + 1));
}

#define X64_CC_B 0x2  /* jb/jc */
#define X64_CC_NZ 0x5 /* jnz */
#define X64_CC_A 0x7  /* ja */

#endif
