/* exec_sse.c - SSE, SSE2, SSE3 and SSSE3 for the interpreter (bt calls
 * these out to it).  The guest's XMM registers and MXCSR live in the
 * FXSAVE image c->fpu (XMM n at byte 160 + 16n, MXCSR at 24), so
 * fxsave/fxrstor already carry them.
 * Arithmetic, logic, compares, conversions and the packed-integer
 * operations run as the host's own instruction on copies of the operands:
 * a table (ops[] below) names each encoding with its operand form, its
 * memory operand size and whether that must be 16-byte aligned; at start
 * a small host stub is generated per entry (W^X: written, then made
 * read+exec), which loads the guest MXCSR (every exception masked) and the
 * operands into XMM0/XMM1/EAX, runs the instruction with ModRM 0xC1/0xC0,
 * and stores the results and RFLAGS.  Memory operands are read through the
 * interpreter's segmentation and paging into the stub's buffer first.
 * Moves, shuffles, inserts/extracts, shifts by an immediate, stores and
 * MXCSR loads are done in C.
 * Rules: #UD if CR0.EM=1 or CR4.OSFXSR=0, #NM if CR0.TS=1; a SIMD
 * floating-point exception that the guest MXCSR leaves unmasked sets its
 * flag, leaves the destination alone and raises #XM (CR4.OSXMMEXCPT=1) or
 * #UD.  MMX forms (no 66 prefix on integer opcodes) are #UD: MMX is not
 * implemented nor reported.  rcpps/rsqrtps return the host's
 * approximation (implementation-specific on hardware too). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#endif
#include <cpuid.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "exec.h"

#define FX_MXCSR 24
#define FX_XMM 160
#define MXCSR_FLAGS 0x3fu
#define MXCSR_MASKS 0x1f80u

enum pfx { PN = 0, P66 = 1, PF3 = 2, PF2 = 3 };
enum kind {
    K_XX,    /* xmm0 op= xmm1/mem */
    K_CMPF,  /* comis/ucomis: EFLAGS from xmm0 ? xmm1/mem */
    K_XG,    /* xmm0 op= eax/m32 (cvtsi2ss/sd) */
    K_GX,    /* eax = op xmm1/mem (cvt*2si, movmsk, pmovmskb) */
};
enum isa { I_SSE, I_SSE2, I_SSE3, I_SSSE3 };

struct sse_op {
    uint16_t op;   /* insn.op: 0x1xx (0F), 0x2xx (0F 38) */
    uint8_t pfx;
    uint8_t kind;
    uint8_t msz;   /* memory operand bytes (0: register form only) */
    uint8_t align; /* a memory operand must be 16-byte aligned */
    uint8_t isa;
    uint8_t imm;   /* cmpXX: one stub per predicate 0-7 */
};

#define PS(op) {op, PN, K_XX, 16, 1, I_SSE, 0}
#define PD(op) {op, P66, K_XX, 16, 1, I_SSE2, 0}
#define SS(op) {op, PF3, K_XX, 4, 0, I_SSE, 0}
#define SD(op) {op, PF2, K_XX, 8, 0, I_SSE2, 0}
#define PI(op) {op, P66, K_XX, 16, 1, I_SSE2, 0}
#define S3(op, p) {op, p, K_XX, 16, 1, I_SSE3, 0}
#define SSSE3(op) {op, P66, K_XX, 16, 1, I_SSSE3, 0}
#define ARITH(op) PS(op), PD(op), SS(op), SD(op)

static const struct sse_op ops[] = {
    PS(0x114), PS(0x115), PD(0x114), PD(0x115),           /* unpck */
    {0x12a, PF3, K_XG, 4, 0, I_SSE, 0}, {0x12a, PF2, K_XG, 4, 0, I_SSE2, 0},
    {0x12c, PF3, K_GX, 4, 0, I_SSE, 0}, {0x12d, PF3, K_GX, 4, 0, I_SSE, 0},
    {0x12c, PF2, K_GX, 8, 0, I_SSE2, 0}, {0x12d, PF2, K_GX, 8, 0, I_SSE2, 0},
    {0x12e, PN, K_CMPF, 4, 0, I_SSE, 0}, {0x12f, PN, K_CMPF, 4, 0, I_SSE, 0},
    {0x12e, P66, K_CMPF, 8, 0, I_SSE2, 0}, {0x12f, P66, K_CMPF, 8, 0, I_SSE2, 0},
    {0x150, PN, K_GX, 0, 0, I_SSE, 0}, {0x150, P66, K_GX, 0, 0, I_SSE2, 0},
    ARITH(0x151),                                           /* sqrt */
    PS(0x152), SS(0x152), PS(0x153), SS(0x153),           /* rsqrt rcp */
    PS(0x154), PS(0x155), PS(0x156), PS(0x157),           /* and andn or xor */
    PD(0x154), PD(0x155), PD(0x156), PD(0x157),
    ARITH(0x158), ARITH(0x159), ARITH(0x15c), ARITH(0x15d),
    ARITH(0x15e), ARITH(0x15f),
    {0x15a, PN, K_XX, 8, 0, I_SSE2, 0}, PD(0x15a),        /* cvtps2pd cvtpd2ps */
    {0x15a, PF3, K_XX, 4, 0, I_SSE2, 0}, {0x15a, PF2, K_XX, 8, 0, I_SSE2, 0},
    {0x15b, PN, K_XX, 16, 1, I_SSE2, 0}, PD(0x15b),
    {0x15b, PF3, K_XX, 16, 1, I_SSE2, 0},
    PI(0x160), PI(0x161), PI(0x162), PI(0x163), PI(0x164), PI(0x165),
    PI(0x166), PI(0x167), PI(0x168), PI(0x169), PI(0x16a), PI(0x16b),
    PI(0x16c), PI(0x16d), PI(0x174), PI(0x175), PI(0x176),
    S3(0x17c, P66), S3(0x17c, PF2), S3(0x17d, P66), S3(0x17d, PF2),
    S3(0x1d0, P66), S3(0x1d0, PF2),
    PI(0x1d1), PI(0x1d2), PI(0x1d3), PI(0x1d4), PI(0x1d5),
    {0x1d7, P66, K_GX, 0, 0, I_SSE2, 0},                   /* pmovmskb */
    PI(0x1d8), PI(0x1d9), PI(0x1da), PI(0x1db), PI(0x1dc), PI(0x1dd),
    PI(0x1de), PI(0x1df), PI(0x1e0), PI(0x1e1), PI(0x1e2), PI(0x1e3),
    PI(0x1e4), PI(0x1e5),
    PD(0x1e6), {0x1e6, PF3, K_XX, 8, 0, I_SSE2, 0}, {0x1e6, PF2, K_XX, 16, 1, I_SSE2, 0},
    PI(0x1e8), PI(0x1e9), PI(0x1ea), PI(0x1eb), PI(0x1ec), PI(0x1ed),
    PI(0x1ee), PI(0x1ef),
    PI(0x1f1), PI(0x1f2), PI(0x1f3), PI(0x1f4), PI(0x1f5), PI(0x1f6),
    PI(0x1f8), PI(0x1f9), PI(0x1fa), PI(0x1fb), PI(0x1fc), PI(0x1fd),
    PI(0x1fe),
    SSSE3(0x200), SSSE3(0x201), SSSE3(0x202), SSSE3(0x203), SSSE3(0x204),
    SSSE3(0x205), SSSE3(0x206), SSSE3(0x207), SSSE3(0x208), SSSE3(0x209),
    SSSE3(0x20a), SSSE3(0x20b), SSSE3(0x21c), SSSE3(0x21d), SSSE3(0x21e),
};

/* cmpps/cmppd/cmpss/cmpsd (0F C2 ib): 8 predicates each, after ops[]. */
static const struct sse_op cmp_ops[4] = {
    {0x1c2, PN, K_XX, 16, 1, I_SSE, 1}, {0x1c2, P66, K_XX, 16, 1, I_SSE2, 1},
    {0x1c2, PF3, K_XX, 4, 0, I_SSE, 1}, {0x1c2, PF2, K_XX, 8, 0, I_SSE2, 1},
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))
#define NSTUBS (NOPS + 4 * 8)
#define STUB_SIZE 64

/* The stub's operand buffer. */
struct sse_buf {
    _Alignas(16) uint8_t dst[16];
    uint8_t src[16];
    uint32_t gpr, flags;
};
typedef void (*sse_stub)(struct sse_buf *b, uint32_t *mxcsr);

static uint8_t *stub_code;
static uint16_t lookup[2][4][256]; /* [map 0F/0F38][pfx][opcode]: index+1 */
static uint32_t mxcsr_mask = 0xffbf;
static uint32_t host_isa;          /* bit per enum isa the host has */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint8_t *emit(uint8_t *q, const uint8_t *b, size_t n)
{
    memcpy(q, b, n);
    return q + n;
}

static void gen_stub(uint8_t *q, const struct sse_op *o, unsigned imm)
{
    static const uint8_t pro[] = {
        0x48, 0x83, 0xec, 0x08,       /* sub rsp, 8 */
        0x0f, 0xae, 0x1c, 0x24,       /* stmxcsr [rsp] */
        0x0f, 0xae, 0x16,             /* ldmxcsr [rsi] */
        0xf3, 0x0f, 0x6f, 0x07,       /* movdqu xmm0, [rdi] */
        0xf3, 0x0f, 0x6f, 0x4f, 0x10, /* movdqu xmm1, [rdi+16] */
        0x8b, 0x47, 0x20,             /* mov eax, [rdi+32] */
    };
    static const uint8_t epi[] = {
        0x9c, 0x59,                   /* pushfq; pop rcx */
        0x89, 0x4f, 0x24,             /* mov [rdi+36], ecx */
        0xf3, 0x0f, 0x7f, 0x07,       /* movdqu [rdi], xmm0 */
        0x89, 0x47, 0x20,             /* mov [rdi+32], eax */
        0x0f, 0xae, 0x1e,             /* stmxcsr [rsi] */
        0x0f, 0xae, 0x14, 0x24,       /* ldmxcsr [rsp] */
        0x48, 0x83, 0xc4, 0x08,       /* add rsp, 8 */
        0xc3,
    };
    q = emit(q, pro, sizeof(pro));
    static const uint8_t pfx_byte[4] = {0, 0x66, 0xf3, 0xf2};
    if (o->pfx != PN)
        *q++ = pfx_byte[o->pfx];
    *q++ = 0x0f;
    if ((o->op >> 8) == 2)
        *q++ = 0x38;
    *q++ = (uint8_t)o->op;
    /* K_XG: reg xmm0, rm eax (C0); the others: reg xmm0/eax, rm xmm1 */
    *q++ = o->kind == K_XG ? 0xc0 : 0xc1;
    if (o->imm)
        *q++ = (uint8_t)imm;
    emit(q, epi, sizeof(epi));
}

static void sse_init(void)
{
    _Alignas(16) uint8_t fx[512];
    memset(fx, 0, sizeof(fx));
    __asm__ volatile("fxsave %0" : "=m"(fx));
    uint32_t mask;
    memcpy(&mask, fx + 28, 4);
    if (mask)
        mxcsr_mask = mask;
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        host_isa = ((d >> 25) & 1) << I_SSE | ((d >> 26) & 1) << I_SSE2 |
                   (c & 1) << I_SSE3 | ((c >> 9) & 1) << I_SSSE3;
    }
    void *p = mmap(NULL, NSTUBS * STUB_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    uint8_t *code = p;
    for (unsigned k = 0; k < NOPS; k++) {
        gen_stub(code + k * STUB_SIZE, &ops[k], 0);
        lookup[(ops[k].op >> 8) - 1][ops[k].pfx][ops[k].op & 0xff] =
            (uint16_t)(k + 1);
    }
    for (unsigned k = 0; k < 32; k++)
        gen_stub(code + (NOPS + k) * STUB_SIZE, &cmp_ops[k / 8], k % 8);
    if (mprotect(p, NSTUBS * STUB_SIZE, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, NSTUBS * STUB_SIZE);
        return;
    }
    stub_code = code;
}

uint32_t sse_host_features(void)
{
    pthread_once(&once, sse_init);
    return stub_code ? host_isa : 0;
}

/* ---- state and checks ---- */

static uint8_t *xmm(struct interp_cpu *c, int n)
{
    return c->fpu.fx + FX_XMM + 16 * n;
}

static uint32_t mxcsr_get(const struct interp_cpu *c)
{
    uint32_t v;
    memcpy(&v, c->fpu.fx + FX_MXCSR, 4);
    return v;
}

static void mxcsr_set(struct interp_cpu *c, uint32_t v)
{
    memcpy(c->fpu.fx + FX_MXCSR, &v, 4);
}

static int pfx_of(const struct insn *i)
{
    if (i->rep == 0xf3)
        return PF3;
    if (i->rep == 0xf2)
        return PF2;
    return i->opsize_prefix ? P66 : PN;
}

/* The SSE availability rules, then: does the host (so CPUID) have isa? */
static void sse_check(struct interp_cpu *c, const struct insn *i, int isa)
{
    if (!(sse_host_features() & (1u << isa)))
        cpu_undefined(c, i);
    if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
        cpu_fault(c, EXC_UD);
    if (c->cr0 & CR0_TS)
        cpu_fault(c, EXC_NM);
}

static uint32_t mem_off(struct interp_cpu *c, const struct insn *i,
                        uint32_t k)
{
    uint32_t ea = insn_ea(c, i) + k;
    return i->addrsize == 2 ? (ea & 0xffff) : ea;
}

static void check_align(struct interp_cpu *c, const struct insn *i)
{
    uint32_t lin = (uint32_t)c->seg[i->ea_seg].base + insn_ea(c, i);
    if (lin & 15)
        cpu_fault_err(c, EXC_GP, 0);
}

/* Read n bytes of the memory operand (+k) into b. */
static void mem_in(struct interp_cpu *c, const struct insn *i, uint8_t *b,
                   unsigned n, bool align)
{
    if (align)
        check_align(c, i);
    for (unsigned k = 0; k < n; k += 4) {
        uint32_t v = mem_read(c, i->ea_seg, mem_off(c, i, k),
                              n - k >= 4 ? 4 : (int)(n - k));
        memcpy(b + k, &v, n - k >= 4 ? 4 : n - k);
    }
}

static void mem_out(struct interp_cpu *c, const struct insn *i,
                    const uint8_t *b, unsigned n, bool align)
{
    if (align)
        check_align(c, i);
    mem_check_write(c, i->ea_seg, insn_ea(c, i), n);
    for (unsigned k = 0; k < n; k += 4) {
        uint32_t v = 0;
        memcpy(&v, b + k, n - k >= 4 ? 4 : n - k);
        mem_write(c, i->ea_seg, mem_off(c, i, k),
                  n - k >= 4 ? 4 : (int)(n - k), v);
    }
}

/* A SIMD floating-point exception the guest left unmasked. */
_Noreturn static void simd_fault(struct interp_cpu *c)
{
    cpu_fault(c, (c->cr4 & CR4_OSXMMEXCPT) ? EXC_XM : EXC_UD);
}

/* ---- the stub-run operations ---- */

static void run_op(struct interp_cpu *c, const struct insn *i,
                   const struct sse_op *o, unsigned stub)
{
    sse_check(c, i, o->isa);
    struct sse_buf b;
    memset(&b, 0, sizeof(b));
    bool mem = i->mod != 3;
    if (o->kind != K_GX)
        memcpy(b.dst, xmm(c, i->reg), 16);
    if (o->kind == K_XG) {
        b.gpr = mem ? mem_read(c, i->ea_seg, insn_ea(c, i), 4) : c->r[i->rm];
    } else if (mem) {
        if (!o->msz)
            cpu_undefined(c, i);
        mem_in(c, i, b.src, o->msz, o->align);
    } else {
        memcpy(b.src, xmm(c, i->rm), 16);
    }
    uint32_t m = mxcsr_get(c);
    uint32_t run = (m & ~MXCSR_FLAGS) | MXCSR_MASKS;
    sse_stub f;
    void *p = stub_code + stub * STUB_SIZE;
    memcpy(&f, &p, sizeof(f));
    f(&b, &run);
    uint32_t raised = run & MXCSR_FLAGS;
    mxcsr_set(c, m | raised);
    if (raised & ~(m >> 7) & MXCSR_FLAGS)
        simd_fault(c);
    switch (o->kind) {
    case K_CMPF:
        flags_set(c, b.flags & (FLAG_ZF | FLAG_PF | FLAG_CF),
                  FLAG_ZF | FLAG_PF | FLAG_CF | FLAG_OF | FLAG_SF | FLAG_AF);
        break;
    case K_GX:
        c->r[i->reg] = b.gpr;
        break;
    default:
        memcpy(xmm(c, i->reg), b.dst, 16);
        break;
    }
}

static void ex_sse_table(struct interp_cpu *c, const struct insn *i)
{
    unsigned map = (i->op >> 8) - 1;
    unsigned k = map < 2 ? lookup[map][pfx_of(i)][i->op & 0xff] : 0;
    if (!k || !stub_code)
        cpu_undefined(c, i);
    run_op(c, i, &ops[k - 1], k - 1);
}

static void ex_sse_cmp(struct interp_cpu *c, const struct insn *i)
{
    int p = pfx_of(i);
    run_op(c, i, &cmp_ops[p], (unsigned)(NOPS + (unsigned)p * 8 + (i->imm & 7)));
}

/* ---- moves (C) ---- */

/* Load n bytes of the r/m operand (register: its low n bytes). */
static void rm_in(struct interp_cpu *c, const struct insn *i, uint8_t *b,
                  unsigned n, bool align)
{
    if (i->mod == 3)
        memcpy(b, xmm(c, i->rm), n);
    else
        mem_in(c, i, b, n, align);
}

static void ex_sse_move(struct interp_cpu *c, const struct insn *i)
{
    int p = pfx_of(i);
    unsigned op = i->op & 0xff;
    bool mem = i->mod != 3;
    uint8_t t[16] = {0};
    uint8_t *r = xmm(c, i->reg);
    int isa = I_SSE2;
    if (p == PN && op < 0x50)
        isa = I_SSE;
    else if (op == 0xf0 || ((op == 0x12 || op == 0x16) && p >= PF3))
        isa = I_SSE3;
    sse_check(c, i, isa);
    switch (op) {
    case 0x10: /* movups movupd movss movsd: load */
        if (p <= P66) {
            rm_in(c, i, t, 16, false);
            memcpy(r, t, 16);
        } else {
            unsigned n = p == PF3 ? 4 : 8;
            rm_in(c, i, t, n, false);
            if (mem)
                memset(r, 0, 16);
            memcpy(r, t, n);
        }
        return;
    case 0x11: /* store forms */
    case 0x29:
    case 0x2b:
    case 0xe7:
    case 0x7f: {
        unsigned n = (op == 0x11 && p >= PF3) ? (p == PF3 ? 4 : 8) : 16;
        bool align = op == 0x29 || op == 0x2b || op == 0xe7 ||
                     (op == 0x7f && p == P66);
        if ((op == 0x7f || op == 0xe7) && p == PN)
            cpu_undefined(c, i); /* MMX forms */
        if (mem)
            mem_out(c, i, r, n, align);
        else
            memcpy(xmm(c, i->rm), r, n);
        return;
    }
    case 0x28: /* movaps movapd */
        rm_in(c, i, t, 16, true);
        memcpy(r, t, 16);
        return;
    case 0x6f: /* movdqa movdqu */
        if (p == PN)
            cpu_undefined(c, i);
        rm_in(c, i, t, 16, p == P66);
        memcpy(r, t, 16);
        return;
    case 0xf0: /* lddqu */
        mem_in(c, i, t, 16, false);
        memcpy(r, t, 16);
        return;
    case 0x12:
    case 0x16: {
        bool hi = op == 0x16;
        if (p == PF3) { /* movsldup / movshdup */
            rm_in(c, i, t, 16, true);
            for (int k = 0; k < 4; k++)
                memcpy(r + 4 * k, t + 4 * ((k & ~1) + hi), 4);
        } else if (p == PF2) { /* movddup (12 only) */
            if (hi)
                cpu_undefined(c, i);
            rm_in(c, i, t, 8, false);
            memcpy(r, t, 8);
            memcpy(r + 8, t, 8);
        } else if (mem) { /* movlps movlpd movhps movhpd loads */
            mem_in(c, i, t, 8, false);
            memcpy(r + (hi ? 8 : 0), t, 8);
        } else { /* movhlps / movlhps */
            memcpy(t, xmm(c, i->rm), 16);
            if (hi)
                memcpy(r + 8, t, 8);
            else
                memcpy(r, t + 8, 8);
        }
        return;
    }
    case 0x13:
    case 0x17: /* movlps/movlpd/movhps/movhpd stores */
        mem_out(c, i, r + (op == 0x17 ? 8 : 0), 8, false);
        return;
    case 0x6e: /* movd xmm, r/m32 */
        if (p != P66)
            cpu_undefined(c, i);
        {
            uint32_t v = mem ? mem_read(c, i->ea_seg, insn_ea(c, i), 4)
                             : c->r[i->rm];
            memset(r, 0, 16);
            memcpy(r, &v, 4);
        }
        return;
    case 0x7e:
        if (p == P66) { /* movd r/m32, xmm */
            uint32_t v;
            memcpy(&v, r, 4);
            if (mem)
                mem_write(c, i->ea_seg, insn_ea(c, i), 4, v);
            else
                c->r[i->rm] = v;
        } else if (p == PF3) { /* movq xmm, xmm/m64 */
            rm_in(c, i, t, 8, false);
            memset(r, 0, 16);
            memcpy(r, t, 8);
        } else {
            cpu_undefined(c, i);
        }
        return;
    case 0xd6: /* movq xmm/m64, xmm */
        if (p != P66)
            cpu_undefined(c, i);
        if (mem) {
            mem_out(c, i, r, 8, false);
        } else {
            uint8_t *d = xmm(c, i->rm);
            memcpy(t, r, 8);
            memset(d, 0, 16);
            memcpy(d, t, 8);
        }
        return;
    default:
        cpu_undefined(c, i);
    }
}

/* ---- shuffles, inserts, extracts, shifts by immediate (C) ---- */

static void ex_sse_shuf(struct interp_cpu *c, const struct insn *i)
{
    int p = pfx_of(i);
    unsigned op = i->op & 0xff, imm = i->imm & 0xff;
    uint8_t *r = xmm(c, i->reg);
    uint8_t s[16], d[16];
    if (op == 0xc6 && p == PN) {
        sse_check(c, i, I_SSE);
        rm_in(c, i, s, 16, true);
        memcpy(d, r, 16);
        uint8_t o[16];
        for (int k = 0; k < 4; k++)
            memcpy(o + 4 * k, (k < 2 ? d : s) + 4 * ((imm >> (2 * k)) & 3), 4);
        memcpy(r, o, 16);
        return;
    }
    if (p == PN || (op == 0xc6 && p != P66))
        cpu_undefined(c, i);
    sse_check(c, i, I_SSE2);
    switch (op) {
    case 0xc6: /* shufpd */
        rm_in(c, i, s, 16, true);
        memcpy(d, r, 16);
        memcpy(r, d + 8 * (imm & 1), 8);
        memcpy(r + 8, s + 8 * ((imm >> 1) & 1), 8);
        return;
    case 0x70: /* pshufd pshufhw pshuflw */
        rm_in(c, i, s, 16, true);
        if (p == P66) {
            for (int k = 0; k < 4; k++)
                memcpy(d + 4 * k, s + 4 * ((imm >> (2 * k)) & 3), 4);
        } else {
            unsigned base = p == PF3 ? 8 : 0;
            memcpy(d, s, 16);
            for (int k = 0; k < 4; k++)
                memcpy(d + base + 2 * k, s + base + 2 * ((imm >> (2 * k)) & 3), 2);
        }
        memcpy(r, d, 16);
        return;
    case 0xc4: { /* pinsrw xmm, r32/m16, imm */
        uint16_t v = (uint16_t)(i->mod == 3 ? c->r[i->rm]
                                            : mem_read(c, i->ea_seg,
                                                       insn_ea(c, i), 2));
        memcpy(r + 2 * (imm & 7), &v, 2);
        return;
    }
    case 0xc5: { /* pextrw r32, xmm, imm */
        uint16_t v;
        memcpy(&v, xmm(c, i->rm) + 2 * (imm & 7), 2);
        c->r[i->reg] = v;
        return;
    }
    default:
        cpu_undefined(c, i);
    }
}

/* 66 0F 71-73 /n ib: shifts of the r/m xmm by an immediate. */
static void ex_sse_shift_imm(struct interp_cpu *c, const struct insn *i)
{
    if (pfx_of(i) != P66)
        cpu_undefined(c, i);
    sse_check(c, i, I_SSE2);
    uint8_t *r = xmm(c, i->rm);
    unsigned n = i->imm & 0xff, op = i->op & 0xff;
    if (op == 0x73 && (i->reg == 3 || i->reg == 7)) { /* psrldq pslldq */
        uint8_t o[16] = {0};
        for (int k = 0; k < 16; k++) {
            int from = i->reg == 3 ? k + (int)n : k - (int)n;
            if (n < 16 && from >= 0 && from < 16)
                o[k] = r[from];
        }
        memcpy(r, o, 16);
        return;
    }
    unsigned w = op == 0x71 ? 2 : op == 0x72 ? 4 : 8, bits = 8 * w;
    for (unsigned k = 0; k < 16; k += w) {
        uint64_t v = 0;
        memcpy(&v, r + k, w);
        uint64_t sign = (v >> (bits - 1)) & 1;
        switch (i->reg) {
        case 2: v = n >= bits ? 0 : v >> n; break;
        case 6: v = n >= bits ? 0 : v << n; break;
        default: /* 4: arithmetic right */
            if (n >= bits)
                v = sign ? ~0ull : 0;
            else
                v = (v >> n) | (sign && n ? ~0ull << (bits - n) : 0);
            break;
        }
        memcpy(r + k, &v, w);
    }
}

/* 66 0F 3A 0F ib: palignr (SSSE3). */
static void ex_palignr(struct interp_cpu *c, const struct insn *i)
{
    if (pfx_of(i) != P66)
        cpu_undefined(c, i);
    sse_check(c, i, I_SSSE3);
    uint8_t cat[32], s[16];
    rm_in(c, i, s, 16, true);
    memcpy(cat, s, 16);
    memcpy(cat + 16, xmm(c, i->reg), 16);
    unsigned n = i->imm & 0xff;
    uint8_t *r = xmm(c, i->reg);
    for (unsigned k = 0; k < 16; k++)
        r[k] = k + n < 32 ? cat[k + n] : 0;
}

/* 66 0F F7: maskmovdqu xmm1, xmm2 -> bytes to DS:(E)DI. */
static void ex_maskmov(struct interp_cpu *c, const struct insn *i)
{
    if (pfx_of(i) != P66)
        cpu_undefined(c, i);
    sse_check(c, i, I_SSE2);
    int seg = i->seg != SEG_NONE ? i->seg : SEG_DS;
    uint32_t di = i->addrsize == 2 ? c->r[R_EDI] & 0xffff : c->r[R_EDI];
    const uint8_t *v = xmm(c, i->reg), *m = xmm(c, i->rm);
    for (int k = 0; k < 16; k++)
        if (m[k] & 0x80)
            mem_check_write(c, seg, di + (uint32_t)k, 1);
    for (int k = 0; k < 16; k++)
        if (m[k] & 0x80)
            mem_write(c, seg, di + (uint32_t)k, 1, v[k]);
}

/* 0F C3: movnti m32, r32 (SSE2, no XMM state: no CR0/CR4 checks). */
static void ex_movnti(struct interp_cpu *c, const struct insn *i)
{
    if (pfx_of(i) != PN || !(sse_host_features() & (1u << I_SSE2)))
        cpu_undefined(c, i);
    mem_write(c, i->ea_seg, insn_ea(c, i), 4, c->r[i->reg]);
}

/* 0F AE: fxsave fxrstor (exec_x87.c), ldmxcsr stmxcsr, lfence mfence
 * sfence, clflush. */
static void ex_grp15(struct interp_cpu *c, const struct insn *i)
{
    bool mem = i->mod != 3;
    if (pfx_of(i) != PN)
        cpu_undefined(c, i); /* clflushopt, clwb: not reported */
    if (mem && i->reg <= 1) {
        ex_fxsave_grp(c, i);
        return;
    }
    if (mem && (i->reg == 2 || i->reg == 3)) {
        sse_check(c, i, I_SSE);
        if (i->reg == 3) {
            mem_write(c, i->ea_seg, insn_ea(c, i), 4, mxcsr_get(c));
            return;
        }
        uint32_t v = mem_read(c, i->ea_seg, insn_ea(c, i), 4);
        if (v & ~mxcsr_mask)
            cpu_fault_err(c, EXC_GP, 0);
        mxcsr_set(c, v);
        return;
    }
    if (mem && i->reg == 7) { /* clflush: faults as a byte read would */
        mem_read(c, i->ea_seg, insn_ea(c, i), 1);
        return;
    }
    if (!mem && i->reg >= 5) {
        /* lfence mfence sfence: one CPU, in order: nothing to wait for */
        if (!(sse_host_features() & (1u << (i->reg == 7 ? I_SSE : I_SSE2))))
            cpu_undefined(c, i);
        return;
    }
    cpu_undefined(c, i); /* xsave family */
}

void exec_sse_init(exec_fn *tab, void (*reg)(exec_fn *, unsigned, exec_fn))
{
    for (unsigned k = 0; k < NOPS; k++)
        reg(tab, ops[k].op, ex_sse_table);
    reg(tab, 0x1c2, ex_sse_cmp);
    static const uint16_t moves[] = {0x110, 0x111, 0x112, 0x113, 0x116, 0x117,
                                     0x128, 0x129, 0x12b, 0x16e, 0x16f, 0x17e,
                                     0x17f, 0x1d6, 0x1e7, 0x1f0};
    for (unsigned k = 0; k < sizeof(moves) / sizeof(moves[0]); k++)
        reg(tab, moves[k], ex_sse_move);
    reg(tab, 0x170, ex_sse_shuf);
    reg(tab, 0x1c4, ex_sse_shuf);
    reg(tab, 0x1c5, ex_sse_shuf);
    reg(tab, 0x1c6, ex_sse_shuf);
    reg(tab, 0x171, ex_sse_shift_imm);
    reg(tab, 0x172, ex_sse_shift_imm);
    reg(tab, 0x173, ex_sse_shift_imm);
    reg(tab, 0x30f, ex_palignr);
    reg(tab, 0x1f7, ex_maskmov);
    reg(tab, 0x1c3, ex_movnti);
    reg(tab, 0x1ae, ex_grp15);
}
