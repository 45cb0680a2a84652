/* devices.h - constructors of the PC devices, one file each in src/devices.
 * A device gets the machine core (timers, console, stop requests), the bus
 * it sits on, its base and its interrupt line(s); it registers its ranges
 * with the common io_fn handler signature, adds itself to the machine's
 * device list (name, reset, destroy), raises its line with irq_set(), and
 * never knows which CPU engine runs.  The board (src/board/pc.c) decides
 * where each one goes. */
#ifndef POPEK_DEVICES_H
#define POPEK_DEVICES_H
#include <stdint.h>

#include "../core/machine.h"

struct uart;

/* i8259A master/slave pair on 0x20/0xA0 (+ ELCR 0x4d0/0x4d1); installs
 * itself as m->intc. Must be created before the devices that raise IRQs. */
int pic_create(struct machine *m, struct io_space *bus);
/* i8254 PIT at base (0x40-0x43), channel 0 on irq, channel 2 gated by port
 * 0x61. */
int pit_create(struct machine *m, struct io_space *bus, uint16_t base,
               struct irq_line irq);
/* 16550A UART at base (0x3f8 for COM1) on irq; the first one created owns
 * the console on stdio (a second is refused). */
int uart_create(struct machine *m, struct io_space *bus, uint16_t base,
                struct irq_line irq);
/* Move pending console input into the UART receive FIFO. */
void uart_poll(struct uart *u);
/* MC146818 CMOS/RTC at base (0x70/0x71) on irq (8), host time, memory
 * size bytes. */
int cmos_create(struct machine *m, struct io_space *bus, uint16_t base,
                struct irq_line irq);
/* Port 0x80 (POST codes): writes are accepted and ignored; reads return
 * the last value written, as on most chipsets. */
int post_port_create(struct machine *m, struct io_space *bus, uint16_t base);
/* isa-debug-exit at base (0xf4): a write of v stops popek with
 * (v << 1) | 1. */
int debug_exit_create(struct machine *m, struct io_space *bus, uint16_t base);
/* Port 0x92 (fast A20 / reset) and the i8042 keyboard controller's
 * reset line on 0x60/0x64 (0xfe to 0x64 resets = stops the machine);
 * keyboard and AUX interrupt lines. */
int reset_ctrl_create(struct machine *m, struct io_space *bus,
                      struct irq_line kbd, struct irq_line aux);
/* PCI host bridge and bus 0, configuration mechanism #1 on 0xcf8/0xcfc;
 * devices join it through pci.h. */
int pci_host_create(struct machine *m, struct io_space *bus);
/* virtio devices on the PCI bus (after pci_host_create).  Bad user input
 * (an unusable image, a bad --net spec, a port that cannot be bound)
 * returns -2 with fail(); other failures -1. */
/* virtio-blk on a raw image: spec is FILE[,ro] (--disk). */
int virtio_blk_create(struct machine *m, const char *spec);
/* virtio-rng from the host's getrandom (--rng). */
int virtio_rng_create(struct machine *m);
/* virtio-net with user-mode networking (libslirp): spec is
 * user[,hostfwd=tcp:HOSTADDR:HOSTPORT-:GUESTPORT]... (--net). */
int virtio_net_create(struct machine *m, const char *spec);

struct lapic;
struct ioapic;
/* Local APIC (xAPIC) of the CPU at base (0xfee00000) on bus, with the
 * IA32_APIC_BASE and IA32_TSC_DEADLINE MSRs.  Takes the m->intc installed
 * before it (the PIC) as its ExtINT source on LINT0 and installs itself as
 * m->intc and m->msi.  NULL with fail() on error. */
struct lapic *lapic_create(struct machine *m, struct io_space *bus,
                           uint64_t base);
/* Who hears the EOI of a level-triggered vector (the I/O APIC). */
void lapic_set_eoi_hook(struct lapic *l, void (*fn)(void *ctx, int vector),
                        void *ctx);
/* Unit tests: the host clock the APIC timer counts on (NULL = clock_ns). */
void lapic_set_clock(struct lapic *l, uint64_t (*now)(void *ctx), void *ctx);
/* I/O APIC (24 pins) at base (0xfec00000) on bus; sends its interrupts as
 * MSI messages through machine_msi().  NULL with fail() on error. */
struct ioapic *ioapic_create(struct machine *m, struct io_space *bus,
                             uint64_t base);
/* Drive input pin (0-23) to level (1 = asserted). */
void ioapic_set_irq(struct ioapic *io, int pin, int level);
/* The local APIC's EOI broadcast for vector (an ioapic as ctx). */
void ioapic_eoi(void *ctx, int vector);

#endif
