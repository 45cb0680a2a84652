/* triple_fault.c - an exception with an empty IDT: #UD cannot be delivered
 * (#GP), nor can the #GP (#DF), nor the #DF: the CPU shuts down and popek
 * must exit with status 4.  (QEMU with -no-reboot exits with 0 instead.)
 * expect-status: 4 */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    struct __attribute__((packed)) { uint16_t limit; uint32_t base; } empty = {0, 0};
    kit_printf("loading an empty IDT and raising #UD\n");
    __asm__ volatile("lidt %0; ud2" :: "m"(empty));
    kit_printf("still running after a triple fault\n");
    kit_fail();
}
