/* guest_mem.c - side-effect-free guest page walks (the shared walker in
 * probe mode) and linear-address memory access for the gdb stub (see
 * guest_mem.h). */
#include "guest_mem.h"

#include <string.h>

#include "../core/machine.h"
#include "../x86/walk.h"

static bool pt_read(void *ctx, uint64_t pa, bool wide, uint64_t *v)
{
    const uint8_t *p = gpa_to_hva(ctx, pa, wide ? 8 : 4);
    if (!p)
        return false;
    *v = 0;
    memcpy(v, p, wide ? 8 : 4);
    return true;
}

bool guest_lin_to_phys(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, uint64_t *pa)
{
    if (!(s->cr0 & CR0_PG)) {
        *pa = lin & 0xffffffffull;
        return true;
    }
    /* the shared walker (x86/walk.c), as a probe: no A/D bits */
    const struct x86_paging pg = {.cr3 = s->cr3, .cr0 = s->cr0,
                                  .cr4 = s->cr4,
                                  .lma = (s->efer & EFER_LMA) != 0};
    const struct x86_pt_io io = {pt_read, NULL, m};
    struct x86_walk w;
    if (x86_page_walk(&pg, lin, &io, &w) != X86_WALK_OK)
        return false;
    *pa = w.pa;
    return true;
}

static size_t lin_copy(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, uint8_t *buf, size_t len, bool write)
{
    size_t done = 0;
    while (done < len) {
        uint64_t pa;
        if (!guest_lin_to_phys(m, s, lin + done, &pa))
            break;
        size_t n = 4096 - ((lin + done) & 0xfff);
        if (n > len - done)
            n = len - done;
        uint8_t *h = gpa_to_hva(m, pa, n);
        if (!h)
            break;
        if (write)
            memcpy(h, buf + done, n);
        else
            memcpy(buf + done, h, n);
        done += n;
    }
    return done;
}

size_t guest_lin_read(struct machine *m, const struct cpu_state *s,
                      uint64_t lin, void *buf, size_t len)
{
    return lin_copy(m, s, lin, buf, len, false);
}

size_t guest_lin_write(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, const void *buf, size_t len)
{
    return lin_copy(m, s, lin, (uint8_t *)(uintptr_t)buf, len, true);
}
