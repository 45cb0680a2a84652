/* tcache.c - the translation cache: struct bt_ctx, the stubs and the
 * compiled code fragments (appended in order, so a host address maps back
 * to its fragment by binary search); a hash table from guest-physical
 * address to fragment; the indirect-branch table; wholesale flush (when
 * full, or when a traced code page was written).
 * Mapped W^X: one memfd of BT_TC_SIZE bytes, mapped twice.  The region
 * generated code runs in (b->tc) maps its first BT_CTX_AREA bytes
 * (struct bt_ctx, which generated code reads and writes RIP-relatively)
 * read-write and the rest (stubs, fragments) read+exec; a second mapping
 * of the whole memfd (b->tcw, same offsets) is read-write, and all code is
 * emitted and patched through it.  No mapping is writable and executable. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../core/util.h"
#include "emit.h"

_Static_assert(sizeof(struct bt_ctx) <= BT_CTX_AREA &&
                   (BT_CTX_AREA & 4095) == 0,
               "bt_ctx fits in its own pages before the code");

static void ibl_clear(struct bt *b)
{
    for (unsigned k = 0; k < BT_IBL_SIZE; k++) {
        b->ctx->ibl[k].eip = ~0ull;
        b->ctx->ibl[k].host = 0;
    }
}

int bt_tc_create(struct bt *b)
{
    /* MFD_EXEC: hosts with vm.memfd_noexec = 1 make memfds
     * non-executable by default (kernels before 6.3 reject the flag) */
#ifndef MFD_EXEC
#define MFD_EXEC 0x10u
#endif
    int fd = memfd_create("popek-bt-tcache", MFD_CLOEXEC | MFD_EXEC);
    if (fd < 0 && errno == EINVAL)
        fd = memfd_create("popek-bt-tcache", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, BT_TC_SIZE) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail("bt: cannot create the translation cache: %s",
                    strerror(e));
    }
    uint8_t *x = mmap(NULL, BT_TC_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fd, 0);
    uint8_t *w = mmap(NULL, BT_TC_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fd, 0);
    int e = errno;
    close(fd); /* the mappings keep the memory */
    if (x == MAP_FAILED || w == MAP_FAILED ||
        mprotect(x + BT_CTX_AREA, BT_TC_SIZE - BT_CTX_AREA,
                 PROT_READ | PROT_EXEC) != 0) {
        if (x != MAP_FAILED)
            munmap(x, BT_TC_SIZE);
        if (w != MAP_FAILED)
            munmap(w, BT_TC_SIZE);
        return fail("bt: cannot map the translation cache: %s",
                    strerror(e));
    }
    b->tc = x;
    b->tcw = w;
    b->ctx = (struct bt_ctx *)x;
    b->frags = calloc(BT_MAX_FRAGS, sizeof(*b->frags));
    b->hash = calloc(BT_HASH_SIZE, sizeof(*b->hash));
    b->code_lin = calloc(1u << 14, sizeof(uint64_t));
    if (!b->frags || !b->hash || !b->code_lin)
        return fail("bt: out of memory for the fragment tables");
    atomic_store(&b->ctx->run_ok, 1);
    bt_adapt_reset(b);
    bt_stubs_generate(b);
    b->tc_used = b->stubs_end;
    ibl_clear(b);
    return 0;
}

void bt_tc_destroy(struct bt *b)
{
    if (b->tc)
        munmap(b->tc, BT_TC_SIZE);
    if (b->tcw)
        munmap(b->tcw, BT_TC_SIZE);
    b->tc = NULL;
    b->tcw = NULL;
    b->ctx = NULL;
    free(b->frags);
    free(b->hash);
    free(b->code_lin);
    b->code_lin = NULL;
    b->frags = NULL;
    b->hash = NULL;
}

void bt_tc_flush(struct bt *b)
{
    b->tc_used = b->stubs_end;
    b->nfrags = 0;
    memset(b->hash, 0, BT_HASH_SIZE * sizeof(*b->hash));
    memset(b->code_lin, 0, (1u << 14) * sizeof(uint64_t));
    ibl_clear(b);
    bt_untrace_all(b);
    memset(b->page_frags, 0xff, (b->ram_size >> 12) * sizeof(int32_t));
    b->ncode_written = 0;
    atomic_store(&b->code_dirty, false);
    b->nxchains = 0;
    b->st.flushes++;
}

static uint32_t hash_pa(uint32_t pa, uint32_t eip, unsigned mode)
{
    return ((pa ^ (eip >> 12) * 40503u ^ mode * 0x9e37u) * 2654435761u) >>
           (32 - 17);
}

struct bt_frag *bt_tc_lookup(struct bt *b, uint32_t pa, uint32_t eip,
                             unsigned mode)
{
    for (uint32_t h = hash_pa(pa, eip, mode);;
         h = (h + 1) & (BT_HASH_SIZE - 1)) {
        int32_t i = b->hash[h];
        if (!i)
            return NULL;
        struct bt_frag *f = &b->frags[i - 1];
        if (f->pa == pa && f->eip == eip && f->mode == mode) {
            if (f->volatile_ip &&
                b->smc_count[pa >> 12] < BT_SMC_VOLATILE) {
                f->pa = ~0u; /* the page calmed down: translate again */
                f->dead = true;
                continue;
            }
            return f;
        }
    }
}

void bt_tc_insert(struct bt *b, struct bt_frag *f)
{
    uint32_t h = hash_pa(f->pa, f->eip, f->mode);
    while (b->hash[h])
        h = (h + 1) & (BT_HASH_SIZE - 1);
    b->hash[h] = (int32_t)(f - b->frags) + 1;
}

struct bt_frag *bt_tc_find_host(struct bt *b, uint32_t off)
{
    uint32_t lo = 0, hi = b->nfrags;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (b->frags[mid].tc_end <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < b->nfrags && b->frags[lo].tc_start <= off &&
        off < b->frags[lo].tc_end)
        return &b->frags[lo];
    return NULL;
}

void bt_ibl_insert(struct bt *b, uint32_t eip, unsigned mode,
                   uint32_t tc_off)
{
    struct bt_ibl_entry *e = &b->ctx->ibl[eip & (BT_IBL_SIZE - 1)];
    e->eip = eip | (uint64_t)mode << 32;
    e->host = (uint64_t)(uintptr_t)(b->tc + tc_off);
    b->st.ibl_fills++;
}

static void kill(struct bt *b, struct bt_frag *f)
{
    f->dead = true;
    f->pa = ~0u; /* lookups no longer match; the hash slot stays */
    b->st.frags_invalidated++;
    if (b->tc_used + 32 > BT_TC_SIZE) {
        atomic_store(&b->code_dirty, true); /* no room: flush instead */
        return;
    }
    /* chained jumps still arrive at the entry: send them back to the
     * dispatcher, which looks the eip up afresh */
    struct emit e = {.base = b->tcw, .pos = b->tc_used};
    uint32_t stub = e.pos;
    e_store_imm(&e, CTX_OFF(next_eip), f->eip);
    e_jmp(&e, b->off_exit[BT_EXIT_INDIRECT]);
    b->tc_used = (e.pos + 15) & ~15u;
    e.pos = f->tc_off;
    e_jmp(&e, stub);
}

void bt_tc_invalidate_page(struct bt *b, uint32_t pfn)
{
    if ((uint64_t)pfn << 12 >= b->ram_size)
        return;
    for (int32_t i = b->page_frags[pfn]; i >= 0;) {
        struct bt_frag *f = &b->frags[i];
        int k = f->page[0] == pfn ? 0 : 1;
        int32_t next = f->link[k];
        if (!f->dead)
            kill(b, f);
        i = next;
    }
    b->page_frags[pfn] = -1;
    if (b->traced[pfn] == 1 && !(b->pt_role && b->pt_role[pfn] == 1))
        bt_untrace_page(b, pfn);
    if (b->traced[pfn])
        b->traced[pfn] = 2;
    for (unsigned k = 0; k < BT_IBL_SIZE; k++)
        b->ctx->ibl[k].eip = ~0ull;
    if (b->smc_count[pfn] < 255 && ++b->smc_count[pfn] == BT_SMC_VOLATILE)
        b->st.volatile_pages++;
    b->st.smc_page_invalidations++;
}

void bt_tc_kill_eip(struct bt *b, uint32_t pa, uint32_t eip)
{
    uint32_t pfn = pa >> 12;
    if ((uint64_t)pa >= b->ram_size)
        return;
    for (unsigned mode = 0; mode < 8; mode++) {
        struct bt_frag *f = bt_tc_lookup(b, pa, eip, mode);
        if (f && f->interp_only) {
            f->pa = ~0u; /* no code, in no page list: just unfindable */
            f->dead = true;
        }
    }
    for (int32_t i = b->page_frags[pfn]; i >= 0;) {
        struct bt_frag *f = &b->frags[i];
        int32_t next = f->link[f->page[0] == pfn ? 0 : 1];
        uint32_t span = (f->ninsn ? f->eip_off[f->ninsn - 1] : 0) + 16;
        if (!f->dead && eip - f->eip < span)
            kill(b, f);
        i = next;
    }
    for (unsigned k = 0; k < BT_IBL_SIZE; k++)
        if ((uint32_t)b->ctx->ibl[k].eip - (eip & ~0xfffu) < 4096)
            b->ctx->ibl[k].eip = ~0ull;
}

void bt_tc_volatile_step(struct bt *b, struct bt_frag *f)
{
    uint32_t pfn = f->pa >> 12;
    if (!f->volatile_ip || (uint64_t)f->pa >= b->ram_size)
        return;
    if (++b->smc_quiet[pfn] < BT_SMC_QUIET)
        return;
    /* Half way to volatile again: a page that really keeps changing
     * returns to the interpreter after a few more invalidations. */
    b->smc_quiet[pfn] = 0;
    b->smc_count[pfn] = BT_SMC_VOLATILE / 2;
    b->st.volatile_pages_retried++;
}

bool bt_tc_code_in(const struct bt *b, uint32_t lin, uint64_t len)
{
    uint64_t end = ((uint64_t)lin + len + 4095) >> 12;
    for (uint64_t p = lin >> 12; p < end; p++) {
        if ((p & 63) == 0 && p + 64 <= end) {
            if (b->code_lin[p >> 6])
                return true;
            p += 63;
            continue;
        }
        if (b->code_lin[p >> 6] & (1ull << (p & 63)))
            return true;
    }
    return false;
}

void bt_patch_rel32(struct bt *b, uint32_t site, uint32_t target)
{
    struct emit e = {.base = b->tcw, .pos = 0};
    e_set_rel32(&e, site, target);
    b->st.chains_patched++;
}
