/* ioapic.c - the I/O APIC as a PC guest uses it, with both PICs masked and
 * LINT0 masked (no ExtINT path): ID/version registers and the reset state
 * of the redirection table; the PIT's IRQ 0 arriving on pin 2 (the ISA
 * interrupt source override), not on pin 0; masking and unmasking pin 2;
 * the RTC's IRQ 8 (its line stays high until register C is read) on pin 8
 * as a level-triggered entry: remote IRR set while in service, the LAPIC's
 * TMR bit set, and the same interrupt again after an EOI while the line is
 * still high; then as an edge-triggered entry: one interrupt per rising
 * edge only, remote IRR never set.  Prints only deterministic text. */
#include "kit.h"

#define VEC_PIT 0x30
#define VEC_PIN0 0x31
#define VEC_RTC 0x38
#define VEC_SPURIOUS 0xff
#define MS_50 59659 /* PIT ticks in 50 ms */

static volatile uint32_t pit_ticks, pin0_ticks;

static void on_pit(struct kit_frame *f)
{
    (void)f;
    pit_ticks++;
    kit_lapic_eoi();
}

static void on_pin0(struct kit_frame *f)
{
    (void)f;
    pin0_ticks++;
    kit_lapic_eoi();
}

/* RTC handler: the first `leave_high` interrupts leave register C unread
 * (the line stays asserted) before the EOI. */
static volatile uint32_t rtc_irqs, leave_high;
static volatile uint32_t rte_in_handler, tmr_in_handler;
static void on_rtc(struct kit_frame *f)
{
    (void)f;
    rtc_irqs++;
    rte_in_handler = kit_ioapic_rte_lo(8);
    tmr_in_handler = kit_lapic_tmr(VEC_RTC);
    if (leave_high) {
        leave_high--;
    } else {
        kit_cmos_read(0x0c);
    }
    kit_lapic_eoi();
}

static uint32_t ticks_in_50ms(volatile uint32_t *counter)
{
    uint32_t t0 = *counter;
    sti();
    kit_pit2_wait(MS_50);
    cli();
    return *counter - t0;
}

static void test_registers(void)
{
    CHECK_EQ(kit_ioapic_read(1), 0x170011, "version 0x11, 24 redirection entries");
    CHECK_EQ(kit_ioapic_read(0), 1u << 24, "I/O APIC ID 1");
    kit_ioapic_write(0, 2u << 24);
    CHECK_EQ(kit_ioapic_read(0), 2u << 24, "the ID is writable");
    kit_ioapic_write(0, 1u << 24);
    bool all_masked = true;
    for (int pin = 0; pin < 24; pin++)
        all_masked &= (kit_ioapic_rte_lo(pin) & IOAPIC_RTE_MASKED) != 0;
    CHECK(all_masked, "every redirection entry is masked at reset");
    kit_ioapic_route(5, 0x45 | IOAPIC_RTE_MASKED | IOAPIC_RTE_LOGICAL, 0xa5);
    CHECK_EQ(kit_ioapic_rte_lo(5), 0x45 | IOAPIC_RTE_MASKED | IOAPIC_RTE_LOGICAL,
             "a redirection entry reads back (low word)");
    CHECK_EQ(kit_ioapic_read(0x11 + 2 * 5), 0xa5000000u, "and its destination (high word)");
    kit_ioapic_write(0x10 + 2 * 5, 0x45 | IOAPIC_RTE_MASKED | IOAPIC_RTE_REMOTE_IRR | (1u << 12));
    CHECK_EQ(kit_ioapic_rte_lo(5), 0x45 | IOAPIC_RTE_MASKED,
             "remote IRR and delivery status are read-only");
}

static void test_pit_on_pin2(void)
{
    kit_ioapic_route(0, VEC_PIN0, 0);
    kit_ioapic_route(2, VEC_PIT, 0); /* edge, active high, physical 0 */
    kit_pit_periodic(200);
    uint32_t n = 0;
    for (int i = 0; i < 20 && n < 5; i++)
        n += ticks_in_50ms(&pit_ticks);
    CHECK(n >= 5, "the PIT's IRQ 0 arrives through pin 2");
    CHECK_EQ(pin0_ticks, 0, "and not through pin 0");
    CHECK(!(kit_ioapic_rte_lo(2) & IOAPIC_RTE_REMOTE_IRR), "edge entries never set remote IRR");
    CHECK(!kit_lapic_tmr(VEC_PIT), "edge vectors leave the TMR bit clear");

    kit_ioapic_mask(2, true);
    sti();
    for (int i = 0; i < 100; i++)
        pause();
    cli();
    CHECK_EQ(ticks_in_50ms(&pit_ticks), 0, "a masked pin delivers nothing");
    kit_ioapic_mask(2, false);
    n = 0;
    for (int i = 0; i < 20 && n < 3; i++)
        n += ticks_in_50ms(&pit_ticks);
    CHECK(n >= 3, "unmasking pin 2 resumes the timer interrupts");
    kit_ioapic_mask(2, true);
    kit_ioapic_mask(0, true);
    outb(0x43, 0x30); /* channel 0 mode 0, no reload: stop the periodic */
    outb(0x40, 0xff);
    outb(0x40, 0xff);
}

/* RTC periodic interrupt at 1024 Hz on or off; register C is read first
 * (on) or last (off) so the line starts and ends low. */
static void rtc_periodic(bool on)
{
    uint8_t b = kit_cmos_read(0x0b);
    if (on) {
        kit_cmos_read(0x0c);
        kit_cmos_write(0x0a, 0x26); /* 32.768 kHz base, rate 6 */
        kit_cmos_write(0x0b, b | 0x40);
    } else {
        kit_cmos_write(0x0b, b & ~0x40);
        kit_cmos_read(0x0c);
    }
}

static void test_rtc_level(void)
{
    kit_ioapic_route(8, VEC_RTC | IOAPIC_RTE_LEVEL, 0);
    rtc_irqs = 0;
    leave_high = 1;
    rtc_periodic(true);
    /* The first interrupt leaves the line high: after its EOI the I/O
     * APIC sends it again at once (remote IRR cleared, line asserted). */
    for (int i = 0; i < 20 && rtc_irqs < 2; i++) {
        sti();
        kit_pit2_wait(MS_50 / 10);
        cli();
    }
    rtc_periodic(false);
    CHECK(rtc_irqs >= 2, "a level interrupt still asserted after EOI is delivered again");
    CHECK(rte_in_handler & IOAPIC_RTE_REMOTE_IRR, "remote IRR is set while the level interrupt is in service");
    CHECK(tmr_in_handler, "the LAPIC's TMR bit marks the level-triggered vector");
    CHECK(!(kit_ioapic_rte_lo(8) & IOAPIC_RTE_REMOTE_IRR), "the EOI cleared remote IRR");
    CHECK(!kit_lapic_tmr(VEC_RTC), "and the TMR bit");

    /* Remote IRR holds back a level line until the EOI. */
    rtc_irqs = 0;
    leave_high = 0;
    rtc_periodic(true);
    while (!kit_lapic_irr(VEC_RTC))
        pause();
    CHECK(kit_ioapic_rte_lo(8) & IOAPIC_RTE_REMOTE_IRR, "remote IRR set once the message is sent");
    kit_cmos_read(0x0c); /* drop the line */
    rtc_periodic(false);
}

static volatile uint32_t held;
static void on_rtc_hold(struct kit_frame *f)
{
    (void)f;
    held++;
    kit_lapic_eoi();
}

static void test_rtc_edge(void)
{
    kit_set_handler(VEC_RTC, on_rtc_hold);
    sti();
    for (int i = 0; i < 100; i++)
        pause(); /* deliver the request left by test_rtc_level */
    cli();
    CHECK_EQ(held, 1, "the held level interrupt is delivered once IF = 1");
    kit_set_handler(VEC_RTC, on_rtc);
    kit_ioapic_route(8, VEC_RTC, 0); /* edge */
    rtc_irqs = 0;
    leave_high = 1000; /* never read register C in the handler */
    rtc_periodic(true);
    uint32_t n = 0;
    for (int i = 0; i < 20 && n == 0; i++)
        n += ticks_in_50ms(&rtc_irqs);
    CHECK_EQ(rtc_irqs, 1, "edge-triggered: a line that stays high interrupts once");
    CHECK(!(rte_in_handler & IOAPIC_RTE_REMOTE_IRR), "edge entries leave remote IRR clear");
    CHECK(!tmr_in_handler, "edge vectors leave the TMR bit clear");
    leave_high = 0;
    kit_cmos_read(0x0c); /* line low, next period gives a new edge */
    n = 0;
    for (int i = 0; i < 20 && n == 0; i++)
        n += ticks_in_50ms(&rtc_irqs);
    CHECK(rtc_irqs >= 2, "after the line drops, the next rising edge interrupts again");
    rtc_periodic(false);
    kit_ioapic_mask(8, true);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    outb(0x21, 0xff); /* both PICs fully masked */
    outb(0xa1, 0xff);
    kit_lapic_enable(VEC_SPURIOUS); /* LINT0 masked: no ExtINT */
    kit_set_handler(VEC_PIT, on_pit);
    kit_set_handler(VEC_PIN0, on_pin0);
    kit_set_handler(VEC_RTC, on_rtc);
    test_registers();
    test_pit_on_pin2();
    test_rtc_level();
    test_rtc_edge();
    CHECK((kit_pic_irr() & 0x0101) == 0x0101 && kit_pic_isr() == 0,
          "the masked PICs saw IRQ 0 and 8 too but delivered none");
    kit_done();
}
