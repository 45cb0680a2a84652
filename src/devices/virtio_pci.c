/* virtio_pci.c - the virtio 1.x PCI transport (see virtio_pci.h): the
 * vendor capabilities, the common configuration registers (features,
 * status, queue set-up), ISR, device configuration and notification
 * areas in BAR4, MSI-X in BAR1, and INTx (pin A) when MSI-X is off; the
 * queue eventfds, the completion ring and the bottom half that publishes
 * completions on the vCPU thread. */
#include "virtio_pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

static void reset_locked(struct virtio_dev *v)
{
    /* Completions not yet published belong to the old rings: drop them
     * (this thread is the ring's consumer; producers hold the lock). */
    atomic_store(&v->compl_tail, atomic_load(&v->compl_head));
    atomic_store(&v->broken_req, false);
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

void virtio_reset(struct virtio_dev *v)
{
    pthread_mutex_lock(&v->lock);
    reset_locked(v);
    v->compl_added = false;
    pthread_mutex_unlock(&v->lock);
}

static void set_status(struct virtio_dev *v, uint8_t s)
{
    if (s == 0) {
        reset_locked(v);
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
    atomic_store(&v->broken_req, true);
    v->compl_added = true; /* the bottom half applies it */
}

/* vCPU thread, lock held. */
static void apply_broken(struct virtio_dev *v)
{
    if (v->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    warnx_("%s: the driver broke a virtqueue; device needs reset", v->name);
    v->status |= VIRTIO_STATUS_NEEDS_RESET;
    for (unsigned i = 0; i < v->nq; i++)
        v->q[i].enabled = false;
    virtio_config_changed(v);
}

/* ---- completions ---- */

void virtio_complete(struct virtio_dev *v, unsigned qi,
                     const struct virtq_elem *e, uint32_t len)
{
    size_t left = len;
    for (unsigned i = e->n_out; i < e->n_out + e->n_in && left; i++) {
        size_t k = e->iov[i].iov_len < left ? e->iov[i].iov_len : left;
        machine_ram_dirty(v->m, (uint64_t)((uint8_t *)e->iov[i].iov_base -
                                           v->m->ram), k);
        left -= k;
    }
    unsigned h = atomic_load_explicit(&v->compl_head, memory_order_relaxed);
    unsigned t = atomic_load_explicit(&v->compl_tail, memory_order_acquire);
    if (h - t >= v->compl_cap) {
        /* more chains in flight than the rings hold: cannot happen with a
         * valid driver */
        virtio_set_broken(v);
        return;
    }
    v->compl[h % v->compl_cap] =
        (struct virtio_compl){.qi = (uint16_t)qi, .head = e->head,
                              .len = len};
    atomic_store_explicit(&v->compl_head, h + 1, memory_order_release);
    v->compl_added = true;
}

void virtio_publish(struct virtio_dev *v)
{
    if (!v->compl_added)
        return;
    v->compl_added = false;
    machine_bh_schedule(v->m, v->bh);
}

void virtio_lock(struct virtio_dev *v)
{
    pthread_mutex_lock(&v->lock);
}

void virtio_unlock(struct virtio_dev *v)
{
    bool added = v->compl_added;
    v->compl_added = false;
    pthread_mutex_unlock(&v->lock);
    if (added)
        machine_bh_schedule(v->m, v->bh);
}

bool virtio_active(struct virtio_dev *v)
{
    return virtio_running(v) && !atomic_load(&v->broken_req);
}

/* The bottom half (vCPU thread): engine first, then the used rings and
 * the interrupts. */
static void virtio_bh(void *opaque)
{
    struct virtio_dev *v = opaque;
    machine_ram_dirty_sync(v->m);
    if (atomic_load(&v->broken_req)) {
        pthread_mutex_lock(&v->lock);
        if (atomic_load(&v->broken_req))
            apply_broken(v);
        pthread_mutex_unlock(&v->lock);
    }
    bool pushed[VIRTIO_MAX_QUEUES] = {false};
    unsigned t = atomic_load_explicit(&v->compl_tail, memory_order_relaxed);
    unsigned h = atomic_load_explicit(&v->compl_head, memory_order_acquire);
    for (; t != h; t++) {
        struct virtio_compl c = v->compl[t % v->compl_cap];
        struct virtq *q = &v->q[c.qi];
        if (c.qi < v->nq && q->enabled) {
            virtq_push(q, c.head, c.len);
            pushed[c.qi] = true;
        }
    }
    atomic_store_explicit(&v->compl_tail, t, memory_order_release);
    for (unsigned i = 0; i < v->nq; i++)
        if (pushed[i])
            virtio_notify(v, &v->q[i]);
}

bool virtio_kick_take(struct virtio_dev *v, unsigned qi, short revents)
{
    if (qi >= v->nq || !(revents & POLLIN))
        return false;
    uint64_t n;
    if (read(v->kick_fd[qi], &n, sizeof(n)) < 0) {
        /* drained by an earlier round */
    }
    return true;
}

static void run_notify(struct virtio_dev *v, unsigned qi)
{
    virtio_lock(v);
    if (v->q[qi].enabled && virtio_active(v))
        v->ops->notify(v, qi);
    virtio_unlock(v);
}

static void kick_prepare(void *opaque, struct io_poll *p)
{
    struct virtio_dev *v = opaque;
    for (unsigned i = 0; i < v->nq; i++)
        v->kick_idx[i] = io_poll_add(p, v->kick_fd[i], POLLIN);
}

static void kick_dispatch(void *opaque, struct io_poll *p)
{
    struct virtio_dev *v = opaque;
    for (unsigned i = 0; i < v->nq; i++)
        if (virtio_kick_take(v, i, io_poll_revents(p, v->kick_idx[i])))
            run_notify(v, i);
}

int virtio_add_kick_source(struct virtio_dev *v)
{
    return iothread_add_source(v->m, kick_prepare, kick_dispatch, v);
}

/* The driver's notify write (vCPU thread). */
static void queue_kick(struct virtio_dev *v, unsigned qi)
{
    if (iothread_running(v->m)) {
        if (v->ops->try_inline && pthread_mutex_trylock(&v->lock) == 0) {
            bool done = !(v->q[qi].enabled && virtio_active(v)) ||
                        v->ops->try_inline(v, qi);
            virtio_unlock(v);
            if (done) {
                v->kicks_inline++;
                return;
            }
        }
        uint64_t one = 1;
        v->kicks_async++;
        if (write(v->kick_fd[qi], &one, sizeof(one)) < 0) {
            /* counter saturated: the I/O thread will look anyway */
        }
        return;
    }
    v->kicks_sync++;
    run_notify(v, qi);
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
            virtio_lock(v);
            common_write(v, o, len, img);
            virtio_unlock(v);
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
            virtio_lock(v);
            memcpy(v->config + o, data, len);
            v->ops->config_write(v, o, len);
            virtio_unlock(v);
        }
        return;
    }
    if (off >= VPCI_NOTIFY && off < VPCI_NOTIFY + VPCI_NOTIFY_MULT * v->nq) {
        unsigned qi = (unsigned)(off - VPCI_NOTIFY) / VPCI_NOTIFY_MULT;
        if (is_write && v->q[qi].enabled && virtio_running(v))
            queue_kick(v, qi);
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
    pthread_mutex_init(&v->lock, NULL);
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        v->kick_fd[i] = -1;
    v->compl_cap = 64;
    while (v->compl_cap < nq * qmax)
        v->compl_cap *= 2;
    v->compl = calloc(v->compl_cap, sizeof(*v->compl));
    v->bh = machine_bh_new(m, virtio_bh, v);
    if (!v->compl || !v->bh)
        return fail("out of memory");
    for (unsigned i = 0; i < nq; i++) {
        v->kick_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->kick_fd[i] < 0)
            return fail("%s: cannot create an eventfd: %s", name,
                        strerror(errno));
    }
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

void virtio_pci_free(struct virtio_dev *v)
{
    if (!v->m)
        return; /* never initialised */
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        if (v->kick_fd[i] >= 0)
            close(v->kick_fd[i]);
    free(v->compl);
    pthread_mutex_destroy(&v->lock);
    v->m = NULL;
}
