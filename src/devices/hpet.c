/* hpet.c - the High Precision Event Timer block at 0xFED00000 (1 KiB, as
 * the ACPI HPET table says), modelled on QEMU's: a 64-bit main counter at
 * 100 MHz (period 10,000,000 fs) of the host monotonic clock (so it agrees
 * with the guest TSC, the PIT, the PM timer and the RTC), and 3 comparators.
 *   0x000 GCAP_ID   revision 1, 3 timers, 64-bit counter, legacy route
 *                   capable, vendor 0x8086, period in fs in the high half
 *   0x010 GEN_CONF  ENABLE_CNF (bit 0) runs the counter and the
 *                   comparators; LEG_RT_CNF (bit 1) routes timer 0 to IRQ 0
 *                   (I/O APIC pin 2) and timer 1 to IRQ 8
 *   0x020 GINTR_STA level-triggered interrupt status, write 1 to clear
 *   0x0F0 MAIN_CNT  read/write (software halts it before writing)
 *   0x100 + 0x20*n  Tn_CONF: level (bit 1), interrupt enable (2), periodic
 *                   (3), periodic/64-bit capable (4, 5 read-only), VAL_SET
 *                   (6), 32-bit mode (8), I/O APIC route (9-13; pins 2-23
 *                   in the capability mask, high half); no FSB delivery
 *   0x108 + 0x20*n  Tn_COMPARATOR: in periodic mode a write sets the period
 *                   (and the comparator too when VAL_SET was set), as QEMU
 * A comparator fires when the counter reaches it (32-bit mode: its low 32
 * bits; a 32-bit one-shot fires again after each wrap), through a vtimer.
 * Periodic comparators then advance by the period, past the counter (a late
 * run loop gets one interrupt).  Edge mode pulses the line; level mode sets
 * the status bit and holds the line while it is set and enabled.
 * Lines: pin p is the machine's interrupt line p, except pin 2 which is
 * ISA IRQ 0's line (IRQ 0 is wired to I/O APIC pin 2 on this PC). */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define HPET_TIMERS 3
#define HPET_PERIOD_FS 10000000ull      /* 10 ns: 100 MHz */
#define HPET_NS_PER_TICK 10ull
#define HPET_LEN 0x400
#define HPET_ROUTE_CAP 0x00fffffcu      /* I/O APIC pins 2..23 */

#define CFG_ENABLE (1ull << 0)
#define CFG_LEGACY (1ull << 1)

#define TN_LEVEL (1ull << 1)
#define TN_INT_ENB (1ull << 2)
#define TN_PERIODIC (1ull << 3)
#define TN_PER_CAP (1ull << 4)
#define TN_SIZE_CAP (1ull << 5)
#define TN_VAL_SET (1ull << 6)
#define TN_32BIT (1ull << 8)
#define TN_ROUTE_SHIFT 9
#define TN_ROUTE_MASK (0x1full << TN_ROUTE_SHIFT)
#define TN_WRITABLE (TN_LEVEL | TN_INT_ENB | TN_PERIODIC | TN_VAL_SET | \
                     TN_32BIT | TN_ROUTE_MASK)
#define TN_FIXED (TN_PER_CAP | TN_SIZE_CAP | ((uint64_t)HPET_ROUTE_CAP << 32))

struct hpet;

struct hpet_timer {
    struct hpet *h;
    int n;
    uint64_t config;    /* writable bits only */
    uint64_t cmp, period;
    uint64_t next;      /* counter value of the next fire (when armed) */
    int line;           /* the line it holds high (level), -1 = none */
    struct vtimer vt;
};

struct hpet {
    struct machine *m;
    uint64_t config;
    uint64_t isr;
    uint64_t counter;   /* value at ns0 (and while halted) */
    uint64_t ns0;
    struct hpet_timer t[HPET_TIMERS];
    void (*legacy_fn)(void *ctx, bool on);
    void *legacy_ctx;
};

static void legacy_changed(struct hpet *h, uint64_t old_cfg, uint64_t cfg)
{
    if (h->legacy_fn && ((old_cfg ^ cfg) & CFG_LEGACY))
        h->legacy_fn(h->legacy_ctx, cfg & CFG_LEGACY);
}

static bool hpet_on(const struct hpet *h)
{
    return h->config & CFG_ENABLE;
}

static uint64_t hpet_now(const struct hpet *h, uint64_t now_ns)
{
    if (!hpet_on(h))
        return h->counter;
    return h->counter + (now_ns > h->ns0 ? (now_ns - h->ns0) / HPET_NS_PER_TICK : 0);
}

/* The machine line timer t raises. */
static int timer_line(const struct hpet_timer *t)
{
    const struct hpet *h = t->h;
    if ((h->config & CFG_LEGACY) && t->n < 2)
        return t->n == 0 ? 0 : 8;
    int pin = (int)((t->config & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
    return pin == 2 ? 0 : pin;
}

static void set_line(struct hpet *h, int line, int level)
{
    irq_set((struct irq_line){.m = h->m, .irq = line}, level);
}

/* Bring the level line of t in line with its status bit. */
static void timer_update_level(struct hpet_timer *t)
{
    struct hpet *h = t->h;
    bool high = (h->isr & (1ull << t->n)) && (t->config & TN_INT_ENB) &&
                (t->config & TN_LEVEL) && hpet_on(h);
    int line = high ? timer_line(t) : -1;
    if (t->line >= 0 && t->line != line)
        set_line(h, t->line, 0);
    if (line >= 0 && t->line != line)
        set_line(h, line, 1);
    t->line = line;
}

static void timer_interrupt(struct hpet_timer *t)
{
    struct hpet *h = t->h;
    if (t->config & TN_LEVEL) {
        h->isr |= 1ull << t->n;
        timer_update_level(t);
    } else if (t->config & TN_INT_ENB) {
        int line = timer_line(t);
        set_line(h, line, 1);
        set_line(h, line, 0);
    }
}

/* Arm t's vtimer for its next match after counter value `cnt`. */
static void timer_arm(struct hpet_timer *t, uint64_t cnt)
{
    struct hpet *h = t->h;
    if (!hpet_on(h)) {
        vtimer_del(h->m, &t->vt);
        return;
    }
    uint64_t delta;
    if (t->config & TN_32BIT) {
        delta = (uint32_t)((uint32_t)t->cmp - (uint32_t)cnt);
        if (delta == 0)
            delta = 1ull << 32;
    } else {
        if (t->cmp <= cnt) {    /* in the past: only after a 64-bit wrap */
            vtimer_del(h->m, &t->vt);
            return;
        }
        delta = t->cmp - cnt;
    }
    t->next = cnt + delta;
    uint64_t ticks = t->next - h->counter;   /* since ns0 */
    if (ticks > (UINT64_MAX - h->ns0) / HPET_NS_PER_TICK) {
        vtimer_del(h->m, &t->vt);            /* centuries away */
        return;
    }
    vtimer_mod(h->m, &t->vt, h->ns0 + ticks * HPET_NS_PER_TICK);
}

static void timer_fire(void *opaque)
{
    struct hpet_timer *t = opaque;
    struct hpet *h = t->h;
    uint64_t now_ns = clock_ns();
    uint64_t cnt = hpet_now(h, now_ns);
    if (!hpet_on(h))
        return;
    timer_interrupt(t);
    if ((t->config & TN_PERIODIC) && t->period) {
        uint64_t period = t->period;
        if (t->config & TN_32BIT) {
            period = (uint32_t)period;
            if (!period)
                period = 1ull << 32;
        }
        /* Advance past the counter: a late run loop gets one interrupt. */
        uint64_t behind = cnt > t->next ? cnt - t->next : 0;
        t->cmp += (behind / period + 1) * period;
        if (t->config & TN_32BIT)
            t->cmp = (uint32_t)t->cmp;
    }
    /* One-shot: 32-bit mode matches again after the counter wraps. */
    timer_arm(t, cnt);
}

static void hpet_rearm_all(struct hpet *h)
{
    uint64_t now_ns = clock_ns();
    uint64_t cnt = hpet_now(h, now_ns);
    for (int i = 0; i < HPET_TIMERS; i++) {
        timer_arm(&h->t[i], cnt);
        timer_update_level(&h->t[i]);
    }
}

/* ---- registers ---- */

static uint64_t hpet_cap(void)
{
    return 0x01 | ((uint64_t)(HPET_TIMERS - 1) << 8) | (1ull << 13) |
           (1ull << 15) | (0x8086ull << 16) | (HPET_PERIOD_FS << 32);
}

static uint64_t hpet_read_reg(struct hpet *h, uint64_t reg)
{
    switch (reg) {
    case 0x000: return hpet_cap();
    case 0x010: return h->config;
    case 0x020: return h->isr;
    case 0x0f0: return hpet_now(h, clock_ns());
    }
    if (reg >= 0x100 && reg < 0x100 + 0x20 * HPET_TIMERS) {
        struct hpet_timer *t = &h->t[(reg - 0x100) / 0x20];
        switch (reg & 0x1f) {
        case 0x00: return t->config | TN_FIXED;
        case 0x08: return t->cmp;
        }
    }
    return 0;
}

static void timer_write_config(struct hpet_timer *t, uint64_t v)
{
    uint64_t old = t->config;
    uint64_t cfg = (old & ~TN_WRITABLE) | (v & TN_WRITABLE);
    unsigned pin = (unsigned)((cfg & TN_ROUTE_MASK) >> TN_ROUTE_SHIFT);
    if (!(HPET_ROUTE_CAP & (1u << pin)))       /* unsupported: keep */
        cfg = (cfg & ~TN_ROUTE_MASK) | (old & TN_ROUTE_MASK);
    t->config = cfg;
    if ((cfg & TN_32BIT) && !(old & TN_32BIT)) {
        t->cmp = (uint32_t)t->cmp;
        t->period = (uint32_t)t->period;
    }
    if (!(cfg & TN_LEVEL))                     /* edge: no status */
        t->h->isr &= ~(1ull << t->n);
}

static void timer_write_cmp(struct hpet_timer *t, uint64_t v, uint64_t mask)
{
    if (t->config & TN_32BIT) {
        v = (uint32_t)v;
        mask |= ~0xffffffffull;                /* the high half becomes 0 */
    }
    if (!(t->config & TN_PERIODIC) || (t->config & TN_VAL_SET))
        t->cmp = (t->cmp & ~mask) | (v & mask);
    if (t->config & TN_PERIODIC)
        t->period = (t->period & ~mask) | (v & mask);
    t->config &= ~TN_VAL_SET;
}

static void hpet_write_reg(struct hpet *h, uint64_t reg, uint64_t v,
                           uint64_t mask)
{
    uint64_t now_ns = clock_ns();
    switch (reg) {
    case 0x010: {
        uint64_t cfg = ((h->config & ~mask) | (v & mask)) &
                       (CFG_ENABLE | CFG_LEGACY);
        if ((cfg & CFG_ENABLE) && !hpet_on(h)) {
            h->ns0 = now_ns;                    /* start counting */
        } else if (!(cfg & CFG_ENABLE) && hpet_on(h)) {
            h->counter = hpet_now(h, now_ns);   /* halt */
        }
        uint64_t old = h->config;
        h->config = cfg;
        legacy_changed(h, old, cfg); /* before timers 0/1 take the lines */
        hpet_rearm_all(h);
        return;
    }
    case 0x020:
        h->isr &= ~(v & mask);
        for (int i = 0; i < HPET_TIMERS; i++)
            timer_update_level(&h->t[i]);
        return;
    case 0x0f0: {
        uint64_t cnt = hpet_now(h, now_ns);
        h->counter = (cnt & ~mask) | (v & mask);
        h->ns0 = now_ns;
        hpet_rearm_all(h);
        return;
    }
    }
    if (reg >= 0x100 && reg < 0x100 + 0x20 * HPET_TIMERS) {
        struct hpet_timer *t = &h->t[(reg - 0x100) / 0x20];
        switch (reg & 0x1f) {
        case 0x00:
            timer_write_config(t, (t->config & ~mask) | (v & mask));
            break;
        case 0x08:
            timer_write_cmp(t, v, mask);
            break;
        default:
            return;
        }
        timer_arm(t, hpet_now(h, now_ns));
        timer_update_level(t);
    }
}

/* Accesses of 1, 2, 4 or 8 bytes inside one 64-bit register. */
static void hpet_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                    bool is_write)
{
    struct hpet *h = dev;
    uint64_t reg = offset & ~7ull;
    unsigned shift = (unsigned)(offset & 7) * 8;
    if ((offset & 7) + len > 8) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    uint64_t mask = len == 8 ? ~0ull : ((1ull << (len * 8)) - 1) << shift;
    if (!is_write) {
        io_put(data, len, hpet_read_reg(h, reg) >> shift);
        return;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)data[i] << (8 * i);
    hpet_write_reg(h, reg, v << shift, mask);
}

static void hpet_reset(void *opaque)
{
    struct hpet *h = opaque;
    for (int i = 0; i < HPET_TIMERS; i++) {
        struct hpet_timer *t = &h->t[i];
        vtimer_del(h->m, &t->vt);
        if (t->line >= 0)
            set_line(h, t->line, 0);
        t->line = -1;
        t->config = 0;
        t->cmp = ~0ull;
        t->period = 0;
    }
    legacy_changed(h, h->config, 0);
    h->config = 0;
    h->isr = 0;
    h->counter = 0;
    h->ns0 = clock_ns();
}

/* The machine is going away and fires no more timers: the list may hold
 * timers of devices destroyed before us, so it is not walked here. */
static void hpet_destroy(void *opaque)
{
    free(opaque);
}

void hpet_set_legacy_hook(struct machine *m, void (*fn)(void *ctx, bool on),
                          void *ctx)
{
    struct hpet *h = machine_find_device(m, "hpet");
    if (h) {
        h->legacy_fn = fn;
        h->legacy_ctx = ctx;
    }
}

int hpet_create(struct machine *m, struct io_space *bus, uint64_t base)
{
    if (machine_find_device(m, "hpet"))
        return fail("the HPET already exists");
    struct hpet *h = calloc(1, sizeof(*h));
    if (!h || machine_add_device(m, "hpet", h, hpet_reset, hpet_destroy) < 0) {
        free(h);
        return fail("out of memory");
    }
    h->m = m;
    for (int i = 0; i < HPET_TIMERS; i++) {
        h->t[i].h = h;
        h->t[i].n = i;
        h->t[i].line = -1;
        vtimer_init(&h->t[i].vt, timer_fire, &h->t[i]);
    }
    hpet_reset(h);
    return io_register(bus, base, HPET_LEN, hpet_io, h, "hpet");
}
