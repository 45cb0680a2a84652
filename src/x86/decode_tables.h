/* decode_tables.h - private opcode tables of the IA-32 decoder (decode.c).
 * One 16-bit attribute word per opcode and mandatory-prefix column says
 * whether the encoding exists, whether it has a ModRM byte, which operand
 * forms (memory/register) are allowed, what immediate follows, and which
 * extra per-group check (ModRM.reg / x87 / group 7 ...) decode.c applies.
 * The tables are filled once at program start by decode_tables.c. */
#ifndef POPEK_DECODE_TABLES_H
#define POPEK_DECODE_TABLES_H
#include <stdint.h>

/* Immediate kinds (bits 0-3). */
enum {
    IMM_NONE = 0,
    IMM_B,      /* imm8 */
    IMM_W,      /* imm16 */
    IMM_Z,      /* imm16 or imm32 by operand size (also rel16/rel32) */
    IMM_MOFFS,  /* A0-A3: offset of address size (stored in disp) */
    IMM_FAR,    /* 9A/EA: offset (opsize) then selector (imm2) */
    IMM_ENTER,  /* C8: imm16 then imm8 (imm2) */
    IMM_GRP3B,  /* F6: imm8 only for /0 and /1 (test) */
    IMM_GRP3Z,  /* F7: imm16/32 only for /0 and /1 (test) */
    IMM_MASK = 0x0f,
};

/* Attribute bits. */
#define A_MODRM 0x0010   /* a ModRM byte follows the opcode */
#define A_MEM 0x0020     /* only the memory form (mod != 3) exists */
#define A_REG 0x0040     /* only the register form (mod == 3) exists */
#define A_MOD3 0x0080    /* mod is ignored and treated as 3 (mov cr/dr) */
#define A_LOCK 0x4000    /* LOCK allowed (memory form; some groups by /reg) */
#define A_VALID 0x8000   /* the encoding exists */
#define A_GRP_SHIFT 8    /* bits 8-13: extra check, enum grp_check */
#define A_GRP_MASK 0x3f00
#define A_GRP(g) ((uint16_t)((g) << A_GRP_SHIFT))

/* Extra checks applied after the ModRM byte is known (decode.c). */
enum grp_check {
    G_NONE = 0,
    G_REG0,      /* only /0 exists (8F pop, C6/C7 mov) */
    G_REG01,     /* only /0 and /1 (FE inc/dec) */
    G_FF,        /* FF: /7 undefined, /3 and /5 need memory */
    G_MOVSREG_FROM, /* 8C: sreg 0-5 */
    G_MOVSREG_TO,   /* 8E: sreg 0-5 but not CS */
    G_X87,       /* D8-DF */
    G_0F00,      /* group 6: /0-/5 */
    G_0F01,      /* group 7 */
    G_0FBA,      /* group 8: /4-/7 */
    G_0FC7,      /* group 9 */
    G_0FAE,      /* group 15 */
    G_SHIFT_IMM, /* 0F 71-73: MMX/SSE shift by immediate */
    G_MOVCR,     /* 0F 20/22: CR0, CR2-CR4 only */
};

/* Mandatory-prefix columns: none, 66, F3, F2. */
enum { PFX_NONE = 0, PFX_66, PFX_F3, PFX_F2, PFX_COUNT };

extern uint16_t decode_map0[256];
extern uint16_t decode_map0f[PFX_COUNT][256];
extern uint16_t decode_map0f38[PFX_COUNT][256];
extern uint16_t decode_map0f3a[PFX_COUNT][256];
/* x87: allowed ModRM.reg values for the memory forms (bit n = /n) and
 * allowed register forms (bit n = ModRM byte 0xC0 + n), per D8..DF. */
extern const uint8_t decode_x87_mem_ok[8];
extern const uint64_t decode_x87_reg_ok[8];

#endif
