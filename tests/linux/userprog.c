/* userprog.c - an ordinary user program as a benchmark (issue 10): per
 * round, qsort of 20,000 ints with a comparison callback, an open-
 * addressing hash table (20,000 inserts and lookups), pointer chasing
 * through 65,536 list nodes in random order, malloc/free churn (10,000
 * blocks of random sizes) and memcpy of 1 MiB x 8.  Built as a static
 * i386 program by scripts/mkinitramfs.sh into the initramfs and run by
 * /init with popek.bench=userprog popek.n=N; the same binary runs
 * natively as a 32-bit host process.  Prints "BENCH name=userprog ops=N
 * cycles=C sum=S" (rdtsc; S checks that every run computed the same).
 * bench/native/native32.c includes this file (USERPROG_NO_MAIN) for the
 * native column of `popek bench` (64-bit there when the host cannot run
 * 32-bit programs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint64_t up_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

#define NSORT 20000
#define HBITS 15
#define NHASH 20000
#define NNODES 65536
#define NCHURN 10000
#define COPY (1u << 20)

struct node {
    struct node *next;
    uint32_t v;
};

static uint32_t round1(void)
{
    uint32_t sum = 0;
    static int a[NSORT];
    for (int k = 0; k < NSORT; k++)
        a[k] = (int)(rnd() % 1000000);
    qsort(a, NSORT, sizeof(int), cmp_int);
    sum += (uint32_t)a[NSORT / 2];

    static uint32_t keys[1u << HBITS], vals[1u << HBITS];
    memset(keys, 0, sizeof(keys));
    for (uint32_t k = 1; k <= NHASH; k++) {
        uint32_t key = k * 2654435761u | 1;
        uint32_t h = (key * 40503u) >> (32 - HBITS);
        while (keys[h])
            h = (h + 1) & ((1u << HBITS) - 1);
        keys[h] = key;
        vals[h] = k;
    }
    for (uint32_t k = 1; k <= NHASH; k += 3) {
        uint32_t key = k * 2654435761u | 1;
        uint32_t h = (key * 40503u) >> (32 - HBITS);
        while (keys[h] != key)
            h = (h + 1) & ((1u << HBITS) - 1);
        sum += vals[h];
    }

    static struct node nodes[NNODES];
    static uint32_t perm[NNODES];
    for (uint32_t k = 0; k < NNODES; k++)
        perm[k] = k;
    for (uint32_t k = NNODES - 1; k > 0; k--) {
        uint32_t j = rnd() % (k + 1), t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
    }
    for (uint32_t k = 0; k < NNODES; k++) {
        nodes[perm[k]].next = &nodes[perm[(k + 1) % NNODES]];
        nodes[perm[k]].v = k;
    }
    struct node *p = &nodes[perm[0]];
    for (uint32_t k = 0; k < NNODES * 4; k++) {
        sum += p->v;
        p = p->next;
    }

    static void *blocks[256];
    for (int k = 0; k < NCHURN; k++) {
        uint32_t r = rnd(), slot = r & 255;
        free(blocks[slot]);
        size_t size = 16 + (r >> 8) % 4000;
        blocks[slot] = malloc(size);
        if (!blocks[slot])
            return 0;
        memset(blocks[slot], (int)(r & 0xff), 16);
        sum += ((uint8_t *)blocks[slot])[0];
    }

    static uint8_t src[COPY], dst[COPY];
    for (int k = 0; k < 8; k++) {
        src[(unsigned)k * 4096] = (uint8_t)k;
        memcpy(dst, src, COPY);
        sum += dst[(unsigned)k * 4096];
    }
    return sum;
}

#ifndef USERPROG_NO_MAIN
int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10;
    if (n <= 0) {
        fprintf(stderr, "userprog: bad count\n");
        return 2;
    }
    uint32_t sum = 0;
    uint64_t t0 = up_rdtsc();
    for (long i = 0; i < n; i++)
        sum += round1();
    uint64_t t1 = up_rdtsc();
    printf("BENCH name=userprog ops=%ld cycles=%llu cycles_per_op=%.1f "
           "sum=%u\n", n, (unsigned long long)(t1 - t0),
           (double)(t1 - t0) / (double)n, sum);
    return 0;
}
#endif
