/* unclaimed_port.c - reads from I/O ports no device claims float high on a
 * PC: 0xff, 0xffff and 0xffffffff for byte, word and dword reads; writes
 * there are ignored.  Port 0x2f8 is COM2, which neither popek nor a QEMU
 * with one serial port has. */
#include "kit.h"

#define NOBODY 0x2f8

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    CHECK_EQ(inb(NOBODY), 0xff, "inb from an unclaimed port reads 0xff");
    CHECK_EQ(inw(NOBODY), 0xffff, "inw from an unclaimed port reads 0xffff");
    CHECK_EQ(inl(NOBODY), 0xffffffffu, "inl from an unclaimed port reads 0xffffffff");
    CHECK_EQ(inb(NOBODY + 7), 0xff, "inb from another unclaimed port reads 0xff");
    outb(NOBODY + 7, 0x5a);
    outl(NOBODY, 0x12345678);
    CHECK_EQ(inb(NOBODY + 7), 0xff, "a write to an unclaimed port is ignored");
    /* A claimed port for contrast: COM1's scratch register keeps a value. */
    outb(KIT_COM1 + 7, 0x5a);
    CHECK_EQ(inb(KIT_COM1 + 7), 0x5a, "COM1 scratch register reads back what was written");
    return 0;
}
