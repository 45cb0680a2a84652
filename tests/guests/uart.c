/* uart.c - the 16550A on COM1 as Linux's 8250 driver probes and drives it:
 * scratch register, divisor latch readback, FIFO identification in IIR,
 * the MCR loopback test (MSR mirrors the modem outputs, a byte sent in
 * loopback comes back in RBR and never reaches the console), and the
 * transmitter-empty interrupt on IRQ 4 (OUT2 set, as PC drivers do) with
 * IIR reporting THRI and clearing it on read. */
#include "kit.h"

#define COM1 KIT_COM1
#define THR 0
#define RBR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

static volatile uint32_t irq4_count, irq4_iir;

static void on_com1(struct kit_frame *f)
{
    (void)f;
    irq4_count++;
    irq4_iir = inb(COM1 + IIR);
    outb(COM1 + IER, 0);          /* one interrupt is enough */
    kit_pic_eoi(4);
}

static bool wait_lsr(uint8_t bits)
{
    for (int i = 0; i < 10000; i++)
        if ((inb(COM1 + LSR) & bits) == bits)
            return true;
    return false;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    outb(COM1 + SCR, 0xa5);
    CHECK_EQ(inb(COM1 + SCR), 0xa5, "scratch register keeps 0xa5");
    outb(COM1 + SCR, 0x5a);
    CHECK_EQ(inb(COM1 + SCR), 0x5a, "scratch register keeps 0x5a");

    outb(COM1 + LCR, 0x83);        /* DLAB */
    outb(COM1 + 0, 0x0c);
    outb(COM1 + 1, 0x00);
    CHECK(inb(COM1 + 0) == 0x0c && inb(COM1 + 1) == 0x00, "divisor latch reads back (9600 baud)");
    outb(COM1 + 0, 0x01);          /* back to 115200 */
    outb(COM1 + LCR, 0x03);
    CHECK_EQ(inb(COM1 + LCR), 0x03, "LCR reads back 8N1");

    outb(COM1 + FCR, 0x07);
    CHECK_EQ(inb(COM1 + IIR) & 0xc0, 0xc0, "IIR reports enabled FIFOs (a 16550A)");
    CHECK_EQ(inb(COM1 + IIR) & 0x0f, 0x01, "IIR: no interrupt pending with IER = 0");
    CHECK(wait_lsr(0x60), "LSR: transmitter empty (THRE and TEMT)");

    /* Loopback, as Linux's autoconfig does it.  Nothing may be printed
     * meanwhile (it would loop back too): record, then check. */
    outb(COM1 + MCR, 0x10 | 0x0a); /* LOOP | OUT2 | RTS */
    uint8_t msr1 = inb(COM1 + MSR) & 0xf0;
    outb(COM1 + MCR, 0x10 | 0x0f); /* LOOP | all outputs */
    uint8_t msr2 = inb(COM1 + MSR) & 0xf0;
    while (inb(COM1 + LSR) & 0x01) /* drain any input */
        (void)inb(COM1 + RBR);
    outb(COM1 + THR, 'Z');
    bool arrived = wait_lsr(0x01);
    uint8_t rbr = inb(COM1 + RBR);
    uint8_t lsr = inb(COM1 + LSR);
    outb(COM1 + MCR, 0x03);        /* DTR | RTS, loopback off */
    CHECK_EQ(msr1, 0x90, "loopback: MSR shows CTS and DCD from RTS and OUT2");
    CHECK_EQ(msr2, 0xf0, "loopback: all four modem inputs follow the outputs");
    CHECK(arrived, "loopback: the byte sent arrives (LSR.DR)");
    CHECK_EQ(rbr, 'Z', "loopback: RBR holds the byte sent");
    CHECK_EQ(lsr & 0x01, 0, "loopback: LSR.DR clears once read");
    CHECK_EQ(inb(COM1 + MCR), 0x03, "MCR reads back");

    /* THRE interrupt on IRQ 4: IER.ETBEI (and OUT2, which a PC needs). */
    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(KIT_IRQ_BASE + 4, on_com1);
    kit_pic_unmask(4);
    CHECK(wait_lsr(0x20), "THR empty before enabling its interrupt");
    outb(COM1 + MCR, 0x0b);        /* DTR | RTS | OUT2 */
    outb(COM1 + IER, 0x02);        /* ETBEI */
    sti();
    for (int i = 0; i < 10000 && !irq4_count; i++)
        (void)inb(COM1 + LSR);
    cli();
    CHECK_EQ(irq4_count, 1, "enabling ETBEI with THR empty raises IRQ 4 once");
    CHECK_EQ(irq4_iir & 0x0f, 0x02, "IIR identified the THR-empty interrupt");
    CHECK_EQ(inb(COM1 + IIR) & 0x0f, 0x01, "reading IIR cleared it");
    kit_pic_mask(4);
    outb(COM1 + MCR, 0x03);
    return 0;
}
