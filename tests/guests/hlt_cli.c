/* hlt_cli.c - hlt with interrupts disabled can never wake: popek must stop
 * with status 6 instead of hanging.  (QEMU just hangs.)
 * expect-status: 6 */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_printf("cli; hlt\n");
    __asm__ volatile("cli; hlt");
    kit_printf("woke up from hlt with interrupts disabled\n");
    kit_fail();
}
