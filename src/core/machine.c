/* machine.c - the machine core: guest RAM as a memfd, the io spaces (port
 * bus, memory map, MSRs), the device list, the engine; and the run loop,
 * which fires virtual timers, hands console input to the device that owns
 * it, injects interrupts from the interrupt controller through the engine,
 * sleeps while the guest halts, and turns guest stops into popek's exit
 * status.  It includes nothing from devices/ or loaders/: the board
 * (src/board/pc.c) builds the PC on top of it and loads the guest. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "machine.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "sandbox.h"
#include "watchdog.h"
#include "../control/control.h"

#define RAM_MIN (2ull << 20)
#define RAM_MAX (3ull << 30) /* below the PCI/APIC hole of a 32-bit PC */

void seg_flat32(struct seg_reg *s, uint16_t sel, bool code)
{
    memset(s, 0, sizeof(*s));
    s->sel = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->type = code ? 0xb : 0x3; /* execute/read accessed, read/write accessed */
    s->s = 1;
    s->present = 1;
    s->db = 1;
    s->g = 1;
}

/* ---- interrupts ---- */

void machine_set_irq(struct machine *m, int irq, int level)
{
    if (m->intc.set_irq)
        m->intc.set_irq(m->intc.ctx, irq, level);
}

bool machine_intr_pending(struct machine *m)
{
    if (m->pv_event_ready && m->pv_event_ready(m))
        return true;
    return m->intc.intr && m->intc.intr(m->intc.ctx);
}

bool machine_nmi_pending(struct machine *m)
{
    return m->ops && m->ops->inject_nmi && m->intc.nmi &&
           m->intc.nmi(m->intc.ctx, false);
}

void machine_msi(struct machine *m, uint64_t addr, uint32_t data)
{
    if (m->msi)
        m->msi(m->msi_ctx, addr, data);
}

/* ---- RAM written by devices ---- */

void machine_ram_dirty(struct machine *m, uint64_t gpa, uint64_t len)
{
    if (!m->ram_dirty || !len || gpa >= m->ram_size)
        return;
    if (len > m->ram_size - gpa)
        len = m->ram_size - gpa;
    const struct engine_ops *ops = m->ops;
    if (!ops || !ops->code_written)
        return; /* kvm: the hardware keeps its caches coherent */
    for (uint64_t p = gpa >> 12; p <= (gpa + len - 1) >> 12; p++)
        atomic_fetch_or_explicit(&m->ram_dirty[p / 64], 1ull << (p % 64),
                                 memory_order_relaxed);
    atomic_store_explicit(&m->ram_dirty_any, true, memory_order_release);
}

void machine_ram_dirty_sync(struct machine *m)
{
    if (!m->ram_dirty ||
        !atomic_exchange_explicit(&m->ram_dirty_any, false,
                                  memory_order_acquire))
        return;
    uint64_t words = (m->ram_size / 4096 + 63) / 64;
    uint64_t run_start = 0, run_len = 0;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t bits = atomic_load_explicit(&m->ram_dirty[w],
                                             memory_order_relaxed)
                            ? atomic_exchange_explicit(&m->ram_dirty[w], 0,
                                                       memory_order_acquire)
                            : 0;
        for (unsigned b = 0; b < 64; b++) {
            uint64_t page = w * 64 + b;
            if (bits >> b & 1) {
                m->ram_dirty_pages++;
                if (run_len && run_start + run_len == page) {
                    run_len++;
                    continue;
                }
                if (run_len && m->ops->code_written)
                    m->ops->code_written(m, run_start << 12, run_len << 12);
                run_start = page;
                run_len = 1;
            }
        }
    }
    if (run_len && m->ops->code_written)
        m->ops->code_written(m, run_start << 12, run_len << 12);
}

bool machine_msr(struct machine *m, uint32_t idx, uint64_t *val, bool write)
{
    if (!m)
        return false;
    const struct io_range *r = io_find(&m->msr, idx);
    if (!r || r->kind != IO_HANDLER)
        return false;
    uint8_t d[8];
    if (write)
        io_put(d, 8, *val);
    r->fn(r->dev, idx - r->base, d, 8, write);
    if (!write) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
            v = v << 8 | d[i];
        *val = v;
    }
    return true;
}

/* ---- the device list ---- */

int machine_add_device(struct machine *m, const char *name, void *opaque,
                       void (*reset)(void *), void (*destroy)(void *))
{
    struct device *d = calloc(1, sizeof(*d));
    if (!d)
        return fail("out of memory");
    *d = (struct device){.name = name, .opaque = opaque, .reset = reset,
                         .destroy = destroy};
    struct device **pp = &m->devices;
    while (*pp)
        pp = &(*pp)->next;
    *pp = d;
    return 0;
}

void *machine_find_device(struct machine *m, const char *name)
{
    for (struct device *d = m->devices; d; d = d->next)
        if (!strcmp(d->name, name))
            return d->opaque;
    return NULL;
}

void machine_reset_devices(struct machine *m)
{
    for (struct device *d = m->devices; d; d = d->next)
        if (d->reset)
            d->reset(d->opaque);
}

static void destroy_devices(struct machine *m)
{
    while (m->devices) {
        struct device *d = m->devices;
        m->devices = d->next;
        if (d->destroy)
            d->destroy(d->opaque);
        else
            free(d->opaque);
        free(d);
    }
}
void machine_request_stop(struct machine *m, int status, const char *fmt, ...)
{
    bool expected = false;
    if (!atomic_compare_exchange_strong(&m->stop, &expected, true))
        return;
    m->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
    va_end(ap);
    machine_engine_kick(m);
    /* Wake a run loop that sleeps while the guest halts. */
    uint64_t one = 1;
    if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof(one)) < 0) {
        /* saturated: the loop is awake anyway */
    }
}

/* ---- virtual timers ---- */

void vtimer_init(struct vtimer *t, void (*cb)(void *), void *opaque)
{
    memset(t, 0, sizeof(*t));
    t->cb = cb;
    t->opaque = opaque;
}

static void timers_rearm(struct machine *m)
{
    uint64_t next = 0;
    for (struct vtimer *t = m->timers; t; t = t->next)
        if (!next || t->deadline < next)
            next = t->deadline;
    if (m->timer_fd < 0)
        return;
    struct itimerspec its = {0};
    if (next) {
        its.it_value.tv_sec = (time_t)(next / 1000000000ull);
        its.it_value.tv_nsec = (long)(next % 1000000000ull);
    }
    timerfd_settime(m->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void vtimer_del(struct machine *m, struct vtimer *t)
{
    for (struct vtimer **pp = &m->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    t->next = NULL;
    t->deadline = 0;
    timers_rearm(m);
}

void vtimer_mod(struct machine *m, struct vtimer *t, uint64_t deadline_ns)
{
    vtimer_del(m, t);
    if (!deadline_ns)
        return;
    t->deadline = deadline_ns;
    t->next = m->timers;
    m->timers = t;
    timers_rearm(m);
}

static uint64_t timers_next(struct machine *m)
{
    uint64_t next = 0;
    for (struct vtimer *t = m->timers; t; t = t->next)
        if (!next || t->deadline < next)
            next = t->deadline;
    return next;
}

static void timers_fire(struct machine *m)
{
    uint64_t now = clock_ns();
    bool fired;
    do {
        fired = false;
        for (struct vtimer *t = m->timers; t; t = t->next) {
            if (t->deadline <= now) {
                vtimer_del(m, t); /* the callback may re-arm it */
                t->cb(t->opaque);
                fired = true;
                break;
            }
        }
    } while (fired);
}

static void timeout_cb(void *opaque)
{
    struct machine *m = opaque;
    machine_request_stop(m, ST_TIMEOUT, "timeout after %g s",
                         m->cfg.timeout_s);
}

/* ---- construction ---- */

static int create_ram(struct machine *m)
{
    m->ram_fd = memfd_create("popek-guest-ram", MFD_CLOEXEC);
    if (m->ram_fd < 0)
        return fail("memfd_create: %s", strerror(errno));
    if (ftruncate(m->ram_fd, (off_t)m->ram_size) < 0)
        return fail("cannot size guest RAM to %llu bytes: %s",
                    (unsigned long long)m->ram_size, strerror(errno));
    void *p = mmap(NULL, m->ram_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_NORESERVE, m->ram_fd, 0);
    if (p == MAP_FAILED)
        return fail("cannot map guest RAM: %s", strerror(errno));
    m->ram = p;
    m->ram_dirty = calloc((m->ram_size / 4096 + 63) / 64, sizeof(uint64_t));
    if (!m->ram_dirty)
        return fail("out of memory");
    return io_register_ram(&m->mmio, 0, m->ram_size, m->ram, "ram");
}

int machine_check_config(const struct machine_config *cfg)
{
    if (cfg->ram_size < RAM_MIN || cfg->ram_size > RAM_MAX)
        return fail("memory size %llu KiB is out of range (%llu MiB to %llu "
                    "MiB)", (unsigned long long)(cfg->ram_size >> 10),
                    (unsigned long long)(RAM_MIN >> 20),
                    (unsigned long long)(RAM_MAX >> 20));
    if (cfg->ram_size & 0xfff)
        return fail("memory size must be a multiple of 4 KiB");
    if (!cfg->kernel)
        return fail("no kernel given (use --kernel FILE)");
    return 0;
}

struct machine *machine_create(const struct machine_config *cfg)
{
    if (machine_check_config(cfg) < 0)
        return NULL;
    const struct engine_ops *ops = engine_find(cfg->engine);
    if (!ops)
        return NULL;
    return machine_create_ops(cfg, ops);
}

struct machine *machine_create_ops(const struct machine_config *cfg,
                                   const struct engine_ops *ops)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m) {
        fail("out of memory");
        return NULL;
    }
    m->cfg = *cfg;
    m->ram_fd = m->timer_fd = m->wake_fd = m->signal_fd = -1;
    log_set_engine(ops->name);
    m->ram_size = cfg->ram_size;
    io_space_init(&m->pio, "port");
    io_space_init(&m->mmio, "mmio");
    io_space_init(&m->msr, "msr");
    m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->timer_fd < 0 || m->wake_fd < 0) {
        fail("cannot create timerfd/eventfd: %s", strerror(errno));
        goto err;
    }
    if (create_ram(m) < 0)
        goto err;
    m->ops = ops;
    if (ops->create(m) < 0)
        goto err;
    if (ops->map_ram(m, 0, m->ram_size, m->ram, m->ram_fd, 0) < 0 ||
        ops->vcpu_create(m) < 0)
        goto err;
    return m;
err:
    machine_destroy(m);
    return NULL;
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    if (m->ops && m->engine)
        m->ops->destroy(m);
    /* No timer fires any more: forget them all before the devices go, so
     * that a device whose destroy hook deletes its timers does not walk
     * timers of devices already freed. */
    m->timers = NULL;
    iothread_stop(m); /* no device code runs on it any more */
    destroy_devices(m);
    iothread_free(m);
    if (m->board_destroy)
        m->board_destroy(m);
    if (m->ram)
        munmap(m->ram, m->ram_size);
    free((void *)m->ram_dirty);
    if (m->ram_fd >= 0)
        close(m->ram_fd);
    if (m->timer_fd >= 0)
        close(m->timer_fd);
    if (m->wake_fd >= 0)
        close(m->wake_fd);
    if (m->signal_fd >= 0)
        close(m->signal_fd);
    io_space_free(&m->pio);
    io_space_free(&m->mmio);
    io_space_free(&m->msr);
    free(m);
}

/* ---- run loop ---- */

static void wait_for_event(struct machine *m)
{
    fflush(stdout);
    uint64_t next = timers_next(m);
    struct timespec ts, *tsp = NULL;
    if (next) {
        uint64_t now = clock_ns();
        uint64_t d = next > now ? next - now : 0;
        ts.tv_sec = (time_t)(d / 1000000000ull);
        ts.tv_nsec = (long)(d % 1000000000ull);
        tsp = &ts;
    }
    struct pollfd p = {.fd = m->wake_fd, .events = POLLIN};
    if (ppoll(&p, 1, tsp, NULL) > 0) {
        uint64_t v;
        if (read(m->wake_fd, &v, sizeof(v)) < 0) {
            /* nothing to drain */
        }
    }
}

void machine_set_device_stats(struct machine *m, const char *name,
                              void (*fn)(void *opaque, struct json *j))
{
    for (struct device *d = m->devices; d; d = d->next)
        if (!strcmp(d->name, name)) {
            d->stats = fn;
            return;
        }
}

void machine_stats_json(struct machine *m, FILE *f, bool watchdog)
{
    struct json j;
    json_begin(&j, f);
    json_str(&j, "engine", m->ops->name);
    if (m->cfg.engine_why)
        json_str(&j, "engine_choice", m->cfg.engine_why);
    json_bool(&j, "sandbox", sandbox_active());
    json_bool(&j, "stopped_by_watchdog", watchdog);
    json_u64(&j, "ram_bytes", m->ram_size);
    uint64_t run_ns = m->run_ns ? m->run_ns : clock_ns() - m->start_ns;
    json_f64(&j, "run_seconds", (double)run_ns / 1e9);
    json_u64(&j, "exit_status", (uint64_t)m->status);
    json_str(&j, "exit_reason", m->reason);
    json_obj_begin(&j, "machine");
    json_u64(&j, "interrupts_injected", m->intr_injected);
    json_u64(&j, "halts", m->halts);
    json_u64(&j, "kicks", m->kicks);
    json_u64(&j, "unclaimed_port_reads", m->pio.unclaimed_reads);
    json_u64(&j, "unclaimed_port_writes", m->pio.unclaimed_writes);
    json_u64(&j, "unclaimed_mmio_reads", m->mmio.unclaimed_reads);
    json_u64(&j, "unclaimed_mmio_writes", m->mmio.unclaimed_writes);
    json_u64(&j, "ram_pages_written_by_devices", m->ram_dirty_pages);
    json_obj_end(&j);
    for (struct device *d = m->devices; d; d = d->next)
        if (d->stats) {
            json_obj_begin(&j, d->name);
            d->stats(d->opaque, &j);
            json_obj_end(&j);
        }
    control_write_stats(m, &j);
    /* After the watchdog fired the vCPU thread still runs inside the
     * engine: leave the engine's own counters out. */
    if (m->ops->write_stats && !watchdog) {
        json_obj_begin(&j, m->ops->name);
        m->ops->write_stats(m, &j);
        json_obj_end(&j);
    }
    json_end(&j);
}

void machine_write_stats(struct machine *m, bool watchdog)
{
    FILE *f = m->cfg.stats_file;
    if (!f && m->cfg.stats_path) {
        /* main opens it before the guest starts; this is for callers that
         * only give a path (and run without the sandbox). */
        f = fopen(m->cfg.stats_path, "w");
        if (!f) {
            warnx_("cannot write stats to %s", m->cfg.stats_path);
            return;
        }
    }
    if (!f)
        return;
    m->cfg.stats_file = NULL; /* written once */
    machine_stats_json(m, f, watchdog);
    fclose(f);
}

static const char *exit_name(enum exit_reason r)
{
    static const char *const names[] = {
        [EXIT_NONE] = "none", [EXIT_KICK] = "kick",
        [EXIT_IRQ_WINDOW] = "irq-window", [EXIT_HLT] = "hlt",
        [EXIT_SHUTDOWN] = "shutdown", [EXIT_STOP] = "stop",
        [EXIT_FAILED] = "failed", [EXIT_UNSUPPORTED] = "unsupported"};
    return (unsigned)r < ARRAY_SIZE(names) && names[r] ? names[r] : "?";
}

int machine_run(struct machine *m)
{
    struct vtimer timeout;
    vtimer_init(&timeout, timeout_cb, m);
    /* SIGTERM, SIGINT and SIGHUP stop the guest cleanly: blocked in every
     * thread (the I/O and watchdog threads inherit the mask) and read by
     * the I/O thread from a signalfd. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    m->signal_fd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    console_setup(m);
    m->start_ns = clock_ns();
    if (console_start_io_thread(m) < 0 || watchdog_start(m) < 0 ||
        iothread_start(m) < 0) {
        iothread_stop(m);
        console_stop_io_thread(m);
        console_teardown(m);
        warnx_("%s", popek_error());
        return ST_HOST_ERROR;
    }
    /* Set-up is over (RAM, devices, engine, files): from here on popek
     * may only make the system calls the sandbox allows. */
    if (m->cfg.sandbox && sandbox_install() < 0)
        machine_request_stop(m, ST_HOST_ERROR, "cannot install the sandbox: %s",
                             popek_error());
    if (m->cfg.verbose)
        warnx_("engine %s%s%s, sandbox %s", m->ops->name,
               m->cfg.engine_why ? ": " : "",
               m->cfg.engine_why ? m->cfg.engine_why : "",
               sandbox_active() ? "on" : "off");
    if (m->cfg.test_forbidden_syscall)
        sandbox_test_forbidden();
    if (m->cfg.timeout_s > 0)
        vtimer_mod(m, &timeout,
                   m->start_ns + (uint64_t)(m->cfg.timeout_s * 1e9));
    bool halted = false;
    while (!atomic_load(&m->stop)) {
        control_poll(m); /* gdb stub, monitor, engine switches */
        machine_bh_poll(m); /* device work finished on the I/O thread */
        timers_fire(m);
        if (console_has_input(m) && m->console_rx)
            m->console_rx(m->console_rx_opaque);
        if (machine_nmi_pending(m) && (halted || !control_irqs_masked(m)) &&
            m->intc.nmi(m->intc.ctx, true)) {
            plog(PLOG_INT, "inject NMI");
            m->ops->inject_nmi(m);
            m->intr_injected++;
            halted = false;
        }
        if (machine_intr_pending(m) && (halted || !control_irqs_masked(m)) &&
            m->ops->irq_window_open(m)) {
            int vec = m->pv_event_ready && m->pv_event_ready(m)
                          ? m->pv_event_ack(m) : m->intc.ack(m->intc.ctx);
            if (vec >= 0) {
                plog(PLOG_INT, "inject vector %#x", vec);
                m->ops->inject_irq(m, (uint8_t)vec);
                m->intr_injected++;
                halted = false;
            }
        }
        if (atomic_load(&m->stop))
            break;
        if (halted) {
            struct cpu_state s;
            if (m->ops->get_state(m, &s) == 0 && !(s.rflags & FLAG_IF)) {
                machine_request_stop(m, ST_GUEST_HUNG,
                                     "guest halted with interrupts disabled "
                                     "at %#llx",
                                     (unsigned long long)s.rip);
                break;
            }
            wait_for_event(m);
            continue;
        }
        machine_ram_dirty_sync(m);
        struct vm_exit ex = {.reason = EXIT_NONE};
        if (m->ops->run(m, &ex) < 0) {
            machine_request_stop(m, ST_HOST_ERROR, "%s: %s", m->ops->name,
                                 popek_error());
            break;
        }
        if (ex.reason != EXIT_NONE)
            plog(PLOG_EXEC, "exit %s%s%s", exit_name(ex.reason),
                 ex.msg[0] ? ": " : "", ex.msg);
        switch (ex.reason) {
        case EXIT_HLT:
            m->halts++;
            halted = true;
            break;
        case EXIT_SHUTDOWN:
            machine_request_stop(m, ST_TRIPLE_FAULT, "guest shutdown: %s",
                                 ex.msg[0] ? ex.msg : "triple fault");
            break;
        case EXIT_FAILED:
            machine_request_stop(m, ST_HOST_ERROR, "%s engine failed: %s",
                                 m->ops->name, ex.msg);
            break;
        case EXIT_UNSUPPORTED:
            machine_request_stop(m, ST_UNSUPPORTED, "unsupported: %s", ex.msg);
            break;
        case EXIT_DEBUG:
            control_debug_exit(m);
            break;
        default:
            break;
        }
    }
    atomic_store(&m->loop_done, true);
    bool expected = false;
    if (!atomic_compare_exchange_strong(&m->finishing, &expected, true))
        for (;;)
            pause(); /* the watchdog is ending popek */
    watchdog_stop(m);
    m->run_ns = clock_ns() - m->start_ns;
    vtimer_del(m, &timeout);
    iothread_stop(m);
    console_stop_io_thread(m);
    console_teardown(m);
    /* Odd statuses are the guest's own (isa-debug-exit): no message. */
    if (m->reason[0] && !(m->status & 1) &&
        !(m->cfg.quiet && m->status == ST_GUEST_RESET))
        warnx_("%s", m->reason);
    machine_write_stats(m, false);
    return m->status;
}
