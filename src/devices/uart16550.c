/* uart16550.c - a 16550A UART (COM1 at 0x3f8, IRQ 4 on a PC), the guest's
 * console.  Registers: RBR/THR, IER, IIR/FCR (16-byte FIFOs), LCR (DLAB),
 * MCR (loopback; OUT2 does not gate the IRQ line, as in QEMU), LSR, MSR,
 * SCR and the divisor latch.  Interrupt sources in priority order: receiver
 * line status,
 * received data (FIFO trigger level, or the character timeout after four
 * character times without activity), transmitter holding register empty,
 * modem status.  The IRQ line is a level: high while an enabled source is
 * pending, whatever MCR.OUT2 says (QEMU's behaviour, which guests written
 * for QEMU depend on).
 *
 * Transmission is instant: a byte written to THR goes to console_putc() (or
 * back into the receiver in loopback mode) and THR is empty again at once.
 * uart_poll() and reads of RBR move console_getc() bytes into the receive
 * FIFO while it has room.  Linux's 8250 driver identifies it as a 16550A. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

#define UART_FIFO 16
#define UART_CLOCK_HZ 1843200ull

/* IER */
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
/* IIR */
#define IIR_NONE 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0
/* FCR */
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
/* LCR */
#define LCR_DLAB 0x80
/* MCR */
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
/* LSR */
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRORS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
/* MSR */
#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

struct uart {
    struct machine *m;
    struct irq_line irq;
    uint8_t ier, lcr, mcr, scr, fcr;
    uint8_t lsr_errors;   /* OE (and PE/FE/BI, never set here) until read */
    uint8_t msr;          /* status bits 4-7 and delta bits 0-3 */
    uint16_t divisor;
    uint8_t rx[UART_FIFO];
    unsigned rx_head, rx_count;
    bool thre_pending;    /* THR empty interrupt not yet acknowledged */
    bool timeout_pending; /* character timeout reached */
    bool irq_level;
    struct vtimer timeout_timer;
};

static bool fifo_on(const struct uart *u)
{
    return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct uart *u)
{
    return fifo_on(u) ? UART_FIFO : 1;
}

static unsigned rx_trigger(const struct uart *u)
{
    static const unsigned levels[4] = {1, 4, 8, 14};
    return fifo_on(u) ? levels[u->fcr >> 6] : 1;
}

/* The highest-priority pending interrupt, as IIR bits 0-3. */
static uint8_t uart_iir_id(const struct uart *u)
{
    if ((u->ier & IER_RLSI) && (u->lsr_errors & LSR_ERRORS))
        return IIR_RLSI;
    if ((u->ier & IER_RDI) && u->rx_count >= rx_trigger(u))
        return IIR_RDI;
    if ((u->ier & IER_RDI) && u->timeout_pending && u->rx_count)
        return IIR_TIMEOUT;
    if ((u->ier & IER_THRI) && u->thre_pending)
        return IIR_THRI;
    if ((u->ier & IER_MSI) && (u->msr & MSR_DELTAS))
        return IIR_MSI;
    return IIR_NONE;
}

static void uart_update_irq(struct uart *u)
{
    /* On a real PC board the OUT2 pin gates the IRQ line (and loopback
     * holds it inactive); QEMU's 16550 ignores OUT2 and loopback and
     * raises its IRQ whenever an enabled source is pending.  Guests
     * written for QEMU (and tested only there) rely on that, so popek does
     * the same. */
    bool level = uart_iir_id(u) != IIR_NONE;
    if (level != u->irq_level) {
        u->irq_level = level;
        irq_set(u->irq, level);
    }
}

/* Four character times at the programmed rate (10 bits a character). */
static uint64_t uart_timeout_ns(const struct uart *u)
{
    uint64_t div = u->divisor ? u->divisor : 0x10000;
    return 4 * 10 * 16 * div * 1000000000ull / UART_CLOCK_HZ;
}

static void uart_rearm_timeout(struct uart *u)
{
    u->timeout_pending = false;
    if (u->rx_count)
        vtimer_mod(u->m, &u->timeout_timer,
                   clock_ns() + uart_timeout_ns(u));
    else
        vtimer_del(u->m, &u->timeout_timer);
}

static void uart_timeout_fire(void *opaque)
{
    struct uart *u = opaque;
    if (u->rx_count)
        u->timeout_pending = true;
    uart_update_irq(u);
}

static void rx_clear(struct uart *u)
{
    u->rx_head = u->rx_count = 0;
    uart_rearm_timeout(u);
}

/* A byte arrives from the line (console or loopback). */
static void rx_push(struct uart *u, uint8_t c)
{
    if (u->rx_count >= rx_capacity(u)) {
        u->lsr_errors |= LSR_OE; /* the byte is lost */
        return;
    }
    u->rx[(u->rx_head + u->rx_count) % UART_FIFO] = c;
    u->rx_count++;
    uart_rearm_timeout(u);
}

static void rx_fill_from_console(struct uart *u)
{
    if (u->mcr & MCR_LOOP)
        return; /* the line input is disconnected in loopback */
    while (u->rx_count < rx_capacity(u)) {
        int c = console_getc(u->m);
        if (c < 0)
            break;
        rx_push(u, (uint8_t)c);
    }
}

void uart_poll(struct uart *u)
{
    if (!u)
        return;
    rx_fill_from_console(u);
    uart_update_irq(u);
}

static uint8_t rx_pop(struct uart *u)
{
    if (!u->rx_count)
        return 0;
    uint8_t c = u->rx[u->rx_head];
    u->rx_head = (u->rx_head + 1) % UART_FIFO;
    u->rx_count--;
    uart_rearm_timeout(u);
    rx_fill_from_console(u);
    return c;
}

/* Modem status inputs: in loopback they follow the MCR outputs, otherwise
 * a console that is always there (CTS, DSR, DCD). */
static void uart_update_msr(struct uart *u)
{
    uint8_t in;
    if (u->mcr & MCR_LOOP)
        in = (uint8_t)(((u->mcr & MCR_RTS) ? MSR_CTS : 0) |
                       ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
                       ((u->mcr & MCR_OUT1) ? MSR_RI : 0) |
                       ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
    else
        in = MSR_CTS | MSR_DSR | MSR_DCD;
    uint8_t old = u->msr & 0xf0, changed = old ^ in;
    uint8_t deltas = (uint8_t)(((changed & MSR_CTS) ? MSR_DCTS : 0) |
                               ((changed & MSR_DSR) ? MSR_DDSR : 0) |
                               ((old & MSR_RI) && !(in & MSR_RI) ? MSR_TERI
                                                                 : 0) |
                               ((changed & MSR_DCD) ? MSR_DDCD : 0));
    u->msr = (uint8_t)(in | (u->msr & MSR_DELTAS) | deltas);
}

static void uart_transmit(struct uart *u, uint8_t c)
{
    if (u->mcr & MCR_LOOP)
        rx_push(u, c);
    else
        console_putc(u->m, c);
    /* Sent at once: THR is empty again, which is an interrupt. */
    u->thre_pending = true;
}

static void uart_write(struct uart *u, unsigned reg, uint8_t v)
{
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB)
            u->divisor = (uint16_t)((u->divisor & 0xff00) | v);
        else
            uart_transmit(u, v);
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->divisor = (uint16_t)((u->divisor & 0x00ff) | v << 8);
        } else {
            uint8_t old = u->ier;
            u->ier = v & 0x0f;
            /* Enabling the THRE interrupt while THR is empty raises it
             * (Linux's startup test checks that it is re-asserted). */
            if ((u->ier & IER_THRI) && !(old & IER_THRI))
                u->thre_pending = true;
        }
        break;
    case 2: { /* FCR */
        uint8_t old = u->fcr;
        if (!(v & FCR_ENABLE)) {
            u->fcr = 0;
        } else {
            u->fcr = v & 0xc1; /* enable + trigger level */
        }
        if ((old ^ u->fcr) & FCR_ENABLE)
            rx_clear(u); /* switching FIFO mode empties the FIFOs */
        else if ((v & FCR_ENABLE) && (v & FCR_CLEAR_RX))
            rx_clear(u);
        rx_fill_from_console(u);
        break;
    }
    case 3:
        u->lcr = v;
        break;
    case 4:
        u->mcr = v & 0x1f;
        uart_update_msr(u);
        rx_fill_from_console(u);
        break;
    case 5: /* LSR: writes ignored */
    case 6: /* MSR: writes ignored */
        break;
    default:
        u->scr = v;
        break;
    }
}

static uint8_t uart_read(struct uart *u, unsigned reg)
{
    uint8_t v;
    switch (reg) {
    case 0:
        if (u->lcr & LCR_DLAB)
            return (uint8_t)u->divisor;
        return rx_pop(u);
    case 1:
        return (u->lcr & LCR_DLAB) ? (uint8_t)(u->divisor >> 8) : u->ier;
    case 2:
        v = uart_iir_id(u);
        if (v == IIR_THRI)
            u->thre_pending = false; /* reading IIR acknowledges THRE */
        return (uint8_t)(v | (fifo_on(u) ? IIR_FIFO_ON : 0));
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        v = (uint8_t)(LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0) |
                      u->lsr_errors);
        u->lsr_errors = 0;
        return v;
    case 6:
        v = u->msr;
        u->msr &= (uint8_t)~MSR_DELTAS;
        return v;
    default:
        return u->scr;
    }
}

static void uart_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                    bool is_write)
{
    struct uart *u = dev;
    for (unsigned i = 0; i < len; i++) {
        unsigned reg = (unsigned)(offset + i) & 7;
        if (is_write)
            uart_write(u, reg, data[i]);
        else
            data[i] = uart_read(u, reg);
    }
    uart_update_irq(u);
}

static void uart_console_rx(void *opaque)
{
    uart_poll(opaque);
}

int uart_create(struct machine *m, struct io_space *bus, uint16_t base,
                struct irq_line irq)
{
    if (m->console_rx)
        return fail("the console already has a UART on this machine");
    struct uart *u = calloc(1, sizeof(*u));
    if (!u || machine_add_device(m, "uart16550", u, NULL, NULL) < 0) {
        free(u);
        return fail("out of memory");
    }
    m->console_rx = uart_console_rx;
    m->console_rx_opaque = u;
    u->m = m;
    u->irq = irq;
    u->divisor = 12; /* 9600 baud, as firmware leaves it */
    u->lcr = 0x03;   /* 8N1 */
    vtimer_init(&u->timeout_timer, uart_timeout_fire, u);
    uart_update_msr(u);
    u->msr &= (uint8_t)~MSR_DELTAS; /* no changes seen yet */
    return io_register(bus, base, 8, uart_io, u, "uart16550");
}
