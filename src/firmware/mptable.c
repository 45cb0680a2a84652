/* mptable.c - the Intel MultiProcessor Specification 1.4 tables, for guests
 * that predate ACPI or skip it (xv6, old kernels, Linux with acpi=off): the
 * floating pointer "_MP_" in the F segment (where an OS scans for it) and
 * the configuration table "PCMP" it points to: one processor (APIC ID 0,
 * the BSP), buses PCI 0 and ISA 1 (bus IDs in ascending order, PCI IDs
 * being PCI bus numbers), the I/O APIC (ID 1, 0xFEC00000), I/O
 * interrupt entries for ISA IRQs 0-15 (IRQ 0 on pin 2, the cascade IRQ 2
 * left out, IRQ 9 (the ACPI SCI) level/active-high; the others conform to
 * the ISA bus: edge, active high), and the local interrupt entries LINT0 =
 * ExtINT (the 8259s, virtual wire mode) and LINT1 = NMI.  No IMCR: the
 * PICs reach the CPU through LINT0, so the feature byte says virtual wire. */
#include <string.h>

#include "firmware.h"

#define MP_BUS_PCI 0
#define MP_BUS_ISA 1
#define MP_INT 0
#define MP_NMI 1
#define MP_EXTINT 3
/* Interrupt flags: polarity bits 0-1, trigger bits 2-3 (0 = conforms). */
#define MP_FLAGS_LEVEL_HIGH 0x0d

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

struct mp_writer {
    uint8_t *p;       /* next entry */
    uint16_t count;
};

static uint8_t *mp_entry(struct mp_writer *w, unsigned len)
{
    uint8_t *e = w->p;
    memset(e, 0, len);
    w->p += len;
    w->count++;
    return e;
}

static void mp_irq(struct mp_writer *w, uint8_t type, uint8_t kind,
                   uint16_t flags, uint8_t bus, uint8_t src_irq,
                   uint8_t dst_id, uint8_t dst_pin)
{
    uint8_t *e = mp_entry(w, 8);
    e[0] = type;
    e[1] = kind;
    put16(e + 2, flags);
    e[4] = bus;
    e[5] = src_irq;
    e[6] = dst_id;
    e[7] = dst_pin;
}

size_t fw_mptable_build(uint8_t *low)
{
    uint8_t *t = low + FW_MP_CONFIG;
    memset(t, 0, 44);
    struct mp_writer w = {.p = t + 44, .count = 0};

    uint8_t *e = mp_entry(&w, 20);          /* processor */
    e[0] = 0;
    e[1] = 0;                               /* local APIC ID */
    e[2] = 0x14;                            /* local APIC version */
    e[3] = 0x03;                            /* enabled, bootstrap processor */
    put32(e + 4, 0x00000600);               /* family 6 */
    put32(e + 8, (1u << 0) | (1u << 9));    /* FPU, APIC */

    static const char *const buses[] = {"PCI   ", "ISA   "};
    static const uint8_t bus_ids[] = {MP_BUS_PCI, MP_BUS_ISA};
    for (int i = 0; i < 2; i++) {
        e = mp_entry(&w, 8);
        e[0] = 1;
        e[1] = bus_ids[i];
        memcpy(e + 2, buses[i], 6);
    }

    e = mp_entry(&w, 8);                    /* I/O APIC */
    e[0] = 2;
    e[1] = FW_IOAPIC_ID;
    e[2] = 0x11;                            /* version */
    e[3] = 0x01;                            /* usable */
    put32(e + 4, FW_IOAPIC_ADDR);

    for (uint8_t irq = 0; irq < 16; irq++) {
        if (irq == 2)
            continue;                       /* cascade: pin 2 is IRQ 0's */
        uint16_t flags = irq == FW_SCI_IRQ ? MP_FLAGS_LEVEL_HIGH : 0;
        mp_irq(&w, 3, MP_INT, flags, MP_BUS_ISA, irq, FW_IOAPIC_ID,
               irq == 0 ? 2 : irq);
    }
    /* Local interrupts, to every local APIC (0xff). */
    mp_irq(&w, 4, MP_EXTINT, 0, MP_BUS_ISA, 0, 0xff, 0);
    mp_irq(&w, 4, MP_NMI, 0, MP_BUS_ISA, 0, 0xff, 1);

    size_t len = (size_t)(w.p - t);
    memcpy(t, "PCMP", 4);
    put16(t + 4, (uint16_t)len);
    t[6] = 4;                               /* spec revision 1.4 */
    memcpy(t + 8, "POPEK   ", 8);           /* OEM ID */
    memcpy(t + 16, "POPEK PC    ", 12);     /* product ID */
    put16(t + 34, w.count);
    put32(t + 36, FW_LAPIC_ADDR);
    fw_fix_checksum(t, len, 7);

    uint8_t *f = low + FW_MP_FLOAT;
    memset(f, 0, 16);
    memcpy(f, "_MP_", 4);
    put32(f + 4, FW_MP_CONFIG);
    f[8] = 1;                               /* length in 16-byte units */
    f[9] = 4;                               /* spec revision 1.4 */
    f[11] = 0;                              /* feature 1: table present */
    f[12] = 0;                              /* feature 2: no IMCR */
    fw_fix_checksum(f, 16, 10);
    if (FW_MP_CONFIG + len > FW_AREA_END)
        return 0;
    return (FW_MP_CONFIG - FW_MP_FLOAT) + len;
}
