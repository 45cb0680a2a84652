/* aspace.c - the bt engine's cache of shadow address spaces: BT_AS_SLOTS
 * pairs of views (kernel, user), each 4 GiB aligned and reserved
 * PROT_NONE, keyed by the guest CR3; a CR3 switch activates the cached
 * pair or empties the least recently used one.  Per view, a bitmap of
 * linear pages that may hold a mapping (with a per-4 MiB summary), so
 * that invalidations skip views with nothing there and emptying a view
 * costs nothing when it is empty.  shadow.c fills the views and keeps
 * them consistent with the guest's page tables. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../../core/util.h"
#include "bt.h"

int bt_as_create(struct bt *b)
{
    for (int s = 0; s < BT_AS_SLOTS; s++)
        for (int vi = 0; vi < 2; vi++) {
            struct bt_as *a = &b->as[s];
            if (!(a->view[vi] = bt_window_reserve()))
                return -1;
            if (!(a->smap[vi] = calloc(1u << 14, sizeof(uint64_t))))
                return fail("bt: out of memory for the shadow maps");
        }
    b->cur_as = 0;
    b->view[VIEW_KERNEL] = b->as[0].view[0];
    b->view[VIEW_USER] = b->as[0].view[1];
    return 0;
}

void bt_as_destroy(struct bt *b)
{
    for (int s = 0; s < BT_AS_SLOTS; s++)
        for (int vi = 0; vi < 2; vi++) {
            struct bt_as *a = &b->as[s];
            if (a->view[vi])
                munmap(a->view[vi], BT_WINDOW_SIZE + BT_WINDOW_GUARD);
            free(a->smap[vi]);
            a->view[vi] = NULL;
            a->smap[vi] = NULL;
        }
    b->view[VIEW_KERNEL] = b->view[VIEW_USER] = NULL;
}

/* The shadow maps: which linear pages of a view may hold a mapping, so
 * that invalidations skip the (costly) host mmap where nothing is. */
void bt_as_smap_set(struct bt_as *a, int vi, uint32_t lpn)
{
    a->smap[vi][lpn >> 6] |= 1ull << (lpn & 63);
    a->sum[vi][lpn >> 15] |= 1u << ((lpn >> 10) & 31);
}

/* Anything mapped in view vi of a in [lin, lin + len)?  Clears the bits
 * (the caller unmaps the range when it returns true). */
bool bt_as_smap_take(struct bt_as *a, int vi, uint32_t lin, uint64_t len)
{
    uint32_t first = lin >> 12;
    uint64_t end = ((uint64_t)lin + len + 4095) >> 12;
    bool any = false;
    uint64_t *m = a->smap[vi];
    for (uint64_t p = first; p < end;) {
        uint32_t reg = (uint32_t)(p >> 10);
        if (!(a->sum[vi][reg >> 5] & (1u << (reg & 31)))) {
            p = ((uint64_t)reg + 1) << 10;
            continue;
        }
        uint64_t bit = 1ull << (p & 63);
        if ((p & 63) == 0 && p + 64 <= end) {
            any |= m[p >> 6] != 0;
            m[p >> 6] = 0;
            p += 64;
            continue;
        }
        any |= (m[p >> 6] & bit) != 0;
        m[p >> 6] &= ~bit;
        p++;
    }
    return any;
}

/* Empty view vi of a (nothing mapped, all bits clear). */
static void view_clear(struct bt *b, struct bt_as *a, int vi)
{
    bool any = false;
    for (unsigned w = 0; w < 32; w++) {
        for (uint32_t m = a->sum[vi][w]; m; m &= m - 1) {
            unsigned reg = w * 32 + (unsigned)__builtin_ctz(m);
            memset(&a->smap[vi][reg * 16], 0, 16 * sizeof(uint64_t));
            any = true;
        }
        a->sum[vi][w] = 0;
    }
    if (!any)
        return;
    size_t len = BT_WINDOW_SIZE + BT_WINDOW_GUARD;
    int fl = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;
    if (mmap(a->view[vi], len, PROT_NONE, fl, -1, 0) == MAP_FAILED) {
        bt_host_failed(b, "mmap (emptying a view)", errno);
        if (munmap(a->view[vi], len) != 0 || /* then the range is free */
            mmap(a->view[vi], len, PROT_NONE, fl, -1, 0) == MAP_FAILED) {
            /* stale guest mappings must not be used: stop the guest */
            bt_host_fatal(b, "mmap (emptying a view)", errno);
        }
    }
}

/* Make slot s the current address space (views, smaps). */
void bt_as_activate(struct bt *b, int s)
{
    b->cur_as = s;
    b->as[s].stamp = ++b->as_clock;
    b->view[VIEW_KERNEL] = b->as[s].view[0];
    b->view[VIEW_USER] = b->as[s].view[1];
    b->clean_lin = -1;
}

/* Empty slot s; scan_rmap: drop its bits from the reverse map. */
void bt_as_clear(struct bt *b, int s, bool scan_rmap)
{
    view_clear(b, &b->as[s], 0);
    view_clear(b, &b->as[s], 1);
    if (!scan_rmap)
        return;
    uint64_t bits = bt_rmap_bit(s, VIEW_KERNEL) | bt_rmap_bit(s, VIEW_USER);
    size_t pages = b->ram_size >> 12;
    for (size_t k = 0; k < pages; k++) {
        uint64_t r = b->rmap[k];
        if (r && r != RMAP_MULTI && (r & bits)) {
            r &= ~bits;
            b->rmap[k] = (r & ((1ull << BT_RMAP_SHIFT) - 1)) ? r : 0;
        }
    }
}

/* CR3 now holds cr3: use its cached shadows if there are any, else the
 * least recently used slot, emptied.  Chains across pages and the ibl
 * (keyed by linear eip) belonged to the old address space. */
void bt_as_switch(struct bt *b, uint32_t cr3)
{
    int s = -1, lru = -1;
    for (int k = 0; k < BT_AS_SLOTS; k++) {
        if (b->as[k].used && b->as[k].cr3 == cr3) {
            s = k;
            break;
        }
        if (k == b->cur_as)
            continue;
        if (lru < 0 || !b->as[k].used ||
            (b->as[lru].used && b->as[k].stamp < b->as[lru].stamp))
            lru = k;
    }
    if (s >= 0) {
        b->st.as_hits++;
    } else {
        b->st.as_misses++;
        s = lru;
        if (b->as[s].used) {
            b->st.as_evictions++;
            bt_as_clear(b, s, true);
        }
        b->as[s].used = true;
        b->as[s].cr3 = cr3;
    }
    uint32_t old = b->sh_cr3;
    bt_as_activate(b, s);
    b->sh_cr3 = cr3;
    bt_shadow_unlink_switch(b, old, cr3);
}
