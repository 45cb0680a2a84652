/* reset_ctrl.c - the ways a PC guest resets itself, and the keyboard
 * controller they come with:
 *  - port 0x92 (system control port A): bit 1 = fast A20 (stored and read
 *    back; popek does not wrap addresses), bit 0 = 1 resets the machine;
 *  - a minimal i8042 keyboard controller on 0x60 (data) / 0x64 (status and
 *    command): command byte (0x20/0x60), self-tests (0xaa -> 0x55,
 *    0xab -> 0x00), port enables (0xad/0xae/0xa7/0xa8), output port
 *    (0xd0/0xd1, bit 0 = 0 resets) and pulse commands 0xf0-0xff (bit 0
 *    clear resets, so 0xfe is the classic reset).
 * No keyboard or mouse is attached.  Linux's i8042 driver must not hang
 * on that: the AUX loop test echoes without the AUX flag and the AUX
 * interface test reports a stuck clock line, so the AUX port is dropped at
 * once, and every byte sent to the keyboard is answered 0xfe (resend),
 * so atkbd's probe fails at once.  IRQ 1 / IRQ 12 follow the output buffer
 * when the command byte enables them.
 * A reset stops popek with ST_GUEST_RESET. */
#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "devices.h"

/* status register */
#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_UNLOCKED 0x10
#define STS_AUXDATA 0x20
/* command byte */
#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40
/* output port */
#define OUT_RESET_N 0x01
#define OUT_A20 0x02

#define OUTQ 8
#define PS2_RESEND 0xfe

struct reset_ctrl {
    struct machine *m;
    struct irq_line kbd, aux;
    uint8_t port92;
    /* i8042 */
    uint8_t ctr, outport;
    uint8_t pending_cmd;  /* command waiting for its data byte, or 0 */
    bool last_was_cmd;
    uint8_t q[OUTQ];      /* output buffer queue: bytes ... */
    bool q_aux[OUTQ];     /* ... and whether each comes from the AUX port */
    unsigned q_head, q_count;
    bool kbd_irq, aux_irq;
};

static void i8042_update_irqs(struct reset_ctrl *r)
{
    bool obf = r->q_count > 0, aux = obf && r->q_aux[r->q_head];
    bool kbd_irq = obf && !aux && (r->ctr & CTR_KBDINT);
    bool aux_irq = aux && (r->ctr & CTR_AUXINT);
    if (kbd_irq != r->kbd_irq) {
        r->kbd_irq = kbd_irq;
        irq_set(r->kbd, kbd_irq);
    }
    if (aux_irq != r->aux_irq) {
        r->aux_irq = aux_irq;
        irq_set(r->aux, aux_irq);
    }
}

static void i8042_output(struct reset_ctrl *r, uint8_t v, bool aux)
{
    if (r->q_count == OUTQ)
        return; /* full: the byte is lost */
    unsigned i = (r->q_head + r->q_count) % OUTQ;
    r->q[i] = v;
    r->q_aux[i] = aux;
    r->q_count++;
}

static void guest_reset(struct reset_ctrl *r, const char *how)
{
    machine_request_stop(r->m, ST_GUEST_RESET, "guest reset through %s", how);
}

static void i8042_write_outport(struct reset_ctrl *r, uint8_t v)
{
    r->outport = v;
    r->port92 = (uint8_t)((r->port92 & ~OUT_A20) | (v & OUT_A20));
    if (!(v & OUT_RESET_N))
        guest_reset(r, "the i8042");
}

static void i8042_command(struct reset_ctrl *r, uint8_t cmd)
{
    r->pending_cmd = 0;
    switch (cmd) {
    case 0x20: /* read command byte */
        i8042_output(r, r->ctr, false);
        break;
    case 0x60: /* write command byte */
    case 0xd1: /* write output port */
    case 0xd2: /* write keyboard output buffer */
    case 0xd3: /* write AUX output buffer (loop) */
    case 0xd4: /* write to the AUX device */
        r->pending_cmd = cmd;
        break;
    case 0xa7: r->ctr |= CTR_AUXDIS; break;
    case 0xa8: r->ctr &= (uint8_t)~CTR_AUXDIS; break;
    case 0xa9: /* AUX interface test: clock line stuck high (no port) */
        i8042_output(r, 0x02, false);
        break;
    case 0xaa: /* controller self-test */
        r->ctr |= CTR_SYS;
        i8042_output(r, 0x55, false);
        break;
    case 0xab: /* keyboard interface test: no error */
        i8042_output(r, 0x00, false);
        break;
    case 0xad: r->ctr |= CTR_KBDDIS; break;
    case 0xae: r->ctr &= (uint8_t)~CTR_KBDDIS; break;
    case 0xd0: /* read output port */
        i8042_output(r, r->outport, false);
        break;
    default:
        if (cmd >= 0xf0 && !(cmd & 1))
            guest_reset(r, "the i8042"); /* pulse the reset line */
        /* other commands (and pulses of other lines) do nothing */
        break;
    }
}

static void i8042_data(struct reset_ctrl *r, uint8_t v)
{
    uint8_t cmd = r->pending_cmd;
    r->pending_cmd = 0;
    switch (cmd) {
    case 0x60: r->ctr = v; break;
    case 0xd1: i8042_write_outport(r, v); break;
    case 0xd2: i8042_output(r, v, false); break;
    /* Echoed without the AUX flag: Linux takes this as "no AUX loop". */
    case 0xd3: i8042_output(r, v, false); break;
    case 0xd4: i8042_output(r, PS2_RESEND, true); break;
    default: /* a byte for the keyboard, which is not there */
        i8042_output(r, PS2_RESEND, false);
        break;
    }
}

static uint8_t i8042_status(const struct reset_ctrl *r)
{
    uint8_t s = STS_UNLOCKED;
    if (r->q_count) {
        s |= STS_OBF;
        if (r->q_aux[r->q_head])
            s |= STS_AUXDATA;
    }
    if (r->ctr & CTR_SYS)
        s |= STS_SYS;
    if (r->last_was_cmd)
        s |= STS_CMD;
    return s;
}

static uint8_t i8042_read_data(struct reset_ctrl *r)
{
    if (!r->q_count)
        return r->q[(r->q_head + OUTQ - 1) % OUTQ]; /* stale last byte */
    uint8_t v = r->q[r->q_head];
    r->q_head = (r->q_head + 1) % OUTQ;
    r->q_count--;
    return v;
}

static void i8042_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                     bool is_write)
{
    struct reset_ctrl *r = dev;
    /* Both ports are one byte wide: io_access() splits wider accesses. */
    (void)len;
    if (offset == 0) { /* 0x60 */
        if (is_write) {
            r->last_was_cmd = false;
            i8042_data(r, data[0]);
        } else {
            data[0] = i8042_read_data(r);
        }
    } else { /* 0x64 */
        if (is_write) {
            r->last_was_cmd = true;
            i8042_command(r, data[0]);
        } else {
            data[0] = i8042_status(r);
        }
    }
    i8042_update_irqs(r);
}

static void i8042_data_io(void *dev, uint64_t offset, uint8_t *data,
                          unsigned len, bool is_write)
{
    (void)offset;
    i8042_io(dev, 0, data, len, is_write);
}

static void i8042_cmd_io(void *dev, uint64_t offset, uint8_t *data,
                         unsigned len, bool is_write)
{
    (void)offset;
    i8042_io(dev, 1, data, len, is_write);
}

static void port92_io(void *dev, uint64_t offset, uint8_t *data, unsigned len,
                      bool is_write)
{
    struct reset_ctrl *r = dev;
    (void)offset;
    if (!is_write) {
        io_put(data, len, (r->port92 & ~1u) * 0x01010101u);
        return;
    }
    uint8_t v = data[0];
    r->port92 = v & (uint8_t)~1u;
    r->outport = (uint8_t)((r->outport & ~OUT_A20) | (v & OUT_A20));
    if (v & 1)
        guest_reset(r, "port 0x92");
}

int reset_ctrl_create(struct machine *m, struct io_space *bus,
                      struct irq_line kbd, struct irq_line aux)
{
    if (machine_find_device(m, "i8042"))
        return fail("the reset controller already exists");
    struct reset_ctrl *r = calloc(1, sizeof(*r));
    if (!r || machine_add_device(m, "i8042", r, NULL, NULL) < 0) {
        free(r);
        return fail("out of memory");
    }
    r->m = m;
    r->kbd = kbd;
    r->aux = aux;
    /* As firmware leaves it: keyboard interrupt and translation on,
     * system flag set, A20 enabled, reset line high. */
    r->ctr = CTR_KBDINT | CTR_SYS | CTR_XLATE;
    r->outport = OUT_RESET_N | OUT_A20;
    r->port92 = OUT_A20;
    if (io_register(bus, 0x60, 1, i8042_data_io, r, "i8042-data") < 0 ||
        io_register(bus, 0x64, 1, i8042_cmd_io, r, "i8042-cmd") < 0)
        return -1;
    return io_register(bus, 0x92, 1, port92_io, r, "port92");
}
