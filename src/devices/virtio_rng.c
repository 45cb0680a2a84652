/* virtio_rng.c - virtio entropy device (virtio ID 4), `--rng`: every
 * buffer the driver offers is filled from the host's getrandom() when it
 * kicks the queue (on the machine's I/O thread). */
#include <stdlib.h>
#include <sys/random.h>

#include "../core/util.h"
#include "devices.h"
#include "virtio_pci.h"

struct vrng {
    struct virtio_dev v;
    struct virtq_elem elem;
    uint64_t bytes;
};

static void rng_notify(struct virtio_dev *v, unsigned qi)
{
    struct vrng *r = v->opaque;
    struct virtq *q = &v->q[qi];
    struct virtq_elem *e = &r->elem;
    int got;
    while ((got = virtq_pop(q, e)) != 0) {
        if (got < 0) {
            virtio_set_broken(v);
            return;
        }
        size_t done = 0;
        for (unsigned i = e->n_out; i < e->n_out + e->n_in; i++) {
            size_t want = e->iov[i].iov_len, k = 0;
            while (k < want) {
                ssize_t n = getrandom((char *)e->iov[i].iov_base + k,
                                      want - k, 0);
                if (n <= 0)
                    break;
                k += (size_t)n;
            }
            done += k;
            if (k < want)
                break;
        }
        r->bytes += done;
        virtio_complete(v, qi, e, (uint32_t)done);
    }
}

static const struct virtio_ops rng_ops = {.notify = rng_notify};

static void rng_reset(void *opaque)
{
    struct vrng *r = opaque;
    virtio_reset(&r->v);
}

static void rng_destroy(void *opaque)
{
    struct vrng *r = opaque;
    virtio_pci_free(&r->v);
    free(r);
}

int virtio_rng_create(struct machine *m)
{
    struct vrng *r = calloc(1, sizeof(*r));
    if (!r || machine_add_device(m, "virtio-rng", r, rng_reset,
                                 rng_destroy) < 0) {
        free(r);
        return fail("out of memory");
    }
    if (virtio_pci_init(&r->v, m, "virtio-rng", 4, 0xff0000, 1, 64, 0, 0,
                        &rng_ops, r) < 0)
        return -1;
    return virtio_add_kick_source(&r->v);
}
