/* mmu.c - the interpreter's memory path: segmentation checks (limit, type),
 * IA-32 paging, 32-bit and PAE (the shared walker, x86/walk.c; SMEP/SMAP
 * here; PAE PDPTEs are read at each walk, not cached at CR3 loads; NX is
 * not enforced)
 * with accessed/dirty write-back, the TLB, physical
 * access to RAM or MMIO, and the cpu.h memory/stack API built on them.
 * Writes to RAM drop the decoded-instruction cache of the page written. */
#include <string.h>

#include "../../core/machine.h"
#include "../../x86/walk.h"
#include "sys.h"

#define PF_P 1u
#define PF_W 2u
#define PF_U 4u
#define PF_I 16u

/* ---- physical memory ---- */

uint32_t phys_read(struct interp_cpu *c, uint32_t pa, int size)
{
    if ((uint64_t)pa + (unsigned)size <= c->ram_size) {
        uint32_t v = 0;
        memcpy(&v, c->ram + pa, (size_t)size);
        return v;
    }
    uint8_t d[4] = {0xff, 0xff, 0xff, 0xff};
    if (c->m)
        machine_mmio(c->m, pa, d, (unsigned)size, false);
    c->check_irq = true;
    return io_get(d, (unsigned)size);
}

void phys_write(struct interp_cpu *c, uint32_t pa, int size, uint32_t val)
{
    if ((uint64_t)pa + (unsigned)size <= c->ram_size) {
        memcpy(c->ram + pa, &val, (size_t)size);
        if (c->dcache && dcache_page_has_code(c->dcache, pa))
            dcache_invalidate_page(c->dcache, pa);
        return;
    }
    if (c->m) {
        uint8_t d[4];
        io_put(d, (unsigned)size, val);
        machine_mmio(c->m, pa, d, (unsigned)size, true);
    }
    c->check_irq = true;
}

/* ---- TLB ---- */

static inline struct tlb_entry *tlb_slot(struct interp_cpu *c, uint32_t lin)
{
    return &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
}

void tlb_flush_all(struct interp_cpu *c)
{
    memset(c->tlb, 0, sizeof(c->tlb));
    memset(c->tlb_large, 0, sizeof(c->tlb_large));
    c->tlb_flushes++;
}

void tlb_flush_nonglobal(struct interp_cpu *c)
{
    for (int i = 0; i < TLB_SIZE; i++)
        if (!c->tlb[i].global)
            c->tlb[i].vpage = 0;
    c->tlb_flushes++;
}

void tlb_flush_page(struct interp_cpu *c, uint32_t lin)
{
    uint32_t *large = &c->tlb_large[lin >> 27], bit = 1u << ((lin >> 22) & 31);
    if (*large & bit) {
        /* The 4 KiB slices of a 4 MiB page fill every slot once: drop all
         * entries in the same 4 MiB region. */
        *large &= ~bit;
        for (int i = 0; i < TLB_SIZE; i++)
            if (((c->tlb[i].vpage ^ lin) & 0xffc00000u) == 0)
                c->tlb[i].vpage = 0;
    }
    struct tlb_entry *t = tlb_slot(c, lin);
    if ((t->vpage & ~0xfffu) == (lin & ~0xfffu))
        t->vpage = 0;
}

_Noreturn static void page_fault(struct interp_cpu *c, uint32_t lin,
                                 uint32_t err)
{
    c->cr2 = lin;
    cpu_fault_err(c, EXC_PF, err);
}

/* Would an access with these page rights fault?  priv: PRIV_*.
 * Supervisor accesses to user pages: SMEP forbids fetches; SMAP forbids
 * data accesses that are implicit, or explicit with EFLAGS.AC=0. */
static inline bool rights_ok(const struct interp_cpu *c, bool u, bool w,
                             enum access acc, int priv)
{
    bool user = priv == PRIV_USER;
    if (user && !u)
        return false;
    if (!user && u && (c->cr4 & (CR4_SMEP | CR4_SMAP))) {
        if (acc == ACC_FETCH ? (c->cr4 & CR4_SMEP) != 0
                             : (c->cr4 & CR4_SMAP) &&
                                   (priv == PRIV_SYS ||
                                    !(c->eflags & FLAG_AC)))
            return false;
    }
    if (acc == ACC_WRITE && !w && (user || (c->cr0 & CR0_WP)))
        return false;
    return true;
}

/* Page-table entries (8 bytes with PAE) through the physical path. */
static bool pt_read(void *ctx, uint64_t pa, bool wide, uint64_t *v)
{
    if (pa + (wide ? 8 : 4) > 0x100000000ull)
        return false; /* above the 32-bit physical space */
    *v = phys_read(ctx, (uint32_t)pa, 4);
    if (wide)
        *v |= (uint64_t)phys_read(ctx, (uint32_t)pa + 4, 4) << 32;
    return true;
}

static void pt_write(void *ctx, uint64_t pa, bool wide, uint64_t v)
{
    (void)wide; /* A/D live in the low dword */
    phys_write(ctx, (uint32_t)pa, 4, (uint32_t)v);
}

/* Walk the page tables for lin (the shared walker, x86/walk.c) into *t.
 * probe: never fault nor write A/D bits (return false instead). */
static bool walk(struct interp_cpu *c, uint32_t lin, enum access acc,
                 int priv, bool probe, struct tlb_entry *out)
{
    bool user = priv == PRIV_USER;
    struct tlb_entry t = {.vpage = (lin & ~0xfffu) | 1, .user_ok = 1,
                          .write_ok = 1, .dirty = 1};
    bool write = acc == ACC_WRITE;
    bool large = false;
    if (c->cr0 & CR0_PG) {
        uint32_t err = (write ? PF_W : 0) | (user ? PF_U : 0) |
                       (acc == ACC_FETCH && (c->cr4 & CR4_SMEP) ? PF_I : 0);
        const struct x86_paging pg = {.cr3 = c->cr3, .cr0 = c->cr0,
                                      .cr4 = c->cr4};
        const struct x86_pt_io io = {pt_read, pt_write, c};
        struct x86_walk w;
        if (x86_page_walk(&pg, lin, &io, &w) != X86_WALK_OK ||
            w.pa > 0xffffffffull) { /* (PAE: no RAM or MMIO above 4 GiB) */
            if (probe)
                return false;
            page_fault(c, lin, err);
        }
        if (!rights_ok(c, w.u, w.w, acc, priv)) {
            if (probe)
                return false;
            page_fault(c, lin, err | PF_P);
        }
        if (!probe)
            x86_walk_set_ad(&w, write, &io);
        large = w.page_size > 4096;
        t.ppage = (uint32_t)w.pa & ~0xfffu;
        t.user_ok = w.u;
        t.write_ok = w.w;
        t.dirty = (w.ent[w.n - 1] & PTE_D) || (probe && write);
        t.global = w.global;
    } else {
        t.ppage = lin & ~0xfffu;
    }
    t.host = (uint64_t)t.ppage + 4096 <= c->ram_size ? c->ram + t.ppage : NULL;
    if (large && !probe)
        c->tlb_large[lin >> 27] |= 1u << ((lin >> 22) & 31);
    *out = t;
    return true;
}

uint32_t mmu_translate(struct interp_cpu *c, uint32_t lin, enum access acc,
                       int user)
{
    struct tlb_entry *t = tlb_slot(c, lin);
    if (t->vpage != ((lin & ~0xfffu) | 1) ||
        !rights_ok(c, t->user_ok, t->write_ok, acc, user) ||
        (acc == ACC_WRITE && !t->dirty))
        walk(c, lin, acc, user, false, t);
    return t->ppage | (lin & 0xfff);
}

bool mmu_probe(struct interp_cpu *c, uint32_t lin, uint32_t *phys)
{
    struct tlb_entry *t = tlb_slot(c, lin), tmp;
    if (t->vpage != ((lin & ~0xfffu) | 1)) {
        if (!walk(c, lin, ACC_READ, PRIV_SV, true, &tmp))
            return false;
        t = &tmp;
    }
    *phys = t->ppage | (lin & 0xfff);
    return true;
}

/* ---- linear memory ---- */

static inline __attribute__((always_inline)) uint32_t
lin_read_inl(struct interp_cpu *c, uint32_t lin, int size, int user);

uint32_t lin_read(struct interp_cpu *c, uint32_t lin, int size, int user)
{
    return lin_read_inl(c, lin, size, user);
}

static uint32_t lin_read_cross(struct interp_cpu *c, uint32_t lin, int size,
                               int user);

static inline __attribute__((always_inline)) uint32_t
lin_read_inl(struct interp_cpu *c, uint32_t lin, int size, int user)
{
    if ((lin & 0xfff) + (unsigned)size <= 4096) {
        struct tlb_entry *t = tlb_slot(c, lin);
        if (t->vpage == ((lin & ~0xfffu) | 1) && t->host &&
            tlb_priv_ok(c, t->user_ok, user, CR4_SMAP)) {
            uint32_t v = 0;
            memcpy(&v, t->host + (lin & 0xfff), (size_t)size);
            return v;
        }
        return phys_read(c, mmu_translate(c, lin, ACC_READ, user), size);
    }
    return lin_read_cross(c, lin, size, user);
}

static uint32_t lin_read_cross(struct interp_cpu *c, uint32_t lin, int size,
                               int user)
{
    /* Crossing a page: translate both pages first (fault before reading). */
    uint32_t pa0 = mmu_translate(c, lin, ACC_READ, user);
    uint32_t pa1 = mmu_translate(c, (lin | 0xfff) + 1, ACC_READ, user);
    uint32_t v = 0;
    for (int k = 0; k < size; k++) {
        uint32_t l = lin + (uint32_t)k;
        uint32_t pa = (l & ~0xfffu) == (lin & ~0xfffu)
                          ? pa0 + (uint32_t)k
                          : pa1 + (l & 0xfff);
        v |= phys_read(c, pa, 1) << (8 * k);
    }
    return v;
}

void lin_check_write(struct interp_cpu *c, uint32_t lin, uint32_t len,
                     int user)
{
    if (len == 0)
        return;
    uint32_t last = lin + len - 1;
    uint32_t page = lin & ~0xfffu;
    for (;;) {
        mmu_translate(c, page < lin ? lin : page, ACC_WRITE, user);
        if (page == (last & ~0xfffu))
            break;
        page += 4096;
    }
}

static void lin_write_cross(struct interp_cpu *c, uint32_t lin, int size,
                            uint32_t val, int user);

static inline __attribute__((always_inline)) void
lin_write_inl(struct interp_cpu *c, uint32_t lin, int size, uint32_t val,
              int user)
{
    if ((lin & 0xfff) + (unsigned)size <= 4096) {
        struct tlb_entry *t = tlb_slot(c, lin);
        uint32_t pa;
        if (t->vpage == ((lin & ~0xfffu) | 1) && t->host && t->dirty &&
            rights_ok(c, t->user_ok, t->write_ok, ACC_WRITE, user))
            pa = t->ppage | (lin & 0xfff);
        else
            pa = mmu_translate(c, lin, ACC_WRITE, user);
        phys_write(c, pa, size, val);
        return;
    }
    lin_write_cross(c, lin, size, val, user);
}

void lin_write(struct interp_cpu *c, uint32_t lin, int size, uint32_t val,
               int user)
{
    lin_write_inl(c, lin, size, val, user);
}

static void lin_write_cross(struct interp_cpu *c, uint32_t lin, int size,
                            uint32_t val, int user)
{
    uint32_t pa0 = mmu_translate(c, lin, ACC_WRITE, user);
    uint32_t pa1 = mmu_translate(c, (lin | 0xfff) + 1, ACC_WRITE, user);
    for (int k = 0; k < size; k++) {
        uint32_t l = lin + (uint32_t)k;
        uint32_t pa = (l & ~0xfffu) == (lin & ~0xfffu)
                          ? pa0 + (uint32_t)k
                          : pa1 + (l & 0xfff);
        phys_write(c, pa, 1, (val >> (8 * k)) & 0xff);
    }
}

/* ---- segmentation ---- */

_Noreturn static void seg_fault(struct interp_cpu *c, int seg)
{
    cpu_fault_err(c, seg == SEG_SS ? EXC_SS : EXC_GP, 0);
}

static inline __attribute__((always_inline)) uint32_t
seg_linear_inl(struct interp_cpu *c, int seg, uint32_t off, uint32_t len,
               bool write)
{
    const struct seg_reg *s = &c->seg[seg];
    if (c->cr0 & CR0_PE) {
        if (s->unusable)
            seg_fault(c, seg);
        if (write) {
            if (!s->s || (s->type & 8) || !(s->type & 2))
                seg_fault(c, seg);
        } else if (s->s && (s->type & 0xa) == 8) {
            seg_fault(c, seg); /* execute-only code */
        }
    }
    uint32_t span = len - 1;
    if ((s->type & 0xc) == 0x4 && s->s) {
        /* expand-down data: valid offsets are (limit, upper] */
        uint32_t upper = s->db ? 0xffffffffu : 0xffffu;
        if (off <= s->limit || off > upper || span > upper - off)
            seg_fault(c, seg);
    } else if (off > s->limit ||
               (s->limit != 0xffffffffu && span > s->limit - off)) {
        /* In a 4 GiB segment an access whose offset wraps past
         * 0xffffffff continues at offset 0 (docs/fidelity.md). */
        seg_fault(c, seg);
    }
    return (uint32_t)s->base + off;
}

uint32_t seg_linear(struct interp_cpu *c, int seg, uint32_t off, uint32_t len,
                    bool write)
{
    return seg_linear_inl(c, seg, off, len, write);
}

/* ---- the cpu.h memory API ---- */

uint32_t insn_ea(const struct interp_cpu *c, const struct insn *i)
{
    uint32_t a = (uint32_t)i->disp;
    if (i->ea_base >= 0)
        a += c->r[i->ea_base];
    if (i->ea_index >= 0)
        a += c->r[i->ea_index] << i->ea_scale;
    return i->addrsize == 2 ? (a & 0xffff) : a;
}

uint32_t mem_read(struct interp_cpu *c, int seg, uint32_t off, int size)
{
    uint32_t lin = seg_linear_inl(c, seg, off, (uint32_t)size, false);
    return lin_read_inl(c, lin, size, cpu_user(c));
}

void mem_write(struct interp_cpu *c, int seg, uint32_t off, int size,
               uint32_t val)
{
    uint32_t lin = seg_linear_inl(c, seg, off, (uint32_t)size, true);
    lin_write_inl(c, lin, size, val, cpu_user(c));
}

uint64_t mem_read64(struct interp_cpu *c, int seg, uint32_t off)
{
    uint32_t lin = seg_linear(c, seg, off, 8, false);
    uint32_t lo = lin_read(c, lin, 4, cpu_user(c));
    uint32_t hi = lin_read(c, lin + 4, 4, cpu_user(c));
    return (uint64_t)hi << 32 | lo;
}

void mem_write64(struct interp_cpu *c, int seg, uint32_t off, uint64_t val)
{
    uint32_t lin = seg_linear(c, seg, off, 8, true);
    lin_check_write(c, lin, 8, cpu_user(c));
    lin_write(c, lin, 4, (uint32_t)val, cpu_user(c));
    lin_write(c, lin + 4, 4, (uint32_t)(val >> 32), cpu_user(c));
}

void mem_check_write(struct interp_cpu *c, int seg, uint32_t off, uint32_t len)
{
    if (len == 0)
        return;
    uint32_t lin = seg_linear(c, seg, off, len, true);
    lin_check_write(c, lin, len, cpu_user(c));
}

uint32_t rm_read(struct interp_cpu *c, const struct insn *i, int size)
{
    if (i->mod == 3)
        return reg_get(c, i->rm, size);
    return mem_read(c, i->ea_seg, insn_ea(c, i), size);
}

void rm_write(struct interp_cpu *c, const struct insn *i, int size, uint32_t v)
{
    if (i->mod == 3)
        reg_set(c, i->rm, size, v);
    else
        mem_write(c, i->ea_seg, insn_ea(c, i), size, v);
}

/* ---- stack ---- */

void cpu_push(struct interp_cpu *c, uint32_t val, int size)
{
    uint32_t m = stack_mask(c);
    uint32_t sp = (c->r[R_ESP] - (uint32_t)size) & m;
    mem_write(c, SEG_SS, sp, size, val);
    c->r[R_ESP] = (c->r[R_ESP] & ~m) | sp;
}

uint32_t cpu_pop(struct interp_cpu *c, int size)
{
    uint32_t m = stack_mask(c);
    uint32_t sp = c->r[R_ESP] & m;
    uint32_t v = mem_read(c, SEG_SS, sp, size);
    c->r[R_ESP] = (c->r[R_ESP] & ~m) | ((sp + (uint32_t)size) & m);
    return v;
}

uint32_t cpu_stack_peek(struct interp_cpu *c, uint32_t depth, int size)
{
    uint32_t m = stack_mask(c);
    return mem_read(c, SEG_SS, (c->r[R_ESP] + depth) & m, size);
}

void cpu_stack_adjust(struct interp_cpu *c, int32_t delta)
{
    uint32_t m = stack_mask(c);
    c->r[R_ESP] = (c->r[R_ESP] & ~m) | ((c->r[R_ESP] + (uint32_t)delta) & m);
}
