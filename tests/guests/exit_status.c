/* exit_status.c - isa-debug-exit passes the guest's value through: writing
 * 42 to port 0xf4 must make popek exit with (42 << 1) | 1 = 85.
 * expect-status: 85 */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_printf("exiting with 42\n");
    kit_exit(42);
}
