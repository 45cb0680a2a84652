/* watchdog.c - makes --timeout, Ctrl-A x and the stop signals work even
 * when an engine is stuck inside one instruction or one long host call and
 * never returns to the run loop.  A thread wakes every 50 ms: at the
 * --timeout deadline it requests the stop itself (the run loop's timer
 * cannot fire while the vCPU is stuck), and once a stop has been requested
 * and the run loop has not ended within WATCHDOG_GRACE_NS it writes the
 * stats (machine counters only), restores the terminal and exits with the
 * stop's status. */
#include "watchdog.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "machine.h"

static _Noreturn void watchdog_fire(struct machine *m, uint64_t now)
{
    /* Console output the guest already produced, unless the vCPU thread
     * is stuck holding stdout. */
    if (ftrylockfile(stdout) == 0) {
        fflush(stdout);
        funlockfile(stdout);
    }
    console_restore_tty();
    if (m->reason[0] && !(m->status & 1))
        warnx_("%s", m->reason);
    warnx_("watchdog: the %s engine did not return to the run loop within "
           "%llu s of the stop: exiting", m->ops->name,
           (unsigned long long)(WATCHDOG_GRACE_NS / 1000000000ull));
    m->run_ns = now - m->start_ns;
    machine_write_stats(m, true);
    fflush(stderr);
    _exit(m->status);
}

static void *watchdog_main(void *arg)
{
    struct machine *m = arg;
    uint64_t deadline = 0, stop_seen = 0;
    if (m->cfg.timeout_s > 0)
        deadline = m->start_ns + (uint64_t)(m->cfg.timeout_s * 1e9);
    while (!atomic_load(&m->loop_done)) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t now = clock_ns();
        if (deadline && now >= deadline && !atomic_load(&m->stop))
            machine_request_stop(m, ST_TIMEOUT, "timeout after %g s",
                                 m->cfg.timeout_s);
        if (!atomic_load(&m->stop))
            continue;
        if (!stop_seen)
            stop_seen = now;
        if (now - stop_seen < WATCHDOG_GRACE_NS)
            continue;
        bool expected = false;
        if (atomic_compare_exchange_strong(&m->finishing, &expected, true))
            watchdog_fire(m, now);
        break; /* the run loop got there first */
    }
    return NULL;
}

int watchdog_start(struct machine *m)
{
    if (pthread_create(&m->watchdog, NULL, watchdog_main, m) != 0)
        return fail("cannot start the watchdog thread");
    m->watchdog_running = true;
    return 0;
}

void watchdog_stop(struct machine *m)
{
    if (!m->watchdog_running)
        return;
    atomic_store(&m->loop_done, true);
    pthread_join(m->watchdog, NULL);
    m->watchdog_running = false;
}
