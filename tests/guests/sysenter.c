/* sysenter.c - fast system calls: with IA32_SYSENTER_CS/ESP/EIP set, a
 * ring-3 sysenter enters the kit's handler in ring 0 on the MSR stack and
 * sysexit returns to ring 3 (CS 0x1b, SS 0x23) with the result, and the
 * exit call leaves ring 3 through sysenter as well; a sysenter with
 * IA32_SYSENTER_CS = 0 raises #GP(0). */
#include "kit.h"

static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
static volatile uint32_t got_pid, got_sum, after_cs, after_ss;

static uint32_t sys_mul(uint32_t a, uint32_t b, uint32_t c)
{
    (void)c;
    return a * b;
}

static uint32_t user_main(void *arg)
{
    (void)arg;
    got_pid = kit_sysenter(KIT_SYS_GETPID, 0, 0);
    got_sum = kit_sysenter(6, 6, 7);
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(after_cs), "=r"(after_ss));
    for (int i = 0; i < 100; i++)
        kit_sysenter(KIT_SYS_NULL, 0, 0);
    /* Leave through sysenter too: nothing here needs int 0x80. */
    kit_sysenter(KIT_SYS_EXIT, kit_sysenter(KIT_SYS_GETPID, 0, 0) + 1, 0);
    return 0;
}

static void run_user(void *arg)
{
    (void)arg;
    kit_run_user(user_main, NULL, ustack + sizeof(ustack));
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    CHECK(d & (1u << 11), "CPUID reports SEP");
    kit_syscall_set(6, sys_mul);
    kit_sysenter_init();
    CHECK_EQ(rdmsr(MSR_SYSENTER_CS) & 0xffff, KIT_SEL_KCODE, "SYSENTER_CS MSR reads back");
    uint32_t r = kit_run_user(user_main, NULL, ustack + sizeof(ustack));
    CHECK_EQ(got_pid, 42, "sysenter getpid returns 42");
    CHECK_EQ(got_sum, 42, "sysenter passes two arguments (6 * 7)");
    CHECK_EQ(after_cs, KIT_SEL_UCODE, "sysexit returns to CS 0x1b");
    CHECK_EQ(after_ss, KIT_SEL_UDATA, "sysexit returns to SS 0x23");
    CHECK_EQ(r, 43, "100 null sysenter calls later, ring 3 finishes normally");
    wrmsr(MSR_SYSENTER_CS, 0);
    int v = kit_try(run_user, NULL);
    CHECK_EQ(v, VEC_GP, "sysenter with SYSENTER_CS = 0 raises #GP");
    CHECK_EQ(kit_last_trap.error, 0, "#GP error code 0");
    return 0;
}
