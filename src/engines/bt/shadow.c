/* shadow.c - shadow paging for the bt engine.  While the guest has paging
 * on (32-bit, 4 KiB and 4 MiB pages), translated code runs on one of two
 * views: VIEW_KERNEL (CPL 0-2) or VIEW_USER (CPL 3, supervisor pages
 * absent), of the current cached address space (one pair per CR3 value,
 * BT_AS_SLOTS of them, LRU).  A view page is filled on demand: a host
 * fault in a view on a page the guest maps (with rights for the access)
 * is a hidden page fault: set A (and D on a write) in the guest's
 * PDE/PTE, mmap the RAM page there (read-only until D is set, or while
 * the page is traced), resume.  A fault the guest's tables call a fault
 * is a true page fault: the interpreter re-executes the instruction and
 * delivers #PF with its error code and CR2.  Pages holding guest page
 * tables are traced: read-only in every view (and in the physical view,
 * so interpreter writes trap too); a write to one drops (or, for one PTE,
 * prefetches) the shadows of the entries written in every cached space,
 * a page-directory write empties the spaces it is the root of; CR0/CR4
 * paging changes flush everything; invlpg drops one page.  A reverse map
 * (one writable mapping per RAM page, else "multiple") lets a page that
 * becomes traced lose its writable shadow.  Chains between fragments on
 * different linear pages are recorded and unlinked when the mapping of
 * a page holding code changes and at every address-space switch, and the
 * indirect-branch table (keyed by linear EIP) is cleared then. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../core/util.h"
#include "../../x86/walk.h"
#include "emit.h"

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
    b->pf_retry_eip = -1;
    if (bt_as_create(b) < 0)
        return -1;
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
    bt_as_destroy(b);
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

struct walk {
    uint32_t pa;
    uint32_t pde_pa, pte_pa; /* pte_pa = 0 for a 4 MiB page */
    uint32_t pde, pte;
    bool u, w;
};

static bool pt_read(void *ctx, uint64_t pa, bool wide, uint64_t *v)
{
    (void)wide; /* 32-bit paging only */
    uint32_t e = rd(ctx, (uint32_t)pa);
    *v = e;
    return e != 0xffffffffu; /* outside RAM: act as absent */
}

/* The guest's mapping of lin (the shared walker, x86/walk.c; no A/D
 * bits set): false if not present. */
static bool do_walk(struct bt *b, uint32_t lin, struct walk *w)
{
    const struct interp_cpu *c = &b->cpu;
    const struct x86_paging pg = {.cr3 = c->cr3, .cr0 = c->cr0,
                                  .cr4 = c->cr4 & ~(uint32_t)CR4_PAE};
    const struct x86_pt_io io = {pt_read, NULL, b};
    struct x86_walk xw;
    if (x86_page_walk(&pg, lin, &io, &xw) != X86_WALK_OK)
        return false;
    w->pde_pa = (uint32_t)xw.ent_pa[0];
    w->pde = (uint32_t)xw.ent[0];
    w->pte_pa = xw.n == 2 ? (uint32_t)xw.ent_pa[1] : 0;
    w->pte = (uint32_t)xw.ent[xw.n - 1];
    w->pa = (uint32_t)xw.pa & ~0xfffu;
    w->u = xw.u;
    w->w = xw.w;
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

void bt_shadow_unlink_all(struct bt *b)
{
    struct emit e = {.base = b->tcw, .pos = 0};
    for (uint32_t k = 0; k < b->nxchains; k++)
        e_set_rel32(&e, b->xchains[k].site, b->xchains[k].stub);
    b->st.xchain_unlinks += b->nxchains;
    b->nxchains = 0;
    for (unsigned k = 0; k < BT_IBL_SIZE; k++)
        b->ctx->ibl[k].eip = ~0ull;
}

void bt_shadow_unlink_range(struct bt *b, uint32_t lin, uint64_t len)
{
    struct emit e = {.base = b->tcw, .pos = 0};
    uint32_t kept = 0;
    for (uint32_t k = 0; k < b->nxchains; k++) {
        if ((uint64_t)(b->xchains[k].target - lin) >= len)
            b->xchains[kept++] = b->xchains[k];
        else
            e_set_rel32(&e, b->xchains[k].site, b->xchains[k].stub);
    }
    b->st.xchain_unlinks += b->nxchains - kept;
    b->st.xchains_kept_range += kept;
    b->nxchains = kept;
    for (unsigned k = 0; k < BT_IBL_SIZE; k++) {
        uint64_t key = b->ctx->ibl[k].eip;
        if (key != ~0ull && (uint64_t)((uint32_t)key - lin) < len)
            b->ctx->ibl[k].eip = ~0ull;
    }
}

void bt_shadow_note_xchain(struct bt *b, uint32_t site, uint32_t stub,
                           uint32_t target)
{
    if (b->nxchains >= BT_MAX_XCHAINS)
        bt_shadow_unlink_all(b);
    b->xchains[b->nxchains].site = site;
    b->xchains[b->nxchains].stub = stub;
    b->xchains[b->nxchains].target = target;
    b->nxchains++;
}

/* Does linear page lin map the same frame, present, with the same U/S
 * bit, through PDE o (old space) and n (new space, directory at pd)?
 * (Code translated from it is then the same code, reached with the same
 * rights.)  If so, the new space's entries get their accessed bits, as a
 * fetch through them would set (chained code does not look them up;
 * setting A early is allowed, SDM 4.10.1.3). */
static bool same_page(struct bt *b, uint32_t o, uint32_t n, uint32_t lin,
                      uint32_t pd)
{
    if (!(o & PTE_P) || !(n & PTE_P))
        return false;
    bool pse = b->cpu.cr4 & CR4_PSE;
    if ((pse && ((o | n) & PTE_PS)) || ((o ^ n) & PTE_U))
        return false; /* a large page with another PDE: not the same */
    uint32_t idx = ((lin >> 12) & 1023) * 4;
    uint32_t po = rd(b, (o & ~0xfffu) + idx), pn = rd(b, (n & ~0xfffu) + idx);
    if (!(po & PTE_P) || po == 0xffffffffu ||
        ((po ^ pn) & (~0xfffu | PTE_P | PTE_U)))
        return false;
    if (!(n & PTE_A))
        wr(b, pd + (lin >> 22) * 4, n | PTE_A);
    if (!(pn & PTE_A))
        wr(b, (n & ~0xfffu) + idx, pn | PTE_A);
    return true;
}

void bt_shadow_unlink_switch(struct bt *b, uint32_t old_cr3,
                             uint32_t new_cr3)
{
    uint64_t po = old_cr3 & ~0xfffu, pn = new_cr3 & ~0xfffu;
    if (po + 4096 > b->ram_size || pn + 4096 > b->ram_size) {
        bt_shadow_unlink_all(b);
        return;
    }
    /* per 4 MiB region: the same present PDE in both directories (the
     * same page table or large page: the same mappings) */
    uint32_t same[32] = {0};
    const uint32_t *o = (const uint32_t *)(b->ram_alias + po);
    const uint32_t *n = (const uint32_t *)(b->ram_alias + pn);
    for (unsigned i = 0; i < 1024; i++)
        if ((o[i] & PTE_P) && o[i] == n[i])
            same[i >> 5] |= 1u << (i & 31);
#define SAME(lin) (same[(lin) >> 27] & (1u << (((lin) >> 22) & 31)))
    /* else: the same frame through different page tables (a forked
     * child's code) */
#define KEEP(lin) (SAME(lin) || same_page(b, o[(lin) >> 22], n[(lin) >> 22], \
                                          (lin), (uint32_t)pn))
    struct emit e = {.base = b->tcw, .pos = 0};
    uint32_t kept = 0;
    for (uint32_t k = 0; k < b->nxchains; k++) {
        if (KEEP(b->xchains[k].target))
            b->xchains[kept++] = b->xchains[k];
        else
            e_set_rel32(&e, b->xchains[k].site, b->xchains[k].stub);
    }
    b->st.xchain_unlinks += b->nxchains - kept;
    b->st.xchains_kept += kept;
    b->nxchains = kept;
    for (unsigned k = 0; k < BT_IBL_SIZE; k++) {
        uint64_t key = b->ctx->ibl[k].eip;
        if (key == ~0ull)
            continue;
        if (KEEP((uint32_t)key))
            b->st.ibl_kept++;
        else
            b->ctx->ibl[k].eip = ~0ull;
    }
#undef KEEP
#undef SAME
}

void bt_shadow_flush(struct bt *b)
{
    for (int s = 0; s < BT_AS_SLOTS; s++) {
        bt_as_clear(b, s, false);
        b->as[s].used = false;
    }
    memset(b->rmap, 0, (b->ram_size >> 12) * sizeof(uint64_t));
    for (uint32_t k = 0; k < b->npt; k++) {
        uint32_t pfn = b->pt_list[k];
        if (b->pt_role[pfn] && b->traced[pfn] != 1)
            bt_untrace_page(b, pfn);
        b->pt_role[pfn] = 0;
        b->pt_owner[pfn] = 0;
    }
    b->npt = 0;
    b->npt_written = 0;
    b->nunsync = 0;
    bt_shadow_unlink_all(b);
    atomic_store(&b->pt_dirty, false);
    b->as[b->cur_as].used = true;
    b->as[b->cur_as].cr3 = b->cpu.cr3;
    bt_as_activate(b, b->cur_as);
    b->sh_cr0 = b->cpu.cr0;
    b->sh_cr3 = b->cpu.cr3;
    b->sh_cr4 = b->cpu.cr4;
    b->sh_valid = true;
    b->st.shadow_flushes++;
}

/* Drop the shadows of [lin, lin+len) in every cached address space (a
 * page table may serve several), except view skip_view of the current
 * one (-1: none); views with nothing mapped there cost nothing.  unlink:
 * the guest mapping of the range changed, so chains into it and ibl
 * entries for it are dropped (if code was translated from it). */
static void invalidate_views(struct bt *b, uint32_t lin, uint64_t len,
                             int skip_view, bool unlink)
{
    for (int s = 0; s < BT_AS_SLOTS; s++) {
        struct bt_as *a = &b->as[s];
        if (!a->used)
            continue;
        for (int v = VIEW_KERNEL; v <= VIEW_USER; v++) {
            if (s == b->cur_as && v == skip_view)
                continue;
            if (!bt_as_smap_take(a, v - VIEW_KERNEL, lin, len)) {
                b->st.view_unmaps_skipped++;
                continue;
            }
            if (mmap(a->view[v - VIEW_KERNEL] + lin, len, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                     -1, 0) == MAP_FAILED) {
                b->st.shadow_map_failures++; /* splitting needs a mapping */
                bt_host_failed(b, "mmap (dropping a shadow)", errno);
                bt_shadow_flush(b);
                return;
            }
            bt_budget_add(b, 2);
        }
    }
    b->st.shadow_invalidations++;
    if (!unlink)
        return;
    if (!bt_tc_code_in(b, lin, len)) {
        b->st.unlinks_skipped++;
        return;
    }
    bt_shadow_unlink_range(b, lin, len);
}

void bt_shadow_invalidate(struct bt *b, uint32_t lin, uint64_t len)
{
    invalidate_views(b, lin, len, -1, true);
}

static void rmap_add(struct bt *b, uint32_t pfn, uint32_t lpn, int view);
static bool mark_tables(struct bt *b, uint32_t lin, const struct walk *w);

/* After a write of one PTE (4 KiB page at lin): map the page it now
 * points to at once, in the view that will most likely use it (the user
 * view for a user page, else the kernel view), instead of dropping the
 * shadow and taking a hidden fault (a host signal) on the next access.
 * That caches the translation before any access and sets its accessed
 * bits: allowed, SDM 4.10.1.3 (translations may be cached, A set, for
 * speculative accesses that never occur).  D is never set early: the
 * page is mapped read-only until a write sets D.  Returns false if it
 * did not (the caller invalidates). */
static bool prefetch(struct bt *b, uint32_t lin, bool was_present)
{
    struct walk w;
    if (!do_walk(b, lin, &w) || !w.pte_pa ||
        (uint64_t)w.pa + 4096 > b->ram_size)
        return false;
    if (bt_budget_tight(b)) {
        bt_budget_reclaim(b, true); /* everything dropped: nothing to do */
        return true;
    }
    uint32_t pfn = w.pa >> 12;
    int view = w.u ? VIEW_USER : VIEW_KERNEL;
    /* the other view, other address spaces sharing this table */
    invalidate_views(b, lin, 4096, view, was_present);
    /* the current space's directory and table must be traced before a
     * shadow derives from them (the table written may be another
     * space's) */
    if (!mark_tables(b, lin, &w))
        return true; /* everything was flushed meanwhile */
    if (!(w.pde & PTE_A))
        wr(b, w.pde_pa, w.pde | PTE_A);
    if (!(w.pte & PTE_A))
        wr(b, w.pte_pa, w.pte | PTE_A);
    int prot = PROT_READ;
    if ((w.pte & PTE_D) && rights(b, &w, view == VIEW_USER, true) &&
        b->traced[pfn] != 1 && !b->pt_role[pfn])
        prot |= PROT_WRITE;
    if (mmap(b->view[view] + lin, 4096, prot, MAP_SHARED | MAP_FIXED,
             b->ram_fd, (off_t)w.pa) == MAP_FAILED) {
        b->st.shadow_map_failures++;
        bt_host_failed(b, "mmap (prefetching a shadow)", errno);
        bt_shadow_flush(b);
        return true;
    }
    bt_budget_add(b, 2);
    bt_as_smap_set(&b->as[b->cur_as], view - VIEW_KERNEL, lin >> 12);
    if (prot & PROT_WRITE)
        rmap_add(b, pfn, lin >> 12, view);
    b->st.shadow_prefetches++;
    return true;
}

/* Set the accessed bits of lin's PDE and PTE (as a speculative access
 * may, SDM 4.10.1.3) through the RAM alias. */
static void set_accessed(struct bt *b, uint32_t lin)
{
    struct walk w;
    if (!do_walk(b, lin, &w))
        return;
    if (!(w.pde & PTE_A))
        wr(b, w.pde_pa, w.pde | PTE_A);
    if (w.pte_pa && !(w.pte & PTE_A))
        wr(b, w.pte_pa, w.pte | PTE_A);
}

/* Write-protect page table pfn again after a write; false if that failed
 * and every shadow was flushed instead. */
static bool reprotect_pt(struct bt *b, uint32_t pfn)
{
    if (mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ) == 0) {
        bt_budget_add(b, 2);
        return true;
    }
    bt_host_failed(b, "mprotect (tracing a page table)", errno);
    bt_shadow_flush(b); /* no page table is traced then */
    return false;
}

/* Entries first..last of page directory pfn were written: drop the
 * shadows of their 4 MiB regions in the address spaces it is the root of
 * (a PDE that was not present has none: nothing to unmap there), and the
 * chains into them if code was translated there. */
static void pd_write_done(struct bt *b, uint32_t pfn, uint32_t first,
                          uint32_t last)
{
    uint32_t lin = first << 22;
    uint64_t len = (uint64_t)(last - first + 1) << 22;
    for (int s = 0; s < BT_AS_SLOTS; s++) {
        struct bt_as *a = &b->as[s];
        if (!a->used || (a->cr3 >> 12) != pfn)
            continue;
        for (int vi = 0; vi < 2; vi++) {
            if (!bt_as_smap_take(a, vi, lin, len)) {
                b->st.view_unmaps_skipped++;
                continue;
            }
            if (mmap(a->view[vi] + lin, len, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                     -1, 0) == MAP_FAILED) {
                b->st.shadow_map_failures++;
                bt_host_failed(b, "mmap (dropping a shadow)", errno);
                bt_shadow_flush(b);
                return;
            }
            bt_budget_add(b, 2);
        }
        if (s == b->cur_as && bt_tc_code_in(b, lin, len))
            bt_shadow_unlink_range(b, lin, len);
    }
    b->clean_lin = -1;
    b->st.pd_writes_precise++;
}

void bt_shadow_pt_write_done(struct bt *b, unsigned size)
{
    int64_t pa = b->ptw_pa;
    b->ptw_pa = -1;
    uint32_t pfn = (uint32_t)(pa >> 12);
    if (pa < 0 || b->npt_written != 1 || b->pt_written[0] != pfn)
        return; /* the general path (bt_shadow_sync) handles it */
    uint16_t own = b->pt_owner[pfn];
    if (own == PT_OWNER_PD) {
        uint32_t first = ((uint32_t)pa & 0xfff) >> 2;
        uint32_t last = (((uint32_t)pa & 0xfff) + size - 1) >> 2;
        b->npt_written = 0;
        if (b->pt_role[pfn] == 2) {
            b->pt_role[pfn] = 1;
            if (!reprotect_pt(b, pfn))
                return;
        }
        pd_write_done(b, pfn, first, last > 1023 ? 1023 : last);
        return;
    }
    if (own == 0 || own == PT_OWNER_MULTI)
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
        if (!reprotect_pt(b, pfn))
            return;
    }
    b->st.pt_writes_precise++;
    uint32_t lin = base + (first << 12);
    bool hot = first == last && bt_hot_pte_write(b, lin, was_present);
    if (!hot && bt_unsync_pte_write(b, pfn, base, first, last)) {
        b->clean_lin = -1;
        return; /* dropped at the next TLB flush */
    }
    if (first == last && !hot && prefetch(b, lin, was_present)) {
        b->clean_lin = (int64_t)lin; /* the shadow is current */
        return;
    }
    if (hot)
        set_accessed(b, lin); /* the interpreter's walk need not (a
                               * write into a traced table) */
    if (first == last && !was_present && !hot)
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
        if (own == 0 || own == PT_OWNER_MULTI) {
            b->st.flush_pt_multi++;
            bt_shadow_flush(b);
            return;
        }
        if (own == PT_OWNER_PD) {
            /* a page directory: only the address spaces it is the root
             * of (none if it no longer is one) */
            b->st.pd_writes_slot++;
            for (int s = 0; s < BT_AS_SLOTS; s++) {
                if (!b->as[s].used || (b->as[s].cr3 >> 12) != pfn)
                    continue;
                bt_as_clear(b, s, true);
                if (s == b->cur_as) {
                    b->clean_lin = -1;
                    bt_shadow_unlink_all(b);
                }
            }
        } else {
            bt_shadow_invalidate(b, (uint32_t)(own - 1) << 22, 1u << 22);
        }
        if (b->pt_role[pfn] == 2 && bt_shadow_pt_unused(b, pfn))
            continue; /* not a page table any more: stays writable */
        if (b->pt_role[pfn] == 2) {
            b->pt_role[pfn] = 1;
            if (!reprotect_pt(b, pfn))
                return;
        }
    }
    b->npt_written = 0;
}

void bt_shadow_sync(struct bt *b)
{
    const struct interp_cpu *c = &b->cpu;
    const uint32_t cr0_bits = CR0_PG | CR0_WP | CR0_PE;
    const uint32_t cr4_bits = CR4_PSE | CR4_PAE | CR4_PGE;
    bt_unsync_check(b);
    if (b->sh_valid && (((c->cr0 ^ b->sh_cr0) & CR0_PG) ||
                        ((c->cr4 ^ b->sh_cr4) & CR4_SMEP))) {
        /* (SMEP: fragments made without it may run from user pages) */
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
    } else {
        if (b->npt > BT_PT_TRACED_MAX) {
            /* page tables of spaces long gone stay traced (every write
             * to such a page traps): start afresh now and then */
            b->st.pt_traced_resets++;
            bt_shadow_flush(b);
        } else if (atomic_load(&b->pt_dirty)) {
            b->st.pt_writes_from_interp++;
            b->st.flush_pt_dirty++;
            bt_shadow_flush(b);
        } else if (b->npt_written) {
            process_pt_writes(b);
        }
        if (c->cr3 != b->sh_cr3) {
            b->st.cr3_switches++;
            bt_as_switch(b, c->cr3);
        }
    }
}

void bt_shadow_protect_phys(struct bt *b, uint32_t pfn)
{
    uint64_t r = b->rmap ? b->rmap[pfn] : 0;
    if (!r)
        return;
    if (r == RMAP_MULTI) {
        b->st.flush_rmap_multi++;
        bt_shadow_flush(b);
        return;
    }
    /* The recorded mapping may be stale (its range invalidated since):
     * in the current address space, map the page read-only only where the
     * guest still maps it there, else (and in the other address spaces)
     * drop the shadow (never mprotect: that could expose an anonymous
     * page in the view). */
    uint32_t lin = (uint32_t)(((r >> BT_RMAP_SHIFT) - 1) << 12);
    struct walk w;
    bool still = do_walk(b, lin, &w) && (w.pa >> 12) == pfn;
    b->rmap[pfn] = 0;
    for (int s = 0; s < BT_AS_SLOTS; s++)
        for (int v = VIEW_KERNEL; v <= VIEW_USER; v++) {
            if (!(r & bt_rmap_bit(s, v)))
                continue;
            uint8_t *at = b->as[s].view[v - VIEW_KERNEL] + lin;
            void *p;
            if (s == b->cur_as && still && (v == VIEW_KERNEL || w.u))
                p = mmap(at, 4096, PROT_READ, MAP_SHARED | MAP_FIXED,
                         b->ram_fd, (off_t)w.pa);
            else
                p = mmap(at, 4096, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                             MAP_FIXED,
                         -1, 0);
            if (p == MAP_FAILED) {
                /* the writable mapping must not survive: drop all */
                b->st.shadow_map_failures++;
                bt_host_failed(b, "mmap (write-protecting a shadow)",
                               errno);
                bt_shadow_flush(b);
                return;
            }
            bt_budget_add(b, 2);
        }
}

static void rmap_add(struct bt *b, uint32_t pfn, uint32_t lpn, int view)
{
    uint64_t bit = bt_rmap_bit(b->cur_as, view);
    uint64_t r = b->rmap[pfn];
    if (!r)
        b->rmap[pfn] = ((uint64_t)lpn + 1) << BT_RMAP_SHIFT | bit;
    else if (r != RMAP_MULTI && (r >> BT_RMAP_SHIFT) == (uint64_t)lpn + 1)
        b->rmap[pfn] = r | bit;
    else
        b->rmap[pfn] = RMAP_MULTI;
}

/* Does a cached address space still use page table pfn for region own-1
 * (its page directory points there)?  If none does, no shadow derived
 * through it at that region is left (page-directory writes empty the
 * spaces they belong to), and it may serve another region. */
static bool pt_in_use(struct bt *b, uint32_t pfn, uint16_t own)
{
    for (int s = 0; s < BT_AS_SLOTS; s++) {
        if (!b->as[s].used)
            continue;
        uint32_t pde = rd(b, (b->as[s].cr3 & ~0xfffu) | (uint32_t)(own - 1) * 4);
        if ((pde & PTE_P) && !((pde & PTE_PS) && (b->cpu.cr4 & CR4_PSE)) &&
            (pde >> 12) == pfn)
            return true;
    }
    return false;
}

bool bt_shadow_pt_unused(struct bt *b, uint32_t pfn)
{
    uint16_t own = b->pt_owner[pfn];
    if (b->pt_role[pfn] == 0 || own == 0 || own == PT_OWNER_MULTI)
        return false;
    if (own == PT_OWNER_PD) {
        /* a directory is live while it is the current root; a cached
         * space it is the root of is given up (its process is most
         * likely gone: the page was freed and is reused) */
        if ((b->cpu.cr3 >> 12) == pfn || (b->sh_cr3 >> 12) == pfn)
            return false;
        for (int s = 0; s < BT_AS_SLOTS; s++) {
            if (!b->as[s].used || (b->as[s].cr3 >> 12) != pfn)
                continue;
            if (s == b->cur_as)
                return false;
            bt_as_clear(b, s, true);
            b->as[s].used = false;
        }
    } else if (pt_in_use(b, pfn, own)) {
        return false;
    }
    /* no cached space reaches a shadow through it: plain RAM again */
    if (b->traced[pfn] != 1 && !bt_untrace_page(b, pfn))
        return false;
    b->pt_role[pfn] = 0;
    b->pt_owner[pfn] = 0;
    b->st.pt_untraced++;
    return true;
}

static void mark_pt(struct bt *b, uint32_t pa, uint16_t owner)
{
    uint32_t pfn = pa >> 12;
    if ((uint64_t)pa >= b->ram_size)
        return;
    if (!b->pt_role[pfn]) {
        if (b->npt >= (b->ram_size >> 12)) {
            bt_shadow_flush(b); /* pages untraced and traced again */
            return;
        }
        if (bt_budget_tight(b)) {
            bt_budget_reclaim(b, true); /* the caller sees the flush */
            return;
        }
        if (mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ)) {
            /* an untraced page table: no shadow may derive from it */
            bt_host_failed(b, "mprotect (tracing a page table)", errno);
            bt_shadow_flush(b);
            return;
        }
        bt_budget_add(b, 2);
    }
    uint16_t old = b->pt_owner[pfn];
    if (old != owner) {
        /* a table freed and reused for another region: not "multiple"
         * (whose writes flush everything) unless the old use is live */
        bool stale = old && old != PT_OWNER_PD && old != PT_OWNER_MULTI &&
                     owner != PT_OWNER_PD && !pt_in_use(b, pfn, old);
        if (stale)
            b->st.pt_owner_reused++;
        b->pt_owner[pfn] = old && !stale ? PT_OWNER_MULTI : owner;
    }
    if (b->pt_role[pfn])
        return;
    b->pt_role[pfn] = 1;
    b->pt_list[b->npt++] = pfn;
    bt_shadow_protect_phys(b, pfn);
}

/* Trace the directory and table of walk w (for lin) before a shadow is
 * derived from them; false if that flushed all shadows (then the tables
 * are no longer traced: the caller must not map anything). */
static bool mark_tables(struct bt *b, uint32_t lin, const struct walk *w)
{
    uint64_t flushes = b->st.shadow_flushes;
    mark_pt(b, w->pde_pa, PT_OWNER_PD);
    if (w->pte_pa)
        mark_pt(b, w->pte_pa, (uint16_t)((lin >> 22) + 1));
    return b->st.shadow_flushes == flushes;
}

bool bt_shadow_fault(struct bt *b, int view, uint32_t lin, bool write)
{
    bool user = view == VIEW_USER;
    if (bt_budget_tight(b)) {
        bt_budget_reclaim(b, true);
        return true; /* fault again with room for the mapping */
    }
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
    if (bt_hot_refuse(b, lin)) {
        b->fault_adapt = true;
        return false; /* the interpreter does the access: no shadow */
    }
    if (!mark_tables(b, lin, &w))
        return true; /* all shadows flushed meanwhile: fault again */
    if (write && b->pt_role[pfn] == 1 && b->traced[pfn] != 1 &&
        bt_shadow_pt_unused(b, pfn)) {
        /* a page table no longer used as one: written like RAM */
    } else if (write && (b->traced[pfn] == 1 || b->pt_role[pfn])) {
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
    if ((w.pte_pa ? bt_run_fill_small(b, view, lin, npde, w.pte_pa)
                  : bt_run_fill_large(b, view, lin, w.pde)) &&
        prot == PROT_READ) {
        b->st.hidden_page_faults++;
        return true; /* the page is in the run */
    }
    uint8_t *at = b->view[view] + (lin & ~0xfffu);
    if (mmap(at, 4096, prot, MAP_SHARED | MAP_FIXED, b->ram_fd,
             (off_t)w.pa) == MAP_FAILED) {
        /* Most likely out of mappings (vm.max_map_count: scattered pages
         * do not merge into one VMA): start afresh and fault again (or
         * stop, if that keeps failing). */
        b->st.shadow_map_failures++;
        if (!bt_host_failed(b, "mmap (filling a shadow)", errno))
            return false;
        bt_budget_reclaim(b, true);
        return true;
    }
    bt_budget_add(b, 2);
    bt_as_smap_set(&b->as[b->cur_as], view - VIEW_KERNEL, lin >> 12);
    if (prot & PROT_WRITE)
        rmap_add(b, pfn, lin >> 12, view);
    if (write && !(w.pte_pa ? (w.pte & PTE_D) : (w.pde & PTE_D)))
        b->st.dirty_bit_faults++;
    b->st.hidden_page_faults++;
    if (view == VIEW_USER)
        b->st.hidden_faults_user_view++;
    return true;
}
