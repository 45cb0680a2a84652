/* iothread.h - the device I/O thread and bottom halves.
 *
 * Devices whose work may block (disk files, sockets) run it on one I/O
 * thread, off the vCPU thread, as QEMU's iothreads with ioeventfds do: a
 * device registers a source (prepare: add file descriptors to poll and a
 * deadline; dispatch: look at what they returned), typically an eventfd per
 * virtqueue that the vCPU's notify write signals.  What must happen on the
 * vCPU thread (raising interrupts, publishing results the guest may act
 * on) goes through a bottom half: machine_bh_schedule (any thread) makes
 * the run loop call it before the engine runs again (and wakes a halted
 * vCPU).  The thread is started by the run loop before the sandbox is
 * installed and stopped before the devices are destroyed; a machine that
 * never runs (unit tests) has sources but no thread, and devices then do
 * their work on the caller's thread. */
#ifndef POPEK_IOTHREAD_H
#define POPEK_IOTHREAD_H
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct machine;

#define IO_POLL_MAX 320

/* One round of the I/O thread's poll(). */
struct io_poll {
    struct pollfd fd[IO_POLL_MAX];
    int n;
    uint64_t deadline_ns;   /* clock_ns() to wake at (0 = none) */
};
/* Add fd to poll for events; returns its index (for revents), -1 if full. */
int io_poll_add(struct io_poll *p, int fd, short events);
/* revents of index i (0 for a bad index). */
short io_poll_revents(const struct io_poll *p, int i);

/* Register a source (set-up time, before the machine runs). */
int iothread_add_source(struct machine *m,
                        void (*prepare)(void *opaque, struct io_poll *p),
                        void (*dispatch)(void *opaque, struct io_poll *p),
                        void *opaque);
/* Start the thread if any source was added (run loop, before the sandbox);
 * -1 with fail() if it cannot. */
int iothread_start(struct machine *m);
/* Stop and join it (any number of times). */
void iothread_stop(struct machine *m);
/* Is the thread running (devices send work to it rather than do it)? */
bool iothread_running(struct machine *m);
/* Free the sources (machine_destroy). */
void iothread_free(struct machine *m);

/* Bottom halves: fn(opaque) on the vCPU thread, soon. */
struct machine_bh;
/* Set-up time; NULL with fail() if out of memory.  Freed with the machine. */
struct machine_bh *machine_bh_new(struct machine *m, void (*fn)(void *),
                                  void *opaque);
/* Any thread: run bh's function at the run loop's next turn. */
void machine_bh_schedule(struct machine *m, struct machine_bh *bh);
/* vCPU thread: run the scheduled bottom halves (the run loop; tests). */
void machine_bh_poll(struct machine *m);

#endif
