/* walk.h - the one x86 page walker of popek (SDM Vol. 3A ch. 4): 32-bit
 * paging (4 KiB and 4 MiB pages, PSE-36), PAE and 4-level (IA-32e) paging.
 * Used by the interpreter's MMU (interp/mmu.c), the bt engine's shadow
 * paging (bt/shadow.c) and the kvm engine's instruction assists
 * (kvm/kvm_guestmem.c).  The walk itself only reads (probe mode): it
 * reports the entries it read and their physical addresses, the combined
 * U/S and R/W rights and the physical address; x86_walk_rights() checks an
 * access against them and x86_walk_set_ad() sets the accessed/dirty bits
 * as the CPU does.  Page-table memory is reached through callbacks, so
 * each engine reads guest RAM its own way (MMIO, aliases, KVM's memory). */
#ifndef POPEK_X86_WALK_H
#define POPEK_X86_WALK_H
#include <stdbool.h>
#include <stdint.h>

/* The paging mode: CR0/CR3/CR4 and EFER.LMA (4-level paging). */
struct x86_paging {
    uint64_t cr3;
    uint64_t cr0, cr4;
    bool lma;
};

/* Page-table memory.  read: the entry at pa (8 bytes if wide, else 4);
 * false if pa is not readable table memory.  write may be NULL (never
 * called by a probe). */
struct x86_pt_io {
    bool (*read)(void *ctx, uint64_t pa, bool wide, uint64_t *v);
    void (*write)(void *ctx, uint64_t pa, bool wide, uint64_t v);
    void *ctx;
};

enum x86_walk_result {
    X86_WALK_OK,        /* a present mapping: pa, rights, entries */
    X86_WALK_NP,        /* an entry on the way is not present */
    X86_WALK_BAD_TABLE, /* a table is not readable (io->read failed) */
};

struct x86_walk {
    uint64_t pa;          /* physical address of lin (OK) */
    uint64_t page_size;   /* 4 KiB, 2/4 MiB or 1 GiB */
    int n;                /* entries read, top level first */
    uint64_t ent[4];      /* their values (after x86_walk_set_ad: new) */
    uint64_t ent_pa[4];   /* their physical addresses */
    bool wide;            /* 8-byte entries (PAE, 4-level) */
    bool pae_pdpt;        /* ent[0] is a PAE PDPTE (no rights, no A/D) */
    bool u, w;            /* U/S and R/W over all levels */
    bool global;          /* the leaf's G bit, with CR4.PGE */
};

/* Walk lin through the tables (CR0.PG must be set).  Reads only. */
enum x86_walk_result x86_page_walk(const struct x86_paging *pg, uint64_t lin,
                                   const struct x86_pt_io *io,
                                   struct x86_walk *w);
/* May an access (user: at CPL 3; write) use the mapping?  U/S and R/W
 * with CR0.WP; SMEP/SMAP are the caller's (they depend on EFLAGS.AC and
 * the kind of access). */
bool x86_walk_rights(const struct x86_paging *pg, const struct x86_walk *w,
                     bool user, bool write);
/* Set the accessed bits of all entries of the walk (the dirty bit of the
 * leaf too, for a write), writing only the entries that change. */
void x86_walk_set_ad(struct x86_walk *w, bool write,
                     const struct x86_pt_io *io);

#endif
