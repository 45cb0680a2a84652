/* bench_in.c - nanobenchmark: `in al, 0x80` n times in ring 0 (a port-I/O
 * exit on hardware virtualization, a device callout in a software VMM).
 * Checks that every read returns the same value (popek returns the last
 * value written to port 0x80; QEMU returns 0xff).
 * popek-args: --append n=300
 */
#include "bench_guest.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1000);
    outb(0x80, 0x5a);
    uint8_t first = inb(0x80);
    uint32_t differ = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        differ += inb(0x80) != first;
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(differ, 0, "every read of port 0x80 returned 0x%02x", first);
    char extra[16];
    kit_snprintf(extra, sizeof(extra), "value=0x%02x", first);
    bench_report("in", n, cycles, extra);
    kit_done();
}
