/* fuzz_hypercall.c - libFuzzer harness for popek's hypercalls (src/pv):
 * the input fills a guest GDT and a data page in a small guest RAM, then
 * makes a sequence of hypercalls with random numbers, privilege levels and
 * register arguments (raw, or pointing into the data page: request
 * arrays, trap tables, buffers, IRET frames), interleaved with posted
 * events and upcall acks.  The fake vCPU aborts when the hypercall code
 * hands it anything a VMM must have refused: a read or page-table store
 * outside guest RAM, an entry mapping memory that is not guest RAM, a
 * misaligned CR3, a trap-table handler in ring 0.  Every call must end in
 * a success value or one of the documented error codes; any crash or
 * sanitizer report is a bug. */
#include "fuzz_common.h"
#include "pv/pv.h"

#define RAM (1u << 20)
#define GDT 0x1000u
#define GDT_LIMIT 127u
#define DATA 0x2000u
#define DATA_LEN 1024u

struct fake {
    struct machine *m;
    uint32_t regs[8];
    unsigned cpl;
};

static void need(bool ok)
{
    if (!ok)
        abort();
}

static bool f_read(void *ctx, uint32_t gpa, void *buf, uint32_t len)
{
    struct fake *f = ctx;
    need((uint64_t)gpa + len <= f->m->ram_size);
    memcpy(buf, f->m->ram + gpa, len);
    return true;
}

static void f_write_pte(void *ctx, uint32_t gpa, uint32_t val)
{
    struct fake *f = ctx;
    need(!(gpa & 3) && (uint64_t)gpa + 4 <= f->m->ram_size);
    if (val & 1) {
        need((uint64_t)(val & ~0xfffu) + 4096 <= f->m->ram_size);
        if (val & 0x80)
            need(!(val & 0x3fe000u) &&
                 (uint64_t)(val & 0xffc00000u) + (4u << 20) <= f->m->ram_size);
    }
    memcpy(f->m->ram + gpa, &val, 4);
}

static void f_flush(void *ctx, int how, uint32_t lin)
{
    (void)ctx;
    (void)lin;
    need(how >= 0 && how <= 2);
}

static void f_block(void *ctx) { (void)ctx; }

static bool f_seg_ok(void *ctx, uint16_t sel, bool code, unsigned dpl,
                     uint32_t *limit)
{
    struct fake *f = ctx;
    uint32_t idx = sel & 0xfff8u;
    if ((sel & 4) || !idx || idx + 7 > GDT_LIMIT)
        return false;
    uint32_t lo, hi;
    memcpy(&lo, f->m->ram + GDT + idx, 4);
    memcpy(&hi, f->m->ram + GDT + idx + 4, 4);
    unsigned type = (hi >> 8) & 15;
    if (!(hi & (1u << 12)) || !(hi & (1u << 15)) || ((hi >> 13) & 3) != dpl)
        return false;
    if (code ? !(type & 8) || (type & 4) : (type & 8) || !(type & 2) || (type & 4))
        return false;
    uint32_t l = (lo & 0xffff) | (hi & 0xf0000u);
    *limit = (hi & (1u << 23)) ? (l << 12) | 0xfff : l;
    return true;
}

static bool f_read_lin(void *ctx, uint32_t lin, void *buf, uint32_t len)
{
    struct fake *f = ctx;
    if ((uint64_t)lin + len > f->m->ram_size)
        return false; /* "not mapped" */
    memcpy(buf, f->m->ram + lin, len);
    return true;
}

static void f_iret(void *ctx)
{
    struct fake *f = ctx;
    f->regs[4] += 4;
}

static void f_set_cr3(void *ctx, uint32_t cr3)
{
    struct fake *f = ctx;
    need(!(cr3 & 0xfe7) && (uint64_t)(cr3 & ~0xfffu) + 4096 <= f->m->ram_size);
}

static uint32_t arg(struct fuzz_in *in)
{
    uint8_t mode = (uint8_t)fuzz_get(in, 1);
    switch (mode & 3) {
    case 0: return fuzz_get(in, 4);                     /* anything */
    case 1: return DATA + (fuzz_get(in, 2) & 0x3ff);    /* into the data */
    case 2: return fuzz_get(in, 1);                     /* small */
    default: return RAM - (fuzz_get(in, 2) & 0xfff);    /* near the end */
    }
}

static bool known_result(uint32_t r)
{
    int32_t e = (int32_t)r;
    if (e >= 0 || e < -4095)
        return true; /* a value (IRET returns the frame's EAX) */
    return e == -PV_EPERM || e == -PV_EFAULT || e == -PV_EINVAL ||
           e == -PV_ENOSYS || e == -PV_EBUSY;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    struct machine *m = fuzz_bare_machine(RAM);
    io_space_init(&m->pio, "port");
    io_space_init(&m->mmio, "mmio");
    io_space_init(&m->msr, "msr");
    m->ram_fd = m->timer_fd = m->wake_fd = m->signal_fd = -1;
    m->cfg.quiet = true;
    /* a GDT: the null entry, then input bytes; and the data page */
    for (uint32_t k = 8; k <= GDT_LIMIT; k++)
        m->ram[GDT + k] = (uint8_t)fuzz_get(&in, 1);
    for (uint32_t k = 0; k < DATA_LEN && in.n; k++)
        m->ram[DATA + k] = (uint8_t)fuzz_get(&in, 1);

    struct fake f = {.m = m};
    for (int step = 0; step < 64 && in.n; step++) {
        uint8_t op = (uint8_t)fuzz_get(&in, 1);
        if (op >= 0xf0) {
            /* events: post some, ask for the upcall as the run loop does */
            pv_post(m, fuzz_get(&in, 4));
            if (machine_intr_pending(m)) {
                struct pv_state *s = pv_state(m);
                int v = m->pv_event_ack(m);
                struct pv_trap t;
                need(s && v == s->cb_vector && pv_trap(m, v, true, &t) &&
                     (t.flags & PV_TRAP_MASK));
                pv_set_vif(m, false);
            }
            continue;
        }
        f.cpl = op & 3;
        memset(f.regs, 0, sizeof(f.regs));
        f.regs[0] = (op >> 2) < PV_HC_COUNT + 2 ? (uint32_t)(op >> 2) : arg(&in);
        f.regs[3] = arg(&in); /* EBX */
        f.regs[1] = arg(&in); /* ECX */
        f.regs[2] = arg(&in); /* EDX */
        f.regs[6] = arg(&in); /* ESI */
        f.regs[4] = arg(&in); /* ESP */
        struct pv_vcpu v = {.regs = f.regs, .cpl = f.cpl, .ctx = &f,
                            .read_phys = f_read, .write_pte = f_write_pte,
                            .flush_tlb = f_flush, .block = f_block,
                            .seg_ok = f_seg_ok, .read_lin = f_read_lin,
                            .sp_lin = f.regs[4], .iret = f_iret,
                            .set_cr3 = f_set_cr3};
        uint32_t nr = f.regs[0];
        pv_hypercall(m, &v);
        need(known_result(f.regs[0]));
        if (f.cpl == 3)
            need(f.regs[0] == (uint32_t)-PV_EPERM);
        if (nr == PV_HC_SET_TRAP_TABLE && f.regs[0] == 0)
            for (int vec = 0; vec < 256; vec++) {
                struct pv_trap t;
                if (pv_trap(m, vec, false, &t))
                    need((t.cs & 3) != 0 && !(t.flags & ~7u));
            }
        uint16_t ss;
        uint32_t esp;
        if (pv_stack(m, &ss, &esp))
            need((ss & 3) != 0);
    }
    m->ram = NULL; /* the fuzz area, not machine_destroy's to unmap */
    machine_destroy(m);
    return 0;
}
