/* decode_cache.c - the interpreter's decoded-instruction cache: x86_decode
 * runs once per instruction address, not per execution.  Entries are keyed
 * by guest physical address (and CS.D); a write to a page that holds
 * decoded code (through the MMU, ins, or page-table A/D updates) drops the
 * page's entries by bumping its generation (see sys.h). */
#include <stdlib.h>
#include <string.h>

#include "sys.h"

int interp_dcache_enable(struct interp_cpu *c)
{
    if (c->dcache)
        return 0;
    c->dcache = calloc(1, sizeof(*c->dcache));
    return c->dcache ? 0 : -1;
}

void interp_cpu_free(struct interp_cpu *c)
{
    free(c->dcache);
    c->dcache = NULL;
    interp_cpu_set_debug(c, NULL);
}

void dcache_invalidate_page(struct decode_cache *dc, uint32_t pa)
{
    unsigned s = dc_page_slot(pa);
    dc->page_gen[s]++;
    dc->page_code[s] = 0;
    dc->invalidations++;
}

void dcache_flush(struct decode_cache *dc)
{
    for (unsigned s = 0; s < DC_PAGE_SLOTS; s++)
        dc->page_gen[s]++;
    memset(dc->page_code, 0, sizeof(dc->page_code));
}

/* The miss path of dcache_lookup (sys.h): decode and fill the entry. */
int dcache_fill(struct interp_cpu *c, uint32_t pa, const uint8_t *p,
                int avail, bool code32, const struct insn **out)
{
    struct decode_cache *dc = c->dcache;
    unsigned ps = dc_page_slot(pa);
    struct dc_entry *e = &dc->e[(pa ^ (pa >> 14)) & (DC_ENTRIES - 1)];
    dc->misses++;
    int n = x86_decode(p, (size_t)avail, code32, &e->insn);
    if (n < 0) {
        e->valid = 0;
        return n;
    }
    e->pa = pa;
    e->gen = dc->page_gen[ps];
    e->code32 = code32;
    e->valid = 1;
    dc->page_code[ps] = 1;
    *out = &e->insn;
    return n;
}
