/* bench_pv.c - the paravirtual nanobenchmarks: the kit's ring-1 kernel
 * (tests/guests/lib/pv.c) doing what the other nanobenchmarks do in ring 0,
 * through popek's hypercalls instead of privileged instructions:
 *   pv_syscall   null system call from ring 3: int 0x80 straight to the
 *                ring-1 handler through the trap table, back with IRET
 *   pv_in        a port read through PORT_IO (for bench_in's in al, 0x80)
 *   pv_clisti    virtual cli + sti: two stores to the shared page (for
 *                crwr's trapping privileged instruction)
 *   pv_pgfault   a page fault in ring 1 through the trap table, the handler
 *                maps the page with one MMU_UPDATE and returns with IRET
 *   pv_ptemod    a PTE rewrite + invalidation with one MMU_UPDATE, then a
 *                read through the mapping (for bench_ptemod)
 *   pv_ptemod_batch  the same for up to 32 PTEs per MMU_UPDATE (flush
 *                all), n PTEs; cycles per PTE
 * Each checks its work and prints the BENCH line through CONSOLE_WRITE.
 * popek-args: --append n=300
 */
#include "kit_pv.h"

#define SYS_BENCH 10
#define WINDOW_VA 0x40000000u
#define FRAMES_PA 0x00800000u
#define BATCH 32u

static uint32_t n;
static volatile uint32_t handler_calls, faults;
static uint8_t ustack[8192] __attribute__((aligned(16)));
static uint32_t req[BATCH][2];

static bool wanted(const char *name)
{
    char only[40];
    if (!kit_param("only", only, sizeof(only)) || !only[0])
        return true;
    return strcmp(only, name) == 0;
}

static uint64_t div64(uint64_t a, uint32_t d)
{
    uint32_t hi = (uint32_t)(a >> 32), lo = (uint32_t)a;
    uint32_t qhi = hi / d, r = hi % d, qlo;
    __asm__("divl %2" : "=a"(qlo), "+d"(r) : "rm"(d), "a"(lo));
    return ((uint64_t)qhi << 32) | qlo;
}

static void report(const char *name, uint32_t ops, uint64_t cycles)
{
    uint64_t tenths = div64(cycles * 10, ops ? ops : 1);
    pv_printf("BENCH name=%s ops=%u cycles=%llu cycles_per_op=%llu.%u\n", name,
              ops, (unsigned long long)cycles,
              (unsigned long long)div64(tenths, 10),
              (unsigned)(tenths - div64(tenths, 10) * 10));
}

static void on_syscall(struct pv_frame *f)
{
    if (f->eax == KIT_SYS_EXIT)
        pv_user_exit(f->ebx);
    handler_calls++;
    f->eax = f->ebx + 1;
}

struct user_loop {
    uint64_t cycles;
    uint32_t wrong;
};

static uint32_t user_loop(void *arg)
{
    struct user_loop *u = arg;
    uint32_t wrong = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        wrong += kit_syscall(SYS_BENCH, i, 0, 0) != i + 1;
    u->cycles = rdtsc() - t0;
    u->wrong = wrong;
    return 0;
}

static void bench_syscall(void)
{
    struct user_loop u = {0};
    pv_set_handler(0x80, on_syscall, PV_TRAP_DPL3);
    handler_calls = 0;
    uint32_t rc = pv_run_user(user_loop, &u, ustack + sizeof(ustack));
    PV_CHECK(rc == 0 && handler_calls == n && u.wrong == 0,
             "pv_syscall: n calls through the trap table, each returned a + 1");
    pv_set_handler(0x80, NULL, PV_TRAP_DPL3);
    report("pv_syscall", n, u.cycles);
}

static void bench_in(void)
{
    pv_call(HC_PORT_IO, 0x80, 0x101, 0x5a, 0);
    uint32_t differ = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        differ += pv_inb(0x80) != 0x5a;
    uint64_t cycles = rdtsc() - t0;
    PV_CHECK_EQ(differ, 0, "pv_in: every PORT_IO read of port 0x80 returned 0x5a");
    report("pv_in", n, cycles);
}

static void bench_clisti(void)
{
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        pv_cli();
        pv_sti();
    }
    uint64_t cycles = rdtsc() - t0;
    PV_CHECK_EQ(pv_shared.vif & 1, 1, "pv_clisti: events enabled at the end");
    report("pv_clisti", n, cycles);
}

static void on_pf(struct pv_frame *f)
{
    uint32_t off = pv_shared.cr2 - WINDOW_VA;
    if (off >= 1024 * PAGE_SIZE || (f->error & 1))
        pv_fail("unexpected page fault at %#x", pv_shared.cr2);
    uint32_t idx = off / PAGE_SIZE;
    if (pv_map(WINDOW_VA + idx * PAGE_SIZE, FRAMES_PA + idx * PAGE_SIZE,
               PTE_W) != 1)
        pv_fail("MMU_UPDATE failed in the fault handler");
    faults++;
}

/* Unmap the first count window pages with batched MMU_UPDATEs. */
static void clear_window(uint32_t count)
{
    uint32_t *pte = kit_pte(pv_pd, WINDOW_VA);
    for (uint32_t k = 0; k < count; k += BATCH) {
        uint32_t b = count - k < BATCH ? count - k : BATCH;
        for (uint32_t j = 0; j < b; j++) {
            req[j][0] = (uint32_t)&pte[k + j];
            req[j][1] = 0;
        }
        pv_call(HC_MMU_UPDATE, (uint32_t)req, b, 0, 0);
    }
    pv_call(HC_TLB_FLUSH, 0, 0, 0, 0);
}

static void bench_pgfault(void)
{
    pv_set_handler(VEC_PF, on_pf, PV_TRAP_MASK);
    uint64_t cycles = 0;
    uint32_t lost = 0;
    faults = 0;
    for (uint32_t done = 0; done < n;) {
        uint32_t batch = n - done < 1024 ? n - done : 1024;
        uint64_t t0 = rdtsc();
        for (uint32_t i = 0; i < batch; i++)
            *(volatile uint32_t *)(WINDOW_VA + i * PAGE_SIZE) = done + i;
        cycles += rdtsc() - t0;
        clear_window(batch);
        /* the frames are not mapped: read them through a mapping of each */
        for (uint32_t i = 0; i < batch; i++) {
            pv_map(WINDOW_VA, FRAMES_PA + i * PAGE_SIZE, 0 | PTE_W);
            lost += *(volatile uint32_t *)WINDOW_VA != done + i;
        }
        clear_window(1);
        done += batch;
    }
    pv_set_handler(VEC_PF, NULL, 0);
    PV_CHECK(faults == n && lost == 0,
             "pv_pgfault: n faults served by MMU_UPDATE, every write landed");
    report("pv_pgfault", n, cycles);
}

/* Frames A and B (the first two of FRAMES_PA) hold different values. */
static void fill_frames(void)
{
    pv_map(WINDOW_VA, FRAMES_PA, PTE_W);
    *(volatile uint32_t *)WINDOW_VA = 0xaaaa0001u;
    pv_map(WINDOW_VA, FRAMES_PA + PAGE_SIZE, PTE_W);
    *(volatile uint32_t *)WINDOW_VA = 0xbbbb0002u;
    clear_window(1);
}

static void bench_ptemod(void)
{
    uint32_t *pte = kit_pte(pv_pd, WINDOW_VA);
    fill_frames();
    static const uint32_t want[2] = {0xaaaa0001u, 0xbbbb0002u};
    uint32_t stale = 0;
    req[0][0] = (uint32_t)pte;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        req[0][1] = (FRAMES_PA + (i & 1) * PAGE_SIZE) | PTE_P | PTE_W;
        pv_call(HC_MMU_UPDATE, (uint32_t)req, 1, 2, WINDOW_VA);
        stale += *(volatile uint32_t *)WINDOW_VA != want[i & 1];
    }
    uint64_t cycles = rdtsc() - t0;
    PV_CHECK_EQ(stale, 0, "pv_ptemod: every read saw the new mapping");
    report("pv_ptemod", n, cycles);
    clear_window(1);
}

static void bench_ptemod_batch(void)
{
    uint32_t *pte = kit_pte(pv_pd, WINDOW_VA);
    fill_frames();
    for (uint32_t j = 0; j < BATCH; j++)
        req[j][0] = (uint32_t)&pte[j];
    uint32_t stale = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t r = 0, done = 0; done < n; r++) {
        uint32_t b = n - done < BATCH ? n - done : BATCH;
        for (uint32_t j = 0; j < b; j++)
            req[j][1] = (FRAMES_PA + ((r + j) & 1) * PAGE_SIZE) | PTE_P | PTE_W;
        pv_call(HC_MMU_UPDATE, (uint32_t)req, b, 1, 0);
        stale += *(volatile uint32_t *)(WINDOW_VA + (b - 1) * PAGE_SIZE) !=
                 (((r + b - 1) & 1) ? 0xbbbb0002u : 0xaaaa0001u);
        done += b;
    }
    uint64_t cycles = rdtsc() - t0;
    PV_CHECK_EQ(stale, 0, "pv_ptemod_batch: every batch's last page saw its new mapping");
    report("pv_ptemod_batch", n, cycles);
    clear_window(BATCH);
}

static void kmain(void)
{
    n = kit_param_u32("n", 1000);
    if (!n)
        n = 1;
    if (pv_setup())
        pv_fail("pv_setup failed");
    if (wanted("pv_syscall"))
        bench_syscall();
    if (wanted("pv_in"))
        bench_in();
    if (wanted("pv_clisti"))
        bench_clisti();
    if (wanted("pv_pgfault"))
        bench_pgfault();
    if (wanted("pv_ptemod"))
        bench_ptemod();
    if (wanted("pv_ptemod_batch"))
        bench_ptemod_batch();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    pv_boot(kmain);
}
