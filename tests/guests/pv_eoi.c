/* pv_eoi.c - KVM's PV EOI as Linux's KVM guest uses it (popek offers it with
 * --cpu kvm; src/devices/lapic.c): CPUID 0x40000101 bit 6, the MSR
 * 0x4b564d04 holding the word's address | 1; an edge-triggered interrupt
 * acked with nothing else requested sets bit 0 of the word, a handler that
 * clears it skips the EOI and the APIC still ends the interrupt (the ISR
 * is clear afterwards, the next interrupt comes); with another interrupt
 * requested the bit stays clear and the handler writes EOI; with the MSR
 * off the bit is never set.
 * popek-args: --cpu kvm
 * engines: interp bt
 */
#include "kit.h"

#define MSR_KVM_PV_EOI_EN 0x4b564d04u
#define VEC_A 0x40
#define VEC_B 0x41

static volatile uint32_t eoi_word __attribute__((aligned(4)));
static volatile unsigned seen[2], skipped[2], order[4], norder;

static void on_irq(struct kit_frame *f)
{
    int k = f->vector - VEC_A;
    seen[k]++;
    if (norder < 4)
        order[norder++] = f->vector;
    /* Linux's kvm_guest_apic_eoi_write: test and clear, else write EOI */
    if (__atomic_fetch_and(&eoi_word, ~1u, __ATOMIC_SEQ_CST) & 1)
        skipped[k]++;
    else
        kit_lapic_eoi();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t a, b, c, d;
    cpuid(0x40000100u, &a, &b, &c, &d);
    CHECK(b == 0x4b4d564bu, "CPUID 0x40000100: KVM's signature");
    cpuid(0x40000101u, &a, &b, &c, &d);
    CHECK(a & (1u << 6), "CPUID 0x40000101: KVM_FEATURE_PV_EOI");
    wrmsr(MSR_KVM_PV_EOI_EN, (uint32_t)&eoi_word | 1);
    CHECK_EQ(rdmsr(MSR_KVM_PV_EOI_EN), (uint32_t)&eoi_word | 1,
             "MSR_KVM_PV_EOI_EN reads back");

    kit_lapic_enable(0xff);
    kit_set_handler(VEC_A, on_irq);
    kit_set_handler(VEC_B, on_irq);
    sti();
    kit_lapic_self_ipi(VEC_A);
    for (int i = 0; i < 100 && !seen[0]; i++)
        pause();
    CHECK_EQ(seen[0], 1, "the self-IPI came");
    CHECK_EQ(skipped[0], 1, "its handler found bit 0 set and skipped the EOI");
    CHECK(!kit_lapic_isr(VEC_A), "the APIC ended it anyway: ISR clear");
    kit_lapic_self_ipi(VEC_A);
    for (int i = 0; i < 100 && seen[0] < 2; i++)
        pause();
    CHECK_EQ(seen[0], 2, "the next one came (nothing left in service)");
    CHECK_EQ(skipped[0], 2, "... and skipped its EOI too");

    /* Two requested at once: the higher first, with the other pending. */
    cli();
    kit_lapic_self_ipi(VEC_A);
    kit_lapic_self_ipi(VEC_B);
    norder = 0;
    sti();
    for (int i = 0; i < 100 && (seen[0] < 3 || seen[1] < 1); i++)
        pause();
    CHECK(seen[0] == 3 && seen[1] == 1 && order[0] == VEC_B && order[1] == VEC_A,
          "both came, the higher vector first");
    CHECK_EQ(skipped[1], 0, "with another pending, the bit was clear: EOI written");
    CHECK_EQ(skipped[0], 3, "the last one, alone, skipped its EOI");
    CHECK(!kit_lapic_isr(VEC_A) && !kit_lapic_isr(VEC_B), "nothing in service");

    wrmsr(MSR_KVM_PV_EOI_EN, 0);
    kit_lapic_self_ipi(VEC_A);
    for (int i = 0; i < 100 && seen[0] < 4; i++)
        pause();
    CHECK(seen[0] == 4 && skipped[0] == 3, "MSR off: the bit is not set, EOI written");
    CHECK(!kit_lapic_isr(VEC_A), "nothing in service");
    cli();
    kit_done();
}
