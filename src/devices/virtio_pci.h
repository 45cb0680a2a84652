/* virtio_pci.h - the virtio 1.x PCI transport (modern interface only) that
 * every popek virtio device uses: vendor 0x1af4, device 0x1040 + virtio
 * ID, revision 1; BAR4 (16 KiB memory) holds the common configuration
 * (0x0000), the ISR (0x1000), the device configuration (0x2000) and the
 * notification area (0x3000, notify_off_multiplier 4, queue i at 4*i),
 * each described by a vendor capability; BAR1 holds the MSI-X table.
 * Feature negotiation (VIRTIO_F_VERSION_1 required, EVENT_IDX and
 * INDIRECT_DESC offered), device status and reset live here; a device
 * model gives its ID, queues, features, config bytes and a notify hook.
 *
 * Threads.  The driver's notify write (vCPU thread) signals the queue's
 * eventfd (an ioeventfd); the device's notify hook then runs on the
 * machine's I/O thread (iothread.h), or on the vCPU thread inside the
 * write when no I/O thread runs (unit tests).  Either way it runs with
 * v->lock held, takes chains with virtq_pop and hands each finished one to
 * virtio_complete, which queues it (lock-free, single producer) for the
 * device's bottom half: on the vCPU thread, that first hands the RAM the
 * device wrote to the engine (machine_ram_dirty_sync: translated code of
 * those pages is dropped), then puts the chains in the used ring and
 * raises the interrupt (MSI-X or INTx), so the guest never sees a
 * completion before the engine forgot stale code, and interrupt
 * controllers are only touched by the vCPU thread.  The lock is taken by
 * the vCPU thread only for configuration writes and resets (which thus
 * wait for a request in progress, as a drain): never on notify, ISR reads
 * or interrupts. */
#ifndef POPEK_VIRTIO_PCI_H
#define POPEK_VIRTIO_PCI_H
#include <pthread.h>
#include <stdatomic.h>
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

/* A finished chain, on its way to the used ring. */
struct virtio_compl {
    uint16_t qi, head;
    uint32_t len;
};

struct virtio_ops {
    /* The driver kicked queue qi (v->lock held; I/O thread or vCPU). */
    void (*notify)(struct virtio_dev *v, unsigned qi);
    /* Optional, on the vCPU thread in the notify write when an I/O thread
     * runs (lock held, taken without waiting): do the requests that cannot
     * block (a read the page cache holds); false = the rest is for the
     * I/O thread (then the queue's eventfd is signalled). */
    bool (*try_inline)(struct virtio_dev *v, unsigned qi);
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
    /* Threads (see the top of this file). */
    pthread_mutex_t lock;
    int kick_fd[VIRTIO_MAX_QUEUES]; /* eventfd per queue */
    int kick_idx[VIRTIO_MAX_QUEUES]; /* their poll slots (I/O thread) */
    struct virtio_compl *compl;     /* ring of compl_cap entries */
    unsigned compl_cap;
    _Atomic unsigned compl_head, compl_tail;
    bool compl_added;               /* since the lock was taken */
    _Atomic bool broken_req;        /* the device found a broken ring */
    struct machine_bh *bh;
    uint64_t kicks_async, kicks_sync, kicks_inline;
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
/* Processing context (v->lock held): chain e of queue qi is done, the
 * device wrote len bytes into its device-writable buffers (those pages
 * are marked for the engine: machine_ram_dirty). */
void virtio_complete(struct virtio_dev *v, unsigned qi,
                     const struct virtq_elem *e, uint32_t len);
/* Processing context: publish the chains completed so far now (the
 * bottom half is scheduled), without waiting for the lock's release. */
void virtio_publish(struct virtio_dev *v);
/* Processing from a source of the device's own (not a notify): take and
 * drop the lock; virtio_unlock schedules the bottom half if chains were
 * completed. */
void virtio_lock(struct virtio_dev *v);
void virtio_unlock(struct virtio_dev *v);
/* Should processing go on (driver ready, ring not found broken)?  Lock
 * held. */
bool virtio_active(struct virtio_dev *v);
/* Add a source to the I/O thread that runs ops->notify when a queue's
 * eventfd is signalled (devices with nothing else to poll). */
int virtio_add_kick_source(struct virtio_dev *v);
/* The eventfd of queue qi was signalled (from a device's own source):
 * drain it and say so. */
bool virtio_kick_take(struct virtio_dev *v, unsigned qi, short revents);
/* vCPU thread: after the device pushed to q, interrupt the driver if it
 * wants one. */
void virtio_notify(struct virtio_dev *v, struct virtq *q);
/* The device configuration changed. */
void virtio_config_changed(struct virtio_dev *v);
/* The driver broke a ring: set NEEDS_RESET and tell it (any context with
 * the lock held; the vCPU thread applies it). */
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
/* A device (not machine) reset: what writing status 0 does (vCPU thread;
 * waits for a request in progress). */
void virtio_reset(struct virtio_dev *v);
/* Free what virtio_pci_init allocated (the device's destroy hook). */
void virtio_pci_free(struct virtio_dev *v);

#endif
