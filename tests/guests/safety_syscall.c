/* safety_syscall.c - a guest's system-call instructions never reach the
 * host: int 0x80 with Linux system-call register values (write to stdout,
 * exit, exit_group) in ring 0 and ring 3 runs the guest's own IDT handler
 * with the registers intact; int 0x81 runs its handler in ring 0 and
 * raises #GP (DPL 0 gate) in ring 3; sysenter with the SYSENTER MSRs unset
 * raises #GP(0) in ring 0 and ring 3, and with them set enters the
 * guest's own entry point; the `syscall` (0F 05) and `sysret` (0F 07)
 * opcodes raise #UD (EFER.SCE is clear), and sysexit in ring 3 #GP(0).
 * If any of these reached the host, the marker text would appear on the
 * console (the .expected file would differ) or popek would exit with
 * another status. */
#include "kit.h"

#define LINUX_EXIT 1
#define LINUX_WRITE 4
#define LINUX_EXIT_GROUP 252

static const char leak[] = "HOST-SYSCALL-LEAK\n";
static uint8_t ustack[PAGE_SIZE] __attribute__((aligned(16)));

/* What the guest's handlers saw. */
static volatile uint32_t seen_nr, seen_a, seen_b, seen_c, seen_count;

static uint32_t rec_exit(uint32_t a, uint32_t b, uint32_t c)
{
    seen_nr = LINUX_EXIT, seen_a = a, seen_b = b, seen_c = c;
    seen_count++;
    return 0x1111;
}
static uint32_t rec_write(uint32_t a, uint32_t b, uint32_t c)
{
    seen_nr = LINUX_WRITE, seen_a = a, seen_b = b, seen_c = c;
    seen_count++;
    return 0x4444;
}

static void reset_seen(void) { seen_nr = seen_a = seen_b = seen_c = seen_count = 0; }

static uint32_t int80(uint32_t nr, uint32_t a, uint32_t b, uint32_t c)
{
    return kit_syscall(nr, a, b, c);
}

/* int 0x81 handler (ring 0 only: its gate has DPL 0). */
static volatile uint32_t int81_count, int81_eax;
static void on_int81(struct kit_frame *f)
{
    int81_count++;
    int81_eax = f->eax;
    f->eax = 0x8181;
}

static void do_int81(void *arg)
{
    (void)arg;
    uint32_t r;
    __asm__ volatile("int $0x81" : "=a"(r) : "a"(LINUX_EXIT), "b"(0) : "memory");
    int81_eax = r == 0x8181 ? int81_eax : 0xdead;
}
static void do_sysenter0(void *arg)
{
    (void)arg;
    __asm__ volatile("sysenter" ::"a"(LINUX_EXIT), "b"(0) : "memory");
}
static void do_syscall(void *arg)
{
    (void)arg;
    __asm__ volatile(".byte 0x0f, 0x05" ::"a"(LINUX_WRITE), "b"(1), "c"(leak), "d"(sizeof(leak) - 1) : "memory");
}
static void do_sysret(void *arg)
{
    (void)arg;
    __asm__ volatile(".byte 0x0f, 0x07" ::: "memory");
}

/* ---- ring 3 bodies ---- */
static volatile uint32_t user_ret;
static uint32_t user_int80(void *arg)
{
    (void)arg;
    user_ret = int80(LINUX_WRITE, 1, (uint32_t)leak, sizeof(leak) - 1);
    user_ret += int80(LINUX_EXIT, 0, 0, 0) << 16;
    if (int80(LINUX_EXIT_GROUP, 0, 0, 0) != 0xffffffffu)
        user_ret = 0;
    return 7;
}
static uint32_t user_int81(void *arg)
{
    (void)arg;
    __asm__ volatile("int $0x81" ::"a"(LINUX_EXIT), "b"(0) : "memory");
    return 1;
}
static uint32_t user_sysenter_raw(void *arg)
{
    (void)arg;
    __asm__ volatile("sysenter" ::"a"(LINUX_WRITE), "b"(1), "c"(leak), "d"(sizeof(leak) - 1) : "memory");
    return 1;
}
static uint32_t user_syscall(void *arg)
{
    (void)arg;
    __asm__ volatile(".byte 0x0f, 0x05" ::"a"(LINUX_EXIT_GROUP), "b"(0) : "memory");
    return 1;
}
static uint32_t user_sysexit(void *arg)
{
    (void)arg;
    __asm__ volatile("sysexit" ::"c"(0), "d"(0) : "memory");
    return 1;
}
static uint32_t user_sysenter_kit(void *arg)
{
    (void)arg;
    user_ret = kit_sysenter(LINUX_WRITE, 1, (uint32_t)leak);
    return kit_sysenter(LINUX_EXIT, 3, 0);
}

static uint32_t (*user_fn)(void *);
static void in_ring3(void *arg)
{
    (void)arg;
    kit_run_user(user_fn, NULL, ustack + sizeof(ustack));
}
static int try_user(uint32_t (*fn)(void *))
{
    user_fn = fn;
    return kit_try(in_ring3, NULL);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_syscall_set(LINUX_EXIT, rec_exit);
    kit_syscall_set(LINUX_WRITE, rec_write);

    /* ---- int 0x80, ring 0 ---- */
    reset_seen();
    uint32_t r = int80(LINUX_WRITE, 1, (uint32_t)leak, sizeof(leak) - 1);
    CHECK(r == 0x4444 && seen_count == 1 && seen_a == 1 && seen_b == (uint32_t)leak &&
              seen_c == sizeof(leak) - 1,
          "ring 0 int 0x80 write(1, buf, n) runs the guest's handler with its registers");
    reset_seen();
    r = int80(LINUX_EXIT, 0, 0, 0);
    CHECK(r == 0x1111 && seen_count == 1 && seen_nr == LINUX_EXIT,
          "ring 0 int 0x80 exit(0) runs the guest's handler and returns");
    r = int80(LINUX_EXIT_GROUP, 0, 0, 0);
    CHECK_EQ(r, 0xffffffffu, "ring 0 int 0x80 exit_group(0) returns the guest's -1");

    /* ---- int 0x80, ring 3 ---- */
    reset_seen();
    int v = try_user(user_int80);
    CHECK(v == -1 && user_ret == (0x4444u | 0x1111u << 16) && seen_count == 2,
          "ring 3 int 0x80 write/exit/exit_group all reach the guest's handler");

    /* ---- int 0x81 ---- */
    kit_set_handler(0x81, on_int81);
    v = kit_try(do_int81, NULL);
    CHECK(v == -1 && int81_count == 1 && int81_eax == LINUX_EXIT,
          "ring 0 int 0x81 runs the guest's handler");
    v = try_user(user_int81);
    CHECK(v == VEC_GP && kit_last_trap.error == (0x81u << 3 | 2) && int81_count == 1,
          "ring 3 int 0x81 (DPL 0 gate) raises #GP(0x40a)");
    kit_set_handler(0x81, NULL);

    /* ---- sysenter with the MSRs unset ---- */
    wrmsr(MSR_SYSENTER_CS, 0);
    wrmsr(MSR_SYSENTER_ESP, 0);
    wrmsr(MSR_SYSENTER_EIP, 0);
    v = kit_try(do_sysenter0, NULL);
    CHECK(v == VEC_GP && kit_last_trap.error == 0, "ring 0 sysenter with SYSENTER_CS = 0 raises #GP(0)");
    v = try_user(user_sysenter_raw);
    CHECK(v == VEC_GP && kit_last_trap.error == 0, "ring 3 sysenter with SYSENTER_CS = 0 raises #GP(0)");

    /* ---- sysenter with the MSRs set: the guest's own entry point ---- */
    kit_sysenter_init();
    reset_seen();
    user_ret = 0;
    r = kit_run_user(user_sysenter_kit, NULL, ustack + sizeof(ustack));
    CHECK(user_ret == 0x4444 && seen_count == 2 && seen_nr == LINUX_EXIT && seen_a == 3 && r == 0x1111,
          "ring 3 sysenter write/exit reach the guest's sysenter entry");

    /* ---- syscall / sysret / sysexit ---- */
    v = kit_try(do_syscall, NULL);
    CHECK_EQ(v, VEC_UD, "ring 0 syscall (0f 05) raises #UD");
    v = try_user(user_syscall);
    CHECK_EQ(v, VEC_UD, "ring 3 syscall (0f 05) raises #UD");
    v = kit_try(do_sysret, NULL);
    CHECK_EQ(v, VEC_UD, "ring 0 sysret (0f 07) raises #UD");
    v = try_user(user_sysexit);
    CHECK(v == VEC_GP && kit_last_trap.error == 0, "ring 3 sysexit raises #GP(0)");

    /* the same instructions again many times: translated code paths too */
    unsigned bad = 0;
    for (int k = 0; k < 200; k++) {
        reset_seen();
        if (int80(LINUX_WRITE, 1, (uint32_t)leak, 5) != 0x4444 || seen_count != 1)
            bad++;
        if (kit_try(do_syscall, NULL) != VEC_UD)
            bad++;
    }
    CHECK_EQ(bad, 0, "200 more int 0x80 / syscall rounds behave the same");
    return 0;
}
