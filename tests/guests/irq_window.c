/* irq_window.c - exactly when a pending external interrupt is taken once
 * interrupts are enabled: after sti, one instruction later (the STI
 * shadow); after popf, at the next instruction boundary; sti; hlt with an
 * interrupt pending does not sleep.  The interrupt is made pending with the
 * PIT while IRQ 0 is masked, then unmasked with EFLAGS.IF clear; the
 * handler records the EIP it interrupted. */
#include "kit.h"

extern char after_nop[], after_popf[], after_hlt[];

static volatile uint32_t ticks, irq_eip;

static void on_timer(struct kit_frame *f)
{
    ticks++;
    irq_eip = f->eip;
    kit_pic_eoi(0);
}

/* Leave IRQ 0 pending in the IRR, unmasked, with IF clear. */
static void make_pending(void)
{
    cli();
    kit_pic_mask(0);
    kit_pit_periodic(1000);
    kit_pit2_wait(5966);       /* 5 ms: several periods */
    kit_pit_oneshot0(0xffff);  /* no more edges for 55 ms */
    kit_pic_unmask(0);
    ticks = 0;
    irq_eip = 0;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(KIT_IRQ_BASE + 0, on_timer);

    make_pending();
    CHECK(kit_pic_irr() & 1, "IRQ 0 is pending in the IRR");
    CHECK_EQ(ticks, 0, "nothing delivered while IF is clear");
    __asm__ volatile("sti; nop\nafter_nop: cli" ::: "memory");
    CHECK_EQ(ticks, 1, "sti; nop; cli takes the pending interrupt once");
    CHECK_EQ(irq_eip, (uint32_t)after_nop, "it is taken after the instruction following sti");

    make_pending();
    __asm__ volatile("pushl %0; popfl\nafter_popf: nop; cli"
                     :: "r"(read_eflags() | EFLAGS_IF) : "memory", "cc");
    CHECK_EQ(ticks, 1, "popf setting IF takes the pending interrupt once");
    CHECK_EQ(irq_eip, (uint32_t)after_popf, "it is taken right after popf");

    make_pending();
    __asm__ volatile("sti; hlt\nafter_hlt: cli" ::: "memory");
    CHECK_EQ(ticks, 1, "sti; hlt with an interrupt pending wakes at once");
    CHECK_EQ(irq_eip, (uint32_t)after_hlt, "the interrupt returns after the hlt");

    kit_pic_mask(0);
    return 0;
}
