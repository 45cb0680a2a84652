/* budget.c - the bt engine's budget of host mappings.  Every page the
 * engine maps or protects on its own (shadow pages in the views, traced
 * code and page-table pages in the physical view) may add host mappings
 * (VMAs); the kernel allows vm.max_map_count of them per process, and past
 * that mmap/mprotect fail.  The budget is a safe fraction of the limit
 * read from /proc/sys/vm/max_map_count: an estimate grows by 2 per page
 * operation (a page in the middle of a larger mapping splits it in
 * three); when it reaches the budget the real number is counted in
 * /proc/self/maps, and if that is past half the budget the shadows are
 * flushed (and, if that was not enough, the translation cache, which
 * untraces its code pages) before the next page operation.  A host call
 * that fails anyway is handled by its caller (flush and retry once, else
 * bt->host_error stops the guest: status 10), never ignored. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bt.h"

#define DEFAULT_MAX_MAP_COUNT 65530u

/* Both files are opened when popek starts, before the sandbox (which
 * forbids open): an engine may be created later, by a live switch. */
static int maps_fd = -1;
static uint32_t map_limit;

static uint32_t read_limit(void)
{
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return DEFAULT_MAX_MAP_COUNT;
    char buf[32];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return DEFAULT_MAX_MAP_COUNT;
    buf[n] = 0;
    unsigned long v = strtoul(buf, NULL, 10);
    return v >= 1024 && v < (1ul << 31) ? (uint32_t)v : DEFAULT_MAX_MAP_COUNT;
}

__attribute__((constructor)) static void budget_open(void)
{
    map_limit = read_limit();
    maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
}

uint32_t bt_count_maps(void)
{
    if (maps_fd < 0 || lseek(maps_fd, 0, SEEK_SET) != 0)
        return 0;
    static char buf[1 << 16];
    uint32_t lines = 0;
    ssize_t n;
    while ((n = read(maps_fd, buf, sizeof(buf))) > 0)
        for (ssize_t k = 0; k < n; k++)
            lines += buf[k] == '\n';
    return lines;
}

void bt_budget_init(struct bt *b)
{
    b->map_limit = map_limit ? map_limit : read_limit();
    /* a safe fraction: the rest of popek (and the C library, ASan) map
     * things too */
    b->map_budget = b->map_limit / 2;
    b->map_est = bt_count_maps();
    b->map_base = (uint32_t)b->map_est;
}

/* Past this many host mappings, the engine gives its own back. */
static uint32_t threshold(const struct bt *b)
{
    uint32_t base = b->map_base < b->map_budget ? b->map_base : 0;
    return base + (b->map_budget - base) / 2;
}

bool bt_budget_tight(struct bt *b)
{
    if (b->map_est < b->map_budget)
        return false;
    uint32_t n = bt_count_maps();
    b->st.map_recounts++;
    if (n > b->st.maps_peak)
        b->st.maps_peak = n;
    b->map_est = n;
    return n >= threshold(b);
}

void bt_budget_reclaim(struct bt *b, bool tc_too)
{
    b->st.map_reclaims++;
    bt_shadow_flush(b);
    b->map_est = bt_count_maps();
    if (tc_too && b->map_est >= threshold(b)) {
        bt_tc_flush(b);
        b->map_est = bt_count_maps();
    }
    if (b->map_est >= threshold(b) && !b->host_error[0])
        /* not the engine's mappings: giving back more is impossible */
        snprintf(b->host_error, sizeof(b->host_error),
                 "bt: %llu host mappings after flushing all of the "
                 "engine's (vm.max_map_count %u)",
                 (unsigned long long)b->map_est, b->map_limit);
}

void bt_host_fatal(struct bt *b, const char *what, int err)
{
    if (!b->host_error[0])
        snprintf(b->host_error, sizeof(b->host_error),
                 "bt: host %s failed: %s (%u host mappings, "
                 "vm.max_map_count %u)",
                 what, strerror(err), bt_count_maps(), b->map_limit);
}

bool bt_host_failed(struct bt *b, const char *what, int err)
{
    b->st.host_call_failures++;
    if (++b->fail_streak < 3)
        return true;
    bt_host_fatal(b, what, err);
    return false;
}

void bt_unprotect_all(struct bt *b)
{
    /* [window, window + ram_size) is mapped from the memfd between two
     * anonymous reservations: changing it whole never splits a mapping,
     * it only merges, so this cannot run out of mappings */
    if (mprotect(b->window, b->ram_size, PROT_READ | PROT_WRITE) != 0 &&
        !b->host_error[0])
        snprintf(b->host_error, sizeof(b->host_error),
                 "bt: cannot unprotect guest RAM: %s", strerror(errno));
    b->st.unprotect_all++;
    atomic_store(&b->code_dirty, true);
    atomic_store(&b->pt_dirty, true);
}
