/* test_acpi_hpet.c - unit tests of the ACPI PM device (src/devices/
 * acpi_pm.c), the HPET (hpet.c) and the reset register at 0xcf9
 * (pci_host.c) on a bare machine core whose interrupt controller only
 * records line levels and rising edges: the PM timer's count against the
 * host clock, SCI_EN, S5 power-off (and other sleep types ignored), PM1
 * status/enable and the SCI level, the TMR_EN overflow timer, GPE0; the
 * HPET's capabilities, main counter halt/run/write, one-shot, periodic
 * (late run loop: one interrupt, comparator stays on the period grid),
 * level mode with GINTR_STA, legacy replacement routes, 32-bit mode and its
 * wrap, refused routes, no timer for a comparator centuries away; 0xcf9. */
#include <time.h>

#include "bare_machine.h"
#include "core/machine.h"
#include "core/util.h"
#include "devices/devices.h"
#include "test.h"

/* ---- a bare machine with a recording interrupt controller ---- */

static int levels[32], edges[32];

static void rec_set_irq(void *ctx, int irq, int level)
{
    (void)ctx;
    if (irq < 0 || irq >= 32)
        return;
    if (level && !levels[irq])
        edges[irq]++;
    levels[irq] = level;
}

static struct machine *new_machine(void)
{
    struct machine *m = bare_machine_new(0);
    m->intc = (struct intc_ops){.set_irq = rec_set_irq};
    memset(levels, 0, sizeof(levels));
    memset(edges, 0, sizeof(edges));
    return m;
}

#define HPET 0xfed00000ull
static uint64_t hr(struct machine *m, uint64_t off)
{
    uint8_t d[8] = {0};
    io_access(&m->mmio, HPET + off, d, 8, false);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | d[i];
    return v;
}
static void hw(struct machine *m, uint64_t off, uint64_t v)
{
    uint8_t d[8];
    for (int i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    io_access(&m->mmio, HPET + off, d, 8, true);
}
static void hw32(struct machine *m, uint64_t off, uint32_t v)
{
    uint8_t d[4];
    io_put(d, 4, v);
    io_access(&m->mmio, HPET + off, d, 4, true);
}
static uint32_t hr32(struct machine *m, uint64_t off)
{
    uint8_t d[4] = {0};
    io_access(&m->mmio, HPET + off, d, 4, false);
    return io_get(d, 4);
}

static struct machine *pm_machine(void)
{
    struct machine *m = new_machine();
    CHECK(acpi_pm_create(m, &m->pio, 0x600, 0xafe0,
                         (struct irq_line){.m = m, .irq = 9}) == 0);
    return m;
}

/* ---- ACPI PM ---- */

static void test_pm_timer(void)
{
    struct machine *m = pm_machine();
    uint64_t t0 = clock_ns();
    uint32_t a = inl(m, 0x608);
    uint64_t t1 = clock_ns();
    sleep_us(20000);
    uint64_t t2 = clock_ns();
    uint32_t b = inl(m, 0x608);
    uint64_t t3 = clock_ns();
    uint64_t ticks = (uint32_t)(b - a);
    /* At 3.579545 MHz: at least the ticks of t2-t1, at most those of t3-t0
     * (plus rounding). */
    CHECKF(ticks + 1 >= (t2 - t1) * 3579545ull / 1000000000ull,
           "%llu ticks in %llu ns", (unsigned long long)ticks,
           (unsigned long long)(t2 - t1));
    CHECKF(ticks <= (t3 - t0) * 3579545ull / 1000000000ull + 1,
           "%llu ticks in at most %llu ns", (unsigned long long)ticks,
           (unsigned long long)(t3 - t0));
    CHECK(inw(m, 0x604) & 1);            /* SCI_EN */
    machine_destroy(m);
}

static void test_pm_sleep_states(void)
{
    struct machine *m = pm_machine();
    outw(m, 0x604, (5u << 10) | (1u << 13));   /* no such sleep type */
    CHECK(!m->stop);
    CHECK(!(inw(m, 0x604) & (1u << 13)));       /* SLP_EN reads 0 */
    CHECK(((inw(m, 0x604) >> 10) & 7) == 5);    /* SLP_TYP reads back */
    outw(m, 0x604, (0u << 10));                 /* type without SLP_EN */
    CHECK(!m->stop);
    outw(m, 0x604, (0u << 10) | (1u << 13));    /* S5 */
    CHECK(m->stop && m->status == ST_GUEST_RESET);
    CHECK(strstr(m->reason, "ACPI S5") != NULL);
    machine_destroy(m);
}

static void test_pm_sci(void)
{
    struct machine *m = pm_machine();
    acpi_pm_power_button(m);
    CHECK(inw(m, 0x600) & (1u << 8));           /* PWRBTN_STS */
    CHECK(!levels[9]);                          /* not enabled: no SCI */
    outw(m, 0x602, 1u << 8);                    /* PWRBTN_EN */
    CHECK(inw(m, 0x602) == (1u << 8));
    CHECK(levels[9]);                           /* SCI asserted (level) */
    outw(m, 0x600, 1u << 8);                    /* write 1 to clear */
    CHECK(!(inw(m, 0x600) & (1u << 8)));
    CHECK(!levels[9]);
    /* GPE0: enable bits read back, status is write-1-to-clear only. */
    outw(m, 0xafe2, 0x0005);
    CHECK(inw(m, 0xafe2) == 0x0005 && inw(m, 0xafe0) == 0);
    CHECK(!levels[9]);
    /* TMR_EN arms a timer for the next flip of bit 31 (< 10 minutes). */
    CHECK(earliest_deadline(m) == 0);
    outw(m, 0x602, 1u << 0);
    uint64_t d = earliest_deadline(m), now = clock_ns();
    CHECK(d > now && d - now <= 600ull * 1000000000ull + 1000000000ull);
    outw(m, 0x602, 0);
    CHECK(earliest_deadline(m) == 0);
    machine_destroy(m);
}

/* ---- HPET ---- */

static struct machine *hpet_machine(void)
{
    struct machine *m = new_machine();
    CHECK(hpet_create(m, &m->mmio, HPET) == 0);
    return m;
}

static void test_hpet_counter(void)
{
    struct machine *m = hpet_machine();
    uint64_t cap = hr(m, 0);
    CHECK((cap >> 32) == 10000000ull);          /* 10 ns */
    CHECK(((cap >> 8) & 0x1f) == 2 && (cap & (1u << 13)) && (cap & (1u << 15)));
    CHECK(hr(m, 0x10) == 0);
    uint64_t c0 = hr(m, 0xf0);
    sleep_us(1000);
    CHECK(hr(m, 0xf0) == c0);                   /* halted */
    hw(m, 0xf0, 0x100000000ull);
    CHECK(hr(m, 0xf0) == 0x100000000ull);
    uint64_t t0 = clock_ns();
    hw(m, 0x10, 1);
    sleep_us(2000);
    uint64_t c1 = hr(m, 0xf0), t1 = clock_ns();
    CHECK(c1 >= 0x100000000ull + 200000 - 1);   /* >= 2 ms of 100 MHz */
    CHECK(c1 <= 0x100000000ull + (t1 - t0) / 10 + 1);
    hw(m, 0x10, 0);
    uint64_t c2 = hr(m, 0xf0);
    sleep_us(1000);
    CHECK(hr(m, 0xf0) == c2);                   /* halted again */
    /* A comparator centuries away arms nothing. */
    hw(m, 0x108, ~0ull);
    hw(m, 0x100, 1u << 2);
    hw(m, 0x10, 1);
    CHECK(earliest_deadline(m) == 0);
    machine_destroy(m);
}

static void test_hpet_oneshot_and_legacy(void)
{
    struct machine *m = hpet_machine();
    hw(m, 0x10, 3);                             /* enable, legacy route */
    uint64_t now = hr(m, 0xf0);
    hw(m, 0x100, 1u << 2);                      /* timer 0: edge, enabled */
    hw(m, 0x108, now + 1000);                   /* 10 us */
    hw(m, 0x120, 1u << 2);                      /* timer 1 */
    hw(m, 0x128, now + 2000);
    sleep_us(2000);
    fire_timers(m);
    CHECK(edges[0] == 1 && !levels[0]);         /* timer 0 -> IRQ 0 */
    CHECK(edges[8] == 1 && !levels[8]);         /* timer 1 -> IRQ 8 */
    CHECK(earliest_deadline(m) == 0);           /* one-shot, 64-bit */
    CHECK((hr(m, 0x20) & 3) == 0);              /* edge: no status */
    /* Without legacy replacement timer 0 goes where its route says: pin
     * 2 is ISA IRQ 0's line on this PC. */
    hw(m, 0x10, 1);
    hw(m, 0x100, (1u << 2) | (2u << 9));
    CHECK(((hr(m, 0x100) >> 9) & 0x1f) == 2);
    hw(m, 0x100, (1u << 2) | (1u << 9));        /* pin 1: not in the cap */
    CHECK(((hr(m, 0x100) >> 9) & 0x1f) == 2);
    CHECK((hr(m, 0x100) >> 32) == 0x00fffffcu);
    hw(m, 0x108, hr(m, 0xf0) + 1000);
    sleep_us(1000);
    fire_timers(m);
    CHECK(edges[0] == 2);
    machine_destroy(m);
}

static void test_hpet_periodic(void)
{
    struct machine *m = hpet_machine();
    hw(m, 0x10, 1);
    uint64_t start = hr(m, 0xf0) + 100000, period = 100000;  /* 1 ms */
    hw(m, 0x100, (1u << 2) | (1u << 3) | (1u << 6) | (20u << 9));
    hw(m, 0x108, start);                        /* with VAL_SET */
    hw(m, 0x108, period);                       /* the period */
    CHECK(hr(m, 0x108) == start);
    CHECK(!(hr(m, 0x100) & (1u << 6)));         /* VAL_SET self-clears */
    sleep_us(5500);
    fire_timers(m);
    uint64_t cnt = hr(m, 0xf0), cmp = hr(m, 0x108);
    CHECK(edges[20] == 1);                      /* late: one interrupt */
    CHECK(cmp > cnt - 1 && cmp - start >= period && (cmp - start) % period == 0);
    CHECK(earliest_deadline(m) != 0);           /* and it goes on */
    hw(m, 0x100, 0);
    machine_destroy(m);
}

static void test_hpet_level_and_32bit(void)
{
    struct machine *m = hpet_machine();
    /* Halted counter just below a 32-bit wrap, comparator just above. */
    hw(m, 0xf0, 0xffffff00ull);
    hw(m, 0x140, (1u << 8) | (1u << 1) | (1u << 2) | (21u << 9));
    hw32(m, 0x148, 0x100);
    hw32(m, 0x14c, 0xffffffffu);
    CHECK(hr32(m, 0x14c) == 0);                 /* 32-bit: high half 0 */
    hw(m, 0x10, 1);
    uint64_t d = earliest_deadline(m), now = clock_ns();
    CHECK(d && d - now < 1000000);              /* 0x200 ticks: ~5 us */
    sleep_us(1000);
    fire_timers(m);
    CHECK(levels[21] && edges[21] == 1);        /* level, held */
    CHECK(hr(m, 0x20) & 4);
    fire_timers(m);
    CHECK(edges[21] == 1);
    hw(m, 0x20, 4);                             /* clear status */
    CHECK(!levels[21] && !(hr(m, 0x20) & 4));
    /* A 32-bit one-shot matches again a wrap later (~43 s). */
    d = earliest_deadline(m);
    now = clock_ns();
    CHECK(d > now + 40ull * 1000000000ull && d < now + 44ull * 1000000000ull);
    machine_destroy(m);
}

/* ---- 0xcf9 ---- */

static void test_reset_cf9(void)
{
    struct machine *m = new_machine();
    CHECK(pci_host_create(m, &m->pio) == 0);
    outb(m, 0xcf9, 0x02);
    CHECK(!m->stop && inb(m, 0xcf9) == 0x02);
    uint8_t d[4];
    io_put(d, 4, 0x80000000u);
    io_access(&m->pio, 0xcf8, d, 4, true);
    CHECK(inl(m, 0xcf8) == 0x80000000u);        /* dword 0xcf8 unaffected */
    outb(m, 0xcf9, 0x06);
    CHECK(m->stop && m->status == ST_GUEST_RESET &&
          strstr(m->reason, "0xcf9") != NULL);
    machine_destroy(m);
}

int main(void)
{
    RUN(test_pm_timer);
    RUN(test_pm_sleep_states);
    RUN(test_pm_sci);
    RUN(test_hpet_counter);
    RUN(test_hpet_oneshot_and_legacy);
    RUN(test_hpet_periodic);
    RUN(test_hpet_level_and_32bit);
    RUN(test_reset_cf9);
    TEST_MAIN_END();
}
