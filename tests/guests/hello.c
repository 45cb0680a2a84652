/* hello.c - the smallest guest: prints through the kit's COM1 console and
 * passes.  Checks serial output and isa-debug-exit on every engine. */
#include "kit.h"

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    kit_printf("Hello from popek guest!\n");
    kit_printf("# printf: %d %u %x %08x %s %c %p %5d|%-4d|\n", -42, 42u,
               0xbeefu, 0x12abu, "str", 'c', (void *)0x1000, 7, 3);
    return 0;
}
