/* kvm_guestmem.c - reading and writing guest memory by linear address
 * and loading segment descriptors, for the kvm engine's instruction assists
 * (see kvm_guestmem.h).  Follows the SDM Vol. 3A chapter 4 page walks. */
#include <stdio.h>
#include <string.h>

#include "../../core/machine.h"
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

static int read_pte(struct gmem *a, uint64_t pa, bool wide, uint64_t *e)
{
    uint8_t *p = phys(a, pa, wide ? 8 : 4);
    if (!p)
        return gm_stop(a, "page table outside RAM");
    uint32_t lo;
    memcpy(&lo, p, 4);
    *e = lo;
    if (wide)
        memcpy(e, p, 8);
    return A_OK;
}

static void write_pte(struct gmem *a, uint64_t pa, bool wide, uint64_t e)
{
    uint8_t *p = phys(a, pa, wide ? 8 : 4);
    if (p)
        memcpy(p, &e, wide ? 8 : 4); /* little-endian host */
}

/* Translate one linear address; sets accessed/dirty bits like the CPU. */
static int translate(struct gmem *a, uint64_t lin, bool write, bool user,
                     uint64_t *pa)
{
    if (!(a->sr->cr0 & CR0_PG)) {
        *pa = lin & 0xffffffffull;
        return A_OK;
    }
    bool wide = a->lma || (a->sr->cr4 & CR4_PAE);
    int levels = a->lma ? 4 : (a->sr->cr4 & CR4_PAE) ? 3 : 2;
    uint64_t table = a->sr->cr3 & (a->lma ? 0x000ffffffffff000ull
                                  : wide     ? 0xffffffe0ull
                                             : 0xfffff000ull);
    uint64_t ents[4], addrs[4];
    bool ok_w = true, ok_u = true;
    int n = 0;
    for (int lvl = levels; lvl >= 1; lvl--) {
        unsigned shift = wide ? 12 + 9 * (unsigned)(lvl - 1)
                              : 12 + 10 * (unsigned)(lvl - 1);
        unsigned bits = wide ? 9 : 10;
        if (!a->lma && wide && lvl == 3)
            bits = 2; /* the PAE PDPT has 4 entries */
        uint64_t idx = (lin >> shift) & ((1ull << bits) - 1);
        uint64_t ea = table + idx * (wide ? 8 : 4);
        uint64_t e;
        if (read_pte(a, ea, wide, &e) != A_OK)
            return A_STOP;
        uint32_t perr = (write ? 2u : 0) | (user ? 4u : 0);
        if (!(e & PTE_P)) {
            a->fault_cr2 = lin;
            return gm_fault(a, VEC_PF, perr);
        }
        bool pae_pdpte = !a->lma && wide && lvl == 3;
        if (!pae_pdpte) {
            ok_w = ok_w && (e & PTE_W);
            ok_u = ok_u && (e & PTE_U);
        }
        ents[n] = e;
        addrs[n++] = ea;
        bool large = !pae_pdpte && lvl > 1 && (e & PTE_PS) &&
                     (wide || (a->sr->cr4 & CR4_PSE));
        if (lvl == 1 || large) {
            if ((user && !ok_u) ||
                (write && !ok_w && (user || (a->sr->cr0 & CR0_WP)))) {
                a->fault_cr2 = lin;
                return gm_fault(a, VEC_PF, perr | 1u);
            }
            uint64_t page = 1ull << shift;
            uint64_t base;
            if (wide)
                base = e & 0x000fffffffffffffull & ~(page - 1);
            else if (large) /* PSE-36: bits 20:13 are PA bits 39:32 */
                base = (e & 0xffc00000ull) | (((e >> 13) & 0xff) << 32);
            else
                base = e & 0xfffff000ull;
            *pa = base | (lin & (page - 1));
            for (int i = 0; i < n; i++) {
                uint64_t ne = ents[i] | PTE_A;
                if (i == n - 1 && write)
                    ne |= PTE_D;
                if (!(!a->lma && wide && i == 0) && ne != ents[i])
                    write_pte(a, addrs[i], wide, ne);
            }
            return A_OK;
        }
        table = e & (wide ? 0x000ffffffffff000ull : 0xfffff000ull);
    }
    return gm_stop(a, "page walk went wrong");
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

void gm_desc_to_seg(uint64_t d, uint16_t sel, struct kvm_segment *s)
{
    memset(s, 0, sizeof(*s));
    uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
    s->g = (d >> 55) & 1;
    s->limit = s->g ? (limit << 12) | 0xfff : limit;
    s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    s->selector = sel;
    s->type = (d >> 40) & 0xf;
    s->s = (d >> 44) & 1;
    s->dpl = (d >> 45) & 3;
    s->present = (d >> 47) & 1;
    s->avl = (d >> 52) & 1;
    s->l = (d >> 53) & 1;
    s->db = (d >> 54) & 1;
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

