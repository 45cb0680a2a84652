/* sse.c - SSE and SSE2 as a guest sees them (the kit itself is built
 * without SSE; the instructions are inline assembly):
 *  - CPUID.1:EDX reports SSE and SSE2;
 *  - with CR4.OSFXSR=0 an SSE instruction is #UD; with CR0.TS=1 #NM;
 *  - results: addps, mulpd, sqrtsd, cvttsd2si, cvtsi2sd, comisd flags,
 *    pshufd, paddq, pmovmskb, packed compares, movd/movq, shufps;
 *  - a misaligned movdqa is #GP(0), movdqu is not; ldmxcsr with a
 *    reserved bit is #GP(0);
 *  - 0/0 with the invalid exception unmasked: #XM with CR4.OSXMMEXCPT,
 *    #UD without, MXCSR.IE set, destination unchanged;
 *  - XMM state survives a loop of integer code (bt translates it and calls
 *    the SSE instructions out) and an fxsave/fxrstor round trip.
 * QEMU TCG (-cpu max) passes all but the ldmxcsr #GP and the #XM/#UD
 * checks: it raises no SIMD floating-point exceptions.
 * qemu-skip: QEMU TCG raises no #XM and takes reserved MXCSR bits */
#include "kit.h"

#define CR0_EM (1u << 2)
#define CR0_MP (1u << 1)
#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define VEC_XM 19

static uint32_t buf[16] __attribute__((aligned(16)));
static uint32_t out[16] __attribute__((aligned(16)));
static uint8_t fxarea[512] __attribute__((aligned(16)));

static void do_addps(void *a)
{
    (void)a;
    __asm__ volatile("movups %0, %%xmm0; addps %%xmm0, %%xmm0; movups %%xmm0, %1"
                     :: "m"(buf), "m"(out) : "memory");
}

static void do_movdqa_misaligned(void *a)
{
    (void)a;
    __asm__ volatile("movdqa 4(%0), %%xmm1" :: "r"(buf) : "memory");
}

static void do_movdqu_misaligned(void *a)
{
    (void)a;
    __asm__ volatile("movdqu 4(%0), %%xmm1" :: "r"(buf) : "memory");
}

static uint32_t mx;
static void do_ldmxcsr(void *a)
{
    (void)a;
    __asm__ volatile("ldmxcsr %0" :: "m"(mx));
}

static void do_div00(void *a)
{
    (void)a;
    __asm__ volatile("xorps %%xmm2, %%xmm2; xorps %%xmm3, %%xmm3\n"
                     "divps %%xmm3, %%xmm2" ::: "memory");
}

static uint32_t stmxcsr(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static void test_results(void)
{
    /* addps: 1.5 + 1.5 = 3.0 (0x40400000), -2 + -2 = -4 */
    buf[0] = 0x3fc00000u; buf[1] = 0xc0000000u; buf[2] = 0; buf[3] = 0x7f800000u;
    do_addps(NULL);
    CHECK_EQ(out[0], 0x40400000u, "addps 1.5+1.5");
    CHECK_EQ(out[1], 0xc0800000u, "addps -2+-2");
    CHECK_EQ(out[3], 0x7f800000u, "addps inf+inf");

    /* mulpd, sqrtsd, cvttsd2si, cvtsi2sd */
    uint64_t d[2] = {0x4008000000000000ull /* 3.0 */, 0xbff8000000000000ull /* -1.5 */};
    uint64_t r[2];
    int32_t t;
    __asm__ volatile("movupd %2, %%xmm4; mulpd %%xmm4, %%xmm4; movupd %%xmm4, %0\n"
                     "sqrtsd %%xmm4, %%xmm5; cvttsd2si %%xmm5, %1"
                     : "=m"(r), "=r"(t) : "m"(d) : "memory");
    CHECK_EQ(r[0], 0x4022000000000000ull, "mulpd 3*3 = 9");
    CHECK_EQ(r[1], 0x4002000000000000ull, "mulpd -1.5*-1.5 = 2.25");
    CHECK_EQ(t, 3, "sqrtsd 9 = 3, cvttsd2si");
    uint64_t cv;
    __asm__ volatile("cvtsi2sd %1, %%xmm6; movq %%xmm6, %0" : "=m"(cv) : "r"(-7) : "memory");
    CHECK_EQ(cv, 0xc01c000000000000ull, "cvtsi2sd -7");

    /* comisd: 1 < 2 -> CF; equal -> ZF; NaN -> ZF PF CF */
    uint64_t one = 0x3ff0000000000000ull, two = 0x4000000000000000ull,
             nan = 0x7ff8000000000000ull;
    uint32_t f1, f2, f3;
    __asm__ volatile("movq %3, %%xmm0; movq %4, %%xmm1; comisd %%xmm1, %%xmm0\n"
                     "pushfl; popl %0\n"
                     "comisd %%xmm0, %%xmm0; pushfl; popl %1\n"
                     "movq %5, %%xmm1; ucomisd %%xmm1, %%xmm0; pushfl; popl %2"
                     : "=r"(f1), "=r"(f2), "=r"(f3) : "m"(one), "m"(two), "m"(nan)
                     : "memory", "cc");
    CHECK_EQ(f1 & 0x8d5, 0x001, "comisd 1 < 2: CF");
    CHECK_EQ(f2 & 0x8d5, 0x040, "comisd 1 == 1: ZF");
    CHECK_EQ(f3 & 0x8d5, 0x045, "ucomisd NaN: ZF PF CF");

    /* integer: pshufd, paddq, pcmpeqb + pmovmskb, movd */
    for (int k = 0; k < 4; k++)
        buf[k] = 0x11111111u * (uint32_t)(k + 1);
    uint32_t msk, lo;
    __asm__ volatile("movdqu %2, %%xmm0; pshufd $0x1b, %%xmm0, %%xmm1; movdqu %%xmm1, %0\n"
                     "pcmpeqb %%xmm0, %%xmm1; pmovmskb %%xmm1, %1\n"
                     "paddq %%xmm0, %%xmm0; movd %%xmm0, %3"
                     : "=m"(out), "=r"(msk), "=m"(buf), "=r"(lo) :: "memory");
    CHECK(out[0] == 0x44444444u && out[1] == 0x33333333u && out[2] == 0x22222222u &&
          out[3] == 0x11111111u, "pshufd $0x1b reverses the dwords");
    CHECK_EQ(msk, 0x0000, "pcmpeqb of reversed dwords: no equal bytes");
    CHECK_EQ(lo, 0x22222222u, "paddq low dword");
    /* shufps */
    __asm__ volatile("movdqu %1, %%xmm2; shufps $0xe4, %%xmm2, %%xmm2; movdqu %%xmm2, %0"
                     : "=m"(out) : "m"(buf) : "memory");
    CHECK(out[0] == 0x11111111u && out[3] == 0x44444444u, "shufps $0xe4 is the identity");
}

static void test_state(void)
{
    /* a loop of integer code around SSE instructions */
    uint32_t one4[4] __attribute__((aligned(16))) = {1, 2, 3, 4};
    uint32_t sum[4] __attribute__((aligned(16)));
    uint32_t n = 1000, acc = 0;
    __asm__ volatile("pxor %%xmm7, %%xmm7; movdqa %3, %%xmm6\n"
                     "1: paddd %%xmm6, %%xmm7; addl %%ecx, %1; decl %%ecx; jnz 1b\n"
                     "movdqa %%xmm7, %0"
                     : "=m"(sum), "+r"(acc), "+c"(n) : "m"(one4) : "memory", "cc");
    CHECK(sum[0] == 1000 && sum[1] == 2000 && sum[2] == 3000 && sum[3] == 4000,
          "paddd in a 1000-iteration loop");
    CHECK_EQ(acc, 500500, "the loop's integer work");
    /* fxsave / fxrstor round trip of XMM7 */
    __asm__ volatile("fxsave %0; pxor %%xmm7, %%xmm7; fxrstor %0; movdqa %%xmm7, %1"
                     : "+m"(fxarea), "=m"(sum) :: "memory");
    CHECK(sum[0] == 1000 && sum[3] == 4000, "fxsave/fxrstor keeps XMM7");
    uint32_t x7;
    memcpy(&x7, fxarea + 160 + 7 * 16 + 12, 4);
    CHECK_EQ(x7, 4000, "XMM7 in the FXSAVE image at 160 + 16*7");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    CHECK((d >> 25 & 3) == 3, "CPUID.1:EDX reports SSE and SSE2");

    write_cr4(read_cr4() & ~(CR4_OSFXSR | CR4_OSXMMEXCPT));
    CHECK_EQ(kit_try(do_addps, NULL), VEC_UD, "CR4.OSFXSR=0: addps is #UD");
    write_cr0((read_cr0() & ~CR0_EM) | CR0_MP);
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    write_cr0(read_cr0() | CR0_TS);
    CHECK_EQ(kit_try(do_addps, NULL), VEC_NM, "CR0.TS=1: addps is #NM");
    __asm__ volatile("clts");
    CHECK_EQ(kit_try(do_addps, NULL), -1, "enabled: addps runs");
    CHECK_EQ(stmxcsr(), 0x1f80, "MXCSR reset value");

    test_results();

    CHECK_EQ(kit_try(do_movdqa_misaligned, NULL), VEC_GP, "misaligned movdqa: #GP");
    CHECK_EQ(kit_last_trap.error, 0, "misaligned movdqa: error code 0");
    CHECK_EQ(kit_try(do_movdqu_misaligned, NULL), -1, "misaligned movdqu runs");
    mx = 0x1f80 | (1u << 16);
    CHECK_EQ(kit_try(do_ldmxcsr, NULL), VEC_GP, "ldmxcsr with reserved bit 16: #GP");

    /* 0/0 with IM unmasked */
    mx = 0x1f80 & ~0x80u;
    do_ldmxcsr(NULL);
    CHECK_EQ(kit_try(do_div00, NULL), VEC_XM, "0/0 unmasked, OSXMMEXCPT: #XM");
    CHECK(stmxcsr() & 1, "MXCSR.IE set");
    write_cr4(read_cr4() & ~CR4_OSXMMEXCPT);
    CHECK_EQ(kit_try(do_div00, NULL), VEC_UD, "0/0 unmasked, no OSXMMEXCPT: #UD");
    write_cr4(read_cr4() | CR4_OSXMMEXCPT);
    mx = 0x1f80;
    do_ldmxcsr(NULL);
    CHECK_EQ(kit_try(do_div00, NULL), -1, "0/0 masked: no exception");
    CHECK(stmxcsr() & 1, "masked 0/0 sets IE");

    test_state();
    kit_done();
}
