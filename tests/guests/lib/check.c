/* check.c - the guest's verdict: CHECK bookkeeping ("ok - ..." /
 * "not ok - ..." lines) and exiting through isa-debug-exit. */
#include "kit.h"

unsigned kit_checks, kit_failures;

void kit_exit(uint8_t v)
{
    outb(KIT_DEBUG_EXIT_PORT, v);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void kit_pass(void)
{
    kit_exit(0);
}

void kit_fail(void)
{
    kit_exit(1);
}

void kit_done(void)
{
    kit_printf("# %u checks, %u failed\n", kit_checks, kit_failures);
    if (kit_failures)
        kit_fail();
    kit_pass();
}

void kit_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kit_puts("# panic: ");
    kit_vprintf(fmt, ap);
    kit_putc('\n');
    va_end(ap);
    kit_fail();
}

static bool report(bool ok, const char *fmt, va_list ap)
{
    kit_checks++;
    if (!ok)
        kit_failures++;
    kit_puts(ok ? "ok - " : "not ok - ");
    kit_vprintf(fmt, ap);
    kit_putc('\n');
    return ok;
}

bool kit_check(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(ok, fmt, ap);
    va_end(ap);
    return ok;
}

bool kit_check_eq(uint64_t got, uint64_t want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = report(got == want, fmt, ap);
    va_end(ap);
    if (!ok)
        kit_printf("#   got %#llx, want %#llx\n", (unsigned long long)got,
                   (unsigned long long)want);
    return ok;
}
