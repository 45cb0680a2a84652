/* virtio_pci.h - the virtio 1.x PCI transport (modern interface only) that
 * every popek virtio device uses: vendor 0x1af4, device 0x1040 + virtio
 * ID, revision 1; BAR4 (16 KiB memory) holds the common configuration
 * (0x0000), the ISR (0x1000), the device configuration (0x2000) and the
 * notification area (0x3000, notify_off_multiplier 4, queue i at 4*i),
 * each described by a vendor capability; BAR1 holds the MSI-X table.
 * Feature negotiation (VIRTIO_F_VERSION_1 required, EVENT_IDX and
 * INDIRECT_DESC offered), device status and reset live here; a device
 * model gives its ID, queues, features, config bytes and a notify hook. */
#ifndef POPEK_VIRTIO_PCI_H
#define POPEK_VIRTIO_PCI_H
#include <stdbool.h>
#include <stdint.h>

#include "../core/machine.h"
#include "pci.h"
#include "virtio_ring.h"

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_MAX_QUEUES 4

#define VIRTIO_STATUS_ACK 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* BAR4 layout */
#define VPCI_COMMON 0x0000
#define VPCI_ISR 0x1000
#define VPCI_DEVICE 0x2000
#define VPCI_NOTIFY 0x3000
#define VPCI_BAR_SIZE 0x4000
#define VPCI_NOTIFY_MULT 4

struct virtio_dev;

struct virtio_ops {
    /* The driver kicked queue qi. */
    void (*notify)(struct virtio_dev *v, unsigned qi);
    /* Device-specific part of a reset (status 0 or machine reset). */
    void (*reset)(struct virtio_dev *v);
    /* The driver wrote device config bytes [off, off+len) (optional). */
    void (*config_write)(struct virtio_dev *v, unsigned off, unsigned len);
    /* DRIVER_OK was set (optional). */
    void (*driver_ok)(struct virtio_dev *v);
};

struct virtio_dev {
    struct machine *m;
    struct pci_device *pci;
    const struct virtio_ops *ops;
    void *opaque;                   /* the device model */
    const char *name;
    uint64_t host_features, guest_features;
    uint32_t dfselect, gfselect;
    uint8_t status, isr, config_gen;
    uint16_t msix_config, queue_sel;
    unsigned nq;
    struct virtq q[VIRTIO_MAX_QUEUES];
    uint8_t config[256];
    unsigned config_len;
    uint64_t interrupts;            /* statistics */
};

/* Create the PCI function and its BARs for a device model: virtio_id (1
 * net, 2 block, 4 entropy), PCI class code, nq queues of at most qmax
 * entries, the device's own feature bits (the transport adds VERSION_1,
 * EVENT_IDX and INDIRECT_DESC), config_len bytes of v->config.  v is
 * embedded in (or owned by) the device model. */
int virtio_pci_init(struct virtio_dev *v, struct machine *m, const char *name,
                    uint16_t virtio_id, uint32_t class_code, unsigned nq,
                    unsigned qmax, uint64_t features, unsigned config_len,
                    const struct virtio_ops *ops, void *opaque);
/* After the device pushed to q: interrupt the driver if it wants one. */
void virtio_notify(struct virtio_dev *v, struct virtq *q);
/* The device configuration changed. */
void virtio_config_changed(struct virtio_dev *v);
/* The driver broke a ring: set NEEDS_RESET and tell it. */
void virtio_set_broken(struct virtio_dev *v);
/* Features both sides agreed on include bit b. */
static inline bool virtio_has(const struct virtio_dev *v, unsigned b)
{
    return v->guest_features >> b & 1;
}
static inline bool virtio_running(const struct virtio_dev *v)
{
    return (v->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(v->status & VIRTIO_STATUS_NEEDS_RESET);
}
/* A device (not machine) reset: what writing status 0 does. */
void virtio_reset(struct virtio_dev *v);

#endif
