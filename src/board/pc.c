/* pc.c - the PC board: creates popek's PC devices on the machine core and
 * wires them as on a PC (ports, ISA IRQ lines), then loads the guest.  The
 * whole board is wired in pc_board_create(): adding a device is a file in
 * src/devices plus one line here. */
#include "board.h"

#include <stdlib.h>
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "../devices/devices.h"
#include "../firmware/firmware.h"
#include "../loaders/loader.h"

static struct irq_line isa_irq(struct machine *m, int irq)
{
    return (struct irq_line){.m = m, .irq = irq};
}

int pc_board_create(struct machine *m)
{
    struct io_space *pio = &m->pio;
    if (pic_create(m, pio) < 0 ||
        pit_create(m, pio, 0x40, isa_irq(m, 0)) < 0 ||
        uart_create(m, pio, 0x3f8, isa_irq(m, 4)) < 0 ||
        cmos_create(m, pio, 0x70, isa_irq(m, 8)) < 0 ||
        post_port_create(m, pio, 0x80) < 0 ||
        debug_exit_create(m, pio, 0xf4) < 0 ||
        reset_ctrl_create(m, pio, isa_irq(m, 1), isa_irq(m, 12)) < 0 ||
        pci_host_create(m, pio) < 0 ||
        acpi_pm_create(m, pio, FW_PM1A_EVT, FW_GPE0, isa_irq(m, FW_SCI_IRQ)) < 0 ||
        hpet_create(m, &m->mmio, FW_HPET_ADDR) < 0)
        return -1;
    return 0;
}

int pc_board_load(struct machine *m)
{
    struct boot_request req = {.kernel_name = m->cfg.kernel,
                               .initrd_name = m->cfg.initrd,
                               .cmdline = m->cfg.append,
                               .long_mode_ok = m->ops->caps &
                                               ENGINE_CAP_LONG_MODE};
    uint8_t *k = NULL, *i = NULL;
    int rc = -1;
    if (read_file(m->cfg.kernel, &k, &req.kernel_len) < 0)
        goto out;
    req.kernel = k;
    if (m->cfg.initrd) {
        if (read_file(m->cfg.initrd, &i, &req.initrd_len) < 0)
            goto out;
        req.initrd = i;
    }
    struct cpu_state entry;
    memset(&entry, 0, sizeof(entry));
    /* The BIOS data area, MP and ACPI tables, as firmware leaves them
     * (whatever the kernel format; the e820 map reserves their area). */
    if (fw_write_tables(m) < 0 || load_kernel(m, &req, &entry) < 0)
        goto out;
    rc = m->ops->set_state(m, &entry);
out:
    free(k);
    free(i);
    return rc;
}
