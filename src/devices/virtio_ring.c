/* virtio_ring.c - the device side of split virtqueues (see virtio_ring.h).
 * Guest memory is read through q->ram directly: the vCPU is not running
 * while a device model handles a notification or a poll on the vCPU
 * thread, and the fences order our ring updates for the kvm engine too. */
#include "virtio_ring.h"

#include <string.h>

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

static void *gpa(const struct virtq *q, uint64_t a, uint64_t len)
{
    if (a >= q->ram_size || len > q->ram_size - a)
        return NULL;
    return q->ram + a;
}

static uint16_t ld16(const struct virtq *q, uint64_t a)
{
    uint16_t v;
    memcpy(&v, q->ram + a, 2);
    return v;
}

static void st16(struct virtq *q, uint64_t a, uint16_t v)
{
    memcpy(q->ram + a, &v, 2);
}

void virtq_reset(struct virtq *q)
{
    uint8_t *ram = q->ram;
    uint64_t sz = q->ram_size;
    uint16_t max = q->max;
    memset(q, 0, sizeof(*q));
    q->ram = ram;
    q->ram_size = sz;
    q->max = max;
    q->num = max;
    q->msix_vector = 0xffff;
}

bool virtq_valid(const struct virtq *q)
{
    if (!q->num || (q->num & (q->num - 1)) || q->num > q->max)
        return false;
    uint64_t n = q->num;
    return !(q->desc & 15) && !(q->avail & 1) && !(q->used & 3) &&
           gpa(q, q->desc, 16 * n) && gpa(q, q->avail, 6 + 2 * n) &&
           gpa(q, q->used, 6 + 8 * n);
}

bool virtq_has_avail(const struct virtq *q)
{
    if (!q->enabled)
        return false;
    uint16_t idx = __atomic_load_n((uint16_t *)(q->ram + q->avail + 2),
                                   __ATOMIC_ACQUIRE);
    return idx != q->last_avail;
}

static int add_buf(struct virtq_elem *e, const struct virtq *q,
                   const struct vring_desc *d)
{
    if (e->n_out + e->n_in >= VQ_MAX_IOV)
        return -1;
    void *p = gpa(q, d->addr, d->len);
    if (!p)
        return -1;
    struct iovec *v = &e->iov[e->n_out + e->n_in];
    v->iov_base = p;
    v->iov_len = d->len;
    if (d->flags & VRING_DESC_F_WRITE) {
        e->n_in++;
        e->in_len += d->len;
    } else {
        if (e->n_in) /* readable after writable: not allowed */
            return -1;
        e->n_out++;
        e->out_len += d->len;
    }
    return 0;
}

/* Walk a descriptor table of n entries from index i. */
static int walk(const struct virtq *q, struct virtq_elem *e, uint64_t table,
                unsigned n, unsigned i, bool allow_indirect)
{
    for (unsigned steps = 0;; steps++) {
        if (i >= n || steps >= n)
            return -1; /* out of the table, or a loop */
        struct vring_desc d;
        memcpy(&d, q->ram + table + 16ull * i, 16);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (!allow_indirect || !q->indirect || (d.flags & VRING_DESC_F_NEXT) ||
                d.len % 16 || !d.len || !gpa(q, d.addr, d.len))
                return -1;
            return walk(q, e, d.addr, d.len / 16, 0, false);
        }
        if (add_buf(e, q, &d) < 0)
            return -1;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        i = d.next;
    }
}

int virtq_pop(struct virtq *q, struct virtq_elem *e)
{
    if (!virtq_has_avail(q))
        return 0;
    uint16_t head = ld16(q, q->avail + 4 + 2ull * (q->last_avail % q->num));
    q->last_avail++;
    if (q->event_idx) /* avail_event: kick us for the next one */
        st16(q, q->used + 4 + 8ull * q->num, q->last_avail);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    e->head = head;
    e->n_out = e->n_in = 0;
    e->out_len = e->in_len = 0;
    q->popped++;
    if (head >= q->num || walk(q, e, q->desc, q->num, head, true) < 0) {
        q->errors++;
        return -1;
    }
    return 1;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
    uint64_t slot = q->used + 4 + 8ull * (q->used_idx % q->num);
    uint32_t el[2] = {head, len};
    memcpy(q->ram + slot, el, 8);
    q->used_idx++;
    __atomic_store_n((uint16_t *)(q->ram + q->used + 2), q->used_idx,
                     __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = q->signalled, now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled = now;
    q->signalled_valid = true;
    if (!q->event_idx)
        return !(ld16(q, q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
    if (!valid)
        return true;
    uint16_t event = ld16(q, q->avail + 4 + 2ull * q->num);
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf,
                  size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len - done)
            k = len - done;
        memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, k);
        done += k;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off,
                    const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len - done)
            k = len - done;
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, k);
        done += k;
        off = 0;
    }
    return done;
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off,
                   size_t len, struct iovec *out, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len && k < max; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t take = iov[i].iov_len - off;
        if (take > len)
            take = len;
        out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
        out[k].iov_len = take;
        k++;
        len -= take;
        off = 0;
    }
    return k;
}
