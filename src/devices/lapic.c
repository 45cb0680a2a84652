/* lapic.c - the local APIC of popek's one CPU (xAPIC, APIC ID 0): its
 * register page (MMIO, 4 KiB at the base in IA32_APIC_BASE), the
 * IA32_APIC_BASE MSR (0x1b) and IA32_TSC_DEADLINE (0x6e0) on m->msr, and
 * the CPU side of interrupt delivery.  Owns ID, version, TPR/APR/PPR, EOI,
 * LDR/DFR, SVR, ISR/TMR/IRR, ESR, ICR (self-IPIs; INIT/SIPI accepted and
 * ignored), the six LVT entries and the timer (one-shot, periodic,
 * TSC-deadline) on a vtimer with a 1 GHz APIC bus clock, as QEMU and KVM.
 *
 * It sits in front of the i8259 pair: lapic_create() takes the interrupt
 * controller installed before it (the PIC) as the source of ExtINT
 * interrupts through LINT0 (virtual wire mode, the reset state: LINT0 =
 * ExtINT as a BIOS leaves it) and installs itself as m->intc: intr() asks
 * "a fixed vector above the processor priority, an NMI, or the PIC through
 * LINT0", ack() answers the INTA cycle (IRR -> ISR, or the PIC's own INTA).
 * With the APIC globally disabled in the MSR the PIC passes straight
 * through.  It also installs itself as m->msi: MSI messages (and the I/O
 * APIC's messages, see ioapic.c) arrive as (address, data) pairs.  EOI of
 * a level-triggered vector is broadcast to the hook lapic_set_eoi_hook()
 * sets (the board points it at the I/O APIC).
 *
 * Limits: NMI is delivered as vector 2 through the ordinary interrupt path
 * (the engines have no separate NMI input), so it waits for IF = 1. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define APIC_VERSION 0x00050014u /* version 0x14, max LVT entry 5 */
#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_EN (1ull << 11)

enum { LVT_TIMER, LVT_THERMAL, LVT_PERF, LVT_LINT0, LVT_LINT1, LVT_ERROR,
       NR_LVT };
#define LVT_MASKED (1u << 16)
#define LVT_DM(v) (((v) >> 8) & 7)
#define LVT_LEVEL (1u << 15)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)
enum { TIMER_ONESHOT = 0, TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2 };
enum { DM_FIXED = 0, DM_LOWEST = 1, DM_SMI = 2, DM_NMI = 4, DM_INIT = 5,
       DM_SIPI = 6, DM_EXTINT = 7 };
#define SVR_ENABLE (1u << 8)
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)
#define ESR_ILLEGAL_REG (1u << 7)
/* A periodic timer never fires faster than this (as KVM's lower limit). */
#define MIN_PERIOD_NS 50000ull

struct lapic {
    struct machine *m;
    uint64_t apicbase;          /* IA32_APIC_BASE */
    uint32_t id;                /* ID register (APIC ID in 31:24) */
    uint32_t tpr, ldr, dfr, svr;
    uint32_t esr, esr_pending;  /* ESR as read; errors since the last write */
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[NR_LVT];
    uint32_t irr[8], isr[8], tmr[8];
    /* Timer: initial count, divide configuration, when the count was
     * loaded (host ns); the TSC deadline (guest TSC). */
    uint32_t timer_icr, timer_dcr;
    uint64_t timer_load_ns;
    uint64_t tsc_deadline;
    struct vtimer timer;
    bool nmi_pending, extint_pending;
    struct intc_ops pic;        /* ExtINT source: what was m->intc */
    void (*eoi_hook)(void *ctx, int vector);
    void *eoi_ctx;
    uint64_t (*now)(void *ctx); /* host clock (fake in unit tests) */
    void *now_ctx;
    /* PV EOI (with --cpu kvm): MSR_KVM_PV_EOI_EN, and whether the guest's
     * word says it may skip the EOI of the highest in-service vector */
    uint64_t pv_eoi_msr;
    bool pv_eoi_pending;
    uint64_t pv_eoi_offered, pv_eoi_taken, pv_eoi_msr_writes;
};

static uint64_t host_now(void *ctx)
{
    (void)ctx;
    return clock_ns();
}

static uint64_t now_ns(struct lapic *l)
{
    return l->now(l->now_ctx);
}

/* ---- the 256-bit registers ---- */

static void bit_set(uint32_t *r, int v) { r[v >> 5] |= 1u << (v & 31); }
static void bit_clr(uint32_t *r, int v) { r[v >> 5] &= ~(1u << (v & 31)); }
static bool bit_get(const uint32_t *r, int v) { return r[v >> 5] >> (v & 31) & 1; }

/* Highest vector set, or -1. */
static int highest(const uint32_t *r)
{
    for (int i = 7; i >= 0; i--)
        if (r[i])
            return i * 32 + 31 - __builtin_clz(r[i]);
    return -1;
}

static bool hw_enabled(const struct lapic *l)
{
    return l->apicbase & APIC_BASE_EN;
}

static bool sw_enabled(const struct lapic *l)
{
    return hw_enabled(l) && (l->svr & SVR_ENABLE);
}

static uint32_t ppr(const struct lapic *l)
{
    int isrv = highest(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;
    return (l->tpr & 0xf0) >= isr_class ? l->tpr & 0xff : isr_class;
}

static uint32_t apr(const struct lapic *l)
{
    int v = highest(l->irr), s = highest(l->isr);
    if (s > v)
        v = s;
    uint32_t cls = v < 0 ? 0 : (uint32_t)v & 0xf0;
    return (l->tpr & 0xf0) >= cls ? l->tpr & 0xff : cls;
}

/* The fixed vector the APIC would present to the CPU now, or -1. */
static int deliverable(const struct lapic *l)
{
    if (!sw_enabled(l))
        return -1;
    int v = highest(l->irr);
    if (v < 0 || ((uint32_t)v & 0xf0) <= (ppr(l) & 0xf0))
        return -1;
    return v;
}

/* Does the PIC's INTR reach the CPU (LINT0 in ExtINT mode and unmasked,
 * an ExtINT message, or the APIC globally disabled)? */
static bool extint_open(const struct lapic *l)
{
    if (!hw_enabled(l) || l->extint_pending)
        return true;
    uint32_t lint0 = l->lvt[LVT_LINT0];
    return !(lint0 & LVT_MASKED) && LVT_DM(lint0) == DM_EXTINT;
}

/* ---- accepting interrupts ---- */

static void signal_error(struct lapic *l, uint32_t bits);

/* An interrupt message for this APIC with a delivery mode. */
static void accept(struct lapic *l, int dm, int vector, bool level)
{
    if (!hw_enabled(l))
        return;
    switch (dm) {
    case DM_FIXED:
    case DM_LOWEST:
        if (vector < 16) {
            signal_error(l, ESR_RECV_ILLEGAL);
            return;
        }
        bit_set(l->irr, vector);
        if (level)
            bit_set(l->tmr, vector);
        else
            bit_clr(l->tmr, vector);
        break;
    case DM_NMI:
        l->nmi_pending = true;
        break;
    case DM_EXTINT:
        l->extint_pending = true;
        break;
    default: /* SMI, INIT, SIPI: one CPU, no SMM: ignored */
        break;
    }
}

/* A local interrupt through an LVT entry (not LINT0's ExtINT wire). */
static void lvt_fire(struct lapic *l, int idx)
{
    uint32_t v = l->lvt[idx];
    if ((v & LVT_MASKED) || !sw_enabled(l))
        return;
    int dm = idx == LVT_TIMER || idx == LVT_ERROR ? DM_FIXED : (int)LVT_DM(v);
    accept(l, dm, (int)(v & 0xff), false);
}

static void signal_error(struct lapic *l, uint32_t bits)
{
    bool had = l->esr_pending != 0;
    l->esr_pending |= bits;
    /* The error LVT fires once per new error; an illegal error vector
     * would recurse, so it only records the error. */
    if (!had && (l->lvt[LVT_ERROR] & 0xff) >= 16)
        lvt_fire(l, LVT_ERROR);
}

/* Does a destination (8-bit, physical or logical) name this APIC? */
static bool dest_match(const struct lapic *l, uint32_t dest, bool logical)
{
    uint32_t id = l->id >> 24;
    if (!logical)
        return dest == 0xff || dest == id;
    if (dest == 0xff)
        return true;
    uint32_t ldr = l->ldr >> 24;
    if ((l->dfr >> 28) == 0xf)          /* flat model */
        return (ldr & dest) != 0;
    /* cluster model: cluster in 7:4, members in 3:0 */
    return (dest >> 4) == (ldr >> 4) && (dest & ldr & 0xf);
}

/* An MSI write: address 0xfeeXXXXX (dest in 19:12, DM bit 2), data =
 * vector | delivery mode << 8 | trigger << 15. */
static void lapic_msi(void *ctx, uint64_t addr, uint32_t data)
{
    struct lapic *l = ctx;
    if ((addr & 0xfff00000u) != 0xfee00000u)
        return;
    uint32_t dest = (uint32_t)(addr >> 12) & 0xff;
    if (!dest_match(l, dest, addr & 4))
        return;
    accept(l, (int)((data >> 8) & 7), (int)(data & 0xff), data & (1u << 15));
}

/* ---- the timer ---- */

static unsigned timer_shift(const struct lapic *l)
{
    unsigned v = (l->timer_dcr & 3) | ((l->timer_dcr >> 1) & 4);
    return (v + 1) & 7; /* 0b111 = divide by 1 */
}

static unsigned timer_mode(const struct lapic *l)
{
    return LVT_TIMER_MODE(l->lvt[LVT_TIMER]);
}

static uint64_t timer_period_ns(const struct lapic *l)
{
    return (uint64_t)l->timer_icr << timer_shift(l);
}

static uint32_t timer_current(struct lapic *l)
{
    if (!l->timer_icr || timer_mode(l) == TIMER_TSC_DEADLINE)
        return 0;
    uint64_t ticks = (now_ns(l) - l->timer_load_ns) >> timer_shift(l);
    if (timer_mode(l) == TIMER_PERIODIC)
        return l->timer_icr - (uint32_t)(ticks % l->timer_icr);
    return ticks >= l->timer_icr ? 0 : l->timer_icr - (uint32_t)ticks;
}

static void timer_arm(struct lapic *l, uint64_t deadline)
{
    vtimer_mod(l->m, &l->timer, deadline);
}

static void timer_stop(struct lapic *l)
{
    vtimer_del(l->m, &l->timer);
}

static void timer_start_count(struct lapic *l)
{
    l->timer_load_ns = now_ns(l);
    if (!l->timer_icr || timer_mode(l) == TIMER_TSC_DEADLINE) {
        timer_stop(l);
        return;
    }
    timer_arm(l, l->timer_load_ns + timer_period_ns(l));
}

static void timer_set_deadline(struct lapic *l, uint64_t tsc)
{
    l->tsc_deadline = tsc;
    if (!tsc) {
        timer_stop(l);
        return;
    }
    /* The engines run the guest TSC at 1 GHz of the host clock plus
     * m->tsc_offset: compare in the guest's TSC, then wait in host ns. */
    uint64_t now = now_ns(l), tsc_now = now + l->m->tsc_offset;
    if (tsc > tsc_now) {
        timer_arm(l, now + (tsc - tsc_now));
        return;
    }
    /* Already due: deliver at once, as the hardware does. */
    timer_stop(l);
    l->tsc_deadline = 0;
    lvt_fire(l, LVT_TIMER);
}

static void timer_expired(void *opaque)
{
    struct lapic *l = opaque;
    uint64_t now = now_ns(l);
    switch (timer_mode(l)) {
    case TIMER_PERIODIC: {
        uint64_t p = timer_period_ns(l);
        if (!p)
            return;
        /* The next period boundary after now (missed ones coalesce), but
         * never faster than MIN_PERIOD_NS. */
        uint64_t n = (now - l->timer_load_ns) / p + 1;
        uint64_t next = l->timer_load_ns + n * p;
        if (next < now + MIN_PERIOD_NS && p < MIN_PERIOD_NS)
            next = now + MIN_PERIOD_NS;
        timer_arm(l, next);
        break;
    }
    case TIMER_TSC_DEADLINE:
        l->tsc_deadline = 0;
        break;
    default:
        break;
    }
    lvt_fire(l, LVT_TIMER);
}

/* ---- registers ---- */

static void lapic_eoi(struct lapic *l);

/* PV EOI (Linux's KVM guest): the guest's u32 at the MSR's address, bit 0
 * set by us when an interrupt is acked and the guest may skip writing EOI
 * (an edge-triggered vector, nothing else requested).  A guest that skips
 * it clears the bit with an ordinary store; we notice before we next
 * decide anything about interrupts (and on any access to the APIC) and do
 * the EOI ourselves, as KVM does on the next exit. */
#define MSR_KVM_PV_EOI_EN 0x4b564d04
static uint32_t *pv_eoi_word(struct lapic *l)
{
    if (!(l->pv_eoi_msr & 1))
        return NULL;
    return (uint32_t *)gpa_to_hva(l->m, l->pv_eoi_msr & ~3ull, 4);
}

static void pv_eoi_sync(struct lapic *l)
{
    if (!l->pv_eoi_pending)
        return;
    uint32_t *w = pv_eoi_word(l);
    if (w && (__atomic_load_n(w, __ATOMIC_SEQ_CST) & 1))
        return;
    l->pv_eoi_pending = false;
    l->pv_eoi_taken++;
    lapic_eoi(l);
}

static void pv_eoi_offer(struct lapic *l, int v)
{
    uint32_t *w = pv_eoi_word(l);
    if (!w || bit_get(l->tmr, v) || highest(l->irr) >= 0)
        return;
    __atomic_fetch_or(w, 1u, __ATOMIC_SEQ_CST);
    l->pv_eoi_pending = true;
    l->pv_eoi_offered++;
}

static void lapic_msr_pv_eoi(void *dev, uint64_t offset, uint8_t *data,
                             unsigned len, bool is_write);

static void lapic_eoi(struct lapic *l)
{
    int v = highest(l->isr);
    if (v < 0)
        return;
    bit_clr(l->isr, v);
    if (bit_get(l->tmr, v)) {
        bit_clr(l->tmr, v);
        if (l->eoi_hook)
            l->eoi_hook(l->eoi_ctx, v);
    }
}

static void send_ipi(struct lapic *l)
{
    uint32_t lo = l->icr_lo;
    int vector = (int)(lo & 0xff), dm = (int)LVT_DM(lo);
    bool self;
    switch ((lo >> 18) & 3) {
    case 1: /* self */
    case 2: /* all including self */
        self = true;
        break;
    case 3: /* all excluding self: nobody else */
        self = false;
        break;
    default:
        self = dest_match(l, l->icr_hi >> 24, lo & (1u << 11));
        break;
    }
    if ((dm == DM_FIXED || dm == DM_LOWEST) && vector < 16) {
        signal_error(l, ESR_SEND_ILLEGAL);
        return;
    }
    if (self)
        accept(l, dm, vector, false);
}

static void write_lvt(struct lapic *l, int idx, uint32_t v)
{
    static const uint32_t mask[NR_LVT] = {
        [LVT_TIMER] = 0x700ffu, [LVT_THERMAL] = 0x107ffu,
        [LVT_PERF] = 0x107ffu, [LVT_LINT0] = 0x1a7ffu,
        [LVT_LINT1] = 0x1a7ffu, [LVT_ERROR] = 0x100ffu,
    };
    uint32_t old = l->lvt[idx];
    v &= mask[idx];
    if (!(l->svr & SVR_ENABLE))
        v |= LVT_MASKED;
    if (idx == LVT_TIMER && ((v >> 17) & 3) == 3)
        v &= ~(3u << 17); /* reserved mode: treat as one-shot */
    if (idx == LVT_LINT0 || idx == LVT_LINT1)
        v |= old & (1u << 14); /* remote IRR is read-only */
    l->lvt[idx] = v;
    if (idx == LVT_TIMER && timer_mode(l) != LVT_TIMER_MODE(old)) {
        /* A mode change disarms the timer (SDM 10.5.4.1). */
        timer_stop(l);
        l->timer_icr = 0;
        l->tsc_deadline = 0;
    }
}

static uint32_t reg_read(struct lapic *l, unsigned reg)
{
    switch (reg) {
    case 0x02: return l->id;
    case 0x03: return APIC_VERSION;
    case 0x08: return l->tpr;
    case 0x09: return apr(l);
    case 0x0a: return ppr(l);
    case 0x0d: return l->ldr;
    case 0x0e: return l->dfr;
    case 0x0f: return l->svr;
    case 0x28: return l->esr;
    case 0x30: return l->icr_lo;
    case 0x31: return l->icr_hi;
    case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37:
        return l->lvt[reg - 0x32];
    case 0x38: return l->timer_icr;
    case 0x39: return timer_current(l);
    case 0x3e: return l->timer_dcr;
    default:
        if (reg >= 0x10 && reg < 0x18)
            return l->isr[reg - 0x10];
        if (reg >= 0x18 && reg < 0x20)
            return l->tmr[reg - 0x18];
        if (reg >= 0x20 && reg < 0x28)
            return l->irr[reg - 0x20];
        return 0;
    }
}

static void reg_write(struct lapic *l, unsigned reg, uint32_t v)
{
    switch (reg) {
    case 0x02: l->id = v & 0xff000000u; break;
    case 0x08: l->tpr = v & 0xff; break;
    case 0x0b:
        if (l->pv_eoi_pending) { /* written, not skipped: no skip left */
            uint32_t *w = pv_eoi_word(l);
            if (w)
                __atomic_fetch_and(w, ~1u, __ATOMIC_SEQ_CST);
            l->pv_eoi_pending = false;
        }
        lapic_eoi(l);
        break;
    case 0x0d: l->ldr = v & 0xff000000u; break;
    case 0x0e: l->dfr = v | 0x0fffffffu; break;
    case 0x0f:
        l->svr = v & 0x3ff;
        if (!(v & SVR_ENABLE))
            for (int i = 0; i < NR_LVT; i++)
                l->lvt[i] |= LVT_MASKED;
        break;
    case 0x28:
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case 0x30:
        l->icr_lo = v & 0xccfffu; /* delivery status always reads idle */
        send_ipi(l);
        break;
    case 0x31: l->icr_hi = v & 0xff000000u; break;
    case 0x32: case 0x33: case 0x34: case 0x35: case 0x36: case 0x37:
        write_lvt(l, (int)reg - 0x32, v);
        break;
    case 0x38:
        if (timer_mode(l) == TIMER_TSC_DEADLINE)
            break; /* ignored in TSC-deadline mode */
        l->timer_icr = v;
        timer_start_count(l);
        break;
    case 0x3e: {
        /* Keep the count running at the new rate from its current value. */
        uint32_t cur = timer_current(l);
        l->timer_dcr = v & 0xb;
        if (l->timer_icr && cur && timer_mode(l) != TIMER_TSC_DEADLINE) {
            uint64_t now = now_ns(l);
            uint64_t done = (uint64_t)(l->timer_icr - cur) << timer_shift(l);
            l->timer_load_ns = now - done;
            timer_arm(l, now + ((uint64_t)cur << timer_shift(l)));
        }
        break;
    }
    case 0x03: case 0x09: case 0x0a: case 0x39:
        break; /* read-only */
    default:
        if (reg < 0x10 || reg >= 0x28) /* not ISR/TMR/IRR either */
            signal_error(l, ESR_ILLEGAL_REG);
        break;
    }
}

static void lapic_mmio(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                       bool is_write)
{
    struct lapic *l = dev;
    if (!hw_enabled(l)) {
        /* Globally disabled: the page is not the APIC any more. */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pv_eoi_sync(l); /* an EOI the guest skipped happened before this */
    unsigned reg = (unsigned)(offset >> 4) & 0xff, byte = offset & 15;
    if (is_write) {
        /* Registers take aligned 32-bit writes; others are dropped. */
        if (len == 4 && byte == 0)
            reg_write(l, reg, io_get(data, 4));
        else if (len == 8 && byte == 0)
            reg_write(l, reg, io_get(data, 4));
        return;
    }
    uint64_t v = byte < 4 ? reg_read(l, reg) >> (8 * byte) : 0;
    io_put(data, len, v);
}

/* ---- MSRs ---- */

static uint64_t msr_value(const uint8_t *data)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | data[i];
    return v;
}

/* IA32_APIC_BASE: base (fixed), EN (global enable), BSP (read-only). */
static void lapic_msr_base(void *dev, uint64_t offset, uint8_t *data,
                           unsigned len, bool is_write)
{
    struct lapic *l = dev;
    (void)offset;
    (void)len;
    if (!is_write) {
        io_put(data, 8, l->apicbase);
        return;
    }
    bool was = hw_enabled(l);
    /* Nobody relocates the APIC: the base stays where the board put it. */
    l->apicbase = (l->apicbase & ~APIC_BASE_EN) |
                  (msr_value(data) & APIC_BASE_EN);
    if (was && !hw_enabled(l)) {
        l->svr &= ~SVR_ENABLE;
        for (int i = 0; i < NR_LVT; i++)
            l->lvt[i] |= LVT_MASKED;
        timer_stop(l);
    }
}

/* IA32_TSC_DEADLINE: reads 0 and ignores writes unless the LVT timer is
 * in TSC-deadline mode; 0 disarms. */
static void lapic_msr_deadline(void *dev, uint64_t offset, uint8_t *data,
                               unsigned len, bool is_write)
{
    struct lapic *l = dev;
    (void)offset;
    (void)len;
    bool armed = timer_mode(l) == TIMER_TSC_DEADLINE && hw_enabled(l);
    if (!is_write)
        io_put(data, 8, armed ? l->tsc_deadline : 0);
    else if (armed)
        timer_set_deadline(l, msr_value(data));
}

/* ---- the CPU's interrupt input ---- */

static bool lapic_intr(void *ctx)
{
    struct lapic *l = ctx;
    pv_eoi_sync(l);
    if (l->nmi_pending || deliverable(l) >= 0)
        return true;
    return extint_open(l) && l->pic.intr && l->pic.intr(l->pic.ctx);
}

static int lapic_ack(void *ctx)
{
    struct lapic *l = ctx;
    pv_eoi_sync(l);
    if (l->nmi_pending) {
        l->nmi_pending = false;
        return 2;
    }
    /* An ExtINT request is answered by the PIC first (QEMU does the same:
     * ExtINT ignores the processor priority). */
    if (extint_open(l) && l->pic.intr && l->pic.intr(l->pic.ctx)) {
        l->extint_pending = false;
        return l->pic.ack(l->pic.ctx);
    }
    int v = deliverable(l);
    if (v < 0)
        return sw_enabled(l) ? (int)(l->svr & 0xff) : -1;
    bit_clr(l->irr, v);
    bit_set(l->isr, v);
    pv_eoi_offer(l, v);
    return v;
}

static bool lapic_nmi(void *ctx, bool take)
{
    struct lapic *l = ctx;
    bool p = l->nmi_pending;
    if (take)
        l->nmi_pending = false;
    return p;
}

static void lapic_set_irq(void *ctx, int irq, int level)
{
    struct lapic *l = ctx;
    if (l->pic.set_irq)
        l->pic.set_irq(l->pic.ctx, irq, level);
}

/* ---- life cycle ---- */

static void lapic_reset(void *opaque)
{
    struct lapic *l = opaque;
    timer_stop(l);
    l->apicbase = 0xfee00000u | APIC_BASE_BSP | APIC_BASE_EN;
    l->id = 0;
    l->tpr = l->ldr = 0;
    l->dfr = 0xffffffffu;
    l->svr = 0xff;
    l->esr = l->esr_pending = l->icr_lo = l->icr_hi = 0;
    for (int i = 0; i < NR_LVT; i++)
        l->lvt[i] = LVT_MASKED;
    /* LINT0 = ExtINT, unmasked: virtual wire mode, as a PC BIOS (and
     * QEMU) leaves the BSP, so the PIC works without touching the APIC. */
    l->lvt[LVT_LINT0] = DM_EXTINT << 8;
    memset(l->irr, 0, sizeof(l->irr));
    memset(l->isr, 0, sizeof(l->isr));
    memset(l->tmr, 0, sizeof(l->tmr));
    l->timer_icr = l->timer_dcr = 0;
    l->timer_load_ns = l->tsc_deadline = 0;
    l->nmi_pending = l->extint_pending = false;
    l->pv_eoi_msr = 0;
    l->pv_eoi_pending = false;
}

static void lapic_msr_pv_eoi(void *dev, uint64_t offset, uint8_t *data,
                             unsigned len, bool is_write)
{
    struct lapic *l = dev;
    (void)offset;
    (void)len;
    if (!is_write) {
        io_put(data, 8, l->pv_eoi_msr);
        return;
    }
    uint64_t v = msr_value(data);
    pv_eoi_sync(l);
    l->pv_eoi_msr_writes++;
    /* a 4-byte aligned word in RAM, else off (KVM refuses it with #GP) */
    l->pv_eoi_msr = (v & 1) && !(v & 2) && gpa_to_hva(l->m, v & ~3ull, 4)
                        ? v : 0;
    l->pv_eoi_pending = false;
}

static void lapic_stats(void *opaque, struct json *j)
{
    struct lapic *l = opaque;
    json_bool(j, "pv_eoi_enabled", l->pv_eoi_msr & 1);
    json_u64(j, "pv_eoi_msr_writes", l->pv_eoi_msr_writes);
    json_u64(j, "pv_eoi_offered", l->pv_eoi_offered);
    json_u64(j, "pv_eoi_taken", l->pv_eoi_taken);
}

static void lapic_destroy(void *opaque)
{
    struct lapic *l = opaque;
    vtimer_del(l->m, &l->timer);
    free(l);
}

struct lapic *lapic_create(struct machine *m, struct io_space *bus,
                           uint64_t base)
{
    if (base != 0xfee00000u) {
        fail("the local APIC must be at 0xfee00000");
        return NULL;
    }
    struct lapic *l = calloc(1, sizeof(*l));
    if (!l || machine_add_device(m, "lapic", l, lapic_reset,
                                 lapic_destroy) < 0) {
        free(l);
        fail("out of memory");
        return NULL;
    }
    l->m = m;
    l->now = host_now;
    vtimer_init(&l->timer, timer_expired, l);
    l->pic = m->intc;
    lapic_reset(l);
    if (io_register(bus, base, 0x1000, lapic_mmio, l, "lapic") < 0 ||
        io_register(&m->msr, MSR_APIC_BASE, 1, lapic_msr_base, l,
                    "apic-base") < 0 ||
        io_register(&m->msr, MSR_TSC_DEADLINE, 1, lapic_msr_deadline, l,
                    "tsc-deadline") < 0)
        return NULL;
    if (m->cfg.cpu_kvm && m->cfg.cpu_pv_eoi) {
        if (io_register(&m->msr, MSR_KVM_PV_EOI_EN, 1, lapic_msr_pv_eoi, l,
                        "kvm-pv-eoi") < 0)
            return NULL;
        machine_set_device_stats(m, "lapic", lapic_stats);
    }
    m->intc = (struct intc_ops){.ctx = l, .set_irq = lapic_set_irq,
                                .intr = lapic_intr, .ack = lapic_ack,
                                .nmi = lapic_nmi};
    m->msi = lapic_msi;
    m->msi_ctx = l;
    return l;
}

void lapic_set_eoi_hook(struct lapic *l, void (*fn)(void *ctx, int vector),
                        void *ctx)
{
    l->eoi_hook = fn;
    l->eoi_ctx = ctx;
}

void lapic_set_clock(struct lapic *l, uint64_t (*now)(void *ctx), void *ctx)
{
    l->now = now ? now : host_now;
    l->now_ctx = ctx;
}
