/* runfill.c - shadows filled in runs.  A hidden fault in a 4 MiB guest
 * page (a kernel's direct map) maps the whole 4 MiB region of the view
 * with one host mmap, read-only (the page written, if any, is then mapped
 * on its own by the caller): later reads anywhere in the region are
 * resolved by the host kernel without a signal, and a first write costs
 * what it cost before (one hidden fault).  Read-only keeps every traced
 * page (code, page tables) protected and needs no reverse-map entries
 * (the reverse map records writable shadows only).  Only into a region
 * of the view where nothing is mapped yet (no populated mapping is
 * replaced), and only as far as RAM goes (the rest faults as before).  The accessed bit
 * is the PDE's, set by the caller as for any access.  Runs of 4 KiB pages
 * contiguous in linear and physical space (a kernel image mapped with 4 KiB
 * pages) are filled the same way, up to BT_RUN_MAX pages. */
#include <errno.h>
#include <sys/mman.h>

#include "bt.h"

bool bt_run_fill_large(struct bt *b, int view, uint32_t lin, uint32_t pde)
{
    uint32_t base = lin & ~0x3fffffu, frame = pde & 0xffc00000u;
    int vi = view - VIEW_KERNEL;
    struct bt_as *a = &b->as[b->cur_as];
    uint32_t reg = base >> 22;
    if ((uint64_t)frame >= b->ram_size ||
        (a->sum[vi][reg >> 5] & (1u << (reg & 31))))
        return false;
    uint64_t len = b->ram_size - frame < (1u << 22) ? b->ram_size - frame
                                                    : 1u << 22;
    if (mmap(b->view[view] + base, len, PROT_READ,
             MAP_SHARED | MAP_FIXED, b->ram_fd, (off_t)frame) == MAP_FAILED) {
        b->st.shadow_map_failures++;
        bt_host_failed(b, "mmap (a run of shadows)", errno);
        return false; /* the caller maps the one page */
    }
    bt_budget_add(b, 2);
    for (uint32_t p = 0; p < len >> 12; p++)
        bt_as_smap_set(a, vi, (base >> 12) + p);
    b->st.run_fills++;
    b->st.run_fill_pages += len >> 12;
    return true;
}

/* Is linear page lpn (maybe) mapped in view vi of a? */
static bool smapped(const struct bt_as *a, int vi, uint32_t lpn)
{
    return a->smap[vi][lpn >> 6] & (1ull << (lpn & 63));
}

bool bt_run_fill_small(struct bt *b, int view, uint32_t lin, uint32_t pde,
                       uint32_t pte_pa)
{
    int vi = view - VIEW_KERNEL;
    struct bt_as *a = &b->as[b->cur_as];
    uint32_t need = PTE_P | PTE_A | (view == VIEW_USER ? PTE_U : 0);
    if ((pde & need) != need || (uint64_t)(pte_pa & ~0xfffu) + 4096 > b->ram_size)
        return false;
    uint32_t *pt = (uint32_t *)(b->ram_alias + (pte_pa & ~0xfffu));
    uint32_t idx = (pte_pa & 0xfff) >> 2, pte = pt[idx];
    uint32_t lpn0 = (lin >> 12) - idx; /* linear page of entry 0 */
    /* entry k continues the run: present, accessed before (the guest's
     * A bits stay exact), rights for the view, the next frame, in RAM,
     * nothing mapped at its linear page yet */
#define FITS(k, frame)                                                    \
    ((pt[k] & need) == need && (pt[k] & ~0xfffu) == (frame) &&            \
     (uint64_t)(frame) + 4096 <= b->ram_size && !smapped(a, vi, lpn0 + (k)))
    uint32_t f0 = pte & ~0xfffu, lo = idx, hi = idx;
    while (lo > 0 && idx - lo < BT_RUN_MAX / 2 && f0 >= (idx - lo + 1) * 4096u &&
           FITS(lo - 1, f0 - (idx - lo + 1) * 4096u))
        lo--;
    while (hi < 1023 && hi - lo + 1 < BT_RUN_MAX &&
           FITS(hi + 1, f0 + (hi + 1 - idx) * 4096u))
        hi++;
#undef FITS
    if (hi == lo)
        return false;
    uint32_t start = (lpn0 + lo) << 12, frame = f0 - (idx - lo) * 4096u;
    uint64_t len = (uint64_t)(hi - lo + 1) << 12;
    if (mmap(b->view[view] + start, len, PROT_READ, MAP_SHARED | MAP_FIXED,
             b->ram_fd, (off_t)frame) == MAP_FAILED) {
        b->st.shadow_map_failures++;
        bt_host_failed(b, "mmap (a run of shadows)", errno);
        return false;
    }
    bt_budget_add(b, 2);
    for (uint32_t k = lo; k <= hi; k++)
        bt_as_smap_set(a, vi, lpn0 + k);
    b->st.run_fills_small++;
    b->st.run_fill_pages += hi - lo + 1;
    return true;
}
