/* hpet_legacy.c - the HPET's legacy replacement route (GEN_CONF.LEG_RT_CNF)
 * takes IRQ 0 and IRQ 8 away from the PIT and the RTC: with it set (and
 * the HPET's own timers off) neither the PIT's periodic channel 0 nor the
 * RTC's periodic interrupt reaches the PIC; cleared again, both are back.
 * Windows are timed with PIT channel 2 (polled, no interrupt); a request
 * the PIC latched before the switch is still delivered (as on QEMU), so
 * the first window after it is not counted.  Counts
 * are not printed (they depend on timing), only zero / non-zero.
 * Prints only deterministic text. */
#include "kit.h"

#define HPET_GEN_CONF 0xfed00010u
#define LEG_RT_CNF 2u

static volatile uint32_t irq0s, irq8s;

static void on_irq0(struct kit_frame *f)
{
    (void)f;
    irq0s++;
    kit_pic_eoi(0);
}

static void on_irq8(struct kit_frame *f)
{
    (void)f;
    irq8s++;
    (void)kit_cmos_read(0x0c); /* acknowledge the RTC */
    kit_pic_eoi(8);
}

static void hpet_conf(uint32_t v)
{
    *(volatile uint32_t *)HPET_GEN_CONF = v;
}

/* About 20 ms with interrupts on. */
static void window(void)
{
    irq0s = irq8s = 0;
    sti();
    for (int i = 0; i < 2; i++)
        kit_pit2_wait(11932);
    cli();
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(KIT_IRQ_BASE + 0, on_irq0);
    kit_set_handler(KIT_IRQ_BASE + 8, on_irq8);
    kit_pit_periodic(1000);                              /* IRQ 0 at 1 kHz */
    kit_cmos_write(0x0a, 0x26);                          /* RTC 1024 Hz */
    kit_cmos_write(0x0b, kit_cmos_read(0x0b) | 0x40);    /* PIE */
    (void)kit_cmos_read(0x0c);
    kit_pic_unmask(0);
    kit_pic_unmask(2);
    kit_pic_unmask(8);

    window();
    CHECK(irq0s > 0, "PIT periodic interrupts reach IRQ 0");
    CHECK(irq8s > 0, "RTC periodic interrupts reach IRQ 8");

    hpet_conf(LEG_RT_CNF); /* legacy route on, HPET timers off */
    window(); /* drains requests latched in the PIC before the switch */
    window();
    CHECK_EQ(irq0s, 0, "LEG_RT_CNF set: the PIT's IRQ 0 is muted");
    CHECK_EQ(irq8s, 0, "LEG_RT_CNF set: the RTC's IRQ 8 is muted");

    hpet_conf(0);
    (void)kit_cmos_read(0x0c);
    window();
    CHECK(irq0s > 0, "LEG_RT_CNF cleared: PIT interrupts are back");
    CHECK(irq8s > 0, "LEG_RT_CNF cleared: RTC interrupts are back");
    kit_done();
}
