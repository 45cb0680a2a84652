/* translate.c - guest IA-32 code -> compiled code fragments.  A fragment is
 *   kick stub | entry: kick check | body (<= BT_MAX_INSN guest insns) |
 *   exit stubs
 * IDENT instructions are copied with gs+addr32 on memory operands; stack
 * and control-transfer instructions are rewritten; anything else ends the
 * fragment with a callout exit (interp_step runs it).  Rewritten sequences
 * do their only faulting access first, so a fault anywhere in an
 * instruction's host code leaves the guest state of its start. */
#include <stdlib.h>
#include <string.h>

#include "emit.h"

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

/* IDENT opcode tables: 1 = always, 2 = register form only, 3 = special */
static uint8_t ident0[256], ident0f[256];
static bool tables_ready;

static void tables_init(void)
{
    if (tables_ready)
        return;
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
    tables_ready = true;
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

static bool is_ident(const struct insn *i)
{
    if (i->rep || !mem_ok(i))
        return false;
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

/* ModRM (+SIB, disp) of i's memory operand with reg field reg3; a
 * disp32-only operand becomes SIB form (else it would be RIP-relative). */
static void emit_rm(struct tx *t, const struct insn *i, const uint8_t *raw,
                    unsigned reg3)
{
    unsigned at = i->nprefixes + oplen(i);
    if (i->mod == 0 && i->rm == 5) {
        e_u8(&t->e, (uint8_t)((reg3 << 3) | 4));
        e_u8(&t->e, 0x25);
        e_bytes(&t->e, raw + at + 1, 4);
        return;
    }
    e_u8(&t->e, (uint8_t)((i->modrm & 0xc7) | (reg3 << 3)));
    e_bytes(&t->e, raw + at + 1, (size_t)(i->has_sib + i->disp_size));
}

static void emit_ident(struct tx *t, const struct insn *i, const uint8_t *raw)
{
    if (i->opsize_prefix)
        e_u8(&t->e, 0x66);
    if (i->lock)
        e_u8(&t->e, 0xf0);
    bool mem = has_mem(i);
    if (mem) {
        e_u8(&t->e, 0x65);
        e_u8(&t->e, 0x67);
    }
    unsigned at = i->nprefixes;
    e_bytes(&t->e, raw + at, oplen(i));
    at += oplen(i);
    if (i->has_modrm && i->mod == 0 && i->rm == 5) {
        emit_rm(t, i, raw, i->reg);
        at += 5;
    }
    e_bytes(&t->e, raw + at, i->len - at);
}

static const uint8_t LEA_ESP_M4[] = {0x67, 0x8d, 0x64, 0x24, 0xfc};
static const uint8_t LEA_ESP_P4[] = {0x67, 0x8d, 0x64, 0x24, 0x04};

/* mov dword gs:[esp-4], imm32 ; lea esp, [esp-4] */
static void emit_push_imm(struct tx *t, uint32_t v)
{
    static const uint8_t m[] = {0x65, 0x67, 0xc7, 0x44, 0x24, 0xfc};
    e_bytes(&t->e, m, sizeof(m));
    e_u32(&t->e, v);
    e_bytes(&t->e, LEA_ESP_M4, sizeof(LEA_ESP_M4));
}

/* mov gs:[esp-4], r32 (r = 0..7, or 11 for r11d) ; lea esp, [esp-4] */
static void emit_push_reg(struct tx *t, unsigned r)
{
    e_u8(&t->e, 0x65);
    e_u8(&t->e, 0x67);
    if (r >= 8)
        e_u8(&t->e, 0x44);
    e_u8(&t->e, 0x89);
    e_u8(&t->e, (uint8_t)(0x44 | ((r & 7) << 3)));
    e_u8(&t->e, 0x24);
    e_u8(&t->e, 0xfc);
    e_bytes(&t->e, LEA_ESP_M4, sizeof(LEA_ESP_M4));
}

/* mov r11d, <r/m32 of i> */
static void emit_load_r11(struct tx *t, const struct insn *i,
                          const uint8_t *raw)
{
    if (i->mod == 3) {
        e_u8(&t->e, 0x41);
        e_u8(&t->e, 0x89);
        e_u8(&t->e, (uint8_t)(0xc3 | (i->rm << 3)));
        return;
    }
    e_u8(&t->e, 0x65);
    e_u8(&t->e, 0x67);
    e_u8(&t->e, 0x44);
    e_u8(&t->e, 0x8b);
    emit_rm(t, i, raw, 3);
}

/* Indirect branch: target eip in r11d; the ibl key also holds the mode:
 * movabs r10, mode << 32; lea r11, [r11 + r10]; jmp ibl. */
static void emit_ibl_jump(struct tx *t)
{
    if (t->f->mode) {
        e_u8(&t->e, 0x49);
        e_u8(&t->e, 0xba);
        e_u32(&t->e, 0);
        e_u32(&t->e, t->f->mode);
        static const uint8_t lea[] = {0x4f, 0x8d, 0x1c, 0x13};
        e_bytes(&t->e, lea, sizeof(lea));
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

/* An IDENT instruction whose memory operand is fs:/gs: with a usable
 * 4 GiB segment: r10d = base + EA (32-bit wrap), then the instruction on
 * gs:[r10d].  Returns false if it cannot (the caller calls it out). */
/* mov al/eax <-> fs:/gs:[moffs32] (A0-A3): r10d = base + offset, then
 * the ModRM form (8A/8B/88/89) on gs:[r10d]. */
static bool emit_segbase_moffs(struct tx *t, const struct insn *i)
{
    unsigned which = i->ea_seg == SEG_FS ? 0 : 1;
    if (!(t->f->mode & (which ? MODE_GS_OK : MODE_FS_OK)) ||
        i->addrsize != 4 || i->rep)
        return false;
    e_u8(&t->e, 0x44);                          /* mov r10d, [rip+base] */
    e_u8(&t->e, 0x8b);
    e_u8(&t->e, 0x15);
    e_ripdisp(&t->e, CTX_OFF(segbase) + 4 * which, 0);
    e_u8(&t->e, 0x67);                          /* lea r10d, [r10+disp32] */
    e_u8(&t->e, 0x45);
    e_u8(&t->e, 0x8d);
    e_u8(&t->e, 0x92);
    e_u32(&t->e, i->disp);
    if (i->opsize_prefix)
        e_u8(&t->e, 0x66);
    e_u8(&t->e, 0x65);
    e_u8(&t->e, 0x67);
    e_u8(&t->e, 0x41);                          /* REX.B: rm = r10 */
    static const uint8_t op[] = {0x8a, 0x8b, 0x88, 0x89};
    e_u8(&t->e, op[i->op - 0xa0]);
    e_u8(&t->e, 0x02);                          /* [r10], reg = al/eax */
    return true;
}

static bool emit_segbase_op(struct tx *t, const struct insn *i,
                            const uint8_t *raw)
{
    unsigned which = i->ea_seg == SEG_FS ? 0 : 1;
    if (i->op >= 0xa0 && i->op <= 0xa3)
        return emit_segbase_moffs(t, i);
    if (!(t->f->mode & (which ? MODE_GS_OK : MODE_FS_OK)) ||
        !i->has_modrm || i->mod == 3 || i->addrsize != 4 || i->rep ||
        (reg_is_byte(i) && i->reg >= 4))
        return false;
    unsigned op = i->op & 0xff;
    unsigned k = i->op < OP_MAP0F ? ident0[op]
                 : i->op < OP_MAP0F38 ? ident0f[op] : 0;
    if (k == 0 || k == 2 ||
        (k == 3 && (i->op == OP_MAP0F + 0xc7 ? i->reg != 1
                    : i->op == 0xff          ? i->reg > 1
                                             : i->reg == 6)))
        return false;
    if (i->op == 0x8d)
        return false; /* lea ignores segments: plain IDENT handles it */
    e_u8(&t->e, 0x44);                          /* mov r11d, [rip+base] */
    e_u8(&t->e, 0x8b);
    e_u8(&t->e, 0x1d);
    e_ripdisp(&t->e, CTX_OFF(segbase) + 4 * which, 0);
    e_u8(&t->e, 0x67);                          /* lea r10d, [EA] */
    e_u8(&t->e, 0x44);
    e_u8(&t->e, 0x8d);
    emit_rm(t, i, raw, 2);
    static const uint8_t add[] = {0x67, 0x47, 0x8d, 0x14, 0x1a};
    e_bytes(&t->e, add, sizeof(add));           /* lea r10d, [r10+r11] */
    if (i->opsize_prefix)
        e_u8(&t->e, 0x66);
    if (i->lock)
        e_u8(&t->e, 0xf0);
    e_u8(&t->e, 0x65);
    e_u8(&t->e, 0x67);
    e_u8(&t->e, 0x41);                          /* REX.B: rm = r10 */
    unsigned at = i->nprefixes;
    e_bytes(&t->e, raw + at, oplen(i));
    at += oplen(i);
    e_u8(&t->e, (uint8_t)((i->modrm & 0x38) | 0x02));
    at += 1u + i->has_sib + i->disp_size;
    e_bytes(&t->e, raw + at, i->len - at);
    return true;
}

/* bt/bts/btr/btc m32, r32 (0F A3/AB/B3/BB): the bit offset in the
 * register reaches outside the ModRM dword.  With BMI2 (flag-free
 * shifts): r10d = EA + (reg >> 5) * 4 (sarx, lea), r11d = reg & 31 (shlx,
 * shrx), then the host's instruction on gs:[r10d] with r11d: it does the
 * only access, so a fault is precise. */
static bool emit_bt_mem_reg(struct tx *t, const struct insn *i,
                            const uint8_t *raw)
{
    unsigned op = i->op;
    if (!t->b->bmi2 || !i->has_modrm || i->mod == 3 || i->addrsize != 4 ||
        i->rep || i->opsize != 4 || i->opsize_prefix ||
        (op != OP_MAP0F + 0xa3 && op != OP_MAP0F + 0xab &&
         op != OP_MAP0F + 0xb3 && op != OP_MAP0F + 0xbb) ||
        (i->seg != SEG_NONE && i->seg != SEG_DS && i->seg != SEG_ES &&
         i->seg != SEG_SS))
        return false;
    struct emit *e = &t->e;
    unsigned r = i->reg;
    e_u8(e, 0x67); e_u8(e, 0x44); e_u8(e, 0x8d);           /* lea r10d, EA */
    emit_rm(t, i, raw, 2);
    e_u8(e, 0x41); e_u8(e, 0xb9); e_u32(e, 5);             /* mov r9d, 5 */
    e_u8(e, 0xc4); e_u8(e, 0x62); e_u8(e, 0x32);           /* sarx r11d, */
    e_u8(e, 0xf7); e_u8(e, (uint8_t)(0xd8 | r));           /* reg, r9d */
    e_u8(e, 0x47); e_u8(e, 0x8d); e_u8(e, 0x14);           /* lea r10d, */
    e_u8(e, 0x9a);                                         /* [r10+r11*4] */
    e_u8(e, 0x41); e_u8(e, 0xb9); e_u32(e, 27);            /* mov r9d, 27 */
    e_u8(e, 0xc4); e_u8(e, 0x62); e_u8(e, 0x31);           /* shlx r11d, */
    e_u8(e, 0xf7); e_u8(e, (uint8_t)(0xd8 | r));           /* reg, r9d */
    static const uint8_t shr[] = {0xc4, 0x42, 0x33, 0xf7, 0xdb};
    e_bytes(e, shr, sizeof(shr));                          /* shrx r11d */
    if (i->lock)
        e_u8(e, 0xf0);
    e_u8(e, 0x65); e_u8(e, 0x67); e_u8(e, 0x45);           /* gs addr32 */
    e_u8(e, 0x0f); e_u8(e, (uint8_t)(op & 0xff));
    e_u8(e, 0x1a);                                         /* [r10d], r11d */
    return true;
}

/* pushf (32-bit): host arith flags + DF, bt_ctx.vflags and vif<<9,
 * computed on the private flag stack (guest flags restored by popfq
 * before the store, the only access that can fault). */
static void emit_pushf(struct tx *t)
{
    e_u8(&t->e, 0x49); e_u8(&t->e, 0x89); e_u8(&t->e, 0xe2); /* mov r10,rsp */
    e_u8(&t->e, 0x48); e_u8(&t->e, 0x8d); e_u8(&t->e, 0x25); /* lea rsp,.. */
    e_ripdisp(&t->e, CTX_OFF(flag_stack) +
                         sizeof(((struct bt_ctx *)0)->flag_stack), 0);
    static const uint8_t a[] = {0x9c,                    /* pushfq */
                                0x4c, 0x8b, 0x1c, 0x24,  /* mov r11,[rsp] */
                                0x41, 0x81, 0xe3};       /* and r11d, imm */
    e_bytes(&t->e, a, sizeof(a));
    e_u32(&t->e, FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_DF |
                     FLAG_OF);
    e_u8(&t->e, 0x44); e_u8(&t->e, 0x0b); e_u8(&t->e, 0x1d); /* or r11d,.. */
    e_ripdisp(&t->e, CTX_OFF(vflags), 0);
    e_u8(&t->e, 0x44); e_u8(&t->e, 0x8b); e_u8(&t->e, 0x0d); /* mov r9d,vif */
    e_ripdisp(&t->e, CTX_OFF(vif), 0);
    static const uint8_t b[] = {0x41, 0xc1, 0xe1, 0x09,  /* shl r9d, 9 */
                                0x45, 0x09, 0xcb,        /* or r11d, r9d */
                                0x9d,                    /* popfq */
                                0x4c, 0x89, 0xd4};       /* mov rsp, r10 */
    e_bytes(&t->e, b, sizeof(b));
    emit_push_reg(t, 11);
}

/* rep movs / stos / cmps / scas in the cache: check on the private flag
 * stack that the whole string (all ECX elements, even if a cmps/scas may
 * stop early) stays inside the 4 GiB window (else call out), then point
 * RSI/RDI into the view (views are 4 GiB aligned, so the low 32 bits stay
 * the guest's ESI/EDI, even in the ucontext of a fault half way), run the
 * host's own instruction with the guest's prefix (cmps/scas set the host
 * flags, which are the guest's; ECX = 0 leaves them alone, as the guest's
 * would be), and drop the view bits. */
static void emit_rep_string(struct tx *t, const struct insn *i, uint32_t eip)
{
    bool movs = i->op == 0xa4 || i->op == 0xa5 || i->op == 0xa6 ||
                i->op == 0xa7; /* both RSI and RDI */
    unsigned size = (i->op == 0xa4 || i->op == 0xaa || i->op == 0xa6 ||
                     i->op == 0xae) ? 1 : i->opsize;
    unsigned sc = size == 1 ? 0 : size == 2 ? 1 : 2;
    struct emit *e = &t->e;
    e_u8(e, 0x49); e_u8(e, 0x89); e_u8(e, 0xe2);           /* mov r10, rsp */
    e_u8(e, 0x48); e_u8(e, 0x8d); e_u8(e, 0x25);           /* lea rsp, .. */
    e_ripdisp(e, CTX_OFF(flag_stack) +
                     sizeof(((struct bt_ctx *)0)->flag_stack), 0);
    e_u8(e, 0x9c);                                         /* pushfq */
    e_u8(e, 0x49); e_u8(e, 0xb8); e_u32(e, 0); e_u32(e, 1); /* r8 = 1<<32 */
    static const uint8_t df[] = {0xf6, 0x44, 0x24, 0x01, 0x04}; /* DF? */
    e_bytes(e, df, sizeof(df));
    e_u8(e, 0x75);                                         /* jnz down */
    uint32_t jdown = e->pos;
    e_u8(e, 0);
    uint32_t slow[4];
    int ns = 0;
    /* upwards, cmps/scas only read and may stop early (strlen's repne
     * scasb with ECX = -1): past 4 GiB they run into the guard after the
     * view, a fault the interpreter finishes from (the low 32 bits of
     * RSI/RDI are then the wrapped ESI/EDI) */
    bool reads = i->op == 0xa6 || i->op == 0xa7 || i->op == 0xae ||
                 i->op == 0xaf;
    for (int k = 0; k < (reads ? 0 : movs ? 2 : 1); k++) {
        unsigned base = k == 0 ? 7 : 6;                    /* rdi, rsi */
        e_u8(e, 0x4c); e_u8(e, 0x8d); e_u8(e, 0x0c);       /* lea r9, .. */
        e_u8(e, (uint8_t)(sc << 6 | 1 << 3 | base));       /* [b+rcx*s] */
        e_u8(e, 0x4d); e_u8(e, 0x39); e_u8(e, 0xc1);       /* cmp r9, r8 */
        slow[ns++] = e_jcc(e, 0x7, 0);                     /* ja slow */
    }
    e_u8(e, 0xeb);                                         /* jmp ok */
    uint32_t jok = e->pos;
    e_u8(e, 0);
    e->base[jdown] = (uint8_t)(e->pos - (jdown + 1));
    e_u8(e, 0x4c); e_u8(e, 0x8d); e_u8(e, 0x1c);           /* lea r11, */
    e_u8(e, (uint8_t)(sc << 6 | 1 << 3 | 5)); e_u32(e, 0); /* [rcx*s] */
    for (int k = 0; k < (movs ? 2 : 1); k++) {
        unsigned base = k == 0 ? 7 : 6;
        e_u8(e, 0x4c); e_u8(e, 0x8d);                      /* lea r9, */
        e_u8(e, (uint8_t)(0x48 | base)); e_u8(e, (uint8_t)size); /* [b+s] */
        e_u8(e, 0x4d); e_u8(e, 0x39); e_u8(e, 0xd9);       /* cmp r9, r11 */
        slow[ns++] = e_jcc(e, 0x2, 0);                     /* jb slow */
    }
    e->base[jok] = (uint8_t)(e->pos - (jok + 1));
    e_u8(e, 0x9d);                                         /* popfq */
    e_u8(e, 0x4c); e_u8(e, 0x89); e_u8(e, 0xd4);           /* mov rsp, r10 */
    e_u8(e, 0x4c); e_u8(e, 0x8b); e_u8(e, 0x0d);           /* mov r9, base */
    e_ripdisp(e, CTX_OFF(view_base), 0);
    e_u8(e, 0x4a); e_u8(e, 0x8d); e_u8(e, 0x3c); e_u8(e, 0x0f); /* rdi+=r9 */
    if (movs) {
        e_u8(e, 0x4a); e_u8(e, 0x8d); e_u8(e, 0x34); e_u8(e, 0x0e);
    }
    if (size == 2)
        e_u8(e, 0x66);
    e_u8(e, (uint8_t)i->rep);
    e_u8(e, (uint8_t)i->op);                               /* rep string */
    e_u8(e, 0x89); e_u8(e, 0xff);                          /* mov edi, edi */
    if (movs) {
        e_u8(e, 0x89); e_u8(e, 0xf6);                      /* mov esi, esi */
    }
    e_u8(e, 0xeb);                                         /* jmp done */
    uint32_t jdone = e->pos;
    e_u8(e, 0);
    uint32_t slow_at = e->pos;
    for (int k = 0; k < ns; k++)
        e_set_rel32(e, slow[k], slow_at);
    e_u8(e, 0x9d);                                         /* popfq */
    e_u8(e, 0x4c); e_u8(e, 0x89); e_u8(e, 0xd4);           /* mov rsp, r10 */
    e_store_imm(e, CTX_OFF(next_eip), eip);
    e_store_imm(e, CTX_OFF(chain_from), i->op);
    e_jmp(e, t->b->off_exit[BT_EXIT_CALLOUT]);
    e->base[jdone] = (uint8_t)(e->pos - (jdone + 1));
}

/* movs/cmps/stos/lods/scas without rep, addr32, default segments: point
 * RSI/RDI into the view (4 GiB aligned: the low 32 bits stay ESI/EDI,
 * also in the ucontext of a fault), run the host's own instruction (host
 * DF = guest DF, flags as the guest's), drop the view bits again.  Only
 * flag-free instructions around it. */
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
    e_u8(e, 0x4c); e_u8(e, 0x8b); e_u8(e, 0x0d);           /* mov r9, base */
    e_ripdisp(e, CTX_OFF(view_base), 0);
    if (src) {
        e_u8(e, 0x4a); e_u8(e, 0x8d); e_u8(e, 0x34); e_u8(e, 0x0e);
    }
    if (dst) {
        e_u8(e, 0x4a); e_u8(e, 0x8d); e_u8(e, 0x3c); e_u8(e, 0x0f);
    }
    if (i->opsize_prefix)
        e_u8(e, 0x66);
    e_u8(e, (uint8_t)op);
    if (src) {
        e_u8(e, 0x89); e_u8(e, 0xf6);                      /* mov esi, esi */
    }
    if (dst) {
        e_u8(e, 0x89); e_u8(e, 0xff);                      /* mov edi, edi */
    }
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

static void emit_callout(struct tx *t, uint32_t eip, uint16_t op)
{
    e_store_imm(&t->e, CTX_OFF(next_eip), eip);
    e_store_imm(&t->e, CTX_OFF(chain_from), op);
    e_jmp(&t->e, t->b->off_exit[BT_EXIT_CALLOUT]);
}

static void emit_exit_stubs(struct tx *t)
{
    struct bt *b = t->b;
    for (int k = 0; k < t->nex; k++) {
        uint32_t target = t->ex[k].target;
        uint32_t site = t->ex[k].site;
        uint32_t stub = t->e.pos;
        e_store_imm(&t->e, CTX_OFF(next_eip), target);
        e_store_imm(&t->e, CTX_OFF(chain_from), site);
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

enum step { STEP_NEXT, STEP_END, STEP_CALLOUT };

/* Translate one instruction at eip (decoded as i, bytes raw). */
static enum step translate_one(struct tx *t, const struct insn *i,
                               const uint8_t *raw, uint32_t eip)
{
    uint32_t next = eip + i->len;
    if (bt_adapt_is_callout(t->b, eip, t->f->pa + (eip - t->f->eip)))
        return STEP_CALLOUT;
    if (i->op >= OP_MAP0F + 0x18 && i->op <= OP_MAP0F + 0x1f)
        return STEP_NEXT; /* hint NOPs (endbr32, prefetch, nop r/m) */
    if (i->op == 0x90 && i->rep == 0xf3 && !i->opsize_prefix) {
        e_u8(&t->e, 0xf3); /* pause */
        e_u8(&t->e, 0x90);
        return STEP_NEXT;
    }
    if (is_ident(i)) {
        emit_ident(t, i, raw);
        return STEP_NEXT;
    }
    if (has_mem(i) && (i->ea_seg == SEG_FS || i->ea_seg == SEG_GS) &&
        emit_segbase_op(t, i, raw))
        return STEP_NEXT;
    if (emit_bt_mem_reg(t, i, raw))
        return STEP_NEXT;
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
    if (op == 0x9c && i->opsize == 4) {
        emit_pushf(t);
        return STEP_NEXT;
    }
    if (emit_string1(t, i))
        return STEP_NEXT;
    if (op == 0xfa && (t->f->mode & MODE_CPL0)) {
        e_u8(&t->e, 0xc7);                      /* cli: vif = 0 */
        e_u8(&t->e, 0x05);
        e_ripdisp(&t->e, CTX_OFF(vif), 4);
        e_u32(&t->e, 0);
        return STEP_NEXT;
    }
    bool o32 = i->opsize == 4;
    if (op >= 0x40 && op <= 0x4f) { /* inc/dec r -> FF /0, FF /1 */
        if (i->opsize_prefix)
            e_u8(&t->e, 0x66);
        e_u8(&t->e, 0xff);
        e_u8(&t->e, (uint8_t)(0xc0 | (op & 8) | (op & 7)));
        return STEP_NEXT;
    }
    if (op >= 0x50 && op <= 0x57 && o32) {
        emit_push_reg(t, op & 7);
        return STEP_NEXT;
    }
    if (op >= 0x58 && op <= 0x5f && o32) {
        unsigned r = op & 7;
        e_u8(&t->e, 0x65);
        e_u8(&t->e, 0x67);
        e_u8(&t->e, 0x8b);
        e_u8(&t->e, (uint8_t)(0x04 | (r << 3)));
        e_u8(&t->e, 0x24);
        if (r != 4)
            e_bytes(&t->e, LEA_ESP_P4, sizeof(LEA_ESP_P4));
        return STEP_NEXT;
    }
    if ((op == 0x68 || op == 0x6a) && o32) {
        emit_push_imm(t, (uint32_t)insn_simm(i));
        return STEP_NEXT;
    }
    if (op == 0xc9 && o32) { /* leave */
        static const uint8_t m[] = {0x65, 0x67, 0x44, 0x8b, 0x5d, 0x00,
                                    0x67, 0x8d, 0x65, 0x04,
                                    0x44, 0x89, 0xdd};
        e_bytes(&t->e, m, sizeof(m));
        return STEP_NEXT;
    }
    if (op == 0xff && o32 && (i->reg == 2 || i->reg == 4 || i->reg == 6) &&
        mem_ok(i)) {
        if (i->reg == 6 && i->mod == 3) {
            emit_push_reg(t, i->rm);
            return STEP_NEXT;
        }
        emit_load_r11(t, i, raw);
        if (i->reg == 6) {
            emit_push_reg(t, 11);
            return STEP_NEXT;
        }
        if (i->reg == 2)
            emit_push_imm(t, next);
        emit_ibl_jump(t);
        return STEP_END;
    }
    if ((op == 0xc3 || op == 0xc2) && o32) { /* ret [imm16] */
        static const uint8_t m[] = {0x65, 0x67, 0x44, 0x8b, 0x1c, 0x24,
                                    0x67, 0x8d, 0xa4, 0x24};
        e_bytes(&t->e, m, sizeof(m));
        e_u32(&t->e, 4 + (op == 0xc2 ? i->imm : 0));
        emit_ibl_jump(t);
        return STEP_END;
    }
    if (!o32)
        return STEP_CALLOUT;
    uint32_t target = next + (uint32_t)insn_simm(i);
    if ((op >= 0x70 && op <= 0x7f) ||
        (op >= OP_MAP0F + 0x80 && op <= OP_MAP0F + 0x8f)) {
        add_exit(t, e_jcc(&t->e, op & 0xf, 0), target);
        emit_direct_jmp(t, next);
        return STEP_END;
    }
    if (op == 0xe9 || op == 0xeb) {
        emit_direct_jmp(t, target);
        return STEP_END;
    }
    if (op == 0xe8) {
        emit_push_imm(t, next);
        emit_direct_jmp(t, target);
        return STEP_END;
    }
    if (op >= 0xe0 && op <= 0xe3 && i->addrsize == 4) {
        /* loop/loope/loopne/jecxz on ECX: taken -> second jmp */
        e_u8(&t->e, 0x67);
        e_u8(&t->e, (uint8_t)op);
        e_u8(&t->e, 5);
        emit_direct_jmp(t, next);
        emit_direct_jmp(t, target);
        return STEP_END;
    }
    return STEP_CALLOUT;
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
 * not mapped) is the instruction's own fetch fault. */
static void emit_straddle_guard(struct tx *t, uint32_t lin2,
                                const uint8_t *tail, uint32_t eip,
                                uint16_t op)
{
    struct emit *e = &t->e;
    static const uint8_t ld[] = {0x65, 0x67, 0x4c, 0x8b, 0x1c, 0x25};
    e_bytes(e, ld, sizeof(ld));                       /* mov r11, gs:[lin2] */
    e_u32(e, lin2);
    uint64_t want;
    memcpy(&want, tail, 8);
    e_u8(e, 0x49); e_u8(e, 0xba);                     /* movabs r10, want */
    e_u32(e, (uint32_t)want);
    e_u32(e, (uint32_t)(want >> 32));
    static const uint8_t cmp[] = {0x49, 0xf7, 0xd3,             /* not r11 */
                                  0x4f, 0x8d, 0x5c, 0x13, 0x01, /* lea */
                                  0x4c, 0x87, 0xd9,             /* xchg */
                                  0xe3, 0x00};                  /* jrcxz */
    e_bytes(e, cmp, sizeof(cmp));
    uint32_t jr = e->pos - 1;
    e_u8(e, 0x4c); e_u8(e, 0x87); e_u8(e, 0xd9);      /* xchg rcx, r11 */
    emit_callout(t, eip, op);
    e->base[jr] = (uint8_t)(e->pos - (jr + 1));
    e_u8(e, 0x4c); e_u8(e, 0x87); e_u8(e, 0xd9);      /* ok: xchg back */
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

    /* kick stub, then the entry's flag-preserving check of run_ok */
    e_u8(&t.e, 0x4c); e_u8(&t.e, 0x89); e_u8(&t.e, 0xd1); /* mov rcx, r10 */
    e_store_imm(&t.e, CTX_OFF(next_eip), eip);
    e_jmp(&t.e, b->off_exit[BT_EXIT_KICK]);
    f->tc_off = t.e.pos;
    e_u8(&t.e, 0x49); e_u8(&t.e, 0x89); e_u8(&t.e, 0xca); /* mov r10, rcx */
    e_u8(&t.e, 0x8b); e_u8(&t.e, 0x0d);                   /* mov ecx, run_ok */
    e_ripdisp(&t.e, CTX_OFF(run_ok), 0);
    e_u8(&t.e, 0xe3);                                     /* jrcxz stub */
    e_u8(&t.e, (uint8_t)(int8_t)((int32_t)f->tc_start - (int32_t)(t.e.pos + 1)));
    e_u8(&t.e, 0x4c); e_u8(&t.e, 0x89); e_u8(&t.e, 0xd1); /* mov rcx, r10 */
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
