/* test_interp_sse.c - the interpreter's SSE/SSE2/SSE3/SSSE3 (exec_sse.c):
 *  - differential: each encoding below runs in the interpreter and natively
 *    on the host (the same bytes: without REX they mean the same in 64-bit
 *    mode; [ebx] addresses a buffer), from the same random XMM registers,
 *    GPRs, MXCSR (rounding modes, DAZ/FTZ) and memory (random bits mixed
 *    with special floating-point values); XMM0-7, EAX ECX EDX, the status
 *    flags, MXCSR and the memory buffer must agree bit for bit;
 *  - the rules: #UD with CR4.OSFXSR=0 or CR0.EM=1, #NM with CR0.TS=1,
 *    #GP(0) for a misaligned movaps/addps operand (not for movups),
 *    ldmxcsr with a reserved bit #GP, an unmasked exception -> #XM with
 *    CR4.OSXMMEXCPT, #UD without, the destination unchanged and the flag
 *    set; MMX forms #UD. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engines/interp/cpu.h"
#include "interp_rig.h"
#include "test.h"

#define CR4_OSFXSR_ (1u << 9)

static void setup(void)
{
    rig_setup();
    c->cr4 |= CR4_OSFXSR_;
}

static int run(const uint8_t *bytes, size_t n)
{
    memcpy(ram + CODE, bytes, n);
    c->eip = CODE;
    return interp_step(c);
}

/* ---- the state both sides start from and end with ---- */
struct st {
    uint8_t xmm[8][16];  /* 0 */
    uint32_t mxcsr;      /* 128 */
    uint32_t flags;      /* 132 */
    uint32_t eax, ecx, edx; /* 136 140 144 */
};

static uint8_t *native;
#define NATIVE_SIZE 4096

/* rdi = struct st, rsi = memory (rbx) */
static void native_run(const uint8_t *insn, size_t n, struct st *s, uint8_t *mem)
{
    uint8_t code[512], *q = code;
    *q++ = 0x53;                                   /* push rbx */
    *q++ = 0x48; *q++ = 0x89; *q++ = 0xf3;         /* mov rbx, rsi */
    *q++ = 0x6a; *q++ = 0x02; *q++ = 0x9d;         /* push 2; popfq */
    for (int k = 0; k < 8; k++) {                  /* movdqu xmmk, [rdi+16k] */
        *q++ = 0xf3; *q++ = 0x0f; *q++ = 0x6f;
        *q++ = (uint8_t)(0x47 | (k << 3)); *q++ = (uint8_t)(16 * k);
    }
    static const uint8_t ld[] = {
        0x0f, 0xae, 0x97, 0x80, 0, 0, 0,           /* ldmxcsr [rdi+128] */
        0x8b, 0x87, 0x88, 0, 0, 0,                 /* mov eax, [rdi+136] */
        0x8b, 0x8f, 0x8c, 0, 0, 0,                 /* mov ecx, [rdi+140] */
        0x8b, 0x97, 0x90, 0, 0, 0,                 /* mov edx, [rdi+144] */
    };
    memcpy(q, ld, sizeof(ld));
    q += sizeof(ld);
    memcpy(q, insn, n);
    q += n;
    *q++ = 0x9c;                                   /* pushfq */
    for (int k = 0; k < 8; k++) {                  /* movdqu [rdi+16k], xmmk */
        *q++ = 0xf3; *q++ = 0x0f; *q++ = 0x7f;
        *q++ = (uint8_t)(0x47 | (k << 3)); *q++ = (uint8_t)(16 * k);
    }
    static const uint8_t st[] = {
        0x0f, 0xae, 0x9f, 0x80, 0, 0, 0,           /* stmxcsr [rdi+128] */
        0x89, 0x87, 0x88, 0, 0, 0,                 /* mov [rdi+136], eax */
        0x89, 0x8f, 0x8c, 0, 0, 0,                 /* mov [rdi+140], ecx */
        0x89, 0x97, 0x90, 0, 0, 0,                 /* mov [rdi+144], edx */
        0x58,                                      /* pop rax */
        0x89, 0x87, 0x84, 0, 0, 0,                 /* mov [rdi+132], eax */
        0x5b, 0xc3,                                /* pop rbx; ret */
    };
    memcpy(q, st, sizeof(st));
    q += sizeof(st);
    mprotect(native, NATIVE_SIZE, PROT_READ | PROT_WRITE);
    memcpy(native, code, (size_t)(q - code));
    mprotect(native, NATIVE_SIZE, PROT_READ | PROT_EXEC);
    void (*f)(struct st *, uint8_t *);
    memcpy(&f, &native, sizeof(f));
    uint32_t saved;
    __asm__ volatile("stmxcsr %0" : "=m"(saved));
    f(s, mem);
    __asm__ volatile("ldmxcsr %0" :: "m"(saved));
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static void fill(uint8_t *b, size_t n)
{
    static const uint32_t f32[] = {0, 0x80000000u, 0x3f800000u, 0x7f800000u,
                                   0xff800000u, 0x7fc00000u, 0x00000001u,
                                   0x7f7fffffu, 0x4f000000u, 0xcf000000u};
    static const uint64_t f64[] = {0, 0x3ff0000000000000ull,
                                   0x7ff0000000000000ull, 0x7ff8000000000000ull,
                                   0x0000000000000001ull, 0x41e0000000000000ull,
                                   0xc1e0000000000000ull};
    for (size_t k = 0; k < n; k += 4) {
        uint32_t v = rnd();
        switch (rnd() % 8) {
        case 0: v = f32[rnd() % 10]; break;
        case 1:
            if (k % 8 == 0 && k + 8 <= n) {
                uint64_t d = f64[rnd() % 7];
                memcpy(b + k, &d, 8);
                k += 4;
                continue;
            }
            break;
        case 2: v = (rnd() % 64) << 23 | 0x3f000000u; break; /* moderate */
        case 3: v &= 0x800003ffu; break;
        default: break;
        }
        memcpy(b + k, &v, 4);
    }
}

/* Encodings (32-bit; [ebx] is the memory operand, 16-byte aligned). */
static const char *const encs[] = {
    /* moves */
    "0f10ca", "0f100b", "0f11cb", "0f110b", "660f10d3", "f30f10ca",
    "f30f100b", "f30f110b", "f20f10ca", "f20f100b", "f20f110b", "0f28e1",
    "0f2803", "0f2923", "660f2903", "0f1203", "0f12ca", "0f1303", "0f1603",
    "0f16ca", "0f1703", "660f1203", "660f1603", "660f6ec8", "660f6e03",
    "660f7ec8", "660f7e03", "f30f7eca", "f30f7e03", "660fd6ca", "660fd603",
    "660f6fca", "660f6f03", "f30f6f03", "660f7f03", "f30f7f03", "0f2b03",
    "660fe703", "f20ff003", "f30f12ca", "f30f16ca", "f20f12ca", "f20f1203",
    /* arithmetic */
    "0f58ca", "660f58ca", "f30f58ca", "f20f58ca", "0f5803", "f30f5803",
    "f20f5803", "0f59ca", "0f5cca", "0f5dca", "0f5eca", "0f5fca", "660f5eca",
    "f20f5dca", "f30f5fca", "0f51ca", "660f51ca", "f30f51ca", "f20f51ca",
    "0f54ca", "0f55ca", "0f56ca", "0f57ca", "660f57ca", "660f54ca",
    "0fc2ca00", "0fc2ca01", "0fc2ca02", "0fc2ca03", "0fc2ca04", "0fc2ca07",
    "660fc2ca05", "f30fc2ca06", "f20fc20b01", "0f2eca", "0f2fca", "660f2eca",
    "660f2f03", "0f2f03",
    /* conversions */
    "f30f2ac8", "f20f2ac8", "f30f2a03", "f30f2cc1", "f30f2dc1", "f20f2cc1",
    "f20f2dc1", "f30f2c03", "f20f2d03", "0f5aca", "660f5aca", "f30f5aca",
    "f20f5aca", "0f5bca", "660f5bca", "f30f5bca", "660fe6ca", "f30fe6ca",
    "f20fe6ca", "0f50c1", "660f50c1",
    /* integer */
    "660f60ca", "660f61ca", "660f62ca", "660f63ca", "660f64ca", "660f65ca",
    "660f66ca", "660f67ca", "660f68ca", "660f69ca", "660f6aca", "660f6bca",
    "660f6cca", "660f6dca", "660f74ca", "660f75ca", "660f76ca", "660fd1ca",
    "660fd2ca", "660fd3ca", "660fd4ca", "660fd5ca", "660fd7c1", "660fd8ca",
    "660fdbca", "660fdcca", "660fdeca", "660fdfca", "660fe0ca", "660fe1ca",
    "660fe2ca", "660fe4ca", "660fe5ca", "660febca", "660fefca", "660ff1ca",
    "660ff4ca", "660ff5ca", "660ff6ca", "660ffaca", "660ffbca", "660ffeca",
    "660fef03", "660ffe03",
    /* shuffles, inserts, shifts by immediate */
    "0fc6ca1b", "0fc60b93", "660fc6ca01", "660f70ca1b", "f30f70cae4",
    "f20f70ca39", "660fc4c805", "660fc40b02", "660fc5c103", "660f71d203",
    "660f71e20f", "660f71f211", "660f72d21f", "660f72e205", "660f72f220",
    "660f73d23f", "660f73f201", "660f73da05", "660f73fa0b", "660f73da13",
    "0f14ca", "0f15ca", "660f14ca", "660f15ca",
    /* SSE3 / SSSE3 */
    "660f7cca", "f20f7cca", "660f7dca", "f20f7dca", "660fd0ca", "f20fd0ca",
    "660f3800ca", "660f3801ca", "660f3804ca", "660f3808ca", "660f380bca",
    "660f381cca", "660f381eca", "660f3a0fca05", "660f3a0fca13",
};

static size_t unhex(const char *s, uint8_t *b)
{
    size_t n = 0;
    for (; s[0] && s[1]; s += 2) {
        char t[3] = {s[0], s[1], 0};
        b[n++] = (uint8_t)strtoul(t, NULL, 16);
    }
    return n;
}

static void test_differential(void)
{
    if (!native)
        SKIP("no executable memory");
    static const uint32_t mx[] = {0x1f80, 0x3f80, 0x5f80, 0x7f80, 0x9fc0};
    unsigned cases = 0;
    for (size_t e = 0; e < sizeof(encs) / sizeof(encs[0]); e++) {
        uint8_t insn[16];
        size_t n = unhex(encs[e], insn);
        for (int rep = 0; rep < 60; rep++) {
            struct st a;
            _Alignas(16) uint8_t mem_n[64];
            fill(&a.xmm[0][0], sizeof(a.xmm));
            fill(mem_n, sizeof(mem_n));
            a.mxcsr = mx[rnd() % 5];
            a.flags = 0;
            a.eax = rnd();
            a.ecx = rnd() % 2 ? rnd() : rnd() % 100000;
            a.edx = rnd();
            setup();
            memcpy(c->fpu.fx + 160, a.xmm, sizeof(a.xmm));
            memcpy(c->fpu.fx + 24, &a.mxcsr, 4);
            c->r[R_EAX] = a.eax;
            c->r[R_ECX] = a.ecx;
            c->r[R_EDX] = a.edx;
            memcpy(ram + DATA, mem_n, sizeof(mem_n));
            struct st h = a;
            native_run(insn, n, &h, mem_n);
            int v = run(insn, n);
            cases++;
            CHECKF(v == -1, "%s: vector %d", encs[e], v);
            for (int k = 0; k < 8; k++)
                CHECKF(!memcmp(c->fpu.fx + 160 + 16 * k, h.xmm[k], 16),
                       "%s: xmm%d differs (rep %d)", encs[e], k, rep);
            uint32_t m;
            memcpy(&m, c->fpu.fx + 24, 4);
            CHECKF(m == h.mxcsr, "%s: mxcsr %#x, host %#x", encs[e], m, h.mxcsr);
            CHECKF(c->r[R_EAX] == h.eax && c->r[R_ECX] == h.ecx &&
                       c->r[R_EDX] == h.edx,
                   "%s: gprs %#x %#x %#x, host %#x %#x %#x", encs[e],
                   c->r[R_EAX], c->r[R_ECX], c->r[R_EDX], h.eax, h.ecx, h.edx);
            CHECKF(((c->eflags ^ h.flags) & 0x8d5) == 0,
                   "%s: flags %#x, host %#x", encs[e], c->eflags & 0x8d5,
                   h.flags & 0x8d5);
            CHECKF(!memcmp(ram + DATA, mem_n, sizeof(mem_n)),
                   "%s: memory differs", encs[e]);
            if (test_failed_now)
                return;
        }
    }
    printf("  %u SSE cases compared with the host, 0 mismatches\n", cases);
}

static void test_rules(void)
{
    static const uint8_t addps[] = {0x0f, 0x58, 0xca};
    setup();
    c->cr4 &= ~CR4_OSFXSR_;
    CHECK(run(addps, 3) == EXC_UD);
    setup();
    c->cr0 |= CR0_EM;
    CHECK(run(addps, 3) == EXC_UD);
    setup();
    c->cr0 |= CR0_TS;
    CHECK(run(addps, 3) == EXC_NM);
    /* alignment: movaps/addps [ebx+4] #GP(0); movups fine */
    static const uint8_t movaps[] = {0x0f, 0x28, 0x43, 0x04};
    static const uint8_t addpsm[] = {0x0f, 0x58, 0x43, 0x04};
    static const uint8_t movups[] = {0x0f, 0x10, 0x43, 0x04};
    setup();
    CHECK(run(movaps, 4) == EXC_GP);
    setup();
    CHECK(run(addpsm, 4) == EXC_GP);
    setup();
    CHECK(run(movups, 4) == -1);
    /* ldmxcsr with a reserved bit */
    static const uint8_t ldmxcsr[] = {0x0f, 0xae, 0x13};
    setup();
    put32(DATA, 0x1f80 | (1u << 20));
    CHECK(run(ldmxcsr, 3) == EXC_GP);
    setup();
    put32(DATA, 0x1f00); /* invalid-op unmasked */
    CHECK(run(ldmxcsr, 3) == -1);
    /* 0/0: invalid, unmasked: #UD without OSXMMEXCPT, #XM with it; the
     * destination stays, IE is set */
    static const uint8_t divps[] = {0x0f, 0x5e, 0xca};
    c->cr4 &= ~(1u << 10);
    memset(c->fpu.fx + 160, 0, 32);
    CHECK(run(divps, 3) == EXC_UD);
    uint32_t m;
    memcpy(&m, c->fpu.fx + 24, 4);
    CHECKF(m & 1, "IE after 0/0: %#x", m);
    c->cr4 |= 1u << 10;
    c->r[R_ESP] = STACK;
    CHECK(run(divps, 3) == EXC_XM);
    static const uint8_t zero[16] = {0};
    CHECK(!memcmp(c->fpu.fx + 160 + 16, zero, 16));
    /* MMX forms: #UD */
    static const uint8_t paddb_mmx[] = {0x0f, 0xfc, 0xca};
    setup();
    CHECK(run(paddb_mmx, 3) == EXC_UD);
    /* fences and clflush run without OSFXSR */
    static const uint8_t fences[] = {0x0f, 0xae, 0xe8};
    setup();
    c->cr4 &= ~CR4_OSFXSR_;
    CHECK(run(fences, 3) == -1);
}

int main(void)
{
    if (!rig_alloc())
        return 1;
    void *p = mmap(NULL, NATIVE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    native = p == MAP_FAILED ? NULL : p;
    if ((sse_host_features() & 0xf) != 0xf) {
        printf("SKIP test_differential: the host lacks SSE3/SSSE3\n");
    } else {
        RUN(test_differential);
    }
    RUN(test_rules);
    free(ram);
    free(c);
    TEST_MAIN_END();
}
