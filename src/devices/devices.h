/* devices.h - constructors of the PC devices, one file each in src/devices.
 * Each registers its ports/MMIO ranges on the machine's io spaces with the
 * common io_fn handler signature, raises IRQs with machine_set_irq(), and
 * never knows which CPU engine runs. */
#ifndef POPEK_DEVICES_H
#define POPEK_DEVICES_H
#include <stdint.h>

struct machine;
struct uart;

/* i8259A master/slave pair on 0x20/0xA0 (+ ELCR 0x4d0/0x4d1); installs
 * itself as m->intc. Must be created before the devices that raise IRQs. */
int pic_create(struct machine *m);
/* i8254 PIT on 0x40-0x43, channel 0 on IRQ 0, channel 2 gated by port 0x61. */
int pit_create(struct machine *m);
/* 16550A UART at base (0x3f8 for COM1) on irq, console on stdio. */
int uart_create(struct machine *m, uint16_t base, int irq);
/* Move pending console input into the UART receive FIFO. */
void uart_poll(struct uart *u);
/* MC146818 CMOS/RTC on 0x70/0x71 (IRQ 8), host time, memory size bytes. */
int cmos_create(struct machine *m);
/* Port 0x80 (POST codes): writes are accepted and ignored; reads return
 * the last value written, as on most chipsets. */
int post_port_create(struct machine *m);
/* isa-debug-exit on 0xf4: a write of v stops popek with (v << 1) | 1. */
int debug_exit_create(struct machine *m);
/* Port 0x92 (fast A20 / reset) and the i8042 keyboard controller's
 * reset line on 0x60/0x64 (0xfe to 0x64 resets = stops the machine). */
int reset_ctrl_create(struct machine *m);
/* PCI host bridge, configuration mechanism #1 on 0xcf8/0xcfc: no devices. */
int pci_host_create(struct machine *m);

#endif
