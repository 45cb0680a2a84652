/* test_firmware.c - unit tests of the firmware table builders (src/firmware)
 * on a plain 1 MiB buffer standing for guest-physical [0, 1 MiB): BDA and
 * EBDA words; the MP floating pointer and configuration table (checksums,
 * lengths, entry count and order, IRQ 0 -> pin 2); the ACPI RSDP (both
 * checksums), RSDT/XSDT listing the same tables, every table's checksum and
 * length, FADT fields and X_ fields agreeing, FACS alignment, the DSDT's
 * \_S5 package, MADT entries, HPET table; everything inside the reserved
 * BIOS area; and a corrupted byte caught by the checksum.  The DSDT's PCI
 * root bridge (\_SB.PCI0: _HID, _CRS windows, _PRT) is checked by
 * disassembling it with ACPICA's iasl -d (Debian's acpica-tools) when that
 * is installed (SKIP otherwise). */
#include "firmware/firmware.h"
#include "test.h"

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static uint8_t *low;

static uint32_t g16(uint32_t a) { return low[a] | (uint32_t)low[a + 1] << 8; }
static uint32_t g32(uint32_t a) { return g16(a) | g16(a + 2) << 16; }
static uint64_t g64(uint32_t a) { return g32(a) | (uint64_t)g32(a + 4) << 32; }

static void build(void)
{
    memset(low, 0xcc, FW_LOW_SIZE);
    memset(low + FW_AREA_START, 0, FW_AREA_END - FW_AREA_START);
    fw_bda_build(low);
    CHECK(fw_mptable_build(low) > 0);
    CHECK(fw_acpi_build(low) > 0);
}

static void test_checksum_helpers(void)
{
    uint8_t b[8] = {1, 2, 3, 0, 5, 6, 7, 8};
    fw_fix_checksum(b, sizeof(b), 3);
    CHECK(fw_checksum(b, sizeof(b)) == 0);
    b[0]++;
    CHECK(fw_checksum(b, sizeof(b)) != 0);
}

static void test_bda(void)
{
    build();
    CHECK(g16(0x40e) == FW_EBDA >> 4);
    CHECK(g16(0x413) == 639);
    CHECK(g16(0x400) == 0x3f8);
    CHECK(low[FW_EBDA] == 1);
    CHECK(g16(0x413) * 1024u == FW_EBDA);
}

static void test_mptable(void)
{
    build();
    uint32_t f = FW_MP_FLOAT;
    CHECK(f >= 0xf0000 && f % 16 == 0);
    CHECK(!memcmp(low + f, "_MP_", 4));
    CHECK(fw_checksum(low + f, 16) == 0);
    CHECK(low[f + 8] == 1 && low[f + 9] == 4);
    uint32_t t = g32(f + 4);
    CHECK(t == FW_MP_CONFIG);
    CHECK(!memcmp(low + t, "PCMP", 4));
    uint32_t len = g16(t + 4);
    CHECK(fw_checksum(low + t, len) == 0);
    CHECK(g32(t + 36) == FW_LAPIC_ADDR);
    CHECK(t + len <= FW_AREA_END);
    /* Walk the entries: the lengths must add up, types must not go down. */
    unsigned n = g16(t + 34), at = t + 44, last = 0, procs = 0, ioints = 0;
    int pin_of_irq[16];
    for (int i = 0; i < 16; i++)
        pin_of_irq[i] = -1;
    for (unsigned i = 0; i < n; i++) {
        unsigned type = low[at];
        CHECKF(type >= last && type <= 4, "entry %u type %u", i, type);
        last = type;
        if (type == 0) {
            procs++;
            CHECK(low[at + 1] == 0 && (low[at + 3] & 3) == 3);
        }
        if (type == 3 && low[at + 4] == 1) {     /* ISA bus */
            ioints++;
            pin_of_irq[low[at + 5]] = low[at + 7];
            CHECK(low[at + 6] == FW_IOAPIC_ID);
            if (low[at + 5] == 9)
                CHECK(g16(at + 2) == 0x0d);
        }
        at += type == 0 ? 20 : 8;
    }
    CHECK(at == t + len);
    CHECK(procs == 1);
    CHECK(ioints == 15);
    CHECK(pin_of_irq[0] == 2 && pin_of_irq[2] == -1 && pin_of_irq[1] == 1 &&
          pin_of_irq[15] == 15);
    /* A corrupted byte is caught. */
    low[t + 50] ^= 1;
    CHECK(fw_checksum(low + t, len) != 0);
}

/* The table at a with signature sig: checksum, length, in the area. */
static uint32_t check_sdt(uint32_t a, const char *sig)
{
    CHECKF(!memcmp(low + a, sig, 4), "%s at %#x", sig, a);
    uint32_t len = g32(a + 4);
    CHECKF(len >= 36 && a >= FW_AREA_START && a + len <= FW_AREA_END,
           "%s length %u", sig, len);
    CHECKF(fw_checksum(low + a, len) == 0, "%s checksum", sig);
    CHECK(!memcmp(low + a + 10, "POPEK ", 6));
    return len;
}

static void test_acpi(void)
{
    build();
    uint32_t r = FW_RSDP;
    CHECK(!memcmp(low + r, "RSD PTR ", 8));
    CHECK(fw_checksum(low + r, 20) == 0);
    CHECK(fw_checksum(low + r, 36) == 0);
    CHECK(low[r + 15] == 2 && g32(r + 20) == 36);
    CHECK(!memcmp(low + r + 9, "POPEK ", 6));
    uint32_t rsdt = g32(r + 16);
    uint64_t xsdt = g64(r + 24);
    uint32_t rlen = check_sdt(rsdt, "RSDT");
    uint32_t xlen = check_sdt((uint32_t)xsdt, "XSDT");
    unsigned n = (rlen - 36) / 4;
    CHECK(n == 3 && (xlen - 36) / 8 == n);
    uint32_t fadt = 0, madt = 0, hpet = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t a = g32(rsdt + 36 + 4 * i);
        CHECK(g64((uint32_t)xsdt + 36 + 8 * i) == a);
        if (!memcmp(low + a, "FACP", 4)) fadt = a;
        if (!memcmp(low + a, "APIC", 4)) madt = a;
        if (!memcmp(low + a, "HPET", 4)) hpet = a;
    }
    CHECK(fadt && madt && hpet);
    if (!fadt || !madt || !hpet)
        return;

    CHECK(check_sdt(fadt, "FACP") == 244 && low[fadt + 8] >= 3);
    CHECK(g16(fadt + 46) == 9 && g32(fadt + 48) == 0);
    CHECK(g32(fadt + 56) == 0x600 && g32(fadt + 64) == 0x604 &&
          g32(fadt + 76) == 0x608 && g32(fadt + 80) == 0xafe0);
    CHECK(low[fadt + 88] == 4 && low[fadt + 89] == 2 && low[fadt + 91] == 4 &&
          low[fadt + 92] == 4);
    uint32_t flags = g32(fadt + 112);
    CHECK((flags & (1u << 8)) && (flags & (1u << 10)));
    CHECK(low[fadt + 116] == 1 && low[fadt + 117] == 8 &&
          g64(fadt + 120) == 0xcf9 && low[fadt + 128] == 6);
    uint32_t facs = g32(fadt + 36), dsdt = g32(fadt + 40);
    CHECK(g64(fadt + 132) == facs && g64(fadt + 140) == dsdt);
    CHECK(g64(fadt + 148 + 4) == 0x600 && low[fadt + 148 + 1] == 32);
    CHECK(g64(fadt + 172 + 4) == 0x604 && low[fadt + 172 + 1] == 16);
    CHECK(g64(fadt + 208 + 4) == 0x608 && low[fadt + 208 + 1] == 32);
    CHECK(g64(fadt + 220 + 4) == 0xafe0 && low[fadt + 220 + 1] == 32);
    CHECK(facs % 64 == 0 && !memcmp(low + facs, "FACS", 4) &&
          g32(facs + 4) == 64);

    uint32_t dlen = check_sdt(dsdt, "DSDT");
    const uint8_t s5[] = {0x08, '_', 'S', '5', '_', 0x12};
    bool found = false;
    for (uint32_t a = dsdt + 36; a + sizeof(s5) + 3 <= dsdt + dlen; a++)
        if (!memcmp(low + a, s5, sizeof(s5))) {
            found = true;
            CHECK(low[a + 7] == 4);                 /* 4 elements */
            CHECK(low[a + 8] == 0x00);              /* SLP_TYPa = Zero */
            CHECK(low[a + 6] == dsdt + dlen - (a + 6)); /* PkgLength */
        }
    CHECK(found);

    uint32_t mlen = check_sdt(madt, "APIC");
    CHECK(g32(madt + 36) == FW_LAPIC_ADDR && (g32(madt + 40) & 1));
    unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0;
    uint32_t at = madt + 44;
    while (at < madt + mlen) {
        uint8_t type = low[at], len = low[at + 1];
        CHECK(len >= 2);
        if (len < 2)
            break;
        if (type == 0) {
            lapics++;
            CHECK(low[at + 3] == 0 && (g32(at + 4) & 1));
        } else if (type == 1) {
            ioapics++;
            CHECK(low[at + 2] == FW_IOAPIC_ID && g32(at + 4) == FW_IOAPIC_ADDR &&
                  g32(at + 8) == 0);
        } else if (type == 2) {
            isos++;
            if (low[at + 3] == 0)
                CHECK(g32(at + 4) == 2);
            else
                CHECK(low[at + 3] == 9 && g32(at + 4) == 9 && g16(at + 8) == 0x0d);
        } else if (type == 4) {
            nmis++;
            CHECK(low[at + 5] == 1);
        }
        at += len;
    }
    CHECK(at == madt + mlen);
    CHECK(lapics == 1 && ioapics == 1 && isos == 2 && nmis == 1);

    CHECK(check_sdt(hpet, "HPET") == 56);
    CHECK(g64(hpet + 44) == FW_HPET_ADDR && low[hpet + 40] == 0);
    CHECK(((g32(hpet + 36) >> 8) & 0x1f) == 2);     /* 3 comparators */
    CHECK(g32(hpet + 36) & (1u << 15));             /* legacy capable */

    /* The RSDP is where an OS scans for it: 16-byte aligned in the F
     * segment, the only valid one there. */
    unsigned rsdps = 0;
    for (uint32_t a = 0xe0000; a < 0x100000; a += 16)
        if (!memcmp(low + a, "RSD PTR ", 8) && fw_checksum(low + a, 20) == 0)
            rsdps++;
    CHECK(rsdps == 1);
    low[madt + 40] ^= 2;
    CHECK(fw_checksum(low + madt, mlen) != 0);
}

/* The DSDT as ACPICA's disassembler reads it: \_SB.PCI0 with its windows
 * and interrupt routing, and \_S5; iasl also reports AML it cannot parse. */
static void test_dsdt_iasl(void)
{
    if (system("command -v iasl >/dev/null 2>&1") != 0)
        SKIP("iasl not found (Debian's acpica-tools; scripts/setup.sh)");
    build();
    uint32_t rsdt = g32(FW_RSDP + 16), fadt = 0;
    for (uint32_t i = 0; i < (g32(rsdt + 4) - 36) / 4; i++)
        if (!memcmp(low + g32(rsdt + 36 + 4 * i), "FACP", 4))
            fadt = g32(rsdt + 36 + 4 * i);
    CHECK(fadt);
    if (!fadt)
        return;
    uint32_t dsdt = g32(fadt + 40), len = g32(dsdt + 4);
    char dir[] = "/tmp/popek-dsdt.XXXXXX";
    if (!mkdtemp(dir))
        SKIP("cannot make a temporary directory");
    char path[128], cmd[512];
    snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(low + dsdt, 1, len, f) == len);
    if (f)
        fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat >iasl.log 2>&1",
             dir);
    CHECKF(system(cmd) == 0, "iasl -d failed (see %s/iasl.log)", dir);
    snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
    char *dsl = NULL;
    size_t dn = 0;
    f = fopen(path, "r");
    if (f) {
        dsl = calloc(1, 1 << 20);
        if (dsl)
            dn = fread(dsl, 1, (1 << 20) - 1, f);
        fclose(f);
    }
    CHECKF(dsl && dn > 0, "no %s", path);
    if (dsl) {
        static const char *const want[] = {
            "Device (PCI0)",
            "Name (_HID, EisaId (\"PNP0A03\")",
            "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,",
            "0x00FF,             // Range Maximum",
            "0x0CF8,             // Range Minimum",
            "0x0D00,             // Range Minimum",
            "0xFFFF,             // Range Maximum",
            "0xC0000000,         // Range Minimum",
            "0xFEBFFFFF,         // Range Maximum",
            "Name (_PRT, Package (0x7C)",
            "0x0001FFFF,",
            "0x001FFFFF,",
            "Name (_S5, Package (0x04)",
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            CHECKF(strstr(dsl, want[i]), "iasl output lacks '%s' (%s)",
                   want[i], path);
        /* slot 1 pin A and slot 2 pin A: GSI 11 and 10 (as pci.c) */
        char *e1 = strstr(dsl, "0x0001FFFF,");
        char *e2 = strstr(dsl, "0x0002FFFF,");
        CHECK(e1 && e2 && strstr(e1, "0x0B") && strstr(e1, "0x0B") < e1 + 120);
        CHECK(e2 && strstr(e2, "0x0A") && strstr(e2, "0x0A") < e2 + 120);
        CHECKF(!strstr(dsl, "Error") && !strstr(dsl, "Unknown"),
               "iasl flagged the AML (%s)", path);
        free(dsl);
    }
    if (!test_failed_now) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0)
            CHECK(0);
    }
}

int main(void)
{
    low = malloc(FW_LOW_SIZE);
    if (!low)
        return 1;
    RUN(test_checksum_helpers);
    RUN(test_bda);
    RUN(test_mptable);
    RUN(test_acpi);
    RUN(test_dsdt_iasl);
    free(low);
    TEST_MAIN_END();
}
