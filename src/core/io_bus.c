/* io_bus.c - range registration and dispatch for the port bus and the
 * physical memory map (see io_bus.h). */
#include "io_bus.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

void io_space_init(struct io_space *s, const char *name)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
}

void io_space_free(struct io_space *s)
{
    free(s->r);
    s->r = NULL;
    s->n = s->cap = 0;
}

static int io_add(struct io_space *s, struct io_range nr)
{
    if (nr.len == 0 || nr.base + nr.len < nr.base)
        return fail("%s range %s: bad length", s->name, nr.name);
    int i = 0;
    while (i < s->n && s->r[i].base < nr.base)
        i++;
    /* Check neighbours for overlap. */
    if (i > 0 && s->r[i - 1].base + s->r[i - 1].len > nr.base)
        return fail("%s range %s [%#llx+%#llx) overlaps %s", s->name, nr.name,
                    (unsigned long long)nr.base, (unsigned long long)nr.len,
                    s->r[i - 1].name);
    if (i < s->n && nr.base + nr.len > s->r[i].base)
        return fail("%s range %s [%#llx+%#llx) overlaps %s", s->name, nr.name,
                    (unsigned long long)nr.base, (unsigned long long)nr.len,
                    s->r[i].name);
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        struct io_range *r = realloc(s->r, (size_t)cap * sizeof(*r));
        if (!r)
            return fail("out of memory");
        s->r = r;
        s->cap = cap;
    }
    memmove(&s->r[i + 1], &s->r[i], (size_t)(s->n - i) * sizeof(*s->r));
    s->r[i] = nr;
    s->n++;
    return 0;
}

int io_register(struct io_space *s, uint64_t base, uint64_t len, io_fn fn,
                void *dev, const char *name)
{
    struct io_range r = {.base = base, .len = len, .kind = IO_HANDLER,
                         .fn = fn, .dev = dev, .name = name};
    return io_add(s, r);
}

int io_unregister(struct io_space *s, uint64_t base, void *dev)
{
    for (int i = 0; i < s->n; i++) {
        if (s->r[i].base == base && s->r[i].kind == IO_HANDLER &&
            s->r[i].dev == dev) {
            memmove(&s->r[i], &s->r[i + 1],
                    (size_t)(s->n - i - 1) * sizeof(*s->r));
            s->n--;
            return 0;
        }
    }
    return fail("%s: nothing registered at %#llx to remove", s->name,
                (unsigned long long)base);
}

int io_register_ram(struct io_space *s, uint64_t base, uint64_t len,
                    uint8_t *host, const char *name)
{
    struct io_range r = {.base = base, .len = len, .kind = IO_RAM,
                         .host = host, .name = name};
    return io_add(s, r);
}

const struct io_range *io_find(const struct io_space *s, uint64_t addr)
{
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const struct io_range *r = &s->r[mid];
        if (addr < r->base)
            hi = mid - 1;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

void io_access(struct io_space *s, uint64_t addr, uint8_t *data, unsigned len,
               bool is_write)
{
    const struct io_range *r = io_find(s, addr);
    if (r && addr - r->base + len <= r->len) {
        if (r->kind == IO_RAM) {
            uint8_t *p = r->host + (addr - r->base);
            if (is_write)
                memcpy(p, data, len);
            else
                memcpy(data, p, len);
        } else {
            r->fn(r->dev, addr - r->base, data, len, is_write);
        }
        return;
    }
    if (r && r->kind == IO_HANDLER && len > 1) {
        /* An access straddling the end of a range: split it bytewise. */
        for (unsigned i = 0; i < len; i++)
            io_access(s, addr + i, data + i, 1, is_write);
        return;
    }
    s->last_unclaimed = addr;
    plog(PLOG_GUEST_ERRORS, "unclaimed %s %s at %#llx, %u bytes",
         s->name, is_write ? "write" : "read", (unsigned long long)addr, len);
    if (is_write) {
        s->unclaimed_writes++;
    } else {
        s->unclaimed_reads++;
        memset(data, 0xff, len);
    }
}
