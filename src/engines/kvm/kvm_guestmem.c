/* kvm_guestmem.c - reading and writing guest memory by linear address
 * and loading segment descriptors, for the kvm engine's instruction assists
 * (see kvm_guestmem.h).  Page walks: the shared walker (x86/walk.c). */
#include <stdio.h>
#include <string.h>

#include "../../core/machine.h"
#include "../../x86/desc.h"
#include "../../x86/walk.h"
#include "kvm_priv.h"
#include "kvm_guestmem.h"

int gm_fault(struct gmem *a, int vec, uint32_t err)
{
    a->fault_vec = vec;
    a->fault_err = err;
    return A_FAULT;
}

int gm_stop(struct gmem *a, const char *why)
{
    snprintf(a->why, sizeof(a->why), "%s", why);
    return A_STOP;
}

/* ---- guest memory through the guest's page tables ---- */

static uint8_t *phys(struct gmem *a, uint64_t pa, unsigned len)
{
    return gpa_to_hva(a->m, pa, len);
}

static bool pt_read(void *ctx, uint64_t pa, bool wide, uint64_t *e)
{
    uint8_t *p = phys(ctx, pa, wide ? 8 : 4);
    if (!p)
        return false;
    uint32_t lo;
    memcpy(&lo, p, 4);
    *e = lo;
    if (wide)
        memcpy(e, p, 8);
    return true;
}

static void pt_write(void *ctx, uint64_t pa, bool wide, uint64_t e)
{
    uint8_t *p = phys(ctx, pa, wide ? 8 : 4);
    if (p)
        memcpy(p, &e, wide ? 8 : 4); /* little-endian host */
}

/* Translate one linear address (the shared walker, x86/walk.c); sets
 * accessed/dirty bits like the CPU. */
static int translate(struct gmem *a, uint64_t lin, bool write, bool user,
                     uint64_t *pa)
{
    if (!(a->sr->cr0 & CR0_PG)) {
        *pa = lin & 0xffffffffull;
        return A_OK;
    }
    const struct x86_paging pg = {.cr3 = a->sr->cr3, .cr0 = a->sr->cr0,
                                  .cr4 = a->sr->cr4, .lma = a->lma};
    const struct x86_pt_io io = {pt_read, pt_write, a};
    struct x86_walk w;
    uint32_t perr = (write ? 2u : 0) | (user ? 4u : 0);
    switch (x86_page_walk(&pg, lin, &io, &w)) {
    case X86_WALK_BAD_TABLE:
        return gm_stop(a, "page table outside RAM");
    case X86_WALK_NP:
        a->fault_cr2 = lin;
        return gm_fault(a, VEC_PF, perr);
    case X86_WALK_OK:
        break;
    }
    if (!x86_walk_rights(&pg, &w, user, write)) {
        a->fault_cr2 = lin;
        return gm_fault(a, VEC_PF, perr | 1u);
    }
    x86_walk_set_ad(&w, write, &io);
    *pa = w.pa;
    return A_OK;
}

/* Copy between a linear range and buf, page by page. */
int gm_access(struct gmem *a, uint64_t lin, void *buf,
                      unsigned len, bool write, bool user)
{
    uint8_t *b = buf;
    if (!a->lma)
        lin &= 0xffffffffull;
    while (len) {
        unsigned chunk = 4096 - (unsigned)(lin & 0xfff);
        if (chunk > len)
            chunk = len;
        uint64_t pa;
        int rc = translate(a, lin, write, user, &pa);
        if (rc != A_OK)
            return rc;
        uint8_t *p = phys(a, pa, chunk);
        if (!p)
            return gm_stop(a, "stack or descriptor table outside RAM");
        if (write)
            memcpy(p, b, chunk);
        else
            memcpy(b, p, chunk);
        b += chunk;
        lin += chunk;
        if (!a->lma)
            lin &= 0xffffffffull;
        len -= chunk;
    }
    return A_OK;
}

/* ---- segments ---- */

/* The shared descriptor decoder (x86/desc.h), into KVM's layout. */
void gm_desc_to_seg(uint64_t d, uint16_t sel, struct kvm_segment *s)
{
    struct seg_reg r;
    seg_from_desc(&r, sel, desc_from_u64(d));
    seg_to_kvm(s, &r);
}

/* Read the descriptor of a non-null selector; #GP(sel) if out of limits. */
int gm_read_desc(struct gmem *a, uint16_t sel, uint64_t *d,
                     uint64_t *where)
{
    const struct kvm_dtable gdt = a->sr->gdt;
    uint64_t base = gdt.base, limit = gdt.limit;
    if (sel & 4) {
        if (a->sr->ldt.unusable || !a->sr->ldt.present)
            return gm_fault(a, VEC_GP, sel & 0xfffc);
        base = a->sr->ldt.base;
        limit = a->sr->ldt.limit;
    }
    uint64_t off = sel & 0xfff8;
    if (off + 7 > limit)
        return gm_fault(a, VEC_GP, sel & 0xfffc);
    *where = base + off;
    return gm_access(a, *where, d, 8, false, false);
}

/* Mark a code/data descriptor accessed, as loading it does on a CPU. */
int gm_set_accessed(struct gmem *a, uint64_t where, uint64_t d)
{
    if (!((d >> 44) & 1) || (d & (1ull << 40)))
        return A_OK;
    uint8_t type = (uint8_t)(d >> 40) | 1;
    return gm_access(a, where + 5, &type, 1, true, false);
}

