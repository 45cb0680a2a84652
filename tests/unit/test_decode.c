/* test_decode.c - tests of the IA-32 decoder (src/x86/decode.c):
 * hand-checked encodings with every field spelled out, the 15-byte limit
 * and truncation, and a large seeded cross-check against Zydis 4 in 32- and
 * 16-bit modes (validity, length, ModRM, SIB, displacement, immediates and
 * the memory operand's base/index/scale/segment).  Also checks the Zydis
 * disassembly helper src/core/disasm.c. */
#include <Zydis/Zydis.h>
#include <elf.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/cpu_state.h"
#include "core/disasm.h"
#include "x86/decode.h"
#include "test.h"

/* ---- hand-checked encodings ---- */

struct known {
    const char *name;
    bool code32;
    uint8_t bytes[16];
    int n;            /* number of bytes */
    int len;          /* expected result (length or DECODE_*) */
    uint16_t op;
    int modrm;        /* -1: none */
    int base, index, scale, seg; /* memory operand, checked if seg >= 0 */
    int32_t disp;
    int disp_size;
    uint32_t imm;
    int imm_size;
    uint16_t imm2;
    int imm2_size;
    int opsize, addrsize;
};

/* Columns: name, code32, bytes, n, result, op, modrm, base, index, scale,
 * seg, disp, disp_size, imm, imm_size, imm2, imm2_size, opsize, addrsize.
 * NOMEM stands for "no memory operand, no displacement". */
#define NOMEM -1, -1, 0, -1, 0, 0
static const struct known known[] = {
    {"nop", 1, {0x90}, 1, 1, 0x90, -1, NOMEM, 0, 0, 0, 0, 4, 4},
    {"add [eax],al", 1, {0x00, 0x00}, 2, 2, 0x00, 0x00, 0, -1, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 4, 4},
    {"mov eax,[esp+8]", 1, {0x8b, 0x44, 0x24, 0x08}, 4, 4, 0x8b, 0x44, 4, -1, 0, SEG_SS, 8, 1, 0, 0, 0, 0, 4, 4},
    {"mov eax,[ebp-4]", 1, {0x8b, 0x45, 0xfc}, 3, 3, 0x8b, 0x45, 5, -1, 0, SEG_SS, -4, 1, 0, 0, 0, 0, 4, 4},
    {"mov eax,[disp32]", 1, {0x8b, 0x05, 0x78, 0x56, 0x34, 0x12}, 6, 6, 0x8b, 0x05, -1, -1, 0, SEG_DS, 0x12345678, 4, 0, 0, 0, 0, 4, 4},
    {"lea ecx,[ebx+esi*4+0x100]", 1, {0x8d, 0x8c, 0xb3, 0x00, 0x01, 0, 0}, 7, 7, 0x8d, 0x8c, 3, 6, 2, SEG_DS, 0x100, 4, 0, 0, 0, 0, 4, 4},
    {"mov eax,[ebp*8+disp32] sib no base", 1, {0x8b, 0x04, 0xed, 0x10, 0, 0, 0}, 7, 7, 0x8b, 0x04, -1, 5, 3, SEG_DS, 0x10, 4, 0, 0, 0, 0, 4, 4},
    {"mov eax,fs:[ebp]", 1, {0x64, 0x8b, 0x45, 0x00}, 4, 4, 0x8b, 0x45, 5, -1, 0, SEG_FS, 0, 1, 0, 0, 0, 0, 4, 4},
    {"16: mov ax,[bx+si]", 0, {0x8b, 0x00}, 2, 2, 0x8b, 0x00, 3, 6, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 2, 2},
    {"16: mov ax,[bp+di-2]", 0, {0x8b, 0x43, 0xfe}, 3, 3, 0x8b, 0x43, 5, 7, 0, SEG_SS, -2, 1, 0, 0, 0, 0, 2, 2},
    {"16: mov ax,[disp16]", 0, {0x8b, 0x06, 0x34, 0x12}, 4, 4, 0x8b, 0x06, -1, -1, 0, SEG_DS, 0x1234, 2, 0, 0, 0, 0, 2, 2},
    {"16: mov ax,[bp+0x8000]", 0, {0x8b, 0x86, 0x00, 0x80}, 4, 4, 0x8b, 0x86, 5, -1, 0, SEG_SS, -0x8000, 2, 0, 0, 0, 0, 2, 2},
    {"16: 66 67 mov eax,[eax]", 0, {0x66, 0x67, 0x8b, 0x00}, 4, 4, 0x8b, 0x00, 0, -1, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 4, 4},
    {"32: 67 mov ax,[bx+di]", 1, {0x66, 0x67, 0x8b, 0x01}, 4, 4, 0x8b, 0x01, 3, 7, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 2, 2},
    {"add eax,imm32", 1, {0x05, 1, 2, 3, 4}, 5, 5, 0x05, -1, NOMEM, 0x04030201, 4, 0, 0, 4, 4},
    {"66 add ax,imm16", 1, {0x66, 0x05, 1, 2}, 4, 4, 0x05, -1, NOMEM, 0x0201, 2, 0, 0, 2, 4},
    {"83 /0 ib", 1, {0x83, 0xc0, 0xff}, 3, 3, 0x83, 0xc0, NOMEM, 0xff, 1, 0, 0, 4, 4},
    {"f6 /0 test ib", 1, {0xf6, 0x00, 0x7f}, 3, 3, 0xf6, 0x00, 0, -1, 0, SEG_DS, 0, 0, 0x7f, 1, 0, 0, 4, 4},
    {"f7 /0 test iz", 1, {0xf7, 0xc1, 1, 0, 0, 0}, 6, 6, 0xf7, 0xc1, NOMEM, 1, 4, 0, 0, 4, 4},
    {"f7 /2 not (no imm)", 1, {0xf7, 0xd1}, 2, 2, 0xf7, 0xd1, NOMEM, 0, 0, 0, 0, 4, 4},
    {"enter 0x1234,3", 1, {0xc8, 0x34, 0x12, 0x03}, 4, 4, 0xc8, -1, NOMEM, 0x1234, 2, 3, 1, 4, 4},
    {"call far 0x10:0x12345678", 1, {0x9a, 0x78, 0x56, 0x34, 0x12, 0x10, 0x00}, 7, 7, 0x9a, -1, NOMEM, 0x12345678, 4, 0x10, 2, 4, 4},
    {"16: jmp far 0xf000:0xe05b", 0, {0xea, 0x5b, 0xe0, 0x00, 0xf0}, 5, 5, 0xea, -1, NOMEM, 0xe05b, 2, 0xf000, 2, 2, 2},
    {"ret 8", 1, {0xc2, 0x08, 0x00}, 3, 3, 0xc2, -1, NOMEM, 8, 2, 0, 0, 4, 4},
    {"mov al,[moffs32]", 1, {0xa0, 0x00, 0x80, 0x0b, 0x00}, 5, 5, 0xa0, -1, -1, -1, 0, SEG_DS, 0xb8000, 4, 0, 0, 0, 0, 4, 4},
    {"67 mov al,[moffs16]", 1, {0x67, 0xa0, 0x00, 0x80}, 4, 4, 0xa0, -1, -1, -1, 0, SEG_DS, 0x8000, 2, 0, 0, 0, 0, 4, 2},
    {"es mov [moffs],eax", 1, {0x26, 0xa3, 1, 0, 0, 0}, 6, 6, 0xa3, -1, -1, -1, 0, SEG_ES, 1, 4, 0, 0, 0, 0, 4, 4},
    {"jnz rel32", 1, {0x0f, 0x85, 0x10, 0, 0, 0}, 6, 6, 0x185, -1, NOMEM, 0x10, 4, 0, 0, 4, 4},
    {"bt [eax],5 (0f ba /4 ib)", 1, {0x0f, 0xba, 0x20, 5}, 4, 4, 0x1ba, 0x20, 0, -1, 0, SEG_DS, 0, 0, 5, 1, 0, 0, 4, 4},
    {"pshufb xmm0,xmm1", 1, {0x66, 0x0f, 0x38, 0x00, 0xc1}, 5, 5, 0x200, 0xc1, NOMEM, 0, 0, 0, 0, 2, 4},
    {"palignr xmm0,[eax],7", 1, {0x66, 0x0f, 0x3a, 0x0f, 0x00, 7}, 6, 6, 0x30f, 0x00, 0, -1, 0, SEG_DS, 0, 0, 7, 1, 0, 0, 2, 4},
    {"mov cr0,eax (mod bits ignored)", 1, {0x0f, 0x22, 0x00}, 3, 3, 0x122, 0x00, NOMEM, 0, 0, 0, 0, 4, 4},
    {"fld dword [esi]", 1, {0xd9, 0x06}, 2, 2, 0xd9, 0x06, 6, -1, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 4, 4},
    {"lock add [eax],eax", 1, {0xf0, 0x01, 0x00}, 3, 3, 0x01, 0x00, 0, -1, 0, SEG_DS, 0, 0, 0, 0, 0, 0, 4, 4},
    /* invalid encodings */
    {"lock add eax,eax", 1, {0xf0, 0x01, 0xc0}, 3, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"lock mov [eax],eax", 1, {0xf0, 0x89, 0x00}, 3, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"lea eax,eax", 1, {0x8d, 0xc0}, 2, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"vex c5 (mod 3)", 1, {0xc5, 0xf8, 0x77}, 3, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"evex 62 (mod 3)", 1, {0x62, 0xf1, 0x7c, 0x48, 0x58, 0xc0}, 6, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"ff /7", 1, {0xff, 0xf8}, 2, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"jmp far ff /5 reg", 1, {0xff, 0xe8}, 2, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"mov cs,ax", 1, {0x8e, 0xc8}, 2, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"ud-ish 0f 04", 1, {0x0f, 0x04}, 2, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"f3 0f 54 (andps has no f3 form)", 1, {0xf3, 0x0f, 0x54, 0xc0}, 4, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"mov cr1", 1, {0x0f, 0x20, 0xc8}, 3, DECODE_INVALID, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    /* truncated */
    {"short modrm", 1, {0x8b}, 1, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"short sib", 1, {0x8b, 0x04}, 2, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"short disp", 1, {0x8b, 0x80, 0, 0}, 4, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"short imm", 1, {0xb8, 1, 2, 3}, 4, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"short after prefixes", 1, {0x66, 0xf3}, 2, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
    {"empty", 1, {0}, 0, DECODE_SHORT, 0, 0, NOMEM, 0, 0, 0, 0, 0, 0},
};

static void test_known_encodings(void)
{
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        const struct known *e = &known[k];
        struct insn i;
        int r = x86_decode(e->bytes, (size_t)e->n, e->code32, &i);
        CHECKF(r == e->len, "%s: returned %d, expected %d", e->name, r, e->len);
        if (r < 0 || r != e->len)
            continue;
        CHECKF(i.len == r && i.op == e->op, "%s: len %d op %#x", e->name, i.len, i.op);
        CHECKF(i.opsize == e->opsize && i.addrsize == e->addrsize,
               "%s: opsize %d addrsize %d", e->name, i.opsize, i.addrsize);
        CHECKF(i.has_modrm == (e->modrm >= 0) && (e->modrm < 0 || i.modrm == e->modrm),
               "%s: modrm %d/%#x", e->name, i.has_modrm, i.modrm);
        if (e->seg >= 0) {
            CHECKF(i.ea_base == e->base && i.ea_index == e->index &&
                   i.ea_scale == e->scale && i.ea_seg == e->seg,
                   "%s: base %d index %d scale %d seg %d", e->name, i.ea_base,
                   i.ea_index, i.ea_scale, i.ea_seg);
        }
        CHECKF(i.disp == e->disp && i.disp_size == e->disp_size,
               "%s: disp %#x/%d", e->name, (unsigned)i.disp, i.disp_size);
        CHECKF(i.imm == e->imm && i.imm_size == e->imm_size &&
               i.imm2 == e->imm2 && i.imm2_size == e->imm2_size,
               "%s: imm %#x/%d imm2 %#x/%d", e->name, i.imm, i.imm_size,
               i.imm2, i.imm2_size);
    }
}

static void test_prefix_fields(void)
{
    struct insn i;
    /* rep/seg: the last one wins; nprefixes counts them all. */
    const uint8_t b1[] = {0xf2, 0x2e, 0xf3, 0x64, 0x66, 0xa5};
    CHECK(x86_decode(b1, sizeof(b1), true, &i) == 6);
    CHECK(i.rep == 0xf3 && i.seg == SEG_FS && i.opsize == 2 && i.nprefixes == 5);
    CHECK(i.opsize_prefix && !i.lock && i.op == 0xa5);
    /* Redundant prefixes are fine up to 15 bytes in all... */
    uint8_t b2[16];
    memset(b2, 0x66, sizeof(b2));
    b2[14] = 0x90;
    CHECK(x86_decode(b2, 15, true, &i) == 15 && i.nprefixes == 14 && i.opsize == 2);
    /* ...and one more is #GP/#UD, even with the bytes available. */
    memset(b2, 0x3e, sizeof(b2));
    b2[15] = 0x90;
    CHECK(x86_decode(b2, 16, true, &i) == DECODE_INVALID);
    /* 14 prefixes + mov eax,imm32 = 19 bytes: invalid, not short. */
    uint8_t b3[15];
    memset(b3, 0xf3, sizeof(b3));
    b3[14] = 0xb8;
    CHECK(x86_decode(b3, 15, true, &i) == DECODE_INVALID);
    /* ...but with fewer than 15 bytes visible we cannot know yet. */
    CHECK(x86_decode(b3, 14, true, &i) == DECODE_SHORT);
    /* 16-bit default with 66: 32-bit operand; insn_simm sign-extends. */
    const uint8_t b4[] = {0x66, 0x6a, 0x80};
    CHECK(x86_decode(b4, sizeof(b4), false, &i) == 3 && i.opsize == 4);
    CHECK(insn_simm(&i) == -128);
    /* Truncating any valid instruction by one byte gives DECODE_SHORT. */
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
        const struct known *e = &known[k];
        if (e->len <= 0)
            continue;
        for (int n = 0; n < e->len; n++)
            CHECKF(x86_decode(e->bytes, (size_t)n, e->code32, &i) == DECODE_SHORT,
                   "%s cut to %d bytes", e->name, n);
    }
}

/* ---- cross-check against Zydis ---- */

/* Instructions Zydis decodes that popek deliberately does not (it returns
 * DECODE_INVALID, the guest gets #UD as on a CPU without the feature).
 * A disagreement is excused only if Zydis says the instruction belongs to
 * one of these ISA extensions; every excused case is counted and printed. */
static const struct {
    ZydisISAExt ext;
    const char *why;
} not_decoded[] = {
    {ZYDIS_ISA_EXT_AVX, "VEX: not IA-32 here"},
    {ZYDIS_ISA_EXT_AVX2, "VEX"},
    {ZYDIS_ISA_EXT_AVX2GATHER, "VEX"},
    {ZYDIS_ISA_EXT_AVXAES, "VEX"},
    {ZYDIS_ISA_EXT_AVX_VNNI, "VEX"},
    {ZYDIS_ISA_EXT_AVX512EVEX, "EVEX"},
    {ZYDIS_ISA_EXT_AVX512VEX, "VEX (AVX-512 mask ops)"},
    {ZYDIS_ISA_EXT_F16C, "VEX"},
    {ZYDIS_ISA_EXT_FMA, "VEX"},
    {ZYDIS_ISA_EXT_FMA4, "AMD VEX"},
    {ZYDIS_ISA_EXT_BMI1, "VEX"},
    {ZYDIS_ISA_EXT_BMI2, "VEX"},
    {ZYDIS_ISA_EXT_VAES, "VEX/EVEX"},
    {ZYDIS_ISA_EXT_VPCLMULQDQ, "VEX/EVEX"},
    {ZYDIS_ISA_EXT_AMX_BF16, "VEX"},
    {ZYDIS_ISA_EXT_AMX_INT8, "VEX"},
    {ZYDIS_ISA_EXT_AMX_TILE, "VEX"},
    {ZYDIS_ISA_EXT_XOP, "AMD XOP"},
    {ZYDIS_ISA_EXT_TBM, "AMD XOP"},
    {ZYDIS_ISA_EXT_KNC, "Xeon Phi"},
    {ZYDIS_ISA_EXT_KNCE, "Xeon Phi"},
    {ZYDIS_ISA_EXT_KNCV, "Xeon Phi"},
    {ZYDIS_ISA_EXT_AMD3DNOW, "AMD 3DNow!, #UD on Intel"},
    {ZYDIS_ISA_EXT_SSE4A, "AMD SSE4a (extrq/insertq/movntss/movntsd)"},
    {ZYDIS_ISA_EXT_SVM, "AMD virtualization"},
    {ZYDIS_ISA_EXT_SNP, "AMD SEV-SNP"},
    {ZYDIS_ISA_EXT_AMD_INVLPGB, "AMD"},
    {ZYDIS_ISA_EXT_CLZERO, "AMD"},
    {ZYDIS_ISA_EXT_MONITORX, "AMD"},
    {ZYDIS_ISA_EXT_MCOMMIT, "AMD"},
    {ZYDIS_ISA_EXT_RDPRU, "AMD"},
    {ZYDIS_ISA_EXT_PADLOCK, "VIA"},
    {ZYDIS_ISA_EXT_VTX, "VMX: no nested virtualization"},
    {ZYDIS_ISA_EXT_VMFUNC, "VMX"},
    {ZYDIS_ISA_EXT_SMX, "SMX (getsec)"},
    {ZYDIS_ISA_EXT_SGX, "SGX"},
    {ZYDIS_ISA_EXT_SGX_ENCLV, "SGX"},
    {ZYDIS_ISA_EXT_TDX, "TDX"},
    {ZYDIS_ISA_EXT_RTM, "TSX"},
    {ZYDIS_ISA_EXT_TSX_LDTRK, "TSX"},
    {ZYDIS_ISA_EXT_CET, "CET"},
    {ZYDIS_ISA_EXT_MPX, "MPX (bnd* forms of the 0F 1A/1B hint space)"},
    {ZYDIS_ISA_EXT_PKU, "protection keys"},
    {ZYDIS_ISA_EXT_PT, "processor trace (ptwrite)"},
    {ZYDIS_ISA_EXT_PCONFIG, "PCONFIG"},
    {ZYDIS_ISA_EXT_KEYLOCKER, "Key Locker"},
    {ZYDIS_ISA_EXT_KEYLOCKER_WIDE, "Key Locker"},
    {ZYDIS_ISA_EXT_HRESET, "HRESET"},
    {ZYDIS_ISA_EXT_UINTR, "user interrupts (64-bit only anyway)"},
    {ZYDIS_ISA_EXT_SERIALIZE, "SERIALIZE"},
    {ZYDIS_ISA_EXT_WAITPKG, "WAITPKG"},
    {ZYDIS_ISA_EXT_ENQCMD, "ENQCMD"},
    {ZYDIS_ISA_EXT_MOVDIR, "MOVDIRI/MOVDIR64B"},
    {ZYDIS_ISA_EXT_CLDEMOTE, "CLDEMOTE"},
    {ZYDIS_ISA_EXT_RDPID, "RDPID"},
    {ZYDIS_ISA_EXT_RDWRFSGS, "rd/wrfsbase: 64-bit only"},
    {ZYDIS_ISA_EXT_XSAVEC, "XSAVEC"},
    {ZYDIS_ISA_EXT_XSAVES, "XSAVES (supervisor states)"},
};
#define N_NOT_DECODED (sizeof(not_decoded) / sizeof(not_decoded[0]))

/* The same, by mnemonic, for instructions of Zydis's BASE set. */
static const struct {
    ZydisMnemonic mnemonic;
    const char *why;
} not_decoded_mnemonic[] = {
    {ZYDIS_MNEMONIC_SYSCALL, "AMD-only outside 64-bit mode (Intel: #UD)"},
    {ZYDIS_MNEMONIC_SYSRET, "AMD-only outside 64-bit mode (Intel: #UD)"},
};
#define N_NOT_DECODED_MN (sizeof(not_decoded_mnemonic) / sizeof(not_decoded_mnemonic[0]))

/* Mismatch lines are limited to 2 per opcode (current_key = map*256+op). */
static unsigned current_key;
static unsigned char shown_for_key[2 * OP_COUNT];

struct xstats {
    unsigned long compared, valid, invalid, mem_checked;
    unsigned long excluded[N_NOT_DECODED];
    unsigned long excluded_mn[N_NOT_DECODED_MN];
    unsigned long excluded_total;
    unsigned long mismatches;
};

static void hex(const uint8_t *b, int n, char *out)
{
    for (int k = 0; k < n; k++)
        sprintf(out + 3 * k, "%02x ", b[k]);
}

#define XFAIL(...)                                                           \
    do {                                                                     \
        st->mismatches++;                                                    \
        if (st->mismatches <= 40 && shown_for_key[current_key]++ < 2) {    \
            char h_[64];                                                     \
            hex(buf, 15, h_);                                                \
            printf("  mismatch (%s) %s: ", code32 ? "32" : "16", h_);        \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
        CHECKF(0, "decoder disagrees with Zydis (see mismatch lines)");      \
        return;                                                              \
    } while (0)

static int zydis_gpr(ZydisRegister r)
{
    if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_EDI)
        return r - ZYDIS_REGISTER_EAX;
    if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_DI)
        return r - ZYDIS_REGISTER_AX;
    return r == ZYDIS_REGISTER_NONE ? -1 : -2;
}

static int zydis_seg(ZydisRegister r)
{
    switch (r) {
    case ZYDIS_REGISTER_ES: return SEG_ES;
    case ZYDIS_REGISTER_CS: return SEG_CS;
    case ZYDIS_REGISTER_SS: return SEG_SS;
    case ZYDIS_REGISTER_DS: return SEG_DS;
    case ZYDIS_REGISTER_FS: return SEG_FS;
    case ZYDIS_REGISTER_GS: return SEG_GS;
    default: return -1;
    }
}

static uint64_t mask_bits(unsigned bytes)
{
    return bytes >= 8 ? ~0ull : (1ull << (8 * bytes)) - 1;
}

/* Compare the ModRM memory operand with Zydis's explicit memory operand. */
static void compare_memop(const ZydisDecoder *zd, ZydisDecoderContext *ctx,
                          const ZydisDecodedInstruction *zi,
                          const struct insn *in, const uint8_t *buf,
                          bool code32, struct xstats *st)
{
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    if (!ZYAN_SUCCESS(ZydisDecoderDecodeOperands(zd, ctx, zi, ops, zi->operand_count)))
        XFAIL("Zydis cannot decode the operands");
    for (int k = 0; k < zi->operand_count; k++) {
        const ZydisDecodedOperand *o = &ops[k];
        if (o->type != ZYDIS_OPERAND_TYPE_MEMORY ||
            o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT)
            continue;
        int base = zydis_gpr(o->mem.base), index = zydis_gpr(o->mem.index);
        int scale = o->mem.scale <= 1 ? 0 : o->mem.scale == 2 ? 1
                    : o->mem.scale == 4 ? 2 : 3;
        if (index < 0)
            scale = 0;
        if (base != in->ea_base || index != in->ea_index || scale != in->ea_scale)
            XFAIL("ea base/index/scale %d/%d/%d, Zydis %d/%d/%d", in->ea_base,
                  in->ea_index, in->ea_scale, base, index, scale);
        /* Zydis reports the segment of address-generation operands (lea) as
         * none; everywhere else it must match. */
        int seg = zydis_seg(o->mem.segment);
        if (o->mem.type != ZYDIS_MEMOP_TYPE_AGEN && seg != in->ea_seg)
            XFAIL("ea_seg %d, Zydis %d", in->ea_seg, seg);
        st->mem_checked++;
        return;
    }
}

static void compare_one(const ZydisDecoder *zd, const uint8_t *buf,
                        bool code32, struct xstats *st)
{
    struct insn in;
    ZydisDecoderContext ctx;
    ZydisDecodedInstruction zi;
    int r = x86_decode(buf, 15, code32, &in);
    bool zok = ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(zd, &ctx, buf, 15, &zi));
    if (r == DECODE_SHORT)
        XFAIL("DECODE_SHORT with 15 bytes");
    if ((r > 0) != zok) {
        if (r < 0 && zok) {
            for (size_t k = 0; k < N_NOT_DECODED; k++) {
                if (zi.meta.isa_ext == not_decoded[k].ext) {
                    st->excluded[k]++;
                    st->excluded_total++;
                    return;
                }
            }
            for (size_t k = 0; k < N_NOT_DECODED_MN; k++) {
                if (zi.mnemonic == not_decoded_mnemonic[k].mnemonic) {
                    st->excluded_mn[k]++;
                    st->excluded_total++;
                    return;
                }
            }
        }
        XFAIL("valid: popek %d (len %d), Zydis %d (len %d, %s)", r > 0, r, zok,
              zok ? zi.length : 0,
              zok ? ZydisMnemonicGetString(zi.mnemonic) : "-");
    }
    st->compared++;
    if (!zok) {
        st->invalid++;
        return;
    }
    st->valid++;
    const char *mn = ZydisMnemonicGetString(zi.mnemonic);
    if (r != zi.length)
        XFAIL("length %d, Zydis %d (%s)", r, zi.length, mn);
    int zmap = zi.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT ? 0
               : zi.opcode_map == ZYDIS_OPCODE_MAP_0F ? 1
               : zi.opcode_map == ZYDIS_OPCODE_MAP_0F38 ? 2
               : zi.opcode_map == ZYDIS_OPCODE_MAP_0F3A ? 3 : -1;
    if (in.op != zmap * 0x100 + zi.opcode)
        XFAIL("op %#x, Zydis map %d opcode %#x (%s)", in.op, zmap, zi.opcode, mn);
    bool zmodrm = zi.attributes & ZYDIS_ATTRIB_HAS_MODRM;
    if (in.has_modrm != zmodrm)
        XFAIL("has_modrm %d, Zydis %d (%s)", in.has_modrm, zmodrm, mn);
    if (zmodrm && (in.modrm != buf[zi.raw.modrm.offset] ||
                   in.reg != zi.raw.modrm.reg || in.rm != zi.raw.modrm.rm))
        XFAIL("modrm %#x, Zydis %#x (%s)", in.modrm, buf[zi.raw.modrm.offset], mn);
    bool zsib = zi.attributes & ZYDIS_ATTRIB_HAS_SIB;
    if (in.has_sib != zsib || (zsib && in.sib != buf[zi.raw.sib.offset]))
        XFAIL("sib %d/%#x, Zydis %d (%s)", in.has_sib, in.sib, zsib, mn);
    unsigned dsz = zi.raw.disp.size / 8;
    if (in.disp_size != dsz ||
        ((uint64_t)(int64_t)in.disp & mask_bits(dsz)) !=
            ((uint64_t)zi.raw.disp.value & mask_bits(dsz)))
        XFAIL("disp %#x/%d, Zydis %#llx/%u (%s)", (unsigned)in.disp,
              in.disp_size, (unsigned long long)zi.raw.disp.value, dsz, mn);
    unsigned i1 = zi.raw.imm[0].size / 8, i2 = zi.raw.imm[1].size / 8;
    if (in.imm_size != i1 || in.imm != (zi.raw.imm[0].value.u & mask_bits(i1)))
        XFAIL("imm %#x/%d, Zydis %#llx/%u (%s)", in.imm, in.imm_size,
              (unsigned long long)zi.raw.imm[0].value.u, i1, mn);
    if (in.imm2_size != i2 || in.imm2 != (zi.raw.imm[1].value.u & mask_bits(i2)))
        XFAIL("imm2 %#x/%d, Zydis %#llx/%u (%s)", in.imm2, in.imm2_size,
              (unsigned long long)zi.raw.imm[1].value.u, i2, mn);
    if (in.nprefixes != zi.raw.prefix_count)
        XFAIL("nprefixes %d, Zydis %d (%s)", in.nprefixes, zi.raw.prefix_count, mn);
    if (in.lock != !!(zi.attributes & ZYDIS_ATTRIB_HAS_LOCK))
        XFAIL("lock %d, Zydis %d (%s)", in.lock,
              !!(zi.attributes & ZYDIS_ATTRIB_HAS_LOCK), mn);
    if (in.addrsize * 8 != zi.address_width)
        XFAIL("addrsize %d, Zydis %d (%s)", in.addrsize, zi.address_width, mn);
    if (in.has_modrm && in.mod != 3)
        compare_memop(zd, &ctx, &zi, &in, buf, code32, st);
}

/* xorshift64*: deterministic corpus. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

/* Prefix combinations tried in front of every opcode. */
static const uint8_t prefix_sets[][5] = {
    {0}, {1, 0x66}, {1, 0x67}, {1, 0xf2}, {1, 0xf3}, {1, 0xf0}, {1, 0x2e},
    {1, 0x36}, {1, 0x3e}, {1, 0x26}, {1, 0x64}, {1, 0x65}, {2, 0x66, 0x67},
    {2, 0x66, 0xf2}, {2, 0x66, 0xf3}, {2, 0xf3, 0x66}, {2, 0xf2, 0x66},
    {2, 0xf2, 0xf3}, {2, 0xf3, 0xf2}, {2, 0xf0, 0x66}, {2, 0x64, 0xf0},
    {2, 0x67, 0xf0}, {2, 0x66, 0x66}, {3, 0xf3, 0xf3, 0xf3},
    {4, 0x66, 0x2e, 0x67, 0xf2}, {3, 0xf0, 0x65, 0x67}, {2, 0x36, 0x67},
};
#define N_PREFIX_SETS (sizeof(prefix_sets) / sizeof(prefix_sets[0]))

/* Every opcode of every map, every value of the byte after the opcode
 * (ModRM or first immediate byte), twice bare and VARIANTS-2 times behind a
 * rotating prefix combination, with random bytes after (SIB, displacement,
 * immediates). */
#define VARIANTS 10
static void crosscheck_mode(bool code32)
{
    ZydisDecoder zd;
    struct xstats st = {0};
    if (!ZYAN_SUCCESS(ZydisDecoderInit(&zd, code32 ? ZYDIS_MACHINE_MODE_LEGACY_32
                                                   : ZYDIS_MACHINE_MODE_LEGACY_16,
                                       code32 ? ZYDIS_STACK_WIDTH_32
                                              : ZYDIS_STACK_WIDTH_16)))
        SKIP("ZydisDecoderInit failed");
    /* popek models a CPU without MPX and CET: there, 0F 1A/1B and F3 0F 1E
     * are plain hint NOPs (valid with any ModRM), and 3E before an indirect
     * call/jmp is a DS override, not NOTRACK; Zydis decodes them so with
     * these modes off. */
    ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
    ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
    unsigned pset = 0;
    for (int map = 0; map < 4; map++) {
        for (int op = 0; op < 256; op++) {
            for (int next = 0; next < 256; next++) {
                for (int variant = 0; variant < VARIANTS; variant++) {
                    uint8_t buf[16];
                    for (int k = 0; k < 16; k++)
                        buf[k] = (uint8_t)rng();
                    int n = 0;
                    if (variant >= 2) {
                        const uint8_t *ps = prefix_sets[pset++ % N_PREFIX_SETS];
                        for (int k = 0; k < ps[0]; k++)
                            buf[n++] = ps[1 + k];
                    }
                    if (map >= 1)
                        buf[n++] = 0x0f;
                    if (map == 2)
                        buf[n++] = 0x38;
                    if (map == 3)
                        buf[n++] = 0x3a;
                    buf[n++] = (uint8_t)op;
                    buf[n++] = (uint8_t)next;
                    current_key = (code32 ? OP_COUNT : 0) + (unsigned)(map * 256 + op);
                    compare_one(&zd, buf, code32, &st);
                }
            }
        }
    }
    /* Runs of random prefixes (often past the 15-byte limit) in front of
     * random opcodes of every map, and wholly random bytes. */
    static const uint8_t prefix_bytes[] = {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65,
                                           0x66, 0x67, 0xf0, 0xf2, 0xf3};
    for (int k = 0; k < 60000; k++) {
        uint8_t buf[16];
        for (int j = 0; j < 16; j++)
            buf[j] = (uint8_t)rng();
        if (k % 3 != 2) {
            int n = 0, np = (int)(rng() % 16);
            for (int j = 0; j < np; j++)
                buf[n++] = prefix_bytes[rng() % sizeof(prefix_bytes)];
            int map = (int)(rng() % 4);
            if (n < 15 && map >= 1)
                buf[n++] = 0x0f;
            if (n < 15 && map >= 2)
                buf[n++] = map == 2 ? 0x38 : 0x3a;
        }
        current_key = (code32 ? OP_COUNT : 0) + (unsigned)buf[0];
        compare_one(&zd, buf, code32, &st);
    }
    printf("  %s-bit: %lu cases compared (%lu valid, %lu invalid, %lu memory "
           "operands checked), %lu excluded (Zydis decodes them, popek "
           "deliberately does not: #UD), %lu mismatches\n",
           code32 ? "32" : "16", st.compared, st.valid, st.invalid,
           st.mem_checked, st.excluded_total, st.mismatches);
    for (size_t k = 0; k < N_NOT_DECODED; k++)
        if (st.excluded[k])
            printf("    excluded %6lu  %-22s %s\n", st.excluded[k],
                   ZydisISAExtGetString(not_decoded[k].ext), not_decoded[k].why);
    for (size_t k = 0; k < N_NOT_DECODED_MN; k++)
        if (st.excluded_mn[k])
            printf("    excluded %6lu  %-22s %s\n", st.excluded_mn[k],
                   ZydisMnemonicGetString(not_decoded_mnemonic[k].mnemonic),
                   not_decoded_mnemonic[k].why);
    CHECK(st.compared > 2500000);
    CHECK(st.mismatches == 0);
}

/* Real compiled code: a linear sweep over the .text of the host's 32-bit
 * libc (gcc-multilib), every instruction compared with Zydis. */
static void test_zydis_real_code(void)
{
    const char *path = "/usr/lib32/libc.so.6";
    FILE *f = fopen(path, "rb");
    if (!f)
        SKIP("%s not installed", path);
    static uint8_t img[8 << 20];
    size_t size = fread(img, 1, sizeof(img), f);
    fclose(f);
    const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;
    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS32 ||
        eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf32_Shdr) > size)
        SKIP("%s is not a readable ELF32 file", path);
    const Elf32_Shdr *sh = (const Elf32_Shdr *)(img + eh->e_shoff);
    const char *names = (const char *)img + sh[eh->e_shstrndx].sh_offset;
    const Elf32_Shdr *text = NULL;
    for (int k = 0; k < eh->e_shnum; k++)
        if (!strcmp(names + sh[k].sh_name, ".text"))
            text = &sh[k];
    if (!text || text->sh_offset + text->sh_size > size)
        SKIP("no .text in %s", path);

    ZydisDecoder zd;
    ZydisDecoderInit(&zd, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
    ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_MPX, ZYAN_FALSE);
    ZydisDecoderEnableMode(&zd, ZYDIS_DECODER_MODE_CET, ZYAN_FALSE);
    struct xstats st = {0};
    const uint8_t *code = img + text->sh_offset;
    size_t len = text->sh_size < (1u << 20) ? text->sh_size : (1u << 20);
    for (size_t pos = 0; pos + 15 <= len;) {
        struct insn in;
        current_key = 0;
        compare_one(&zd, code + pos, true, &st);
        int r = x86_decode(code + pos, 15, true, &in);
        pos += r > 0 ? (size_t)r : 1;
    }
    printf("  %s: %lu instructions compared (%lu valid, %lu memory operands), "
           "%lu excluded, %lu mismatches\n", path, st.compared, st.valid,
           st.mem_checked, st.excluded_total, st.mismatches);
    CHECK(st.valid > 100000 && st.valid > 50 * st.invalid);
    CHECK(st.mismatches == 0);
}

static void test_zydis_crosscheck_32(void) { crosscheck_mode(true); }
static void test_zydis_crosscheck_16(void) { crosscheck_mode(false); }

/* Truncation agrees with Zydis too: every prefix of a valid instruction is
 * DECODE_SHORT. */
static void test_truncation_random(void)
{
    unsigned long checked = 0;
    for (int n = 0; n < 20000; n++) {
        uint8_t buf[15];
        for (int k = 0; k < 15; k++)
            buf[k] = (uint8_t)rng();
        struct insn in;
        int len = x86_decode(buf, 15, true, &in);
        if (len <= 0)
            continue;
        for (int cut = 0; cut < len; cut++)
            CHECKF(x86_decode(buf, (size_t)cut, true, &in) == DECODE_SHORT,
                   "len %d cut %d", len, cut);
        checked++;
    }
    printf("  %lu random valid instructions truncated at every length\n", checked);
    CHECK(checked > 1000);
}

static void test_disasm(void)
{
    char out[96];
    const uint8_t mov[] = {0x8b, 0x44, 0x24, 0x08};
    CHECK(disasm32(mov, sizeof(mov), 0x1000, out, sizeof(out)) == 4);
    CHECKF(strcmp(out, "mov eax, [esp+0x08]") == 0, "got '%s'", out);
    const uint8_t jmp[] = {0xeb, 0xfe};
    CHECK(disasm32(jmp, sizeof(jmp), 0x1000, out, sizeof(out)) == 2);
    CHECKF(strstr(out, "1000") != NULL, "got '%s'", out);
    const uint8_t real[] = {0xea, 0x5b, 0xe0, 0x00, 0xf0};
    CHECK(disasm16(real, sizeof(real), 0xfff0, out, sizeof(out)) == 5);
    CHECKF(strstr(out, "jmp far") != NULL, "got '%s'", out);
    const uint8_t bad[] = {0x0f, 0x04};
    CHECK(disasm32(bad, sizeof(bad), 0, out, sizeof(out)) == -1);
    CHECKF(strcmp(out, "(bad) 0f 04") == 0, "got '%s'", out);
    char tiny[4];
    CHECK(disasm32(mov, sizeof(mov), 0, tiny, sizeof(tiny)) == 4 && strlen(tiny) == 3);
}

int main(void)
{
    RUN(test_known_encodings);
    RUN(test_prefix_fields);
    RUN(test_truncation_random);
    RUN(test_zydis_crosscheck_32);
    RUN(test_zydis_crosscheck_16);
    RUN(test_zydis_real_code);
    RUN(test_disasm);
    TEST_MAIN_END();
}
