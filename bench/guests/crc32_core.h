/* crc32_core.h - the CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320)
 * compute kernel shared by the bench_crc32 guest and the native baseline
 * (bench/native/native32.c), so that both run exactly the same C code and
 * must produce the same checksum over the same generated data.
 * Freestanding: no libc, header-only. */
#ifndef POPEK_BENCH_CRC32_CORE_H
#define POPEK_BENCH_CRC32_CORE_H
#include <stdint.h>

#define CRC32_CHECK_VALUE 0xCBF43926u /* crc32("123456789") */

static inline void crc32_make_table(uint32_t table[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

/* Continue a CRC over buf (pass 0xFFFFFFFF to start; xor with 0xFFFFFFFF
 * at the end). */
static inline uint32_t crc32_update(const uint32_t table[256], uint32_t crc,
                                    const uint8_t *buf, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        crc = table[(crc ^ buf[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

/* Fill buf with a fixed pseudo-random byte stream (xorshift32). */
static inline void crc32_fill(uint8_t *buf, uint32_t len)
{
    uint32_t x = 0x12345678u;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t)x;
    }
}

/* The buffer the benchmark cycles through for `kib` KiB of work: 4 MiB,
 * or less when there is less work (so that filling it never costs more
 * than the work itself on a slow engine). */
static inline uint32_t crc32_buf_len(uint32_t kib)
{
    return (kib < 4096 ? kib : 4096) * 1024;
}

/* The benchmark's work: the CRC-32 of a stream of `kib` KiB made by
 * cycling through buf (`buf_len` bytes, a multiple of 1024) 1 KiB at a
 * time.  The same (kib, buf_len) gives the same checksum everywhere. */
static inline uint32_t crc32_work(const uint32_t table[256], const uint8_t *buf,
                                  uint32_t buf_len, uint32_t kib)
{
    uint32_t sum = 0xFFFFFFFFu, off = 0;
    for (uint32_t b = 0; b < kib; b++) {
        sum = crc32_update(table, sum, buf + off, 1024);
        off += 1024;
        if (off >= buf_len)
            off = 0;
    }
    return sum ^ 0xFFFFFFFFu;
}

#endif
