/* pic8259.c - the PC's pair of i8259A interrupt controllers: master on
 * 0x20/0x21 (IRQ 0-7), slave on 0xa0/0xa1 (IRQ 8-15) cascaded into the
 * master's IRQ 2, and the edge/level control registers (ELCR) on
 * 0x4d0/0x4d1.  Implements the ICW1-ICW4 initialisation sequence, OCW1
 * masking, OCW2 EOIs and priority rotation, OCW3 (IRR/ISR read, poll mode,
 * special mask), auto-EOI, special fully nested mode, edge latching of
 * requests (rising edge) or level sensing per ELCR, and spurious IRQ 7/15
 * when a request vanishes before the INTA cycle.
 *
 * Devices reach it through machine_set_irq(); the run loop asks intr() and,
 * when the engine can take an interrupt, ack() performs the INTA cycle and
 * returns the vector.  It installs itself as m->intc (the board may put
 * another controller in front of it). */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

struct pic_chip {
    uint8_t irr;          /* interrupt request register */
    uint8_t isr;          /* in-service register */
    uint8_t imr;          /* interrupt mask register (OCW1) */
    uint8_t lines;        /* current input levels, for edge detection */
    uint8_t elcr;         /* 1 = level triggered */
    uint8_t elcr_mask;    /* ELCR bits that exist */
    uint8_t vector_base;  /* ICW2 & 0xf8 */
    uint8_t lowest;       /* IRQ with the lowest priority + 1 (rotation) */
    uint8_t init_step;    /* 0 = ready, else the ICW expected next (2-4) */
    bool icw4_needed, single;
    bool auto_eoi, rotate_on_aeoi, special_fully_nested;
    bool special_mask, poll, read_isr;
};

struct pic {
    struct machine *m;
    struct pic_chip chip[2]; /* 0 = master, 1 = slave */
};

#define PIC_CASCADE_IRQ 2

/* Priority (0 = highest) of the highest-priority bit set in mask, or 8. */
static int chip_priority(const struct pic_chip *c, uint8_t mask)
{
    if (!mask)
        return 8;
    int p = 0;
    while (!(mask & (1u << ((p + c->lowest) & 7))))
        p++;
    return p;
}

/* The IRQ (0-7) this chip would deliver now, or -1. */
static int chip_pending(const struct pic_chip *c, bool is_master)
{
    uint8_t req = (uint8_t)(c->irr & ~c->imr);
    int prio = chip_priority(c, req);
    if (prio == 8)
        return -1;
    uint8_t in_service = c->isr;
    if (c->special_mask)
        in_service &= (uint8_t)~c->imr;
    if (is_master && c->special_fully_nested)
        in_service &= (uint8_t)~(1u << PIC_CASCADE_IRQ);
    if (prio < chip_priority(c, in_service))
        return (prio + c->lowest) & 7;
    return -1;
}

static void chip_set_line(struct pic_chip *c, int irq, int level)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (c->elcr & bit) {
        /* Level triggered: the request follows the line. */
        if (level)
            c->irr |= bit;
        else
            c->irr &= (uint8_t)~bit;
    } else if (level && !(c->lines & bit)) {
        c->irr |= bit; /* rising edge latched until acknowledged */
    }
    if (level)
        c->lines |= bit;
    else
        c->lines &= (uint8_t)~bit;
}

/* The slave's INT output drives the master's IRQ 2.  The master latches
 * it while it is high and keeps it until the INTA cycle, so a slave request
 * that vanishes before INTA gives a spurious IRQ 15, and one still there
 * after the INTA is requested again. */
static void pic_update_cascade(struct pic *p)
{
    struct pic_chip *master = &p->chip[0];
    uint8_t bit = 1u << PIC_CASCADE_IRQ;
    if (chip_pending(&p->chip[1], false) >= 0) {
        master->irr |= bit;
        master->lines |= bit;
    } else {
        master->lines &= (uint8_t)~bit;
    }
}

static void pic_set_irq(void *ctx, int irq, int level)
{
    struct pic *p = ctx;
    if (irq < 0 || irq > 15 || irq == PIC_CASCADE_IRQ)
        return; /* IRQ 2 is the cascade, not a device line */
    chip_set_line(&p->chip[irq >> 3], irq & 7, level);
    pic_update_cascade(p);
}

static bool pic_intr(void *ctx)
{
    struct pic *p = ctx;
    return chip_pending(&p->chip[0], true) >= 0;
}

/* The INTA cycle on one chip for a resolved irq. */
static void chip_ack(struct pic_chip *c, int irq)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (c->auto_eoi) {
        if (c->rotate_on_aeoi)
            c->lowest = (uint8_t)((irq + 1) & 7);
    } else {
        c->isr |= bit;
    }
    if (!(c->elcr & bit))
        c->irr &= (uint8_t)~bit;
}

static int pic_ack(void *ctx)
{
    struct pic *p = ctx;
    struct pic_chip *master = &p->chip[0], *slave = &p->chip[1];
    int irq = chip_pending(master, true), vector;
    if (irq < 0) {
        vector = master->vector_base | 7; /* spurious IRQ 7 */
    } else if (irq == PIC_CASCADE_IRQ && !master->single) {
        chip_ack(master, irq);
        int sirq = chip_pending(slave, false);
        if (sirq < 0) {
            vector = slave->vector_base | 7; /* spurious IRQ 15 */
        } else {
            chip_ack(slave, sirq);
            vector = slave->vector_base | sirq;
        }
    } else {
        chip_ack(master, irq);
        vector = master->vector_base | irq;
    }
    pic_update_cascade(p);
    return vector;
}

/* Poll command: the highest pending request as 0x80 | irq, acknowledged;
 * 0 when none. */
static uint8_t chip_poll(struct pic *p, struct pic_chip *c)
{
    bool is_master = c == &p->chip[0];
    int irq = chip_pending(c, is_master);
    if (irq < 0)
        return 0;
    chip_ack(c, irq);
    if (is_master && irq == PIC_CASCADE_IRQ && !c->single) {
        int sirq = chip_pending(&p->chip[1], false);
        if (sirq >= 0)
            chip_ack(&p->chip[1], sirq);
    }
    pic_update_cascade(p);
    return (uint8_t)(0x80 | irq);
}

static void chip_icw1(struct pic_chip *c, uint8_t v)
{
    /* The edge sense circuits reset: a line that is high must go low and
     * high again to request (level-mode requests stay). */
    c->lines &= c->elcr;
    c->irr &= c->elcr;
    c->imr = 0;
    c->isr = 0;
    c->lowest = 0;
    c->vector_base = 0;
    c->auto_eoi = c->rotate_on_aeoi = c->special_fully_nested = false;
    c->special_mask = c->poll = c->read_isr = false;
    c->icw4_needed = v & 0x01;
    c->single = v & 0x02;
    c->init_step = 2;
}

static void chip_ocw2(struct pic_chip *c, uint8_t v)
{
    int irq;
    switch (v >> 5) {
    case 0: /* clear rotate in auto-EOI */
        c->rotate_on_aeoi = false;
        break;
    case 4: /* set rotate in auto-EOI */
        c->rotate_on_aeoi = true;
        break;
    case 1: /* non-specific EOI */
    case 5: /* rotate on non-specific EOI */
        if (chip_priority(c, c->isr) == 8)
            break;
        irq = (chip_priority(c, c->isr) + c->lowest) & 7;
        c->isr &= (uint8_t)~(1u << irq);
        if (v >> 5 == 5)
            c->lowest = (uint8_t)((irq + 1) & 7);
        break;
    case 3: /* specific EOI */
    case 7: /* rotate on specific EOI */
        irq = v & 7;
        c->isr &= (uint8_t)~(1u << irq);
        if (v >> 5 == 7)
            c->lowest = (uint8_t)((irq + 1) & 7);
        break;
    case 6: /* set priority: v & 7 becomes the lowest */
        c->lowest = (uint8_t)(((v & 7) + 1) & 7);
        break;
    default: /* 2: no operation */
        break;
    }
}

static void chip_ocw3(struct pic_chip *c, uint8_t v)
{
    if (v & 0x04)
        c->poll = true;
    if (v & 0x02)
        c->read_isr = v & 0x01;
    if (v & 0x40)
        c->special_mask = v & 0x20;
}

static void chip_write_data(struct pic_chip *c, uint8_t v)
{
    switch (c->init_step) {
    case 2: /* ICW2: vector base */
        c->vector_base = v & 0xf8;
        c->init_step = c->single ? (c->icw4_needed ? 4 : 0) : 3;
        break;
    case 3: /* ICW3: cascade wiring, fixed on a PC */
        c->init_step = c->icw4_needed ? 4 : 0;
        break;
    case 4: /* ICW4 */
        c->auto_eoi = v & 0x02;
        c->special_fully_nested = v & 0x10;
        c->init_step = 0;
        break;
    default: /* OCW1 */
        c->imr = v;
        break;
    }
}

static void pic_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                   bool is_write, int chip)
{
    struct pic *p = dev;
    struct pic_chip *c = &p->chip[chip];
    for (unsigned i = 0; i < len; i++) {
        unsigned reg = (unsigned)((offset + i) & 1);
        if (is_write) {
            uint8_t v = data[i];
            if (reg == 1)
                chip_write_data(c, v);
            else if (v & 0x10)
                chip_icw1(c, v);
            else if (v & 0x08)
                chip_ocw3(c, v);
            else
                chip_ocw2(c, v);
        } else if (c->poll) {
            c->poll = false;
            data[i] = chip_poll(p, c);
        } else if (reg == 1) {
            data[i] = c->imr;
        } else {
            data[i] = c->read_isr ? c->isr : c->irr;
        }
    }
    pic_update_cascade(p);
}

static void pic_master_io(void *dev, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write)
{
    pic_io(dev, offset, data, len, is_write, 0);
}

static void pic_slave_io(void *dev, uint64_t offset, uint8_t *data,
                         unsigned len, bool is_write)
{
    pic_io(dev, offset, data, len, is_write, 1);
}

static void pic_elcr_io(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct pic *p = dev;
    for (unsigned i = 0; i < len; i++) {
        struct pic_chip *c = &p->chip[(offset + i) & 1];
        if (!is_write) {
            data[i] = c->elcr;
            continue;
        }
        uint8_t old = c->elcr;
        c->elcr = data[i] & c->elcr_mask;
        /* Lines switched to level mode request while they are high;
         * lines switched to edge mode keep what they latched. */
        uint8_t to_level = (uint8_t)(c->elcr & ~old);
        c->irr = (uint8_t)((c->irr & ~to_level) | (c->lines & to_level));
    }
    pic_update_cascade(p);
}

int pic_create(struct machine *m, struct io_space *bus)
{
    if (machine_find_device(m, "i8259"))
        return fail("the PICs already exist on this machine");
    struct pic *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "i8259", p, NULL, NULL) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->m = m;
    /* IRQ 0, 1, 2 (master) and 8, 13 (slave) are always edge triggered. */
    p->chip[0].elcr_mask = 0xf8;
    p->chip[1].elcr_mask = 0xde;
    if (io_register(bus, 0x20, 2, pic_master_io, p, "pic-master") < 0 ||
        io_register(bus, 0xa0, 2, pic_slave_io, p, "pic-slave") < 0 ||
        io_register(bus, 0x4d0, 2, pic_elcr_io, p, "elcr") < 0)
        return -1;
    m->intc = (struct intc_ops){.ctx = p, .set_irq = pic_set_irq,
                                .intr = pic_intr, .ack = pic_ack};
    return 0;
}
