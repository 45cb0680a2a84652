/* guest_mem.c - side-effect-free guest page walks and linear-address
 * memory access for the gdb stub (see guest_mem.h). */
#include "guest_mem.h"

#include <string.h>

#include "../core/machine.h"

static bool rd32(struct machine *m, uint64_t pa, uint32_t *v)
{
    const uint8_t *p = gpa_to_hva(m, pa, 4);
    if (!p)
        return false;
    memcpy(v, p, 4);
    return true;
}

static bool rd64(struct machine *m, uint64_t pa, uint64_t *v)
{
    const uint8_t *p = gpa_to_hva(m, pa, 8);
    if (!p)
        return false;
    memcpy(v, p, 8);
    return true;
}

#define ADDR_MASK 0x000ffffffffff000ull

bool guest_lin_to_phys(struct machine *m, const struct cpu_state *s,
                       uint64_t lin, uint64_t *pa)
{
    if (!(s->cr0 & CR0_PG)) {
        *pa = lin & 0xffffffffull;
        return true;
    }
    if (!(s->cr4 & CR4_PAE)) {
        uint32_t pde, pte;
        lin &= 0xffffffffull;
        if (!rd32(m, (s->cr3 & ~0xfffull) + ((lin >> 22) << 2), &pde) ||
            !(pde & PTE_P))
            return false;
        if ((pde & PTE_PS) && (s->cr4 & CR4_PSE)) {
            *pa = ((uint64_t)(pde & 0xffc00000u) |
                   ((uint64_t)(pde >> 13 & 0xff) << 32)) |
                  (lin & 0x3fffff);
            return true;
        }
        if (!rd32(m, (pde & ~0xfffu) + (((lin >> 12) & 0x3ff) << 2), &pte) ||
            !(pte & PTE_P))
            return false;
        *pa = (pte & ~0xfffu) | (lin & 0xfff);
        return true;
    }
    uint64_t e;
    int level;
    uint64_t table;
    if (s->efer & EFER_LMA) {
        level = 4;
        table = s->cr3 & ADDR_MASK;
    } else {
        lin &= 0xffffffffull;
        if (!rd64(m, (s->cr3 & 0xffffffe0ull) + ((lin >> 30) << 3), &e) ||
            !(e & PTE_P))
            return false;
        level = 2;
        table = e & ADDR_MASK;
    }
    for (; level >= 1; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        if (!rd64(m, table + (((lin >> shift) & 0x1ff) << 3), &e) ||
            !(e & PTE_P))
            return false;
        if (level == 1 || ((e & PTE_PS) && level <= 3)) {
            uint64_t mask = (1ull << shift) - 1;
            *pa = (e & ADDR_MASK & ~mask) | (lin & mask);
            return true;
        }
        table = e & ADDR_MASK;
    }
    return false;
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
