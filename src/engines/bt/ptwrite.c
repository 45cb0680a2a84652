/* ptwrite.c - linear pages whose page-table entry the guest keeps
 * rewriting while it is in use ("hot" pages: a kernel's temporary-mapping
 * slot, ptemod).  A shadow is a host mapping; changing one the host has
 * populated costs a host TLB flush (7-9k cycles on an idle host, far more
 * under load), once per PTE write.  So past BT_HOT_THRESHOLD rewrites of
 * a present 4 KiB PTE, a page stops being shadowed: its PTE writes only
 * drop a shadow that is not there (no host call), and accesses to it fault
 * into the interpreter, which walks the guest tables itself; adaptive
 * translation (adapt.c) turns the instructions that keep doing so into
 * callouts, so neither side costs a host signal or system call.  Only
 * rewrites in quick succession count (each within BT_HOT_WINDOW precise
 * PTE writes of the previous one: not a fork's or a COW break's).  A hot
 * page whose PTE has not been written for BT_HOT_COOL precise PTE writes
 * is shadowed again at its next fault.  Direct-mapped table by linear
 * page; a collision just forgets a page. */
#include <string.h>

#include "bt.h"

static struct bt_hot *hot_slot(struct bt *b, uint32_t lpn)
{
    return &b->hot[(lpn ^ (lpn >> 10)) & (BT_HOT_SIZE - 1)];
}

bool bt_hot_pte_write(struct bt *b, uint32_t lin, bool was_present)
{
    uint32_t lpn = lin >> 12;
    struct bt_hot *h = hot_slot(b, lpn);
    uint64_t now = b->st.pt_writes_precise;
    if (h->lpn1 != lpn + 1) {
        if (!was_present)
            return false;
        h->lpn1 = lpn + 1;
        h->writes = 0;
    } else if (h->writes < BT_HOT_THRESHOLD &&
               now - h->last > BT_HOT_WINDOW) {
        h->writes = 0; /* rewritten now and then (fork, COW): not hot */
    }
    h->last = now;
    if (h->writes < BT_HOT_THRESHOLD) {
        if (was_present && ++h->writes == BT_HOT_THRESHOLD)
            b->st.hot_pages++;
        return false;
    }
    b->st.hot_pte_writes++;
    return true;
}

bool bt_hot_refuse(struct bt *b, uint32_t lin)
{
    uint32_t lpn = lin >> 12;
    struct bt_hot *h = hot_slot(b, lpn);
    if (h->lpn1 != lpn + 1 || h->writes < BT_HOT_THRESHOLD)
        return false;
    if (b->st.pt_writes_precise - h->last > BT_HOT_COOL) {
        h->lpn1 = 0; /* cooled down: shadow it again */
        b->st.hot_pages_cooled++;
        return false;
    }
    b->st.hot_faults_interp++;
    return true;
}

uint64_t bt_hot_stamp(struct bt *b, uint32_t lpn)
{
    struct bt_hot *h = hot_slot(b, lpn);
    return h->lpn1 == lpn + 1 && h->writes >= BT_HOT_THRESHOLD ? h->last + 1
                                                               : 0;
}

/* ---- unsynchronised page tables ----
 * A page table written BT_UNSYNC_AFTER times in a row (precise PTE
 * writes, none elsewhere in between: a fork write-protecting the parent's
 * entries, an exit clearing a table) stops being synchronised entry by
 * entry: its further writes only note the entries written.  That is what
 * a TLB allows: a changed entry that was present may stay cached until
 * the guest flushes (invlpg drops its page as before, see shadow.c); one
 * that was not present had no shadow, and a fault there walks the guest
 * tables afresh.  At the next TLB flush of the interpreter's (a CR3 write
 * or switch, CR4 change, hypercall; bt_shadow_sync) the shadows of the
 * entries written are dropped, in ranges, in every cached space, and the
 * table is synchronised again (it stays traced throughout). */

bool bt_unsync_pte_write(struct bt *b, uint32_t pfn, uint32_t base,
                         uint32_t first, uint32_t last)
{
    struct bt_unsync *u = NULL;
    for (uint32_t k = 0; k < b->nunsync && !u; k++)
        if (b->unsync[k].pfn == pfn && b->unsync[k].base == base)
            u = &b->unsync[k];
    if (!u) {
        if (pfn != b->burst_pfn) {
            b->burst_pfn = pfn;
            b->burst_n = 0;
        }
        if (++b->burst_n < BT_UNSYNC_AFTER || b->nunsync == BT_UNSYNC_MAX)
            return false;
        if (!b->nunsync)
            b->unsync_flushes = b->cpu.tlb_flushes;
        u = &b->unsync[b->nunsync++];
        u->pfn = pfn;
        u->base = base;
        memset(u->written, 0, sizeof(u->written));
        b->st.unsync_tables++;
    }
    for (uint32_t e = first; e <= last && e < 1024; e++)
        u->written[e >> 6] |= 1ull << (e & 63);
    b->st.unsync_writes++;
    return true;
}

void bt_unsync_check(struct bt *b)
{
    if (!b->nunsync || b->cpu.tlb_flushes == b->unsync_flushes)
        return;
    uint32_t n = b->nunsync;
    b->nunsync = 0; /* (an invalidation may flush all shadows) */
    b->burst_n = 0;
    b->st.unsync_resyncs++;
    uint64_t flushes = b->st.shadow_flushes;
    for (uint32_t k = 0; k < n && b->st.shadow_flushes == flushes; k++) {
        const struct bt_unsync *u = &b->unsync[k];
        for (uint32_t e = 0; e < 1024;) {
            if (!(u->written[e >> 6] & (1ull << (e & 63)))) {
                e++;
                continue;
            }
            uint32_t s = e;
            while (e < 1024 && (u->written[e >> 6] & (1ull << (e & 63))))
                e++;
            bt_shadow_invalidate(b, u->base + (s << 12), (e - s) << 12);
        }
    }
}
