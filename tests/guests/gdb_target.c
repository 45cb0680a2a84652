/* gdb_target.c - the guest the gdb stub test (tests/control/test_gdb.sh)
 * debugs: a function called in a loop (software breakpoint, a variable to
 * read), one to stop at with a hardware breakpoint, a variable gdb writes
 * (printed at the end: 0 when no debugger changed it), and a page mapped
 * only at a high alias, so that reading it checks the stub's page walk.
 * Alone it is an ordinary self-checking guest.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

#define ALIAS 0x40000000u

static uint32_t frame[PAGE_SIZE / 4] __attribute__((aligned(4096)));
volatile uint32_t gdb_counter;
volatile uint32_t gdb_poke;

__attribute__((noinline)) void step_target(uint32_t i)
{
    gdb_counter += i;
    barrier();
}

__attribute__((noinline)) void gdb_done(void)
{
    barrier();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    frame[0] = 0xfeedf00du;
    uint32_t *pd = kit_pd_new();
    kit_map_identity(pd, 0, 8u << 20, PTE_W, false);
    kit_map_4k(pd, ALIAS, (uint32_t)frame, PTE_W);
    kit_paging_enable(pd);
    CHECK_EQ(*(volatile uint32_t *)ALIAS, 0xfeedf00du, "the alias maps the frame");
    for (uint32_t i = 1; i <= 5; i++)
        step_target(i);
    CHECK_EQ(gdb_counter, 15, "step_target ran five times");
    gdb_done();
    kit_printf("gdb_poke=%#x\n", gdb_poke);
    return 0;
}
