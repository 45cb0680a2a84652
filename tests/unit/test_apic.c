/* test_apic.c - unit tests of the local APIC (src/devices/lapic.c) and the
 * I/O APIC (src/devices/ioapic.c) on a bare machine (no engine): register
 * semantics, IA32_APIC_BASE and global disable, priorities (TPR/PPR, ISR
 * and IRR, EOI order), the spurious vector, ExtINT from the PIC through
 * LINT0, NMI and self-IPIs, the timer in one-shot, periodic and
 * TSC-deadline modes on a fake clock, I/O APIC routing, masking, logical
 * destinations, remote IRR and level re-assertion after EOI, and the PC
 * board's wiring (ISA IRQ 0 to pin 2 and to the PIC). */
#include "bare_machine.h"
#include "board/board.h"
#include "core/machine.h"
#include "devices/devices.h"
#include <sys/mman.h>

#include "test.h"

static uint64_t fake_ns = 1000000000ull;
static uint64_t fake_now(void *ctx)
{
    (void)ctx;
    return fake_ns;
}

struct rig {
    struct machine *m;
    struct lapic *l;
    struct ioapic *io;
};

/* PICs as Linux programs them: vectors 0x20/0x28, nothing masked. */
static void pic_init(struct machine *m)
{
    static const uint8_t seq[][2] = {
        {0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, 0x01},
        {0xa0, 0x11}, {0xa1, 0x28}, {0xa1, 0x02}, {0xa1, 0x01},
        {0x21, 0x00}, {0xa1, 0x00}};
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        outb(m, seq[i][0], seq[i][1]);
}

static struct rig rig_new(void)
{
    struct rig r;
    r.m = bare_machine_with_ram(16 << 20); /* the CGA text buffer is RAM */
    fake_ns = 1000000000ull;
    if (pic_create(r.m, &r.m->pio) < 0)
        abort();
    pic_init(r.m);
    r.l = lapic_create(r.m, &r.m->mmio, 0xfee00000u);
    r.io = ioapic_create(r.m, &r.m->mmio, 0xfec00000u);
    if (!r.l || !r.io)
        abort();
    lapic_set_eoi_hook(r.l, ioapic_eoi, r.io);
    lapic_set_clock(r.l, fake_now, NULL);
    return r;
}

static uint32_t rd(struct machine *m, uint64_t addr)
{
    uint8_t d[4] = {0};
    io_access(&m->mmio, addr, d, 4, false);
    return io_get(d, 4);
}

static void wr(struct machine *m, uint64_t addr, uint32_t v)
{
    uint8_t d[4];
    io_put(d, 4, v);
    io_access(&m->mmio, addr, d, 4, true);
}

#define LAPIC(reg) (0xfee00000u + (reg))
static uint32_t lr(struct rig *r, uint32_t reg) { return rd(r->m, LAPIC(reg)); }
static void lw(struct rig *r, uint32_t reg, uint32_t v) { wr(r->m, LAPIC(reg), v); }
static uint32_t ior(struct rig *r, uint32_t reg)
{
    wr(r->m, 0xfec00000u, reg);
    return rd(r->m, 0xfec00010u);
}
static void iow(struct rig *r, uint32_t reg, uint32_t v)
{
    wr(r->m, 0xfec00000u, reg);
    wr(r->m, 0xfec00010u, v);
}

static bool intr(struct rig *r) { return r->m->intc.intr(r->m->intc.ctx); }
static int ack(struct rig *r) { return r->m->intc.ack(r->m->intc.ctx); }
static bool irr(struct rig *r, int v) { return lr(r, 0x200 + 0x10 * (v >> 5)) >> (v & 31) & 1; }
static bool isr(struct rig *r, int v) { return lr(r, 0x100 + 0x10 * (v >> 5)) >> (v & 31) & 1; }
static bool tmr(struct rig *r, int v) { return lr(r, 0x180 + 0x10 * (v >> 5)) >> (v & 31) & 1; }

static void msi(struct rig *r, int vector, bool level)
{
    machine_msi(r->m, 0xfee00000u, (uint32_t)vector | (level ? 1u << 15 : 0));
}

static void sw_enable(struct rig *r)
{
    lw(r, 0xf0, 0x1ff);
}

/* Fire the vtimers due at fake_ns; returns how many fired. */
static int fire(struct rig *r)
{
    return fire_timers_at(r->m, fake_ns);
}

static uint64_t next_deadline(struct rig *r)
{
    return earliest_deadline(r->m);
}

static void rig_free(struct rig *r)
{
    machine_destroy(r->m);
}

/* ---- local APIC ---- */

static void test_lapic_registers(void)
{
    struct rig r = rig_new();
    uint64_t v = 0;
    CHECK(machine_msr(r.m, 0x1b, &v, false) && v == 0xfee00900u);
    CHECK(lr(&r, 0x30) == 0x50014);
    CHECK(lr(&r, 0x20) == 0);
    lw(&r, 0x20, 0x0f000000u);
    CHECK(lr(&r, 0x20) == 0x0f000000u);
    lw(&r, 0x20, 0);
    lw(&r, 0x30, 0x12345678); /* read-only */
    CHECK(lr(&r, 0x30) == 0x50014);
    CHECK(lr(&r, 0xf0) == 0xff);           /* SVR reset: disabled */
    CHECK(lr(&r, 0x350) == 0x700);         /* LINT0 ExtINT */
    CHECK(lr(&r, 0x360) == 0x10000);       /* LINT1 masked */
    CHECK(lr(&r, 0xe0) == 0xffffffffu);    /* DFR flat */
    lw(&r, 0x320, 0x40);                   /* disabled: mask forced */
    CHECK(lr(&r, 0x320) == 0x10040);
    sw_enable(&r);
    lw(&r, 0x320, 0x20040);
    CHECK(lr(&r, 0x320) == 0x20040);       /* TSC-deadline mode */
    lw(&r, 0x80, 0x1ff);
    CHECK(lr(&r, 0x80) == 0xff);           /* TPR: 8 bits */
    lw(&r, 0x80, 0);
    lw(&r, 0xd0, 0xffffffffu);
    CHECK(lr(&r, 0xd0) == 0xff000000u);
    lw(&r, 0xe0, 0x0fffffffu);
    CHECK(lr(&r, 0xe0) == 0x0fffffffu);    /* cluster model */
    lw(&r, 0x3e0, 0xff);
    CHECK(lr(&r, 0x3e0) == 0xb);
    /* A byte read of the version register. */
    uint8_t b = 0;
    io_access(&r.m->mmio, LAPIC(0x32), &b, 1, false);
    CHECK(b == 0x05);
    /* ESR: illegal register write recorded, reported after an ESR write. */
    lw(&r, 0x370, 0x10000);
    lw(&r, 0x2f0 + 0x100, 1); /* 0x3f0: reserved */
    CHECK(lr(&r, 0x280) == 0);
    lw(&r, 0x280, 0);
    CHECK(lr(&r, 0x280) & 0x80);
    lw(&r, 0x280, 0);
    CHECK(lr(&r, 0x280) == 0);
    /* Software disable masks every LVT. */
    lw(&r, 0x320, 0x40);
    lw(&r, 0xf0, 0xff);
    CHECK(lr(&r, 0x320) & 0x10000);
    rig_free(&r);
}

static void test_lapic_global_disable(void)
{
    struct rig r = rig_new();
    sw_enable(&r);
    lw(&r, 0x350, 0x10700); /* LINT0 masked: PIC blocked */
    r.m->intc.set_irq(r.m->intc.ctx, 3, 1);
    CHECK(!intr(&r));
    uint64_t v = 0xfee00000u; /* EN clear */
    CHECK(machine_msr(r.m, 0x1b, &v, true));
    v = 0;
    machine_msr(r.m, 0x1b, &v, false);
    CHECK(v == 0xfee00100u);                /* BSP stays */
    CHECK(lr(&r, 0x30) == 0xffffffffu);     /* registers gone */
    CHECK(intr(&r));                        /* the PIC passes through */
    CHECK(ack(&r) == 0x23);
    outb(r.m, 0x20, 0x20);
    msi(&r, 0x40, false);                   /* not accepted while off */
    v = 0xfee00900u;
    machine_msr(r.m, 0x1b, &v, true);
    CHECK(!(lr(&r, 0xf0) & 0x100));         /* comes back sw-disabled */
    CHECK(!irr(&r, 0x40));
    rig_free(&r);
}

static void test_lapic_priorities(void)
{
    struct rig r = rig_new();
    lw(&r, 0x350, 0x10700); /* no ExtINT */
    msi(&r, 0x45, false);
    CHECK(irr(&r, 0x45));
    CHECK(!intr(&r));       /* software disabled: held */
    sw_enable(&r);
    msi(&r, 0x31, false);
    msi(&r, 0x42, false);
    CHECK(intr(&r));
    CHECK(ack(&r) == 0x45);
    CHECK(isr(&r, 0x45) && !irr(&r, 0x45));
    CHECK(lr(&r, 0xa0) == 0x40);            /* PPR = ISR class */
    CHECK(!intr(&r));                       /* 0x42: same class waits */
    msi(&r, 0x51, false);
    CHECK(intr(&r) && ack(&r) == 0x51);     /* nests */
    lw(&r, 0xb0, 0);                        /* EOI retires 0x51 */
    CHECK(!isr(&r, 0x51) && isr(&r, 0x45));
    CHECK(!intr(&r));
    lw(&r, 0xb0, 0);                        /* EOI retires 0x45 */
    CHECK(intr(&r) && ack(&r) == 0x42);
    lw(&r, 0xb0, 0);
    CHECK(intr(&r) && ack(&r) == 0x31);
    lw(&r, 0xb0, 0);
    CHECK(!intr(&r));
    lw(&r, 0xb0, 0);                        /* EOI with nothing: no-op */
    /* TPR. */
    lw(&r, 0x80, 0x50);
    msi(&r, 0x45, false);
    CHECK(!intr(&r) && lr(&r, 0xa0) == 0x50);
    lw(&r, 0x80, 0x40);
    CHECK(!intr(&r));                       /* class 4 <= 4 */
    CHECK((lr(&r, 0x90) & 0xf0) == 0x40);   /* APR */
    lw(&r, 0x80, 0x3f);
    CHECK(intr(&r) && ack(&r) == 0x45);
    lw(&r, 0xb0, 0);
    lw(&r, 0x80, 0);
    /* Vectors below 16 are illegal: ESR, nothing requested. */
    msi(&r, 0x05, false);
    CHECK(!irr(&r, 0x05));
    lw(&r, 0x280, 0);
    CHECK(lr(&r, 0x280) & 0x40);
    rig_free(&r);
}

static void test_lapic_spurious(void)
{
    struct rig r = rig_new();
    lw(&r, 0x350, 0x10700);
    lw(&r, 0xf0, 0x1ef);                    /* spurious vector 0xef */
    msi(&r, 0x61, false);
    CHECK(intr(&r));
    lw(&r, 0x80, 0x70);                     /* TPR raised before INTA */
    CHECK(ack(&r) == 0xef);
    CHECK(irr(&r, 0x61) && !isr(&r, 0x61)); /* still requested */
    lw(&r, 0x80, 0);
    CHECK(ack(&r) == 0x61);
    rig_free(&r);
}

static void test_lapic_extint_nmi_ipi(void)
{
    struct rig r = rig_new();
    /* Reset state: virtual wire, the PIC reaches the CPU. */
    r.m->intc.set_irq(r.m->intc.ctx, 4, 1);
    CHECK(intr(&r) && ack(&r) == 0x24);
    outb(r.m, 0x20, 0x20);
    r.m->intc.set_irq(r.m->intc.ctx, 4, 0);
    sw_enable(&r);
    lw(&r, 0x350, 0x10700);                 /* LINT0 masked */
    r.m->intc.set_irq(r.m->intc.ctx, 5, 1);
    CHECK(!intr(&r));
    lw(&r, 0x350, 0x700);
    CHECK(intr(&r) && ack(&r) == 0x25);
    outb(r.m, 0x20, 0x20);
    lw(&r, 0x350, 0x10700);
    /* NMI self-IPI. */
    lw(&r, 0x300, 0x40400);
    CHECK(intr(&r) && ack(&r) == 2);
    CHECK(!intr(&r));
    /* Fixed self-IPI, destination physical 0, logical flat. */
    lw(&r, 0x310, 0);
    lw(&r, 0x300, 0x66);
    CHECK(irr(&r, 0x66) && !tmr(&r, 0x66));
    lw(&r, 0x310, 0x01000000u);
    lw(&r, 0x300, 0x67);                    /* physical 1: nobody */
    CHECK(!irr(&r, 0x67));
    lw(&r, 0xd0, 0x02000000u);
    lw(&r, 0x310, 0x06000000u);
    lw(&r, 0x300, 0x800 | 0x68);            /* logical 0x06 & LDR 0x02 */
    CHECK(irr(&r, 0x68));
    lw(&r, 0x300, 0xc0000 | 0x69);          /* all but self */
    CHECK(!irr(&r, 0x69));
    lw(&r, 0x300, 0xc0500);                 /* INIT to others: ignored */
    lw(&r, 0x300, 0xc0610);                 /* SIPI */
    CHECK(lr(&r, 0xf0) == 0x1ff);
    CHECK((lr(&r, 0x300) & 0x1000) == 0);   /* delivery status idle */
    rig_free(&r);
}

static void test_lapic_timer_oneshot_periodic(void)
{
    struct rig r = rig_new();
    sw_enable(&r);
    lw(&r, 0x350, 0x10700);
    lw(&r, 0x3e0, 0x0);                     /* divide by 2 */
    lw(&r, 0x320, 0x40);                    /* one-shot, vector 0x40 */
    lw(&r, 0x380, 1000);
    CHECK(lr(&r, 0x390) == 1000);
    CHECK(next_deadline(&r) == fake_ns + 2000);
    fake_ns += 500;
    CHECK(lr(&r, 0x390) == 750);
    fake_ns += 1499;
    CHECK(fire(&r) == 0 && !irr(&r, 0x40));
    fake_ns += 1;
    CHECK(fire(&r) == 1 && irr(&r, 0x40));
    CHECK(lr(&r, 0x390) == 0);
    CHECK(next_deadline(&r) == 0);          /* one-shot: done */
    CHECK(ack(&r) == 0x40);
    lw(&r, 0xb0, 0);
    /* Divide change keeps the count: 1000 at /2, 400 done, then /1. */
    lw(&r, 0x380, 1000);
    fake_ns += 800;
    CHECK(lr(&r, 0x390) == 600);
    lw(&r, 0x3e0, 0xb);
    CHECK(lr(&r, 0x390) == 600);
    CHECK(next_deadline(&r) == fake_ns + 600);
    lw(&r, 0x380, 0);                       /* 0 stops */
    CHECK(next_deadline(&r) == 0);
    /* Periodic: 100 us, /1. */
    lw(&r, 0x320, 0x20041);
    lw(&r, 0x380, 100000);
    uint64_t t0 = fake_ns;
    CHECK(next_deadline(&r) == t0 + 100000);
    fake_ns = t0 + 100000;
    CHECK(fire(&r) == 1 && irr(&r, 0x41));
    CHECK(next_deadline(&r) == t0 + 200000);
    fake_ns = t0 + 150000;
    CHECK(lr(&r, 0x390) == 50000);
    fake_ns = t0 + 1000000 + 10;            /* late: missed periods coalesce */
    CHECK(fire(&r) == 1);
    CHECK(next_deadline(&r) == t0 + 1100000);
    /* Masked: counts, fires nothing. */
    CHECK(ack(&r) == 0x41);
    lw(&r, 0xb0, 0);
    lw(&r, 0x320, 0x30041);
    fake_ns = t0 + 1100000;
    CHECK(fire(&r) == 1 && !irr(&r, 0x41));
    CHECK(next_deadline(&r) == t0 + 1200000);
    /* A mode change disarms. */
    lw(&r, 0x320, 0x41);
    CHECK(next_deadline(&r) == 0 && lr(&r, 0x380) == 0);
    /* A tiny periodic count does not flood the host. */
    lw(&r, 0x320, 0x20041);
    lw(&r, 0x380, 1);
    fake_ns += 1;
    fire(&r);
    CHECK(next_deadline(&r) >= fake_ns + 10000);
    rig_free(&r);
}

static void test_lapic_tsc_deadline(void)
{
    struct rig r = rig_new();
    sw_enable(&r);
    lw(&r, 0x350, 0x10700);
    r.m->tsc_offset = 5000;                 /* guest TSC = ns + 5000 */
    uint64_t v = fake_ns + 5000 + 3000;
    CHECK(machine_msr(r.m, 0x6e0, &v, true)); /* not in deadline mode */
    v = 1;
    machine_msr(r.m, 0x6e0, &v, false);
    CHECK(v == 0);
    CHECK(next_deadline(&r) == 0);
    lw(&r, 0x320, 0x40050);
    v = fake_ns + 5000 + 3000;
    machine_msr(r.m, 0x6e0, &v, true);
    uint64_t back = 0;
    machine_msr(r.m, 0x6e0, &back, false);
    CHECK(back == v);
    CHECK(next_deadline(&r) == fake_ns + 3000);
    lw(&r, 0x380, 777);                     /* ignored */
    CHECK(lr(&r, 0x380) == 0 && lr(&r, 0x390) == 0);
    fake_ns += 3000;
    CHECK(fire(&r) == 1 && irr(&r, 0x50));
    machine_msr(r.m, 0x6e0, &back, false);
    CHECK(back == 0);
    CHECK(ack(&r) == 0x50);
    lw(&r, 0xb0, 0);
    /* In the past: at once, without a timer. */
    v = fake_ns;                            /* TSC now is fake_ns + 5000 */
    machine_msr(r.m, 0x6e0, &v, true);
    CHECK(irr(&r, 0x50) && next_deadline(&r) == 0);
    CHECK(ack(&r) == 0x50);
    lw(&r, 0xb0, 0);
    /* 0 disarms. */
    v = fake_ns + 100000;
    machine_msr(r.m, 0x6e0, &v, true);
    CHECK(next_deadline(&r) != 0);
    v = 0;
    machine_msr(r.m, 0x6e0, &v, true);
    CHECK(next_deadline(&r) == 0);
    rig_free(&r);
}

/* ---- I/O APIC ---- */

static void test_ioapic_registers(void)
{
    struct rig r = rig_new();
    CHECK(ior(&r, 0) == 0x01000000u);
    CHECK(ior(&r, 1) == 0x170011u);
    CHECK(ior(&r, 2) == 0x01000000u);
    bool masked = true;
    for (uint32_t p = 0; p < 24; p++)
        masked &= (ior(&r, 0x10 + 2 * p) & 0x10000) != 0;
    CHECK(masked);
    iow(&r, 0x10 + 2 * 23, 0xffffffffu);
    CHECK(ior(&r, 0x10 + 2 * 23) == 0x1afffu); /* no remote IRR/DS bits */
    iow(&r, 0x11 + 2 * 23, 0xffffffffu);
    CHECK(ior(&r, 0x11 + 2 * 23) == 0xff000000u);
    CHECK(ior(&r, 0x10 + 2 * 24) == 0);        /* no pin 24 */
    wr(r.m, 0xfec00000u, 0x12);
    CHECK(rd(r.m, 0xfec00000u) == 0x12);       /* IOREGSEL reads back */
    rig_free(&r);
}

static void test_ioapic_edge_and_mask(void)
{
    struct rig r = rig_new();
    sw_enable(&r);
    lw(&r, 0x350, 0x10700);
    iow(&r, 0x11 + 2 * 2, 0);
    iow(&r, 0x10 + 2 * 2, 0x30);               /* edge, physical 0 */
    ioapic_set_irq(r.io, 2, 1);
    CHECK(irr(&r, 0x30) && !tmr(&r, 0x30));
    CHECK(ack(&r) == 0x30);
    ioapic_set_irq(r.io, 2, 1);                /* no new edge */
    CHECK(!irr(&r, 0x30));
    lw(&r, 0xb0, 0);
    ioapic_set_irq(r.io, 2, 0);
    iow(&r, 0x10 + 2 * 2, 0x10030);            /* masked */
    ioapic_set_irq(r.io, 2, 1);
    CHECK(!irr(&r, 0x30));
    ioapic_set_irq(r.io, 2, 0);
    iow(&r, 0x10 + 2 * 2, 0x30);               /* latched edge goes now */
    CHECK(irr(&r, 0x30));
    ack(&r);
    lw(&r, 0xb0, 0);
    /* Logical destination, flat model. */
    lw(&r, 0xd0, 0x01000000u);
    iow(&r, 0x11 + 2 * 3, 0x02000000u);
    iow(&r, 0x10 + 2 * 3, 0x800 | 0x33);
    ioapic_set_irq(r.io, 3, 1);
    CHECK(!irr(&r, 0x33));                     /* not this CPU */
    ioapic_set_irq(r.io, 3, 0);
    iow(&r, 0x11 + 2 * 3, 0x03000000u);
    ioapic_set_irq(r.io, 3, 1);
    CHECK(irr(&r, 0x33));
    ack(&r);
    lw(&r, 0xb0, 0);
    /* Lowest priority goes to the one CPU too; physical broadcast. */
    iow(&r, 0x11 + 2 * 4, 0xff000000u);
    iow(&r, 0x10 + 2 * 4, 0x100 | 0x34);
    ioapic_set_irq(r.io, 4, 1);
    CHECK(irr(&r, 0x34));
    ack(&r);
    lw(&r, 0xb0, 0);
    /* ExtINT: the PIC answers. */
    iow(&r, 0x10 + 2 * 0, 0x700);
    r.m->intc.set_irq(r.m->intc.ctx, 6, 1);   /* the PIC has IRQ 6 */
    CHECK(!intr(&r));                          /* LINT0 masked */
    ioapic_set_irq(r.io, 0, 1);
    CHECK(intr(&r) && ack(&r) == 0x26);
    rig_free(&r);
}

static void test_ioapic_level_remote_irr(void)
{
    struct rig r = rig_new();
    sw_enable(&r);
    lw(&r, 0x350, 0x10700);
    iow(&r, 0x11 + 2 * 9, 0);
    iow(&r, 0x10 + 2 * 9, 0x8000 | 0x39);      /* level */
    ioapic_set_irq(r.io, 9, 1);
    CHECK(irr(&r, 0x39) && tmr(&r, 0x39));
    CHECK(ior(&r, 0x10 + 2 * 9) & 0x4000);     /* remote IRR */
    CHECK(ack(&r) == 0x39);
    ioapic_set_irq(r.io, 9, 1);                /* still high: held */
    CHECK(!irr(&r, 0x39));
    lw(&r, 0xb0, 0);                           /* EOI, line high: again */
    CHECK(irr(&r, 0x39) && (ior(&r, 0x10 + 2 * 9) & 0x4000));
    CHECK(ack(&r) == 0x39);
    ioapic_set_irq(r.io, 9, 0);
    lw(&r, 0xb0, 0);                           /* EOI, line low: done */
    CHECK(!irr(&r, 0x39) && !(ior(&r, 0x10 + 2 * 9) & 0x4000));
    CHECK(!tmr(&r, 0x39));
    /* Masked level line: delivered when unmasked, if still high. */
    iow(&r, 0x10 + 2 * 9, 0x18000 | 0x39);
    ioapic_set_irq(r.io, 9, 1);
    CHECK(!irr(&r, 0x39));
    iow(&r, 0x10 + 2 * 9, 0x8000 | 0x39);
    CHECK(irr(&r, 0x39));
    ack(&r);
    /* An edge EOI of another vector does not touch remote IRR. */
    msi(&r, 0x70, false);
    CHECK(ack(&r) == 0x70);
    lw(&r, 0xb0, 0);
    CHECK(ior(&r, 0x10 + 2 * 9) & 0x4000);
    rig_free(&r);
}

static void test_board_wiring(void)
{
    struct machine *m = bare_machine_with_ram(16 << 20);
    CHECK(pc_board_create(m) == 0);
    pic_init(m);
    struct rig r = {.m = m};
    /* IRQ 0 reaches the PIC (virtual wire at reset) ... */
    irq_set((struct irq_line){.m = m, .irq = 0}, 1);
    CHECK(intr(&r) && ack(&r) == 0x20);
    outb(m, 0x20, 0x20);
    irq_set((struct irq_line){.m = m, .irq = 0}, 0);
    /* ... and I/O APIC pin 2; with LINT0 masked only the APIC path. */
    lw(&r, 0xf0, 0x1ff);
    lw(&r, 0x350, 0x10700);
    iow(&r, 0x10 + 2 * 2, 0x30);
    iow(&r, 0x10 + 2 * 0, 0x31);
    irq_set((struct irq_line){.m = m, .irq = 0}, 1);
    CHECK(irr(&r, 0x30) && !irr(&r, 0x31));
    CHECK(intr(&r) && ack(&r) == 0x30);
    lw(&r, 0xb0, 0);
    /* IRQ 8 on pin 8; GSI 20 only on the I/O APIC. */
    iow(&r, 0x10 + 2 * 8, 0x38);
    iow(&r, 0x10 + 2 * 20, 0x3a);
    irq_set((struct irq_line){.m = m, .irq = 8}, 1);
    irq_set((struct irq_line){.m = m, .irq = 20}, 1);
    CHECK(irr(&r, 0x38) && irr(&r, 0x3a));
    /* MSI through machine_msi reaches the LAPIC. */
    machine_msi(m, 0xfee00000u, 0x4b);
    CHECK(irr(&r, 0x4b));
    machine_destroy(m);
}

int main(void)
{
    RUN(test_lapic_registers);
    RUN(test_lapic_global_disable);
    RUN(test_lapic_priorities);
    RUN(test_lapic_spurious);
    RUN(test_lapic_extint_nmi_ipi);
    RUN(test_lapic_timer_oneshot_periodic);
    RUN(test_lapic_tsc_deadline);
    RUN(test_ioapic_registers);
    RUN(test_ioapic_edge_and_mask);
    RUN(test_ioapic_level_remote_irr);
    RUN(test_board_wiring);
    TEST_MAIN_END();
}
