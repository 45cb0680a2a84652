/* translate.c - guest IA-32 code -> compiled code fragments.  A fragment is
 *   kick stub | entry: kick check | body (<= BT_MAX_INSN guest insns) |
 *   exit stubs
 * Each guest instruction goes through xlat_tab[opcode] (like the
 * interpreter's exec table), whose handler emits its host code with the
 * named encoders of x64.h or returns STEP_CALLOUT.  IDENT instructions are
 * copied with gs+addr32 on memory operands; stack and control-transfer
 * instructions are rewritten; anything else ends the fragment with a
 * callout exit (interp_step runs it).  Rewritten sequences do their only
 * faulting access first, so a fault anywhere in an instruction's host code
 * leaves the guest state of its start. */
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "x64.h"

struct exit_ref {
    uint32_t site;   /* rel32 to patch */
    uint32_t target; /* guest eip */
};

struct tx {
    struct bt *b;
    struct emit e;
    struct bt_frag *f;
    struct exit_ref ex[4];
    int nex;
};

enum step { STEP_NEXT, STEP_END, STEP_CALLOUT };

/* A translation handler: host code for guest instruction i at eip (raw:
 * its bytes). */
typedef enum step (*xlat_fn)(struct tx *t, const struct insn *i,
                             const uint8_t *raw, uint32_t eip);
static xlat_fn xlat_tab[OP_COUNT];

/* IDENT opcode tables: 1 = always, 2 = register form only, 3 = special */
static uint8_t ident0[256], ident0f[256];

static void ident_init(void)
{
    for (int base = 0x00; base <= 0x38; base += 8)
        for (int k = 0; k < 6; k++)
            ident0[base + k] = 1;
    static const uint8_t one[] = {0x69, 0x6b, 0x80, 0x81, 0x83, 0x84, 0x85,
                                  0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8d,
                                  0x98, 0x99, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
                                  0xa3, 0xa8, 0xa9, 0xc6, 0xc7, 0xf5, 0xf6,
                                  0xf7, 0xf8, 0xf9, 0xfc, 0xfd, 0xfe};
    for (size_t k = 0; k < sizeof(one); k++)
        ident0[one[k]] = 1;
    for (int k = 0x90; k <= 0x97; k++)
        ident0[k] = 1;
    for (int k = 0xb0; k <= 0xbf; k++)
        ident0[k] = 1;
    ident0[0xc0] = ident0[0xc1] = 3; /* not /6 */
    ident0[0xff] = 3;                /* inc/dec r/m only */
    for (int k = 0xd0; k <= 0xd3; k++)
        ident0[k] = 3;
    static const uint8_t two[] = {0x1f, 0xa4, 0xa5, 0xac, 0xad, 0xaf, 0xb0,
                                  0xb1, 0xb6, 0xb7, 0xba, 0xbc, 0xbd, 0xbe,
                                  0xbf, 0xc0, 0xc1};
    for (size_t k = 0; k < sizeof(two); k++)
        ident0f[two[k]] = 1;
    for (int k = 0x40; k <= 0x4f; k++)
        ident0f[k] = 1;
    for (int k = 0x90; k <= 0x9f; k++)
        ident0f[k] = 1;
    for (int k = 0xc8; k <= 0xcf; k++)
        ident0f[k] = 1;
    /* bt/bts/btr/btc with a register bit offset may address memory far
     * from the operand: register forms only. */
    ident0f[0xa3] = ident0f[0xab] = ident0f[0xb3] = ident0f[0xbb] = 2;
    ident0f[0xc7] = 3; /* cmpxchg8b only */
}

static bool has_mem(const struct insn *i)
{
    return (i->has_modrm && i->mod != 3) ||
           (i->op >= 0xa0 && i->op <= 0xa3);
}

/* Can the memory operand (if any) be reached as gs:[addr32]? */
static bool mem_ok(const struct insn *i)
{
    if (!has_mem(i))
        return true;
    if (i->addrsize != 4)
        return false;
    return i->ea_seg == SEG_DS || i->ea_seg == SEG_SS || i->ea_seg == SEG_ES;
}

static unsigned oplen(const struct insn *i)
{
    return i->op < OP_MAP0F ? 1 : i->op < OP_MAP0F38 ? 2 : 3;
}

/* The IDENT class of i's opcode and form (register/memory, /reg), ignoring
 * prefixes and the memory operand's segment. */
static bool ident_form(const struct insn *i)
{
    unsigned op = i->op & 0xff;
    unsigned k = i->op < OP_MAP0F ? ident0[op]
                 : i->op < OP_MAP0F38 ? ident0f[op] : 0;
    switch (k) {
    case 1: return true;
    case 2: return i->mod == 3;
    case 3:
        if (i->op == OP_MAP0F + 0xc7)
            return i->reg == 1 && i->mod != 3;
        if (i->op == 0xff)
            return i->reg <= 1;
        return i->reg != 6;
    default: return false;
    }
}

static bool is_ident(const struct insn *i)
{
    return !i->rep && mem_ok(i) && ident_form(i);
}

/* ModRM (+SIB, disp) of i's memory operand with reg field reg3; a
 * disp32-only operand becomes SIB form (else it would be RIP-relative). */
static void emit_rm(struct tx *t, const struct insn *i, const uint8_t *raw,
                    unsigned reg3)
{
    unsigned at = i->nprefixes + oplen(i);
    if (i->mod == 0 && i->rm == 5) {
        int32_t disp;
        memcpy(&disp, raw + at + 1, 4);
        x64_modrm_mem(&t->e, reg3, x64_m(X_NONE, X_NONE, 0, disp, 4));
        return;
    }
    /* the guest's ModRM (reg field replaced), SIB and displacement */
    e_u8(&t->e, (uint8_t)((i->modrm & 0xc7) | (reg3 << 3)));
    e_bytes(&t->e, raw + at + 1, (size_t)(i->has_sib + i->disp_size));
}

/* [REX.R] op /r: host register reg (r8-r15 too) with the guest
 * instruction's memory operand (prefixes emitted by the caller).
 *   e.g. 44 8b 04 24: mov r8d, [esp]  (after 65 67: gs:[esp]) */
static void emit_op_guest_mem(struct tx *t, const struct insn *i,
                              const uint8_t *raw, uint8_t op, unsigned reg)
{
    x64_rex(&t->e, false, (int)reg, 0, 0);
    e_u8(&t->e, op);
    emit_rm(t, i, raw, reg & 7);
}

/* The guest instruction itself: [66] [f0] [65 67] opcode ModRM.. imm. */
static void emit_ident(struct tx *t, const struct insn *i, const uint8_t *raw)
{
    if (i->opsize_prefix)
        x64_o16(&t->e);
    if (i->lock)
        x64_lock(&t->e);
    bool mem = has_mem(i);
    if (mem)
        x64_gs_a32(&t->e);
    unsigned at = i->nprefixes;
    e_bytes(&t->e, raw + at, oplen(i));
    at += oplen(i);
    if (i->has_modrm && i->mod == 0 && i->rm == 5) {
        emit_rm(t, i, raw, i->reg);
        at += 5;
    }
    e_bytes(&t->e, raw + at, i->len - at);
}

/* [esp + d] with a disp8 (the guest stack through gs/a32) */
static struct x64_mem m_esp(int32_t d)
{
    return x64_m(X_SP, X_NONE, 0, d, d ? 1 : 0);
}

/* 67 8d 64 24 fc: lea esp, [esp-4] (flag-free) */
static void emit_esp_sub4(struct tx *t)
{
    x64_a32(&t->e);
    x64_lea(&t->e, false, X_SP, m_esp(-4));
}

/* 65 67 c7 44 24 fc imm32: mov dword gs:[esp-4], imm32 ; lea esp, [esp-4] */
static void emit_push_imm(struct tx *t, uint32_t v)
{
    x64_gs_a32(&t->e);
    x64_mov_m_imm32(&t->e, m_esp(-4), v);
    emit_esp_sub4(t);
}

/* 65 67 [44] 89 44+8r 24 fc: mov gs:[esp-4], r32 (r = 0..7, or 11 for
 * r11d) ; lea esp, [esp-4] */
static void emit_push_reg(struct tx *t, unsigned r)
{
    x64_gs_a32(&t->e);
    x64_mov_m_r32(&t->e, m_esp(-4), r);
    emit_esp_sub4(t);
}

/* mov r11d, <r/m32 of i>: 41 89 c3+8r (mov r11d, r32) or
 * 65 67 44 8b /r (mov r11d, gs:[EA]) */
static void emit_load_r11(struct tx *t, const struct insn *i,
                          const uint8_t *raw)
{
    if (i->mod == 3) {
        x64_mov_r32_r32(&t->e, X_R11, i->rm);
        return;
    }
    x64_gs_a32(&t->e);
    emit_op_guest_mem(t, i, raw, 0x8b, X_R11);
}

/* Indirect branch: target eip in r11d; the ibl key also holds the mode:
 * 49 ba imm64: movabs r10, mode << 32; 4f 8d 1c 13: lea r11, [r11+r10];
 * e9: jmp ibl. */
static void emit_ibl_jump(struct tx *t)
{
    if (t->f->mode) {
        x64_mov_r64_imm64(&t->e, X_R10, (uint64_t)t->f->mode << 32);
        x64_lea(&t->e, true, X_R11, x64_m(X_R11, X_R10, 0, 0, 0));
    }
    e_jmp(&t->e, t->b->off_ibl);
}

/* Byte-register operand in the ModRM reg field (AH..BH need no REX). */
static bool reg_is_byte(const struct insn *i)
{
    unsigned op = i->op;
    if (op < 0x40)
        return (op & 7) == 0 || (op & 7) == 2;
    return op == 0x84 || op == 0x86 || op == 0x88 || op == 0x8a ||
           op == OP_MAP0F + 0xb0 || op == OP_MAP0F + 0xc0;
}

/* [r10d]: the address computed into r10d (after 65 67: gs:[r10d]) */
static const struct x64_mem M_R10 = {X_R10, X_NONE, 0, 0, 0};

/* mov al/eax <-> fs:/gs:[moffs32] (A0-A3): r10d = base + offset, then
 * the ModRM form (8A/8B/88/89) on gs:[r10d]:
 *   44 8b 15 disp32: mov r10d, [rip+segbase]
 *   67 45 8d 92 disp32: lea r10d, [r10d+moffs]
 *   [66] 65 67 41 8b 02: mov eax, gs:[r10d] (or 8a/88/89) */
static bool emit_segbase_moffs(struct tx *t, const struct insn *i)
{
    unsigned which = i->ea_seg == SEG_FS ? 0 : 1;
    if (!(t->f->mode & (which ? MODE_GS_OK : MODE_FS_OK)) ||
        i->addrsize != 4 || i->rep)
        return false;
    struct emit *e = &t->e;
    x64_mov_r32_ctx(e, X_R10, CTX_OFF(segbase) + 4 * which);
    x64_a32(e);
    x64_lea(e, false, X_R10, x64_m(X_R10, X_NONE, 0, i->disp, 4));
    if (i->opsize_prefix)
        x64_o16(e);
    x64_gs_a32(e);
    static const uint8_t op[] = {0x8a, 0x8b, 0x88, 0x89};
    x64_op_m(e, false, &op[i->op - 0xa0], 1, X_AX, M_R10);
    return true;
}

/* An IDENT instruction whose memory operand is fs:/gs: with a usable
 * 4 GiB segment: r10d = base + EA (32-bit wrap), then the instruction on
 * gs:[r10d].  Returns false if it cannot (the caller calls it out).
 *   44 8b 1d disp32: mov r11d, [rip+segbase]
 *   67 44 8d /r: lea r10d, [EA]
 *   67 47 8d 14 1a: lea r10d, [r10d+r11d]
 *   [66] [f0] 65 67 41 op /r: op gs:[r10d] */
static bool emit_segbase_op(struct tx *t, const struct insn *i,
                            const uint8_t *raw)
{
    unsigned which = i->ea_seg == SEG_FS ? 0 : 1;
    if (i->op >= 0xa0 && i->op <= 0xa3)
        return emit_segbase_moffs(t, i);
    if (!(t->f->mode & (which ? MODE_GS_OK : MODE_FS_OK)) ||
        !i->has_modrm || i->mod == 3 || i->addrsize != 4 || i->rep ||
        (reg_is_byte(i) && i->reg >= 4) || !ident_form(i) || i->op == 0x8d)
        return false; /* lea ignores segments: plain IDENT handles it */
    struct emit *e = &t->e;
    x64_mov_r32_ctx(e, X_R11, CTX_OFF(segbase) + 4 * which);
    x64_a32(e);
    emit_op_guest_mem(t, i, raw, 0x8d, X_R10);
    x64_a32(e);
    x64_lea(e, false, X_R10, x64_m(X_R10, X_R11, 0, 0, 0));
    if (i->opsize_prefix)
        x64_o16(e);
    if (i->lock)
        x64_lock(e);
    x64_gs_a32(e);
    unsigned at = i->nprefixes;
    x64_op_m(e, false, raw + at, oplen(i), i->reg, M_R10);
    at += oplen(i) + 1u + i->has_sib + i->disp_size;
    e_bytes(e, raw + at, i->len - at); /* the immediate, if any */
    return true;
}

/* bt/bts/btr/btc m32, r32 (0F A3/AB/B3/BB): the bit offset in the
 * register reaches outside the ModRM dword.  With BMI2 (flag-free
 * shifts): r10d = EA + (reg >> 5) * 4 (sarx, lea), r11d = reg & 31 (shlx,
 * shrx), then the host's instruction on gs:[r10d] with r11d: it does the
 * only access, so a fault is precise.
 *   67 44 8d /r: lea r10d, [EA]
 *   41 b9 05 00 00 00: mov r9d, 5
 *   c4 62 32 f7 d8+r: sarx r11d, reg, r9d
 *   47 8d 14 9a: lea r10d, [r10+r11*4]
 *   41 b9 1b 00 00 00: mov r9d, 27
 *   c4 62 31 f7 d8+r: shlx r11d, reg, r9d
 *   c4 42 33 f7 db: shrx r11d, r11d, r9d
 *   [f0] 65 67 45 0f xx 1a: bt* gs:[r10d], r11d */
static bool emit_bt_mem_reg(struct tx *t, const struct insn *i,
                            const uint8_t *raw)
{
    unsigned op = i->op;
    if (!t->b->bmi2 || !i->has_modrm || i->mod == 3 || i->addrsize != 4 ||
        i->rep || i->opsize != 4 || i->opsize_prefix ||
        (i->seg != SEG_NONE && i->seg != SEG_DS && i->seg != SEG_ES &&
         i->seg != SEG_SS))
        return false;
    struct emit *e = &t->e;
    unsigned r = i->reg;
    x64_a32(e);
    emit_op_guest_mem(t, i, raw, 0x8d, X_R10);
    x64_mov_r32_imm32(e, X_R9, 5);
    x64_sarx_r32(e, X_R11, r, X_R9);
    x64_lea(e, false, X_R10, x64_m(X_R10, X_R11, 2, 0, 0));
    x64_mov_r32_imm32(e, X_R9, 27);
    x64_shlx_r32(e, X_R11, r, X_R9);
    x64_shrx_r32(e, X_R11, X_R11, X_R9);
    if (i->lock)
        x64_lock(e);
    x64_gs_a32(e);
    const uint8_t ops[] = {0x0f, (uint8_t)(op & 0xff)};
    x64_op_m(e, false, ops, 2, X_R11, M_R10);
    return true;
}

/* Switch to / back from the private flag stack in bt_ctx:
 *   49 89 e2: mov r10, rsp ; 48 8d 25 disp32: lea rsp, [rip+flag_stack end]
 *   4c 89 d4: mov rsp, r10 */
static void emit_flag_stack_enter(struct emit *e)
{
    x64_mov_r64_r64(e, X_R10, X_SP);
    x64_lea_r64_ctx(e, X_SP, CTX_OFF(flag_stack) +
                                 sizeof(((struct bt_ctx *)0)->flag_stack));
}
static void emit_flag_stack_leave(struct emit *e)
{
    x64_mov_r64_r64(e, X_SP, X_R10);
}

/* pushf (32-bit): host arith flags + DF, bt_ctx.vflags and vif<<9,
 * computed on the private flag stack (guest flags restored by popfq
 * before the store, the only access that can fault).
 *   (flag stack) 9c: pushfq ; 4c 8b 1c 24: mov r11, [rsp]
 *   41 81 e3 imm32: and r11d, arith|DF ; 44 0b 1d: or r11d, [rip+vflags]
 *   44 8b 0d: mov r9d, [rip+vif] ; 41 c1 e1 09: shl r9d, 9
 *   45 09 cb: or r11d, r9d ; 9d: popfq ; (back) ; push r11d */
static void emit_pushf(struct tx *t)
{
    struct emit *e = &t->e;
    emit_flag_stack_enter(e);
    x64_pushfq(e);
    x64_mov_r_m(e, true, X_R11, x64_m(X_SP, X_NONE, 0, 0, 0));
    x64_and_r32_imm32(e, X_R11, FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF |
                                    FLAG_SF | FLAG_DF | FLAG_OF);
    x64_or_r32_ctx(e, X_R11, CTX_OFF(vflags));
    x64_mov_r32_ctx(e, X_R9, CTX_OFF(vif));
    x64_shl_r32_imm8(e, X_R9, 9);
    x64_or_r32_r32(e, X_R11, X_R9);
    x64_popfq(e);
    emit_flag_stack_leave(e);
    emit_push_reg(t, X_R11);
}

/* 4a 8d 34 0e: lea rsi, [rsi+r9] ; 4a 8d 3c 0f: lea rdi, [rdi+r9] */
static void emit_into_view(struct emit *e, unsigned r)
{
    x64_lea(e, true, r, x64_m((int)r, X_R9, 0, 0, 0));
}

/* rep movs / stos / cmps / scas in the cache: check on the private flag
 * stack that the whole string (all ECX elements, even if a cmps/scas may
 * stop early) stays inside the 4 GiB window (else call out), then point
 * RSI/RDI into the view (views are 4 GiB aligned, so the low 32 bits stay
 * the guest's ESI/EDI, even in the ucontext of a fault half way), run the
 * host's own instruction with the guest's prefix (cmps/scas set the host
 * flags, which are the guest's; ECX = 0 leaves them alone, as the guest's
 * would be), and drop the view bits.
 *   (flag stack) 9c: pushfq ; 49 b8 imm64: movabs r8, 1 << 32
 *   f6 44 24 01 04: test byte [rsp+1], 4 (DF) ; 75 xx: jnz down
 *   up:   4c 8d 0c 4f: lea r9, [rdi+rcx*s] ; 4d 39 c1: cmp r9, r8 ; ja slow
 *         (and rsi) ; eb xx: jmp ok
 *   down: 4c 8d 1c 4d 0: lea r11, [rcx*s] ; 4c 8d 4f s: lea r9, [rdi+s]
 *         4d 39 d9: cmp r9, r11 ; jb slow (and rsi)
 *   ok:   9d: popfq ; (back) ; 4c 8b 0d: mov r9, [rip+view_base]
 *         lea rdi/rsi, [r+r9] ; [66] f3/f2 a4..af: rep string
 *         89 ff: mov edi, edi ; 89 f6: mov esi, esi ; eb xx: jmp done
 *   slow: 9d: popfq ; (back) ; callout
 *   done: */
static void emit_rep_string(struct tx *t, const struct insn *i, uint32_t eip)
{
    bool movs = i->op == 0xa4 || i->op == 0xa5 || i->op == 0xa6 ||
                i->op == 0xa7; /* both RSI and RDI */
    unsigned size = (i->op == 0xa4 || i->op == 0xaa || i->op == 0xa6 ||
                     i->op == 0xae) ? 1 : i->opsize;
    unsigned sc = size == 1 ? 0 : size == 2 ? 1 : 2;
    struct emit *e = &t->e;
    emit_flag_stack_enter(e);
    x64_pushfq(e);
    x64_mov_r64_imm64(e, X_R8, 1ull << 32);
    x64_test_m8_imm8(e, x64_m(X_SP, X_NONE, 0, 1, 1), 0x04);
    uint32_t jdown = x64_jcc8(e, X64_CC_NZ);
    uint32_t slow[4];
    int ns = 0;
    /* upwards, cmps/scas only read and may stop early (strlen's repne
     * scasb with ECX = -1): past 4 GiB they run into the guard after the
     * view, a fault the interpreter finishes from (the low 32 bits of
     * RSI/RDI are then the wrapped ESI/EDI) */
    bool reads = i->op == 0xa6 || i->op == 0xa7 || i->op == 0xae ||
                 i->op == 0xaf;
    for (int k = 0; k < (reads ? 0 : movs ? 2 : 1); k++) {
        int base = k == 0 ? X_DI : X_SI;
        x64_lea(e, true, X_R9, x64_m(base, X_CX, sc, 0, 0));
        x64_cmp_r64_r64(e, X_R9, X_R8);
        slow[ns++] = e_jcc(e, X64_CC_A, 0);
    }
    uint32_t jok = x64_jmp8(e);
    x64_patch8(e, jdown);
    x64_lea(e, true, X_R11, x64_m(X_NONE, X_CX, sc, 0, 4));
    for (int k = 0; k < (movs ? 2 : 1); k++) {
        int base = k == 0 ? X_DI : X_SI;
        x64_lea(e, true, X_R9, x64_m(base, X_NONE, 0, (int32_t)size, 1));
        x64_cmp_r64_r64(e, X_R9, X_R11);
        slow[ns++] = e_jcc(e, X64_CC_B, 0);
    }
    x64_patch8(e, jok);
    x64_popfq(e);
    emit_flag_stack_leave(e);
    x64_mov_r64_ctx(e, X_R9, CTX_OFF(view_base));
    emit_into_view(e, X_DI);
    if (movs)
        emit_into_view(e, X_SI);
    if (size == 2)
        x64_o16(e);
    e_u8(e, (uint8_t)i->rep);  /* f3/f2 */
    e_u8(e, (uint8_t)i->op);   /* a4..af: the guest's string instruction */
    x64_mov_r32_r32(e, X_DI, X_DI);
    if (movs)
        x64_mov_r32_r32(e, X_SI, X_SI);
    uint32_t jdone = x64_jmp8(e);
    uint32_t slow_at = e->pos;
    for (int k = 0; k < ns; k++)
        e_set_rel32(e, slow[k], slow_at);
    x64_popfq(e);
    emit_flag_stack_leave(e);
    x64_mov_ctx_imm32(e, CTX_OFF(next_eip), eip);
    x64_mov_ctx_imm32(e, CTX_OFF(chain_from), i->op);
    e_jmp(e, t->b->off_exit[BT_EXIT_CALLOUT]);
    x64_patch8(e, jdone);
}

/* movs/cmps/stos/lods/scas without rep, addr32, default segments: point
 * RSI/RDI into the view (4 GiB aligned: the low 32 bits stay ESI/EDI,
 * also in the ucontext of a fault), run the host's own instruction (host
 * DF = guest DF, flags as the guest's), drop the view bits again.  Only
 * flag-free instructions around it.
 *   4c 8b 0d: mov r9, [rip+view_base] ; lea rsi/rdi, [r+r9]
 *   [66] a4..af ; 89 f6: mov esi, esi ; 89 ff: mov edi, edi */
static bool emit_string1(struct tx *t, const struct insn *i)
{
    unsigned op = i->op;
    if (i->rep || i->addrsize != 4 || op < 0xa4 || op > 0xaf ||
        op == 0xa8 || op == 0xa9)
        return false;
    bool src = op == 0xa4 || op == 0xa5 || op == 0xa6 || op == 0xa7 ||
               op == 0xac || op == 0xad;
    bool dst = !(op == 0xac || op == 0xad);
    if (src && i->seg != SEG_NONE && i->seg != SEG_DS)
        return false; /* the source may be overridden (the dest: never) */
    struct emit *e = &t->e;
    x64_mov_r64_ctx(e, X_R9, CTX_OFF(view_base));
    if (src)
        emit_into_view(e, X_SI);
    if (dst)
        emit_into_view(e, X_DI);
    if (i->opsize_prefix)
        x64_o16(e);
    e_u8(e, (uint8_t)op);
    if (src)
        x64_mov_r32_r32(e, X_SI, X_SI);
    if (dst)
        x64_mov_r32_r32(e, X_DI, X_DI);
    return true;
}

/* A direct exit: the rel32 at site is patched to its stub (or chained). */
static void add_exit(struct tx *t, uint32_t site, uint32_t target)
{
    t->ex[t->nex].site = site;
    t->ex[t->nex].target = target;
    t->nex++;
}

static void emit_direct_jmp(struct tx *t, uint32_t target)
{
    add_exit(t, e_jmp(&t->e, 0), target);
}

/* c7 05: mov [rip+next_eip], eip ; c7 05: mov [rip+chain_from], op ;
 * e9: jmp exit_callout */
static void emit_callout(struct tx *t, uint32_t eip, uint16_t op)
{
    x64_mov_ctx_imm32(&t->e, CTX_OFF(next_eip), eip);
    x64_mov_ctx_imm32(&t->e, CTX_OFF(chain_from), op);
    e_jmp(&t->e, t->b->off_exit[BT_EXIT_CALLOUT]);
}

static void emit_exit_stubs(struct tx *t)
{
    struct bt *b = t->b;
    for (int k = 0; k < t->nex; k++) {
        uint32_t target = t->ex[k].target;
        uint32_t site = t->ex[k].site;
        uint32_t stub = t->e.pos;
        x64_mov_ctx_imm32(&t->e, CTX_OFF(next_eip), target);
        x64_mov_ctx_imm32(&t->e, CTX_OFF(chain_from), site);
        e_jmp(&t->e, b->off_exit[BT_EXIT_BRANCH]);
        /* chain now only when the target's physical address is known
         * without a page walk (paging off, or the same linear page) */
        struct bt_frag *g = NULL;
        const struct bt_frag *f = t->f;
        if (!bt_paging(&b->cpu))
            g = target < b->ram_size
                    ? bt_tc_lookup(b, target, target, f->mode) : NULL;
        else if ((target >> 12) == (f->eip >> 12))
            g = bt_tc_lookup(b, (f->pa & ~0xfffu) | (target & 0xfff), target,
                             f->mode);
        if (g && !g->interp_only) {
            e_set_rel32(&t->e, site, g->tc_off);
            b->st.chains_patched++;
        } else {
            e_set_rel32(&t->e, site, stub);
        }
    }
}

/* ---- translation handlers (xlat_tab) -------------------------------- */

/* IDENT instructions; fs:/gs: memory operands through gs:[r10d]. */
static enum step x_ident(struct tx *t, const struct insn *i,
                         const uint8_t *raw, uint32_t eip)
{
    (void)eip;
    if (is_ident(i)) {
        emit_ident(t, i, raw);
        return STEP_NEXT;
    }
    if (has_mem(i) && (i->ea_seg == SEG_FS || i->ea_seg == SEG_GS) &&
        emit_segbase_op(t, i, raw))
        return STEP_NEXT;
    return STEP_CALLOUT;
}

/* 90 (nop, xchg eax,eax; F3 90 pause) */
static enum step x_nop(struct tx *t, const struct insn *i,
                       const uint8_t *raw, uint32_t eip)
{
    if (i->rep == 0xf3 && !i->opsize_prefix) {
        x64_pause(&t->e);
        return STEP_NEXT;
    }
    return x_ident(t, i, raw, eip);
}

/* 0F 18-1F: hint NOPs (endbr32, prefetch, nop r/m): nothing to run */
static enum step x_hint_nop(struct tx *t, const struct insn *i,
                            const uint8_t *raw, uint32_t eip)
{
    (void)t, (void)i, (void)raw, (void)eip;
    return STEP_NEXT;
}

/* 0F A3/AB/B3/BB: bt/bts/btr/btc r/m32, r32 */
static enum step x_bt_reg(struct tx *t, const struct insn *i,
                          const uint8_t *raw, uint32_t eip)
{
    if (x_ident(t, i, raw, eip) == STEP_NEXT || emit_bt_mem_reg(t, i, raw))
        return STEP_NEXT;
    return STEP_CALLOUT;
}

/* A4-A7, AA-AF: string instructions (rep or single) */
static enum step x_string(struct tx *t, const struct insn *i,
                          const uint8_t *raw, uint32_t eip)
{
    (void)raw;
    unsigned op = i->op;
    if (((i->rep == 0xf3 &&
          (op == 0xa4 || op == 0xa5 || op == 0xaa || op == 0xab)) ||
         ((i->rep == 0xf3 || i->rep == 0xf2) &&
          (op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf))) &&
        i->addrsize == 4 &&
        (op >= 0xaa || i->seg == SEG_NONE || i->seg == SEG_DS ||
         i->seg == SEG_ES || i->seg == SEG_SS)) {
        emit_rep_string(t, i, eip);
        return STEP_NEXT;
    }
    return emit_string1(t, i) ? STEP_NEXT : STEP_CALLOUT;
}

/* 9C: pushf (32-bit) */
static enum step x_pushf(struct tx *t, const struct insn *i,
                         const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    emit_pushf(t);
    return STEP_NEXT;
}

/* FA: cli at CPL 0: c7 05 disp32 0: mov dword [rip+vif], 0 */
static enum step x_cli(struct tx *t, const struct insn *i,
                       const uint8_t *raw, uint32_t eip)
{
    (void)i, (void)raw, (void)eip;
    if (!(t->f->mode & MODE_CPL0))
        return STEP_CALLOUT;
    x64_mov_ctx_imm32(&t->e, CTX_OFF(vif), 0);
    return STEP_NEXT;
}

/* 40-4F: inc/dec r -> [66] ff c0+r / ff c8+r */
static enum step x_incdec(struct tx *t, const struct insn *i,
                          const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize_prefix)
        x64_o16(&t->e);
    x64_incdec_r32(&t->e, (i->op & 8) != 0, i->op & 7);
    return STEP_NEXT;
}

/* 50-57: push r32 */
static enum step x_push_reg(struct tx *t, const struct insn *i,
                            const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    emit_push_reg(t, i->op & 7);
    return STEP_NEXT;
}

/* 58-5F: pop r32: 65 67 8b 04+8r 24: mov r32, gs:[esp] ;
 * 67 8d 64 24 04: lea esp, [esp+4] (not for pop esp) */
static enum step x_pop_reg(struct tx *t, const struct insn *i,
                           const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    unsigned r = i->op & 7;
    x64_gs_a32(&t->e);
    x64_mov_r_m(&t->e, false, r, m_esp(0));
    if (r != X_SP) {
        x64_a32(&t->e);
        x64_lea(&t->e, false, X_SP, m_esp(4));
    }
    return STEP_NEXT;
}

/* 68, 6A: push imm32/imm8 */
static enum step x_push_imm(struct tx *t, const struct insn *i,
                            const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    emit_push_imm(t, (uint32_t)insn_simm(i));
    return STEP_NEXT;
}

/* C9: leave: 65 67 44 8b 5d 00: mov r11d, gs:[ebp] ;
 * 67 8d 65 04: lea esp, [ebp+4] ; 44 89 dd: mov ebp, r11d */
static enum step x_leave(struct tx *t, const struct insn *i,
                         const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    struct emit *e = &t->e;
    x64_gs_a32(e);
    x64_mov_r_m(e, false, X_R11, x64_m(X_BP, X_NONE, 0, 0, 1));
    x64_a32(e);
    x64_lea(e, false, X_SP, x64_m(X_BP, X_NONE, 0, 4, 1));
    x64_mov_r32_r32(e, X_BP, X_R11);
    return STEP_NEXT;
}

/* FF: inc/dec r/m (IDENT); push/call/jmp near r/m32 (/6, /2, /4) */
static enum step x_grp5(struct tx *t, const struct insn *i,
                        const uint8_t *raw, uint32_t eip)
{
    if (x_ident(t, i, raw, eip) == STEP_NEXT)
        return STEP_NEXT;
    if (i->opsize != 4 || (i->reg != 2 && i->reg != 4 && i->reg != 6) ||
        !mem_ok(i))
        return STEP_CALLOUT;
    if (i->reg == 6 && i->mod == 3) {
        emit_push_reg(t, i->rm);
        return STEP_NEXT;
    }
    emit_load_r11(t, i, raw);
    if (i->reg == 6) {
        emit_push_reg(t, X_R11);
        return STEP_NEXT;
    }
    if (i->reg == 2)
        emit_push_imm(t, eip + i->len);
    emit_ibl_jump(t);
    return STEP_END;
}

/* C3, C2: ret [imm16]: 65 67 44 8b 1c 24: mov r11d, gs:[esp] ;
 * 67 8d a4 24 imm32: lea esp, [esp+4+imm] ; ibl */
static enum step x_ret(struct tx *t, const struct insn *i,
                       const uint8_t *raw, uint32_t eip)
{
    (void)raw, (void)eip;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    struct emit *e = &t->e;
    x64_gs_a32(e);
    x64_mov_r_m(e, false, X_R11, m_esp(0));
    x64_a32(e);
    x64_lea(e, false, X_SP,
            x64_m(X_SP, X_NONE, 0,
                  (int32_t)(4 + (i->op == 0xc2 ? i->imm : 0)), 4));
    emit_ibl_jump(t);
    return STEP_END;
}

static uint32_t branch_target(const struct insn *i, uint32_t eip)
{
    return eip + i->len + (uint32_t)insn_simm(i);
}

/* 70-7F, 0F 80-8F: jcc -> 0f 8x rel32 (taken exit), e9 rel32 (next) */
static enum step x_jcc(struct tx *t, const struct insn *i,
                       const uint8_t *raw, uint32_t eip)
{
    (void)raw;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    add_exit(t, e_jcc(&t->e, i->op & 0xf, 0), branch_target(i, eip));
    emit_direct_jmp(t, eip + i->len);
    return STEP_END;
}

/* E9, EB: jmp rel -> e9 rel32 exit */
static enum step x_jmp(struct tx *t, const struct insn *i,
                       const uint8_t *raw, uint32_t eip)
{
    (void)raw;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    emit_direct_jmp(t, branch_target(i, eip));
    return STEP_END;
}

/* E8: call rel32 -> push the return address, e9 rel32 exit */
static enum step x_call(struct tx *t, const struct insn *i,
                        const uint8_t *raw, uint32_t eip)
{
    (void)raw;
    if (i->opsize != 4)
        return STEP_CALLOUT;
    emit_push_imm(t, eip + i->len);
    emit_direct_jmp(t, branch_target(i, eip));
    return STEP_END;
}

/* E0-E3: loopne/loope/loop/jecxz on ECX: 67 e0..e3 05 (over the next
 * 5-byte jmp: taken -> second jmp) ; e9 (next) ; e9 (target) */
static enum step x_loop(struct tx *t, const struct insn *i,
                        const uint8_t *raw, uint32_t eip)
{
    (void)raw;
    if (i->opsize != 4 || i->addrsize != 4)
        return STEP_CALLOUT;
    x64_a32(&t->e);
    e_u8(&t->e, (uint8_t)i->op);
    e_u8(&t->e, 5);
    emit_direct_jmp(t, eip + i->len);
    emit_direct_jmp(t, branch_target(i, eip));
    return STEP_END;
}

static void set_range(unsigned first, unsigned last, xlat_fn fn)
{
    for (unsigned op = first; op <= last; op++)
        xlat_tab[op] = fn;
}

static void tables_init(void)
{
    static bool ready;
    if (ready)
        return;
    ident_init();
    for (unsigned op = 0; op < 0x100; op++) {
        if (ident0[op])
            xlat_tab[op] = x_ident;
        if (ident0f[op])
            xlat_tab[OP_MAP0F + op] = x_ident;
    }
    xlat_tab[0x90] = x_nop;
    set_range(OP_MAP0F + 0x18, OP_MAP0F + 0x1f, x_hint_nop);
    xlat_tab[OP_MAP0F + 0xa3] = x_bt_reg;
    xlat_tab[OP_MAP0F + 0xab] = x_bt_reg;
    xlat_tab[OP_MAP0F + 0xb3] = x_bt_reg;
    xlat_tab[OP_MAP0F + 0xbb] = x_bt_reg;
    set_range(0xa4, 0xa7, x_string);
    set_range(0xaa, 0xaf, x_string);
    xlat_tab[0x9c] = x_pushf;
    xlat_tab[0xfa] = x_cli;
    set_range(0x40, 0x4f, x_incdec);
    set_range(0x50, 0x57, x_push_reg);
    set_range(0x58, 0x5f, x_pop_reg);
    xlat_tab[0x68] = x_push_imm;
    xlat_tab[0x6a] = x_push_imm;
    xlat_tab[0xc9] = x_leave;
    xlat_tab[0xff] = x_grp5;
    xlat_tab[0xc2] = x_ret;
    xlat_tab[0xc3] = x_ret;
    set_range(0x70, 0x7f, x_jcc);
    set_range(OP_MAP0F + 0x80, OP_MAP0F + 0x8f, x_jcc);
    xlat_tab[0xe9] = x_jmp;
    xlat_tab[0xeb] = x_jmp;
    xlat_tab[0xe8] = x_call;
    set_range(0xe0, 0xe3, x_loop);
    ready = true;
}

/* Translate one instruction at eip (decoded as i, bytes raw). */
static enum step translate_one(struct tx *t, const struct insn *i,
                               const uint8_t *raw, uint32_t eip)
{
    if (bt_adapt_is_callout(t->b, eip, t->f->pa + (eip - t->f->eip)))
        return STEP_CALLOUT;
    xlat_fn fn = xlat_tab[i->op];
    return fn ? fn(t, i, raw, eip) : STEP_CALLOUT;
}

/* An instruction at cur (guest-physical cur_pa) that runs into the next
 * linear page: assemble its bytes from both pages (the next one through
 * the guest's tables) into buf and decode it.  Returns the next page's
 * guest-physical address, or -1 (then it is called out).  At most 8
 * bytes may lie on the next page (the guard compares 8). */
static int64_t straddle_decode(struct bt *b, uint32_t cur, uint32_t cur_pa,
                               uint8_t *buf, struct insn *i, int *len)
{
    uint32_t head = 4096 - (cur_pa & 0xfff), lin2 = (cur | 0xfffu) + 1, pa2;
    if (!bt_walk(b, lin2, b->cpu.cpl == 3, false, &pa2) ||
        (uint64_t)pa2 + 4096 > b->ram_size)
        return -1;
    memcpy(buf, b->window + cur_pa, head);
    memcpy(buf + head, b->window + pa2, X86_MAX_INSN - head);
    int n = x86_decode(buf, X86_MAX_INSN, true, i);
    if (n <= 0 || (unsigned)n <= head || (unsigned)n - head > 8)
        return -1;
    *len = n;
    b->st.straddling_insns++;
    return pa2;
}

/* Before a page-straddling instruction: the 8 bytes at the start of the
 * next linear page, read through the view (the current mapping), must
 * still be those it was translated from (tail: the start of the next
 * page's guest-physical page), else call it out.  The
 * compare is flag-free: r11 = ~bytes + expected + 1 (0 if equal), tested
 * with jrcxz, guest RCX parked in r11.  A fault on the read (the page is
 * not mapped) is the instruction's own fetch fault.
 *   65 67 4c 8b 1c 25 lin2: mov r11, gs:[lin2]
 *   49 ba imm64: movabs r10, expected ; 49 f7 d3: not r11
 *   4f 8d 5c 13 01: lea r11, [r11+r10+1] ; 4c 87 d9: xchg rcx, r11
 *   e3 xx: jrcxz ok ; 4c 87 d9: xchg rcx, r11 ; callout
 *   ok: 4c 87 d9: xchg rcx, r11 */
static void emit_straddle_guard(struct tx *t, uint32_t lin2,
                                const uint8_t *tail, uint32_t eip,
                                uint16_t op)
{
    struct emit *e = &t->e;
    x64_gs_a32(e);
    x64_mov_r_m(e, true, X_R11, x64_m(X_NONE, X_NONE, 0, (int32_t)lin2, 4));
    uint64_t want;
    memcpy(&want, tail, 8);
    x64_mov_r64_imm64(e, X_R10, want);
    x64_not_r64(e, X_R11);
    x64_lea(e, true, X_R11, x64_m(X_R11, X_R10, 0, 1, 1));
    x64_xchg_r64_r64(e, X_CX, X_R11);
    uint32_t jr = x64_jrcxz8(e);
    x64_xchg_r64_r64(e, X_CX, X_R11);
    emit_callout(t, eip, op);
    x64_patch8(e, jr);
    x64_xchg_r64_r64(e, X_CX, X_R11);
}

struct bt_frag *bt_translate(struct bt *b, uint32_t eip, uint32_t pa,
                             unsigned mode)
{
    tables_init();
    if (bt_budget_tight(b))
        bt_budget_reclaim(b, true); /* before tracing another page */
    if (b->tc_used + BT_FRAG_MAX_BYTES > BT_TC_SIZE ||
        b->nfrags >= BT_MAX_FRAGS) {
        bt_tc_flush(b);
        b->st.flushes_full++;
    }
    struct bt_frag *f = &b->frags[b->nfrags];
    memset(f, 0, sizeof(*f));
    f->eip = eip;
    f->pa = pa;
    f->mode = (uint8_t)mode;
    /* its linear page (and the next: an instruction may end there) */
    b->code_lin[eip >> 18] |= 1ull << ((eip >> 12) & 63);
    uint32_t nxt = (eip >> 12) + 1;
    if (nxt < (1u << 20))
        b->code_lin[nxt >> 6] |= 1ull << (nxt & 63);
    struct tx t = {.b = b, .e = {.base = b->tcw, .pos = b->tc_used}, .f = f};
    f->tc_start = t.e.pos;
    if (pa < b->ram_size && b->smc_count[pa >> 12] >= BT_SMC_VOLATILE) {
        /* rewritten too often: interpret it, untraced */
        f->interp_only = true;
        f->volatile_ip = true;
        f->callout_op = 0xffff;
        f->tc_end = f->tc_off = f->tc_start;
        b->nfrags++;
        bt_tc_insert(b, f);
        b->st.fragments++;
        return f;
    }

    /* kick stub, then the entry's flag-preserving check of run_ok:
     *   stub:  4c 89 d1: mov rcx, r10 ; c7 05: mov [rip+next_eip], eip
     *          e9: jmp exit_kick
     *   entry: 49 89 ca: mov r10, rcx ; 8b 0d: mov ecx, [rip+run_ok]
     *          e3 xx: jrcxz stub ; 4c 89 d1: mov rcx, r10 */
    x64_mov_r64_r64(&t.e, X_CX, X_R10);
    x64_mov_ctx_imm32(&t.e, CTX_OFF(next_eip), eip);
    e_jmp(&t.e, b->off_exit[BT_EXIT_KICK]);
    f->tc_off = t.e.pos;
    x64_mov_r64_r64(&t.e, X_R10, X_CX);
    x64_mov_r32_ctx(&t.e, X_CX, CTX_OFF(run_ok));
    uint32_t jk = x64_jrcxz8(&t.e);
    t.e.base[jk] = (uint8_t)(int8_t)((int32_t)f->tc_start - (int32_t)(jk + 1));
    x64_mov_r64_r64(&t.e, X_CX, X_R10);
    f->body_off = t.e.pos;

    uint32_t cur = eip;
    uint32_t last_byte = pa;
    int n = 0;
    for (;;) {
        uint32_t cur_pa = pa + (cur - eip);
        if (n > 0 && (cur_pa >> 12) != (pa >> 12)) {
            emit_direct_jmp(&t, cur); /* stay within one page per start */
            break;
        }
        struct insn i;
        int len = DECODE_SHORT;
        const uint8_t *raw = b->window + cur_pa;
        uint8_t xbuf[X86_MAX_INSN];
        int64_t pa2 = -1;
        if (cur_pa < b->ram_size) {
            uint64_t avail = b->ram_size - cur_pa;
            if (bt_paging(&b->cpu) && avail > 4096 - (cur_pa & 0xfff))
                avail = 4096 - (cur_pa & 0xfff); /* next page: elsewhere */
            len = x86_decode(raw, avail < X86_MAX_INSN ? avail : X86_MAX_INSN,
                             true, &i);
            if (len < 0 && avail < X86_MAX_INSN && bt_paging(&b->cpu))
                pa2 = straddle_decode(b, cur, cur_pa, xbuf, &i, &len);
            if (pa2 >= 0)
                raw = xbuf;
        }
        f->host_off[n] = (uint16_t)(t.e.pos - f->tc_start);
        f->eip_off[n] = (uint16_t)(cur - eip);
        if (pa2 >= 0)
            emit_straddle_guard(&t, (cur | 0xfffu) + 1,
                                b->window + pa2, cur, i.op);
        enum step s = len < 0 ? STEP_CALLOUT : translate_one(&t, &i, raw, cur);
        if (s == STEP_CALLOUT) {
            uint16_t op = len < 0 ? 0xffff : i.op;
            if (n == 0) {
                f->interp_only = true;
                f->callout_op = op;
                break;
            }
            /* a straddling callout needs no guard (the interpreter fetches
             * its bytes itself), and must not have one: a fault on the
             * guard's read would be taken for the previous instruction's
             * (this one is not counted in ninsn), which then ran twice */
            if (pa2 >= 0)
                t.e.pos = f->tc_start + f->host_off[n];
            emit_callout(&t, cur, op);
            break;
        }
        n++;
        last_byte = pa2 >= 0 ? (uint32_t)pa2 + (i.len - (4096 - (cur_pa & 0xfff))) - 1
                             : cur_pa + i.len - 1;
        cur += i.len;
        if (s == STEP_END || pa2 >= 0) {
            if (s != STEP_END)
                emit_direct_jmp(&t, cur); /* the rest is another page */
            break;
        }
        if (n == BT_MAX_INSN) {
            emit_direct_jmp(&t, cur);
            break;
        }
    }
    f->ninsn = (uint8_t)n;
    b->st.fragments++;
    if (f->interp_only) {
        /* no code: keep the entry so that lookups find it */
        f->tc_end = f->tc_start;
        f->tc_off = f->tc_start;
        b->nfrags++;
        bt_tc_insert(b, f);
        return f;
    }
    b->st.translated_insns += (uint64_t)n;
    b->nfrags++; /* before the stubs: a self-loop chains to itself */
    bt_tc_insert(b, f);
    emit_exit_stubs(&t);
    f->tc_end = t.e.pos;
    if (f->tc_end - f->tc_start > BT_FRAG_MAX_BYTES)
        abort(); /* the reserve before each fragment was too small */
    b->tc_used = (t.e.pos + 15) & ~15u;
    f->page[0] = pa >> 12;
    f->page[1] = last_byte >> 12;
    for (int k = 0; k < 2; k++) {
        if (k == 1 && f->page[1] == f->page[0]) {
            f->link[1] = -1;
            break;
        }
        f->link[k] = b->page_frags[f->page[k]];
        b->page_frags[f->page[k]] = (int32_t)(f - b->frags);
    }
    if (!bt_trace_page(b, pa >> 12) || !bt_trace_page(b, last_byte >> 12))
        return f; /* host_error: the engine stops before running it */
    bt_ibl_insert(b, eip, mode, f->tc_off);
    return f;
}
