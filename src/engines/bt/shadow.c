/* shadow.c - shadow paging for the bt engine.  While the guest has paging
 * on (32-bit, 4 KiB and 4 MiB pages), translated code runs on one of two
 * views: VIEW_KERNEL (CPL 0-2) or VIEW_USER (CPL 3, supervisor pages
 * absent).  A view page is filled on demand: a host fault in a view on a
 * page the guest maps (with rights for the access) is a hidden page fault:
 * set A (and D on a write) in the guest's PDE/PTE, mmap the RAM page there
 * (read-only until D is set, or while the page is traced), resume.  A
 * fault the guest's tables call a fault is a true page fault: the
 * interpreter re-executes the instruction and delivers #PF with its error
 * code and CR2.  Pages holding guest page tables are traced: read-only in
 * every view (and in the physical view, so interpreter writes trap too);
 * any write to one flushes the shadows (both views), as do CR0/CR3/CR4
 * changes and invlpg.  A reverse map (one writable mapping per RAM page,
 * else "multiple") lets a page that becomes traced lose its writable
 * shadow.  Chains between fragments on different linear pages are
 * recorded and unlinked at every shadow flush, and the indirect-branch
 * table (keyed by linear EIP) is cleared. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../core/util.h"
#include "emit.h"

#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PTE_PS 0x080u

int bt_shadow_create(struct bt *b)
{
    size_t pages = b->ram_size >> 12;
    b->pt_role = calloc(pages, 1);
    b->pt_owner = calloc(pages, sizeof(uint16_t));
    b->pt_list = calloc(pages, sizeof(uint32_t));
    b->rmap = calloc(pages, sizeof(uint64_t));
    b->xchains = calloc(BT_MAX_XCHAINS, sizeof(*b->xchains));
    b->ptw_pa = -1;
    b->clean_lin = -1;
    for (int v = VIEW_KERNEL; v <= VIEW_USER; v++)
        if (!(b->smap[v] = calloc(1u << 14, sizeof(uint64_t))))
            return fail("bt: out of memory for the shadow maps");
    if (!b->pt_role || !b->pt_owner || !b->pt_list || !b->rmap ||
        !b->xchains)
        return fail("bt: out of memory for the shadow page tables");
    return 0;
}

void bt_shadow_destroy(struct bt *b)
{
    free(b->pt_role);
    free(b->pt_owner);
    b->pt_owner = NULL;
    free(b->pt_list);
    free(b->rmap);
    free(b->xchains);
    for (int v = 0; v < NR_VIEWS; v++) {
        free(b->smap[v]);
        b->smap[v] = NULL;
    }
    b->pt_role = NULL;
    b->pt_list = NULL;
    b->rmap = NULL;
    b->xchains = NULL;
}

static uint32_t rd(struct bt *b, uint32_t pa)
{
    uint32_t v = 0;
    if ((uint64_t)pa + 4 <= b->ram_size)
        memcpy(&v, b->ram_alias + pa, 4);
    else
        v = 0xffffffffu; /* tables in MMIO: not supported, act as absent */
    return v;
}

static void wr(struct bt *b, uint32_t pa, uint32_t v)
{
    if ((uint64_t)pa + 4 <= b->ram_size)
        memcpy(b->ram_alias + pa, &v, 4);
}

/* The shadow maps: which linear pages of a view may hold a mapping, so
 * that invalidations skip the (costly) host mmap where nothing is. */
static void smap_set(struct bt *b, int v, uint32_t lpn)
{
    b->smap[v][lpn >> 6] |= 1ull << (lpn & 63);
    b->smap_sum[v][lpn >> 15] |= 1u << ((lpn >> 10) & 31);
}

/* Anything mapped in view v in [lin, lin + len)?  Clears the bits (the
 * caller unmaps the range when it returns true). */
static bool smap_take(struct bt *b, int v, uint32_t lin, uint64_t len)
{
    uint32_t first = lin >> 12;
    uint64_t end = ((uint64_t)lin + len + 4095) >> 12;
    bool any = false;
    for (uint64_t p = first; p < end;) {
        uint32_t reg = (uint32_t)(p >> 10);
        if (!(b->smap_sum[v][reg >> 5] & (1u << (reg & 31)))) {
            p = ((uint64_t)reg + 1) << 10;
            continue;
        }
        uint64_t bit = 1ull << (p & 63);
        if ((p & 63) == 0 && p + 64 <= end) {
            any |= b->smap[v][p >> 6] != 0;
            b->smap[v][p >> 6] = 0;
            p += 64;
            continue;
        }
        any |= (b->smap[v][p >> 6] & bit) != 0;
        b->smap[v][p >> 6] &= ~bit;
        p++;
    }
    return any;
}

static void smap_clear_all(struct bt *b)
{
    for (int v = VIEW_KERNEL; v <= VIEW_USER; v++)
        for (unsigned w = 0; w < 32; w++) {
            for (uint32_t m = b->smap_sum[v][w]; m; m &= m - 1) {
                unsigned reg = w * 32 + (unsigned)__builtin_ctz(m);
                memset(&b->smap[v][reg * 16], 0, 16 * sizeof(uint64_t));
            }
            b->smap_sum[v][w] = 0;
        }
}

struct walk {
    uint32_t pa;
    uint32_t pde_pa, pte_pa; /* pte_pa = 0 for a 4 MiB page */
    uint32_t pde, pte;
    bool u, w;
};

static bool do_walk(struct bt *b, uint32_t lin, struct walk *w)
{
    const struct interp_cpu *c = &b->cpu;
    w->pde_pa = (c->cr3 & ~0xfffu) | ((lin >> 20) & 0xffc);
    w->pde = rd(b, w->pde_pa);
    if (!(w->pde & PTE_P) || w->pde == 0xffffffffu)
        return false;
    if ((w->pde & PTE_PS) && (c->cr4 & CR4_PSE)) {
        w->pte_pa = 0;
        w->pte = w->pde;
        w->pa = (w->pde & 0xffc00000u) | (lin & 0x003ff000u);
    } else {
        w->pte_pa = (w->pde & ~0xfffu) | ((lin >> 10) & 0xffc);
        w->pte = rd(b, w->pte_pa);
        if (!(w->pte & PTE_P) || w->pte == 0xffffffffu)
            return false;
        w->pa = w->pte & ~0xfffu;
    }
    w->u = w->pde & w->pte & PTE_U;
    w->w = w->pde & w->pte & PTE_W;
    return true;
}

static bool rights(const struct bt *b, const struct walk *w, bool user,
                   bool write)
{
    if (user && !w->u)
        return false;
    if (write && !w->w && (user || (b->cpu.cr0 & CR0_WP)))
        return false;
    return true;
}

bool bt_walk(struct bt *b, uint32_t lin, bool user, bool write, uint32_t *pa)
{
    if (!bt_paging(&b->cpu)) {
        *pa = lin;
        return true;
    }
    struct walk w;
    if (!do_walk(b, lin, &w) || !rights(b, &w, user, write))
        return false;
    *pa = w.pa | (lin & 0xfff);
    return true;
}

void bt_touch(struct bt *b, uint32_t lin)
{
    struct walk w;
    if (!bt_paging(&b->cpu) || !do_walk(b, lin, &w))
        return;
    if (!(w.pde & PTE_A))
        wr(b, w.pde_pa, w.pde | PTE_A);
    if (w.pte_pa && !(w.pte & PTE_A))
        wr(b, w.pte_pa, w.pte | PTE_A);
}

static void unlink_xchains(struct bt *b)
{
    struct emit e = {.base = b->tc, .pos = 0};
    for (uint32_t k = 0; k < b->nxchains; k++)
        e_set_rel32(&e, b->xchains[k].site, b->xchains[k].stub);
    b->st.xchain_unlinks += b->nxchains;
    b->nxchains = 0;
}

void bt_shadow_note_xchain(struct bt *b, uint32_t site, uint32_t stub)
{
    b->xchains[b->nxchains].site = site;
    b->xchains[b->nxchains].stub = stub;
    b->nxchains++;
}

void bt_shadow_flush(struct bt *b)
{
    for (int v = VIEW_KERNEL; v <= VIEW_USER; v++) {
        size_t len = BT_WINDOW_SIZE + BT_WINDOW_GUARD;
        int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;
        if (mmap(b->view[v], len, PROT_NONE, fl, -1, 0) == MAP_FAILED) {
            munmap(b->view[v], len); /* then the range is free again */
            if (mmap(b->view[v], len, PROT_NONE, fl, -1, 0) == MAP_FAILED)
                abort(); /* stale guest mappings must not survive */
        }
    }
    memset(b->rmap, 0, (b->ram_size >> 12) * sizeof(uint64_t));
    smap_clear_all(b);
    for (uint32_t k = 0; k < b->npt; k++) {
        uint32_t pfn = b->pt_list[k];
        if (b->pt_role[pfn] && b->traced[pfn] != 1)
            mprotect(b->window + ((uint64_t)pfn << 12), 4096,
                     PROT_READ | PROT_WRITE);
        b->pt_role[pfn] = 0;
        b->pt_owner[pfn] = 0;
    }
    b->npt = 0;
    b->npt_written = 0;
    b->clean_lin = -1;
    unlink_xchains(b);
    for (unsigned k = 0; k < BT_IBL_SIZE; k++)
        b->ctx->ibl[k].eip = ~0ull;
    atomic_store(&b->pt_dirty, false);
    b->sh_cr0 = b->cpu.cr0;
    b->sh_cr3 = b->cpu.cr3;
    b->sh_cr4 = b->cpu.cr4;
    b->sh_valid = true;
    b->st.shadow_flushes++;
}

/* Drop the shadows of [lin, lin+len) in the views of mask (bit 1 <<
 * view), skipping views with nothing mapped there. */
static void invalidate_views(struct bt *b, uint32_t lin, uint64_t len,
                             unsigned mask)
{
    for (int v = VIEW_KERNEL; v <= VIEW_USER; v++) {
        if (!(mask & (1u << v)))
            continue;
        if (!smap_take(b, v, lin, len)) {
            b->st.view_unmaps_skipped++;
            continue;
        }
        if (mmap(b->view[v] + lin, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                 0) == MAP_FAILED) {
            b->st.shadow_map_failures++; /* splitting needs a mapping */
            bt_shadow_flush(b);
            return;
        }
    }
    /* chains across pages and the ibl assume the old linear mappings */
    unlink_xchains(b);
    for (unsigned k = 0; k < BT_IBL_SIZE; k++)
        b->ctx->ibl[k].eip = ~0ull;
    b->st.shadow_invalidations++;
}

void bt_shadow_invalidate(struct bt *b, uint32_t lin, uint64_t len)
{
    invalidate_views(b, lin, len, 1u << VIEW_KERNEL | 1u << VIEW_USER);
}

static void rmap_add(struct bt *b, uint32_t pfn, uint32_t lpn, int view);

/* After a write of one PTE (4 KiB page at lin): map the page it now
 * points to in the kernel view at once, instead of dropping the shadow
 * and taking a hidden fault on the next access.  That caches the
 * translation before any access, which sets its accessed bits: allowed
 * (SDM 4.10.1.3: translations may be cached for speculative accesses that
 * never occur), but done only when the entry replaces a present one or
 * has A set already, so that a freshly created entry keeps A clear until
 * used.  Returns false if it did not (the caller invalidates). */
static bool prefetch(struct bt *b, uint32_t lin, bool was_present)
{
    struct walk w;
    if (!do_walk(b, lin, &w) || !w.pte_pa ||
        (uint64_t)w.pa + 4096 > b->ram_size)
        return false;
    if (!was_present && (!(w.pte & PTE_A) || !(w.pde & PTE_A)))
        return false;
    uint32_t pfn = w.pa >> 12;
    if (was_present)
        invalidate_views(b, lin, 4096, 1u << VIEW_USER);
    if (!(w.pde & PTE_A))
        wr(b, w.pde_pa, w.pde | PTE_A);
    if (!(w.pte & PTE_A))
        wr(b, w.pte_pa, w.pte | PTE_A);
    int prot = PROT_READ;
    if ((w.pte & PTE_D) && rights(b, &w, false, true) &&
        b->traced[pfn] != 1 && !b->pt_role[pfn])
        prot |= PROT_WRITE;
    if (mmap(b->view[VIEW_KERNEL] + lin, 4096, prot, MAP_SHARED | MAP_FIXED,
             b->ram_fd, (off_t)w.pa) == MAP_FAILED) {
        b->st.shadow_map_failures++;
        bt_shadow_flush(b);
        return true;
    }
    smap_set(b, VIEW_KERNEL, lin >> 12);
    if (prot & PROT_WRITE)
        rmap_add(b, pfn, lin >> 12, VIEW_KERNEL);
    b->st.shadow_prefetches++;
    return true;
}

void bt_shadow_pt_write_done(struct bt *b, unsigned size)
{
    int64_t pa = b->ptw_pa;
    b->ptw_pa = -1;
    uint32_t pfn = (uint32_t)(pa >> 12);
    if (pa < 0 || b->npt_written != 1 || b->pt_written[0] != pfn)
        return; /* the general path (bt_shadow_sync) handles it */
    uint16_t own = b->pt_owner[pfn];
    if (own == 0 || own == PT_OWNER_PD || own == PT_OWNER_MULTI)
        return;
    /* one store of `size` bytes into a page table of region own - 1 */
    uint32_t first = ((uint32_t)pa & 0xfff) >> 2;
    uint32_t last = ((((uint32_t)pa & 0xfff) + size - 1) >> 2);
    if (last > 1023)
        last = 1023;
    uint32_t base = (uint32_t)(own - 1) << 22;
    bool was_present = b->pt_written_old[0] & PTE_P;
    b->npt_written = 0;
    if (b->pt_role[pfn] == 2) {
        b->pt_role[pfn] = 1;
        mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ);
    }
    b->st.pt_writes_precise++;
    uint32_t lin = base + (first << 12);
    if (first == last && prefetch(b, lin, was_present)) {
        b->clean_lin = (int64_t)lin; /* the shadow is current */
        return;
    }
    if (first == last && !was_present)
        b->st.pt_writes_not_present++; /* nothing was shadowed there */
    else
        bt_shadow_invalidate(b, lin, (last - first + 1) << 12);
    b->clean_lin = first == last ? (int64_t)lin : -1;
}

void bt_shadow_invlpg(struct bt *b, uint32_t lin)
{
    const struct interp_cpu *c = &b->cpu;
    if (b->clean_lin == (int64_t)(lin & ~0xfffu)) {
        b->st.invlpg_skipped++;
        return; /* nothing was mapped there since it was invalidated */
    }
    uint32_t pde = rd(b, (c->cr3 & ~0xfffu) | ((lin >> 20) & 0xffc));
    if ((pde & PTE_P) && (pde & PTE_PS) && (c->cr4 & CR4_PSE))
        bt_shadow_invalidate(b, lin & ~0x3fffffu, 1u << 22);
    else
        bt_shadow_invalidate(b, lin & ~0xfffu, 4096);
}

/* Page tables written by the interpreter (pt_role 2): drop the shadows of
 * the 4 MiB region a page table maps (everything for a page directory or
 * a table used twice), and write-protect it again. */
static void process_pt_writes(struct bt *b)
{
    uint32_t n = b->npt_written;
    b->st.pt_writes_from_interp += n;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t pfn = b->pt_written[k];
        uint16_t own = b->pt_owner[pfn];
        if (own == 0 || own == PT_OWNER_PD || own == PT_OWNER_MULTI) {
            bt_shadow_flush(b);
            return;
        }
        bt_shadow_invalidate(b, (uint32_t)(own - 1) << 22, 1u << 22);
        if (b->pt_role[pfn] == 2) {
            b->pt_role[pfn] = 1;
            mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ);
        }
    }
    b->npt_written = 0;
}

void bt_shadow_sync(struct bt *b)
{
    const struct interp_cpu *c = &b->cpu;
    const uint32_t cr0_bits = CR0_PG | CR0_WP | CR0_PE;
    const uint32_t cr4_bits = CR4_PSE | CR4_PAE | CR4_PGE;
    if (b->sh_valid && ((c->cr0 ^ b->sh_cr0) & CR0_PG)) {
        /* chains and fragments were made for the other address space */
        b->st.mode_switches++;
        bt_tc_flush(b);
        bt_shadow_flush(b);
        return;
    }
    if (!b->sh_valid) {
        bt_shadow_flush(b);
    } else if ((c->cr0 ^ b->sh_cr0) & cr0_bits ||
               (c->cr4 ^ b->sh_cr4) & cr4_bits) {
        b->st.mode_switches++;
        bt_shadow_flush(b);
    } else if (c->cr3 != b->sh_cr3) {
        b->st.cr3_switches++;
        bt_shadow_flush(b);
    } else if (atomic_load(&b->pt_dirty)) {
        b->st.pt_writes_from_interp++;
        bt_shadow_flush(b);
    } else if (b->npt_written) {
        process_pt_writes(b);
    }
}

void bt_shadow_protect_phys(struct bt *b, uint32_t pfn)
{
    uint64_t r = b->rmap ? b->rmap[pfn] : 0;
    if (!r)
        return;
    if (r == RMAP_MULTI) {
        bt_shadow_flush(b);
        return;
    }
    /* The recorded mapping may be stale (its range invalidated since):
     * map the page read-only only where the guest still maps it there,
     * else drop the shadow (never mprotect: that could expose an
     * anonymous page in the view). */
    uint32_t lin = (uint32_t)(((r >> 2) - 1) << 12);
    struct walk w;
    bool still = do_walk(b, lin, &w) && (w.pa >> 12) == pfn;
    b->rmap[pfn] = 0;
    for (int v = VIEW_KERNEL; v <= VIEW_USER; v++) {
        if (!(r & (1u << v >> 1)))
            continue;
        void *p;
        if (still && (v == VIEW_KERNEL || w.u))
            p = mmap(b->view[v] + lin, 4096, PROT_READ,
                     MAP_SHARED | MAP_FIXED, b->ram_fd, (off_t)w.pa);
        else
            p = mmap(b->view[v] + lin, 4096, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                     -1, 0);
        if (p == MAP_FAILED) {
            /* the writable mapping must not survive: drop everything */
            b->st.shadow_map_failures++;
            bt_shadow_flush(b);
            return;
        }
    }
}

static void rmap_add(struct bt *b, uint32_t pfn, uint32_t lpn, int view)
{
    uint64_t bit = 1u << view >> 1; /* kernel 1, user 2 */
    uint64_t r = b->rmap[pfn];
    if (!r)
        b->rmap[pfn] = ((uint64_t)lpn + 1) << 2 | bit;
    else if (r != RMAP_MULTI && (r >> 2) == (uint64_t)lpn + 1)
        b->rmap[pfn] = r | bit;
    else
        b->rmap[pfn] = RMAP_MULTI;
}

static void mark_pt(struct bt *b, uint32_t pa, uint16_t owner)
{
    uint32_t pfn = pa >> 12;
    if ((uint64_t)pa >= b->ram_size)
        return;
    if (b->pt_owner[pfn] != owner)
        b->pt_owner[pfn] = b->pt_owner[pfn] ? PT_OWNER_MULTI : owner;
    if (b->pt_role[pfn])
        return;
    b->pt_role[pfn] = 1;
    b->pt_list[b->npt++] = pfn;
    mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ);
    bt_shadow_protect_phys(b, pfn);
}

bool bt_shadow_fault(struct bt *b, int view, uint32_t lin, bool write)
{
    bool user = view == VIEW_USER;
    struct walk w;
    if (!do_walk(b, lin, &w) || !rights(b, &w, user, write)) {
        b->st.true_page_faults++;
        return false;
    }
    if ((uint64_t)w.pa + 4096 > b->ram_size) {
        b->st.faults_mmio++;
        return false;
    }
    uint32_t pfn = w.pa >> 12;
    mark_pt(b, w.pde_pa, PT_OWNER_PD);
    if (w.pte_pa)
        mark_pt(b, w.pte_pa, (uint16_t)((lin >> 22) + 1));
    if (write && (b->traced[pfn] == 1 || b->pt_role[pfn])) {
        if (b->pt_role[pfn]) {
            b->st.pt_write_traps++;
            b->ptw_pa = w.pa | (lin & 0xfff);
        } else {
            b->st.faults_smc++;
        }
        return false; /* the interpreter writes; the trap flushes */
    }
    /* hidden page fault: A (and D) as the hardware would set them */
    uint32_t npde = w.pde | PTE_A, npte = w.pte | PTE_A;
    if (write) {
        if (w.pte_pa)
            npte |= PTE_D;
        else
            npde |= PTE_D;
    }
    if (npde != w.pde)
        wr(b, w.pde_pa, npde);
    if (w.pte_pa && npte != w.pte)
        wr(b, w.pte_pa, npte);
    bool dirty = w.pte_pa ? (npte & PTE_D) : (npde & PTE_D);
    bool can_write = rights(b, &w, user, true);
    int prot = PROT_READ;
    if (can_write && dirty && b->traced[pfn] != 1 && !b->pt_role[pfn])
        prot |= PROT_WRITE;
    if (b->clean_lin == (int64_t)(lin & ~0xfffu))
        b->clean_lin = -1;
    uint8_t *at = b->view[view] + (lin & ~0xfffu);
    if (mmap(at, 4096, prot, MAP_SHARED | MAP_FIXED, b->ram_fd,
             (off_t)w.pa) == MAP_FAILED) {
        /* Most likely out of mappings (vm.max_map_count: scattered pages
         * do not merge into one VMA): start the views afresh, and let the
         * interpreter do this access. */
        b->st.shadow_map_failures++;
        bt_shadow_flush(b);
        return false;
    }
    smap_set(b, view, lin >> 12);
    if (prot & PROT_WRITE)
        rmap_add(b, pfn, lin >> 12, view);
    if (write && !(w.pte_pa ? (w.pte & PTE_D) : (w.pde & PTE_D)))
        b->st.dirty_bit_faults++;
    b->st.hidden_page_faults++;
    if (view == VIEW_USER)
        b->st.hidden_faults_user_view++;
    return true;
}
