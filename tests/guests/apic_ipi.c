/* apic_ipi.c - interrupts the local APIC sends to itself: fixed self-IPIs
 * through the "self" shorthand and through a physical or logical (flat)
 * destination, IRR/ISR/TMR as the guest reads them, the task priority
 * (TPR) holding back vectors of its class and below until it is lowered
 * (delivered at once then), PPR/APR, nested priorities (a higher class
 * preempts a handler that re-enabled interrupts; a lower one waits for the
 * EOI; EOI retires the highest in-service vector), an NMI self-IPI,
 * INIT/SIPI to the other (absent) CPUs accepted and ignored, and the error
 * status register for an illegal vector.  Prints only deterministic text. */
#include "kit.h"

#define VEC_SPURIOUS 0xff

static volatile uint32_t count[256];
static volatile char order[64];
static volatile unsigned norder;

static void note(char c)
{
    if (norder < sizeof(order) - 1)
        order[norder++] = c;
}

static void on_plain(struct kit_frame *f)
{
    count[f->vector]++;
    kit_lapic_eoi();
}

/* 0x51: re-enables interrupts and raises 0x91 (preempts) and 0x61 (must
 * wait for the EOI of 0x91, then preempts 0x51 too). */
static volatile uint32_t ppr_in_91, isr51_in_91, irr61_in_91;
static void on_51(struct kit_frame *f)
{
    (void)f;
    note('a');
    sti();
    kit_lapic_self_ipi(0x91);
    note('b');
    cli();
    kit_lapic_eoi();
    note('c');
}

static void on_91(struct kit_frame *f)
{
    (void)f;
    note('X');
    ppr_in_91 = kit_lapic_read(LAPIC_PPR);
    isr51_in_91 = kit_lapic_isr(0x51) && kit_lapic_isr(0x91);
    sti();
    kit_lapic_self_ipi(0x61); /* class 6 < 9: waits */
    for (int i = 0; i < 100; i++)
        pause();
    irr61_in_91 = kit_lapic_irr(0x61) && !kit_lapic_isr(0x61);
    cli();
    note('Y');
    kit_lapic_eoi(); /* retires 0x91, not 0x51 */
}

static void on_61(struct kit_frame *f)
{
    (void)f;
    note('6');
    kit_lapic_eoi();
}

static volatile uint32_t nmis;
static void on_nmi(struct kit_frame *f)
{
    (void)f;
    nmis++; /* no EOI for NMI */
}

static void spin(void)
{
    for (int i = 0; i < 100; i++)
        pause();
}

static void test_self_ipi(void)
{
    sti();
    kit_lapic_self_ipi(0x50);
    CHECK_EQ(count[0x50], 1, "self-IPI (shorthand self) is delivered at once");
    /* Physical destination 0 = this APIC. */
    kit_lapic_write(LAPIC_ICR_HI, 0u << 24);
    kit_lapic_write(LAPIC_ICR_LO, 0x52);
    CHECK_EQ(count[0x52], 1, "fixed IPI to physical APIC ID 0 reaches this CPU");
    CHECK(!(kit_lapic_read(LAPIC_ICR_LO) & (1u << 12)), "ICR delivery status reads idle");
    CHECK_EQ(kit_lapic_read(LAPIC_ICR_LO) & 0xff, 0x52, "ICR low reads back the vector");
    /* Physical destination 1: nobody. */
    kit_lapic_write(LAPIC_ICR_HI, 1u << 24);
    kit_lapic_write(LAPIC_ICR_LO, 0x53);
    spin();
    CHECK_EQ(count[0x53], 0, "IPI to physical APIC ID 1 (absent) is not received");
    /* Logical, flat model. */
    kit_lapic_write(LAPIC_DFR, 0xffffffffu);
    kit_lapic_write(LAPIC_LDR, 0x01u << 24);
    CHECK_EQ(kit_lapic_read(LAPIC_LDR), 0x01000000u, "LDR reads back");
    CHECK_EQ(kit_lapic_read(LAPIC_DFR), 0xffffffffu, "DFR flat model");
    kit_lapic_write(LAPIC_ICR_HI, 0x03u << 24);
    kit_lapic_write(LAPIC_ICR_LO, (1u << 11) | 0x54);
    CHECK_EQ(count[0x54], 1, "logical IPI to mask 0x03 reaches LDR 0x01");
    kit_lapic_write(LAPIC_ICR_HI, 0x02u << 24);
    kit_lapic_write(LAPIC_ICR_LO, (1u << 11) | 0x55);
    spin();
    CHECK_EQ(count[0x55], 0, "logical IPI to mask 0x02 does not");
    /* All excluding self: nobody else here. */
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_ALL_BUT_SELF | 0x56);
    spin();
    CHECK_EQ(count[0x56], 0, "all-excluding-self does not interrupt this CPU");
    kit_lapic_write(LAPIC_ICR_LO, (2u << 18) | 0x57);
    CHECK_EQ(count[0x57], 1, "all-including-self does");
    cli();
}

static void test_tpr(void)
{
    kit_lapic_write(LAPIC_TPR, 0x60);
    CHECK_EQ(kit_lapic_read(LAPIC_TPR), 0x60, "TPR reads back");
    CHECK_EQ(kit_lapic_read(LAPIC_PPR), 0x60, "PPR follows the TPR with nothing in service");
    sti();
    kit_lapic_self_ipi(0x65); /* class 6: blocked by TPR 0x60 */
    kit_lapic_self_ipi(0x58); /* class 5: blocked */
    spin();
    CHECK_EQ(count[0x65] + count[0x58], 0, "vectors in the TPR's class and below wait");
    CHECK(kit_lapic_irr(0x65) && kit_lapic_irr(0x58), "and stay requested in the IRR");
    CHECK(!kit_lapic_isr(0x65), "not in service");
    CHECK_EQ(kit_lapic_read(LAPIC_APR) & 0xf0, 0x60, "APR: the highest of TPR and IRR class");
    kit_lapic_self_ipi(0x75); /* class 7: above */
    CHECK_EQ(count[0x75], 1, "a vector above the TPR class is delivered");
    kit_lapic_write(LAPIC_TPR, 0x50);
    CHECK_EQ(count[0x65], 1, "lowering the TPR delivers the unblocked vector at once");
    CHECK_EQ(count[0x58], 0, "but not the one still at or below it");
    kit_lapic_write(LAPIC_TPR, 0);
    CHECK_EQ(count[0x58], 1, "TPR 0 delivers the rest");
    CHECK(!kit_lapic_irr(0x58) && !kit_lapic_irr(0x65), "IRR empty again");
    cli();
    /* With interrupts off, requests accumulate and go highest first. */
    norder = 0;
    kit_lapic_self_ipi(0x51);
    CHECK(kit_lapic_irr(0x51), "a self-IPI with IF=0 waits in the IRR");
    CHECK_EQ(kit_lapic_read(LAPIC_PPR), 0, "PPR 0 with nothing in service");
}

static void test_nested(void)
{
    kit_set_handler(0x51, on_51);
    kit_set_handler(0x91, on_91);
    kit_set_handler(0x61, on_61);
    norder = 0;
    sti(); /* 0x51 is already requested */
    spin();
    cli();
    order[norder] = 0;
    kit_printf("# order: %s\n", (const char *)order);
    CHECK(!strcmp((const char *)order, "aXY6bc"),
          "nesting: 0x91 preempts 0x51, 0x61 waits for 0x91's EOI, then preempts 0x51");
    CHECK_EQ(ppr_in_91, 0x90, "PPR is the in-service class inside the nested handler");
    CHECK(isr51_in_91, "both vectors are in service while nested");
    CHECK(irr61_in_91, "the lower vector waits in the IRR");
    uint32_t isr = 0;
    for (uint32_t i = 0; i < 8; i++)
        isr |= kit_lapic_read(LAPIC_ISR + 0x10 * i);
    CHECK_EQ(isr, 0, "every EOI retired one vector: nothing in service");
}

static void test_nmi_init_sipi(void)
{
    kit_set_handler(VEC_NMI, on_nmi);
    sti();
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_SELF | LAPIC_DM_NMI);
    spin();
    CHECK_EQ(nmis, 1, "NMI self-IPI runs the NMI handler");
    CHECK(!kit_lapic_isr(2), "NMI is not in the ISR");
    kit_lapic_write(LAPIC_ICR_HI, 0);
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_ALL_BUT_SELF | LAPIC_DM_INIT | (1u << 14));
    kit_lapic_write(LAPIC_ICR_LO, LAPIC_ICR_ALL_BUT_SELF | LAPIC_DM_SIPI | 0x10);
    spin();
    CHECK((kit_lapic_read(LAPIC_SVR) & 0x1ff) == (LAPIC_SVR_ENABLE | VEC_SPURIOUS) &&
              kit_lapic_read(LAPIC_LDR) == 0x01000000u,
          "INIT and SIPI to the other CPUs leave this APIC as it was");
    CHECK(!(kit_lapic_read(LAPIC_ICR_LO) & (1u << 12)), "delivery status idle after SIPI");
    cli();
}

static void test_esr(void)
{
    kit_lapic_write(LAPIC_ESR, 0);
    CHECK_EQ(kit_lapic_read(LAPIC_ESR), 0, "ESR clear");
    kit_lapic_self_ipi(0x05); /* illegal vector */
    kit_lapic_write(LAPIC_ESR, 0);
    CHECK(kit_lapic_read(LAPIC_ESR) & (1u << 5), "ESR: send illegal vector");
    kit_lapic_write(LAPIC_ESR, 0);
    CHECK_EQ(kit_lapic_read(LAPIC_ESR), 0, "writing ESR again clears it");
    CHECK(!kit_lapic_irr(0x05), "an illegal vector is not requested");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_lapic_enable(VEC_SPURIOUS);
    static const uint8_t plain[] = {0x50, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57,
                                    0x58, 0x65, 0x75};
    for (unsigned i = 0; i < sizeof(plain); i++)
        kit_set_handler(plain[i], on_plain);
    test_self_ipi();
    test_tpr();
    test_nested();
    test_nmi_init_sipi();
    test_esr();
    kit_done();
}
