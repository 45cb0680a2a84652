/* reset_cf9.c - the reset control register at port 0xCF9 (the FADT's
 * RESET_REG): reading it does not reset, writing 0x02 (SYS_RST alone) does
 * not reset and reads back, writing 0x06 (SYS_RST | RST_CPU) resets, which
 * ends popek with status 0.  Exits with a failure (status 3) if the machine
 * survives the reset write.
 * expect-status: 0 */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint8_t v = inb(0xcf9);
    CHECK_EQ(v & 0x04, 0, "RST_CPU reads 0");
    outb(0xcf9, 0x02);
    CHECK_EQ(inb(0xcf9) & 0x02, 0x02, "SYS_RST reads back; no reset without RST_CPU");
    outl(0xcf8, 0x80000010u);
    CHECK_EQ(inl(0xcf8), 0x80000010u,
             "the PCI address register at 0xCF8 still answers dword accesses");
    outl(0xcf8, 0);
    if (kit_failures)
        kit_done();
    kit_printf("# resetting through 0xCF9\n");
    outb(0xcf9, 0x06);
    for (int i = 0; i < 1000; i++)
        pause();
    kit_printf("not ok - still running after 0x06 to port 0xCF9\n");
    kit_fail();
}
