/* diskio.c - the disk macrobenchmark inside the Debian guest (bench/macro,
 * built by make as a static i386 program, run by run.sh): sequential
 * (1 MiB requests) or random (4 KiB requests, uniform over the disk) reads
 * or writes with O_DIRECT on a raw block device, for about SECS seconds of
 * the guest's CLOCK_MONOTONIC; writes end with fdatasync, inside the timed
 * span.  Prints
 *   BENCH name=disk_MODE ops=N cycles=C bytes=B secs=S
 * (C from rdtsc, B bytes moved, S seconds) for popek-bench.  Exits 1 on an
 * I/O error, 2 on bad arguments.
 *   diskio DEVICE seqread|seqwrite|randread|randwrite SECS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: diskio DEVICE seqread|seqwrite|randread|randwrite SECS\n");
        return 2;
    }
    const char *mode = argv[2];
    int seq = !strncmp(mode, "seq", 3), wr = strstr(mode, "write") != NULL;
    double secs = atof(argv[3]);
    if ((strcmp(mode + (seq ? 3 : 4), "read") && strcmp(mode + (seq ? 3 : 4), "write")) ||
        (!seq && strncmp(mode, "rand", 4)) || secs <= 0) {
        fprintf(stderr, "diskio: bad mode or seconds\n");
        return 2;
    }
    int fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) < 0)
        size = (uint64_t)lseek(fd, 0, SEEK_END);
    size_t bs = seq ? 1 << 20 : 4096;
    uint64_t blocks = size / bs;
    if (blocks < 16) {
        fprintf(stderr, "diskio: %s is too small\n", argv[1]);
        return 2;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, bs))
        return 1;
    memset(buf, 0x5a, bs);
    uint64_t ops = 0, blk = 0, x = 0x9e3779b97f4a7c15ull;
    double t0 = now();
    uint64_t c0 = rdtsc();
    double t;
    do {
        for (int i = 0; i < 16; i++, ops++) {
            if (seq) {
                blk = ops % blocks;
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                blk = x % blocks;
            }
            off_t off = (off_t)(blk * bs);
            ssize_t n = wr ? pwrite(fd, buf, bs, off) : pread(fd, buf, bs, off);
            if (n != (ssize_t)bs) {
                perror(wr ? "diskio: pwrite" : "diskio: pread");
                return 1;
            }
        }
        t = now();
    } while (t - t0 < secs);
    if (wr && fdatasync(fd) < 0) {
        perror("diskio: fdatasync");
        return 1;
    }
    t = now();
    uint64_t c1 = rdtsc();
    printf("BENCH name=disk_%s ops=%llu cycles=%llu bytes=%llu secs=%.4f\n", mode,
           (unsigned long long)ops, (unsigned long long)(c1 - c0),
           (unsigned long long)(ops * bs), t - t0);
    return 0;
}
