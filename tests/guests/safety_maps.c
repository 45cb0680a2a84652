/* safety_maps.c - a guest cannot exhaust popek's host mappings (bt maps
 * every shadow page on its own: scattered pages do not merge, and the
 * host allows only vm.max_map_count mappings per process): with paging
 * on, 34000 scattered linear pages (every other page of 266 MiB) are
 * mapped to 16 frames in turn and read twice, then written; the
 * values must be the frames'.  After that, stores into code (a patched
 * immediate) must run, PTE rewrites with invlpg (by mov and by rep movs)
 * must be seen at once, also interleaved with the first reads, and
 * a third pass over all pages must still read the right frames.  popek
 * must neither crash nor miss a store (bt flushes its shadows before the
 * host limit); the console output is the same on every engine.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define NPAGES 34000u
#define BASE 0x40000000u
#define NPT ((NPAGES * 2 + 1023) / 1024)
#define NFRAMES 16u

static uint32_t tables[NPT][1024] __attribute__((aligned(4096)));
static uint32_t frames[NFRAMES][PAGE_SIZE / 4] __attribute__((aligned(4096)));

/* maps_fn: mov $0, %eax; ret.  maps_fn + 1 is the imm32. */
__asm__(".text\n"
        ".globl maps_fn\n"
        "maps_fn: movl $0, %eax\n ret\n");
extern uint8_t maps_fn[];

static uint32_t call_fn(void)
{
    uint32_t r;
    __asm__ volatile("call maps_fn" : "=a"(r) :: "memory", "ecx", "edx");
    return r;
}

static volatile uint32_t *page(uint32_t k)
{
    return (volatile uint32_t *)(BASE + k * 2 * PAGE_SIZE);
}

/* Read every page: how many read something else than their frame's tag
 * (the frame of page k is (k + shift) % NFRAMES). */
static uint32_t read_all(uint32_t shift)
{
    uint32_t bad = 0;
    for (uint32_t k = 0; k < NPAGES; k++)
        if (page(k)[0] != 0xf0000000u + (k + shift) % NFRAMES)
            bad++;
    return bad;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t *pd = kit_paging_init(0, false);
    for (uint32_t f = 0; f < NFRAMES; f++)
        frames[f][0] = 0xf0000000u + f;
    for (uint32_t t = 0; t < NPT; t++)
        pd[(BASE >> 22) + t] = (uint32_t)tables[t] | PTE_P | PTE_W;
    for (uint32_t k = 0; k < NPAGES; k++) {
        uint32_t lin = (uint32_t)page(k);
        tables[(lin - BASE) >> 22][(lin >> 12) & 1023] =
            (uint32_t)frames[k % NFRAMES] | PTE_P | PTE_W;
    }
    kit_flush_tlb();
    CHECK_EQ(read_all(0), 0, "%u scattered pages read their frames", NPAGES);

    /* again, with a store into code and a PTE rewrite every 16 pages */
    uint32_t bad = 0;
    for (uint32_t k = 0; k < NPAGES; k++) {
        if (page(k)[0] != 0xf0000000u + k % NFRAMES)
            bad++;
        if (k % 16 == 15) {
            uint32_t want = k * 0x9e3779b1u;
            memcpy(maps_fn + 1, &want, 4);
            if (call_fn() != want)
                bad++;
            uint32_t lin = (uint32_t)page(k - 8);
            uint32_t *pte = &tables[(lin - BASE) >> 22][(lin >> 12) & 1023];
            *pte = (uint32_t)frames[(k + 3) % NFRAMES] | PTE_P | PTE_W;
            invlpg((void *)lin);
            if (page(k - 8)[0] != 0xf0000000u + (k + 3) % NFRAMES)
                bad++;
            /* restored by rep movsl: the interpreter's store (bt) */
            uint32_t v = (uint32_t)frames[(k - 8) % NFRAMES] | PTE_P | PTE_W;
            uint32_t *src = &v, *dst = pte, cnt = 1;
            __asm__ volatile("rep movsl" : "+S"(src), "+D"(dst), "+c"(cnt)
                             :: "memory");
            invlpg((void *)lin);
            if (page(k - 8)[0] != 0xf0000000u + (k - 8) % NFRAMES)
                bad++;
        }
    }
    CHECK_EQ(bad, 0, "the same with stores into code and PTE rewrites between");

    /* writes: each page adds its index to word 1 + k % 1000 of its frame */
    for (uint32_t k = 0; k < NPAGES; k++)
        page(k)[1 + k % 1000] += k;
    bad = 0;
    for (uint32_t f = 0; f < NFRAMES; f++)
        for (uint32_t w = 0; w < 1000; w++) {
            uint32_t want = 0;
            for (uint32_t k = w; k < NPAGES; k += 1000)
                if (k % NFRAMES == f)
                    want += k;
            if (frames[f][1 + w] != want)
                bad++;
        }
    CHECK_EQ(bad, 0, "%u scattered writes landed in their frames", NPAGES);

    bad = 0;
    for (uint32_t k = 0; k < 500; k++) {
        uint32_t want = k * 0x9e3779b1u;
        memcpy(maps_fn + 1, &want, 4);
        if (call_fn() != want)
            bad++;
    }
    CHECK_EQ(bad, 0, "after many mappings: 500 stores into code, each executed");

    /* rewrite 2000 PTEs to the next frame (invlpg each) and read back */
    bad = 0;
    for (uint32_t k = 0; k < NPAGES; k += NPAGES / 2000) {
        uint32_t lin = (uint32_t)page(k);
        tables[(lin - BASE) >> 22][(lin >> 12) & 1023] =
            (uint32_t)frames[(k + 1) % NFRAMES] | PTE_P | PTE_W;
        invlpg((void *)lin);
        if (page(k)[0] != 0xf0000000u + (k + 1) % NFRAMES)
            bad++;
    }
    CHECK_EQ(bad, 0, "after many mappings: 2000 PTE rewrites seen at once");

    /* all PTEs to the next frame, one CR3 reload */
    for (uint32_t k = 0; k < NPAGES; k++) {
        uint32_t lin = (uint32_t)page(k);
        tables[(lin - BASE) >> 22][(lin >> 12) & 1023] =
            (uint32_t)frames[(k + 1) % NFRAMES] | PTE_P | PTE_W;
    }
    kit_flush_tlb();
    CHECK_EQ(read_all(1), 0, "all %u PTEs rewritten: every page reads its new frame",
             NPAGES);
    kit_paging_disable();
    kit_done();
}
