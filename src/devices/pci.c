/* pci.c - a PCI device on popek's bus 0 (see pci.h): configuration space
 * with write masks, BAR sizing and mapping (the BAR's range is in m->pio or
 * m->mmio exactly while its address is valid and the command register
 * enables its space), the capability list, INTx with wired-OR sharing of a
 * GSI, and MSI-X (table, PBA, function and vector masks, delivery through
 * machine_msi()).  Device models (virtio_pci.c) build on it; the host
 * bridge (pci_host.c) routes configuration cycles here. */
#include "pci.h"

#include <stdlib.h>
#include <string.h>

#include "../core/util.h"

struct pci_bus *pci_bus_of(struct machine *m)
{
    return machine_find_device(m, "pci-host");
}

static void snap(struct pci_device *d)
{
    memcpy(d->cfg0, d->cfg, sizeof(d->cfg));
}

struct pci_device *pci_device_new(struct pci_bus *bus, const char *name,
                                  uint16_t vendor, uint16_t device,
                                  uint32_t class_code, uint8_t revision,
                                  uint16_t sub_vendor, uint16_t sub_device,
                                  bool intx, void *opaque)
{
    if (!bus) {
        fail("%s: the board has no PCI bus", name);
        return NULL;
    }
    int s = 0;
    while (s < PCI_SLOTS && bus->slot[s])
        s++;
    if (s == PCI_SLOTS) {
        fail("%s: no free PCI slot", name);
        return NULL;
    }
    struct pci_device *d = calloc(1, sizeof(*d));
    if (!d) {
        fail("out of memory");
        return NULL;
    }
    d->bus = bus;
    d->name = name;
    d->slot = s;
    d->opaque = opaque;
    d->gsi = -1;
    pci_put16(d->cfg + 0x00, vendor);
    pci_put16(d->cfg + 0x02, device);
    d->cfg[0x08] = revision;
    d->cfg[0x09] = (uint8_t)class_code;
    d->cfg[0x0a] = (uint8_t)(class_code >> 8);
    d->cfg[0x0b] = (uint8_t)(class_code >> 16);
    d->cfg[0x0e] = 0x00; /* header type 0, single function */
    pci_put16(d->cfg + 0x2c, sub_vendor);
    pci_put16(d->cfg + 0x2e, sub_device);
    d->wmask[0x04] = 0x47; /* I/O, memory, master, parity */
    d->wmask[0x05] = 0x05; /* SERR, INTx disable */
    d->wmask[0x0c] = 0xff; /* cache line size */
    d->wmask[0x0d] = 0xff; /* latency timer */
    d->cap_end = 0x40;
    if (intx) {
        /* INTA of slot s: GSI 10/11 by (pin + slot) % 2, pin A = 0 (the
         * DSDT's _PRT says the same). */
        d->gsi = (int)(FW_PCI_GSI_BASE + (unsigned)s % FW_PCI_GSI_COUNT);
        d->cfg[PCI_INT_LINE] = (uint8_t)d->gsi; /* as firmware sets it */
        d->cfg[PCI_INT_PIN] = 1;
        d->wmask[PCI_INT_LINE] = 0xff;
        /* Firmware makes the PCI lines level-triggered in the PIC's
         * ELCR (0x4d0/0x4d1) so that shared lines work. */
        uint8_t e = 0;
        uint16_t port = (uint16_t)(0x4d0 + (d->gsi >> 3));
        machine_pio(bus->m, port, &e, 1, false);
        e = (uint8_t)(e | 1u << (d->gsi & 7));
        machine_pio(bus->m, port, &e, 1, true);
    }
    snap(d);
    bus->slot[s] = d;
    return d;
}

uint32_t pci_bar_addr(const struct pci_device *d, int idx)
{
    uint32_t v = pci_get32(d->cfg + PCI_BAR0 + 4 * idx);
    return d->bar[idx].io ? v & ~3u : v & ~0xfu;
}

static void bar_update(struct pci_device *d, int i)
{
    struct pci_bar *b = &d->bar[i];
    if (!b->size)
        return;
    struct machine *m = d->bus->m;
    struct io_space *sp = b->io ? &m->pio : &m->mmio;
    uint16_t cmd = pci_get16(d->cfg + PCI_COMMAND);
    uint32_t a = pci_bar_addr(d, i);
    uint64_t end = (uint64_t)a + b->size;
    bool want = (cmd & (b->io ? PCI_CMD_IO : PCI_CMD_MEM)) && a != 0 &&
                (b->io ? end <= PCI_IO_END : end < 0x100000000ull);
    if (b->mapped && (!want || b->mapped_at != a)) {
        io_unregister(sp, b->mapped_at, b->opaque);
        b->mapped = false;
    }
    if (want && !b->mapped) {
        if (io_register(sp, a, b->size, b->fn, b->opaque, b->name) == 0) {
            b->mapped = true;
            b->mapped_at = a;
        } else {
            warnx_("PCI %s: BAR%d at %#x not mapped: %s", d->name, i, a,
                   popek_error());
        }
    }
}

static void intx_update(struct pci_device *d)
{
    uint16_t cmd = pci_get16(d->cfg + PCI_COMMAND);
    if (d->intx)
        d->cfg[PCI_STATUS] |= PCI_STATUS_INTX;
    else
        d->cfg[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTX;
    bool out = d->gsi >= 0 && d->intx && !(cmd & PCI_CMD_INTX_DISABLE);
    if (out == d->intx_out)
        return;
    d->intx_out = out;
    int *cnt = &d->bus->gsi_count[d->gsi];
    *cnt += out ? 1 : -1;
    if ((out && *cnt == 1) || (!out && *cnt == 0))
        machine_set_irq(d->bus->m, d->gsi, out);
}

void pci_set_intx(struct pci_device *d, bool level)
{
    d->intx = level;
    intx_update(d);
}

int pci_bar_init(struct pci_device *d, int idx, uint32_t size, bool io,
                 io_fn fn, void *opaque, const char *name)
{
    if (idx < 0 || idx > 5 || size < 16 || (size & (size - 1)) ||
        d->bar[idx].size)
        return fail("PCI %s: bad BAR%d", d->name, idx);
    struct pci_bus *bus = d->bus;
    uint32_t *next = io ? &bus->io_next : &bus->mem_next;
    uint64_t a = ((uint64_t)*next + size - 1) & ~(uint64_t)(size - 1);
    if (a + size > (io ? PCI_IO_END : PCI_MEM_END))
        return fail("PCI %s: no room for BAR%d (%u bytes)", d->name, idx,
                    size);
    *next = (uint32_t)(a + size);
    struct pci_bar *b = &d->bar[idx];
    *b = (struct pci_bar){.size = size, .io = io, .fn = fn,
                          .opaque = opaque, .name = name};
    unsigned r = PCI_BAR0 + 4 * (unsigned)idx;
    pci_put32(d->cfg + r, (uint32_t)a | (io ? 1u : 0u));
    pci_put32(d->wmask + r, ~(size - 1) & (io ? ~3u : ~0xfu));
    d->cfg[PCI_COMMAND] |= io ? PCI_CMD_IO : PCI_CMD_MEM;
    bar_update(d, idx);
    snap(d);
    return b->mapped ? 0 : fail("PCI %s: BAR%d cannot be mapped", d->name,
                                idx);
}

uint8_t pci_cap_add(struct pci_device *d, uint8_t id, uint8_t len)
{
    unsigned off = (d->cap_end + 3u) & ~3u;
    if (len < 2 || off + len > 256)
        return 0;
    d->cfg[off] = id;
    d->cfg[off + 1] = 0;
    if (d->cap_last)
        d->cfg[d->cap_last + 1] = (uint8_t)off;
    else
        d->cfg[PCI_CAP_PTR] = (uint8_t)off;
    d->cfg[PCI_STATUS] |= PCI_STATUS_CAPS;
    d->cap_last = (uint8_t)off;
    d->cap_end = (uint8_t)(off + len);
    snap(d);
    return (uint8_t)off;
}

/* ---- MSI-X ---- */

bool pci_msix_enabled(const struct pci_device *d)
{
    return d->msix_n && (d->cfg[d->msix_cap + 3] & 0x80);
}

static bool msix_masked(const struct pci_device *d, unsigned v)
{
    return (d->cfg[d->msix_cap + 3] & 0x40) ||
           (d->msix_table[16 * v + 12] & 1);
}

static void msix_send(struct pci_device *d, unsigned v)
{
    const uint8_t *e = d->msix_table + 16 * v;
    uint64_t addr = pci_get32(e) | (uint64_t)pci_get32(e + 4) << 32;
    d->msix_sent++;
    machine_msi(d->bus->m, addr, pci_get32(e + 8));
}

void pci_msix_notify(struct pci_device *d, unsigned v)
{
    if (!pci_msix_enabled(d) || v >= d->msix_n)
        return;
    if (msix_masked(d, v)) {
        d->msix_pending |= 1ull << v;
        return;
    }
    msix_send(d, v);
}

/* Deliver what became unmasked. */
static void msix_update(struct pci_device *d)
{
    if (!pci_msix_enabled(d))
        return;
    for (unsigned v = 0; v < d->msix_n; v++) {
        if ((d->msix_pending >> v & 1) && !msix_masked(d, v)) {
            d->msix_pending &= ~(1ull << v);
            msix_send(d, v);
        }
    }
}

static void msix_mmio(void *dev, uint64_t off, uint8_t *data, unsigned len,
                      bool is_write)
{
    struct pci_device *d = dev;
    unsigned tbl = 16 * d->msix_n;
    for (unsigned i = 0; i < len; i++) {
        uint64_t o = off + i;
        if (o < tbl) {
            if (is_write) {
                /* vector control: only the mask bit is writable */
                uint8_t v = data[i];
                if (o % 16 == 12)
                    v &= 1;
                else if (o % 16 > 12)
                    v = 0;
                d->msix_table[o] = v;
            } else {
                data[i] = d->msix_table[o];
            }
        } else if (o >= 0x800 && o < 0x808) {
            if (!is_write)
                data[i] = (uint8_t)(d->msix_pending >> (8 * (o - 0x800)));
        } else if (!is_write) {
            data[i] = 0;
        }
    }
    if (is_write)
        msix_update(d);
}

int pci_msix_init(struct pci_device *d, unsigned n, int bar_idx)
{
    if (n == 0 || n > 64)
        return fail("PCI %s: bad MSI-X vector count %u", d->name, n);
    uint8_t c = pci_cap_add(d, PCI_CAP_ID_MSIX, 12);
    if (!c)
        return fail("PCI %s: no room for the MSI-X capability", d->name);
    d->msix_n = n;
    d->msix_cap = c;
    pci_put16(d->cfg + c + 2, (uint16_t)(n - 1));
    d->wmask[c + 3] = 0xc0; /* enable, function mask */
    pci_put32(d->cfg + c + 4, 0x000u | (unsigned)bar_idx);
    pci_put32(d->cfg + c + 8, 0x800u | (unsigned)bar_idx);
    for (unsigned v = 0; v < n; v++)
        d->msix_table[16 * v + 12] = 1; /* masked at reset */
    snap(d);
    return pci_bar_init(d, bar_idx, 4096, false, msix_mmio, d, "msix");
}

/* ---- configuration cycles ---- */

static bool overlaps(unsigned reg, unsigned len, unsigned a, unsigned alen)
{
    return reg < a + alen && a < reg + len;
}

void pci_config_access(struct pci_device *d, unsigned reg, uint8_t *data,
                       unsigned len, bool is_write)
{
    if (!is_write) {
        for (unsigned i = 0; i < len; i++)
            data[i] = d->cfg[(reg + i) & 0xff];
        return;
    }
    for (unsigned i = 0; i < len; i++) {
        unsigned r = (reg + i) & 0xff;
        d->cfg[r] = (uint8_t)((d->cfg[r] & ~d->wmask[r]) |
                              (data[i] & d->wmask[r]));
    }
    if (overlaps(reg, len, PCI_COMMAND, 2) || overlaps(reg, len, PCI_BAR0, 24)) {
        for (int i = 0; i < 6; i++)
            bar_update(d, i);
        intx_update(d);
    }
    if (d->msix_n && overlaps(reg, len, d->msix_cap, 4))
        msix_update(d);
}

void pci_device_reset(struct pci_device *d)
{
    memcpy(d->cfg, d->cfg0, sizeof(d->cfg));
    for (unsigned v = 0; v < d->msix_n; v++) {
        memset(d->msix_table + 16 * v, 0, 16);
        d->msix_table[16 * v + 12] = 1;
    }
    d->msix_pending = 0;
    d->intx = false;
    for (int i = 0; i < 6; i++)
        bar_update(d, i);
    intx_update(d);
}
