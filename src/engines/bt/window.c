/* window.c - the guest address windows of the bt engine: views of 4 GiB
 * (+ guard) of host address space each, reserved PROT_NONE:
 *   VIEW_PHYS   guest RAM mapped 1:1 (guest-physical), from the machine's
 *               memfd (MAP_SHARED): used by the interpreter, and by
 *               translated code while paging is off;
 *   VIEW_KERNEL, VIEW_USER  the shadow page tables (shadow.c) for CPL 0-2
 *               and CPL 3 while paging is on, one pair per cached
 *               address space (reserved by shadow.c through
 *               bt_window_reserve).
 * gs.base points at the view in use (wrgsbase if the CPU and kernel allow
 * it, else arch_prctl).  Pages holding translated code are write-protected
 * in the physical view (tracing). */
#include <asm/prctl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../core/util.h"
#include "bt.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif

uint8_t *bt_window_reserve(void)
{
    /* Each view starts on a 4 GiB boundary: then the low 32 bits of a host
     * address in it are the guest address (in-cache string instructions
     * rely on it, with the host RSI/RDI = view + ESI/EDI). */
    size_t span = 2 * BT_WINDOW_SIZE + BT_WINDOW_GUARD;
    uint8_t *p = mmap(NULL, span, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        fail("bt: cannot reserve a 4 GiB guest window: %s", strerror(errno));
        return NULL;
    }
    uint8_t *a = (uint8_t *)(((uintptr_t)p + BT_WINDOW_SIZE - 1) &
                             ~(uintptr_t)(BT_WINDOW_SIZE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    uint8_t *end = a + BT_WINDOW_SIZE + BT_WINDOW_GUARD;
    if (end < p + span)
        munmap(end, (size_t)(p + span - end));
    return a;
}

int bt_window_create(struct bt *b, int ram_fd, uint64_t ram_size)
{
    if (ram_size == 0 || ram_size > 0xfff00000ull || (ram_size & 0xfff))
        return fail("bt: guest RAM must be a multiple of 4 KiB below 4 GiB");
    /* the kernel and user views belong to the address-space slots
     * (shadow.c) */
    if (!(b->view[VIEW_PHYS] = bt_window_reserve()))
        return -1;
    void *w = b->view[VIEW_PHYS];
    b->window = w;
    b->ram_size = ram_size;
    b->ram_fd = ram_fd;
    b->ram_alias = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                        ram_fd, 0);
    if (b->ram_alias == MAP_FAILED) {
        b->ram_alias = NULL;
        return fail("bt: cannot map guest RAM: %s", strerror(errno));
    }
    if (mmap(w, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             ram_fd, 0) == MAP_FAILED) {
        int e = errno;
        return fail("bt: cannot map guest RAM into the window: %s",
                    strerror(e));
    }
    size_t pages = ram_size >> 12;
    b->traced = calloc(pages, 1);
    b->smc_count = calloc(pages, 1);
    b->smc_quiet = calloc(pages, sizeof(uint16_t));
    b->page_frags = malloc(pages * sizeof(int32_t));
    if (!b->smc_count || !b->smc_quiet || !b->page_frags)
        return fail("bt: out of memory");
    memset(b->page_frags, 0xff, pages * sizeof(int32_t));
    b->traced_list = calloc(pages, sizeof(uint32_t));
    if (!b->traced || !b->traced_list)
        return fail("bt: out of memory");
    b->use_wrgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
    return 0;
}

void bt_window_destroy(struct bt *b)
{
    if (b->view[VIEW_PHYS])
        munmap(b->view[VIEW_PHYS], BT_WINDOW_SIZE + BT_WINDOW_GUARD);
    b->view[VIEW_PHYS] = NULL;
    if (b->ram_alias)
        munmap(b->ram_alias, b->ram_size);
    b->ram_alias = NULL;
    b->window = NULL;
    free(b->traced);
    free(b->smc_count);
    free(b->smc_quiet);
    b->smc_quiet = NULL;
    free(b->page_frags);
    b->smc_count = NULL;
    b->page_frags = NULL;
    free(b->traced_list);
    b->traced = NULL;
    b->traced_list = NULL;
}

void bt_set_gsbase(struct bt *b, uint64_t base)
{
    if (base == b->gsbase)
        return;
    b->gsbase = base;
    if (b->use_wrgsbase)
        __asm__ volatile("wrgsbase %0" : : "r"(base) : "memory");
    else
        syscall(SYS_arch_prctl, ARCH_SET_GS, base);
}

bool bt_trace_page(struct bt *b, uint32_t pfn)
{
    if ((uint64_t)pfn << 12 >= b->ram_size || b->traced[pfn] == 1)
        return true;
    while (mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ)) {
        /* out of host mappings: give the shadows' back and retry */
        if (!bt_host_failed(b, "mprotect (tracing a code page)", errno))
            return false;
        bt_shadow_flush(b);
        b->map_est = bt_count_maps();
    }
    bt_budget_add(b, 2);
    if (b->traced[pfn] == 0)
        b->traced_list[b->ntraced++] = pfn;
    b->traced[pfn] = 1;
    bt_shadow_protect_phys(b, pfn);
    return true;
}

bool bt_untrace_page(struct bt *b, uint32_t pfn)
{
    if (mprotect(b->window + ((uint64_t)pfn << 12), 4096,
                 PROT_READ | PROT_WRITE) == 0) {
        bt_budget_add(b, 2);
        return true;
    }
    bt_host_failed(b, "mprotect (untracing a page)", errno);
    bt_unprotect_all(b);
    return false;
}

void bt_untrace_all(struct bt *b)
{
    for (uint32_t k = 0; k < b->ntraced; k++) {
        uint32_t pfn = b->traced_list[k];
        if (b->traced[pfn] == 1 && !(b->pt_role && b->pt_role[pfn] == 1))
            bt_untrace_page(b, pfn);
        b->traced[pfn] = 0;
    }
    b->ntraced = 0;
}
