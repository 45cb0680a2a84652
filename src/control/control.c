/* control.c - the control plane's core (see control.h): requests from the
 * gdb stub and the monitor executed on the vCPU thread at the top of the
 * run loop, pausing and resuming the vCPU, live engine switching (by
 * request or at --switch-engine-after times, on a virtual timer), and
 * the time spent on each engine for --stats. */
#include "control.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/machine.h"

#define MAX_ENGINES 8
#define MAX_LOG 64

struct control {
    struct machine *m;
    struct control_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool attention;     /* something for the vCPU thread */
    /* under mu */
    bool pause_req, paused, ended;
    int end_status;
    enum control_stop_why why;
    unsigned stop_seq;
    control_fn req_fn;
    void *req_arg;
    uint64_t req_seq, req_done;
    /* vCPU thread */
    bool started;
    struct vtimer sw_timer;
    unsigned next_sw;
    _Atomic bool stepping;
    struct guest_debug dbg;
    bool dbg_on;
    /* engine times (vCPU thread; read by control_write_stats there) */
    struct {
        const char *name;
        uint64_t ns;
    } et[MAX_ENGINES];
    unsigned net;
    uint64_t since;             /* current engine's run started (0: paused) */
    unsigned nswitch;
    struct {
        double at;
        const char *from, *to;
        double ms;              /* how long the switch took */
    } log[MAX_LOG];
    struct gdbstub *gdb;
    struct monitor *mon;
};

static struct control *CTL(struct machine *m)
{
    return m->ctl;
}

int control_parse_switch(struct control_config *cc, const char *arg)
{
    const char *colon = strchr(arg, ':');
    char *end;
    double at = strtod(arg, &end);
    if (!colon || end != colon || at < 0 || !colon[1] ||
        strlen(colon + 1) >= sizeof(cc->sw[0].engine))
        return fail("bad --switch-engine-after '%s' (want SECONDS:ENGINE)",
                    arg);
    if (cc->nswitch >= CONTROL_MAX_SWITCHES)
        return fail("at most %d --switch-engine-after", CONTROL_MAX_SWITCHES);
    bool known = false;
    for (int i = 0; engine_names[i]; i++)
        known |= !strcmp(engine_names[i], colon + 1);
    if (!known)
        return fail("unknown engine '%s' in --switch-engine-after",
                    colon + 1);
    unsigned k = cc->nswitch++;
    /* keep them sorted by time */
    while (k > 0 && cc->sw[k - 1].at > at) {
        cc->sw[k] = cc->sw[k - 1];
        k--;
    }
    cc->sw[k].at = at;
    snprintf(cc->sw[k].engine, sizeof(cc->sw[k].engine), "%s", colon + 1);
    return 0;
}

/* Make the vCPU thread look at us soon: kick the engine, wake a halt. */
static void wake_vcpu(struct machine *m)
{
    atomic_store(&CTL(m)->attention, true);
    machine_engine_kick(m);
    uint64_t one = 1;
    if (write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* counter saturated: awake anyway */
    }
}

static void sw_timer_cb(void *opaque)
{
    struct machine *m = opaque;
    atomic_store(&CTL(m)->attention, true);
    machine_engine_kick(m); /* run() returns before the guest goes on */
}

static void arm_next_switch(struct machine *m)
{
    struct control *c = CTL(m);
    if (c->next_sw < c->cfg.nswitch)
        vtimer_mod(m, &c->sw_timer,
                   m->start_ns +
                       (uint64_t)(c->cfg.sw[c->next_sw].at * 1e9));
}

int control_attach(struct machine *m, const struct control_config *cc)
{
    if (cc->gdb_wait && !cc->gdb && !cc->monitor)
        return fail("-S waits for a debugger or the monitor: add -s, --gdb "
                    "or --monitor");
    struct control *c = calloc(1, sizeof(*c));
    if (!c)
        return fail("out of memory");
    c->m = m;
    c->cfg = *cc;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    vtimer_init(&c->sw_timer, sw_timer_cb, m);
    m->ctl = c;
    if (cc->gdb_wait) /* parked before the first instruction */
        c->pause_req = c->paused = true, c->why = STOP_START;
    if (cc->gdb && !(c->gdb = gdbstub_start(m, cc->gdb)))
        goto err;
    if (cc->monitor && !(c->mon = monitor_start(m, cc->monitor)))
        goto err;
    return 0;
err:
    control_finish(m, ST_HOST_ERROR);
    return -1;
}

void control_finish(struct machine *m, int status)
{
    struct control *c = CTL(m);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->ended = true;
    c->end_status = status;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->gdb)
        gdbstub_finish(c->gdb, status);
    if (c->mon)
        monitor_finish(c->mon);
    vtimer_del(m, &c->sw_timer);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    m->ctl = NULL;
    free(c);
}

/* ---- engine times ---- */

static uint64_t *etime(struct control *c, const char *name)
{
    for (unsigned k = 0; k < c->net; k++)
        if (!strcmp(c->et[k].name, name))
            return &c->et[k].ns;
    if (c->net == MAX_ENGINES)
        return &c->et[0].ns;
    c->et[c->net].name = name;
    return &c->et[c->net++].ns;
}

static void account(struct control *c)
{
    struct machine *m = c->m;
    uint64_t now = m->run_ns ? m->start_ns + m->run_ns : clock_ns();
    if (c->since)
        *etime(c, c->m->ops->name) += now - c->since;
    c->since = now;
}

/* ---- engine switching ---- */

static int make_engine(struct machine *m, const struct engine_ops *ops,
                       const struct vcpu_state *s)
{
    m->ops = ops;
    if (ops->create(m) < 0 ||
        ops->map_ram(m, 0, m->ram_size, m->ram, m->ram_fd, 0) < 0 ||
        ops->vcpu_create(m) < 0 || ops->set_vcpu_state(m, s) < 0) {
        if (m->engine)
            ops->destroy(m);
        m->engine = NULL;
        return -1;
    }
    return 0;
}

int control_switch_engine(struct machine *m, const char *name)
{
    struct control *c = CTL(m);
    const struct engine_ops *ops = engine_find(name), *old = m->ops;
    if (!ops)
        return -1;
    if (!old->get_vcpu_state)
        return fail("engine '%s' cannot hand its vCPU over", old->name);
    if (!ops->set_vcpu_state)
        return fail("engine '%s' cannot take a vCPU over", ops->name);
    struct vcpu_state *s = aligned_alloc(16, sizeof(*s));
    if (!s)
        return fail("out of memory");
    uint64_t t0 = clock_ns();
    if (old->get_vcpu_state(m, s) < 0) {
        free(s);
        return -1;
    }
    account(c);
    /* No kick may reach the engine while it is replaced. */
    atomic_store(&m->engine_swapping, true);
    while (atomic_load(&m->kick_inflight))
        sched_yield();
    old->destroy(m);
    m->engine = NULL;
    int rc = make_engine(m, ops, s);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", popek_error());
        if (make_engine(m, old, s) < 0)
            machine_request_stop(m, ST_HOST_ERROR,
                                 "engine switch to %s failed (%s), and %s "
                                 "could not take the vCPU back: %s",
                                 name, why, old->name, popek_error());
        fail("%s", why);
    } else if (c->dbg_on && ops->set_guest_debug) {
        ops->set_guest_debug(m, &c->dbg);
    }
    atomic_store(&m->engine_swapping, false);
    free(s);
    if (rc == 0) {
        if (c->nswitch < MAX_LOG) {
            c->log[c->nswitch].at = (double)(t0 - m->start_ns) / 1e9;
            c->log[c->nswitch].from = old->name;
            c->log[c->nswitch].to = ops->name;
            c->log[c->nswitch].ms = (double)(clock_ns() - t0) / 1e6;
        }
        c->nswitch++;
        if (!m->cfg.quiet && getenv("POPEK_SWITCH_VERBOSE"))
            warnx_("switched engine %s -> %s", old->name, ops->name);
    }
    return rc;
}

int control_set_guest_debug(struct machine *m, const struct guest_debug *d)
{
    struct control *c = CTL(m);
    if (!m->ops->set_guest_debug)
        return fail("engine '%s' has no debugger support", m->ops->name);
    if (m->ops->set_guest_debug(m, d) < 0)
        return -1;
    c->dbg_on = d != NULL;
    if (d)
        c->dbg = *d;
    return 0;
}

bool control_stdio_monitor(struct machine *m)
{
    return CTL(m) && monitor_is_stdio(CTL(m)->mon);
}

const char *control_engine_name(struct machine *m)
{
    return m->ops->name;
}

unsigned control_switch_count(struct machine *m)
{
    return CTL(m)->nswitch;
}

/* ---- the run-loop side ---- */

void control_poll(struct machine *m)
{
    struct control *c = CTL(m);
    if (!c)
        return;
    if (!c->started) {
        c->started = true;
        c->since = clock_ns();
        arm_next_switch(m);
    }
    if (!atomic_load(&c->attention) && !c->paused)
        return;
    atomic_store(&c->attention, false);
    /* timed switches that are due */
    while (c->next_sw < c->cfg.nswitch &&
           clock_ns() >= m->start_ns +
                             (uint64_t)(c->cfg.sw[c->next_sw].at * 1e9)) {
        const char *to = c->cfg.sw[c->next_sw++].engine;
        if (control_switch_engine(m, to) < 0)
            warnx_("--switch-engine-after: %s", popek_error());
        arm_next_switch(m);
    }
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->req_fn) {
            control_fn fn = c->req_fn;
            c->req_fn = NULL;
            pthread_mutex_unlock(&c->mu);
            fn(m, c->req_arg);
            pthread_mutex_lock(&c->mu);
            c->req_done++;
            pthread_cond_broadcast(&c->cv);
            continue;
        }
        if (c->pause_req && !atomic_load(&m->stop)) {
            if (!c->paused) {
                account(c);
                c->since = 0;
                c->paused = true;
                c->stop_seq++;
                pthread_cond_broadcast(&c->cv);
            }
            /* --timeout still applies (timers do not run while parked) */
            if (m->cfg.timeout_s > 0 &&
                clock_ns() >= m->start_ns + (uint64_t)(m->cfg.timeout_s * 1e9))
                machine_request_stop(m, ST_TIMEOUT, "timeout after %g s "
                                     "(stopped)", m->cfg.timeout_s);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
            continue;
        }
        break;
    }
    if (c->paused) {
        c->paused = false;
        c->since = clock_ns();
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void control_debug_exit(struct machine *m)
{
    struct control *c = CTL(m);
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->pause_req = true;
    c->why = STOP_DEBUG;
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->attention, true);
}

bool control_irqs_masked(struct machine *m)
{
    struct control *c = CTL(m);
    return c && atomic_load(&c->stepping);
}

void control_set_stepping(struct machine *m, bool on)
{
    atomic_store(&CTL(m)->stepping, on);
}

void control_write_stats(struct machine *m, struct json *j)
{
    struct control *c = CTL(m);
    if (!c)
        return;
    account(c);
    if (!c->started || c->paused)
        c->since = 0;
    json_obj_begin(j, "engine_seconds");
    for (unsigned k = 0; k < c->net; k++)
        json_f64(j, c->et[k].name, (double)c->et[k].ns / 1e9);
    json_obj_end(j);
    json_u64(j, "engine_switches", c->nswitch);
    json_arr_begin(j, "switch_log");
    for (unsigned k = 0; k < c->nswitch && k < MAX_LOG; k++) {
        json_obj_begin(j, NULL);
        json_f64(j, "at_seconds", c->log[k].at);
        json_str(j, "from", c->log[k].from);
        json_str(j, "to", c->log[k].to);
        json_f64(j, "switch_ms", c->log[k].ms);
        json_obj_end(j);
    }
    json_arr_end(j);
}

/* ---- the client side ---- */

int control_call(struct machine *m, control_fn fn, void *arg)
{
    struct control *c = CTL(m);
    pthread_mutex_lock(&c->mu);
    while (c->req_fn && !c->ended)
        pthread_cond_wait(&c->cv, &c->mu);
    if (c->ended) {
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    c->req_fn = fn;
    c->req_arg = arg;
    uint64_t my = ++c->req_seq;
    pthread_mutex_unlock(&c->mu);
    wake_vcpu(m);
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->cv); /* a parked vCPU waits on cv */
    while (c->req_done < my && !c->ended)
        pthread_cond_wait(&c->cv, &c->mu);
    int rc = c->req_done >= my ? 0 : -1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int control_stop(struct machine *m, enum control_stop_why why)
{
    struct control *c = CTL(m);
    pthread_mutex_lock(&c->mu);
    if (!c->pause_req) {
        c->pause_req = true;
        c->why = why;
    }
    pthread_mutex_unlock(&c->mu);
    wake_vcpu(m);
    pthread_mutex_lock(&c->mu);
    while (!c->paused && !c->ended && !atomic_load(&m->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    int rc = c->paused ? 0 : -1;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void control_cont(struct machine *m)
{
    struct control *c = CTL(m);
    pthread_mutex_lock(&c->mu);
    c->pause_req = false;
    c->why = STOP_NONE;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

bool control_paused(struct machine *m, unsigned *stop_seq,
                    enum control_stop_why *why)
{
    struct control *c = CTL(m);
    pthread_mutex_lock(&c->mu);
    bool p = c->paused;
    if (stop_seq)
        *stop_seq = c->stop_seq;
    if (why)
        *why = c->why;
    pthread_mutex_unlock(&c->mu);
    return p;
}

bool control_ended(struct machine *m, int *status)
{
    struct control *c = CTL(m);
    pthread_mutex_lock(&c->mu);
    bool e = c->ended;
    if (status)
        *status = c->end_status;
    pthread_mutex_unlock(&c->mu);
    return e || atomic_load(&m->stop);
}

int control_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t stop_sigs, old;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
