/* bios_state.c - what a multiboot kernel finds at entry, as on QEMU (which
 * runs SeaBIOS before its multiboot loader): the real-mode interrupt
 * vectors point into the BIOS's F segment (so real-mode code may sti and
 * take the timer tick), the master PIC has IRQ 0 and the cascade unmasked
 * while IRQ 11 stays masked, and the PIT's channel 0 is counting (18.2 Hz,
 * IRQ 0; interrupts stay off here: vector 8 is the kit's #DF; the real-mode
 * tick itself is exercised by kvm-unit-tests' realmode).  Runs before the
 * guest touches the PIC or the PIT.  Prints only deterministic text. */
#include "kit.h"

static uint16_t pit_ch0(void)
{
    outb(0x43, 0x00); /* latch channel 0 */
    uint8_t lo = inb(0x40);
    return (uint16_t)(lo | inb(0x40) << 8);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    const volatile uint16_t *ivt = (const volatile uint16_t *)0;
    int in_f = 0;
    static const int vecs[] = {0x08, 0x10, 0x11, 0x13, 0x70, 0x73};
    for (unsigned i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
        in_f += ivt[vecs[i] * 2 + 1] == 0xf000 && ivt[vecs[i] * 2] != 0;
    CHECK_EQ(in_f, 6, "real-mode vectors 08 10 11 13 70 73 point into F000:");

    uint8_t imr1 = kit_boot_imr[0], imr2 = kit_boot_imr[1]; /* at entry */
    CHECK(!(imr1 & 0x05), "master PIC: IRQ 0 and the cascade unmasked");
    CHECK(imr2 & 0x08, "slave PIC: IRQ 11 masked");

    /* Channel 0 counts down and wraps every ~55 ms (18.2 Hz): wait for a
     * wrap, bounded. */
    uint16_t a = pit_ch0();
    bool moved = false, wrapped = false;
    for (uint32_t n = 0; n < 3000000u && !wrapped; n++) {
        uint16_t b = pit_ch0();
        if (b != a)
            moved = true;
        if (b > a)
            wrapped = true;
        a = b;
    }
    CHECK(moved, "PIT channel 0 is counting");
    CHECK(wrapped, "PIT channel 0 wraps (18.2 Hz)");
    kit_done();
}
