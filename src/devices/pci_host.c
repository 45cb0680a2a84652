/* pci_host.c - the PCI host bridge and bus 0, configuration mechanism #1:
 * the address register at 0xcf8 (dword accesses only, reads back what was
 * written) and the data window 0xcfc-0xcff (byte, word or dword).  The
 * bridge itself is the device at 00:00.0, an Intel 440FX (8086:1237, class
 * 06 00 00, header type 0); the devices the board adds (pci.c) take the
 * next slots.  Function 1-7 of every slot, other buses and empty slots read
 * all ones, which tells Linux's bus scan that nothing is there.
 * A byte access to 0xcf9 is the chipset's reset control register (as on
 * PIIX/ICH, named by the ACPI FADT's RESET_REG): writing it with bit 2
 * (RST_CPU) set resets the machine (0x06 is the usual value), which stops
 * popek with status 0; bit 1 (SYS_RST) reads back. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"
#include "pci.h"

#define PCI_ADDR_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc
#define PCI_ENABLE (1u << 31)

static void pci_addr_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct pci_bus *p = dev;
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

static struct pci_device *pci_target(struct pci_bus *p)
{
    /* bus 0, function 0 */
    if (!(p->addr & PCI_ENABLE) || (p->addr & 0x00ff0700u))
        return NULL;
    return p->slot[(p->addr >> 11) & 31];
}

static void pci_data_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct pci_bus *p = dev;
    struct pci_device *d = pci_target(p);
    if (!d) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    unsigned reg = (p->addr & 0xfc) + (unsigned)(offset & 3);
    if (reg + len > 256)
        len = 256 - reg;
    pci_config_access(d, reg, data, len, is_write);
}

static void pci_bus_reset(void *opaque)
{
    struct pci_bus *p = opaque;
    p->addr = 0;
    for (int s = 0; s < PCI_SLOTS; s++)
        if (p->slot[s])
            pci_device_reset(p->slot[s]);
}

static void pci_bus_destroy(void *opaque)
{
    struct pci_bus *p = opaque;
    for (int s = 0; s < PCI_SLOTS; s++)
        free(p->slot[s]);
    free(p);
}

int pci_host_create(struct machine *m, struct io_space *bus)
{
    if (machine_find_device(m, "pci-host"))
        return fail("the PCI host bridge already exists");
    struct pci_bus *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "pci-host", p, pci_bus_reset,
                                 pci_bus_destroy) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->m = m;
    p->mem_next = PCI_MEM_BASE;
    p->io_next = PCI_IO_BASE;
    struct pci_device *d = pci_device_new(p, "host-bridge", 0x8086, 0x1237,
                                          0x060000, 0x02, 0, 0, false, p);
    if (!d)
        return -1;
    d->cfg[0x04] = 0x06; /* memory space + bus master */
    d->cfg[0x06] = 0x80; /* status: fast back-to-back capable */
    d->cfg[0x07] = 0x02; /* DEVSEL medium */
    d->wmask[0x0c] = 0;  /* the bridge has no cache line size register */
    memset(d->wmask + 0x40, 0xff, 0xc0); /* chipset registers, plain bytes */
    d->cap_end = 0; /* no capabilities */
    memcpy(d->cfg0, d->cfg, sizeof(d->cfg));
    if (io_register(bus, PCI_ADDR_PORT, 4, pci_addr_io, p, "pci-addr") < 0)
        return -1;
    return io_register(bus, PCI_DATA_PORT, 4, pci_data_io, p, "pci-data");
}
