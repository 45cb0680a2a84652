/* exec_shift.c - shifts and rotates of the interpreter: group 2 (C0 C1 D0-D3:
 * ROL ROR RCL RCR SHL SHR SAL SAR) and SHLD/SHRD (0F A4 A5 AC AD).
 * Counts are masked to 5 bits; a masked count of 0 changes nothing, but a
 * memory operand is still accessed for writing (read-modify-write, as on
 * hardware and bochs): a read-only segment or page faults and the dirty
 * bit is set (bt runs the host's instruction, which does the same).
 * RCL/RCR on 8/16-bit operands rotate modulo 9/17.
 * Undefined flags (what we produce, following bochs' P6 model):
 *   SHL/SHR/SAR: AF=0; OF for any count: SHL MSB(res)^CF, SHR the top two
 *     bits of the result XORed, SAR 0; CF for SHL/SHR with count>width = 0.
 *   ROL/ROR/RCL/RCR: OF for count>1 computed by the count-1 formula.
 *   SHLD: OF = CF ^ MSB(res); SHRD: OF = top two result bits XORed; AF=0;
 *     16-bit counts >16 shift the pattern dest:src:dest (P6 behaviour). */
#include "exec.h"

/* Shift/rotate v by cnt (1..31); *flags is EFLAGS in and out. */
static uint32_t do_shift(int op, uint32_t v, int size, unsigned cnt,
                         uint32_t *flags)
{
    unsigned w = size * 8;
    uint32_t m = size_mask(size), sb = sign_bit(size);
    uint32_t f = *flags, res = v, cf;
    v &= m;
    switch (op) {
    case 0: { /* rol */
        unsigned r = cnt & (w - 1);
        res = r ? ((v << r) | (v >> (w - r))) & m : v;
        cf = res & 1;
        f = (f & ~(FLAG_CF | FLAG_OF)) | (cf ? FLAG_CF : 0) |
            ((!!(res & sb) ^ cf) ? FLAG_OF : 0);
        break;
    }
    case 1: { /* ror */
        unsigned r = cnt & (w - 1);
        res = r ? ((v >> r) | (v << (w - r))) & m : v;
        cf = !!(res & sb);
        f = (f & ~(FLAG_CF | FLAG_OF)) | (cf ? FLAG_CF : 0) |
            ((cf ^ !!(res & (sb >> 1))) ? FLAG_OF : 0);
        break;
    }
    case 2:
    case 3: { /* rcl, rcr: rotate through CF in w+1 bits */
        unsigned r = w == 32 ? cnt : cnt % (w + 1);
        if (r == 0)
            return v;
        uint64_t x = ((uint64_t)!!(f & FLAG_CF) << w) | v;
        uint64_t xm = (2ull << w) - 1;
        if (op == 3)
            r = w + 1 - r;
        x = ((x << r) | (x >> (w + 1 - r))) & xm;
        res = (uint32_t)x & m;
        cf = (uint32_t)(x >> w) & 1;
        uint32_t of = op == 2 ? (!!(res & sb) ^ cf)
                              : (!!(res & sb) ^ !!(res & (sb >> 1)));
        f = (f & ~(FLAG_CF | FLAG_OF)) | (cf ? FLAG_CF : 0) | (of ? FLAG_OF : 0);
        break;
    }
    case 4:
    case 6: /* shl/sal */
        res = cnt < w ? (v << cnt) & m : 0;
        cf = cnt <= w ? (v >> (w - cnt)) & 1 : 0;
        f = (f & ~FLAGS_ARITH) | flags_szp(res, size) | (cf ? FLAG_CF : 0) |
            ((!!(res & sb) ^ cf) ? FLAG_OF : 0);
        break;
    case 5: /* shr */
        res = cnt < w ? v >> cnt : 0;
        cf = cnt <= w ? (v >> (cnt - 1)) & 1 : 0;
        f = (f & ~FLAGS_ARITH) | flags_szp(res, size) | (cf ? FLAG_CF : 0) |
            ((!!(res & sb) ^ !!(res & (sb >> 1))) ? FLAG_OF : 0);
        break;
    default: { /* sar */
        int32_t sv = (int32_t)sign_extend(v, size);
        unsigned n = cnt < w ? cnt : w - 1; /* >= w: all sign bits */
        res = (uint32_t)(sv >> n) & m;
        cf = cnt < w ? ((uint32_t)(sv >> (cnt - 1)) & 1) : !!(v & sb);
        f = (f & ~FLAGS_ARITH) | flags_szp(res, size) | (cf ? FLAG_CF : 0);
        break;
    }
    }
    *flags = f;
    return res;
}

/* C0 C1 (imm8), D0 D1 (1), D2 D3 (CL) */
void ex_shift_grp2(struct interp_cpu *c, const struct insn *i)
{
    int size = op_size_w(i);
    unsigned cnt;
    if (i->op <= 0xc1)
        cnt = i->imm & 0x1f;
    else if (i->op <= 0xd1)
        cnt = 1;
    else
        cnt = c->r[R_ECX] & 0x1f;
    uint32_t v = opnd_read(c, i, size);
    if (cnt == 0) {
        if (insn_is_mem(i))
            mem_check_write(c, i->ea_seg, insn_ea(c, i), (uint32_t)size);
        return;
    }
    uint32_t f = c->eflags;
    uint32_t res = do_shift(i->reg, v, size, cnt, &f);
    opnd_write(c, i, size, res);  /* may fault: flags are committed after */
    c->eflags = f;
}

/* 0F A4/A5 shld r/m, reg, imm8/CL; 0F AC/AD shrd */
void ex_shld_shrd(struct interp_cpu *c, const struct insn *i)
{
    int size = i->opsize;
    bool left = i->op < 0x1a8;
    unsigned cnt = ((i->op & 1) ? c->r[R_ECX] : i->imm) & 0x1f;
    uint32_t d = opnd_read(c, i, size);
    if (cnt == 0) {
        if (insn_is_mem(i))
            mem_check_write(c, i->ea_seg, insn_ea(c, i), (uint32_t)size);
        return;
    }
    uint32_t s = reg_get(c, i->reg, size);
    uint32_t res, cf;
    if (size == 4) {
        uint64_t x;
        if (left) {
            x = ((uint64_t)d << 32 | s) << cnt;
            res = (uint32_t)(x >> 32);
            cf = (d >> (32 - cnt)) & 1;
        } else {
            x = ((uint64_t)s << 32 | d) >> cnt;
            res = (uint32_t)x;
            cf = (d >> (cnt - 1)) & 1;
        }
    } else {
        /* 48-bit pattern: left d:s:d, right d:s:d read from the bottom */
        uint64_t pat;
        if (left) {
            pat = ((uint64_t)d << 32) | ((uint64_t)s << 16) | d;
            res = (uint32_t)((pat << cnt) >> 32) & 0xffff;
            cf = (uint32_t)(pat >> (48 - cnt)) & 1;
        } else {
            pat = ((uint64_t)d << 32) | ((uint64_t)s << 16) | d;
            res = (uint32_t)(pat >> cnt) & 0xffff;
            cf = (uint32_t)(pat >> (cnt - 1)) & 1;
        }
    }
    uint32_t sb = sign_bit(size);
    /* OF: SHLD = CF ^ MSB(res), SHRD = MSB(res) ^ next bit; for a count
     * of 1 both are "the sign changed" */
    bool of = left ? (cf ^ !!(res & sb)) : (!!(res & sb) ^ !!(res & (sb >> 1)));
    uint32_t f = flags_szp(res, size) | (cf ? FLAG_CF : 0) | (of ? FLAG_OF : 0);
    opnd_write(c, i, size, res);
    flags_set(c, f, FLAGS_ARITH);
}
