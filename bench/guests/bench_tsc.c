/* bench_tsc.c - not a benchmark: measures the rate of the guest's TSC
 * against the PIT (channel 2, 1.193182 MHz), so that `popek bench` can turn
 * every engine's rdtsc cycles into host cycles (an engine may run its TSC
 * at another rate than the host's, e.g. 1 GHz from the host clock).
 * n = number of ~50 ms windows.  Prints "BENCH name=tsc ops=<PIT ticks>
 * cycles=<TSC ticks>", i.e. cycles_per_op = TSC ticks per PIT tick.
 * popek-args: --append n=1
 */
#include "bench_guest.h"

#define WINDOW_TICKS 59659u /* 50 ms of PIT ticks */

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(4);
    uint64_t tsc = 0;
    for (uint32_t i = 0; i < n; i++) {
        kit_pit2_start((uint16_t)WINDOW_TICKS);
        uint64_t t0 = rdtsc();
        while (!kit_pit2_done())
            pause();
        tsc += rdtsc() - t0;
    }
    CHECK(tsc > 0, "the TSC advances while the PIT counts");
    bench_report("tsc", n * WINDOW_TICKS, tsc, NULL);
    kit_done();
}
