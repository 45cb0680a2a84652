/* cga.c - the CGA/VGA colour text mode as xv6's console and memtest86+
 * use it: the text buffer at 0xb8000 is blank (' ' on attribute 7) and
 * keeps what is written (the last cell of the 32 KiB too), the CRTC cursor
 * location registers 0x0e/0x0f behind 0x3d4/0x3d5 read back (xv6 reads the
 * cursor position before each character), a word write to 0x3d4 sets index
 * and data at once, the other CRTC registers hold their values, and the
 * status register 0x3da shows vertical retrace coming and going so that
 * retrace wait loops finish. */
#include "kit.h"

#define CRTC_INDEX 0x3d4
#define CRTC_DATA 0x3d5
#define CGA_STATUS 0x3da

static volatile uint16_t *const text = (volatile uint16_t *)0xb8000;

static uint8_t crtc_read(uint8_t reg)
{
    outb(CRTC_INDEX, reg);
    return inb(CRTC_DATA);
}

static void crtc_write(uint8_t reg, uint8_t v)
{
    outb(CRTC_INDEX, reg);
    outb(CRTC_DATA, v);
}

/* xv6's cgaputc, reduced: cursor position from the CRTC, character into
 * the buffer, cursor moved on. */
static void cga_putc(char c)
{
    int pos = crtc_read(14) << 8;
    pos |= crtc_read(15);
    if (c == '\n')
        pos += 80 - pos % 80;
    else
        text[pos++] = (uint16_t)((uint8_t)c | 0x0700);
    crtc_write(14, (uint8_t)(pos >> 8));
    crtc_write(15, (uint8_t)pos);
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    /* (A BIOS may have printed at the top: cell 0 is not checked.) */
    CHECK_EQ(text[80 * 25 - 1], 0x0720, "the last cell of 80x25 is blank");
    CHECK_EQ(text[0x3fff], 0x0720, "the last cell of 32 KiB is blank");

    text[0] = 0x1f41;
    text[0x3fff] = 0x2e5a;
    CHECK_EQ(text[0], 0x1f41, "a cell keeps a character and attribute");
    CHECK_EQ(text[0x3fff], 0x2e5a, "so does the last cell");

    crtc_write(14, 0);
    crtc_write(15, 0);
    const char *msg = "popek\nCGA";
    for (const char *p = msg; *p; p++)
        cga_putc(*p);
    CHECK_EQ(text[0], 0x0770, "xv6-style putc: 'p' at the cursor");
    CHECK_EQ(text[4], 0x076b, "xv6-style putc: 'k' at column 4");
    CHECK_EQ(text[80], 0x0743, "newline moved the cursor to the next row");
    int pos = crtc_read(14) << 8 | crtc_read(15);
    CHECK_EQ(pos, 83, "cursor location reads back (row 1, column 3)");

    outw(CRTC_INDEX, 0x340c); /* start address high = 0x34 */
    CHECK_EQ(crtc_read(0x0c), 0x34, "a word write sets index and data");
    CHECK_EQ(inb(CRTC_INDEX), 0x0c, "the index register reads back");
    crtc_write(0x0a, 0x20);
    CHECK_EQ(crtc_read(0x0a), 0x20, "cursor start register holds its value");
    CHECK_EQ(crtc_read(0x01), 0x4f, "horizontal display end: 80 columns");

    /* Wait for a vertical retrace to end and the next one to start. */
    bool seen_off = false, seen_on = false;
    for (int i = 0; i < 100000 && !seen_off; i++)
        seen_off = !(inb(CGA_STATUS) & 0x08);
    for (int i = 0; i < 100000 && !seen_on; i++)
        seen_on = inb(CGA_STATUS) & 0x08;
    CHECK(seen_off && seen_on, "status: vertical retrace comes and goes");
    return 0;
}
