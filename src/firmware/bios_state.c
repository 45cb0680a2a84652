/* bios_state.c - the hardware state and real-mode interrupt vectors a PC
 * BIOS leaves behind when it hands over to a boot loader, for kernels
 * loaded as QEMU's multiboot loader loads them (QEMU runs SeaBIOS first):
 * the 8259 PICs initialised with vector bases 0x08 and 0x70, every IRQ
 * masked but IRQ 0 and the cascade; the 8254's channel 0 counting at
 * 18.2 Hz (mode 2, count 65536) on IRQ 0; and the 256 real-mode vectors
 * (IVT at 0) pointing to stubs in the F segment: IRET, and for the
 * hardware IRQ vectors (0x08-0x0f, 0x70-0x77) an EOI to the PIC(s) then
 * IRET.  A guest that stays in (or returns to) real mode and waits with
 * sti; hlt is woken by the BIOS timer tick there, as on QEMU
 * (kvm-unit-tests' realmode "sti inhibit" test relies on it).  Guests
 * that program the PIC and PIT themselves see no difference; the BIOS
 * tick counter at 0x46c is not kept.  The devices are programmed through
 * their ports, as the BIOS does. */
#include <string.h>

#include "../core/machine.h"
#include "firmware.h"

static void out8(struct machine *m, uint16_t port, uint8_t v)
{
    machine_pio(m, port, &v, 1, true);
}

/* Stubs (16-bit code) at FW_BIOS_STUBS in the F segment. */
static const uint8_t stub_iret[] = {0xcf};
static const uint8_t stub_eoi1[] = {0x50,             /* push ax */
                                    0xb0, 0x20,       /* mov al, 0x20 */
                                    0xe6, 0x20,       /* out 0x20, al */
                                    0x58, 0xcf};      /* pop ax; iret */
static const uint8_t stub_eoi2[] = {0x50, 0xb0, 0x20,
                                    0xe6, 0xa0,       /* out 0xa0, al */
                                    0xe6, 0x20,       /* out 0x20, al */
                                    0x58, 0xcf};

void fw_bios_ivt_build(uint8_t *low)
{
    uint8_t *stubs = low + FW_BIOS_STUBS;
    memcpy(stubs + 0x00, stub_iret, sizeof(stub_iret));
    memcpy(stubs + 0x10, stub_eoi1, sizeof(stub_eoi1));
    memcpy(stubs + 0x20, stub_eoi2, sizeof(stub_eoi2));
    uint16_t seg = (uint16_t)((FW_BIOS_STUBS & 0xf0000u) >> 4);
    uint16_t off = (uint16_t)(FW_BIOS_STUBS & 0xffffu);
    for (int v = 0; v < 256; v++) {
        uint16_t o = off;
        if (v >= 0x08 && v <= 0x0f)
            o = (uint16_t)(off + 0x10);
        else if (v >= 0x70 && v <= 0x77)
            o = (uint16_t)(off + 0x20);
        low[v * 4 + 0] = (uint8_t)o;
        low[v * 4 + 1] = (uint8_t)(o >> 8);
        low[v * 4 + 2] = (uint8_t)seg;
        low[v * 4 + 3] = (uint8_t)(seg >> 8);
    }
}

void fw_bios_hw_init(struct machine *m)
{
    /* PICs: ICW1 (edge, cascade, ICW4), ICW2 (bases), ICW3, ICW4 (8086),
     * then OCW1: master all masked but IRQ 0 and 2, slave all masked. */
    out8(m, 0x20, 0x11);
    out8(m, 0xa0, 0x11);
    out8(m, 0x21, 0x08);
    out8(m, 0xa1, 0x70);
    out8(m, 0x21, 0x04);
    out8(m, 0xa1, 0x02);
    out8(m, 0x21, 0x01);
    out8(m, 0xa1, 0x01);
    out8(m, 0x21, 0xfa);
    out8(m, 0xa1, 0xff);
    /* PIT channel 0: lobyte/hibyte, mode 2, count 0 (65536). */
    out8(m, 0x43, 0x34);
    out8(m, 0x40, 0x00);
    out8(m, 0x40, 0x00);
}
