/* pci.h - popek's PCI bus 0 (one host bridge, up to 32 single-function
 * devices).  The host bridge (pci_host.c) owns the bus and the 0xcf8/0xcfc
 * configuration ports; pci.c owns what a device is: a 256-byte type-0
 * configuration space with per-bit write masks, BARs (sizing by writing all
 * ones; I/O and 32-bit memory BARs mapped into m->pio / m->mmio while the
 * command register enables decoding; pre-assigned at creation in the PCI
 * hole, as firmware would), the capability list, INTx (pin A, slot-swizzled
 * onto GSI 10/11, wired-OR with the other devices on the line) and MSI-X
 * (table + PBA in a BAR of its own, delivered through machine_msi()). */
#ifndef POPEK_PCI_H
#define POPEK_PCI_H
#include <stdbool.h>
#include <stdint.h>

#include "../core/machine.h"
#include "../firmware/firmware.h"

#define PCI_SLOTS 32
/* 32-bit MMIO BAR window, as the DSDT's \_SB.PCI0._CRS describes it */
#define PCI_MEM_BASE FW_PCI_MEM_BASE
#define PCI_MEM_END FW_PCI_MEM_END
#define PCI_IO_BASE 0xc000u       /* I/O BAR window (to 0xffff) */
#define PCI_IO_END 0x10000u

/* Configuration space registers. */
#define PCI_COMMAND 0x04
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS 0x06
#define PCI_STATUS_INTX 0x08
#define PCI_STATUS_CAPS 0x10
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34
#define PCI_INT_LINE 0x3c
#define PCI_INT_PIN 0x3d
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

struct pci_device;

struct pci_bar {
    uint32_t size;          /* 0 = BAR not implemented; a power of two */
    bool io;                /* I/O space (else 32-bit memory) */
    io_fn fn;
    void *opaque;
    const char *name;
    bool mapped;
    uint32_t mapped_at;
};

struct pci_bus {
    struct machine *m;
    uint32_t addr;                      /* 0xcf8 */
    uint8_t rcr;                        /* reset control register 0xcf9 */
    struct pci_device *slot[PCI_SLOTS];
    uint32_t mem_next, io_next;         /* BAR pre-assignment */
    int gsi_count[24];                  /* INTx wired-OR per GSI */
};

struct pci_device {
    struct pci_bus *bus;
    const char *name;
    int slot;
    uint8_t cfg[256];
    uint8_t wmask[256];     /* bits a config write may change */
    uint8_t cfg0[256];      /* as firmware left it (reset) */
    struct pci_bar bar[6];
    uint8_t cap_end;        /* where the next capability goes */
    uint8_t cap_last;       /* offset of the last capability (0 = none) */
    int gsi;                /* INTx A routed here (-1 = no INTx) */
    bool intx;              /* the device asserts INTx */
    bool intx_out;          /* what this device drives onto the line */
    /* MSI-X */
    unsigned msix_n;        /* vectors (0 = no MSI-X) */
    uint8_t msix_cap;
    uint8_t msix_table[64 * 16]; /* addr lo, addr hi, data, control */
    uint64_t msix_pending;  /* PBA bits */
    uint64_t msix_sent;     /* messages delivered (statistics, tests) */
    void *opaque;           /* the device model's own state */
};

/* The bus of machine m (NULL if the board made no PCI host bridge). */
struct pci_bus *pci_bus_of(struct machine *m);
/* A new device in the first free slot: vendor/device IDs, class code
 * (class << 16 | subclass << 8 | prog-if), revision, subsystem IDs.  INTx
 * pin A is wired if intx.  NULL with fail() if the bus is full. */
struct pci_device *pci_device_new(struct pci_bus *bus, const char *name,
                                  uint16_t vendor, uint16_t device,
                                  uint32_t class_code, uint8_t revision,
                                  uint16_t sub_vendor, uint16_t sub_device,
                                  bool intx, void *opaque);
/* Give BAR idx a size (power of two, >= 16 for I/O, >= 4096 for memory is
 * used) and its handler; pre-assigns an address in the PCI window and maps
 * it (the command register's decode bit for its space is set). */
int pci_bar_init(struct pci_device *d, int idx, uint32_t size, bool io,
                 io_fn fn, void *opaque, const char *name);
/* Append a capability of len bytes (id, next, then len-2 bytes the caller
 * fills in d->cfg[off+2..]); returns its offset, or 0 if config space is
 * full.  The caller sets d->wmask for bytes the guest may write. */
uint8_t pci_cap_add(struct pci_device *d, uint8_t id, uint8_t len);
/* MSI-X with n vectors (<= 64): table at 0 and PBA at 0x800 of BAR
 * bar_idx (4 KiB memory BAR, made here). */
int pci_msix_init(struct pci_device *d, unsigned n, int bar_idx);
bool pci_msix_enabled(const struct pci_device *d);
/* Signal MSI-X vector v: delivered now, or left pending while masked. */
void pci_msix_notify(struct pci_device *d, unsigned v);
/* Assert or deassert the device's INTx (honours INTX_DISABLE). */
void pci_set_intx(struct pci_device *d, bool level);
/* Configuration access to a device (the host bridge's data window). */
void pci_config_access(struct pci_device *d, unsigned reg, uint8_t *data,
                       unsigned len, bool is_write);
/* The guest-visible address of BAR idx (as programmed). */
uint32_t pci_bar_addr(const struct pci_device *d, int idx);
/* Device reset: command, BARs back to their firmware addresses, MSI-X and
 * INTx off. */
void pci_device_reset(struct pci_device *d);

static inline uint16_t pci_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t pci_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline void pci_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void pci_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#endif
