/* ioapic.c - the I/O APIC (82093AA style, version 0x11, 24 pins) at
 * 0xfec00000: IOREGSEL (offset 0x00) selects a register that IOWIN (0x10)
 * reads or writes: ID (0), version (1: 0x170011), arbitration ID (2) and
 * the redirection table (0x10 + 2n: vector, delivery mode, logical or
 * physical destination, polarity, remote IRR, trigger mode, mask; the
 * destination in bits 63:56).
 *
 * Input pins carry logical "asserted" levels (as in QEMU: the polarity bit
 * is stored for the guest but devices raise their lines active-high).  An
 * edge pin delivers on a rising edge (a masked one is latched and sent on
 * unmasking, as QEMU and KVM do); a level pin delivers while asserted, sets
 * remote IRR, and waits for the local APIC's EOI of that vector
 * (ioapic_eoi) before it can deliver again.  Messages go out as MSI
 * writes through machine_msi() (address 0xfee00000 | dest << 12 | logical
 * << 2, data vector | mode << 8 | level << 15), like the system-bus
 * messages of real I/O APICs; the board routes ISA IRQs to the pins
 * (ioapic_set_irq) and the local APIC's EOI broadcast to ioapic_eoi. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x00170011u
#define IOAPIC_ID_RESET 1u

#define RTE_MASKED (1ull << 16)
#define RTE_LEVEL (1ull << 15)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_DELIVS (1ull << 12)
#define RTE_LOGICAL (1ull << 11)
#define RTE_DM(e) (((e) >> 8) & 7)
/* Guest-writable bits: vector, mode, dest mode, polarity, trigger, mask,
 * destination. */
#define RTE_WRITABLE (0xff000000000000ffull | 0x700 | RTE_LOGICAL | \
                      (1ull << 13) | RTE_LEVEL | RTE_MASKED)

struct ioapic {
    struct machine *m;
    uint32_t regsel;
    uint32_t id;                /* ID register (ID in 27:24) */
    uint32_t levels;            /* asserted input pins */
    uint32_t irr;               /* pins requesting delivery */
    uint64_t rte[IOAPIC_PINS];
};

static void send(struct ioapic *io, int pin)
{
    uint64_t e = io->rte[pin];
    uint32_t dest = (uint32_t)(e >> 56);
    uint64_t addr = 0xfee00000u | (uint64_t)dest << 12 |
                    (e & RTE_LOGICAL ? 4 : 0);
    uint32_t data = (uint32_t)(e & 0x7ff) | (e & RTE_LEVEL ? 1u << 15 : 0) |
                    1u << 14;
    machine_msi(io->m, addr, data);
}

/* Deliver what the pins request and the table allows. */
static void service(struct ioapic *io)
{
    for (int pin = 0; pin < IOAPIC_PINS; pin++) {
        uint32_t bit = 1u << pin;
        uint64_t *e = &io->rte[pin];
        if (!(io->irr & bit) || (*e & RTE_MASKED))
            continue;
        if ((*e & RTE_LEVEL) && RTE_DM(*e) <= 1) {
            /* Fixed / lowest priority: wait for the EOI. */
            if (*e & RTE_REMOTE_IRR)
                continue;
            *e |= RTE_REMOTE_IRR;
        } else {
            /* Edge, or a mode that has no EOI (ExtINT, NMI, ...). */
            io->irr &= ~bit;
        }
        send(io, pin);
    }
}

void ioapic_set_irq(struct ioapic *io, int pin, int level)
{
    if (pin < 0 || pin >= IOAPIC_PINS)
        return;
    uint32_t bit = 1u << pin;
    bool was = io->levels & bit;
    if (level)
        io->levels |= bit;
    else
        io->levels &= ~bit;
    if (io->rte[pin] & RTE_LEVEL) {
        if (level)
            io->irr |= bit;
        else
            io->irr &= ~bit;
    } else if (level && !was) {
        io->irr |= bit;
    }
    service(io);
}

void ioapic_eoi(void *ctx, int vector)
{
    struct ioapic *io = ctx;
    for (int pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t *e = &io->rte[pin];
        if ((*e & 0xff) == (uint64_t)vector && (*e & RTE_REMOTE_IRR)) {
            *e &= ~RTE_REMOTE_IRR;
            /* A level line still asserted requests again. */
            if ((*e & RTE_LEVEL) && (io->levels & (1u << pin)))
                io->irr |= 1u << pin;
        }
    }
    service(io);
}

static uint32_t reg_read(struct ioapic *io, uint32_t reg)
{
    switch (reg) {
    case 0: return io->id;
    case 1: return IOAPIC_VERSION;
    case 2: return io->id;
    default:
        if (reg >= 0x10 && reg < 0x10 + 2 * IOAPIC_PINS) {
            uint64_t e = io->rte[(reg - 0x10) / 2];
            return (uint32_t)(reg & 1 ? e >> 32 : e);
        }
        return 0;
    }
}

static void reg_write(struct ioapic *io, uint32_t reg, uint32_t v)
{
    if (reg == 0) {
        io->id = v & 0x0f000000u;
        return;
    }
    if (reg < 0x10 || reg >= 0x10 + 2 * IOAPIC_PINS)
        return;
    int pin = (int)(reg - 0x10) / 2;
    uint64_t *e = &io->rte[pin];
    uint64_t nv = reg & 1 ? (*e & 0xffffffffull) | (uint64_t)v << 32
                          : (*e & ~0xffffffffull) | v;
    *e = (*e & ~RTE_WRITABLE) | (nv & RTE_WRITABLE);
    uint32_t bit = 1u << pin;
    if (!(*e & RTE_LEVEL)) {
        *e &= ~RTE_REMOTE_IRR; /* remote IRR is meaningless for edge */
    } else if (io->levels & bit) {
        io->irr |= bit;         /* a level line that is high requests */
    } else {
        io->irr &= ~bit;
    }
    service(io);
}

static void ioapic_mmio(void *dev, uint64_t offset, uint8_t *data,
                        unsigned len, bool is_write)
{
    struct ioapic *io = dev;
    uint32_t v = is_write ? io_get(data, len) : 0;
    if (offset < 4) { /* IOREGSEL */
        if (is_write)
            io->regsel = v & 0xff;
        else
            io_put(data, len, io->regsel >> (8 * offset));
    } else if (offset >= 0x10 && offset < 0x14) { /* IOWIN */
        if (is_write) {
            if (len == 4)
                reg_write(io, io->regsel, v);
        } else {
            io_put(data, len, reg_read(io, io->regsel) >> (8 * (offset - 0x10)));
        }
    } else if (!is_write) {
        memset(data, 0, len);
    }
}

static void ioapic_reset(void *opaque)
{
    struct ioapic *io = opaque;
    io->regsel = 0;
    io->id = IOAPIC_ID_RESET << 24;
    io->irr = 0;
    for (int i = 0; i < IOAPIC_PINS; i++)
        io->rte[i] = RTE_MASKED;
}

struct ioapic *ioapic_create(struct machine *m, struct io_space *bus,
                             uint64_t base)
{
    struct ioapic *io = calloc(1, sizeof(*io));
    if (!io || machine_add_device(m, "ioapic", io, ioapic_reset, NULL) < 0) {
        free(io);
        fail("out of memory");
        return NULL;
    }
    io->m = m;
    ioapic_reset(io);
    if (io_register(bus, base, 0x1000, ioapic_mmio, io, "ioapic") < 0)
        return NULL;
    return io;
}
