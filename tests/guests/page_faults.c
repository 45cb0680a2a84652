/* page_faults.c - #PF reaches the guest's IDT with the right error code
 * (P/W/U bits), CR2 and faulting EIP: reading and writing a not-present
 * page, writing a read-only page from ring 0 with CR0.WP (and succeeding
 * without it), ring 3 reading or writing a supervisor page and writing a
 * read-only user page (CR0.WP or not); and a handler that maps
 * the missing page makes the retried instruction succeed.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

extern char pf_read_insn[], pf_write_insn[], pf_user_insn[], pf_user_write_insn[], pf_retry_insn[];

static volatile uint32_t *pf_addr;
static volatile uint32_t pf_value;

static void do_pf_read(void *arg)
{
    (void)arg;
    uint32_t v;
    __asm__ volatile("pf_read_insn: movl (%1), %0" : "=r"(v) : "r"(pf_addr) : "memory");
    pf_value = v;
}

static void do_pf_write(void *arg)
{
    (void)arg;
    __asm__ volatile("pf_write_insn: movl $0x1234, (%0)" :: "r"(pf_addr) : "memory");
}

/* Ring 3 reads *pf_addr, then leaves through the exit system call. */
static uint32_t user_read(void *arg)
{
    (void)arg;
    uint32_t v;
    __asm__ volatile("pf_user_insn: movl (%1), %0" : "=r"(v) : "r"(pf_addr) : "memory");
    return v;
}

static void do_user_read(void *arg)
{
    kit_run_user(user_read, NULL, arg);
}

static uint32_t user_write(void *arg)
{
    (void)arg;
    __asm__ volatile("pf_user_write_insn: movl $5, (%0)" :: "r"(pf_addr) : "memory");
    return 0;
}

static void do_user_write(void *arg)
{
    kit_run_user(user_write, NULL, arg);
}

/* #PF handler that maps the missing page and retries the instruction. */
static uint32_t *pd;
static volatile int pf_fixed;
static void map_on_fault(struct kit_frame *f)
{
    (void)f;
    uint32_t va = read_cr2() & ~0xfffu;
    kit_map_4k(pd, va, va, PTE_W);
    invlpg((void *)va);
    pf_fixed++;
}

static uint8_t pages[3][PAGE_SIZE] __attribute__((aligned(4096)));
static uint8_t user_stack[PAGE_SIZE] __attribute__((aligned(16)));

static void check_pf(int got, uint32_t err, const char *insn, uint32_t cr2, const char *what)
{
    CHECK_EQ(got, VEC_PF, "%s: vector 14", what);
    CHECK_EQ(kit_last_trap.error, err, "%s: error code %#x", what, err);
    CHECK_EQ(kit_last_trap.eip, (uint32_t)insn, "%s: EIP points at the faulting instruction", what);
    CHECK_EQ(kit_last_trap.cr2, cr2, "%s: CR2 holds the faulting address", what);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    int v;
    /* Identity map 16 MiB as user pages, then change the test pages. */
    pd = kit_paging_init(PTE_U, false);
    uint32_t a0 = (uint32_t)pages[0], a1 = (uint32_t)pages[1], a2 = (uint32_t)pages[2];
    ((volatile uint32_t *)pages[1])[0] = 0xcafe;

    kit_unmap(pd, a0);
    invlpg((void *)a0);
    pf_addr = (volatile uint32_t *)(a0 + 0x10);
    v = kit_try(do_pf_read, NULL);
    check_pf(v, 0, pf_read_insn, a0 + 0x10, "#PF reading a not-present page");
    v = kit_try(do_pf_write, NULL);
    check_pf(v, PF_ERR_W, pf_write_insn, a0 + 0x10, "#PF writing a not-present page");

    kit_map_4k(pd, a1, a1, 0); /* read-only, supervisor */
    invlpg((void *)a1);
    pf_addr = (volatile uint32_t *)a1;
    v = kit_try(do_pf_read, NULL);
    CHECK(v == -1 && pf_value == 0xcafe, "reading a read-only page works");
    v = kit_try(do_pf_write, NULL);
    check_pf(v, PF_ERR_P | PF_ERR_W, pf_write_insn, a1,
             "#PF writing a read-only page in ring 0 with CR0.WP");
    write_cr0(read_cr0() & ~CR0_WP);
    v = kit_try(do_pf_write, NULL);
    CHECK(v == -1 && *pf_addr == 0x1234, "ring 0 writes a read-only page when CR0.WP is clear");
    write_cr0(read_cr0() | CR0_WP);

    kit_map_4k(pd, a2, a2, PTE_W); /* supervisor only */
    invlpg((void *)a2);
    pf_addr = (volatile uint32_t *)(a2 + 4);
    v = kit_try(do_user_read, user_stack + sizeof(user_stack));
    check_pf(v, PF_ERR_P | PF_ERR_U, pf_user_insn, a2 + 4,
             "#PF reading a supervisor page from ring 3");
    CHECK_EQ(kit_last_trap.cs, KIT_SEL_UCODE, "#PF from ring 3 reports the ring-3 CS");
    v = kit_try(do_user_write, user_stack + sizeof(user_stack));
    check_pf(v, PF_ERR_P | PF_ERR_W | PF_ERR_U, pf_user_write_insn, a2 + 4,
             "#PF writing a supervisor page from ring 3");
    kit_map_4k(pd, a2, a2, PTE_U); /* user, read-only */
    invlpg((void *)a2);
    v = kit_try(do_user_write, user_stack + sizeof(user_stack));
    check_pf(v, PF_ERR_P | PF_ERR_W | PF_ERR_U, pf_user_write_insn, a2 + 4,
             "#PF writing a read-only user page from ring 3");
    write_cr0(read_cr0() & ~CR0_WP);
    v = kit_try(do_user_write, user_stack + sizeof(user_stack));
    check_pf(v, PF_ERR_P | PF_ERR_W | PF_ERR_U, pf_user_write_insn, a2 + 4,
             "#PF writing a read-only user page from ring 3 even without CR0.WP");
    write_cr0(read_cr0() | CR0_WP);

    /* Resume: the handler maps the page, the write is retried. */
    kit_set_handler(VEC_PF, map_on_fault);
    pf_addr = (volatile uint32_t *)(a0 + 8);
    __asm__ volatile("pf_retry_insn: movl $0xabcd, (%0)" :: "r"(pf_addr) : "memory");
    kit_set_handler(VEC_PF, NULL);
    CHECK_EQ(pf_fixed, 1, "#PF handler maps the page and the write is retried once");
    CHECK_EQ(kit_last_trap.eip, (uint32_t)pf_retry_insn, "#PF: EIP of the retried write");
    CHECK_EQ(*pf_addr, 0xabcd, "the retried write landed");
    return 0;
}
