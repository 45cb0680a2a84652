/* decode.c - the IA-32 instruction decoder (see decode.h): legacy prefixes,
 * the one-byte, 0F, 0F38 and 0F3A opcode maps (attribute tables in
 * decode_tables.c), ModRM/SIB/displacement with 16- and 32-bit addressing,
 * and immediates.  Table-driven, no allocation; it runs on the
 * interpreter's hot path (before the decoded-instruction cache). */
#include "decode.h"

#include <string.h>

#include "../core/cpu_state.h"
#include "decode_tables.h"

/* 16-bit addressing: base and index GPR per ModRM.rm (BX=3 BP=5 SI=6 DI=7). */
static const int8_t base16[8] = {3, 3, 5, 5, 6, 7, 5, 3};
static const int8_t index16[8] = {6, 7, 6, 7, -1, -1, -1, -1};

/* Reading cursor: limit = min(avail, 15). */
struct cursor {
    const uint8_t *p;
    unsigned limit;
    unsigned pos;
};

/* 0 if n more bytes may be read, else the decode_result to return:
 * beyond 15 bytes the instruction is invalid (#GP/#UD on a CPU), beyond
 * the available bytes it is short. */
static inline int need(const struct cursor *c, unsigned n)
{
    if (__builtin_expect(c->pos + n <= c->limit, 1))
        return 0;
    return c->pos + n > X86_MAX_INSN ? DECODE_INVALID : DECODE_SHORT;
}

static inline uint32_t take(struct cursor *c, unsigned n)
{
    uint32_t v = 0;
    for (unsigned k = 0; k < n; k++)
        v |= (uint32_t)c->p[c->pos + k] << (8 * k);
    c->pos += n;
    return v;
}

/* Lock prefix: allowed for the memory form of A_LOCK opcodes, and for the
 * groups only with the read-modify-write /reg values. */
static bool lock_ok(const struct insn *i, uint16_t attr)
{
    if (!(attr & A_LOCK) || !i->has_modrm || i->mod == 3)
        return false;
    switch (i->op) {
    case 0x80: case 0x81: case 0x82: case 0x83:
        return i->reg != 7;                 /* not cmp */
    case 0xf6: case 0xf7:
        return i->reg == 2 || i->reg == 3;  /* not, neg */
    case 0xfe: case 0xff:
        return i->reg <= 1;                 /* inc, dec */
    case OP_MAP0F + 0xba:
        return i->reg >= 5;                 /* bts btr btc */
    case OP_MAP0F + 0xc7:
        return i->reg == 1;                 /* cmpxchg8b */
    default:
        return true;
    }
}

/* Group 7 (0F 01) register forms that exist here: vmcall vmmcall (popek's
 * hypercalls), monitor mwait clac stac xgetbv xsetbv, smsw (/4), lmsw (/6),
 * rdtscp. */
static bool grp7_reg_ok(uint8_t modrm, int pfx)
{
    switch (modrm) {
    case 0xc1: case 0xd9:
    case 0xc8: case 0xc9: case 0xca: case 0xcb: case 0xd0: case 0xd1:
        return pfx == PFX_NONE;  /* F2/F3/66 forms are other extensions */
    case 0xf9:
        return true;             /* rdtscp ignores prefixes */
    default:
        return (modrm & 0x38) == 0x20 || (modrm & 0x38) == 0x30;
    }
}

/* The per-group checks of enum grp_check, once ModRM is known. */
static bool group_ok(const struct insn *i, unsigned grp, int pfx)
{
    unsigned reg = i->reg;
    bool mem = i->mod != 3;
    switch (grp) {
    case G_NONE:
        return true;
    case G_REG0:
        return reg == 0;
    case G_REG01:
        return reg <= 1;
    case G_FF:
        if (reg == 7)
            return false;
        return mem || (reg != 3 && reg != 5);
    case G_MOVSREG_FROM:
        return reg <= 5;
    case G_MOVSREG_TO:
        return reg <= 5 && reg != SEG_CS;
    case G_X87: {
        unsigned x = i->op & 7;
        if (mem)
            return decode_x87_mem_ok[x] >> reg & 1;
        return decode_x87_reg_ok[x] >> (i->modrm - 0xc0) & 1;
    }
    case G_0F00:
        return reg <= 5;
    case G_0F01:
        return mem ? reg != 5 : grp7_reg_ok(i->modrm, pfx);
    case G_0FBA:
        return reg >= 4;
    case G_0FC7:
        if (mem)
            return reg == 1;                      /* cmpxchg8b */
        return (reg == 6 || reg == 7) && pfx <= PFX_66; /* rdrand rdseed */
    case G_0FAE:
        if (pfx == PFX_NONE)
            return mem || reg >= 5;  /* fxsave..clflush; lfence mfence sfence */
        if (pfx == PFX_66)
            return mem && reg >= 6;  /* clwb clflushopt */
        return false;
    case G_SHIFT_IMM:
        if (reg == 2 || reg == 4 || reg == 6)
            return (i->op & 0xff) != 0x73 || reg != 4;
        /* psrldq / pslldq: 66 0F 73 /3, /7 */
        return (i->op & 0xff) == 0x73 && pfx == PFX_66 &&
               (reg == 3 || reg == 7);
    case G_MOVCR:
        return reg == 0 || (reg >= 2 && reg <= 4);
    default:
        return false;
    }
}

/* ModRM (already in i), SIB and displacement. */
static int decode_modrm_ea(struct cursor *c, struct insn *i)
{
    int r;
    i->ea_base = i->ea_index = -1;
    i->ea_scale = 0;
    if (i->mod == 3)
        return 0;
    unsigned dsize = 0;
    bool ss = false;
    if (i->addrsize == 4) {
        unsigned base = i->rm;
        if (i->rm == 4) {
            if ((r = need(c, 1)))
                return r;
            i->has_sib = true;
            i->sib = (uint8_t)take(c, 1);
            base = i->sib & 7;
            unsigned idx = (i->sib >> 3) & 7;
            if (idx != 4) {
                i->ea_index = (int8_t)idx;
                i->ea_scale = i->sib >> 6;
            }
        }
        if (base == 5 && i->mod == 0) {
            dsize = 4;
        } else {
            i->ea_base = (int8_t)base;
            ss = base == 4 || base == 5;
        }
        if (i->mod == 1)
            dsize = 1;
        else if (i->mod == 2)
            dsize = 4;
    } else {
        if (i->mod == 0 && i->rm == 6) {
            dsize = 2;
        } else {
            i->ea_base = base16[i->rm];
            i->ea_index = index16[i->rm];
            ss = i->ea_base == 5;
            dsize = i->mod == 1 ? 1 : i->mod == 2 ? 2 : 0;
        }
    }
    if (dsize) {
        if ((r = need(c, dsize)))
            return r;
        uint32_t d = take(c, dsize);
        i->disp = dsize == 1 ? (int8_t)d : dsize == 2 ? (int16_t)d : (int32_t)d;
        i->disp_size = (uint8_t)dsize;
    }
    i->ea_seg = i->seg != SEG_NONE ? i->seg : ss ? SEG_SS : SEG_DS;
    return 0;
}

/* The immediate(s) of kind `kind`. */
static int decode_imm(struct cursor *c, struct insn *i, unsigned kind)
{
    unsigned n1 = 0, n2 = 0;
    switch (kind) {
    case IMM_B: n1 = 1; break;
    case IMM_W: n1 = 2; break;
    case IMM_Z: n1 = i->opsize; break;
    case IMM_FAR: n1 = i->opsize; n2 = 2; break;
    case IMM_ENTER: n1 = 2; n2 = 1; break;
    case IMM_GRP3B: n1 = i->reg <= 1 ? 1 : 0; break;
    case IMM_GRP3Z: n1 = i->reg <= 1 ? i->opsize : 0; break;
    case IMM_MOFFS: {
        int r = need(c, i->addrsize);
        if (r)
            return r;
        i->disp = (int32_t)take(c, i->addrsize); /* zero-extended offset */
        i->disp_size = i->addrsize;
        i->ea_base = i->ea_index = -1;
        i->ea_scale = 0;
        i->ea_seg = i->seg != SEG_NONE ? i->seg : SEG_DS;
        return 0;
    }
    default: return 0;
    }
    int r = need(c, n1 + n2);
    if (r)
        return r;
    if (n1) {
        i->imm = take(c, n1);
        i->imm_size = (uint8_t)n1;
    }
    if (n2) {
        i->imm2 = (uint16_t)take(c, n2);
        i->imm2_size = (uint8_t)n2;
    }
    return 0;
}

int x86_decode(const uint8_t *p, size_t avail, bool code32, struct insn *out)
{
    struct cursor c = {p, avail < X86_MAX_INSN ? (unsigned)avail : X86_MAX_INSN, 0};
    struct insn *i = out;
    int r;
    bool addr_prefix = false;
    uint8_t last_rep = 0;

    memset(i, 0, sizeof(*i));
    i->seg = SEG_NONE;

    /* Legacy prefixes, any number and order, within 15 bytes. */
    uint8_t b;
    for (;;) {
        if ((r = need(&c, 1)))
            return r;
        b = p[c.pos];
        if (decode_map0[b] & A_VALID)
            break;  /* an opcode: prefixes and 0F have no table entry */
        switch (b) {
        case 0x26: i->seg = SEG_ES; break;
        case 0x2e: i->seg = SEG_CS; break;
        case 0x36: i->seg = SEG_SS; break;
        case 0x3e: i->seg = SEG_DS; break;
        case 0x64: i->seg = SEG_FS; break;
        case 0x65: i->seg = SEG_GS; break;
        case 0x66: i->opsize_prefix = true; break;
        case 0x67: addr_prefix = true; break;
        case 0xf0: i->lock = true; break;
        case 0xf2: case 0xf3: last_rep = b; break;
        default: goto opcode;  /* 0F or an invalid one-byte opcode */
        }
        c.pos++;
    }
opcode:
    i->nprefixes = (uint8_t)c.pos;
    i->rep = last_rep;
    i->opsize = (code32 ^ i->opsize_prefix) ? 4 : 2;
    i->addrsize = (code32 ^ addr_prefix) ? 4 : 2;
    int pfx = last_rep == 0xf3 ? PFX_F3 : last_rep == 0xf2 ? PFX_F2
              : i->opsize_prefix ? PFX_66 : PFX_NONE;

    c.pos++;
    uint16_t attr;
    if (b != 0x0f) {
        i->op = b;
        attr = decode_map0[b];
    } else {
        if ((r = need(&c, 1)))
            return r;
        b = (uint8_t)take(&c, 1);
        if (b == 0x38 || b == 0x3a) {
            if ((r = need(&c, 1)))
                return r;
            uint8_t b3 = (uint8_t)take(&c, 1);
            i->op = (uint16_t)((b == 0x38 ? OP_MAP0F38 : OP_MAP0F3A) + b3);
            attr = b == 0x38 ? decode_map0f38[pfx][b3] : decode_map0f3a[pfx][b3];
        } else {
            i->op = (uint16_t)(OP_MAP0F + b);
            attr = decode_map0f[pfx][b];
        }
    }
    if (!(attr & A_VALID))
        return DECODE_INVALID;

    if (attr & A_MODRM) {
        if ((r = need(&c, 1)))
            return r;
        i->has_modrm = true;
        i->modrm = (uint8_t)take(&c, 1);
        i->mod = (attr & A_MOD3) ? 3 : i->modrm >> 6;
        i->reg = (i->modrm >> 3) & 7;
        i->rm = i->modrm & 7;
        if (((attr & A_MEM) && i->mod == 3) || ((attr & A_REG) && i->mod != 3))
            return DECODE_INVALID;
        if (!group_ok(i, (attr & A_GRP_MASK) >> A_GRP_SHIFT, pfx))
            return DECODE_INVALID;
        if ((r = decode_modrm_ea(&c, i)))
            return r;
    }
    if (i->lock && !lock_ok(i, attr))
        return DECODE_INVALID;
    if ((r = decode_imm(&c, i, attr & IMM_MASK)))
        return r;
    i->len = (uint8_t)c.pos;
    return c.pos;
}
