/* virtio_net.c - virtio network device (virtio ID 1) with user-mode
 * networking through libslirp, for `--net user[,hostfwd=...]`: QEMU's
 * defaults (network 10.0.2.0/24, the host and its loopback at 10.0.2.2,
 * DHCP from 10.0.2.15, DNS at 10.0.2.3) and TCP/UDP port forwarding from
 * the host into the guest.  Everything runs on the machine's I/O thread
 * (iothread.h) with the device's lock held: the queues' eventfds (the
 * driver's kicks), slirp's sockets and slirp's timers are all in its poll,
 * so frames move as soon as they arrive, without polling and without the
 * vCPU; finished chains are published by the vCPU thread (virtio_pci.h).
 * Frames for the guest wait in a small queue until the driver offers
 * receive buffers.
 * `--net tap,ifname=NAME` uses the host's tap interface NAME instead of
 * slirp (opened, or created when the name is free, through /dev/net/tun:
 * IFF_TAP | IFF_NO_PI, non-blocking): frames the guest sends are written
 * to it, frames read from it (polled by the I/O thread while the receive
 * queue has room) go to the guest.  A tap that cannot be opened is a clear
 * error (status 2) before the guest starts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/util.h"
#include "devices.h"
#include "virtio_pci.h"

#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_STATUS 16
#define NET_HDR_LEN 12 /* virtio_net_hdr_mrg_rxbuf (VERSION_1) */
#define QSIZE 256
#define RXQ 0
#define TXQ 1
#define PENDING 256
#define FRAME_MAX 65536

struct frame {
    size_t len;
    uint8_t *data;
};

struct snet_timer;

struct vnet {
    struct virtio_dev v;
    struct machine *m;
    Slirp *slirp;                   /* --net user */
    int tap_fd;                     /* --net tap (else -1) */
    int tap_idx;
    struct io_poll *poll;           /* this round's (I/O thread) */
    int kick_idx[2];
    struct snet_timer *timers;      /* slirp's timers */
    struct frame pending[PENDING];
    unsigned ph, pt; /* pending head (next out) and tail */
    /* separate: slirp_input() on the transmit path may answer at once
     * (ARP, DHCP), which fills receive buffers before tx() pushes */
    struct virtq_elem rx_elem, tx_elem;
    uint8_t frame[FRAME_MAX];
    uint64_t tx_frames, rx_frames, rx_dropped, tx_dropped;
};

struct snet_timer {
    uint64_t deadline;              /* clock_ns(); 0 = not armed */
    SlirpTimerCb cb;
    void *cb_opaque;
    struct vnet *n;
    struct snet_timer *next;
};

/* ---- to the guest ---- */

static void rx_flush(struct vnet *n)
{
    struct virtio_dev *v = &n->v;
    struct virtq *q = &v->q[RXQ];
    if (!virtio_active(v) || !q->enabled)
        return;
    while (n->ph != n->pt) {
        int r = virtq_pop(q, &n->rx_elem);
        if (r == 0)
            break;
        if (r < 0) {
            virtio_set_broken(v);
            return;
        }
        struct frame *f = &n->pending[n->ph % PENDING];
        struct virtq_elem *e = &n->rx_elem;
        const struct iovec *in = e->iov + e->n_out;
        uint32_t len = 0;
        if (e->in_len >= NET_HDR_LEN + f->len) {
            uint8_t hdr[NET_HDR_LEN] = {0};
            hdr[10] = 1; /* num_buffers */
            iov_from_buf(in, e->n_in, 0, hdr, NET_HDR_LEN);
            iov_from_buf(in, e->n_in, NET_HDR_LEN, f->data, f->len);
            len = (uint32_t)(NET_HDR_LEN + f->len);
            n->rx_frames++;
        } else {
            n->rx_dropped++;
        }
        virtio_complete(v, RXQ, e, len);
        free(f->data);
        f->data = NULL;
        n->ph++;
    }
    virtio_publish(v);
}

static ssize_t snet_send(const void *buf, size_t len, void *opaque)
{
    struct vnet *n = opaque;
    if (!virtio_active(&n->v) || n->pt - n->ph >= PENDING) {
        n->rx_dropped++;
        return (ssize_t)len; /* dropped: TCP retransmits */
    }
    uint8_t *p = malloc(len);
    if (!p)
        return -1;
    memcpy(p, buf, len);
    n->pending[n->pt % PENDING] = (struct frame){.len = len, .data = p};
    n->pt++;
    rx_flush(n);
    return (ssize_t)len;
}

/* ---- slirp's sockets and timers ---- */

static int add_poll(int fd, int events, void *opaque)
{
    struct vnet *n = opaque;
    short ev = 0;
    if (events & SLIRP_POLL_IN)
        ev |= POLLIN;
    if (events & SLIRP_POLL_OUT)
        ev |= POLLOUT;
    if (events & SLIRP_POLL_PRI)
        ev |= POLLPRI;
    return io_poll_add(n->poll, fd, ev);
}

static int get_revents(int idx, void *opaque)
{
    struct vnet *n = opaque;
    short r = io_poll_revents(n->poll, idx);
    int ev = 0;
    if (r & POLLIN)
        ev |= SLIRP_POLL_IN;
    if (r & POLLOUT)
        ev |= SLIRP_POLL_OUT;
    if (r & POLLPRI)
        ev |= SLIRP_POLL_PRI;
    if (r & POLLERR)
        ev |= SLIRP_POLL_ERR;
    if (r & POLLHUP)
        ev |= SLIRP_POLL_HUP;
    return ev;
}

/* The I/O thread's source: the two queue eventfds, slirp's sockets, and
 * the earliest of slirp's timers (and its own poll timeout) as deadline. */
static void net_prepare(void *opaque, struct io_poll *p)
{
    struct vnet *n = opaque;
    virtio_lock(&n->v);
    n->poll = p;
    n->kick_idx[RXQ] = io_poll_add(p, n->v.kick_fd[RXQ], POLLIN);
    n->kick_idx[TXQ] = io_poll_add(p, n->v.kick_fd[TXQ], POLLIN);
    if (n->tap_fd >= 0) {
        /* read the tap only while frames have somewhere to go */
        n->tap_idx = n->pt - n->ph < PENDING
                         ? io_poll_add(p, n->tap_fd, POLLIN) : -1;
        virtio_unlock(&n->v);
        return;
    }
    uint32_t timeout_ms = UINT32_MAX;
    slirp_pollfds_fill(n->slirp, &timeout_ms, add_poll, n);
    uint64_t dl = 0;
    if (timeout_ms != UINT32_MAX)
        dl = clock_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (struct snet_timer *t = n->timers; t; t = t->next)
        if (t->deadline && (!dl || t->deadline < dl))
            dl = t->deadline;
    if (dl && (!p->deadline_ns || dl < p->deadline_ns))
        p->deadline_ns = dl;
    virtio_unlock(&n->v);
}

static void tx(struct vnet *n);

/* Frames waiting on the tap, into the pending queue (I/O thread). */
static void tap_read(struct vnet *n)
{
    while (n->pt - n->ph < PENDING) {
        ssize_t r = read(n->tap_fd, n->frame, sizeof(n->frame));
        if (r <= 0)
            return; /* EAGAIN: drained (errors: try again next round) */
        snet_send(n->frame, (size_t)r, n);
    }
}

static void net_dispatch(void *opaque, struct io_poll *p)
{
    struct vnet *n = opaque;
    virtio_lock(&n->v);
    n->poll = p;
    virtio_kick_take(&n->v, RXQ, io_poll_revents(p, n->kick_idx[RXQ]));
    if (virtio_kick_take(&n->v, TXQ, io_poll_revents(p, n->kick_idx[TXQ])) &&
        n->v.q[TXQ].enabled && virtio_active(&n->v))
        tx(n);
    if (n->tap_fd >= 0) {
        if (io_poll_revents(p, n->tap_idx) & POLLIN)
            tap_read(n);
        rx_flush(n);
        n->poll = NULL;
        virtio_unlock(&n->v);
        return;
    }
    slirp_pollfds_poll(n->slirp, 0, get_revents, n);
    /* slirp's timers that are due (a callback may re-arm its own) */
    uint64_t now = clock_ns();
    for (bool fired = true; fired;) {
        fired = false;
        for (struct snet_timer *t = n->timers; t; t = t->next) {
            if (t->deadline && t->deadline <= now) {
                t->deadline = 0;
                t->cb(t->cb_opaque);
                fired = true;
                break;
            }
        }
    }
    rx_flush(n);
    n->poll = NULL;
    virtio_unlock(&n->v);
}

static void snet_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    warnx_("virtio-net (slirp): %s", msg);
}

static int64_t snet_clock(void *opaque)
{
    (void)opaque;
    return (int64_t)clock_ns();
}

static void *snet_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct vnet *n = opaque;
    struct snet_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->n = n;
    t->next = n->timers;
    n->timers = t;
    return t;
}

static void snet_timer_free(void *timer, void *opaque)
{
    struct snet_timer *t = timer;
    (void)opaque;
    if (!t)
        return;
    for (struct snet_timer **pp = &t->n->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    free(t);
}

static void snet_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct snet_timer *t = timer;
    (void)opaque;
    t->deadline = expire_ms > 0 ? (uint64_t)expire_ms * 1000000ull : 1;
}

static void snet_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;
}

static void snet_notify(void *opaque)
{
    (void)opaque;
}

static const SlirpCb snet_cb = {
    .send_packet = snet_send,
    .guest_error = snet_guest_error,
    .clock_get_ns = snet_clock,
    .timer_new = snet_timer_new,
    .timer_free = snet_timer_free,
    .timer_mod = snet_timer_mod,
    .register_poll_fd = snet_fd,
    .unregister_poll_fd = snet_fd,
    .notify = snet_notify,
};

/* ---- from the guest ---- */

static void tx(struct vnet *n)
{
    struct virtio_dev *v = &n->v;
    struct virtq *q = &v->q[TXQ];
    int r;
    while ((r = virtq_pop(q, &n->tx_elem)) != 0) {
        if (r < 0) {
            virtio_set_broken(v);
            return;
        }
        struct virtq_elem *e = &n->tx_elem;
        if (e->out_len > NET_HDR_LEN && e->out_len - NET_HDR_LEN <= FRAME_MAX) {
            size_t len = iov_to_buf(e->iov, e->n_out, NET_HDR_LEN, n->frame,
                                    e->out_len - NET_HDR_LEN);
            if (n->slirp) {
                slirp_input(n->slirp, n->frame, (int)len);
            } else if (write(n->tap_fd, n->frame, len) != (ssize_t)len) {
                n->tx_dropped++; /* the host queue is full: as a wire */
            }
            n->tx_frames++;
        }
        virtio_complete(v, TXQ, e, 0);
    }
    virtio_publish(v);
}

/* A kick handled on the vCPU thread (no I/O thread: unit tests). */
static void net_notify(struct virtio_dev *v, unsigned qi)
{
    struct vnet *n = v->opaque;
    if (qi == TXQ)
        tx(n);
    rx_flush(n);
}

static void net_dev_reset(struct virtio_dev *v)
{
    struct vnet *n = v->opaque;
    while (n->ph != n->pt) {
        free(n->pending[n->ph % PENDING].data);
        n->pending[n->ph % PENDING].data = NULL;
        n->ph++;
    }
}

static const struct virtio_ops net_ops = {
    .notify = net_notify,
    .reset = net_dev_reset,
};

static void net_reset(void *opaque)
{
    struct vnet *n = opaque;
    virtio_reset(&n->v);
}

static void net_destroy(void *opaque)
{
    struct vnet *n = opaque;
    if (n->slirp)
        slirp_cleanup(n->slirp);
    if (n->tap_fd >= 0)
        close(n->tap_fd);
    while (n->timers)
        snet_timer_free(n->timers, n);
    for (unsigned i = 0; i < PENDING; i++)
        free(n->pending[i].data);
    virtio_pci_free(&n->v);
    free(n);
}

/* ---- the --net spec ---- */

/* "tcp:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT" (udp: too; addresses may
 * be empty: any host address, the guest's DHCP address). */
static int parse_hostfwd(const char *s, int *udp, struct in_addr *haddr,
                         int *hport, struct in_addr *gaddr, int *gport)
{
    char proto[8], ha[64], ga[64];
    unsigned hp, gp;
    int end = 0;
    if (sscanf(s, "%7[a-z]:%63[0-9.]:%u-%63[0-9.]:%u%n", proto, ha, &hp, ga,
               &gp, &end) != 5 || s[end]) {
        ga[0] = 0;
        end = 0;
        if (sscanf(s, "%7[a-z]:%63[0-9.]:%u-:%u%n", proto, ha, &hp, &gp,
                   &end) != 4 || s[end]) {
            ha[0] = 0;
            end = 0;
            if (sscanf(s, "%7[a-z]::%u-%63[0-9.]:%u%n", proto, &hp, ga, &gp,
                       &end) != 4 || s[end]) {
                ga[0] = 0;
                end = 0;
                if (sscanf(s, "%7[a-z]::%u-:%u%n", proto, &hp, &gp, &end) != 3 ||
                    s[end])
                    return -1;
            }
        }
    }
    if (!strcmp(proto, "tcp"))
        *udp = 0;
    else if (!strcmp(proto, "udp"))
        *udp = 1;
    else
        return -1;
    if (hp == 0 || hp > 65535 || gp == 0 || gp > 65535)
        return -1;
    haddr->s_addr = htonl(INADDR_ANY);
    if (ha[0] && inet_pton(AF_INET, ha, haddr) != 1)
        return -1;
    inet_pton(AF_INET, "10.0.2.15", gaddr);
    if (ga[0] && inet_pton(AF_INET, ga, gaddr) != 1)
        return -1;
    *hport = (int)hp;
    *gport = (int)gp;
    return 0;
}

/* "tap,ifname=NAME": attach to (or create) the host's tap NAME. */
static int tap_open(struct vnet *n, const char *spec)
{
    const char *o = spec[3] ? spec + 4 : "";
    if (strncmp(o, "ifname=", 7) || !o[7] || strchr(o + 7, ','))
        return fail("--net '%s': expected tap,ifname=NAME", spec), -2;
    const char *name = o + 7;
    if (strlen(name) >= IFNAMSIZ)
        return fail("--net %s: interface name '%s' is longer than %d "
                    "characters", spec, name, IFNAMSIZ - 1), -2;
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail("--net %s: cannot open /dev/net/tun: %s", spec,
                    strerror(errno)), -2;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return fail("--net %s: cannot attach to tap interface '%s': %s%s",
                    spec, name, strerror(e),
                    e == EPERM ? " (needs CAP_NET_ADMIN, or a tap owned by "
                                 "this user: ip tuntap add NAME mode tap "
                                 "user USER)"
                    : e == EINVAL || e == EBUSY
                        ? " (is it a tun device, or in use?)" : ""), -2;
    }
    n->tap_fd = fd;
    return 0;
}

int virtio_net_create(struct machine *m, const char *spec)
{
    if (machine_find_device(m, "virtio-net"))
        return fail("--net: only one network device is supported"), -2;
    bool tap = !strncmp(spec, "tap", 3) && (!spec[3] || spec[3] == ',');
    if (!tap && (strncmp(spec, "user", 4) || (spec[4] && spec[4] != ',')))
        return fail("--net '%s': expected user[,hostfwd=tcp:HOSTADDR:"
                    "HOSTPORT-:GUESTPORT]... or tap,ifname=NAME", spec), -2;
    struct vnet *n = calloc(1, sizeof(*n));
    if (!n)
        return fail("out of memory");
    n->m = m;
    n->tap_fd = -1;
    if (tap) {
        if (machine_add_device(m, "virtio-net", n, net_reset,
                               net_destroy) < 0) {
            free(n);
            return -1;
        }
        int rc = tap_open(n, spec);
        if (rc < 0)
            return rc;
        goto transport;
    }
    if (machine_add_device(m, "virtio-net", n, net_reset, net_destroy) < 0) {
        free(n);
        return -1;
    }
    SlirpConfig cfg = {.version = 1, .restricted = 0, .in_enabled = true,
                       .vhostname = "popek"};
    inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
    inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
    inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
    inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
    inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
    n->slirp = slirp_new(&cfg, &snet_cb, n);
    if (!n->slirp)
        return fail("--net: cannot start user networking (libslirp)");
    /* options after "user" */
    char *opts = strdup(spec[4] ? spec + 5 : "");
    if (!opts)
        return fail("out of memory");
    int rc = 0;
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o && rc == 0;
         o = strtok_r(NULL, ",", &save)) {
        int udp, hport, gport;
        struct in_addr ha, ga;
        if (strncmp(o, "hostfwd=", 8)) {
            rc = fail("--net: unknown option '%s' (expected hostfwd=...)", o);
        } else if (parse_hostfwd(o + 8, &udp, &ha, &hport, &ga, &gport) < 0) {
            rc = fail("--net: bad '%s' (expected hostfwd=tcp:HOSTADDR:"
                      "HOSTPORT-:GUESTPORT)", o);
        } else if (slirp_add_hostfwd(n->slirp, udp, ha, hport, ga, gport) < 0) {
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &ha, a, sizeof(a));
            rc = fail("--net: cannot forward host %s port %s:%d: %s",
                      udp ? "UDP" : "TCP", a, hport,
                      errno ? strerror(errno) : "bind failed");
        }
    }
    free(opts);
    if (rc < 0)
        return -2;
transport:;
    uint8_t *c = n->v.config;
    static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(c, mac, 6);
    c[6] = 1; /* status: link up */
    if (virtio_pci_init(&n->v, m, "virtio-net", 1, 0x020000, 2, QSIZE,
                        1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_NET_F_STATUS,
                        12, &net_ops, n) < 0)
        return -1;
    return iothread_add_source(m, net_prepare, net_dispatch, n);
}
