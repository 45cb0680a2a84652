/* acpi.c - the ACPI tables of popek's PC (ACPI 2.0+ layout, OEM ID POPEK):
 *   RSDP (revision 2, checksum and extended checksum) in the F segment,
 *   pointing at an RSDT (32-bit) and an XSDT (64-bit) that both list the
 *   FADT, MADT and HPET tables;
 *   FADT (revision 3): the PIIX4-style PM blocks (PM1a event 0x600, PM1a
 *   control 0x604, 32-bit PM timer 0x608 with TMR_VAL_EXT, GPE0 0xAFE0),
 *   SCI on IRQ 9, SMI_CMD 0 (ACPI is always enabled), the reset register
 *   (I/O 0xCF9, value 0x06, RESET_REG_SUP), the FACS and DSDT in both the
 *   32-bit and the X_ fields (same addresses), and the IA-PC boot flags
 *   legacy devices + 8042;
 *   FACS (no checksum, 64-byte aligned);
 *   DSDT: hand-assembled AML: the PCI root bridge \_SB.PCI0 (PNP0A03, its
 *   bus, I/O and memory windows in _CRS, INTx routing in _PRT) and
 *   Name(\_S5, Package(4){typ,typ,0,0}) so that the OS can power off by
 *   writing SLP_TYP|SLP_EN to PM1a_CNT;
 *   MADT: the local APIC (ID 0), the I/O APIC (ID 1, 0xFEC00000, GSI 0),
 *   interrupt source overrides IRQ 0 -> GSI 2 and IRQ 9 level/active-high,
 *   LAPIC NMI on LINT1, PCAT_COMPAT (the 8259s are there too);
 *   HPET: the block at 0xFED00000 (3 comparators, 64-bit, legacy route).
 * The devices behind them: src/devices/acpi_pm.c, hpet.c, pci_host.c
 * (0xCF9), and the APICs. */
#include <stdbool.h>
#include <string.h>

#include "firmware.h"

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
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Tables are placed one after another from FW_ACPI_TABLES. */
struct acpi_writer {
    uint8_t *low;
    uint32_t next;    /* guest-physical */
    uint32_t end;
    bool full;
};

static uint32_t acpi_alloc(struct acpi_writer *w, uint32_t len, uint32_t align)
{
    uint32_t at = (w->next + align - 1) & ~(align - 1);
    if (at + len > w->end) {
        w->full = true;
        return 0;
    }
    w->next = at + len;
    memset(w->low + at, 0, len);
    return at;
}

#define SDT_HDR 36

/* The common header; the checksum is set by sdt_finish. */
static uint8_t *sdt_begin(struct acpi_writer *w, uint32_t at, const char *sig,
                          uint32_t len, uint8_t rev)
{
    uint8_t *t = w->low + at;
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    memcpy(t + 10, FW_OEM_ID, 6);
    memcpy(t + 16, FW_OEM_TABLE_ID, 8);
    put32(t + 24, 1);                 /* OEM revision */
    memcpy(t + 28, "PPEK", 4);        /* creator ID */
    put32(t + 32, 1);                 /* creator revision */
    return t;
}

static void sdt_finish(uint8_t *t)
{
    uint32_t len = (uint32_t)t[4] | (uint32_t)t[5] << 8 |
                   (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
    fw_fix_checksum(t, len, 9);
}

/* A generic address structure in system I/O space. */
static void gas_io(uint8_t *p, uint8_t bits, uint8_t access, uint64_t addr)
{
    p[0] = 1;            /* system I/O */
    p[1] = bits;
    p[2] = 0;            /* bit offset */
    p[3] = access;       /* 0 = undefined (legacy), 1 = byte, ... */
    put64(p + 4, addr);
}

/* ---- DSDT: AML ---- */

static size_t aml_integer(uint8_t *p, uint8_t v)
{
    if (v == 0) {
        p[0] = 0x00;     /* ZeroOp */
        return 1;
    }
    if (v == 1) {
        p[0] = 0x01;     /* OneOp */
        return 1;
    }
    p[0] = 0x0a;         /* BytePrefix */
    p[1] = v;
    return 2;
}

/* Name(_S5_, Package(4){typ, typ, 0, 0}) into p; returns its length. */
static size_t aml_s5(uint8_t *p)
{
    uint8_t pkg[16];
    size_t n = 0;
    pkg[n++] = 4;                                /* NumElements */
    n += aml_integer(pkg + n, FW_S5_SLP_TYP);    /* SLP_TYPa */
    n += aml_integer(pkg + n, FW_S5_SLP_TYP);    /* SLP_TYPb */
    n += aml_integer(pkg + n, 0);
    n += aml_integer(pkg + n, 0);
    size_t len = 0;
    p[len++] = 0x08;                             /* NameOp */
    memcpy(p + len, "_S5_", 4);
    len += 4;
    p[len++] = 0x12;                             /* PackageOp */
    p[len++] = (uint8_t)(n + 1);                 /* PkgLength (1 byte) */
    memcpy(p + len, pkg, n);
    return len + n;
}

/* ---- DSDT: the PCI root bridge ----
 * Scope(\_SB) { Device(PCI0) {
 *   Name(_HID, EisaId("PNP0A03")) Name(_UID, 0) Name(_BBN, 0)
 *   Name(_CRS, ResourceTemplate() {
 *     WordBusNumber(bus 0-0xff)
 *     IO(Decode16, 0xcf8, 0xcf8, 1, 8)             config mechanism #1
 *     WordIO(0x0000-0x0cf7)  WordIO(0x0d00-0xffff)  I/O forwarded to PCI
 *     DWordMemory(0xa0000-0xbffff)                  legacy VGA hole
 *     DWordMemory(0xc0000000-0xfebfffff) })         the BAR window
 *   Name(_PRT, Package() { Package(4){0xSSSSFFFF, pin, Zero, GSI}, ... })
 * } }
 * _PRT entries name GSIs directly (no link devices): every slot's pins
 * A-D, swizzled onto GSI 10/11 as the board wires them. */

struct aml {
    uint8_t *p;
    size_t n, cap;
    bool overflow;
};

static void aml_put(struct aml *a, const void *src, size_t len)
{
    if (a->n + len > a->cap) {
        a->overflow = true;
        return;
    }
    memcpy(a->p + a->n, src, len);
    a->n += len;
}

static void aml_b(struct aml *a, uint8_t v)
{
    aml_put(a, &v, 1);
}

static void aml_dword(struct aml *a, uint32_t v)
{
    uint8_t b[5] = {0x0c}; /* DWordPrefix */
    put32(b + 1, v);
    aml_put(a, b, 5);
}

static void aml_int(struct aml *a, uint32_t v)
{
    if (v <= 0xff) {
        uint8_t b[2];
        aml_put(a, b, aml_integer(b, (uint8_t)v));
    } else {
        aml_dword(a, v);
    }
}

/* PkgLength counts itself: 1 byte up to 63, else 2-4 bytes. */
static void aml_pkglen(struct aml *a, size_t body)
{
    size_t total;
    if (body + 1 <= 0x3f) {
        aml_b(a, (uint8_t)(body + 1));
        return;
    }
    int extra = body + 2 <= 0xfff ? 1 : body + 3 <= 0xfffff ? 2 : 3;
    total = body + 1 + (size_t)extra;
    aml_b(a, (uint8_t)(extra << 6 | (total & 0xf)));
    for (int i = 0; i < extra; i++)
        aml_b(a, (uint8_t)(total >> (4 + 8 * i)));
}

/* op [ext] PkgLength prefix... body: wraps what `body` holds. */
static void aml_wrap(struct aml *a, const uint8_t *op, size_t oplen,
                     const struct aml *body)
{
    if (body->overflow) {
        a->overflow = true;
        return;
    }
    aml_put(a, op, oplen);
    aml_pkglen(a, body->n);
    aml_put(a, body->p, body->n);
}

static void aml_name_int(struct aml *a, const char *name, uint32_t v)
{
    aml_b(a, 0x08); /* NameOp */
    aml_put(a, name, 4);
    aml_int(a, v);
}

/* Word (0x88) or DWord (0x87) address space descriptor, producer with
 * fixed min and max. */
static void res_addr(struct aml *a, bool dword, uint8_t type, uint8_t tflags,
                     uint32_t min, uint32_t max)
{
    uint8_t d[46];
    unsigned w = dword ? 4 : 2, len = 3 + 5 * w;
    memset(d, 0, sizeof(d));
    d[0] = dword ? 0x87 : 0x88;
    put16(d + 1, (uint16_t)len);
    d[3] = type;         /* 0 memory, 1 I/O, 2 bus number */
    d[4] = 0x0c;         /* MaxFixed, MinFixed, positive decode, producer */
    d[5] = tflags;
    uint8_t *f = d + 6;  /* granularity, min, max, translation, length */
    uint32_t v[5] = {0, min, max, 0, max - min + 1};
    for (int i = 0; i < 5; i++, f += w) {
        if (dword)
            put32(f, v[i]);
        else
            put16(f, (uint16_t)v[i]);
    }
    aml_put(a, d, 3 + len);
}

static void aml_pci_crs(struct aml *a)
{
    uint8_t rb[128];
    struct aml r = {.p = rb, .cap = sizeof(rb)};
    res_addr(&r, false, 2, 0, 0, 0xff);                     /* buses */
    static const uint8_t cfg_io[] = {0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c,
                                     0x01, 0x08};
    aml_put(&r, cfg_io, sizeof(cfg_io));
    res_addr(&r, false, 1, 0x03, 0x0000, 0x0cf7);           /* EntireRange */
    res_addr(&r, false, 1, 0x03, FW_PCI_IO_BASE, 0xffff);
    res_addr(&r, true, 0, 0x03, 0x000a0000, 0x000bffff);    /* cacheable RW */
    res_addr(&r, true, 0, 0x03, FW_PCI_MEM_BASE, FW_PCI_MEM_END - 1);
    static const uint8_t end_tag[] = {0x79, 0x00};
    aml_put(&r, end_tag, sizeof(end_tag));

    uint8_t bb[160];
    struct aml b = {.p = bb, .cap = sizeof(bb)};
    aml_int(&b, (uint32_t)r.n);                             /* BufferSize */
    aml_put(&b, r.p, r.n);
    b.overflow |= r.overflow;
    aml_b(a, 0x08);
    aml_put(a, "_CRS", 4);
    static const uint8_t buffer_op = 0x11;
    aml_wrap(a, &buffer_op, 1, &b);
}

static void aml_pci_prt(struct aml *a)
{
    uint8_t lb[4096];
    struct aml l = {.p = lb, .cap = sizeof(lb)};
    unsigned n = 0;
    aml_b(&l, 0);           /* NumElements, set below */
    for (unsigned slot = 1; slot < FW_PCI_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            uint8_t eb[16];
            struct aml e = {.p = eb, .cap = sizeof(eb)};
            aml_b(&e, 4);
            aml_dword(&e, slot << 16 | 0xffff);
            aml_int(&e, pin);
            aml_int(&e, 0);  /* Source: Zero = the index is a GSI */
            aml_int(&e, FW_PCI_GSI_BASE + (slot + pin) % FW_PCI_GSI_COUNT);
            static const uint8_t package_op = 0x12;
            aml_wrap(&l, &package_op, 1, &e);
            n++;
        }
    }
    lb[0] = (uint8_t)n;     /* 124: fits PackageOp's one-byte count */
    aml_b(a, 0x08);
    aml_put(a, "_PRT", 4);
    static const uint8_t package_op = 0x12;
    aml_wrap(a, &package_op, 1, &l);
}

/* Scope(\_SB) { Device(PCI0) { ... } } into a. */
static void aml_pci_root(struct aml *a)
{
    uint8_t db[4608];
    struct aml d = {.p = db, .cap = sizeof(db)};
    aml_put(&d, "PCI0", 4);
    aml_b(&d, 0x08);
    aml_put(&d, "_HID", 4);
    aml_dword(&d, 0x030ad041);  /* EisaId("PNP0A03"): 41 d0 0a 03 */
    aml_name_int(&d, "_UID", 0);
    aml_name_int(&d, "_BBN", 0);
    aml_pci_crs(&d);
    aml_pci_prt(&d);

    uint8_t sb[4672];
    struct aml s = {.p = sb, .cap = sizeof(sb)};
    static const char sb_name[] = {'\\', '_', 'S', 'B', '_'};
    aml_put(&s, sb_name, sizeof(sb_name));
    static const uint8_t device_op[] = {0x5b, 0x82};
    aml_wrap(&s, device_op, sizeof(device_op), &d);
    static const uint8_t scope_op = 0x10;
    aml_wrap(a, &scope_op, 1, &s);
}

static uint32_t build_dsdt(struct acpi_writer *w)
{
    uint8_t buf[4800];
    struct aml a = {.p = buf, .cap = sizeof(buf)};
    aml_pci_root(&a);
    uint8_t s5[64];
    aml_put(&a, s5, aml_s5(s5));
    if (a.overflow) {
        w->full = true;
        return 0;
    }
    uint32_t len = SDT_HDR + (uint32_t)a.n;
    uint32_t at = acpi_alloc(w, len, 16);
    if (!at)
        return 0;
    uint8_t *t = sdt_begin(w, at, "DSDT", len, 2);
    memcpy(t + SDT_HDR, a.p, a.n);
    sdt_finish(t);
    return at;
}

static uint32_t build_facs(struct acpi_writer *w)
{
    uint32_t at = acpi_alloc(w, 64, 64);
    if (!at)
        return 0;
    uint8_t *t = w->low + at;
    memcpy(t, "FACS", 4);
    put32(t + 4, 64);
    t[32] = 1;           /* version (ACPI 2.0) */
    return at;
}

/* FADT flags. */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)    /* no fixed sleep button */
#define FADT_TMR_VAL_EXT (1u << 8)   /* 32-bit PM timer */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_LEN 244

static uint32_t build_fadt(struct acpi_writer *w, uint32_t facs, uint32_t dsdt)
{
    uint32_t at = acpi_alloc(w, FADT_LEN, 16);
    if (!at)
        return 0;
    uint8_t *t = sdt_begin(w, at, "FACP", FADT_LEN, 3);
    put32(t + 36, facs);
    put32(t + 40, dsdt);
    t[45] = 0;                              /* preferred PM profile */
    put16(t + 46, FW_SCI_IRQ);
    put32(t + 48, 0);                       /* SMI_CMD: ACPI always on */
    put32(t + 56, FW_PM1A_EVT);
    put32(t + 64, FW_PM1A_CNT);
    put32(t + 76, FW_PM_TMR);
    put32(t + 80, FW_GPE0);
    t[88] = 4;                              /* PM1_EVT_LEN */
    t[89] = 2;                              /* PM1_CNT_LEN */
    t[91] = 4;                              /* PM_TMR_LEN */
    t[92] = FW_GPE0_LEN;
    put16(t + 96, 0x0fff);                  /* no C2 */
    put16(t + 98, 0x0fff);                  /* no C3 */
    t[108] = 0x32;                          /* CMOS century register */
    put16(t + 109, 0x0003);                 /* legacy devices, 8042 */
    put32(t + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON |
                       FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP);
    gas_io(t + 116, 8, 1, FW_RESET_PORT);
    t[128] = FW_RESET_VALUE;
    put64(t + 132, facs);                   /* X_FIRMWARE_CTRL */
    put64(t + 140, dsdt);                   /* X_DSDT */
    gas_io(t + 148, 32, 0, FW_PM1A_EVT);
    gas_io(t + 172, 16, 0, FW_PM1A_CNT);
    gas_io(t + 208, 32, 0, FW_PM_TMR);
    gas_io(t + 220, FW_GPE0_LEN * 8, 0, FW_GPE0);
    sdt_finish(t);
    return at;
}

static uint32_t build_madt(struct acpi_writer *w)
{
    uint32_t len = SDT_HDR + 8 + 8 + 12 + 10 + 10 + 6;
    uint32_t at = acpi_alloc(w, len, 16);
    if (!at)
        return 0;
    uint8_t *t = sdt_begin(w, at, "APIC", len, 1);
    put32(t + 36, FW_LAPIC_ADDR);
    put32(t + 40, 1);                       /* PCAT_COMPAT: 8259s too */
    uint8_t *e = t + 44;
    e[0] = 0; e[1] = 8;                     /* processor local APIC */
    e[2] = 0;                               /* ACPI processor UID */
    e[3] = 0;                               /* APIC ID */
    put32(e + 4, 1);                        /* enabled */
    e += 8;
    e[0] = 1; e[1] = 12;                    /* I/O APIC */
    e[2] = FW_IOAPIC_ID;
    put32(e + 4, FW_IOAPIC_ADDR);
    put32(e + 8, 0);                        /* GSI base */
    e += 12;
    e[0] = 2; e[1] = 10;                    /* override: IRQ 0 -> GSI 2 */
    e[2] = 0;                               /* bus ISA */
    e[3] = 0;
    put32(e + 4, 2);
    put16(e + 8, 0);                        /* conforms: edge, high */
    e += 10;
    e[0] = 2; e[1] = 10;                    /* override: SCI */
    e[2] = 0;
    e[3] = FW_SCI_IRQ;
    put32(e + 4, FW_SCI_IRQ);
    put16(e + 8, 0x000d);                   /* level, active high */
    e += 10;
    e[0] = 4; e[1] = 6;                     /* local APIC NMI */
    e[2] = 0xff;                            /* all processors */
    put16(e + 3, 0);                        /* conforms */
    e[5] = 1;                               /* LINT1 */
    sdt_finish(t);
    return at;
}

static uint32_t build_hpet(struct acpi_writer *w)
{
    uint32_t len = SDT_HDR + 20;
    uint32_t at = acpi_alloc(w, len, 16);
    if (!at)
        return 0;
    uint8_t *t = sdt_begin(w, at, "HPET", len, 1);
    /* Event timer block ID: as the GCAP_ID register's low half. */
    put32(t + 36, 0x01 | (2u << 8) | (1u << 13) | (1u << 15) |
                      (0x8086u << 16));
    t[40] = 0;                              /* system memory */
    t[41] = 64;
    put64(t + 44, FW_HPET_ADDR);
    t[52] = 0;                              /* HPET number */
    put16(t + 53, 128);                     /* minimum clock tick */
    t[55] = 0;                              /* no page protection */
    sdt_finish(t);
    return at;
}

size_t fw_acpi_build(uint8_t *low)
{
    struct acpi_writer w = {.low = low, .next = FW_ACPI_TABLES,
                            .end = FW_RSDP};
    enum { NTABLES = 3 };
    uint32_t rsdt = acpi_alloc(&w, SDT_HDR + 4 * NTABLES, 16);
    uint32_t xsdt = acpi_alloc(&w, SDT_HDR + 8 * NTABLES, 16);
    uint32_t facs = build_facs(&w);
    uint32_t dsdt = build_dsdt(&w);
    uint32_t tables[NTABLES] = {build_fadt(&w, facs, dsdt), build_madt(&w),
                                build_hpet(&w)};
    if (w.full)
        return 0;
    uint8_t *r = sdt_begin(&w, rsdt, "RSDT", SDT_HDR + 4 * NTABLES, 1);
    uint8_t *x = sdt_begin(&w, xsdt, "XSDT", SDT_HDR + 8 * NTABLES, 1);
    for (int i = 0; i < NTABLES; i++) {
        put32(r + SDT_HDR + 4 * i, tables[i]);
        put64(x + SDT_HDR + 8 * i, tables[i]);
    }
    sdt_finish(r);
    sdt_finish(x);

    uint8_t *p = low + FW_RSDP;
    memset(p, 0, 36);
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, FW_OEM_ID, 6);
    p[15] = 2;                              /* revision: ACPI 2.0+ */
    put32(p + 16, rsdt);
    put32(p + 20, 36);
    put64(p + 24, xsdt);
    fw_fix_checksum(p, 20, 8);
    fw_fix_checksum(p, 36, 32);
    return w.next - FW_ACPI_TABLES;
}
