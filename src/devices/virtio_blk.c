/* virtio_blk.c - virtio block device (virtio ID 2) on a raw image file,
 * for `--disk FILE[,ro]`: read, write, flush (fdatasync of the image),
 * discard (a hole punched in the image), GET_ID (the file's base name).
 * Requests run on the machine's I/O thread when the driver kicks the
 * queue (an eventfd; virtio_pci.h), with preadv/pwritev straight from and
 * into guest RAM, so a slow disk never stalls the vCPU or its timers; each
 * finished request is published at once (the vCPU thread puts it in the
 * used ring and interrupts).  Reads the host's page cache holds are done
 * in the notify write itself (preadv2 RWF_NOWAIT never blocks), which
 * saves two thread hand-offs per request; anything else goes to the I/O
 * thread.  A completed write is in the host's page
 * cache, so it survives popek being killed, and a flush makes it durable.  The image is checked (exists, readable, writable
 * unless ,ro, a non-zero multiple of 512 bytes, not in use by another
 * popek) before the guest starts. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/util.h"
#include "devices.h"
#include "virtio_pci.h"

#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define QSIZE 256
#define SEG_MAX (VQ_MAX_IOV - 4)

struct vblk {
    struct virtio_dev v;
    int fd;
    bool ro;
    uint64_t sectors;
    char serial[20];
    struct virtq_elem elem;
    bool stashed;           /* elem popped inline, left for the I/O thread */
    struct iovec data[VQ_MAX_IOV];
    uint64_t reads, writes, flushes, discards, errors, inline_reads;
};

struct blk_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

static uint8_t do_rw(struct vblk *b, const struct iovec *iov, unsigned n,
                     size_t len, uint64_t sector, bool write)
{
    if (len % 512 || sector > b->sectors || len / 512 > b->sectors - sector)
        return VIRTIO_BLK_S_IOERR;
    off_t off = (off_t)(sector * 512);
    size_t done = 0;
    while (done < len) {
        struct iovec part[VQ_MAX_IOV];
        unsigned k = iov_slice(iov, n, done, len - done, part, VQ_MAX_IOV);
        ssize_t r = write ? pwritev(b->fd, part, (int)k, off + (off_t)done)
                          : preadv(b->fd, part, (int)k, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return VIRTIO_BLK_S_IOERR;
        done += (size_t)r;
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t do_discard(struct vblk *b, struct virtq_elem *e)
{
    for (size_t off = 16; off + 16 <= e->out_len; off += 16) {
        struct { uint64_t sector; uint32_t num, flags; } seg;
        iov_to_buf(e->iov, e->n_out, off, &seg, sizeof(seg));
        if (seg.sector > b->sectors || seg.num > b->sectors - seg.sector)
            return VIRTIO_BLK_S_IOERR;
        if (fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t)(seg.sector * 512), (off_t)seg.num * 512) < 0 &&
            errno != EOPNOTSUPP)
            return VIRTIO_BLK_S_IOERR;
    }
    b->discards++;
    return VIRTIO_BLK_S_OK;
}

/* One request; returns the bytes written into the driver's buffers. */
static uint32_t handle(struct vblk *b, struct virtq_elem *e)
{
    struct blk_hdr h;
    if (e->out_len < sizeof(h) || e->in_len < 1) {
        b->errors++;
        return 0;
    }
    iov_to_buf(e->iov, e->n_out, 0, &h, sizeof(h));
    const struct iovec *in = e->iov + e->n_out;
    size_t in_data = e->in_len - 1; /* the last byte is the status */
    uint32_t len = 1;
    uint8_t st;
    unsigned n;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        n = iov_slice(in, e->n_in, 0, in_data, b->data, VQ_MAX_IOV);
        st = do_rw(b, b->data, n, in_data, h.sector, false);
        if (st == VIRTIO_BLK_S_OK)
            len += (uint32_t)in_data;
        b->reads++;
        break;
    case VIRTIO_BLK_T_OUT:
        n = iov_slice(e->iov, e->n_out, sizeof(h), e->out_len - sizeof(h),
                      b->data, VQ_MAX_IOV);
        st = b->ro ? VIRTIO_BLK_S_IOERR
                   : do_rw(b, b->data, n, e->out_len - sizeof(h), h.sector,
                           true);
        b->writes++;
        break;
    case VIRTIO_BLK_T_FLUSH:
        st = b->ro || fdatasync(b->fd) == 0 ? VIRTIO_BLK_S_OK
                                             : VIRTIO_BLK_S_IOERR;
        b->flushes++;
        break;
    case VIRTIO_BLK_T_GET_ID: {
        size_t k = in_data < sizeof(b->serial) ? in_data : sizeof(b->serial);
        iov_from_buf(in, e->n_in, 0, b->serial, k);
        len += (uint32_t)k;
        st = VIRTIO_BLK_S_OK;
        break;
    }
    case VIRTIO_BLK_T_DISCARD:
        st = b->ro ? VIRTIO_BLK_S_IOERR : do_discard(b, e);
        break;
    default:
        st = VIRTIO_BLK_S_UNSUPP;
    }
    if (st != VIRTIO_BLK_S_OK)
        b->errors++;
    iov_from_buf(in, e->n_in, in_data, &st, 1);
    return len;
}

static void blk_notify(struct virtio_dev *v, unsigned qi)
{
    struct vblk *b = v->opaque;
    struct virtq *q = &v->q[qi];
    int r;
    if (b->stashed) {
        b->stashed = false;
        virtio_complete(v, qi, &b->elem, handle(b, &b->elem));
        virtio_publish(v);
    }
    while ((r = virtq_pop(q, &b->elem)) != 0) {
        if (r < 0) {
            virtio_set_broken(v);
            return;
        }
        virtio_complete(v, qi, &b->elem, handle(b, &b->elem));
        virtio_publish(v);
    }
}

/* A read whose data the host's page cache holds, done without blocking
 * (preadv2 RWF_NOWAIT), or -1. */
static int read_nowait(struct vblk *b, struct virtq_elem *e, uint32_t *len)
{
    struct blk_hdr h;
    if (e->out_len != sizeof(h) || e->in_len < 2)
        return -1;
    iov_to_buf(e->iov, e->n_out, 0, &h, sizeof(h));
    size_t in_data = e->in_len - 1;
    if (h.type != VIRTIO_BLK_T_IN || in_data % 512 ||
        h.sector > b->sectors || in_data / 512 > b->sectors - h.sector)
        return -1;
    const struct iovec *in = e->iov + e->n_out;
    unsigned n = iov_slice(in, e->n_in, 0, in_data, b->data, VQ_MAX_IOV);
    ssize_t r = preadv2(b->fd, b->data, (int)n, (off_t)(h.sector * 512),
                        RWF_NOWAIT);
    if (r != (ssize_t)in_data)
        return -1; /* not all cached (or short): the I/O thread redoes it */
    uint8_t st = VIRTIO_BLK_S_OK;
    iov_from_buf(in, e->n_in, in_data, &st, 1);
    b->reads++;
    *len = (uint32_t)(in_data + 1);
    return 0;
}

/* The vCPU thread, in the notify write: cached reads at once; the first
 * other request is left (stashed) for the I/O thread with the rest. */
static bool blk_try_inline(struct virtio_dev *v, unsigned qi)
{
    struct vblk *b = v->opaque;
    struct virtq *q = &v->q[qi];
    if (b->stashed)
        return false;
    int r;
    while ((r = virtq_pop(q, &b->elem)) != 0) {
        if (r < 0) {
            virtio_set_broken(v);
            return true;
        }
        uint32_t len;
        if (read_nowait(b, &b->elem, &len) < 0) {
            b->stashed = true;
            return false;
        }
        b->inline_reads++;
        virtio_complete(v, qi, &b->elem, len);
    }
    return true;
}

static void blk_dev_reset(struct virtio_dev *v)
{
    struct vblk *b = v->opaque;
    b->stashed = false;
}

static const struct virtio_ops blk_ops = {.notify = blk_notify,
                                          .try_inline = blk_try_inline,
                                          .reset = blk_dev_reset};

static void blk_reset(void *opaque)
{
    struct vblk *b = opaque;
    virtio_reset(&b->v);
}

static void blk_destroy(void *opaque)
{
    struct vblk *b = opaque;
    virtio_pci_free(&b->v);
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

int virtio_blk_create(struct machine *m, const char *spec)
{
    char path[4096];
    bool ro = false;
    const char *comma = strchr(spec, ',');
    size_t plen = comma ? (size_t)(comma - spec) : strlen(spec);
    if (comma) {
        if (strcmp(comma + 1, "ro"))
            return fail("--disk %s: unknown option '%s' (only ,ro)", spec,
                        comma + 1), -2;
        ro = true;
    }
    if (plen == 0 || plen >= sizeof(path))
        return fail("--disk '%s': no file name", spec), -2;
    memcpy(path, spec, plen);
    path[plen] = 0;
    int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (!ro && (e == EACCES || e == EROFS || e == EPERM) &&
            access(path, R_OK) == 0)
            return fail("disk image %s is read-only: use --disk %s,ro", path,
                        path), -2;
        return fail("cannot open disk image %s: %s", path, strerror(e)), -2;
    }
    struct stat st;
    off_t size = lseek(fd, 0, SEEK_END);
    if (fstat(fd, &st) < 0 || size < 0 ||
        !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        close(fd);
        return fail("disk image %s is not a regular file or block device",
                    path), -2;
    }
    if (size == 0 || size % 512) {
        close(fd);
        return fail("disk image %s is %lld bytes: not a non-zero multiple "
                    "of 512", path, (long long)size), -2;
    }
    char probe[512];
    if (pread(fd, probe, sizeof(probe), 0) != (ssize_t)sizeof(probe)) {
        close(fd);
        return fail("cannot read disk image %s: %s", path, strerror(errno)),
               -2;
    }
    if (flock(fd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        close(fd);
        return fail("disk image %s is in use by another process", path), -2;
    }
    struct vblk *b = calloc(1, sizeof(*b));
    if (!b) {
        close(fd);
        return fail("out of memory");
    }
    b->fd = fd;
    b->ro = ro;
    b->sectors = (uint64_t)size / 512;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t sl = strlen(base);
    /* the ID is 20 bytes, NUL-padded (not terminated when it is full) */
    memcpy(b->serial, base, sl < sizeof(b->serial) ? sl : sizeof(b->serial));
    if (machine_add_device(m, "virtio-blk", b, blk_reset, blk_destroy) < 0) {
        blk_destroy(b);
        return -1;
    }
    uint64_t f = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                 1ull << VIRTIO_BLK_F_FLUSH;
    f |= ro ? 1ull << VIRTIO_BLK_F_RO : 1ull << VIRTIO_BLK_F_DISCARD;
    uint8_t *c = b->v.config;
    memcpy(c + 0, &b->sectors, 8);      /* capacity */
    put32(c + 12, SEG_MAX);             /* seg_max */
    put32(c + 20, 512);                 /* blk_size */
    put32(c + 36, 1u << 22);            /* max_discard_sectors */
    put32(c + 40, 1);                   /* max_discard_seg */
    put32(c + 44, 8);                   /* discard_sector_alignment */
    if (virtio_pci_init(&b->v, m, "virtio-blk", 2, 0x018000, 1, QSIZE, f,
                        60, &blk_ops, b) < 0)
        return -1;
    return virtio_add_kick_source(&b->v);
}
