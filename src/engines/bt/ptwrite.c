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
