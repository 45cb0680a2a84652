/* acpi_pm.c - the ACPI fixed hardware of popek's PC, PIIX4-style as in
 * QEMU, at the ports the FADT names (src/firmware/acpi.c):
 *   base+0  PM1a_STS (16-bit, write 1 to clear): TMR_STS (bit 0, the PM
 *           timer's bit 31 changed), PWRBTN_STS (8), WAK_STS (15);
 *   base+2  PM1a_EN: TMR_EN (0), GBL_EN (5), PWRBTN_EN (8), RTC_EN (10);
 *   base+4  PM1a_CNT (16-bit): SCI_EN (bit 0) reads 1 (there is no SMI
 *           and no legacy mode: SMI_CMD is 0), SLP_TYP (bits 10-12) and
 *           SLP_EN (bit 13, write-only): SLP_EN with the \_S5 SLP_TYP powers
 *           the machine off (status 0, "guest powered off (ACPI S5)");
 *           other sleep types are not offered by the DSDT and are ignored;
 *   base+8  PM_TMR: 32-bit counter at 3.579545 MHz of the host monotonic
 *           clock (the same clock as the guest TSC, the PIT, the HPET and
 *           the RTC, so they all agree);
 *   gpe0    GPE0_STS (2 bytes, write 1 to clear) and GPE0_EN (2 bytes).
 * The SCI (a level, active-high line: IRQ 9) is asserted while an enabled
 * status bit is set.  The timer's overflow status is computed lazily from
 * the clock; with TMR_EN set, a vtimer raises the SCI at the next overflow. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "../firmware/firmware.h"
#include "devices.h"

#define PM_TMR_HZ 3579545ull
#define NS_PER_S 1000000000ull

#define PM1_TMR (1u << 0)
#define PM1_GBL (1u << 5)
#define PM1_PWRBTN (1u << 8)
#define PM1_RTC (1u << 10)
#define PM1_WAK (1u << 15)
#define PM1_STS_MASK (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_RTC | PM1_WAK)
#define PM1_EN_MASK (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_RTC)
#define CNT_SCI_EN (1u << 0)
#define CNT_SLP_TYP_SHIFT 10
#define CNT_SLP_TYP_MASK (7u << CNT_SLP_TYP_SHIFT)
#define CNT_SLP_EN (1u << 13)
#define CNT_WRITABLE (0x0006u | CNT_SLP_TYP_MASK) /* BM_RLD, GBL_RLS, typ */

struct acpi_pm {
    struct machine *m;
    struct irq_line sci;
    uint64_t start_ns;      /* PM timer value 0 */
    uint16_t sts, en, cnt;
    uint16_t gpe_sts, gpe_en;
    uint64_t tmr_epoch;     /* (ticks >> 31) when TMR_STS was last brought up to date */
    struct vtimer overflow;
};

static uint64_t pm_ticks(const struct acpi_pm *p, uint64_t now)
{
    uint64_t ns = now > p->start_ns ? now - p->start_ns : 0;
    return (ns / NS_PER_S) * PM_TMR_HZ + (ns % NS_PER_S) * PM_TMR_HZ / NS_PER_S;
}

/* Host time at which `ticks` have elapsed (rounded up). */
static uint64_t pm_ticks_to_ns(const struct acpi_pm *p, uint64_t ticks)
{
    return p->start_ns + (ticks / PM_TMR_HZ) * NS_PER_S +
           ((ticks % PM_TMR_HZ) * NS_PER_S + PM_TMR_HZ - 1) / PM_TMR_HZ;
}

/* TMR_STS: set whenever bit 31 of the counter has changed since the last
 * time we looked. */
static void pm_update_tmr(struct acpi_pm *p, uint64_t now)
{
    uint64_t epoch = pm_ticks(p, now) >> 31;
    if (epoch != p->tmr_epoch) {
        p->sts |= PM1_TMR;
        p->tmr_epoch = epoch;
    }
}

static void pm_update(struct acpi_pm *p)
{
    uint64_t now = clock_ns();
    pm_update_tmr(p, now);
    bool level = (p->sts & p->en & PM1_EN_MASK) || (p->gpe_sts & p->gpe_en);
    irq_set(p->sci, level);
    if (p->en & PM1_TMR)
        vtimer_mod(p->m, &p->overflow,
                   pm_ticks_to_ns(p, (p->tmr_epoch + 1) << 31));
    else
        vtimer_del(p->m, &p->overflow);
}

static void pm_overflow(void *opaque)
{
    pm_update(opaque);
}

static void pm_power_off(struct acpi_pm *p)
{
    machine_request_stop(p->m, ST_GUEST_RESET, "guest powered off (ACPI S5)");
}

static void pm_write_cnt(struct acpi_pm *p, uint16_t v)
{
    p->cnt = (uint16_t)((p->cnt & ~CNT_WRITABLE) | (v & CNT_WRITABLE));
    if ((v & CNT_SLP_EN) &&
        ((v & CNT_SLP_TYP_MASK) >> CNT_SLP_TYP_SHIFT) == FW_S5_SLP_TYP)
        pm_power_off(p);
}

/* Registers as a flat byte array: offset -> (register, byte index). */
static void pm_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                  bool is_write)
{
    struct acpi_pm *p = dev;
    uint64_t now = clock_ns();
    if (!is_write) {
        pm_update_tmr(p, now);
        uint32_t tmr = (uint32_t)pm_ticks(p, now);
        uint8_t regs[12];
        io_put(regs, 2, p->sts);
        io_put(regs + 2, 2, p->en);
        io_put(regs + 4, 2, p->cnt | CNT_SCI_EN);
        io_put(regs + 6, 2, 0);
        io_put(regs + 8, 4, tmr);
        for (unsigned i = 0; i < len; i++)
            data[i] = offset + i < sizeof(regs) ? regs[offset + i] : 0xff;
        return;
    }
    /* Writes: per register, with the bytes that fall in it. */
    uint16_t sts_clear = 0, en = p->en, cnt = 0;
    bool cnt_written = false, en_written = false;
    for (unsigned i = 0; i < len; i++) {
        uint64_t at = offset + i;
        unsigned shift = (unsigned)(at & 1) * 8;
        if (at < 2) {
            sts_clear |= (uint16_t)(data[i] << shift);
        } else if (at < 4) {
            en = (uint16_t)((en & ~(0xffu << shift)) | (data[i] << shift));
            en_written = true;
        } else if (at < 6) {
            if (!cnt_written)
                cnt = p->cnt;
            cnt = (uint16_t)((cnt & ~(0xffu << shift)) | (data[i] << shift));
            cnt_written = true;
        }
    }
    pm_update_tmr(p, now);
    p->sts &= (uint16_t)~(sts_clear & PM1_STS_MASK);
    if (en_written)
        p->en = en & PM1_EN_MASK;
    if (cnt_written)
        pm_write_cnt(p, cnt);
    pm_update(p);
}

static void gpe_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                   bool is_write)
{
    struct acpi_pm *p = dev;
    for (unsigned i = 0; i < len; i++) {
        uint64_t at = offset + i;
        unsigned shift = (unsigned)(at & 1) * 8;
        uint16_t *reg = at < 2 ? &p->gpe_sts : &p->gpe_en;
        if (!is_write) {
            data[i] = at < 4 ? (uint8_t)(*reg >> shift) : 0xff;
        } else if (at < 2) {
            p->gpe_sts &= (uint16_t)~(data[i] << shift);
        } else if (at < 4) {
            p->gpe_en = (uint16_t)((p->gpe_en & ~(0xffu << shift)) |
                                   (data[i] << shift));
        }
    }
    if (is_write)
        pm_update(p);
}

static void pm_reset(void *opaque)
{
    struct acpi_pm *p = opaque;
    p->sts = p->en = p->cnt = 0;
    p->gpe_sts = p->gpe_en = 0;
    p->tmr_epoch = pm_ticks(p, clock_ns()) >> 31;
    vtimer_del(p->m, &p->overflow);
    irq_set(p->sci, 0);
}

/* The machine is going away and fires no more timers: the list may hold
 * timers of devices destroyed before us, so it is not walked here. */
static void pm_destroy(void *opaque)
{
    free(opaque);
}

int acpi_pm_create(struct machine *m, struct io_space *bus, uint16_t base,
                   uint16_t gpe0, struct irq_line sci)
{
    if (machine_find_device(m, "acpi-pm"))
        return fail("the ACPI PM device already exists");
    struct acpi_pm *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "acpi-pm", p, pm_reset, pm_destroy) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->m = m;
    p->sci = sci;
    p->start_ns = clock_ns();
    vtimer_init(&p->overflow, pm_overflow, p);
    if (io_register(bus, base, 12, pm_io, p, "acpi-pm") < 0)
        return -1;
    return io_register(bus, gpe0, 4, gpe_io, p, "acpi-gpe0");
}

/* The power button: PWRBTN_STS, and the SCI if the OS enabled it. */
void acpi_pm_power_button(struct machine *m)
{
    struct acpi_pm *p = machine_find_device(m, "acpi-pm");
    if (!p)
        return;
    p->sts |= PM1_PWRBTN;
    pm_update(p);
}
