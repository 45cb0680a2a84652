/* bt.h - the binary-translation engine (software VMM, after Adams & Agesen,
 * ASPLOS 2006): private interface shared by the files of src/engines/bt.
 * docs/bt.md has the long form: every part with its status, measurements
 * and the next steps.
 *
 * Guest state: the reference copy is the interpreter's struct interp_cpu
 * (bt->cpu).  While translated code runs, guest EAX..EDI live in host
 * RAX..RDI, guest arithmetic flags and DF in host RFLAGS; host R8-R11 are
 * scratch; the rest stays in bt->cpu.
 *
 * Memory: translated code reaches guest memory only as gs:[addr32]; gs.base
 * is a 4 GiB view: the physical view (RAM 1:1, paging off) or a shadow view
 * (kernel/user, per cached address space) filled on demand from host
 * SIGSEGVs (shadow.c, aspace.c, window.c); page-table pages and pages with
 * translated code are write-protected (tracing, self-modifying code).
 * Hidden faults in 4 MiB pages map the whole region read-only (runfill.c);
 * pages whose PTE is rewritten in quick succession are not shadowed
 * (ptwrite.c).
 *
 * Translation (translate.c, x64.h, emit.h): up to BT_MAX_INSN guest
 * instructions within one page become a fragment in the translation cache
 * (tcache.c: W^X, struct bt_ctx first, reached RIP-relative); IDENT
 * instructions are copied, stack and control transfers rewritten, the rest
 * ends the fragment with a callout that runs interp_step().  Direct exits
 * chain to the target fragment; indirect ones go through the ibl table
 * (stubs.c).  Faults in translated code (signals.c) map back to a guest
 * EIP; traps that repeat make the instruction a callout (adapt.c).  Host
 * mapping budget: budget.c.  Code runs translated only when bt_mode_ok;
 * otherwise the interpreter runs batches.
 */
#ifndef POPEK_BT_H
#define POPEK_BT_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../interp/cpu.h"

struct machine;

#define BT_MAX_INSN 12              /* guest instructions per fragment */
#define BT_TC_SIZE (32u << 20)      /* translation cache bytes */
#define BT_MAX_FRAGS 65536
#define BT_HASH_SIZE (1u << 17)     /* fragment hash slots (power of 2) */
#define BT_IBL_SIZE 4096            /* indirect-branch table entries */
#define BT_FRAG_MAX_BYTES 4096      /* > worst case of one fragment (12 rep
                                     * movs of ~170 bytes + stubs) */
#define BT_CTX_AREA 0x20000u        /* bytes before the stubs: bt_ctx */
#define BT_WINDOW_SIZE (1ull << 32)
#define BT_WINDOW_GUARD (1ull << 16)

/* Why translated code returned to the engine. */
enum bt_exit {
    BT_EXIT_BRANCH = 1, /* direct branch to an untranslated/unchained eip */
    BT_EXIT_INDIRECT,   /* indirect branch missed the ibl table */
    BT_EXIT_CALLOUT,    /* next_eip must run in the interpreter */
    BT_EXIT_KICK,       /* run_ok was cleared */
    BT_EXIT_FAULT,      /* host signal in a fragment (see fault_*) */
};

/* Fragment mode word: what a translation assumed about the guest state
 * beyond bt_mode_ok.  Part of every fragment and ibl key. */
#define MODE_CPL0 1u    /* CPL 0: cli runs in the cache */
#define MODE_FS_OK 2u   /* FS usable, 4 GiB limit, writable: fs: operands */
#define MODE_GS_OK 4u   /* the same for GS */

struct bt_ibl_entry {
    uint64_t eip;   /* guest eip | mode << 32, ~0 = empty */
    uint64_t host;  /* fragment entry */
};

/* At the start of the cache region; generated code reaches it RIP-relative.
 * Offsets are used by stubs.c/translate.c through offsetof. */
struct bt_ctx {
    uint64_t gpr[8];            /* guest EAX..EDI (low 32 bits) */
    uint64_t rflags;            /* host RFLAGS image (guest arith + DF) */
    uint64_t host_rsp;          /* host stack inside bt_enter */
    uint32_t next_eip;          /* guest eip to continue at */
    uint32_t exit_code;         /* enum bt_exit */
    uint32_t chain_from;        /* BRANCH: cache offset of the rel32 to
                                 * patch, 0 = none; CALLOUT: the opcode */
    _Atomic uint32_t run_ok;    /* 0: leave at the next fragment entry */
    /* Set by the signal handler with BT_EXIT_FAULT. */
    int fault_sig;
    int fault_write;
    int fault_view;             /* enum bt_view of fault_addr */
    uint32_t fault_frag;        /* index in bt->frags */
    uint64_t fault_addr;        /* guest-physical (window offset) or ~0 */
    uint32_t vif;               /* guest EFLAGS.IF while in the cache (cli
                                 * at CPL 0 runs in the cache) */
    uint32_t segbase[2];        /* guest FS and GS bases */
    uint32_t vflags;            /* guest EFLAGS but arith, DF, IF, RF, VM:
                                 * what pushf adds to the host flags */
    uint64_t view_base;         /* gs.base of this entry (string ops) */
    uint64_t flag_stack[16];    /* private stack for pushfq in the ibl */
    struct bt_ibl_entry ibl[BT_IBL_SIZE];
};

/* A compiled code fragment. */
struct bt_frag {
    uint32_t eip;           /* guest eip of the first instruction */
    uint32_t pa;            /* guest-physical address of the first byte */
    uint8_t mode;           /* MODE_* it was translated for */
    uint32_t tc_off;        /* entry (after the kick check prologue start) */
    uint32_t tc_start, tc_end; /* all bytes that belong to the fragment */
    uint32_t body_off;      /* first guest instruction's host code */
    uint8_t ninsn;
    bool interp_only;       /* first instruction is a callout: no code */
    uint16_t callout_op;    /* interp_only: its opcode (0xffff unknown) */
    bool dead;              /* invalidated: its entry jumps to an exit */
    bool volatile_ip;       /* interp_only because its page is volatile */
    uint32_t page[2];       /* RAM pages its code came from (same twice
                             * when it stays on one page) */
    int32_t link[2];        /* next fragment on page[k], -1 = end */
    uint16_t host_off[BT_MAX_INSN]; /* per instruction, from tc_start */
    uint16_t eip_off[BT_MAX_INSN];  /* per instruction, from eip */
};

/* Adaptive translation: traps per guest instruction. */
#define BT_ADAPT_SIZE 4096
#define BT_ADAPT_THRESHOLD 4
#define BT_ADAPT_QUIET 64       /* callouts without a #PF: translate again */
struct bt_adapt {
    uint32_t eip, pa;       /* instruction (pa = ~0: empty) */
    uint16_t traps;
    bool callout;           /* translate it as a callout from now on */
    uint8_t kind;           /* ADAPT_*: why, and when to revert */
    uint16_t quiet;         /* callouts since the last reason for it */
    uint32_t hot_lpn;       /* ADAPT_HOT: the hot page it accessed */
    uint64_t hot_seen;      /* ... and bt_hot_stamp of it then */
};
enum { ADAPT_FIXED, /* MMIO, traced-page writes, #DE: for good */
       ADAPT_PF,    /* true #PFs: until BT_ADAPT_QUIET callouts without */
       ADAPT_HOT,   /* hot-page accesses: until BT_ADAPT_QUIET callouts
                     * with no write of that page's PTE between them */
};

/* ptwrite.c: linear pages whose PTE keeps being rewritten. */
#define BT_HOT_SIZE 256
#define BT_HOT_THRESHOLD 8      /* rewrites of a present PTE: hot */
#define BT_HOT_WINDOW 16        /* ... each within this many precise PTE
                                 * writes of the previous one */
#define BT_HOT_COOL 1024        /* precise PTE writes elsewhere: cold */
struct bt_hot {
    uint32_t lpn1;          /* linear page + 1, 0 = empty */
    uint32_t writes;        /* rewrites of its present PTE */
    uint64_t last;          /* st.pt_writes_precise at the last one */
};

/* ptwrite.c: unsynchronised page tables. */
#define BT_UNSYNC_MAX 16
#define BT_UNSYNC_AFTER 4       /* precise writes in a row to one table */
struct bt_unsync {
    uint32_t pfn, base;     /* the table, the linear region it maps */
    uint64_t written[16];   /* entries written since it went unsync */
};

enum bt_view { VIEW_PHYS, VIEW_KERNEL, VIEW_USER, NR_VIEWS };

/* A cached shadow address space: kernel and user views for one CR3 value,
 * kept across CR3 switches (page-table writes invalidate all of them).
 * smap: per linear page, something may be mapped there; sum: per 4 MiB
 * region, a bit of smap is set. */
#define BT_AS_SLOTS 4
struct bt_as {
    uint32_t cr3;
    bool used;
    uint64_t stamp;             /* last activation (LRU) */
    uint8_t *view[2];           /* [0] kernel, [1] user */
    uint64_t *smap[2];
    uint32_t sum[2][32];
};
#define BT_PTW_MAX 64
#define PT_OWNER_PD 0x8000u
#define BT_PT_TRACED_MAX 4096      /* traced page tables before a flush */
#define PT_OWNER_MULTI 0xffffu
#define RMAP_MULTI (~0ull)

struct bt_stats {
    uint64_t fragments, translated_insns, flushes, flushes_full,
        flushes_smc;
    uint64_t enters, exits_branch, exits_indirect, exits_callout,
        exits_kick, exits_fault;
    uint64_t chains_patched, ibl_fills;
    uint64_t callouts_by_op[OP_COUNT];
    uint64_t interp_only_steps, interp_mode_insns;
    uint64_t faults_mmio, faults_de, faults_smc, smc_traps_c;
    uint64_t hidden_page_faults, true_page_faults, dirty_bit_faults;
    uint64_t shadow_flushes, cr3_switches, mode_switches, invlpg_flushes,
        pt_write_traps, pt_writes_from_interp, xchain_unlinks,
        shadow_invalidations, pt_writes_precise, invlpg_skipped,
        adaptive_retranslations, pt_writes_not_present,
        pt_writes_alias, pf_retries_interp, straddling_insns,
        pt_traced_resets, flush_pt_multi, flush_pt_dirty, flush_rmap_multi,
        pt_owner_reused,
        unlinks_skipped,
        shadow_prefetches, view_unmaps_skipped, as_hits, as_misses,
        as_evictions, pd_writes_slot, pd_writes_precise, xchains_kept,
        ibl_kept, xchains_kept_range, pt_untraced;
    uint64_t hot_pages, hot_pte_writes, hot_faults_interp,
        hot_pages_cooled;
    uint64_t pf_callouts_made, pf_callouts_reverted, pf_callout_faults,
        hot_callouts_made, hot_callouts_reverted;
    uint64_t run_fills, run_fill_pages, run_fills_small;
    uint64_t unsync_tables, unsync_writes, unsync_resyncs;
    uint64_t smc_page_invalidations, frags_invalidated, volatile_pages,
        volatile_pages_retried;
    uint64_t shadow_map_failures, hidden_faults_user_view;
    uint64_t map_recounts, map_reclaims, host_call_failures, unprotect_all,
        maps_peak;
};

struct bt {
    struct interp_cpu cpu;      /* reference guest state + fallback */
    struct machine *m;          /* NULL in unit tests */
    atomic_bool kicked;

    /* window.c */
    uint8_t *window;            /* guest-physical view, 4 GiB + guard */
    uint8_t *view[NR_VIEWS];    /* [VIEW_PHYS] == window */
    uint8_t *ram_alias;         /* RAM mapped plainly (never protected) */
    int ram_fd;
    uint64_t ram_size;
    uint8_t *traced;            /* per RAM page: 1 = write-protected code,
                                 * 2 = was, still in traced_list */
    int32_t *page_frags;        /* per RAM page: first fragment, -1 */
    uint8_t *smc_count;         /* per RAM page: invalidations (saturating) */
    uint16_t *smc_quiet;        /* per RAM page: interpreted steps on a
                                 * volatile page since it became so */
    uint32_t code_written[BT_PTW_MAX]; /* code pages written by C code */
    volatile uint32_t ncode_written;
    uint32_t *traced_list;      /* pages currently traced */
    uint32_t ntraced;
    _Atomic bool code_dirty;    /* a traced page was written: flush */
    bool use_wrgsbase;
    uint64_t gsbase;            /* last value set (kept by the kernel) */

    /* shadow.c */
    uint8_t *pt_role;           /* per RAM page: 1 = guest page table
                                 * (write-protected), 2 = written by C
                                 * code, unprotected until processed */
    uint16_t *pt_owner;         /* per RAM page: PDE index + 1 of a page
                                 * table, PT_OWNER_PD, PT_OWNER_MULTI */
    uint32_t *pt_list;
    uint32_t npt;
    uint32_t pt_written[BT_PTW_MAX]; /* pages with pt_role 2 */
    uint32_t pt_written_pa[BT_PTW_MAX]; /* first address written in it */
    uint32_t pt_written_old[BT_PTW_MAX]; /* the entry there before */
    volatile uint32_t npt_written;
    int64_t ptw_pa;             /* page-table write being emulated, or -1 */
    int64_t pf_retry_eip;       /* eip of the last instruction that took a
                                 * true #PF, or -1: when the guest comes
                                 * back to it (the handler fixed the
                                 * fault), the interpreter runs it once,
                                 * setting A/D itself, instead of a hidden
                                 * fault in the cache */
    int64_t clean_lin;          /* linear page invalidated and not refilled
                                 * since (invlpg may skip it), or -1 */
    uint64_t *rmap;             /* per RAM page: its writable shadow
                                 * mapping: 0, RMAP_MULTI, or
                                 * (lpn + 1) << 2 | view bits */
    _Atomic bool pt_dirty;      /* the interpreter wrote a page table */
    bool sh_valid;              /* shadows built for sh_cr0/3/4 */
    uint32_t sh_cr0, sh_cr3, sh_cr4;
    struct bt_as as[BT_AS_SLOTS]; /* cached shadow address spaces */
    int cur_as;                 /* the one in view[VIEW_KERNEL/USER] */
    uint64_t as_clock;          /* LRU stamps */
    struct { uint32_t site, stub, target; } *xchains; /* cross-page
                                 * chains: rel32 site, its exit stub, the
                                 * guest eip it jumps to */
    uint32_t nxchains;

    /* tcache.c */
    uint8_t *tc;                /* region: ctx (RW), stubs, fragments (RX) */
    uint8_t *tcw;               /* the same memory, writable (W^X) */
    struct bt_ctx *ctx;
    uint32_t tc_used;           /* bytes used (offset of the next fragment) */
    uint32_t stubs_end;         /* fragments start here */
    struct bt_frag *frags;      /* in cache order */
    uint32_t nfrags;
    int32_t *hash;              /* frag index + 1, 0 = empty */
    uint64_t *code_lin;         /* per linear page: a fragment was
                                 * translated from it since the last
                                 * flush (invalidating a page without one
                                 * leaves chains and the ibl alone) */

    bool bmi2;                  /* flag-free shifts (rorx, shlx...) */
    /* stubs.c: entry points (offsets in tc) */
    uint32_t off_enter, off_exit[BT_EXIT_FAULT + 1], off_restore, off_ibl;

    /* adapt.c */
    struct bt_adapt adapt[BT_ADAPT_SIZE];

    /* ptwrite.c */
    struct bt_hot hot[BT_HOT_SIZE];
    struct bt_unsync unsync[BT_UNSYNC_MAX];
    uint32_t nunsync;
    uint32_t burst_pfn, burst_n; /* table of the last precise PTE writes */
    uint64_t unsync_flushes;    /* cpu.tlb_flushes when the first went */
    bool fault_adapt;           /* bt_shadow_fault: the access is left to
                                 * the interpreter for good (hot page):
                                 * count it for adaptive translation */

    /* budget.c */
    uint32_t map_limit;         /* vm.max_map_count */
    uint32_t map_budget;        /* what the engine lets the process reach */
    uint64_t map_est;           /* host mappings now (an upper estimate) */
    uint32_t map_base;          /* the process's own at start-up */
    int fail_streak;            /* host calls failed since the last success */
    char host_error[192];       /* set: stop the guest (BT_RUN_FAILED) */

    struct bt_stats st;
    uint64_t run_ns;
};

/* ---- budget.c: host mappings ---- */
void bt_budget_init(struct bt *b);
/* Lines of /proc/self/maps (0 if unreadable). */
uint32_t bt_count_maps(void);
/* A host call made n more mappings possible (and succeeded). */
static inline void bt_budget_add(struct bt *b, unsigned n)
{
    b->map_est += n;
    b->fail_streak = 0;
}
/* Must mappings be given back before the next page operation? */
bool bt_budget_tight(struct bt *b);
/* Give mappings back: flush the shadows (tc_too: and the translation
 * cache if that was not enough). */
void bt_budget_reclaim(struct bt *b, bool tc_too);
/* A host call (what) failed with errno err: counted; true = the caller
 * may flush and retry, false = give up (host_error is set). */
bool bt_host_failed(struct bt *b, const char *what, int err);
/* Stop the guest: host_error = why (the first reason is kept). */
void bt_host_fatal(struct bt *b, const char *what, int err);
/* Last resort when a page cannot be unprotected: all of guest RAM
 * writable in the physical view, translations and shadows to be flushed
 * before translated code runs again (signal handlers too). */
void bt_unprotect_all(struct bt *b);

/* ---- window.c ---- */
int bt_window_create(struct bt *b, int ram_fd, uint64_t ram_size);
void bt_window_destroy(struct bt *b);
void bt_set_gsbase(struct bt *b, uint64_t base);
/* A PROT_NONE 4 GiB (+ guard) reservation on a 4 GiB boundary, or NULL. */
uint8_t *bt_window_reserve(void);
/* Write-protect a RAM page holding translated code (idempotent); false:
 * impossible (host_error is set). */
bool bt_trace_page(struct bt *b, uint32_t pfn);
/* Make a traced page writable again in the physical view (a failure
 * unprotects all of RAM: bt_unprotect_all); false if it failed. */
bool bt_untrace_page(struct bt *b, uint32_t pfn);
/* Drop all write protection (after a flush). */
void bt_untrace_all(struct bt *b);

/* ---- shadow.c: shadow paging in the kernel and user views ---- */
#define BT_MAX_XCHAINS 16384
int bt_shadow_create(struct bt *b);
void bt_shadow_destroy(struct bt *b);
static inline bool bt_paging(const struct interp_cpu *c)
{
    return (c->cr0 & CR0_PG) != 0;
}
/* Guest page walk without side effects: false if lin is not mapped for
 * the access (user: as CPL 3; write). */
bool bt_walk(struct bt *b, uint32_t lin, bool user, bool write,
             uint32_t *pa);
/* Set the accessed bits for a code fetch at lin (fragment lookups; chained
 * execution does not set them again: an approximation). */
void bt_touch(struct bt *b, uint32_t lin);
/* Make the shadows match the guest's CR0/CR3/CR4 and page-table writes
 * (flushing them if needed) before translated code runs. */
void bt_shadow_sync(struct bt *b);
void bt_shadow_flush(struct bt *b);
/* A fault at lin in a view: true = hidden fault fixed (re-enter), false
 * = let the interpreter execute the instruction (true #PF, MMIO, traced
 * page write). */
bool bt_shadow_fault(struct bt *b, int view, uint32_t lin, bool write);
/* A write to traced page table pfn: if no cached address space uses it
 * any more (a freed directory or table, reused as data), stop tracing it
 * (a cached non-current space it is the root of is given up) and return
 * true: the write is an ordinary one. */
bool bt_shadow_pt_unused(struct bt *b, uint32_t pfn);
/* A RAM page became traced (code or page table): no writable shadow. */
void bt_shadow_protect_phys(struct bt *b, uint32_t pfn);
/* Drop the shadow mappings of linear [lin, lin+len) in both views. */
void bt_shadow_invalidate(struct bt *b, uint32_t lin, uint64_t len);
/* After the interpreter emulated a trapped page-table write: drop the
 * shadows of just the entries written (else of the whole page's range). */
void bt_shadow_pt_write_done(struct bt *b, unsigned size);
/* invlpg lin: drop its shadow (the 4 MiB region for a large page). */
void bt_shadow_invlpg(struct bt *b, uint32_t lin);
/* Remember a patched chain that crosses linear pages (to guest eip
 * target). */
void bt_shadow_note_xchain(struct bt *b, uint32_t site, uint32_t stub,
                           uint32_t target);
/* CR3 old_cr3 -> new_cr3: keep the chains into, and the ibl entries for,
 * pages both spaces map alike: the same present page-directory entry (the
 * kernel's shared mappings), or the same frame, present, same U/S (a
 * forked child's code); drop the others. */
void bt_shadow_unlink_switch(struct bt *b, uint32_t old_cr3,
                             uint32_t new_cr3);

/* Drop all chains between linear pages and clear the ibl table. */
void bt_shadow_unlink_all(struct bt *b);
/* The mapping of linear [lin, lin + len) changed: drop the chains into
 * it and its ibl entries (chains out of it are harmless: its code is only
 * entered through a lookup or a chain into it). */
void bt_shadow_unlink_range(struct bt *b, uint32_t lin, uint64_t len);

/* ---- aspace.c: the cached shadow address spaces ---- */
int bt_as_create(struct bt *b);
void bt_as_destroy(struct bt *b);
/* Mark linear page lpn as (maybe) mapped in view vi (0 kernel, 1 user). */
void bt_as_smap_set(struct bt_as *a, int vi, uint32_t lpn);
/* Anything mapped in view vi in [lin, lin + len)?  Clears the bits (the
 * caller unmaps the range when it returns true). */
bool bt_as_smap_take(struct bt_as *a, int vi, uint32_t lin, uint64_t len);
/* Empty slot s (both views); scan_rmap: drop its reverse-map bits. */
void bt_as_clear(struct bt *b, int s, bool scan_rmap);
/* Make slot s current (view[VIEW_KERNEL/USER]). */
void bt_as_activate(struct bt *b, int s);
/* CR3 now holds cr3: activate its slot, or empty the LRU one for it. */
void bt_as_switch(struct bt *b, uint32_t cr3);
/* Reverse-map entries: (linear page + 1) << BT_RMAP_SHIFT | one bit per
 * (slot, view) holding the page's writable shadow. */
#define BT_RMAP_SHIFT 10
static inline uint64_t bt_rmap_bit(int s, int view)
{
    return 1ull << (s * 2 + view - VIEW_KERNEL);
}

/* ---- tcache.c ---- */
int bt_tc_create(struct bt *b);
void bt_tc_destroy(struct bt *b);
void bt_tc_flush(struct bt *b);
/* The fragment for guest eip at guest-physical pa (both must match: the
 * code embeds linear addresses), or NULL. */
struct bt_frag *bt_tc_lookup(struct bt *b, uint32_t pa, uint32_t eip,
                             unsigned mode);
/* Add a finished fragment (the last one in b->frags) to the hash table. */
void bt_tc_insert(struct bt *b, struct bt_frag *f);
/* Fragment containing cache offset off, or NULL. */
struct bt_frag *bt_tc_find_host(struct bt *b, uint32_t off);
void bt_ibl_insert(struct bt *b, uint32_t eip, unsigned mode,
                   uint32_t tc_off);
/* Code page pfn was written: kill its fragments (their entries now exit
 * to the dispatcher), stop tracing it. */
void bt_tc_invalidate_page(struct bt *b, uint32_t pfn);
/* Pages whose code is rewritten this often run in the interpreter, until
 * BT_SMC_QUIET instructions ran there (interpreted) without a new start:
 * then the page is translated again (boot-time patching of kernel text
 * must not leave its pages interpreted for ever). */
#define BT_SMC_VOLATILE 16
#define BT_SMC_QUIET 4096
/* One interpreted step of volatile fragment f: count it, and past
 * BT_SMC_QUIET let the page be translated again. */
void bt_tc_volatile_step(struct bt *b, struct bt_frag *f);
/* Kill the fragments that hold the instruction at (pa, eip) or call it
 * out (they are translated again at their next lookup). */
void bt_tc_kill_eip(struct bt *b, uint32_t pa, uint32_t eip);
/* Was code translated from a linear page in [lin, lin + len)? */
bool bt_tc_code_in(const struct bt *b, uint32_t lin, uint64_t len);
/* Point the rel32 at cache offset `site` to cache offset `target`. */
void bt_patch_rel32(struct bt *b, uint32_t site, uint32_t target);

/* ---- stubs.c ---- */
void bt_stubs_generate(struct bt *b);
/* Enter translated code at cache offset off; returns enum bt_exit. */
int bt_enter(struct bt *b, uint32_t off);

/* ---- translate.c ---- */
/* Translate the code at guest eip (physical pa); the fragment is added to
 * the cache (flushing first if it is full).  Never NULL. */
struct bt_frag *bt_translate(struct bt *b, uint32_t eip, uint32_t pa,
                             unsigned mode);

/* ---- adapt.c: adaptive translation ---- */
void bt_adapt_reset(struct bt *b);
/* Should the instruction at (eip, pa) be translated as a callout? */
bool bt_adapt_is_callout(const struct bt *b, uint32_t eip, uint32_t pa);
/* The instruction at eip (inside fragment f) trapped and was emulated:
 * count it; past the threshold, patch f to call it out from now on. */
void bt_adapt_trap(struct bt *b, struct bt_frag *f, uint32_t eip);
/* The same for a true page fault (kind ADAPT_PF) or an access to a hot
 * page (ADAPT_HOT): such callouts are taken back when their reason
 * stops (see ADAPT_*). */
void bt_adapt_revertible(struct bt *b, struct bt_frag *f, uint32_t eip,
                         int kind);
/* Is the instruction at eip a revertible callout? */
bool bt_adapt_watched(const struct bt *b, uint32_t eip);
/* Such a callout ran at eip; pf: it raised #PF. */
void bt_adapt_callout_done(struct bt *b, uint32_t eip, bool pf);

/* ---- ptwrite.c: hot PTE pages ---- */
/* A precise write of the 4 KiB PTE of linear page lin (was_present: it
 * replaced a present entry): true = the page is hot, do not shadow it
 * (no prefetch: drop its shadow). */
bool bt_hot_pte_write(struct bt *b, uint32_t lin, bool was_present);
/* A hidden fault at lin: true = hot page, let the interpreter do the
 * access (no shadow). */
bool bt_hot_refuse(struct bt *b, uint32_t lin);
/* When the PTE of hot page lpn was last written (0: not hot). */
uint64_t bt_hot_stamp(struct bt *b, uint32_t lpn);

/* ---- runfill.c: shadows filled in runs ---- */
/* A hidden fault at lin in a 4 MiB page (PDE pde) in view: map its whole
 * region read-only if nothing is mapped there yet; true if it did. */
bool bt_run_fill_large(struct bt *b, int view, uint32_t lin, uint32_t pde);
/* The same in a 4 KiB page table (entry at pte_pa, PDE pde): the run of
 * present, accessed entries around lin's, contiguous in linear and
 * physical space (at most BT_RUN_MAX pages), where nothing is mapped yet,
 * is mapped read-only with one mmap; true if it did. */
#define BT_RUN_MAX 64
bool bt_run_fill_small(struct bt *b, int view, uint32_t lin, uint32_t pde,
                       uint32_t pte_pa);

/* A precise write of entries first..last of page table pfn (mapping
 * linear base..): true = the table is unsynchronised, the shadows are
 * dealt with at the next TLB flush (bt_unsync_check). */
bool bt_unsync_pte_write(struct bt *b, uint32_t pfn, uint32_t base,
                         uint32_t first, uint32_t last);
/* Before translated code runs: if the interpreter's TLB was flushed since
 * tables went unsynchronised, drop the shadows of their entries written. */
void bt_unsync_check(struct bt *b);

/* ---- signals.c ---- */
int bt_signals_install(struct bt *b);
void bt_signals_remove(struct bt *b);
/* sigaltstack for the calling thread (idempotent per thread). */
int bt_signals_thread_init(void);

/* ---- core.c: the execution loop shared by the engine and the tests ---- */
/* Invalidate the interpreter's TLB slot of linear page lin (with
 * alias_only: only if it points into ram_alias). */
void bt_tlb_drop(struct bt *b, uint32_t lin, bool alias_only);
struct bt *bt_new(int ram_fd, uint64_t ram_size, struct machine *m);
void bt_free(struct bt *b);
/* Can the current guest state run translated (flat 32-bit, no PAE)? */
bool bt_mode_ok(const struct interp_cpu *c);
/* The MODE_* word of the current guest state. */
unsigned bt_mode_word(const struct interp_cpu *c);
enum bt_run_result {
    BT_RUN_KICK, BT_RUN_STOP, BT_RUN_IRQ_WINDOW, BT_RUN_HLT,
    BT_RUN_SHUTDOWN, BT_RUN_LIMIT, BT_RUN_FAILED,
    BT_RUN_DEBUG,       /* debugger breakpoint or single step (cpu.dbg) */
};
/* Run until an event the caller must see, or max_iters loop iterations
 * (each one fragment run or one interpreted step; 0 = no limit).
 * On BT_RUN_FAILED, msg holds why. */
enum bt_run_result bt_run(struct bt *b, uint64_t max_iters, char *msg,
                          size_t msgn);

#endif
