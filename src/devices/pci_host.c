/* pci_host.c - a PCI host bridge with configuration mechanism #1: the
 * address register at 0xcf8 (dword accesses only, reads back what was
 * written) and the data window 0xcfc-0xcff (byte, word or dword).  Only the
 * bridge itself answers, at 00:00.0, as an Intel 440FX (8086:1237, class
 * 06 00 00, header type 0); every other bus/device/function reads all ones,
 * which tells Linux's bus scan that nothing is there.  Writes reach only the
 * bridge's command register, latency timer and its device-specific area
 * 0x40-0xff (kept as plain bytes); everything else is read-only.
 * A byte access to 0xcf9 is the chipset's reset control register (as on
 * PIIX/ICH, named by the ACPI FADT's RESET_REG): writing it with bit 2
 * (RST_CPU) set resets the machine (0x06 is the usual value), which stops
 * popek with status 0; bit 1 (SYS_RST) reads back. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define PCI_ADDR_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc
#define PCI_ENABLE (1u << 31)

struct pci_host {
    struct machine *m;
    uint32_t addr;
    uint8_t rcr;      /* reset control register at 0xcf9 */
    uint8_t cfg[256]; /* config space of 00:00.0 */
};

/* Per byte of the bridge's config space: the bits a write may change. */
static uint8_t pci_write_mask(unsigned reg)
{
    switch (reg) {
    case 0x04: return 0x47; /* command: I/O, memory, master, parity */
    case 0x05: return 0x01; /* command: SERR# enable */
    case 0x0d: return 0xff; /* latency timer */
    default: return reg >= 0x40 ? 0xff : 0x00;
    }
}

static void pci_bridge_reset(struct pci_host *p)
{
    memset(p->cfg, 0, sizeof(p->cfg));
    p->cfg[0x00] = 0x86; /* vendor 0x8086 */
    p->cfg[0x01] = 0x80;
    p->cfg[0x02] = 0x37; /* device 0x1237 (440FX) */
    p->cfg[0x03] = 0x12;
    p->cfg[0x04] = 0x06; /* memory space + bus master */
    p->cfg[0x06] = 0x80; /* status: fast back-to-back capable */
    p->cfg[0x07] = 0x02; /* DEVSEL medium */
    p->cfg[0x08] = 0x02; /* revision */
    p->cfg[0x09] = 0x00; /* prog-if */
    p->cfg[0x0a] = 0x00; /* subclass: host bridge */
    p->cfg[0x0b] = 0x06; /* class: bridge */
    p->cfg[0x0e] = 0x00; /* header type 0, single function */
}

static void pci_addr_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct pci_host *p = dev;
    if (offset == 1 && len == 1) {
        if (!is_write) {
            data[0] = p->rcr;
            return;
        }
        p->rcr = data[0] & 0x02;
        if (data[0] & 0x04)
            machine_request_stop(p->m, ST_GUEST_RESET,
                                 "guest reset through port 0xcf9");
        return;
    }
    if (offset != 0 || len != 4) {
        /* Not the address register (byte accesses to 0xcf8-0xcfb are
         * other chipset registers we do not have). */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    if (is_write)
        p->addr = io_get(data, 4);
    else
        io_put(data, 4, p->addr);
}

static bool pci_is_bridge(uint32_t addr)
{
    /* bus 0, device 0, function 0 */
    return (addr & 0x00ffff00u) == 0;
}

static void pci_data_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct pci_host *p = dev;
    bool present = (p->addr & PCI_ENABLE) && pci_is_bridge(p->addr);
    for (unsigned i = 0; i < len; i++) {
        unsigned reg = (p->addr & 0xfc) + (unsigned)((offset + i) & 3);
        if (!present) {
            if (!is_write)
                data[i] = 0xff;
            continue;
        }
        if (is_write) {
            uint8_t mask = pci_write_mask(reg);
            p->cfg[reg] = (uint8_t)((p->cfg[reg] & ~mask) | (data[i] & mask));
        } else {
            data[i] = p->cfg[reg];
        }
    }
}

int pci_host_create(struct machine *m, struct io_space *bus)
{
    if (machine_find_device(m, "pci-host"))
        return fail("the PCI host bridge already exists");
    struct pci_host *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "pci-host", p, NULL, NULL) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->m = m;
    pci_bridge_reset(p);
    if (io_register(bus, PCI_ADDR_PORT, 4, pci_addr_io, p, "pci-addr") < 0)
        return -1;
    return io_register(bus, PCI_DATA_PORT, 4, pci_data_io, p, "pci-data");
}
