/* pit8254.c - the i8254 programmable interval timer on 0x40-0x43 and the
 * system control port B on 0x61.  Three channels with modes 0-5, lobyte/
 * hibyte/lohi access, counter latch and read-back (with status byte), and
 * BCD counting.  Counters are not stepped: each channel remembers when it
 * started counting on the host monotonic clock, and its count and OUT are
 * computed from the time elapsed at 1193182 Hz, so reads advance in real
 * time (Linux calibrates the TSC against channel 2 this way).
 *
 * Channel 0 drives IRQ 0 (an edge: raise then lower) at each period in
 * modes 2 and 3 and once in mode 0 (or 4), using a vtimer; a late run loop
 * gets one interrupt and the next one stays on the period grid.  Channel
 * 2's gate is port 0x61 bit 0 and its OUT is readable there as bit 5; bit 4
 * is the DRAM refresh bit, toggling every ~15 us of host time. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define PIT_HZ 1193182ull
#define NS_PER_S 1000000000ull
#define REFRESH_NS 15085ull /* a refresh cycle every 15.085 us */

enum { RW_LATCH = 0, RW_LO = 1, RW_HI = 2, RW_LOHI = 3 };

struct pit_channel {
    uint8_t mode;      /* 0-5 */
    uint8_t rw;        /* RW_LO, RW_HI or RW_LOHI */
    bool bcd;
    bool gate;
    uint32_t count;    /* reload value, 1..0x10000 (or 10000 in BCD) */
    bool loaded;       /* a count has been written since the control word */
    bool counting;     /* the counter runs (loaded, gated / triggered) */
    uint64_t start_ns; /* when it (re)started counting */
    uint64_t base;     /* ticks elapsed before start_ns (gate pauses) */

    /* Write side: lohi sequencing. */
    bool write_hi_next;
    uint8_t write_lo;
    /* Read side: lohi sequencing of live reads, latches. */
    bool read_hi_next;
    bool count_latched, status_latched;
    uint16_t latch;
    uint8_t latch_bytes; /* bytes of the latch still to read */
    bool latch_hi_next;
    uint8_t status;
    bool null_count;
};

struct pit {
    struct machine *m;
    struct irq_line irq;
    struct pit_channel ch[3];
    uint8_t port61;            /* bits 0-3 as written */
    struct vtimer irq_timer;   /* channel 0 */
    uint64_t irq_target;       /* channel 0 tick of the next IRQ 0 edge */
};

static uint64_t ns_to_ticks(uint64_t ns)
{
    return (ns / NS_PER_S) * PIT_HZ + (ns % NS_PER_S) * PIT_HZ / NS_PER_S;
}

/* The first host time offset at which `ticks` have elapsed (rounded up). */
static uint64_t ticks_to_ns(uint64_t ticks)
{
    return (ticks / PIT_HZ) * NS_PER_S +
           ((ticks % PIT_HZ) * NS_PER_S + PIT_HZ - 1) / PIT_HZ;
}

static uint64_t ch_elapsed(const struct pit_channel *c, uint64_t now)
{
    if (!c->counting)
        return c->base;
    return c->base + (now > c->start_ns ? ns_to_ticks(now - c->start_ns) : 0);
}

/* The counter's value now, in binary. */
static uint32_t ch_count(const struct pit_channel *c, uint64_t now)
{
    if (!c->loaded)
        return 0;
    uint64_t d = ch_elapsed(c, now);
    uint32_t n = c->count;
    switch (c->mode) {
    case 2:
        return (uint32_t)(n - d % n);
    case 3:
        /* Square wave: counts down by two, twice per period. */
        return (uint32_t)(n - (2 * d) % n);
    default: {
        /* Modes 0, 1, 4, 5: count down once, then wrap around. */
        uint32_t wrap = c->bcd ? 10000 : 0x10000;
        return (uint32_t)((n + wrap - d % wrap) % wrap);
    }
    }
}

static bool ch_out(const struct pit_channel *c, uint64_t now)
{
    uint64_t d = ch_elapsed(c, now);
    switch (c->mode) {
    case 0: /* low until terminal count */
        return c->loaded && d >= c->count;
    case 1: /* low from the trigger until terminal count */
        return !c->counting || d >= c->count;
    case 2: /* low for one clock at the end of each period */
        if (!c->loaded || !c->counting)
            return true;
        return d % c->count != c->count - 1;
    case 3: /* high for the first half of each period */
        if (!c->loaded || !c->counting)
            return true;
        return d % c->count < (c->count + 1) / 2;
    default: /* 4, 5: a one-clock low strobe at terminal count */
        if (!c->loaded || (c->mode == 5 && !c->counting))
            return true;
        return d != c->count;
    }
}

static uint16_t to_bcd(uint32_t v)
{
    v %= 10000;
    return (uint16_t)((v / 1000) << 12 | (v / 100 % 10) << 8 |
                      (v / 10 % 10) << 4 | (v % 10));
}

static uint32_t from_bcd(uint16_t v)
{
    return (v >> 12 & 15) * 1000u + (v >> 8 & 15) * 100u +
           (v >> 4 & 15) * 10u + (v & 15);
}

static uint16_t ch_visible_count(const struct pit_channel *c, uint64_t now)
{
    uint32_t v = ch_count(c, now);
    return c->bcd ? to_bcd(v) : (uint16_t)v;
}

/* ---- IRQ 0 ---- */

static void pit_irq_schedule(struct pit *p, uint64_t now)
{
    struct pit_channel *c = &p->ch[0];
    if (!c->loaded || !c->counting) {
        vtimer_del(p->m, &p->irq_timer);
        return;
    }
    uint64_t d = ch_elapsed(c, now), target;
    switch (c->mode) {
    case 0:
    case 4:
        /* One interrupt at terminal count (mode 4: OUT rises a clock
         * after it). */
        target = c->count + (c->mode == 4);
        if (d >= target) {
            vtimer_del(p->m, &p->irq_timer);
            return;
        }
        break;
    case 2:
    case 3:
        /* OUT rises at every multiple of the period. */
        target = (d / c->count + 1) * c->count;
        break;
    default:
        vtimer_del(p->m, &p->irq_timer);
        return;
    }
    p->irq_target = target;
    vtimer_mod(p->m, &p->irq_timer,
               c->start_ns + ticks_to_ns(target - c->base));
}

static void pit_irq_fire(void *opaque)
{
    struct pit *p = opaque;
    struct pit_channel *c = &p->ch[0];
    uint64_t now = clock_ns();
    if (c->loaded && c->counting) {
        if (ch_elapsed(c, now) >= p->irq_target) {
            irq_set(p->irq, 1);
            irq_set(p->irq, 0);
        }
    }
    /* Late or not, the next interrupt stays on the period grid. */
    pit_irq_schedule(p, now);
}

/* ---- counting state ---- */

static void ch_start(struct pit_channel *c, uint64_t now)
{
    c->base = 0;
    c->start_ns = now;
    c->counting = true;
    c->null_count = false;
}

static void ch_loaded(struct pit *p, struct pit_channel *c, uint32_t raw,
                      uint64_t now)
{
    uint32_t v = c->bcd ? from_bcd((uint16_t)raw) : raw;
    if (v == 0)
        v = c->bcd ? 10000 : 0x10000;
    c->count = v;
    c->loaded = true;
    c->null_count = false;
    if (c->mode == 1 || c->mode == 5) {
        /* Hardware triggered: counting starts at the next gate rising
         * edge; the gates of channels 0 and 1 are tied high and so
         * never rise. */
        if (!c->counting)
            c->base = 0;
    } else if (c->gate) {
        ch_start(c, now);
    } else {
        c->counting = false;
        c->base = 0;
    }
    if (c == &p->ch[0])
        pit_irq_schedule(p, now);
}

static void ch_set_gate(struct pit *p, struct pit_channel *c, bool gate,
                        uint64_t now)
{
    if (gate == c->gate)
        return;
    c->gate = gate;
    if (!c->loaded)
        return;
    if (!gate) {
        /* Modes 0, 2, 3, 4 pause; 1 and 5 ignore a falling gate. */
        if (c->mode != 1 && c->mode != 5 && c->counting) {
            c->base = ch_elapsed(c, now);
            c->counting = false;
        }
    } else if (c->mode == 0 || c->mode == 4) {
        c->start_ns = now; /* resume where it paused */
        c->counting = true;
    } else {
        ch_start(c, now); /* 1, 5: trigger; 2, 3: reload */
    }
    if (c == &p->ch[0])
        pit_irq_schedule(p, now);
}

/* ---- port interface ---- */

static void ch_latch_count(struct pit_channel *c, uint64_t now)
{
    if (c->count_latched)
        return;
    c->count_latched = true;
    c->latch = ch_visible_count(c, now);
    c->latch_bytes = c->rw == RW_LOHI ? 2 : 1;
    c->latch_hi_next = c->rw == RW_HI;
}

static void ch_latch_status(struct pit_channel *c, uint64_t now)
{
    if (c->status_latched)
        return;
    c->status_latched = true;
    c->status = (uint8_t)((ch_out(c, now) ? 0x80 : 0) |
                          (c->null_count ? 0x40 : 0) | c->rw << 4 |
                          c->mode << 1 | (c->bcd ? 1 : 0));
}

static void pit_control(struct pit *p, uint8_t v, uint64_t now)
{
    unsigned sel = v >> 6;
    if (sel == 3) { /* read-back */
        for (unsigned i = 0; i < 3; i++) {
            if (!(v & (2u << i)))
                continue;
            if (!(v & 0x10))
                ch_latch_status(&p->ch[i], now);
            if (!(v & 0x20))
                ch_latch_count(&p->ch[i], now);
        }
        return;
    }
    struct pit_channel *c = &p->ch[sel];
    unsigned rw = (v >> 4) & 3;
    if (rw == RW_LATCH) {
        ch_latch_count(c, now);
        return;
    }
    unsigned mode = (v >> 1) & 7;
    if (mode > 5)
        mode -= 4; /* 6 and 7 are aliases of 2 and 3 */
    c->rw = (uint8_t)rw;
    c->mode = (uint8_t)mode;
    c->bcd = v & 1;
    c->loaded = false;
    c->counting = false;
    c->base = 0;
    c->null_count = true;
    c->write_hi_next = c->read_hi_next = false;
    c->count_latched = c->status_latched = false;
    if (sel == 0)
        vtimer_del(p->m, &p->irq_timer);
}

static void ch_write(struct pit *p, struct pit_channel *c, uint8_t v,
                     uint64_t now)
{
    switch (c->rw) {
    case RW_LO:
        ch_loaded(p, c, v, now);
        break;
    case RW_HI:
        ch_loaded(p, c, (uint32_t)v << 8, now);
        break;
    case RW_LOHI:
        if (!c->write_hi_next) {
            c->write_lo = v;
            c->write_hi_next = true;
            if (c->mode == 0 && c->loaded) {
                /* Mode 0: writing the first byte stops the count. */
                c->base = ch_elapsed(c, now);
                c->counting = false;
                c->loaded = false;
                if (c == &p->ch[0])
                    vtimer_del(p->m, &p->irq_timer);
            }
        } else {
            c->write_hi_next = false;
            ch_loaded(p, c, c->write_lo | (uint32_t)v << 8, now);
        }
        break;
    default: /* no control word yet: ignored */
        break;
    }
}

static uint8_t ch_read(struct pit_channel *c, uint64_t now)
{
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->count_latched) {
        uint8_t b = c->latch_hi_next ? (uint8_t)(c->latch >> 8)
                                     : (uint8_t)c->latch;
        c->latch_hi_next = !c->latch_hi_next;
        if (--c->latch_bytes == 0)
            c->count_latched = false;
        return b;
    }
    uint16_t v = ch_visible_count(c, now);
    switch (c->rw) {
    case RW_LO:
        return (uint8_t)v;
    case RW_HI:
        return (uint8_t)(v >> 8);
    case RW_LOHI:
        c->read_hi_next = !c->read_hi_next;
        return c->read_hi_next ? (uint8_t)v : (uint8_t)(v >> 8);
    default:
        return 0;
    }
}

static void pit_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                   bool is_write)
{
    struct pit *p = dev;
    uint64_t now = clock_ns();
    for (unsigned i = 0; i < len; i++) {
        unsigned reg = (unsigned)(offset + i) & 3;
        if (reg == 3) {
            if (is_write)
                pit_control(p, data[i], now);
            else
                data[i] = 0xff; /* the control register is write-only */
        } else if (is_write) {
            ch_write(p, &p->ch[reg], data[i], now);
        } else {
            data[i] = ch_read(&p->ch[reg], now);
        }
    }
}

static void port61_io(void *dev, uint64_t offset, uint8_t *data,
                      unsigned len, bool is_write)
{
    struct pit *p = dev;
    uint64_t now = clock_ns();
    (void)offset;
    if (is_write) {
        p->port61 = data[0] & 0x0f;
        ch_set_gate(p, &p->ch[2], p->port61 & 1, now);
        return;
    }
    uint8_t v = p->port61;
    if ((now / REFRESH_NS) & 1)
        v |= 0x10;
    if (ch_out(&p->ch[2], now))
        v |= 0x20;
    io_put(data, len, v * 0x01010101u);
}

int pit_create(struct machine *m, struct io_space *bus, uint16_t base,
               struct irq_line irq)
{
    if (machine_find_device(m, "i8254"))
        return fail("the PIT already exists on this machine");
    struct pit *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "i8254", p, NULL, NULL) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->m = m;
    p->irq = irq;
    vtimer_init(&p->irq_timer, pit_irq_fire, p);
    for (int i = 0; i < 3; i++) {
        p->ch[i].gate = i != 2; /* channel 2 gated by port 0x61 bit 0 */
        p->ch[i].rw = RW_LOHI;
        p->ch[i].count = 0x10000;
        p->ch[i].mode = 3;
    }
    if (io_register(bus, base, 4, pit_io, p, "pit") < 0)
        return -1;
    return io_register(bus, 0x61, 1, port61_io, p, "port61");
}
