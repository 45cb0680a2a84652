/* hypercall.c - popek's hypercalls, engine-neutral: the engine decodes
 * vmcall/vmmcall and hands over its registers through struct pv_vcpu.
 * Every argument is checked as a VMM must: pointers are guest-physical and
 * must lie in guest RAM; a page-table update may only write an entry that
 * lies in guest RAM and may only map guest RAM (so a guest can map nothing
 * of the monitor's, nor device memory it was not given); sizes are
 * bounded; ring 3 may call nothing.  Errors are negative errno values in
 * EAX (docs/hypercalls.md). */
#include <string.h>

#include "../core/machine.h"
#include "pv.h"

#define EAX 0
#define ECX 1
#define EDX 2
#define EBX 3
#define ESI 6

static uint32_t err(enum pv_err e)
{
    return (uint32_t)-(int32_t)e;
}

static bool in_ram(struct machine *m, uint64_t gpa, uint64_t len)
{
    return gpa < m->ram_size && len <= m->ram_size - gpa;
}

static uint32_t console_write(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], len = v->regs[ECX];
    if (len > PV_CONSOLE_MAX)
        return err(PV_EINVAL);
    uint8_t buf[PV_CONSOLE_MAX];
    if (!in_ram(m, gpa, len) || !v->read_phys(v->ctx, gpa, buf, len))
        return err(PV_EFAULT);
    for (uint32_t i = 0; i < len; i++)
        console_putc(m, buf[i]);
    return len;
}

/* May value be stored in a page-table entry?  A present entry must map
 * guest RAM only: a 4 KiB frame, or a whole 4 MiB page (PS, in a page
 * directory: the guest says so with bit 0 of the request's address, since
 * a hypercall cannot know which table a page is). */
static bool pte_ok(struct machine *m, uint32_t val, bool large)
{
    if (!(val & PTE_P))
        return true;
    if (large && (val & PTE_PS))
        return in_ram(m, val & 0xffc00000u, 4u << 20);
    return in_ram(m, val & ~0xfffu, 4096);
}

static uint32_t mmu_update(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], n = v->regs[ECX], flags = v->regs[EDX];
    if (n > PV_MMU_MAX || (flags & ~(PV_MMU_FLUSH_ALL | PV_MMU_FLUSH_PAGE)))
        return err(PV_EINVAL);
    if (!in_ram(m, gpa, (uint64_t)n * 8))
        return err(PV_EFAULT);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t req[2];
        if (!v->read_phys(v->ctx, gpa + 8 * k, req, 8))
            return err(PV_EFAULT);
        uint32_t at = req[0] & ~3u;
        bool large = req[0] & 1;
        if ((req[0] & 2) || !in_ram(m, at, 4) || !pte_ok(m, req[1], large)) {
            v->regs[EBX] = k;
            if (k && (flags & PV_MMU_FLUSH_ALL))
                v->flush_tlb(v->ctx, 0, 0);
            return err(PV_EINVAL);
        }
        v->write_pte(v->ctx, at, req[1]);
    }
    if (flags & PV_MMU_FLUSH_ALL)
        v->flush_tlb(v->ctx, 0, 0);
    else if (flags & PV_MMU_FLUSH_PAGE)
        v->flush_tlb(v->ctx, 1, v->regs[ESI]);
    return n;
}

void pv_hypercall(struct machine *m, struct pv_vcpu *v)
{
    uint32_t *r = v->regs;
    uint32_t ret;
    if (!m) {
        r[EAX] = err(PV_ENOSYS);
        return;
    }
    if (v->cpl == 3) {
        r[EAX] = err(PV_EPERM);
        return;
    }
    switch (r[EAX]) {
    case PV_HC_VERSION:
        ret = PV_VERSION;
        r[EBX] = (1u << PV_HC_COUNT) - 1;
        break;
    case PV_HC_CONSOLE_WRITE:
        ret = console_write(m, v);
        break;
    case PV_HC_MMU_UPDATE:
        ret = mmu_update(m, v);
        break;
    case PV_HC_TLB_FLUSH:
        if (r[EBX] > 2) {
            ret = err(PV_EINVAL);
            break;
        }
        v->flush_tlb(v->ctx, (int)r[EBX], r[ECX]);
        ret = 0;
        break;
    case PV_HC_YIELD:
        ret = 0;
        break;
    case PV_HC_BLOCK:
        v->block(v->ctx);
        ret = 0;
        break;
    default:
        ret = err(PV_ENOSYS);
    }
    r[EAX] = ret;
}
