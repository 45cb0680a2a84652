/* bench_tsc.c - not a benchmark: measures the rate of the guest's TSC
 * against the CMOS real-time clock (n whole seconds, edge to edge), so that
 * `popek bench` can turn every engine's rdtsc cycles into host cycles (an
 * engine may run its TSC at another rate than the host's, e.g. 1 GHz from
 * the host clock).  Prints "BENCH name=tsc ops=<seconds> cycles=<TSC
 * ticks>", i.e. cycles_per_op = TSC ticks per second.
 * popek-args: --append n=1
 */
#include "bench_guest.h"

/* Spin until the RTC's seconds register changes; returns the TSC then. */
static uint64_t next_second_edge(void)
{
    uint8_t s = kit_cmos_read(0);
    while (kit_cmos_read(0) == s)
        pause();
    return rdtsc();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1);
    uint64_t t0 = next_second_edge(), t1 = t0;
    for (uint32_t i = 0; i < n; i++)
        t1 = next_second_edge();
    CHECK(t1 > t0, "the TSC advances while the RTC ticks");
    bench_report("tsc", n, t1 - t0, NULL);
    kit_done();
}
