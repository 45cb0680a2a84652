/* cmos_rtc.c - the MC146818 real-time clock and its CMOS memory on ports
 * 0x70 (index; bit 7 masks NMI) and 0x71 (data).  The clock shows the host's
 * UTC time (plus whatever offset the guest sets), in BCD or binary and 12 or
 * 24 hour format as register B says; register A carries the update-in-
 * progress bit (set during the last 244 us of each second) and the periodic
 * rate; register C holds the interrupt flags (periodic, alarm, update-ended),
 * cleared on read, and IRQ 8 is raised for the enabled ones, with vtimers
 * marking the periods and seconds; register D reports valid RAM.
 *
 * The remaining bytes are NVRAM, with the memory size where firmware leaves
 * it: base memory (0x15/0x16), extended memory in KiB above 1 MiB
 * (0x17/0x18 and 0x30/0x31), memory above 16 MiB in 64 KiB units
 * (0x34/0x35) and above 4 GiB (0x5b-0x5d). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define CMOS_SIZE 128

enum {
    RTC_SEC = 0x00, RTC_SEC_ALARM = 0x01, RTC_MIN = 0x02,
    RTC_MIN_ALARM = 0x03, RTC_HOUR = 0x04, RTC_HOUR_ALARM = 0x05,
    RTC_WDAY = 0x06, RTC_MDAY = 0x07, RTC_MONTH = 0x08, RTC_YEAR = 0x09,
    RTC_REG_A = 0x0a, RTC_REG_B = 0x0b, RTC_REG_C = 0x0c, RTC_REG_D = 0x0d,
    RTC_CENTURY = 0x32,
};

#define REGA_UIP 0x80
#define REGB_SET 0x80
#define REGB_PIE 0x40
#define REGB_AIE 0x20
#define REGB_UIE 0x10
#define REGB_DM_BINARY 0x04
#define REGB_24H 0x02
#define REGC_IRQF 0x80
#define REGC_PF 0x40
#define REGC_AF 0x20
#define REGC_UF 0x10
#define REGD_VRT 0x80

#define UIP_NS 244000ull /* UIP is set this long before each update */

struct cmos {
    struct machine *m;
    struct irq_line irq;
    uint8_t index;
    bool nmi_masked;
    uint8_t ram[CMOS_SIZE];
    int64_t offset_s;       /* guest time minus host UTC time */
    uint8_t flags;          /* register C bits 4-6 not yet read */
    bool irq_level;
    int64_t last_sec;       /* guest second the flags were last updated */
    uint64_t last_period;   /* periodic interval index likewise */
    struct vtimer periodic_timer, update_timer;
};

static bool is_time_reg(unsigned r)
{
    return r <= RTC_YEAR || r == RTC_CENTURY;
}

static bool is_alarm_reg(unsigned r)
{
    return r == RTC_SEC_ALARM || r == RTC_MIN_ALARM || r == RTC_HOUR_ALARM;
}

/* Host UTC time plus the guest's offset. */
static void guest_now(const struct cmos *c, int64_t *sec, uint64_t *nsec)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = (int64_t)ts.tv_sec + c->offset_s;
    *nsec = (uint64_t)ts.tv_nsec;
}

static uint8_t rtc_encode(const struct cmos *c, int v)
{
    if (c->ram[RTC_REG_B] & REGB_DM_BINARY)
        return (uint8_t)v;
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

static int rtc_decode(const struct cmos *c, uint8_t v)
{
    if (c->ram[RTC_REG_B] & REGB_DM_BINARY)
        return v;
    return (v >> 4) * 10 + (v & 15);
}

static uint8_t rtc_encode_hour(const struct cmos *c, int h)
{
    if (c->ram[RTC_REG_B] & REGB_24H)
        return rtc_encode(c, h);
    int h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(rtc_encode(c, h12) | (h >= 12 ? 0x80 : 0));
}

static int rtc_decode_hour(const struct cmos *c, uint8_t v)
{
    if (c->ram[RTC_REG_B] & REGB_24H)
        return rtc_decode(c, v);
    int h = rtc_decode(c, v & 0x7f) % 12;
    return (v & 0x80) ? h + 12 : h;
}

/* The clock registers for guest time `sec`, in the current format. */
static uint8_t time_reg_value(const struct cmos *c, unsigned r, int64_t sec)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    switch (r) {
    case RTC_SEC: return rtc_encode(c, tm.tm_sec);
    case RTC_MIN: return rtc_encode(c, tm.tm_min);
    case RTC_HOUR: return rtc_encode_hour(c, tm.tm_hour);
    case RTC_WDAY: return rtc_encode(c, tm.tm_wday + 1);
    case RTC_MDAY: return rtc_encode(c, tm.tm_mday);
    case RTC_MONTH: return rtc_encode(c, tm.tm_mon + 1);
    case RTC_YEAR: return rtc_encode(c, year % 100);
    case RTC_CENTURY: return rtc_encode(c, year / 100);
    default: return c->ram[r]; /* alarms */
    }
}

/* Copy the running clock into the time registers (entering SET mode). */
static void snapshot_time(struct cmos *c)
{
    int64_t sec;
    uint64_t nsec;
    guest_now(c, &sec, &nsec);
    static const uint8_t regs[] = {RTC_SEC, RTC_MIN, RTC_HOUR, RTC_WDAY,
                                   RTC_MDAY, RTC_MONTH, RTC_YEAR,
                                   RTC_CENTURY};
    for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
        c->ram[regs[i]] = time_reg_value(c, regs[i], sec);
}

/* Make the clock run from the time in the registers (leaving SET mode). */
static void adopt_time(struct cmos *c)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_sec = rtc_decode(c, c->ram[RTC_SEC]);
    tm.tm_min = rtc_decode(c, c->ram[RTC_MIN]);
    tm.tm_hour = rtc_decode_hour(c, c->ram[RTC_HOUR]);
    tm.tm_mday = rtc_decode(c, c->ram[RTC_MDAY]);
    tm.tm_mon = rtc_decode(c, c->ram[RTC_MONTH]) - 1;
    int century = rtc_decode(c, c->ram[RTC_CENTURY]);
    if (century < 19 || century > 99)
        century = 20; /* guests that never set the century */
    tm.tm_year = century * 100 + rtc_decode(c, c->ram[RTC_YEAR]) - 1900;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return; /* nonsense date: keep the old time */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->offset_s = (int64_t)t - (int64_t)ts.tv_sec;
}

static bool divider_running(const struct cmos *c)
{
    unsigned dv = (c->ram[RTC_REG_A] >> 4) & 7;
    return dv != 6 && dv != 7; /* 110/111 hold the divider in reset */
}

/* Periodic interrupt interval from the rate select bits, 0 = off. */
static uint64_t periodic_ns(const struct cmos *c)
{
    unsigned rate = c->ram[RTC_REG_A] & 15;
    if (!rate || !divider_running(c))
        return 0;
    if (rate <= 2)
        rate += 7; /* 1 and 2 repeat rates 8 and 9 on a 32 kHz base */
    return ((1000000000ull << (rate - 1)) + 16384) / 32768;
}

static bool alarm_matches(const struct cmos *c, int64_t sec)
{
    static const uint8_t pairs[3][2] = {{RTC_SEC_ALARM, RTC_SEC},
                                        {RTC_MIN_ALARM, RTC_MIN},
                                        {RTC_HOUR_ALARM, RTC_HOUR}};
    for (int i = 0; i < 3; i++) {
        uint8_t a = c->ram[pairs[i][0]];
        if ((a & 0xc0) == 0xc0)
            continue; /* "don't care" */
        if (a != time_reg_value(c, pairs[i][1], sec))
            return false;
    }
    return true;
}

/* Bring register C's flags up to date with the passing of time. */
static void cmos_update_flags(struct cmos *c)
{
    if (!(c->ram[RTC_REG_B] & REGB_SET)) {
        int64_t sec;
        uint64_t nsec;
        guest_now(c, &sec, &nsec);
        if (sec != c->last_sec) {
            c->flags |= REGC_UF;
            if (alarm_matches(c, sec))
                c->flags |= REGC_AF;
            c->last_sec = sec;
        }
    }
    uint64_t period = periodic_ns(c);
    if (period) {
        uint64_t idx = clock_ns() / period;
        if (idx != c->last_period)
            c->flags |= REGC_PF;
        c->last_period = idx;
    }
}

static void cmos_update_irq(struct cmos *c)
{
    bool level = c->flags & c->ram[RTC_REG_B] & (REGB_PIE | REGB_AIE |
                                                 REGB_UIE);
    if (level != c->irq_level) {
        c->irq_level = level;
        irq_set(c->irq, level);
    }
}

static void cmos_rearm(struct cmos *c)
{
    uint8_t b = c->ram[RTC_REG_B];
    uint64_t now = clock_ns(), period = periodic_ns(c);
    if ((b & REGB_PIE) && period)
        vtimer_mod(c->m, &c->periodic_timer, (now / period + 1) * period);
    else
        vtimer_del(c->m, &c->periodic_timer);
    if ((b & (REGB_UIE | REGB_AIE)) && !(b & REGB_SET)) {
        int64_t sec;
        uint64_t nsec;
        guest_now(c, &sec, &nsec);
        vtimer_mod(c->m, &c->update_timer, now + (1000000000ull - nsec));
    } else {
        vtimer_del(c->m, &c->update_timer);
    }
}

static void cmos_timer_fire(void *opaque)
{
    struct cmos *c = opaque;
    cmos_update_flags(c);
    cmos_update_irq(c);
    cmos_rearm(c);
}

static uint8_t cmos_read(struct cmos *c, unsigned r)
{
    uint8_t v;
    if (is_time_reg(r) && !is_alarm_reg(r) &&
        !(c->ram[RTC_REG_B] & REGB_SET)) {
        int64_t sec;
        uint64_t nsec;
        guest_now(c, &sec, &nsec);
        return time_reg_value(c, r, sec);
    }
    switch (r) {
    case RTC_REG_A: {
        int64_t sec;
        uint64_t nsec;
        guest_now(c, &sec, &nsec);
        v = c->ram[RTC_REG_A] & 0x7f;
        if (!(c->ram[RTC_REG_B] & REGB_SET) && divider_running(c) &&
            nsec >= 1000000000ull - UIP_NS)
            v |= REGA_UIP;
        return v;
    }
    case RTC_REG_C:
        cmos_update_flags(c);
        v = c->flags;
        if (v & c->ram[RTC_REG_B] & (REGB_PIE | REGB_AIE | REGB_UIE))
            v |= REGC_IRQF;
        c->flags = 0;
        cmos_update_irq(c);
        return v;
    case RTC_REG_D:
        return REGD_VRT;
    default:
        return c->ram[r];
    }
}

static void cmos_write(struct cmos *c, unsigned r, uint8_t v)
{
    switch (r) {
    case RTC_REG_A: {
        c->ram[RTC_REG_A] = v & 0x7f;
        /* A new rate counts its periods from now. */
        uint64_t period = periodic_ns(c);
        if (period)
            c->last_period = clock_ns() / period;
        break;
    }
    case RTC_REG_B: {
        uint8_t old = c->ram[RTC_REG_B];
        if (v & REGB_SET)
            v &= (uint8_t)~REGB_UIE; /* SET clears UIE */
        if ((v & REGB_SET) && !(old & REGB_SET))
            snapshot_time(c); /* freeze the clock for setting */
        c->ram[RTC_REG_B] = v;
        if (!(v & REGB_SET) && (old & REGB_SET)) {
            adopt_time(c);
            int64_t sec;
            uint64_t nsec;
            guest_now(c, &sec, &nsec);
            c->last_sec = sec;
        }
        break;
    }
    case RTC_REG_C:
    case RTC_REG_D:
        break; /* read-only */
    default:
        if (is_time_reg(r) && !is_alarm_reg(r) &&
            !(c->ram[RTC_REG_B] & REGB_SET)) {
            /* Setting one field of the running clock. */
            snapshot_time(c);
            c->ram[r] = v;
            adopt_time(c);
        } else {
            c->ram[r] = v;
        }
        break;
    }
    cmos_update_flags(c);
    cmos_update_irq(c);
    cmos_rearm(c);
}

static void cmos_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                    bool is_write)
{
    struct cmos *c = dev;
    for (unsigned i = 0; i < len; i++) {
        if (((offset + i) & 1) == 0) {
            if (is_write) {
                c->index = data[i] & 0x7f;
                c->nmi_masked = data[i] & 0x80;
            } else {
                data[i] = 0xff; /* the index register is write-only */
            }
        } else if (is_write) {
            cmos_write(c, c->index, data[i]);
        } else {
            data[i] = cmos_read(c, c->index);
        }
    }
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* The memory size bytes firmware leaves in NVRAM, and its checksum. */
static void cmos_set_memory(struct cmos *c, uint64_t ram)
{
    const uint64_t mib = 1ull << 20, gib4 = 1ull << 32;
    put16(&c->ram[0x15], 640);
    uint64_t ext = ram > mib ? (ram - mib) >> 10 : 0;
    if (ext > 0xffff)
        ext = 0xffff;
    put16(&c->ram[0x17], (unsigned)ext);
    put16(&c->ram[0x30], (unsigned)ext);
    uint64_t low = ram < gib4 ? ram : gib4;
    uint64_t above16 = low > 16 * mib ? (low - 16 * mib) >> 16 : 0;
    if (above16 > 0xffff)
        above16 = 0xffff;
    put16(&c->ram[0x34], (unsigned)above16);
    uint64_t above4g = ram > gib4 ? (ram - gib4) >> 16 : 0;
    c->ram[0x5b] = (uint8_t)above4g;
    c->ram[0x5c] = (uint8_t)(above4g >> 8);
    c->ram[0x5d] = (uint8_t)(above4g >> 16);
    unsigned sum = 0;
    for (unsigned i = 0x10; i <= 0x2d; i++)
        sum += c->ram[i];
    c->ram[0x2e] = (uint8_t)(sum >> 8);
    c->ram[0x2f] = (uint8_t)sum;
}

int cmos_create(struct machine *m, struct io_space *bus, uint16_t base,
                struct irq_line irq)
{
    if (machine_find_device(m, "mc146818"))
        return fail("the CMOS/RTC already exists on this machine");
    struct cmos *c = calloc(1, sizeof(*c));
    if (!c || machine_add_device(m, "mc146818", c, NULL, NULL) < 0) {
        free(c);
        return fail("out of memory");
    }
    c->m = m;
    c->irq = irq;
    c->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
    c->ram[RTC_REG_B] = REGB_24H; /* BCD, 24 hour */
    vtimer_init(&c->periodic_timer, cmos_timer_fire, c);
    vtimer_init(&c->update_timer, cmos_timer_fire, c);
    int64_t sec;
    uint64_t nsec;
    guest_now(c, &sec, &nsec);
    c->last_sec = sec;
    c->last_period = clock_ns() / periodic_ns(c);
    cmos_set_memory(c, m->ram_size);
    return io_register(bus, base, 2, cmos_io, c, "cmos");
}
