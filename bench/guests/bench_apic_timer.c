/* bench_apic_timer.c - nanobenchmark: one local APIC timer interrupt from
 * arming to EOI, n times.  apic_oneshot: write the initial count (1 tick
 * at divide-by-1, so the timer is due at once), sti; hlt until the handler
 * ran (the handler writes EOI): arm, fire on the VMM's timer, deliver,
 * EOI, and the hlt round trip.  apic_deadline (if CPUID offers the
 * TSC-deadline timer): wrmsr IA32_TSC_DEADLINE with the current TSC, which
 * fires at once; the loop waits for the handler.  Checks that every arm
 * gave exactly one interrupt.
 * popek-args: --append n=200
 */
#include "bench_guest.h"

#define VEC 0x40

static volatile uint32_t fired;

static void on_timer(struct kit_frame *f)
{
    (void)f;
    fired++;
    kit_lapic_eoi();
}

static void bench_oneshot(uint32_t n)
{
    kit_lapic_write(LAPIC_TIMER_DCR, 0xb); /* divide by 1 */
    kit_lapic_write(LAPIC_LVT_TIMER, VEC);  /* one-shot */
    fired = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        kit_lapic_write(LAPIC_TIMER_ICR, 1);
        while (fired == i)
            sti_hlt(); /* the handler returns with IF=1; the loop rechecks */
        cli();
    }
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(fired, n, "one-shot: one interrupt per arm");
    bench_report("apic_oneshot", n, cycles, NULL);
}

static void bench_deadline(uint32_t n)
{
    kit_lapic_write(LAPIC_LVT_TIMER, VEC | LAPIC_TIMER_TSC_DEADLINE);
    fired = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        sti();
        wrmsr(MSR_TSC_DEADLINE, rdtsc());
        while (fired == i)
            pause();
        cli();
    }
    uint64_t cycles = rdtsc() - t0;
    CHECK_EQ(fired, n, "TSC deadline: one interrupt per arm");
    bench_report("apic_deadline", n, cycles, NULL);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t n = bench_n(10000);
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(VEC, on_timer);
    kit_lapic_enable(0xff);
    if (bench_wanted("apic_oneshot"))
        bench_oneshot(n);
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (bench_wanted("apic_deadline") && (c & (1u << 24)))
        bench_deadline(n);
    kit_lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
    kit_done();
}
