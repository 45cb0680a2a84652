/* cmos.c - the MC146818 RTC: the time is readable with every field in its
 * valid range, the status registers look sane, the seconds advance, and
 * one RTC second lasts about one second of PIT channel 2 time (17-23
 * periods of 50 ms, best of four tries).  Takes two to six seconds. */
#include "kit.h"

#define MS_50 59659

/* Poll the seconds register until it changes, at most max*50 ms; returns
 * the 50 ms periods waited or -1. */
static int wait_second_edge(int max)
{
    uint8_t s0 = kit_cmos_read(0x00);
    for (int i = 0; i < max; i++) {
        kit_pit2_start(MS_50);
        while (!kit_pit2_done())
            if (kit_cmos_read(0x00) != s0)
                return i;
        if (kit_cmos_read(0x00) != s0)
            return i + 1;
    }
    return -1;
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    struct kit_rtc t;
    kit_rtc_read(&t);
    CHECK(t.sec < 60, "seconds in 0-59");
    CHECK(t.min < 60, "minutes in 0-59");
    CHECK(t.hour < 24, "hours in 0-23");
    CHECK(t.day >= 1 && t.day <= 31, "day of month in 1-31");
    CHECK(t.mon >= 1 && t.mon <= 12, "month in 1-12");
    CHECK(t.year >= 2020 && t.year < 2100, "year in 2020-2099");
    uint8_t b = kit_cmos_read(0x0b);
    CHECK(!(b & 0x80), "register B: updates not halted (SET clear)");
    CHECK(kit_cmos_read(0x0d) & 0x80, "register D: valid RAM and time (VRT)");
    CHECK_EQ(kit_cmos_read(0x0a) & 0x70, 0x20, "register A: 32.768 kHz time base");

    /* CMOS RAM keeps what is written to a free byte. */
    uint8_t old = kit_cmos_read(0x40);
    kit_cmos_write(0x40, 0xa5);
    CHECK_EQ(kit_cmos_read(0x40), 0xa5, "CMOS RAM byte 0x40 reads back");
    kit_cmos_write(0x40, old);

    CHECK(wait_second_edge(30) >= 0, "the seconds register advances within 1.5 s");
    /* Each 50 ms one-shot is re-armed by the guest, so a vCPU descheduled
     * by a loaded host stretches the periods (fewer fit in a second): try
     * a few seconds and accept the first that measures right. */
    int n = -1;
    for (int try = 0; try < 4 && !(n >= 17 && n <= 23); try++)
        n = wait_second_edge(30);
    if (!CHECK(n >= 17 && n <= 23, "one RTC second is about one second of PIT time"))
        kit_printf("#   %d periods of 50 ms\n", n);
    struct kit_rtc u;
    kit_rtc_read(&u);
    unsigned s1 = t.hour * 3600 + t.min * 60 + t.sec;
    unsigned s2 = u.hour * 3600 + u.min * 60 + u.sec;
    unsigned d = (s2 + 86400 - s1) % 86400;
    CHECK(d >= 1 && d <= 8, "the time read again moved forward 1-8 seconds");
    return 0;
}
