/* safety_maps_big.c - a guest cannot exhaust popek's host mappings with
 * paging off either: with 1 GiB of RAM, three functions (`mov imm32,
 * %eax; ret`) on adjacent pages are called, then 43000 more, 24 KiB
 * apart (bt traces every page it translates code from: one write-
 * protected page each, so many host mappings); then an interpreted store
 * (mov %ds, mem) into the middle adjacent page, and every function's
 * immediate rewritten and each called again (last first): every call must
 * return the new value (a store into translated code that bt failed to
 * trace would run stale code) and popek must not crash.
 * popek-args: -m 1G
 */
#include "kit.h"

#define START (16u << 20)
#define END ((1u << 30) - PAGE_SIZE)
#define STRIDE (24u << 10)
#define RUN (8u << 20)

static uint32_t call_at(uint32_t a)
{
    return ((uint32_t(*)(void))a)();
}

static void put(uint32_t a, uint32_t imm)
{
    uint8_t *p = (uint8_t *)a;
    p[0] = 0xb8;
    memcpy(p + 1, &imm, 4);
    p[5] = 0xc3;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = 0, bad = 0;
    for (uint32_t k = 0; k < 3; k++) {
        put(RUN + k * PAGE_SIZE, k);
        bad += call_at(RUN + k * PAGE_SIZE) != k;
    }
    CHECK_EQ(bad, 0, "three functions on adjacent pages, each called");
    for (uint32_t a = START; a < END; a += STRIDE, n++)
        put(a, a ^ 0x5a5a5a5au);
    for (uint32_t a = START; a < END; a += STRIDE)
        if (call_at(a) != (a ^ 0x5a5a5a5au))
            bad++;
    CHECK_EQ(bad, 0, "%u functions on scattered pages, each called", n);
    volatile uint16_t *sel = (volatile uint16_t *)(RUN + PAGE_SIZE + 0x800);
    __asm__ volatile("movw %%ds, %0" : "=m"(*sel));
    CHECK_EQ(*sel, KIT_SEL_KDATA, "mov %%ds into the middle code page stored");
    put(RUN + PAGE_SIZE, 77);
    CHECK_EQ(call_at(RUN + PAGE_SIZE), 77, "its function rewritten runs anew");
    bad = 0;
    for (uint32_t a = START; a < END; a += STRIDE)
        put(a, a + 7);
    for (uint32_t a = END - 1 - (END - 1 - START) % STRIDE; a >= START;
         a -= STRIDE)
        if (call_at(a) != a + 7)
            bad++;
    CHECK_EQ(bad, 0, "each rewritten and called again: the new code runs");
    bad = 0;
    for (uint32_t a = START; a < END; a += STRIDE * 7) {
        put(a, ~a);
        if (call_at(a) != ~a)
            bad++;
    }
    CHECK_EQ(bad, 0, "rewritten once more right before each call");
    kit_done();
}
