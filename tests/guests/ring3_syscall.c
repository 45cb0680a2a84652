/* ring3_syscall.c - a ring-3 program makes int 0x80 system calls (gate
 * DPL 3) back into ring 0: it prints through the kernel, gets values back,
 * reaches a handler the guest registers with three arguments, gets -1 for
 * an unknown call, and leaves with the exit call or by returning; its
 * CS/SS carry RPL 3.  Runs with paging off, then with user pages.
 * needs: paging32 (turns on 32-bit paging)
 */
#include "kit.h"

static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));
#define USTACK_TOP (ustack + sizeof(ustack))

static volatile uint32_t u_cs, u_ss, u_pid, u_sum, u_bad, u_written;

static uint32_t sys_add(uint32_t a, uint32_t b, uint32_t c)
{
    return a + b + c;
}

static uint32_t user_main(void *arg)
{
    __asm__ volatile("mov %%cs, %0; mov %%ss, %1" : "=r"(u_cs), "=r"(u_ss));
    u_written = kit_sys_write((const char *)arg);
    u_pid = kit_syscall(KIT_SYS_GETPID, 0, 0, 0);
    u_sum = kit_syscall(5, 1, 20, 300);
    u_bad = kit_syscall(KIT_SYS_MAX + 3, 0, 0, 0);
    return 0x600d;
}

static uint32_t user_exit_early(void *arg)
{
    (void)arg;
    kit_sys_exit(77);
}

static void round(const char *label)
{
    u_cs = u_ss = u_pid = u_sum = u_written = 0;
    u_bad = 1;
    uint32_t r = kit_run_user(user_main, "hello from ring 3 via int 0x80\n", USTACK_TOP);
    CHECK_EQ(r, 0x600d, "%s: the user function's return value comes back", label);
    CHECK_EQ(u_cs, KIT_SEL_UCODE, "%s: user CS is 0x1b", label);
    CHECK_EQ(u_ss, KIT_SEL_UDATA, "%s: user SS is 0x23", label);
    CHECK_EQ(u_written, 31, "%s: write system call returns the length", label);
    CHECK_EQ(u_pid, 42, "%s: getpid system call returns 42", label);
    CHECK_EQ(u_sum, 321, "%s: a guest-registered system call gets three arguments", label);
    CHECK_EQ(u_bad, 0xffffffffu, "%s: an unknown system call returns -1", label);
    CHECK_EQ(kit_run_user(user_exit_early, NULL, USTACK_TOP), 77, "%s: exit system call", label);
    CHECK_EQ(read_cs(), KIT_SEL_KCODE, "%s: back in ring 0", label);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_syscall_set(5, sys_add);
    round("no paging");
    kit_paging_init(PTE_U, false);
    round("user pages");
    return 0;
}
