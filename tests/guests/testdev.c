/* testdev.c - QEMU's pc-testdev as kvm-unit-tests uses it: the 32-bit
 * register at 0xe0 (byte, word and dword accesses at any offset reach the
 * matching bytes; 0xe8 is the same register byte-wise), the "flush page"
 * port 0xe4 accepting a write, the IRQ lines at 0x2000+n raising and
 * lowering ISA IRQ n (seen through the PIC: IRQ 3 and IRQ 13, edge
 * triggered on a PC and under QEMU's BIOS too, interrupt once per rising
 * edge), and the 64 KiB scratch memory at 0xff000000,
 * which keeps what is written (device memory, not RAM).
 * qemu-args: -device pc-testdev */
#include "kit.h"

static volatile uint32_t irq_count[16];

static void on_irq(struct kit_frame *f)
{
    int irq = (int)f->vector - KIT_IRQ_BASE;
    irq_count[irq]++;
    kit_pic_eoi(irq);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    outl(0xe0, 0x12345678);
    CHECK_EQ(inl(0xe0), 0x12345678, "0xe0: a dword reads back");
    CHECK_EQ(inb(0xe1), 0x56, "0xe1: byte 1");
    CHECK_EQ(inw(0xe2), 0x1234, "0xe2: the high word");
    outb(0xe3, 0xab);
    CHECK_EQ(inl(0xe0), 0xab345678, "a byte write changes only its byte");
    CHECK_EQ(inl(0xe8), 0xab345678, "0xe8: the same register");
    outw(0xea, 0xcdef);
    CHECK_EQ(inl(0xe0), 0xcdef5678, "0xea: a word write through the byte window");
    outl(0xe4, 0x00100000); /* flush page: nothing to see */
    CHECK_EQ(inl(0xe0), 0xcdef5678, "the flush port leaves the register alone");

    kit_pic_remap(KIT_IRQ_BASE, KIT_IRQ_BASE + 8);
    kit_set_handler(KIT_IRQ_BASE + 3, on_irq);
    kit_set_handler(KIT_IRQ_BASE + 13, on_irq);
    kit_pic_unmask(3);
    kit_pic_unmask(13);
    sti();
    outb(0x2000 + 3, 1);
    for (int i = 0; i < 1000 && !irq_count[3]; i++)
        pause();
    CHECK_EQ(irq_count[3], 1, "0x2003 <- 1 raises IRQ 3");
    outb(0x2000 + 3, 1);
    for (int i = 0; i < 1000; i++)
        pause();
    CHECK_EQ(irq_count[3], 1, "a line held high does not interrupt again");
    outb(0x2000 + 3, 0);
    outb(0x2000 + 3, 1);
    for (int i = 0; i < 1000 && irq_count[3] < 2; i++)
        pause();
    CHECK_EQ(irq_count[3], 2, "low then high again: a second interrupt");
    outb(0x2000 + 3, 0);
    outb(0x2000 + 13, 1);
    for (int i = 0; i < 1000 && !irq_count[13]; i++)
        pause();
    CHECK_EQ(irq_count[13], 1, "0x200d <- 1 raises IRQ 13 (slave PIC)");
    outb(0x2000 + 13, 0);
    cli();
    kit_pic_mask(3);
    kit_pic_mask(13);
    CHECK_EQ(kit_pic_irr() & ((1u << 3) | (1u << 13)), 0,
             "lines written 0 are low (nothing requested)");

    volatile uint32_t *iomem = (volatile uint32_t *)0xff000000u;
    iomem[0] = 0xcafef00d;
    iomem[0x3fff] = 0x55aa1234;
    CHECK_EQ(iomem[0], 0xcafef00d, "scratch memory: first dword");
    CHECK_EQ(iomem[0x3fff], 0x55aa1234, "scratch memory: last dword");
    CHECK_EQ(((volatile uint8_t *)iomem)[1], 0xf0, "scratch memory: a byte of it");
    return 0;
}
