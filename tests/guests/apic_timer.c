/* apic_timer.c - the local APIC and its timer: CPUID and IA32_APIC_BASE
 * as a PC BIOS leaves them, the version register, software enable and the
 * spurious-vector register (LVT masks forced while disabled), the timer in
 * one-shot mode (current count decreasing, one interrupt, ISR set inside
 * the handler and cleared by EOI), periodic mode (repeats, reloads),
 * masking (no interrupt, nothing in the IRR), TSC-deadline mode (CPUID bit,
 * MSR 0x6e0 read back, fires after the deadline, clears the MSR, a past
 * deadline fires at once, 0 disarms, the initial count is ignored), and
 * the divide configuration.  Time is measured against the PIT's channel 2
 * only as "long enough" (no rates asserted).  Prints only deterministic
 * text.
 * engines: interp bt
 * (kvm: KVM itself serves the TSC and MSRs 0x1b/0x6e0 there, so the
 * TSC-deadline timer is not offered on kvm.) */
#include "kit.h"

#define VEC_TIMER 0x40
#define VEC_SPURIOUS 0xff
#define MS_50 59659 /* PIT ticks in 50 ms */

static volatile uint32_t fired;
static volatile bool isr_in_handler, irr_in_handler;
static volatile uint64_t fired_tsc;

static void on_timer(struct kit_frame *f)
{
    (void)f;
    fired_tsc = rdtsc();
    isr_in_handler = kit_lapic_isr(VEC_TIMER);
    irr_in_handler = kit_lapic_irr(VEC_TIMER);
    fired++;
    kit_lapic_eoi();
}

static volatile uint32_t spurious;
static void on_spurious(struct kit_frame *f)
{
    (void)f;
    spurious++; /* no EOI for the spurious vector */
}

/* Wait with interrupts on until fired reaches n or about 2 s pass. */
static bool wait_fired(uint32_t n)
{
    for (int i = 0; i < 40 && fired < n; i++) {
        sti();
        kit_pit2_wait(MS_50);
        cli();
    }
    return fired >= n;
}

/* 50 ms with interrupts on; returns how many timer interrupts came. */
static uint32_t fired_during_50ms(void)
{
    uint32_t f0 = fired;
    sti();
    kit_pit2_wait(MS_50);
    cli();
    return fired - f0;
}

static void test_identity(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    CHECK(d & (1u << 9), "CPUID.1:EDX.APIC is set");
    CHECK(c & (1u << 24), "CPUID.1:ECX.TSC-deadline is set");
    uint64_t base = rdmsr(MSR_APIC_BASE);
    CHECK_EQ(base & 0xfffff000u, KIT_LAPIC_BASE, "IA32_APIC_BASE holds 0xfee00000");
    CHECK(base & (1u << 8), "IA32_APIC_BASE: the boot processor flag is set");
    CHECK(base & (1u << 11), "IA32_APIC_BASE: globally enabled");
    uint32_t ver = kit_lapic_read(LAPIC_VER);
    CHECK_EQ(ver & 0xff, 0x14, "version 0x14 (integrated xAPIC)");
    CHECK_EQ((ver >> 16) & 0xff, 5, "max LVT entry 5");
    CHECK_EQ(kit_lapic_read(LAPIC_ID) >> 24, 0, "APIC ID 0");
    CHECK_EQ(kit_lapic_read(LAPIC_LVT_LINT0), 0x700, "LINT0 in ExtINT mode (virtual wire) at reset");
    CHECK(kit_lapic_read(LAPIC_LVT_TIMER) & LAPIC_LVT_MASKED, "LVT timer masked at reset");
    CHECK(!(kit_lapic_read(LAPIC_SVR) & LAPIC_SVR_ENABLE), "software disabled at reset");
}

static void test_software_disable(void)
{
    kit_lapic_write(LAPIC_SVR, 0x0f0); /* disabled, spurious 0xf0 */
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    CHECK(kit_lapic_read(LAPIC_LVT_TIMER) & LAPIC_LVT_MASKED,
          "LVT entries stay masked while software disabled");
    kit_lapic_enable(VEC_SPURIOUS);
    CHECK_EQ(kit_lapic_read(LAPIC_SVR) & 0x1ff, 0x1ff, "SVR reads back enable and spurious vector 0xff");
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_LVT_MASKED);
    kit_lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | 0x3f);
    CHECK_EQ(kit_lapic_read(LAPIC_SVR) & 0xff, 0x3f, "all 8 bits of the spurious vector are writable");
    kit_lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
    /* Disabling sets every LVT mask bit. */
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    kit_lapic_write(LAPIC_SVR, VEC_SPURIOUS);
    CHECK(kit_lapic_read(LAPIC_LVT_TIMER) & LAPIC_LVT_MASKED, "software disable masks the LVT timer");
    kit_lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
}

static void test_oneshot(void)
{
    fired = 0;
    kit_lapic_write(LAPIC_TIMER_DCR, 0x3); /* divide by 16 */
    CHECK_EQ(kit_lapic_read(LAPIC_TIMER_DCR), 0x3, "divide configuration reads back");
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER); /* one-shot */
    kit_lapic_write(LAPIC_TIMER_ICR, 1000000);   /* 16 ms at 1 GHz / 16 */
    uint32_t c1 = kit_lapic_read(LAPIC_TIMER_CCR);
    CHECK(c1 > 0 && c1 <= 1000000, "current count starts at or below the initial count");
    uint32_t c2;
    for (int i = 0; i < 1000000 && (c2 = kit_lapic_read(LAPIC_TIMER_CCR)) == c1; i++)
        pause();
    CHECK(c2 < c1, "current count decreases");
    CHECK_EQ(kit_lapic_read(LAPIC_TIMER_ICR), 1000000, "initial count reads back");
    CHECK(wait_fired(1), "one-shot timer interrupts");
    CHECK(isr_in_handler, "the timer vector is in service inside its handler");
    CHECK(!irr_in_handler, "and no longer requested");
    CHECK(!kit_lapic_isr(VEC_TIMER), "EOI cleared the in-service bit");
    CHECK_EQ(kit_lapic_read(LAPIC_TIMER_CCR), 0, "current count is 0 after expiry");
    CHECK_EQ(fired_during_50ms(), 0, "one-shot fires only once");
    CHECK_EQ(fired, 1, "exactly one interrupt");
}

static void test_periodic(void)
{
    fired = 0;
    kit_lapic_write(LAPIC_TIMER_DCR, 0xb); /* divide by 1 */
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_TIMER_PERIODIC);
    kit_lapic_write(LAPIC_TIMER_ICR, 5000000); /* 5 ms */
    CHECK(wait_fired(5), "periodic timer interrupts repeatedly");
    uint32_t c = kit_lapic_read(LAPIC_TIMER_CCR);
    CHECK(c > 0 && c <= 5000000, "periodic count reloads (never stays 0)");

    /* Masked: the timer keeps counting but nothing is requested. */
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_TIMER_PERIODIC | LAPIC_LVT_MASKED);
    sti();
    for (int i = 0; i < 100; i++)
        pause(); /* take one that was already requested */
    cli();
    uint32_t during = fired_during_50ms();
    CHECK_EQ(during, 0, "no interrupt while the LVT timer is masked");
    CHECK(!kit_lapic_irr(VEC_TIMER), "a masked timer requests nothing (IRR clear)");
    c = kit_lapic_read(LAPIC_TIMER_CCR);
    CHECK(c > 0 && c <= 5000000, "the masked timer keeps counting");
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_TIMER_PERIODIC);
    uint32_t f0 = fired;
    CHECK(wait_fired(f0 + 2), "unmasking resumes the periodic interrupts");
    kit_lapic_write(LAPIC_TIMER_ICR, 0); /* stop */
    sti();
    for (int i = 0; i < 100; i++)
        pause();
    cli();
    CHECK_EQ(fired_during_50ms(), 0, "initial count 0 stops the timer");
}

static void test_tsc_deadline(void)
{
    fired = 0;
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_TIMER_TSC_DEADLINE);
    CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0, "TSC deadline reads 0 when unarmed");
    kit_lapic_write(LAPIC_TIMER_ICR, 12345);
    CHECK_EQ(kit_lapic_read(LAPIC_TIMER_ICR), 0, "initial count writes are ignored in TSC-deadline mode");
    CHECK_EQ(kit_lapic_read(LAPIC_TIMER_CCR), 0, "current count reads 0 in TSC-deadline mode");

    uint64_t deadline = rdtsc() + 10000000; /* 10 ms at 1 GHz */
    wrmsr(MSR_TSC_DEADLINE, deadline);
    CHECK(rdmsr(MSR_TSC_DEADLINE) == deadline, "the armed deadline reads back");
    CHECK(wait_fired(1), "TSC-deadline timer interrupts");
    CHECK(fired_tsc >= deadline, "not before the deadline");
    CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0, "the deadline MSR clears when it fires");
    CHECK_EQ(fired_during_50ms(), 0, "and it fires once");

    /* A deadline already past fires at once. */
    fired = 0;
    sti();
    wrmsr(MSR_TSC_DEADLINE, rdtsc() - 1000);
    for (int i = 0; i < 10 && !fired; i++)
        pause();
    cli();
    CHECK_EQ(fired, 1, "a deadline in the past interrupts at once");

    /* Writing 0 disarms. */
    fired = 0;
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + 20000000);
    wrmsr(MSR_TSC_DEADLINE, 0);
    CHECK_EQ(fired_during_50ms(), 0, "writing 0 disarms the deadline");

    /* Leaving TSC-deadline mode disarms it too. */
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + 20000000);
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER);
    CHECK_EQ(rdmsr(MSR_TSC_DEADLINE), 0, "the MSR reads 0 outside TSC-deadline mode");
    CHECK_EQ(fired_during_50ms(), 0, "a mode change disarms the timer");
    kit_lapic_write(LAPIC_LVT_TIMER, VEC_TIMER | LAPIC_LVT_MASKED);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(VEC_TIMER, on_timer);
    kit_set_handler(VEC_SPURIOUS, on_spurious);
    test_identity();
    test_software_disable();
    test_oneshot();
    test_periodic();
    test_tsc_deadline();
    CHECK_EQ(spurious, 0, "no spurious interrupts");
    CHECK_EQ(kit_lapic_read(LAPIC_ISR + 0x20), 0, "nothing left in service");
    kit_done();
}
