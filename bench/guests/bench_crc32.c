/* bench_crc32.c - compute macrobenchmark: CRC-32 over n KiB of generated
 * data (cycling through a buffer of up to 4 MiB at 8 MiB physical), with the
 * same C code as the native baseline (crc32_core.h).  ops = bytes, so
 * cycles_per_op is cycles per byte.  Checks the table against the standard
 * check value and prints the checksum, which `popek bench` compares with
 * its own computation.
 * popek-args: --append n=16
 */
#include "bench_guest.h"
#include "crc32_core.h"

#define BUF_PA 0x00800000u

static uint32_t table[256];

int main(struct multiboot_info *mbi)
{
    uint32_t kib = bench_n(1024);
    uint32_t buf_len = crc32_buf_len(kib);
    if (mbi && (mbi->flags & MBI_FLAG_MEM))
        CHECK(mbi->mem_upper >= (8u << 10) + buf_len / 1024 - 1024,
              "enough RAM for the buffer");
    uint8_t *buf = (uint8_t *)BUF_PA;
    crc32_make_table(table);
    uint32_t check = crc32_update(table, 0xFFFFFFFFu,
                                  (const uint8_t *)"123456789", 9) ^ 0xFFFFFFFFu;
    CHECK_EQ(check, CRC32_CHECK_VALUE, "crc32(\"123456789\")");
    crc32_fill(buf, buf_len);
    uint64_t t0 = rdtsc();
    uint32_t sum = crc32_work(table, buf, buf_len, kib);
    uint64_t cycles = rdtsc() - t0;
    char extra[40];
    kit_snprintf(extra, sizeof(extra), "unit=byte crc=0x%08x", sum);
    bench_report("crc32", kib * 1024, cycles, extra);
    kit_done();
}
