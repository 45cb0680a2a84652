/* decode_tables.c - fills the IA-32 decoder's opcode tables (see
 * decode_tables.h) once, before main(), from the opcode maps of the Intel
 * SDM vol. 2 appendix A.  Each line below reads as "these opcodes, with
 * these mandatory prefixes, have this form".  Encodings not listed are
 * invalid (#UD).  What is decoded: the IA-32 integer, system, x87, MMX and
 * SSE..SSE4.2 instruction set (plus AES, PCLMUL, SHA, GFNI, MOVBE, CRC32,
 * POPCNT, ADX, RDRAND/RDSEED, XSAVE, a few cache-control hints).  Not
 * decoded (DECODE_INVALID): VEX/EVEX/XOP, 3DNow!, VMX, SVM, SMX, SGX, TSX,
 * CET, MPX-specific forms beyond their NOP-hint lengths, and 64-bit-only
 * instructions. */
#include "decode_tables.h"

uint16_t decode_map0[256];
uint16_t decode_map0f[PFX_COUNT][256];
uint16_t decode_map0f38[PFX_COUNT][256];
uint16_t decode_map0f3a[PFX_COUNT][256];

/* Prefix-column masks for set(). */
#define P_N (1u << PFX_NONE)
#define P_66 (1u << PFX_66)
#define P_F3 (1u << PFX_F3)
#define P_F2 (1u << PFX_F2)
#define P_N66 (P_N | P_66)
#define P_ALL (P_N | P_66 | P_F3 | P_F2)

#define V A_VALID
#define M (A_VALID | A_MODRM)

static void set(uint16_t map[PFX_COUNT][256], int lo, int hi, unsigned pfx,
                uint16_t attr)
{
    for (int col = 0; col < PFX_COUNT; col++)
        if (pfx & (1u << col))
            for (int op = lo; op <= hi; op++)
                map[col][op] = attr;
}

static void set0(int lo, int hi, uint16_t attr)
{
    for (int op = lo; op <= hi; op++)
        decode_map0[op] = attr;
}

static void fill_map0(void)
{
    for (int alu = 0x00; alu <= 0x38; alu += 8) {
        set0(alu, alu + 3, M);         /* op r/m,r / op r,r/m */
        set0(alu + 4, alu + 4, V | IMM_B); /* op al,ib */
        set0(alu + 5, alu + 5, V | IMM_Z); /* op eax,iz */
    }
    /* the r/m-destination ALU forms (not cmp) may be locked */
    for (int alu = 0x00; alu <= 0x30; alu += 8)
        set0(alu, alu + 1, M | A_LOCK);
    set0(0x06, 0x07, V); /* push/pop es */
    set0(0x0e, 0x0e, V); /* push cs */
    set0(0x16, 0x17, V); /* push/pop ss */
    set0(0x1e, 0x1f, V); /* push/pop ds */
    set0(0x27, 0x27, V); /* daa */
    set0(0x2f, 0x2f, V); /* das */
    set0(0x37, 0x37, V); /* aaa */
    set0(0x3f, 0x3f, V); /* aas */
    set0(0x40, 0x61, V); /* inc/dec/push/pop reg, pusha, popa */
    set0(0x62, 0x62, M | A_MEM);  /* bound (mod 3 would be EVEX) */
    set0(0x63, 0x63, M);          /* arpl */
    set0(0x68, 0x68, V | IMM_Z);  /* push iz */
    set0(0x69, 0x69, M | IMM_Z);  /* imul r,r/m,iz */
    set0(0x6a, 0x6a, V | IMM_B);  /* push ib */
    set0(0x6b, 0x6b, M | IMM_B);  /* imul r,r/m,ib */
    set0(0x6c, 0x6f, V);          /* ins/outs */
    set0(0x70, 0x7f, V | IMM_B);  /* jcc rel8 */
    set0(0x80, 0x80, M | A_LOCK | IMM_B); /* group 1 */
    set0(0x81, 0x81, M | A_LOCK | IMM_Z);
    set0(0x82, 0x83, M | A_LOCK | IMM_B);
    set0(0x84, 0x85, M);          /* test */
    set0(0x86, 0x87, M | A_LOCK); /* xchg */
    set0(0x88, 0x8b, M);          /* mov */
    set0(0x8c, 0x8c, M | A_GRP(G_MOVSREG_FROM));
    set0(0x8d, 0x8d, M | A_MEM);  /* lea */
    set0(0x8e, 0x8e, M | A_GRP(G_MOVSREG_TO));
    set0(0x8f, 0x8f, M | A_GRP(G_REG0)); /* pop r/m (/1-/7: XOP) */
    set0(0x90, 0x99, V);          /* xchg eax,r; cbw; cwd */
    set0(0x9a, 0x9a, V | IMM_FAR); /* call far ptr16:32 */
    set0(0x9b, 0x9f, V);          /* wait pushf popf sahf lahf */
    set0(0xa0, 0xa3, V | IMM_MOFFS);
    set0(0xa4, 0xa7, V);          /* movs cmps */
    set0(0xa8, 0xa8, V | IMM_B);  /* test al,ib */
    set0(0xa9, 0xa9, V | IMM_Z);
    set0(0xaa, 0xaf, V);          /* stos lods scas */
    set0(0xb0, 0xb7, V | IMM_B);  /* mov r8,ib */
    set0(0xb8, 0xbf, V | IMM_Z);  /* mov r,iz */
    set0(0xc0, 0xc1, M | IMM_B);  /* shift group 2 by ib */
    set0(0xc2, 0xc2, V | IMM_W);  /* ret iw */
    set0(0xc3, 0xc3, V);
    set0(0xc4, 0xc5, M | A_MEM);  /* les/lds (mod 3 would be VEX) */
    set0(0xc6, 0xc6, M | IMM_B | A_GRP(G_REG0)); /* mov r/m,ib */
    set0(0xc7, 0xc7, M | IMM_Z | A_GRP(G_REG0)); /* mov r/m,iz */
    set0(0xc8, 0xc8, V | IMM_ENTER);
    set0(0xc9, 0xc9, V);          /* leave */
    set0(0xca, 0xca, V | IMM_W);  /* retf iw */
    set0(0xcb, 0xcc, V);          /* retf, int3 */
    set0(0xcd, 0xcd, V | IMM_B);  /* int ib */
    set0(0xce, 0xcf, V);          /* into, iret */
    set0(0xd0, 0xd3, M);          /* shift group 2 by 1/cl */
    set0(0xd4, 0xd5, V | IMM_B);  /* aam/aad ib */
    set0(0xd6, 0xd7, V);          /* salc (undocumented), xlat */
    set0(0xd8, 0xdf, M | A_GRP(G_X87));
    set0(0xe0, 0xe7, V | IMM_B);  /* loop*, jcxz, in/out ib */
    set0(0xe8, 0xe9, V | IMM_Z);  /* call/jmp rel */
    set0(0xea, 0xea, V | IMM_FAR); /* jmp far */
    set0(0xeb, 0xeb, V | IMM_B);  /* jmp rel8 */
    set0(0xec, 0xef, V);          /* in/out dx */
    set0(0xf1, 0xf1, V);          /* int1 (icebp) */
    set0(0xf4, 0xf5, V);          /* hlt cmc */
    set0(0xf6, 0xf6, M | A_LOCK | IMM_GRP3B); /* group 3 */
    set0(0xf7, 0xf7, M | A_LOCK | IMM_GRP3Z);
    set0(0xf8, 0xfd, V);          /* clc stc cli sti cld std */
    set0(0xfe, 0xfe, M | A_LOCK | A_GRP(G_REG01)); /* group 4 */
    set0(0xff, 0xff, M | A_LOCK | A_GRP(G_FF));    /* group 5 */
}

static void fill_map0f(void)
{
    uint16_t (*t)[256] = decode_map0f;
    set(t, 0x00, 0x00, P_ALL, M | A_GRP(G_0F00));
    set(t, 0x01, 0x01, P_ALL, M | A_GRP(G_0F01));
    set(t, 0x02, 0x03, P_ALL, M);          /* lar lsl */
    set(t, 0x06, 0x06, P_ALL, V);          /* clts */
    set(t, 0x08, 0x09, P_ALL, V);          /* invd wbinvd */
    set(t, 0x0b, 0x0b, P_ALL, V);          /* ud2 */
    set(t, 0x0d, 0x0d, P_ALL, M);          /* prefetch(w); reg forms: NOP */
    /* SSE/SSE2/SSE3 moves */
    set(t, 0x10, 0x11, P_ALL, M);          /* movups movupd movss movsd */
    set(t, 0x12, 0x12, P_N | P_F3 | P_F2, M); /* movlps/movhlps movsldup movddup */
    set(t, 0x12, 0x12, P_66, M | A_MEM);   /* movlpd */
    set(t, 0x13, 0x13, P_N66, M | A_MEM);  /* movlps/movlpd store */
    set(t, 0x14, 0x15, P_N66, M);          /* unpcklps/unpckhps (pd) */
    set(t, 0x16, 0x16, P_N | P_F3, M);     /* movhps/movlhps movshdup */
    set(t, 0x16, 0x16, P_66, M | A_MEM);   /* movhpd */
    set(t, 0x17, 0x17, P_N66, M | A_MEM);  /* movhps/movhpd store */
    set(t, 0x18, 0x1f, P_ALL, M);          /* prefetchh, hint NOPs */
    set(t, 0x20, 0x20, P_ALL, M | A_MOD3 | A_GRP(G_MOVCR)); /* mov r,crN */
    set(t, 0x21, 0x21, P_ALL, M | A_MOD3);  /* mov r,drN */
    set(t, 0x22, 0x22, P_ALL, M | A_MOD3 | A_GRP(G_MOVCR)); /* mov crN,r */
    set(t, 0x23, 0x23, P_ALL, M | A_MOD3);  /* mov drN,r */
    set(t, 0x28, 0x29, P_N66, M);          /* movaps movapd */
    set(t, 0x2a, 0x2a, P_ALL, M);          /* cvtpi2ps cvtpi2pd cvtsi2ss cvtsi2sd */
    set(t, 0x2b, 0x2b, P_N66, M | A_MEM);  /* movntps movntpd */
    set(t, 0x2c, 0x2d, P_ALL, M);          /* cvt(t)ps2pi ... cvt(t)sd2si */
    set(t, 0x2e, 0x2f, P_N66, M);          /* ucomis comis */
    set(t, 0x30, 0x35, P_ALL, V);          /* wrmsr rdtsc rdmsr rdpmc sysenter sysexit */
    set(t, 0x40, 0x4f, P_ALL, M);          /* cmovcc */
    set(t, 0x50, 0x50, P_N66, M | A_REG);  /* movmskps/pd */
    set(t, 0x51, 0x51, P_ALL, M);          /* sqrt */
    set(t, 0x52, 0x53, P_N | P_F3, M);     /* rsqrt rcp */
    set(t, 0x54, 0x57, P_N66, M);          /* and andn or xor */
    set(t, 0x58, 0x5a, P_ALL, M);          /* add mul cvt */
    set(t, 0x5b, 0x5b, P_N | P_66 | P_F3, M); /* cvtdq2ps cvtps2dq cvttps2dq */
    set(t, 0x5c, 0x5f, P_ALL, M);          /* sub min div max */
    set(t, 0x60, 0x6b, P_N66, M);          /* punpck, pack, pcmpgt */
    set(t, 0x6c, 0x6d, P_66, M);           /* punpcklqdq punpckhqdq */
    set(t, 0x6e, 0x6e, P_N66, M);          /* movd */
    set(t, 0x6f, 0x6f, P_N | P_66 | P_F3, M); /* movq movdqa movdqu */
    set(t, 0x70, 0x70, P_ALL, M | IMM_B);  /* pshufw pshufd pshufhw pshuflw */
    set(t, 0x71, 0x73, P_N66, M | A_REG | IMM_B | A_GRP(G_SHIFT_IMM));
    set(t, 0x74, 0x76, P_N66, M);          /* pcmpeq */
    set(t, 0x77, 0x77, P_N, V);            /* emms */
    set(t, 0x7c, 0x7d, P_66 | P_F2, M);    /* haddp hsubp */
    set(t, 0x7e, 0x7f, P_N | P_66 | P_F3, M); /* movd/movq, movq/movdqa/movdqu */
    set(t, 0x80, 0x8f, P_ALL, V | IMM_Z);  /* jcc rel */
    set(t, 0x90, 0x9f, P_ALL, M);          /* setcc */
    set(t, 0xa0, 0xa2, P_ALL, V);          /* push/pop fs, cpuid */
    set(t, 0xa3, 0xa3, P_ALL, M);          /* bt */
    set(t, 0xa4, 0xa4, P_ALL, M | IMM_B);  /* shld ib */
    set(t, 0xa5, 0xa5, P_ALL, M);          /* shld cl */
    set(t, 0xa8, 0xaa, P_ALL, V);          /* push/pop gs, rsm */
    set(t, 0xab, 0xab, P_ALL, M | A_LOCK); /* bts */
    set(t, 0xac, 0xac, P_ALL, M | IMM_B);  /* shrd ib */
    set(t, 0xad, 0xad, P_ALL, M);          /* shrd cl */
    set(t, 0xae, 0xae, P_ALL, M | A_GRP(G_0FAE));
    set(t, 0xaf, 0xaf, P_ALL, M);          /* imul */
    set(t, 0xb0, 0xb1, P_ALL, M | A_LOCK); /* cmpxchg */
    set(t, 0xb2, 0xb2, P_ALL, M | A_MEM);  /* lss */
    set(t, 0xb3, 0xb3, P_ALL, M | A_LOCK); /* btr */
    set(t, 0xb4, 0xb5, P_ALL, M | A_MEM);  /* lfs lgs */
    set(t, 0xb6, 0xb7, P_ALL, M);          /* movzx */
    set(t, 0xb8, 0xb8, P_F3, M);           /* popcnt */
    set(t, 0xb9, 0xb9, P_ALL, M);          /* ud1 */
    set(t, 0xba, 0xba, P_ALL, M | A_LOCK | IMM_B | A_GRP(G_0FBA));
    set(t, 0xbb, 0xbb, P_ALL, M | A_LOCK); /* btc */
    set(t, 0xbc, 0xbf, P_ALL, M);          /* bsf(tzcnt) bsr(lzcnt) movsx */
    set(t, 0xc0, 0xc1, P_ALL, M | A_LOCK); /* xadd */
    set(t, 0xc2, 0xc2, P_ALL, M | IMM_B);  /* cmpps cmppd cmpss cmpsd */
    set(t, 0xc3, 0xc3, P_N, M | A_MEM);    /* movnti */
    set(t, 0xc4, 0xc4, P_N66, M | IMM_B);  /* pinsrw */
    set(t, 0xc5, 0xc5, P_N66, M | A_REG | IMM_B); /* pextrw */
    set(t, 0xc6, 0xc6, P_N66, M | IMM_B);  /* shufps shufpd */
    set(t, 0xc7, 0xc7, P_ALL, M | A_LOCK | A_GRP(G_0FC7));
    set(t, 0xc8, 0xcf, P_ALL, V);          /* bswap */
    set(t, 0xd0, 0xd0, P_66 | P_F2, M);    /* addsubpd addsubps */
    set(t, 0xd1, 0xd5, P_N66, M);
    set(t, 0xd6, 0xd6, P_66, M);           /* movq xmm/m64,xmm */
    set(t, 0xd6, 0xd6, P_F3 | P_F2, M | A_REG); /* movq2dq movdq2q */
    set(t, 0xd7, 0xd7, P_N66, M | A_REG);  /* pmovmskb */
    set(t, 0xd8, 0xe5, P_N66, M);
    set(t, 0xe6, 0xe6, P_66 | P_F3 | P_F2, M); /* cvttpd2dq cvtdq2pd cvtpd2dq */
    set(t, 0xe7, 0xe7, P_N66, M | A_MEM);  /* movntq movntdq */
    set(t, 0xe8, 0xef, P_N66, M);
    set(t, 0xf0, 0xf0, P_F2, M | A_MEM);   /* lddqu */
    set(t, 0xf1, 0xf6, P_N66, M);
    set(t, 0xf7, 0xf7, P_N66, M | A_REG);  /* maskmovq maskmovdqu */
    set(t, 0xf8, 0xfe, P_N66, M);
    set(t, 0xff, 0xff, P_ALL, M);          /* ud0 */
}

static void fill_map0f38(void)
{
    uint16_t (*t)[256] = decode_map0f38;
    set(t, 0x00, 0x0b, P_N66, M);  /* pshufb .. pmulhrsw (SSSE3) */
    set(t, 0x10, 0x10, P_66, M);   /* pblendvb */
    set(t, 0x14, 0x15, P_66, M);   /* blendvps blendvpd */
    set(t, 0x17, 0x17, P_66, M);   /* ptest */
    set(t, 0x1c, 0x1e, P_N66, M);  /* pabsb pabsw pabsd */
    set(t, 0x20, 0x25, P_66, M);   /* pmovsx */
    set(t, 0x28, 0x29, P_66, M);   /* pmuldq pcmpeqq */
    set(t, 0x2a, 0x2a, P_66, M | A_MEM); /* movntdqa */
    set(t, 0x2b, 0x2b, P_66, M);   /* packusdw */
    set(t, 0x30, 0x35, P_66, M);   /* pmovzx */
    set(t, 0x37, 0x41, P_66, M);   /* pcmpgtq pmin/pmax pmulld phminposuw */
    set(t, 0x82, 0x82, P_66, M | A_MEM); /* invpcid */
    set(t, 0xc8, 0xcd, P_N, M);    /* sha1/sha256 */
    set(t, 0xcf, 0xcf, P_66, M);   /* gf2p8mulb */
    set(t, 0xdb, 0xdf, P_66, M);   /* aesimc aesenc aesenclast aesdec aesdeclast */
    set(t, 0xf0, 0xf1, P_N66, M | A_MEM); /* movbe */
    set(t, 0xf0, 0xf1, P_F2, M);   /* crc32 */
    set(t, 0xf6, 0xf6, P_66 | P_F3, M); /* adcx adox */
}

static void fill_map0f3a(void)
{
    uint16_t (*t)[256] = decode_map0f3a;
    set(t, 0x08, 0x0e, P_66, M | IMM_B);  /* round* blend* */
    set(t, 0x0f, 0x0f, P_N66, M | IMM_B); /* palignr */
    set(t, 0x14, 0x17, P_66, M | IMM_B);  /* pextrb/w/d extractps */
    set(t, 0x20, 0x22, P_66, M | IMM_B);  /* pinsrb insertps pinsrd */
    set(t, 0x40, 0x42, P_66, M | IMM_B);  /* dpps dppd mpsadbw */
    set(t, 0x44, 0x44, P_66, M | IMM_B);  /* pclmulqdq */
    set(t, 0x60, 0x63, P_66, M | IMM_B);  /* pcmpestrm .. pcmpistri */
    set(t, 0xcc, 0xcc, P_N, M | IMM_B);   /* sha1rnds4 */
    set(t, 0xce, 0xcf, P_66, M | IMM_B);  /* gf2p8affine(inv)qb */
    set(t, 0xdf, 0xdf, P_66, M | IMM_B);  /* aeskeygenassist */
}

__attribute__((constructor)) static void decode_tables_init(void)
{
    fill_map0();
    fill_map0f();
    fill_map0f38();
    fill_map0f3a();
}

/* x87 memory forms: D9 /1, DB /4, DB /6, DD /5 do not exist. */
const uint8_t decode_x87_mem_ok[8] = {
    0xff, 0xfd, 0xff, 0xaf, 0xff, 0xdf, 0xff, 0xff,
};

/* Bit n set: ModRM byte 0xC0+n is a valid register form. */
#define R(lo, hi) ((~0ull >> (63 - ((hi) - 0xc0))) & (~0ull << ((lo) - 0xc0)))
const uint64_t decode_x87_reg_ok[8] = {
    /* D8: fadd fmul fcom fcomp fsub fsubr fdiv fdivr */
    R(0xc0, 0xff),
    /* D9: fld fxch fnop fstp1 | fchs fabs ftst fxam | fld1..fldz | f2xm1.. */
    R(0xc0, 0xd0) | R(0xd8, 0xe1) | R(0xe4, 0xe5) | R(0xe8, 0xee) |
        R(0xf0, 0xff),
    /* DA: fcmovb fcmove fcmovbe fcmovu, fucompp */
    R(0xc0, 0xdf) | R(0xe9, 0xe9),
    /* DB: fcmovn*, feni fdisi fnclex fninit fsetpm, fucomi fcomi */
    R(0xc0, 0xe4) | R(0xe8, 0xf7),
    /* DC: all (with the fcom2/fcomp3 aliases) */
    R(0xc0, 0xff),
    /* DD: ffree fxch4 fst fstp fucom fucomp */
    R(0xc0, 0xef),
    /* DE: faddp fmulp fcomp5 fcompp fsubrp fsubp fdivrp fdivp */
    R(0xc0, 0xd7) | R(0xd9, 0xd9) | R(0xe0, 0xff),
    /* DF: ffreep fxch7 fstp8 fstp9 fnstsw ax fucomip fcomip */
    R(0xc0, 0xe0) | R(0xe8, 0xf7),
};
