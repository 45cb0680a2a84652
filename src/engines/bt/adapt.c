/* adapt.c - adaptive translation (Adams & Agesen, section 3.3): a guest
 * instruction whose translation keeps trapping (MMIO, writes to traced
 * pages, divides raising #DE) is counted; past BT_ADAPT_THRESHOLD traps it is marked, the
 * existing translation is patched in place to jump to a new callout stub
 * (so it stops trapping), and future translations call it out directly.
 * An instruction that keeps taking true page faults (a guest's demand
 * paging loop) is called out the same way, so its faults need no host
 * signal, until it runs BT_ADAPT_QUIET times without one: then the
 * fragments holding it are killed and it is translated again.  The same
 * for an instruction that keeps accessing a hot page (ptwrite.c), until
 * it runs BT_ADAPT_QUIET times with no write of that page's PTE in
 * between.
 * The trap table is direct-mapped by EIP; a collision just restarts a
 * count. */
#include <string.h>

#include "emit.h"

void bt_adapt_reset(struct bt *b)
{
    for (unsigned k = 0; k < BT_ADAPT_SIZE; k++) {
        b->adapt[k].pa = ~0u;
        b->adapt[k].traps = 0;
        b->adapt[k].callout = false;
    }
}

static struct bt_adapt *slot(const struct bt *b, uint32_t eip)
{
    return (struct bt_adapt *)&b->adapt[(eip ^ (eip >> 12)) &
                                        (BT_ADAPT_SIZE - 1)];
}

bool bt_adapt_is_callout(const struct bt *b, uint32_t eip, uint32_t pa)
{
    const struct bt_adapt *a = slot(b, eip);
    return a->callout && a->eip == eip && a->pa == pa;
}

static void trap(struct bt *b, struct bt_frag *f, uint32_t eip, int kind)
{
    uint32_t pa = f->pa + (eip - f->eip);
    struct bt_adapt *a = slot(b, eip);
    if (a->eip != eip || a->pa != pa || a->kind != kind) {
        if (a->callout && a->pa != ~0u)
            bt_tc_kill_eip(b, a->pa, a->eip); /* forget the old one */
        a->eip = eip;
        a->pa = pa;
        a->traps = 0;
        a->callout = false;
        a->kind = (uint8_t)kind;
    }
    if (a->callout || ++a->traps < BT_ADAPT_THRESHOLD)
        return;
    a->callout = true;
    a->quiet = 0;
    a->hot_lpn = (uint32_t)(b->ctx->fault_addr >> 12);
    a->hot_seen = bt_hot_stamp(b, a->hot_lpn);
    if (kind == ADAPT_PF)
        b->st.pf_callouts_made++;
    if (kind == ADAPT_HOT)
        b->st.hot_callouts_made++;
    int n = -1;
    for (int k = 0; k < f->ninsn; k++)
        if (f->eip + f->eip_off[k] == eip)
            n = k;
    if (n < 0 || b->tc_used + 64 > BT_TC_SIZE)
        return; /* the next translation calls it out */
    /* The instruction's host code is at least 5 bytes (gs, addr32,
     * opcode, ModRM and more) or is followed by other code of the same
     * fragment; nothing jumps into a fragment's middle. */
    struct emit e = {.base = b->tcw, .pos = b->tc_used};
    uint32_t stub = e.pos;
    e_store_imm(&e, CTX_OFF(next_eip), eip);
    e_jmp(&e, b->off_exit[BT_EXIT_CALLOUT]);
    b->tc_used = (e.pos + 15) & ~15u;
    e.pos = f->tc_start + f->host_off[n];
    e_jmp(&e, stub);
    b->st.adaptive_retranslations++;
}

void bt_adapt_trap(struct bt *b, struct bt_frag *f, uint32_t eip)
{
    trap(b, f, eip, ADAPT_FIXED);
}

void bt_adapt_revertible(struct bt *b, struct bt_frag *f, uint32_t eip,
                         int kind)
{
    trap(b, f, eip, kind);
}

bool bt_adapt_watched(const struct bt *b, uint32_t eip)
{
    const struct bt_adapt *a = slot(b, eip);
    return a->callout && a->kind != ADAPT_FIXED && a->eip == eip;
}

void bt_adapt_callout_done(struct bt *b, uint32_t eip, bool pf)
{
    struct bt_adapt *a = slot(b, eip);
    if (!a->callout || a->kind == ADAPT_FIXED || a->eip != eip)
        return;
    uint64_t stamp = a->kind == ADAPT_HOT ? bt_hot_stamp(b, a->hot_lpn) : 0;
    bool reason = a->kind == ADAPT_PF ? pf : stamp && stamp != a->hot_seen;
    a->hot_seen = stamp;
    if (reason) {
        a->quiet = 0;
        if (pf)
            b->st.pf_callout_faults++;
        return;
    }
    if (++a->quiet < BT_ADAPT_QUIET)
        return;
    /* its reason stopped: translated code again (the fragments holding
     * the patch or the callout are killed) */
    a->callout = false;
    a->traps = 0;
    bt_tc_kill_eip(b, a->pa, eip);
    if (a->kind == ADAPT_PF)
        b->st.pf_callouts_reverted++;
    else
        b->st.hot_callouts_reverted++;
}
