/* window.c - the guest address window of the bt engine: 4 GiB (+ guard)
 * of host address space reserved PROT_NONE, guest RAM mapped into it from
 * the machine's memfd (MAP_SHARED, so the machine's own mapping sees the
 * same bytes), gs.base pointing at it (wrgsbase if the CPU and kernel allow
 * it, else arch_prctl), and write protection of pages holding translated
 * code (tracing). */
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

int bt_window_create(struct bt *b, int ram_fd, uint64_t ram_size)
{
    if (ram_size == 0 || ram_size > 0xfff00000ull || (ram_size & 0xfff))
        return fail("bt: guest RAM must be a multiple of 4 KiB below 4 GiB");
    void *w = mmap(NULL, BT_WINDOW_SIZE + BT_WINDOW_GUARD, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (w == MAP_FAILED)
        return fail("bt: cannot reserve the 4 GiB guest window: %s",
                    strerror(errno));
    b->window = w;
    b->ram_size = ram_size;
    if (mmap(w, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
             ram_fd, 0) == MAP_FAILED) {
        int e = errno;
        munmap(w, BT_WINDOW_SIZE + BT_WINDOW_GUARD);
        b->window = NULL;
        return fail("bt: cannot map guest RAM into the window: %s",
                    strerror(e));
    }
    size_t pages = ram_size >> 12;
    b->traced = calloc(pages, 1);
    b->traced_list = calloc(pages, sizeof(uint32_t));
    if (!b->traced || !b->traced_list)
        return fail("bt: out of memory");
    b->use_wrgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
    return 0;
}

void bt_window_destroy(struct bt *b)
{
    if (b->window)
        munmap(b->window, BT_WINDOW_SIZE + BT_WINDOW_GUARD);
    b->window = NULL;
    free(b->traced);
    free(b->traced_list);
    b->traced = NULL;
    b->traced_list = NULL;
}

void bt_set_gsbase(struct bt *b, uint64_t base)
{
    if (b->use_wrgsbase)
        __asm__ volatile("wrgsbase %0" : : "r"(base) : "memory");
    else
        syscall(SYS_arch_prctl, ARCH_SET_GS, base);
}

void bt_trace_page(struct bt *b, uint32_t pfn)
{
    if ((uint64_t)pfn << 12 >= b->ram_size || b->traced[pfn])
        return;
    if (mprotect(b->window + ((uint64_t)pfn << 12), 4096, PROT_READ) == 0) {
        b->traced[pfn] = 1;
        b->traced_list[b->ntraced++] = pfn;
    }
}

void bt_untrace_all(struct bt *b)
{
    for (uint32_t k = 0; k < b->ntraced; k++) {
        uint32_t pfn = b->traced_list[k];
        if (b->traced[pfn])
            mprotect(b->window + ((uint64_t)pfn << 12), 4096,
                     PROT_READ | PROT_WRITE);
        b->traced[pfn] = 0;
    }
    b->ntraced = 0;
}
