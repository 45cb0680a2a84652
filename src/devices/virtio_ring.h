/* virtio_ring.h - split virtqueues (virtio 1.x, section 2.7) as the device
 * side sees them: descriptor chains (direct and indirect) turned into host
 * iovecs over guest RAM, the used ring, and the event index / flags that
 * decide whether the driver wants an interrupt.  No transport here:
 * virtio_pci.c owns the registers, the device files own the requests. */
#ifndef POPEK_VIRTIO_RING_H
#define POPEK_VIRTIO_RING_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1
#define VQ_MAX_SIZE 1024
#define VQ_MAX_IOV 260

struct virtq {
    uint8_t *ram;           /* guest RAM [0, ram_size) */
    uint64_t ram_size;
    uint16_t num;           /* queue size (power of two) */
    uint16_t max;           /* the device's maximum */
    bool enabled;
    uint64_t desc, avail, used;     /* guest-physical */
    uint16_t last_avail;    /* next avail entry to take */
    uint16_t used_idx;      /* our copy of used->idx */
    uint16_t signalled;     /* used_idx when we last interrupted */
    bool signalled_valid;
    bool event_idx;         /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;          /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    uint16_t msix_vector;
    uint64_t popped, errors;
};

/* One request: the device-readable ("out") buffers first, then the
 * device-writable ("in") ones, as host pointers into guest RAM. */
struct virtq_elem {
    uint16_t head;
    unsigned n_out, n_in;
    size_t out_len, in_len;
    struct iovec iov[VQ_MAX_IOV];
};

/* Back to the reset state (disabled, indices 0), keeping ram and max. */
void virtq_reset(struct virtq *q);
/* Are the three areas inside guest RAM and aligned? */
bool virtq_valid(const struct virtq *q);
/* Take the next available chain: 1 = got one, 0 = ring empty, -1 = the
 * driver broke the ring (bad address, loop, too long): the caller should
 * mark the device broken (e->head is still consumed). */
int virtq_pop(struct virtq *q, struct virtq_elem *e);
/* Put a chain in the used ring with len bytes written by the device. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* After pushes: does the driver want an interrupt now?  (Event index or
 * the NO_INTERRUPT flag.)  Records the signal when it says yes. */
bool virtq_should_notify(struct virtq *q);
/* Are there chains waiting? */
bool virtq_has_avail(const struct virtq *q);

/* Copy between an iovec array and a flat buffer, starting off bytes in;
 * return the bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf,
                  size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off,
                    const void *buf, size_t len);
/* The sub-array covering [off, off+len) of iov, into out (at most max
 * entries); returns the entries used. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off,
                   size_t len, struct iovec *out, unsigned max);

#endif
