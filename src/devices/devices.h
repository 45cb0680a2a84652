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
/* CGA/VGA colour text mode: CRTC and status ports at base (0x3d0-0x3df:
 * index/data 0x3d4/0x3d5, status 0x3da); the text buffer at 0xb8000 is
 * guest RAM, blanked at creation and reset. */
int cga_create(struct machine *m, struct io_space *bus, uint16_t base);
/* Primary ATA channel in PIO mode: command block at base (0x1f0), device
 * control / alternate status at ctrl (0x3f6), INTRQ on irq (14); drives
 * from m->cfg.ide (opened here: -1 with fail() if an image is bad). */
int ata_create(struct machine *m, struct io_space *bus, uint16_t base,
               uint16_t ctrl, struct irq_line irq);
/* Check an IDE image before the machine is built: -1 with fail() saying
 * what is wrong (missing, unreadable, not writable without ro, size not a
 * multiple of 512). */
int ata_check_image(const char *path, bool ro);
/* Sectors read / written and flushes so far (0 without the device). */
void ata_stats(struct machine *m, uint64_t *read, uint64_t *written,
               uint64_t *flushes);
/* QEMU's fw_cfg, port interface: selector at base (0x510), data base+1. */
int fw_cfg_create(struct machine *m, struct io_space *bus, uint16_t base);
/* QEMU's pc-testdev: ports 0xe0-0xeb, IRQ lines 0x2000-0x2017, 64 KiB of
 * scratch MMIO at 0xff000000 on mem. */
int pc_testdev_create(struct machine *m, struct io_space *bus,
                      struct io_space *mem);
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
 * devices join it through pci.h.  Also the reset control register at 0xcf9
 * (0x06 resets). */
int pci_host_create(struct machine *m, struct io_space *bus);
/* KVM's paravirtual clock on the MSR bus (--cpu kvm). */
int kvmclock_create(struct machine *m);
/* ACPI fixed hardware (PIIX4-style): PM1a event block at base, PM1a control
 * at base+4, the 3.579545 MHz PM timer at base+8, the GPE0 block at gpe0;
 * the SCI on sci (level).  S5 (SLP_EN with \_S5's type) powers off. */
int acpi_pm_create(struct machine *m, struct io_space *bus, uint16_t base,
                   uint16_t gpe0, struct irq_line sci);
/* Press the ACPI power button (PWRBTN_STS; SCI if enabled). */
void acpi_pm_power_button(struct machine *m);
/* HPET at base (1 KiB): 100 MHz main counter, 3 comparators; legacy route
 * to IRQ 0 / IRQ 8, or I/O APIC pins 2-23 (the machine's GSI lines). */
int hpet_create(struct machine *m, struct io_space *bus, uint64_t base);
/* Told when LEG_RT_CNF changes (and cleared at reset): while it is set the
 * board mutes the PIT's IRQ 0 and the RTC's IRQ 8, whose lines belong to
 * HPET timers 0 and 1 then (as QEMU's HPET does). */
void hpet_set_legacy_hook(struct machine *m, void (*fn)(void *ctx, bool on),
                          void *ctx);
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
