/* iothread.c - the device I/O thread (a poll loop over the sources devices
 * registered) and the bottom halves that bring work back to the vCPU
 * thread (see iothread.h).  The thread only runs device code; it never
 * touches the engine, the interrupt controllers or the timers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "iothread.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"
#include "util.h"

struct io_source {
    void (*prepare)(void *opaque, struct io_poll *p);
    void (*dispatch)(void *opaque, struct io_poll *p);
    void *opaque;
    struct io_source *next;
};

struct iothread {
    struct io_source *sources;
    pthread_t thread;
    bool started;
    _Atomic bool running, stop;
    int stop_fd;            /* eventfd: wakes the poll to stop */
    struct io_poll poll;
};

struct machine_bh {
    void (*fn)(void *opaque);
    void *opaque;
    _Atomic bool scheduled;
    struct machine_bh *next;
};

int io_poll_add(struct io_poll *p, int fd, short events)
{
    if (p->n >= IO_POLL_MAX)
        return -1;
    p->fd[p->n] = (struct pollfd){.fd = fd, .events = events};
    return p->n++;
}

short io_poll_revents(const struct io_poll *p, int i)
{
    return i >= 0 && i < p->n ? p->fd[i].revents : 0;
}

static struct iothread *iot(struct machine *m)
{
    if (!m->iothread) {
        m->iothread = calloc(1, sizeof(*m->iothread));
        if (m->iothread)
            m->iothread->stop_fd = -1;
    }
    return m->iothread;
}

int iothread_add_source(struct machine *m,
                        void (*prepare)(void *opaque, struct io_poll *p),
                        void (*dispatch)(void *opaque, struct io_poll *p),
                        void *opaque)
{
    struct iothread *t = iot(m);
    struct io_source *s = calloc(1, sizeof(*s));
    if (!t || !s) {
        free(s);
        return fail("out of memory");
    }
    *s = (struct io_source){.prepare = prepare, .dispatch = dispatch,
                            .opaque = opaque};
    struct io_source **pp = &t->sources;
    while (*pp)
        pp = &(*pp)->next;
    *pp = s;
    return 0;
}

static void *iothread_main(void *arg)
{
    struct iothread *t = arg;
    struct io_poll *p = &t->poll;
    while (!atomic_load(&t->stop)) {
        p->n = 0;
        p->deadline_ns = 0;
        io_poll_add(p, t->stop_fd, POLLIN);
        for (struct io_source *s = t->sources; s; s = s->next)
            s->prepare(s->opaque, p);
        struct timespec ts, *tsp = NULL;
        if (p->deadline_ns) {
            uint64_t now = clock_ns();
            uint64_t d = p->deadline_ns > now ? p->deadline_ns - now : 0;
            ts.tv_sec = (time_t)(d / 1000000000ull);
            ts.tv_nsec = (long)(d % 1000000000ull);
            tsp = &ts;
        }
        int r = ppoll(p->fd, (nfds_t)p->n, tsp, NULL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* cannot happen with valid descriptors: don't spin */
            for (int i = 0; i < p->n; i++)
                p->fd[i].revents = 0;
        }
        if (p->fd[0].revents & POLLIN) {
            uint64_t v;
            if (read(t->stop_fd, &v, sizeof(v)) < 0) {
                /* drained already */
            }
        }
        for (struct io_source *s = t->sources; s; s = s->next)
            s->dispatch(s->opaque, p);
    }
    return NULL;
}

int iothread_start(struct machine *m)
{
    struct iothread *t = m->iothread;
    if (!t || !t->sources || t->started)
        return 0;
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->stop_fd < 0)
        return fail("cannot create the I/O thread's eventfd");
    atomic_store(&t->stop, false);
    /* running before the thread exists: devices hand work over from now */
    atomic_store(&t->running, true);
    if (pthread_create(&t->thread, NULL, iothread_main, t) != 0) {
        atomic_store(&t->running, false);
        return fail("cannot start the device I/O thread");
    }
    t->started = true;
    return 0;
}

void iothread_stop(struct machine *m)
{
    struct iothread *t = m->iothread;
    if (!t || !t->started)
        return;
    atomic_store(&t->stop, true);
    uint64_t one = 1;
    if (write(t->stop_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: the thread is awake anyway */
    }
    pthread_join(t->thread, NULL);
    t->started = false;
    atomic_store(&t->running, false);
}

bool iothread_running(struct machine *m)
{
    return m->iothread && atomic_load(&m->iothread->running);
}

void iothread_free(struct machine *m)
{
    struct iothread *t = m->iothread;
    if (t) {
        iothread_stop(m);
        while (t->sources) {
            struct io_source *s = t->sources;
            t->sources = s->next;
            free(s);
        }
        if (t->stop_fd >= 0)
            close(t->stop_fd);
        free(t);
        m->iothread = NULL;
    }
    while (m->bhs) {
        struct machine_bh *b = m->bhs;
        m->bhs = b->next;
        free(b);
    }
}

struct machine_bh *machine_bh_new(struct machine *m, void (*fn)(void *),
                                  void *opaque)
{
    struct machine_bh *b = calloc(1, sizeof(*b));
    if (!b) {
        fail("out of memory");
        return NULL;
    }
    b->fn = fn;
    b->opaque = opaque;
    atomic_init(&b->scheduled, false);
    struct machine_bh **pp = &m->bhs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = b;
    return b;
}

void machine_bh_schedule(struct machine *m, struct machine_bh *bh)
{
    atomic_store(&bh->scheduled, true);
    atomic_store(&m->bh_pending, true);
    machine_engine_kick(m);
    uint64_t one = 1;
    if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* saturated: the run loop is awake anyway */
    }
}

void machine_bh_poll(struct machine *m)
{
    if (!atomic_load_explicit(&m->bh_pending, memory_order_relaxed) ||
        !atomic_exchange(&m->bh_pending, false))
        return;
    for (struct machine_bh *b = m->bhs; b; b = b->next)
        if (atomic_exchange(&b->scheduled, false))
            b->fn(b->opaque);
}
