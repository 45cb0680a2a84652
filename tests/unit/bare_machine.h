/* bare_machine.h - the bare machine of the device unit tests (test_devices,
 * test_acpi_hpet, test_legacy, test_apic, test_pv): a struct machine with
 * its three io spaces and no board, engine or run loop; the tests create
 * the devices they need on it and drive them through the io bus with
 * outb/inb..., firing the due virtual timers as the run loop would;
 * machine_destroy frees it. */
#ifndef POPEK_BARE_MACHINE_H
#define POPEK_BARE_MACHINE_H
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "core/machine.h"
#include "core/util.h"

/* A machine of ram_size bytes (0: none) whose RAM is not allocated: for
 * devices that only read the size (CMOS, fw_cfg) or need no RAM. */
static inline struct machine *bare_machine_new(uint64_t ram_size)
{
    struct machine *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    io_space_init(&m->pio, "port");
    io_space_init(&m->mmio, "mmio");
    io_space_init(&m->msr, "msr");
    m->ram_fd = m->timer_fd = m->wake_fd = m->signal_fd = -1;
    m->ram_size = ram_size;
    return m;
}

/* The same with ram_size bytes of zeroed RAM, mapped as machine_destroy
 * (which frees everything: devices, io spaces, RAM) expects. */
static inline struct machine *bare_machine_with_ram(uint64_t ram_size)
{
    struct machine *m = bare_machine_new(ram_size);
    m->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m->ram == MAP_FAILED)
        abort();
    return m;
}

static inline void outb(struct machine *m, uint16_t port, uint8_t v)
{
    io_access(&m->pio, port, &v, 1, true);
}

static inline void outw(struct machine *m, uint16_t port, uint16_t v)
{
    uint8_t d[2];
    io_put(d, 2, v);
    io_access(&m->pio, port, d, 2, true);
}

static inline void outl(struct machine *m, uint16_t port, uint32_t v)
{
    uint8_t d[4];
    io_put(d, 4, v);
    io_access(&m->pio, port, d, 4, true);
}

static inline uint8_t inb(struct machine *m, uint16_t port)
{
    uint8_t v = 0;
    io_access(&m->pio, port, &v, 1, false);
    return v;
}

static inline uint16_t inw(struct machine *m, uint16_t port)
{
    uint8_t d[2] = {0};
    io_access(&m->pio, port, d, 2, false);
    return (uint16_t)io_get(d, 2);
}

static inline uint32_t inl(struct machine *m, uint16_t port)
{
    uint8_t d[4] = {0};
    io_access(&m->pio, port, d, 4, false);
    return io_get(d, 4);
}

static inline void sleep_us(unsigned us)
{
    struct timespec ts = {.tv_sec = us / 1000000,
                          .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Fire the virtual timers due at `now` as the run loop does (one at a
 * time: a callback may re-arm or delete others); returns how many. */
static inline int fire_timers_at(struct machine *m, uint64_t now)
{
    int n = 0;
    bool fired;
    do {
        fired = false;
        for (struct vtimer *t = m->timers; t; t = t->next) {
            if (t->deadline <= now) {
                vtimer_del(m, t);
                t->cb(t->opaque);
                n++;
                fired = true;
                break;
            }
        }
    } while (fired);
    return n;
}

static inline int fire_timers(struct machine *m)
{
    return fire_timers_at(m, clock_ns());
}

/* The earliest timer deadline, 0 if none is armed. */
static inline uint64_t earliest_deadline(struct machine *m)
{
    uint64_t next = 0;
    for (struct vtimer *t = m->timers; t; t = t->next)
        if (!next || t->deadline < next)
            next = t->deadline;
    return next;
}

#endif
