/* decode.h - the one IA-32 instruction decoder (src/x86: the architecture
 * shared by all engines; the interpreter, bt and the kvm assists use it): prefixes, opcode maps (one-byte, 0F, 0F38, 0F3A),
 * ModRM/SIB/displacement and immediates, for 16- and 32-bit operand and
 * address sizes.  It only describes the bytes; semantics live elsewhere.
 * Cross-checked against Zydis in tests/unit/test_decode.c. */
#ifndef POPEK_DECODE_H
#define POPEK_DECODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define X86_MAX_INSN 15

/* Opcode numbering: op = map * 0x100 + opcode byte. */
#define OP_MAP0 0x000   /* one-byte opcodes                  */
#define OP_MAP0F 0x100  /* 0F xx                              */
#define OP_MAP0F38 0x200 /* 0F 38 xx                          */
#define OP_MAP0F3A 0x300 /* 0F 3A xx                          */
#define OP_COUNT 0x400

#define SEG_NONE 0xff   /* no segment override prefix */

enum decode_result {
    DECODE_INVALID = -1, /* not a valid instruction: #UD */
    DECODE_SHORT = -2,   /* needs more bytes than were available */
};

struct insn {
    uint8_t len;        /* total length in bytes, prefixes included */
    uint8_t opsize;     /* operand size: 2 or 4 (byte ops are per-opcode) */
    uint8_t addrsize;   /* address size: 2 or 4 */
    uint8_t seg;        /* segment override (enum seg) or SEG_NONE */
    uint8_t rep;        /* 0, 0xf3 (rep/repe) or 0xf2 (repne) */
    bool lock;
    bool opsize_prefix; /* 0x66 seen */
    uint8_t nprefixes;
    uint16_t op;        /* map * 0x100 + opcode byte */

    bool has_modrm;
    uint8_t modrm, mod, reg, rm;
    bool has_sib;
    uint8_t sib;
    /* Effective address (valid when has_modrm && mod != 3): computed as
     * base + (index << scale) + disp, truncated to addrsize, in segment
     * ea_seg (the override if any, else DS or SS by the base register). */
    int8_t ea_base;     /* GPR number, or -1 for none */
    int8_t ea_index;    /* GPR number, or -1 for none */
    uint8_t ea_scale;   /* shift count 0..3 */
    uint8_t ea_seg;     /* segment used for the memory operand */
    int32_t disp;       /* sign-extended displacement */
    uint8_t disp_size;  /* 0, 1, 2 or 4 bytes */

    uint32_t imm;       /* first immediate, zero-extended raw bytes */
    uint8_t imm_size;   /* 0, 1, 2 or 4 */
    uint16_t imm2;      /* second immediate: enter's imm8, far ptr selector */
    uint8_t imm2_size;  /* 0, 1 or 2 */
    /* moffs forms (A0-A3): the address is in disp, disp_size = addrsize. */
};

/* Decode one instruction at p (avail bytes readable).  code32: default
 * operand/address size is 32 (CS.D=1).  Returns the length, or a negative
 * enum decode_result.
 * Validity is decided here, so handlers need not re-check: undefined
 * opcodes, undefined /reg values of groups (8F/C6/C7/FE/FF, 0F 00/01/BA/C7/
 * AE, 0F 71-73), register forms of memory-only instructions (lea, les, lds,
 * bound, lss, far call/jmp FF /3 /5, ...) and vice versa, missing mandatory
 * prefixes of SSE encodings, VEX/EVEX/XOP, 3DNow!, and LOCK on anything but
 * the memory form of a lockable read-modify-write instruction all return
 * DECODE_INVALID (#UD).  When F2/F3 and 66 are combined, the last F2/F3 is
 * the mandatory prefix (66 then only sets opsize).  For 0F 20-23 (mov
 * cr/dr) mod is treated as 3 whatever its bits.  Decoded but maybe not
 * executed (the handler must #UD): ud0/ud1/ud2 (0F FF/B9/0B, with their
 * ModRM), and the rarer ring-0 and cache-control extras such as
 * monitor/mwait, xsave, clwb, rdrand.  syscall/sysret are invalid (Intel
 * outside 64-bit mode).
 * Fields: rep = the last F2/F3 seen; seg = the last segment override;
 * moffs (A0-A3) put the zero-extended offset in disp (ea_base = ea_index
 * = -1, ea_seg set); ea_* are only meaningful when has_modrm && mod != 3. */
int x86_decode(const uint8_t *p, size_t avail, bool code32, struct insn *out);

/* Is the instruction's immediate an 8-bit value to sign-extend (e.g. 83 /x,
 * 6B, 6A)?  Helper for executors. */
static inline int32_t insn_simm(const struct insn *i)
{
    if (i->imm_size == 1)
        return (int8_t)i->imm;
    if (i->imm_size == 2)
        return (int16_t)i->imm;
    return (int32_t)i->imm;
}

#endif
