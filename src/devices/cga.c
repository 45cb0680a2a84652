/* cga.c - the CGA/VGA colour text mode as legacy guests use it: the 32 KiB
 * text buffer at 0xb8000 (character + attribute byte per cell, 80x25 at
 * offset 0) and the 6845 CRTC behind the index/data ports 0x3d4/0x3d5
 * (CGA mirrors them at 0x3d0-0x3d7: even = index, odd = data), the mode
 * and colour registers 0x3d8/0x3d9, and the status register 0x3da.
 *
 * The text buffer is plain guest RAM: popek's RAM is one flat memfd that
 * every engine maps directly, so guest stores to the screen cost nothing
 * and read back like on a real card.  The device fills it with blank cells
 * (space, light grey on black) at creation and at reset.  Nothing is
 * displayed: the console stays the UART.
 *
 * CRTC registers (index & 0x1f, 32 stored, all readable as on a VGA) start
 * with VGA mode 3 values; the cursor location (0x0e/0x0f) and the start
 * address (0x0c/0x0d) are ordinary read/write registers.  Status (0x3da)
 * reads alternate between "display enable + vertical retrace" (0x09) and
 * "active display" (0x00), so both kinds of retrace wait loops finish
 * after a read or two, deterministically. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define CGA_TEXT_BASE 0xb8000u
#define CGA_TEXT_SIZE 0x8000u
#define CGA_BLANK 0x0720 /* ' ' on attribute 7 */
#define CGA_NREGS 32

struct cga {
    struct machine *m;
    uint8_t index, mode, color;
    uint8_t crtc[CGA_NREGS];
    unsigned status_reads;
};

/* VGA mode 3 (80x25 text) CRTC values, registers 0x00-0x18. */
static const uint8_t crtc_mode3[25] = {
    0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e,
    0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3,
    0xff,
};

static void cga_reset(void *opaque)
{
    struct cga *c = opaque;
    c->index = 0;
    c->mode = 0x29; /* 80 columns, video on, blink */
    c->color = 0;
    c->status_reads = 0;
    memset(c->crtc, 0, sizeof(c->crtc));
    memcpy(c->crtc, crtc_mode3, sizeof(crtc_mode3));
    uint8_t *text = gpa_to_hva(c->m, CGA_TEXT_BASE, CGA_TEXT_SIZE);
    if (text)
        for (unsigned i = 0; i < CGA_TEXT_SIZE; i += 2)
            io_put(text + i, 2, CGA_BLANK);
}

static uint8_t cga_read(struct cga *c, unsigned port)
{
    if (port < 8)
        return (port & 1) ? c->crtc[c->index] : c->index;
    switch (port) {
    case 8:
        return c->mode;
    case 9:
        return c->color;
    case 0xa:
        return (c->status_reads++ & 1) ? 0x00 : 0x09;
    default:
        return 0xff;
    }
}

static void cga_write(struct cga *c, unsigned port, uint8_t v)
{
    if (port < 8) {
        if (port & 1)
            c->crtc[c->index] = v;
        else
            c->index = v & (CGA_NREGS - 1);
        return;
    }
    if (port == 8)
        c->mode = v;
    else if (port == 9)
        c->color = v;
}

static void cga_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                   bool is_write)
{
    /* A word write to the index port sets index and data in one go
     * (outw 0x3d4, (value << 8) | index), as on a real card. */
    for (unsigned i = 0; i < len; i++) {
        unsigned port = (unsigned)(offset + i) & 0xf;
        if (is_write)
            cga_write(dev, port, data[i]);
        else
            data[i] = cga_read(dev, port);
    }
}

int cga_create(struct machine *m, struct io_space *bus, uint16_t base)
{
    struct cga *c = calloc(1, sizeof(*c));
    if (!c || machine_add_device(m, "cga", c, cga_reset, NULL) < 0) {
        free(c);
        return fail("out of memory");
    }
    c->m = m;
    cga_reset(c);
    return io_register(bus, base, 16, cga_io, c, "cga");
}
