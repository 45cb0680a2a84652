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
 * is the PDE's, set by the caller as for any access. */
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
