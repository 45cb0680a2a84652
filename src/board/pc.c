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

/* The virtio devices the command line asked for, on the PCI bus. */
static int pc_board_virtio(struct machine *m)
{
    int rc;
    for (int i = 0; i < m->cfg.ndisks; i++)
        if ((rc = virtio_blk_create(m, m->cfg.disks[i])) < 0)
            return rc;
    if (m->cfg.net && (rc = virtio_net_create(m, m->cfg.net)) < 0)
        return rc;
    if (m->cfg.rng && (rc = virtio_rng_create(m)) < 0)
        return rc;
    return 0;
}

int pc_board_option(struct machine_config *cfg, const char *opt,
                    const char *arg)
{
    if (!strcmp(opt, "disk")) {
        int max = (int)(sizeof(cfg->disks) / sizeof(cfg->disks[0]));
        if (cfg->ndisks == max)
            return fail("at most %d --disk options", max);
        cfg->disks[cfg->ndisks++] = arg;
    } else if (!strcmp(opt, "net")) {
        if (cfg->net)
            return fail("only one --net is supported");
        cfg->net = arg;
    } else if (!strcmp(opt, "rng")) {
        cfg->rng = true;
    } else {
        return fail("unknown board option --%s", opt);
    }
    return 0;
}

/* The interrupt wiring of a PC with APICs: a device's ISA IRQ / GSI line
 * reaches the i8259 pair (IRQ 0-15) and the I/O APIC (ISA IRQ 0 on pin 2,
 * the interrupt source override every PC firmware reports; others on the
 * pin of the same number); the CPU's INTR and INTA go to the local APIC,
 * which passes the PIC's ExtINT through LINT0. */
struct pc_irq {
    struct intc_ops pic, cpu;
    struct ioapic *ioapic;
    /* The PIT's and the RTC's outputs reach IRQ 0 / IRQ 8 through the
     * HPET's legacy replacement gate (muted while LEG_RT_CNF is set). */
    bool hpet_legacy;
    int pit_level, rtc_level;
};

/* Machine lines of the PIT and RTC outputs (before the gate). */
#define PC_LINE_PIT 32
#define PC_LINE_RTC 33

static void pc_route(struct pc_irq *p, int irq, int level)
{
    if (irq < 16 && p->pic.set_irq)
        p->pic.set_irq(p->pic.ctx, irq, level);
    ioapic_set_irq(p->ioapic, irq == 0 ? 2 : irq, level);
}

static void pc_set_irq(void *ctx, int irq, int level)
{
    struct pc_irq *p = ctx;
    if (irq == PC_LINE_PIT || irq == PC_LINE_RTC) {
        *(irq == PC_LINE_PIT ? &p->pit_level : &p->rtc_level) = level;
        if (p->hpet_legacy)
            return;
        irq = irq == PC_LINE_PIT ? 0 : 8;
    }
    pc_route(p, irq, level);
}

static void pc_hpet_legacy(void *ctx, bool on)
{
    struct pc_irq *p = ctx;
    p->hpet_legacy = on;
    if (p->pit_level)
        pc_route(p, 0, !on);
    if (p->rtc_level)
        pc_route(p, 8, !on);
}

static bool pc_intr(void *ctx)
{
    struct pc_irq *p = ctx;
    return p->cpu.intr(p->cpu.ctx);
}

static int pc_ack(void *ctx)
{
    struct pc_irq *p = ctx;
    return p->cpu.ack(p->cpu.ctx);
}

static bool pc_nmi(void *ctx, bool take)
{
    struct pc_irq *p = ctx;
    return p->cpu.nmi && p->cpu.nmi(p->cpu.ctx, take);
}

/* Local APIC and I/O APIC in front of the PIC (created before them). */
static int pc_apic_create(struct machine *m)
{
    struct pc_irq *p = calloc(1, sizeof(*p));
    if (!p || machine_add_device(m, "pc-irq", p, NULL, NULL) < 0) {
        free(p);
        return fail("out of memory");
    }
    p->pic = m->intc;
    struct lapic *l = lapic_create(m, &m->mmio, 0xfee00000u);
    if (!l)
        return -1;
    p->cpu = m->intc;
    p->ioapic = ioapic_create(m, &m->mmio, 0xfec00000u);
    if (!p->ioapic)
        return -1;
    lapic_set_eoi_hook(l, ioapic_eoi, p->ioapic);
    m->intc = (struct intc_ops){.ctx = p, .set_irq = pc_set_irq,
                                .intr = pc_intr, .ack = pc_ack,
                                .nmi = pc_nmi};
    return 0;
}

int pc_board_create(struct machine *m)
{
    struct io_space *pio = &m->pio;
    if (pic_create(m, pio) < 0 ||
        pit_create(m, pio, 0x40, isa_irq(m, PC_LINE_PIT)) < 0 ||
        uart_create(m, pio, 0x3f8, isa_irq(m, 4)) < 0 ||
        cmos_create(m, pio, 0x70, isa_irq(m, PC_LINE_RTC)) < 0 ||
        post_port_create(m, pio, 0x80) < 0 ||
        debug_exit_create(m, pio, 0xf4) < 0 ||
        reset_ctrl_create(m, pio, isa_irq(m, 1), isa_irq(m, 12)) < 0 ||
        pci_host_create(m, pio) < 0 ||
        pc_apic_create(m) < 0 ||
        acpi_pm_create(m, pio, FW_PM1A_EVT, FW_GPE0, isa_irq(m, FW_SCI_IRQ)) < 0 ||
        hpet_create(m, &m->mmio, FW_HPET_ADDR) < 0)
        return -1;
    hpet_set_legacy_hook(m, pc_hpet_legacy, machine_find_device(m, "pc-irq"));
    if (m->cfg.cpu_kvm && m->cfg.cpu_kvmclock && kvmclock_create(m) < 0)
        return -1;
    if (cga_create(m, pio, 0x3d0) < 0 ||
        ata_create(m, pio, 0x1f0, 0x3f6, isa_irq(m, 14)) < 0 ||
        fw_cfg_create(m, pio, 0x510) < 0 ||
        pc_testdev_create(m, pio, &m->mmio) < 0)
        return -1;
    return pc_board_virtio(m);
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
    /* The BIOS data area, MP and ACPI tables, as firmware leaves them
     * (whatever the kernel format; the e820 map reserves their area). */
    if (fw_write_tables(m) < 0 || load_kernel(m, &req, &entry) < 0)
        goto out;
    /* QEMU runs SeaBIOS before its multiboot loader: leave the IVT, PIC
     * and PIT as a BIOS does (firmware/bios_state.c). */
    if (multiboot_detect(req.kernel, req.kernel_len)) {
        uint8_t *low = gpa_to_hva(m, 0, FW_LOW_SIZE);
        if (low)
            fw_bios_ivt_build(low);
        fw_bios_hw_init(m);
    }
    rc = m->ops->set_state(m, &entry);
out:
    free(k);
    free(i);
    return rc;
}
