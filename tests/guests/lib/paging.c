/* paging.c - 32-bit two-level paging for the guests: a page pool in .bss,
 * page directory/table helpers for 4 KiB and 4 MiB (PSE) pages, and
 * turning paging on and off. */
#include "kit.h"

static uint8_t pool[KIT_POOL_PAGES][PAGE_SIZE] __attribute__((aligned(4096)));
static unsigned pool_used;

void *kit_alloc_page(void)
{
    if (pool_used >= KIT_POOL_PAGES)
        kit_panic("out of pool pages (%u)", KIT_POOL_PAGES);
    void *p = pool[pool_used++];
    memset(p, 0, PAGE_SIZE);
    return p;
}

uint32_t *kit_pd_new(void)
{
    return kit_alloc_page();
}

void kit_map_4k(uint32_t *pd, uint32_t va, uint32_t pa, uint32_t flags)
{
    uint32_t *pde = kit_pde(pd, va);
    if ((*pde & PTE_P) && (*pde & PTE_PS))
        kit_panic("kit_map_4k %#x: a 4 MiB page is mapped there", va);
    if (!(*pde & PTE_P))
        *pde = (uint32_t)kit_alloc_page() | PTE_P | PTE_W | PTE_U;
    uint32_t *pt = (uint32_t *)(*pde & ~0xfffu);
    pt[(va >> 12) & 0x3ff] = (pa & ~0xfffu) | (flags & 0xfff) | PTE_P;
}

void kit_map_4m(uint32_t *pd, uint32_t va, uint32_t pa, uint32_t flags)
{
    *kit_pde(pd, va) = (pa & ~(BIGPAGE_SIZE - 1)) | (flags & 0xfff) | PTE_P | PTE_PS;
}

void kit_map_identity(uint32_t *pd, uint32_t start, uint32_t end, uint32_t flags, bool big)
{
    if (big) {
        for (uint64_t a = start & ~(BIGPAGE_SIZE - 1); a < end; a += BIGPAGE_SIZE)
            kit_map_4m(pd, (uint32_t)a, (uint32_t)a, flags);
    } else {
        for (uint64_t a = start & ~(PAGE_SIZE - 1); a < end; a += PAGE_SIZE)
            kit_map_4k(pd, (uint32_t)a, (uint32_t)a, flags);
    }
}

uint32_t *kit_pte(uint32_t *pd, uint32_t va)
{
    uint32_t *pde = kit_pde(pd, va);
    if (!(*pde & PTE_P))
        return NULL;
    if (*pde & PTE_PS)
        return pde;
    return (uint32_t *)(*pde & ~0xfffu) + ((va >> 12) & 0x3ff);
}

void kit_unmap(uint32_t *pd, uint32_t va)
{
    uint32_t *pte = kit_pte(pd, va);
    if (pte)
        *pte = 0;
}

void kit_paging_enable(uint32_t *pd)
{
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3((uint32_t)pd);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);
}

void kit_paging_disable(void)
{
    write_cr0(read_cr0() & ~CR0_PG);
}

uint32_t *kit_paging_init(uint32_t extra_flags, bool big)
{
    uint32_t *pd = kit_pd_new();
    kit_map_identity(pd, 0, 16u << 20, PTE_W | extra_flags, big);
    kit_paging_enable(pd);
    return pd;
}
