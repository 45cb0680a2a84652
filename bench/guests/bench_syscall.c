/* bench_syscall.c - nanobenchmark: the null system call, ring 3 -> ring 0 ->
 * ring 3, n times, once through int 0x80 (syscall_int80) and once through
 * sysenter/sysexit (syscall_sysenter).  The ring-0 handler counts its calls
 * and returns its argument + 1; the ring-3 loop checks every result.
 * popek-args: --append n=300
 */
#include "bench_guest.h"

#define SYS_BENCH 10

static volatile uint32_t handler_calls;

static uint32_t sys_bench(uint32_t a, uint32_t b, uint32_t c)
{
    (void)b;
    (void)c;
    handler_calls++;
    return a + 1;
}

struct user_loop {
    uint32_t n;
    bool use_sysenter;
    uint64_t cycles;
    uint32_t wrong;
};

/* Runs in ring 3. */
static uint32_t user_loop(void *arg)
{
    struct user_loop *u = arg;
    uint32_t wrong = 0;
    uint64_t t0 = rdtsc();
    if (u->use_sysenter) {
        for (uint32_t i = 0; i < u->n; i++)
            wrong += kit_sysenter(SYS_BENCH, i, 0) != i + 1;
    } else {
        for (uint32_t i = 0; i < u->n; i++)
            wrong += kit_syscall(SYS_BENCH, i, 0, 0) != i + 1;
    }
    u->cycles = rdtsc() - t0;
    u->wrong = wrong;
    return 0;
}

static uint8_t user_stack[8192] __attribute__((aligned(16)));

static void run(const char *name, uint32_t n, bool use_sysenter)
{
    struct user_loop u = {.n = n, .use_sysenter = use_sysenter};
    handler_calls = 0;
    uint32_t rc = kit_run_user(user_loop, &u, user_stack + sizeof(user_stack));
    CHECK_EQ(rc, 0, "%s: ring-3 loop returned", name);
    CHECK_EQ(handler_calls, n, "%s: the ring-0 handler ran n times", name);
    CHECK_EQ(u.wrong, 0, "%s: every call returned its argument + 1", name);
    bench_report(name, n, u.cycles, NULL);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(1000);
    kit_syscall_set(SYS_BENCH, sys_bench);
    if (bench_wanted("syscall_int80"))
        run("syscall_int80", n, false);
    if (bench_wanted("syscall_sysenter")) {
        kit_sysenter_init();
        run("syscall_sysenter", n, true);
    }
    kit_done();
}
