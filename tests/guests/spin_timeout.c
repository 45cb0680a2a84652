/* spin_timeout.c - a guest that never ends by itself: it prints one line
 * and spins (with interrupts off, so no timer can end it either).  popek
 * must stop it at --timeout with status 12 on every engine.  The CLI tests
 * (tests/run_cli.sh) use it as the guest to stop with signals and to look
 * at /proc/PID/status while it runs.
 * expect-status: 12
 * popek-args: --timeout 0.5 */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_printf("spinning until popek stops me\n");
    __asm__ volatile("cli");
    for (volatile unsigned i = 0;; i++)
        ;
    kit_fail();
}
