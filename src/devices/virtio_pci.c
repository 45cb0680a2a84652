/* virtio_pci.c - the virtio 1.x PCI transport (see virtio_pci.h): the
 * vendor capabilities, the common configuration registers (features,
 * status, queue set-up), ISR, device configuration and notification
 * areas in BAR4, MSI-X in BAR1, and INTx (pin A) when MSI-X is off. */
#include "virtio_pci.h"

#include <string.h>

#include "../core/util.h"

/* virtio_pci_common_cfg offsets */
enum {
    CC_DFSELECT = 0x00, CC_DF = 0x04, CC_GFSELECT = 0x08, CC_GF = 0x0c,
    CC_MSIX = 0x10, CC_NUMQ = 0x12, CC_STATUS = 0x14, CC_GEN = 0x15,
    CC_QSEL = 0x16, CC_QSIZE = 0x18, CC_QMSIX = 0x1a, CC_QENABLE = 0x1c,
    CC_QNOTIFYOFF = 0x1e, CC_QDESC = 0x20, CC_QAVAIL = 0x28, CC_QUSED = 0x30,
    CC_LEN = 0x38,
};

static struct virtq *cur_q(struct virtio_dev *v)
{
    return v->queue_sel < v->nq ? &v->q[v->queue_sel] : NULL;
}

static void put(uint8_t *img, unsigned off, unsigned len, uint64_t val)
{
    for (unsigned i = 0; i < len; i++)
        img[off + i] = (uint8_t)(val >> (8 * i));
}

static uint64_t get(const uint8_t *img, unsigned off, unsigned len)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)img[off + i] << (8 * i);
    return v;
}

static void common_image(struct virtio_dev *v, uint8_t *img)
{
    memset(img, 0, CC_LEN);
    put(img, CC_DFSELECT, 4, v->dfselect);
    put(img, CC_DF, 4, v->dfselect < 2 ? v->host_features >> (32 * v->dfselect) : 0);
    put(img, CC_GFSELECT, 4, v->gfselect);
    put(img, CC_GF, 4, v->gfselect < 2 ? v->guest_features >> (32 * v->gfselect) : 0);
    put(img, CC_MSIX, 2, v->msix_config);
    put(img, CC_NUMQ, 2, v->nq);
    put(img, CC_STATUS, 1, v->status);
    put(img, CC_GEN, 1, v->config_gen);
    put(img, CC_QSEL, 2, v->queue_sel);
    struct virtq *q = cur_q(v);
    if (q) {
        put(img, CC_QSIZE, 2, q->num);
        put(img, CC_QMSIX, 2, q->msix_vector);
        put(img, CC_QENABLE, 2, q->enabled);
        put(img, CC_QNOTIFYOFF, 2, v->queue_sel);
        put(img, CC_QDESC, 8, q->desc);
        put(img, CC_QAVAIL, 8, q->avail);
        put(img, CC_QUSED, 8, q->used);
    }
}

void virtio_reset(struct virtio_dev *v)
{
    v->status = 0;
    v->isr = 0;
    v->guest_features = 0;
    v->dfselect = v->gfselect = 0;
    v->msix_config = 0xffff;
    v->queue_sel = 0;
    for (unsigned i = 0; i < v->nq; i++)
        virtq_reset(&v->q[i]);
    pci_set_intx(v->pci, false);
    if (v->ops->reset)
        v->ops->reset(v);
}

static void set_status(struct virtio_dev *v, uint8_t s)
{
    if (s == 0) {
        virtio_reset(v);
        return;
    }
    uint8_t old = v->status;
    if ((s & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        /* Only what we offered, and the modern interface. */
        if ((v->guest_features & ~v->host_features) ||
            !virtio_has(v, VIRTIO_F_VERSION_1))
            s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        for (unsigned i = 0; i < v->nq; i++) {
            v->q[i].event_idx = virtio_has(v, VIRTIO_RING_F_EVENT_IDX);
            v->q[i].indirect = virtio_has(v, VIRTIO_RING_F_INDIRECT_DESC);
        }
    }
    v->status = (uint8_t)(s | (old & VIRTIO_STATUS_NEEDS_RESET));
    if ((s & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
        v->ops->driver_ok)
        v->ops->driver_ok(v);
}

static bool hit(unsigned off, unsigned len, unsigned f, unsigned flen)
{
    return off < f + flen && f < off + len;
}

static void common_write(struct virtio_dev *v, unsigned off, unsigned len,
                         const uint8_t *img)
{
    struct virtq *q = cur_q(v);
    if (hit(off, len, CC_DFSELECT, 4))
        v->dfselect = (uint32_t)get(img, CC_DFSELECT, 4);
    if (hit(off, len, CC_GFSELECT, 4))
        v->gfselect = (uint32_t)get(img, CC_GFSELECT, 4);
    if (hit(off, len, CC_GF, 4) && v->gfselect < 2 &&
        !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
        unsigned sh = 32 * v->gfselect;
        v->guest_features = (v->guest_features & ~(0xffffffffull << sh)) |
                            get(img, CC_GF, 4) << sh;
    }
    if (hit(off, len, CC_MSIX, 2)) {
        uint16_t vec = (uint16_t)get(img, CC_MSIX, 2);
        v->msix_config = vec < v->pci->msix_n ? vec : 0xffff;
    }
    if (hit(off, len, CC_QSEL, 2))
        v->queue_sel = (uint16_t)get(img, CC_QSEL, 2);
    if (q && !q->enabled) {
        if (hit(off, len, CC_QSIZE, 2)) {
            uint16_t n = (uint16_t)get(img, CC_QSIZE, 2);
            if (n && !(n & (n - 1)) && n <= q->max)
                q->num = n;
        }
        if (hit(off, len, CC_QDESC, 8))
            q->desc = get(img, CC_QDESC, 8);
        if (hit(off, len, CC_QAVAIL, 8))
            q->avail = get(img, CC_QAVAIL, 8);
        if (hit(off, len, CC_QUSED, 8))
            q->used = get(img, CC_QUSED, 8);
        if (hit(off, len, CC_QENABLE, 2) && get(img, CC_QENABLE, 2) == 1) {
            if (virtq_valid(q)) {
                q->enabled = true;
                q->last_avail = q->used_idx = 0;
                q->signalled_valid = false;
            } else {
                warnx_("%s: queue %u set up outside guest RAM", v->name,
                       v->queue_sel);
                virtio_set_broken(v);
            }
        }
    }
    if (q && hit(off, len, CC_QMSIX, 2)) {
        uint16_t vec = (uint16_t)get(img, CC_QMSIX, 2);
        q->msix_vector = vec < v->pci->msix_n ? vec : 0xffff;
    }
    if (hit(off, len, CC_STATUS, 1))
        set_status(v, img[CC_STATUS]);
}

static void interrupt(struct virtio_dev *v, uint8_t isr_bit, uint16_t vec)
{
    v->interrupts++;
    if (pci_msix_enabled(v->pci)) {
        if (vec != 0xffff)
            pci_msix_notify(v->pci, vec);
        return;
    }
    v->isr |= isr_bit;
    pci_set_intx(v->pci, true);
}

void virtio_notify(struct virtio_dev *v, struct virtq *q)
{
    if (virtq_should_notify(q))
        interrupt(v, 1, q->msix_vector);
}

void virtio_config_changed(struct virtio_dev *v)
{
    v->config_gen++;
    if (v->status & VIRTIO_STATUS_DRIVER_OK)
        interrupt(v, 2, v->msix_config);
}

void virtio_set_broken(struct virtio_dev *v)
{
    if (v->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    warnx_("%s: the driver broke a virtqueue; device needs reset", v->name);
    v->status |= VIRTIO_STATUS_NEEDS_RESET;
    for (unsigned i = 0; i < v->nq; i++)
        v->q[i].enabled = false;
    virtio_config_changed(v);
}

static void bar_io(void *dev, uint64_t off, uint8_t *data, unsigned len,
                   bool is_write)
{
    struct virtio_dev *v = dev;
    if (off < VPCI_COMMON + CC_LEN) {
        uint8_t img[CC_LEN];
        unsigned o = (unsigned)off;
        if (o + len > CC_LEN)
            len = CC_LEN - o;
        common_image(v, img);
        if (is_write) {
            memcpy(img + o, data, len);
            common_write(v, o, len, img);
        } else {
            memcpy(data, img + o, len);
        }
        return;
    }
    if (off >= VPCI_ISR && off < VPCI_ISR + 4) {
        if (!is_write) {
            memset(data, 0, len);
            if (off == VPCI_ISR) {
                data[0] = v->isr; /* read to clear, deasserts INTx */
                v->isr = 0;
                pci_set_intx(v->pci, false);
            }
        }
        return;
    }
    if (off >= VPCI_DEVICE && off < VPCI_DEVICE + v->config_len) {
        unsigned o = (unsigned)(off - VPCI_DEVICE);
        if (o + len > v->config_len)
            len = v->config_len - o;
        if (!is_write) {
            memcpy(data, v->config + o, len);
        } else if (v->ops->config_write) {
            memcpy(v->config + o, data, len);
            v->ops->config_write(v, o, len);
        }
        return;
    }
    if (off >= VPCI_NOTIFY && off < VPCI_NOTIFY + VPCI_NOTIFY_MULT * v->nq) {
        unsigned qi = (unsigned)(off - VPCI_NOTIFY) / VPCI_NOTIFY_MULT;
        if (is_write && v->q[qi].enabled && virtio_running(v))
            v->ops->notify(v, qi);
        return;
    }
    if (!is_write)
        memset(data, 0, len);
}

static void add_cap(struct pci_device *d, uint8_t type, uint32_t off,
                    uint32_t len, bool notify)
{
    uint8_t c = pci_cap_add(d, PCI_CAP_ID_VNDR, notify ? 20 : 16);
    d->cfg[c + 2] = notify ? 20 : 16; /* cap_len */
    d->cfg[c + 3] = type;
    d->cfg[c + 4] = 4; /* BAR4 */
    pci_put32(d->cfg + c + 8, off);
    pci_put32(d->cfg + c + 12, len);
    if (notify)
        pci_put32(d->cfg + c + 16, VPCI_NOTIFY_MULT);
    memcpy(d->cfg0, d->cfg, sizeof(d->cfg));
}

int virtio_pci_init(struct virtio_dev *v, struct machine *m, const char *name,
                    uint16_t virtio_id, uint32_t class_code, unsigned nq,
                    unsigned qmax, uint64_t features, unsigned config_len,
                    const struct virtio_ops *ops, void *opaque)
{
    if (nq == 0 || nq > VIRTIO_MAX_QUEUES || config_len > sizeof(v->config) ||
        qmax > VQ_MAX_SIZE)
        return fail("%s: bad virtio parameters", name);
    v->m = m;
    v->ops = ops;
    v->opaque = opaque;
    v->name = name;
    v->nq = nq;
    v->config_len = config_len;
    v->host_features = features | 1ull << VIRTIO_F_VERSION_1 |
                       1ull << VIRTIO_RING_F_EVENT_IDX |
                       1ull << VIRTIO_RING_F_INDIRECT_DESC;
    for (unsigned i = 0; i < nq; i++) {
        v->q[i].ram = m->ram;
        v->q[i].ram_size = m->ram_size;
        v->q[i].max = (uint16_t)qmax;
    }
    v->pci = pci_device_new(pci_bus_of(m), name, 0x1af4,
                            (uint16_t)(0x1040 + virtio_id), class_code, 1,
                            0x1af4, virtio_id, true, v);
    if (!v->pci)
        return -1;
    struct pci_device *d = v->pci;
    if (pci_msix_init(d, nq + 1, 1) < 0)
        return -1;
    add_cap(d, 1, VPCI_COMMON, 0x1000, false);
    add_cap(d, 3, VPCI_ISR, 0x1000, false);
    add_cap(d, 4, VPCI_DEVICE, 0x1000, false);
    add_cap(d, 2, VPCI_NOTIFY, 0x1000, true);
    if (pci_bar_init(d, 4, VPCI_BAR_SIZE, false, bar_io, v, name) < 0)
        return -1;
    d->cfg[PCI_COMMAND] |= PCI_CMD_MASTER;
    memcpy(d->cfg0, d->cfg, sizeof(d->cfg));
    virtio_reset(v);
    return 0;
}
