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
        pci_host_create(m, pio) < 0)
        return -1;
    if (m->cfg.cpu_kvm && m->cfg.cpu_kvmclock && kvmclock_create(m) < 0)
        return -1;
    if (cga_create(m, pio, 0x3d0) < 0 ||
        ata_create(m, pio, 0x1f0, 0x3f6, isa_irq(m, 14)) < 0 ||
        fw_cfg_create(m, pio, 0x510) < 0 ||
        pc_testdev_create(m, pio, &m->mmio) < 0)
        return -1;
    return 0;
}

int pc_board_check_config(const struct machine_config *cfg)
{
    for (int i = 0; i < cfg->n_ide; i++)
        if (ata_check_image(cfg->ide[i].path, cfg->ide[i].ro) < 0)
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
    if (load_kernel(m, &req, &entry) < 0)
        goto out;
    rc = m->ops->set_state(m, &entry);
out:
    free(k);
    free(i);
    return rc;
}
