/* walk.c - the shared x86 page walker (see walk.h). */
#include "walk.h"

#include "../core/cpu_state.h"

#define ADDR_MASK_WIDE 0x000ffffffffff000ull

enum x86_walk_result x86_page_walk(const struct x86_paging *pg, uint64_t lin,
                                   const struct x86_pt_io *io,
                                   struct x86_walk *w)
{
    bool wide = pg->lma || (pg->cr4 & CR4_PAE);
    int levels = pg->lma ? 4 : wide ? 3 : 2;
    uint64_t table = pg->cr3 & (pg->lma ? ADDR_MASK_WIDE
                                : wide  ? 0xffffffe0ull
                                        : 0xfffff000ull);
    w->n = 0;
    w->wide = wide;
    w->pae_pdpt = wide && !pg->lma;
    w->u = w->w = true;
    w->global = false;
    for (int lvl = levels; lvl >= 1; lvl--) {
        unsigned shift = wide ? 12 + 9 * (unsigned)(lvl - 1)
                              : 12 + 10 * (unsigned)(lvl - 1);
        unsigned bits = wide ? 9 : 10;
        bool pdpte = w->pae_pdpt && lvl == 3;
        if (pdpte)
            bits = 2; /* the PAE PDPT has 4 entries */
        uint64_t idx = (lin >> shift) & ((1ull << bits) - 1);
        uint64_t ea = table + idx * (wide ? 8 : 4);
        uint64_t e;
        if (!io->read(io->ctx, ea, wide, &e))
            return X86_WALK_BAD_TABLE;
        w->ent[w->n] = e;
        w->ent_pa[w->n++] = ea;
        if (!(e & PTE_P))
            return X86_WALK_NP;
        if (!pdpte) {
            w->w = w->w && (e & PTE_W);
            w->u = w->u && (e & PTE_U);
        }
        bool large = !pdpte && lvl > 1 && (e & PTE_PS) &&
                     (wide || (pg->cr4 & CR4_PSE));
        if (lvl == 1 || large) {
            uint64_t page = 1ull << shift;
            uint64_t base;
            if (wide)
                base = e & ADDR_MASK_WIDE & ~(page - 1);
            else if (large) /* PSE-36: bits 20:13 are PA bits 39:32 */
                base = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
            else
                base = e & 0xfffff000ull;
            w->pa = base | (lin & (page - 1));
            w->page_size = page;
            w->global = (e & PTE_G) && (pg->cr4 & CR4_PGE);
            return X86_WALK_OK;
        }
        table = e & (wide ? ADDR_MASK_WIDE : 0xfffff000ull);
    }
    return X86_WALK_BAD_TABLE; /* not reached */
}

bool x86_walk_rights(const struct x86_paging *pg, const struct x86_walk *w,
                     bool user, bool write)
{
    if (user && !w->u)
        return false;
    if (write && !w->w && (user || (pg->cr0 & CR0_WP)))
        return false;
    return true;
}

void x86_walk_set_ad(struct x86_walk *w, bool write,
                     const struct x86_pt_io *io)
{
    for (int k = w->pae_pdpt ? 1 : 0; k < w->n; k++) {
        uint64_t ne = w->ent[k] | PTE_A;
        if (k == w->n - 1 && write)
            ne |= PTE_D;
        if (ne != w->ent[k]) {
            io->write(io->ctx, w->ent_pa[k], w->wide, ne);
            w->ent[k] = ne;
        }
    }
}
