/* mptable.c - the BIOS data area and the MP 1.4 tables as xv6 and older
 * kernels find them: the EBDA segment at 0x40E and the base memory size at
 * 0x413; the multiboot memory map reserving the BIOS area 0xE0000-0xFFFFF
 * where the tables live; the "_MP_" floating pointer searched for as xv6
 * does (first KiB of the EBDA, last KiB of base memory, then 0xF0000-
 * 0xFFFFF), its checksum, length and revision; the "PCMP" configuration
 * table (checksum, revision 1.4, local APIC address, entries whose lengths
 * add up to the table in type order): one bootstrap processor with APIC ID
 * 0, buses PCI and ISA, the I/O APIC (ID 1, 0xFEC00000), ISA IRQs 0-15 on
 * the I/O APIC with IRQ 0 on pin 2 and the cascade IRQ 2 left out, IRQ 9
 * level/active-high, LINT0 ExtINT and LINT1 NMI. */
#include "kit.h"

static uint32_t phys(uint32_t a)
{
    __asm__("" : "+r"(a));
    return a;
}
static uint8_t r8(uint32_t a) { return *(volatile uint8_t *)phys(a); }
static uint16_t r16(uint32_t a) { return *(volatile uint16_t *)phys(a); }
static uint32_t r32(uint32_t a) { return *(volatile uint32_t *)phys(a); }

static uint8_t sum(uint32_t a, uint32_t len)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + r8(a + i));
    return s;
}

/* xv6's mpsearch1: "_MP_" with a good checksum, 16-byte aligned. */
static uint32_t mpsearch1(uint32_t a, uint32_t len)
{
    for (uint32_t p = a; p + 16 <= a + len; p += 16)
        if (!memcmp((const void *)phys(p), "_MP_", 4) && sum(p, 16) == 0)
            return p;
    return 0;
}

static void check_mmap(struct multiboot_info *mbi)
{
    if (!CHECK(mbi && (mbi->flags & MBI_FLAG_MMAP), "multiboot memory map present"))
        return;
    bool reserved = false, ram_overlaps = false;
    for (uint32_t p = mbi->mmap_addr; p < mbi->mmap_addr + mbi->mmap_length;
         p += r32(p) + 4) {
        uint32_t lo = r32(p + 4), len = r32(p + 12), type = r32(p + 20);
        if (r32(p + 8) || r32(p + 16))
            continue;                     /* above 4 GiB */
        if (type != 1 && lo <= 0xe0000 && lo + len >= 0x100000)
            reserved = true;
        if (type == 1 && lo < 0x100000 && lo + len > 0xe0000)
            ram_overlaps = true;
    }
    CHECK(reserved, "memory map reserves 0xE0000-0xFFFFF");
    CHECK(!ram_overlaps, "no RAM entry overlaps the BIOS area");
}

int main(struct multiboot_info *mbi)
{
    check_mmap(mbi);
    uint32_t ebda = (uint32_t)r16(0x40e) << 4;
    uint32_t basemem = (uint32_t)r16(0x413) * 1024;
    CHECK_EQ(ebda, 0x9fc00, "BDA 0x40E: EBDA segment 0x9FC0");
    CHECK_EQ(basemem, 639 * 1024, "BDA 0x413: 639 KiB of base memory");
    CHECK(mbi && mbi->mem_lower * 1024 >= basemem - 1024, "multiboot mem_lower agrees");

    uint32_t mp = 0;
    if (ebda)
        mp = mpsearch1(ebda, 1024);
    if (!mp)
        mp = mpsearch1(basemem - 1024, 1024);
    if (!mp)
        mp = mpsearch1(0xf0000, 0x10000);
    if (!CHECK(mp != 0, "MP floating pointer found as xv6 searches"))
        kit_done();
    kit_printf("# _MP_ at %p\n", (void *)mp);
    CHECK_EQ(r8(mp + 8), 1, "floating pointer length 1 (16 bytes)");
    CHECK_EQ(r8(mp + 9), 4, "floating pointer revision 1.4");
    CHECK_EQ(r8(mp + 11), 0, "feature byte 1: a configuration table follows");
    uint32_t conf = r32(mp + 4);
    CHECK(conf >= 0xe0000 && conf < 0x100000, "configuration table in the BIOS area");
    if (!CHECK(!memcmp((const void *)phys(conf), "PCMP", 4), "PCMP signature"))
        kit_done();
    uint32_t len = r16(conf + 4);
    CHECK(sum(conf, len) == 0, "configuration table checksum");
    CHECK_EQ(r8(conf + 6), 4, "configuration table revision 1.4");
    CHECK_EQ(r32(conf + 36), 0xfee00000u, "local APIC address");
    CHECK(!memcmp((const void *)phys(conf + 8), "POPEK", 5), "OEM ID POPEK");

    uint32_t n = r16(conf + 34), p = conf + 44;
    uint32_t last_type = 0, procs = 0, bsp_id = 0xff, ioapic_id = 0xff;
    uint32_t ioapic_addr = 0, isa_bus = 0xff, pci_bus = 0xff;
    int pin[16];
    uint16_t irqflags[16];
    for (int i = 0; i < 16; i++)
        pin[i] = -1, irqflags[i] = 0xffff;
    bool order = true, lint0 = false, lint1 = false, others = false;
    for (uint32_t i = 0; i < n && p < conf + len; i++) {
        uint32_t type = r8(p);
        order &= type >= last_type;
        last_type = type;
        switch (type) {
        case 0:
            procs++;
            if (r8(p + 3) & 2)
                bsp_id = r8(p + 1);
            p += 20;
            continue;
        case 1:
            if (!memcmp((const void *)phys(p + 2), "ISA   ", 6))
                isa_bus = r8(p + 1);
            if (!memcmp((const void *)phys(p + 2), "PCI   ", 6))
                pci_bus = r8(p + 1);
            break;
        case 2:
            if (r8(p + 3) & 1) {
                ioapic_id = r8(p + 1);
                ioapic_addr = r32(p + 4);
            }
            break;
        case 3:
            if (r8(p + 4) == isa_bus && r8(p + 5) < 16 && r8(p + 1) == 0 &&
                r8(p + 6) == ioapic_id) {
                pin[r8(p + 5)] = r8(p + 7);
                irqflags[r8(p + 5)] = r16(p + 2);
            } else {
                others = true;
            }
            break;
        case 4:
            lint0 |= r8(p + 1) == 3 && r8(p + 7) == 0;   /* ExtINT on LINT0 */
            lint1 |= r8(p + 1) == 1 && r8(p + 7) == 1;   /* NMI on LINT1 */
            break;
        default:
            others = true;
        }
        p += 8;
    }
    CHECK_EQ(p, conf + len, "entry lengths add up to the base table length");
    CHECK(order, "entries in type order");
    CHECK(!others, "no unknown entries");
    CHECK_EQ(procs, 1, "one processor");
    CHECK_EQ(bsp_id, 0, "the bootstrap processor has APIC ID 0");
    CHECK(pci_bus == 0 && isa_bus == 1, "buses: PCI 0, ISA 1");
    CHECK_EQ(ioapic_id, 1, "I/O APIC ID 1, usable");
    CHECK_EQ(ioapic_addr, 0xfec00000u, "I/O APIC address");
    CHECK_EQ(pin[0], 2, "ISA IRQ 0 -> I/O APIC pin 2");
    CHECK_EQ(pin[2], -1, "no entry for the cascade IRQ 2");
    bool identity = true;
    for (int irq = 1; irq < 16; irq++)
        if (irq != 2)
            identity &= pin[irq] == irq;
    CHECK(identity, "ISA IRQs 1, 3-15 -> the pin of the same number");
    CHECK_EQ(irqflags[9], 0x0d, "IRQ 9 (SCI) level, active high");
    CHECK_EQ(irqflags[4], 0, "IRQ 4 conforms to the ISA bus");
    CHECK(lint0, "LINT0: ExtINT (the 8259s, virtual wire)");
    CHECK(lint1, "LINT1: NMI");
    kit_done();
}
