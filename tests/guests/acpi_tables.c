/* acpi_tables.c - the ACPI tables as an OS finds them: the RSDP by scanning
 * the first KiB of the EBDA and 0xE0000-0xFFFFF on 16-byte boundaries; its
 * checksum and extended checksum; the RSDT and XSDT (checksums, the same
 * tables in both); every table's checksum; the FADT's PM blocks, SCI,
 * SMI_CMD, flags, reset register, X_ fields; the FACS; \_S5 in the DSDT's
 * AML; the MADT's local APIC, I/O APIC, overrides and NMI; the HPET table
 * against the HPET's own capability register; the PM hardware (SCI_EN reads
 * 1, the 32-bit PM timer runs).  Then it powers off as Linux does, writing
 * SLP_TYPa | SLP_EN to PM1a_CNT: popek must stop with status 0.  If any
 * check failed it exits through isa-debug-exit instead (status 3).
 * expect-status: 0 */
#include "kit.h"

/* Physical addresses (no paging): hidden from gcc's array-bounds checks,
 * which take a small constant address for a null-pointer offset. */
static uint32_t phys(uint32_t a)
{
    __asm__("" : "+r"(a));
    return a;
}
static uint16_t r16(uint32_t a) { return *(volatile uint16_t *)phys(a); }
static uint32_t r32(uint32_t a) { return *(volatile uint32_t *)a; }
static uint64_t r64(uint32_t a) { return r32(a) | (uint64_t)r32(a + 4) << 32; }

static uint8_t sum(uint32_t a, uint32_t len)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + *(volatile uint8_t *)(a + i));
    return s;
}

static bool sig(uint32_t a, const char *s)
{
    return !memcmp((const void *)a, s, strlen(s));
}

static uint32_t find_rsdp_in(uint32_t start, uint32_t end)
{
    for (uint32_t a = start; a + 20 <= end; a += 16)
        if (sig(a, "RSD PTR ") && sum(a, 20) == 0)
            return a;
    return 0;
}

/* A table's header: signature, checksum, OEM ID.  Returns its length. */
static uint32_t check_table(uint32_t a, const char *name)
{
    uint32_t len = r32(a + 4);
    CHECK(sig(a, name), "%s signature", name);
    CHECK(len >= 36 && len < 0x10000, "%s length is sane", name);
    CHECK(sum(a, len) == 0, "%s checksum", name);
    CHECK(sig(a + 10, "POPEK "), "%s OEM ID is POPEK", name);
    return len;
}

static bool gas_io(uint32_t g, uint8_t bits, uint64_t addr)
{
    return *(volatile uint8_t *)g == 1 && *(volatile uint8_t *)(g + 1) == bits &&
           r64(g + 4) == addr;
}

/* The first element of Name(_S5_, Package(){...}) in the DSDT's AML, or -1. */
static int find_s5(uint32_t dsdt, uint32_t len)
{
    for (uint32_t a = dsdt + 36; a + 9 < dsdt + len; a++) {
        if (!sig(a, "_S5_") || *(volatile uint8_t *)(a - 1) != 0x08 ||
            *(volatile uint8_t *)(a + 4) != 0x12)
            continue;
        uint8_t pkglen = *(volatile uint8_t *)(a + 5);
        if (pkglen & 0xc0)
            return -1;                /* longer PkgLength: not ours */
        uint8_t op = *(volatile uint8_t *)(a + 7);
        if (op == 0x00 || op == 0x01)
            return op;                /* ZeroOp / OneOp */
        if (op == 0x0a)
            return *(volatile uint8_t *)(a + 8);
        return -1;
    }
    return -1;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    uint32_t ebda = (uint32_t)r16(0x40e) << 4;
    uint32_t rsdp = ebda ? find_rsdp_in(ebda, ebda + 1024) : 0;
    if (!rsdp)
        rsdp = find_rsdp_in(0xe0000, 0x100000);
    if (!CHECK(rsdp != 0, "RSDP found by scanning the EBDA and 0xE0000-0xFFFFF"))
        kit_done();
    kit_printf("# RSDP at %p\n", (void *)rsdp);
    CHECK(*(volatile uint8_t *)(rsdp + 15) >= 2, "RSDP revision 2 (ACPI 2.0+)");
    CHECK_EQ(r32(rsdp + 20), 36, "RSDP length");
    CHECK(sum(rsdp, 36) == 0, "RSDP extended checksum");
    CHECK(sig(rsdp + 9, "POPEK "), "RSDP OEM ID is POPEK");

    uint32_t rsdt = r32(rsdp + 16);
    uint64_t xsdt64 = r64(rsdp + 24);
    CHECK(xsdt64 != 0 && xsdt64 < 0x100000000ull, "XSDT address below 4 GiB");
    uint32_t xsdt = (uint32_t)xsdt64;
    uint32_t rlen = check_table(rsdt, "RSDT");
    uint32_t xlen = check_table(xsdt, "XSDT");
    uint32_t n = (rlen - 36) / 4;
    CHECK_EQ((xlen - 36) / 8, n, "XSDT lists as many tables as the RSDT");
    uint32_t fadt = 0, madt = 0, hpet = 0;
    bool same = true;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = r32(rsdt + 36 + 4 * i);
        same &= r64(xsdt + 36 + 8 * i) == t;
        same &= sum(t, r32(t + 4)) == 0;
        if (sig(t, "FACP")) fadt = t;
        if (sig(t, "APIC")) madt = t;
        if (sig(t, "HPET")) hpet = t;
    }
    CHECK(same, "RSDT and XSDT point at the same tables, all checksummed");
    if (!CHECK(fadt && madt && hpet, "FADT, MADT and HPET tables listed"))
        kit_done();

    /* FADT */
    uint32_t flen = check_table(fadt, "FACP");
    CHECK(*(volatile uint8_t *)(fadt + 8) >= 3 && flen >= 244, "FADT revision 3+, 244 bytes+");
    CHECK_EQ(r16(fadt + 46), 9, "SCI_INT");
    CHECK_EQ(r32(fadt + 48), 0, "SMI_CMD 0 (ACPI always enabled)");
    uint32_t pm1a_evt = r32(fadt + 56), pm1a_cnt = r32(fadt + 64);
    uint32_t pm_tmr = r32(fadt + 76), gpe0 = r32(fadt + 80);
    CHECK_EQ(pm1a_evt, 0x600, "PM1a_EVT_BLK");
    CHECK_EQ(pm1a_cnt, 0x604, "PM1a_CNT_BLK");
    CHECK_EQ(pm_tmr, 0x608, "PM_TMR_BLK");
    CHECK_EQ(gpe0, 0xafe0, "GPE0_BLK");
    CHECK(*(volatile uint8_t *)(fadt + 88) == 4 && *(volatile uint8_t *)(fadt + 89) == 2 &&
          *(volatile uint8_t *)(fadt + 91) == 4 && *(volatile uint8_t *)(fadt + 92) == 4,
          "PM1_EVT_LEN 4, PM1_CNT_LEN 2, PM_TMR_LEN 4, GPE0_BLK_LEN 4");
    uint32_t flags = r32(fadt + 112);
    CHECK(flags & (1u << 8), "flags: TMR_VAL_EXT (32-bit PM timer)");
    CHECK(flags & (1u << 10), "flags: RESET_REG_SUP");
    CHECK(gas_io(fadt + 116, 8, 0xcf9) && *(volatile uint8_t *)(fadt + 128) == 6,
          "RESET_REG I/O 0xCF9, RESET_VALUE 0x06");
    uint32_t facs = r32(fadt + 36), dsdt = r32(fadt + 40);
    CHECK(r64(fadt + 132) == facs && r64(fadt + 140) == dsdt,
          "X_FIRMWARE_CTRL and X_DSDT match the 32-bit fields");
    CHECK(gas_io(fadt + 148, 32, 0x600) && gas_io(fadt + 172, 16, 0x604) &&
          gas_io(fadt + 208, 32, 0x608) && gas_io(fadt + 220, 32, 0xafe0),
          "X_PM1a_EVT, X_PM1a_CNT, X_PM_TMR, X_GPE0 blocks");
    CHECK(sig(facs, "FACS") && r32(facs + 4) >= 64 && facs % 64 == 0,
          "FACS: signature, length, 64-byte aligned");

    /* DSDT */
    uint32_t dlen = check_table(dsdt, "DSDT");
    int slp_typ = find_s5(dsdt, dlen);
    CHECK(slp_typ >= 0 && slp_typ < 8, "\\_S5 package in the DSDT");

    /* MADT */
    uint32_t mlen = check_table(madt, "APIC");
    CHECK_EQ(r32(madt + 36), 0xfee00000u, "MADT local APIC address");
    CHECK(r32(madt + 40) & 1, "MADT PCAT_COMPAT (8259s present)");
    bool lapic0 = false, ioapic = false, iso0 = false, iso9 = false, nmi1 = false;
    uint32_t a = madt + 44;
    while (a + 2 <= madt + mlen) {
        uint8_t type = *(volatile uint8_t *)a, len = *(volatile uint8_t *)(a + 1);
        if (len < 2)
            break;
        if (type == 0)
            lapic0 |= *(volatile uint8_t *)(a + 3) == 0 && (r32(a + 4) & 1);
        if (type == 1)
            ioapic |= *(volatile uint8_t *)(a + 2) == 1 && r32(a + 4) == 0xfec00000u &&
                      r32(a + 8) == 0;
        if (type == 2 && *(volatile uint8_t *)(a + 3) == 0)
            iso0 |= r32(a + 4) == 2;
        if (type == 2 && *(volatile uint8_t *)(a + 3) == 9)
            iso9 |= r32(a + 4) == 9 && r16(a + 8) == 0x0d;
        if (type == 4)
            nmi1 |= *(volatile uint8_t *)(a + 5) == 1;
        a += len;
    }
    CHECK_EQ(a, madt + mlen, "MADT entries fill the table exactly");
    CHECK(lapic0, "MADT: local APIC, APIC ID 0, enabled");
    CHECK(ioapic, "MADT: I/O APIC ID 1 at 0xFEC00000, GSI base 0");
    CHECK(iso0, "MADT: override IRQ 0 -> GSI 2");
    CHECK(iso9, "MADT: override IRQ 9 level, active high");
    CHECK(nmi1, "MADT: local APIC NMI on LINT1");

    /* HPET table against the hardware */
    check_table(hpet, "HPET");
    uint32_t hbase = (uint32_t)r64(hpet + 44);
    CHECK_EQ(hbase, 0xfed00000u, "HPET base address");
    CHECK_EQ(r32(hpet + 36), r32(hbase), "HPET event timer block ID = GCAP_ID low half");

    /* The PM hardware */
    CHECK(inw((uint16_t)pm1a_cnt) & 1, "PM1a_CNT.SCI_EN reads 1");
    uint32_t t0 = inl((uint16_t)pm_tmr);
    uint32_t t1 = t0;
    for (int i = 0; i < 100000 && t1 == t0; i++)
        t1 = inl((uint16_t)pm_tmr);
    CHECK(t1 != t0, "the PM timer runs");

    if (kit_failures)
        kit_done();
    kit_printf("# %u checks, 0 failed; powering off through PM1a_CNT\n", kit_checks);
    outw((uint16_t)pm1a_cnt, (uint16_t)((slp_typ << 10) | (1u << 13)));
    for (int i = 0; i < 1000; i++)
        pause();
    kit_printf("not ok - still running after SLP_EN with \\_S5's type\n");
    kit_fail();
}
