/* bench_divzero.c - nanobenchmark: a divide error (#DE) taken by the guest
 * kernel, whose handler counts it and skips the 2-byte `div ecx`; n times.
 * Checks the handler ran exactly n times.
 * popek-args: --append n=300
 */
#include "bench_guest.h"

static volatile uint32_t de_count;

static void on_divide_error(struct kit_frame *f)
{
    de_count++;
    f->eip += 2; /* f7 f1 = div ecx */
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1000);
    kit_set_handler(VEC_DE, on_divide_error);
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        uint32_t a = 1, d = 0;
        __asm__ volatile(".byte 0xf7, 0xf1" /* div ecx */
                         : "+a"(a), "+d"(d) : "c"(0) : "cc", "memory");
    }
    uint64_t cycles = rdtsc() - t0;
    kit_set_handler(VEC_DE, NULL);
    CHECK_EQ(de_count, n, "the #DE handler ran n times");
    bench_report("divzero", n, cycles, NULL);
    kit_done();
}
