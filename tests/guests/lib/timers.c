/* timers.c - the PC's timer chips for the guests: 8259A PIC remapping,
 * masking and EOI; 8254 PIT channel 0 (periodic or one-shot on IRQ 0) and
 * channel 2 (one-shot gated through port 0x61, polled on OUT2); the
 * MC146818 CMOS clock. */
#include "kit.h"

#define PIC1 0x20
#define PIC2 0xa0
#define PIT_CH0 0x40
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define PORT_61 0x61

/* Vector bases after kit_pic_remap (0 = never remapped); cpu.c uses them
 * to ignore spurious IRQ 7 / IRQ 15. */
uint8_t kit_pic_base[2];

void kit_pic_remap(uint8_t master_base, uint8_t slave_base)
{
    kit_pic_base[0] = master_base;
    kit_pic_base[1] = slave_base;
    outb(PIC1, 0x11);            /* ICW1: edge, cascade, ICW4 */
    outb(PIC2, 0x11);
    outb(PIC1 + 1, master_base); /* ICW2: vector base */
    outb(PIC2 + 1, slave_base);
    outb(PIC1 + 1, 0x04);        /* ICW3: slave on IRQ 2 */
    outb(PIC2 + 1, 0x02);
    outb(PIC1 + 1, 0x01);        /* ICW4: 8086 mode, normal EOI */
    outb(PIC2 + 1, 0x01);
    outb(PIC1 + 1, 0xfb);        /* all masked but the cascade */
    outb(PIC2 + 1, 0xff);
}

void kit_pic_unmask(int irq)
{
    uint16_t port = irq < 8 ? PIC1 + 1 : PIC2 + 1;
    outb(port, inb(port) & ~(1u << (irq & 7)));
}

void kit_pic_mask(int irq)
{
    uint16_t port = irq < 8 ? PIC1 + 1 : PIC2 + 1;
    outb(port, inb(port) | (1u << (irq & 7)));
}

void kit_pic_eoi(int irq)
{
    if (irq >= 8)
        outb(PIC2, 0x20);
    outb(PIC1, 0x20);
}

static uint16_t pic_read_ocw3(uint8_t ocw3)
{
    outb(PIC1, ocw3);
    outb(PIC2, ocw3);
    return (uint16_t)(inb(PIC2) << 8 | inb(PIC1));
}

uint16_t kit_pic_isr(void)
{
    return pic_read_ocw3(0x0b);
}

uint16_t kit_pic_irr(void)
{
    return pic_read_ocw3(0x0a);
}

uint16_t kit_pit_periodic(uint32_t hz)
{
    uint32_t div = hz ? KIT_PIT_HZ / hz : 0;
    if (div < 2)
        div = 2;
    if (div > 65535)
        div = 0; /* 0 means 65536 */
    outb(PIT_CMD, 0x34);        /* channel 0, lo/hi, mode 2, binary */
    outb(PIT_CH0, div & 0xff);
    outb(PIT_CH0, (div >> 8) & 0xff);
    return (uint16_t)div;
}

void kit_pit_oneshot0(uint16_t count)
{
    outb(PIT_CMD, 0x30);        /* channel 0, lo/hi, mode 0 */
    outb(PIT_CH0, count & 0xff);
    outb(PIT_CH0, count >> 8);
}

void kit_pit2_start(uint16_t count)
{
    uint8_t v = inb(PORT_61);
    outb(PORT_61, (v & ~0x03) | 0x00); /* gate low, speaker off */
    outb(PIT_CMD, 0xb0);               /* channel 2, lo/hi, mode 0 */
    outb(PIT_CH2, count & 0xff);
    outb(PIT_CH2, count >> 8);
    outb(PORT_61, (v & ~0x03) | 0x01); /* gate high: counting starts */
}

bool kit_pit2_done(void)
{
    return inb(PORT_61) & 0x20;
}

void kit_pit2_wait(uint16_t count)
{
    kit_pit2_start(count);
    while (!kit_pit2_done())
        pause();
}

uint16_t kit_pit_read(int channel)
{
    outb(PIT_CMD, (uint8_t)((channel & 3) << 6)); /* latch */
    uint8_t lo = inb(PIT_CH0 + (channel & 3));
    uint8_t hi = inb(PIT_CH0 + (channel & 3));
    return (uint16_t)(hi << 8 | lo);
}

uint8_t kit_cmos_read(uint8_t reg)
{
    outb(0x70, reg & 0x7f);
    return inb(0x71);
}

void kit_cmos_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg & 0x7f);
    outb(0x71, v);
}

static unsigned from_bcd(uint8_t v, bool bcd)
{
    return bcd ? (v >> 4) * 10u + (v & 15u) : v;
}

void kit_rtc_read(struct kit_rtc *t)
{
    uint8_t r[6], again[6];
    static const uint8_t regs[6] = {0x00, 0x02, 0x04, 0x07, 0x08, 0x09};
    /* Read until two consecutive reads agree, each after UIP is clear. */
    for (int tries = 0; tries < 100; tries++) {
        while (kit_cmos_read(0x0a) & 0x80)
            pause();
        for (int i = 0; i < 6; i++)
            r[i] = kit_cmos_read(regs[i]);
        while (kit_cmos_read(0x0a) & 0x80)
            pause();
        for (int i = 0; i < 6; i++)
            again[i] = kit_cmos_read(regs[i]);
        if (!memcmp(r, again, sizeof(r)))
            break;
    }
    uint8_t b = kit_cmos_read(0x0b);
    bool bcd = !(b & 0x04), h24 = b & 0x02;
    t->sec = from_bcd(r[0], bcd);
    t->min = from_bcd(r[1], bcd);
    bool pm = !h24 && (r[2] & 0x80);
    t->hour = from_bcd(r[2] & 0x7f, bcd);
    if (!h24)
        t->hour = (t->hour % 12) + (pm ? 12 : 0);
    t->day = from_bcd(r[3], bcd);
    t->mon = from_bcd(r[4], bcd);
    unsigned century = from_bcd(kit_cmos_read(0x32), bcd);
    if (century < 19 || century > 21)
        century = 20;
    t->year = century * 100 + from_bcd(r[5], bcd);
}
