/* smep_umip.c - SMEP and UMIP (CPUID.7:EBX.SMEP, ECX.UMIP):
 *  - UMIP off: sgdt/sidt/sldt/str/smsw work in ring 3; on: each is #GP(0)
 *    in ring 3 (and still works in ring 0);
 *  - SMEP off: ring 0 may call code in a user page; on: the fetch is a #PF
 *    with error code P|I (0x11) and CR2 = the address; supervisor pages
 *    still run.
 * Passes on QEMU TCG with -cpu max (qemu_check.sh runs the default CPU).
 * qemu-skip: the default QEMU CPU has no SMEP/UMIP (passes with -cpu max)
 * needs: paging32 */
#include "kit.h"

#define CR4_UMIP (1u << 11)
#define CR4_SMEP (1u << 20)

static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
static uint8_t scratch[8];

static uint32_t u_sgdt(void *a) { (void)a; __asm__ volatile("sgdt %0" : "=m"(scratch)); return 0; }
static uint32_t u_sidt(void *a) { (void)a; __asm__ volatile("sidt %0" : "=m"(scratch)); return 0; }
static uint32_t u_sldt(void *a) { (void)a; __asm__ volatile("sldt %0" : "=m"(*(uint16_t *)scratch)); return 0; }
static uint32_t u_str(void *a) { (void)a; __asm__ volatile("str %0" : "=m"(*(uint16_t *)scratch)); return 0; }
static uint32_t u_smsw(void *a) { (void)a; uint32_t v; __asm__ volatile("smsw %0" : "=r"(v)); return 0; }

static uint32_t (*user_fn)(void *);
static void run_user(void *arg)
{
    (void)arg;
    kit_run_user(user_fn, NULL, ustack + sizeof(ustack));
}

static const struct { const char *name; uint32_t (*fn)(void *); } insns[] = {
    {"sgdt", u_sgdt}, {"sidt", u_sidt}, {"sldt", u_sldt}, {"str", u_str}, {"smsw", u_smsw},
};

static void test_umip(void)
{
    for (unsigned k = 0; k < 5; k++) {
        user_fn = insns[k].fn;
        CHECK_EQ(kit_try(run_user, NULL), -1, "UMIP off: %s in ring 3 works", insns[k].name);
    }
    write_cr4(read_cr4() | CR4_UMIP);
    for (unsigned k = 0; k < 5; k++) {
        user_fn = insns[k].fn;
        int v = kit_try(run_user, NULL);
        CHECK_EQ(v, VEC_GP, "UMIP on: %s in ring 3 is #GP", insns[k].name);
        CHECK_EQ(kit_last_trap.error, 0, "UMIP on: %s error code 0", insns[k].name);
        CHECK_EQ(kit_last_trap.cs, KIT_SEL_UCODE, "UMIP on: %s faults in ring 3", insns[k].name);
    }
    u_sgdt(NULL);
    u_str(NULL);
    CHECK_EQ(*(uint16_t *)scratch, KIT_SEL_TSS, "UMIP on: str in ring 0 works");
    write_cr4(read_cr4() & ~CR4_UMIP);
}

#define UCODE_VA 0x00d00000u

static uint32_t call_ucode(void *a)
{
    (void)a;
    uint32_t r;
    __asm__ volatile("call *%1" : "=a"(r) : "r"(UCODE_VA) : "memory");
    return r;
}
static void kcall(void *a) { (void)a; call_ucode(NULL); }

static void test_smep(void)
{
    uint32_t *pd = kit_paging_init(0, false); /* the kit: supervisor pages */
    uint8_t *code = kit_alloc_page();
    /* mov eax, 0x5eb0; ret */
    static const uint8_t body[] = {0xb8, 0xb0, 0x5e, 0, 0, 0xc3};
    memcpy(code, body, sizeof(body));
    kit_map_4k(pd, UCODE_VA, (uint32_t)code, PTE_W | PTE_U);
    kit_flush_tlb();
    CHECK_EQ(call_ucode(NULL), 0x5eb0, "SMEP off: ring 0 runs code in a user page");
    write_cr4(read_cr4() | CR4_SMEP);
    int v = kit_try(kcall, NULL);
    CHECK_EQ(v, VEC_PF, "SMEP on: ring 0 fetch from a user page is #PF");
    CHECK_EQ(kit_last_trap.error, PF_ERR_P | 0x10, "SMEP #PF error code P|I");
    CHECK_EQ(kit_last_trap.cr2, UCODE_VA, "SMEP #PF CR2");
    CHECK_EQ(kit_last_trap.eip, UCODE_VA, "SMEP #PF EIP");
    /* (supervisor pages, this code, still run in ring 0) */
    write_cr4(read_cr4() & ~CR4_SMEP);
    CHECK_EQ(call_ucode(NULL), 0x5eb0, "SMEP off again: ring 0 runs it");
    kit_paging_disable();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(7, &a, &b, &c, &d);
    CHECK(b & (1u << 7), "CPUID.7:EBX reports SMEP");
    CHECK(c & (1u << 2), "CPUID.7:ECX reports UMIP");
    test_umip();
    test_smep();
    kit_done();
}
