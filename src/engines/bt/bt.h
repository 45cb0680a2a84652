/* bt.h - the binary-translation engine (software VMM, after Adams & Agesen,
 * ASPLOS 2006): private interface shared by the files of src/engines/bt.
 *
 * ARCHITECTURE (as built; state of each part at the end of each line)
 *
 *  Guest state.  The reference copy is the interpreter's struct interp_cpu
 *  (bt->cpu).  While translated code runs, guest EAX..EDI live in host
 *  RAX..RDI (same numbers, low 32 bits; ESP in RSP), guest CF PF AF ZF SF
 *  OF DF in host RFLAGS; everything else (IF, IOPL, segments, CRs...) stays
 *  in bt->cpu.  Host R8-R11 are scratch for translated code.          [done]
 *
 *  Window (window.c).  A 4 GiB (+guard) PROT_NONE reservation; guest RAM
 *  (the machine's memfd) is mapped 1:1 at its guest-physical address.
 *  Translated code reaches guest memory only as gs:[addr32] (prefixes
 *  0x65 0x67), gs.base = window base (wrgsbase when AT_HWCAP2 has
 *  FSGSBASE, else arch_prctl).  The interpreter's `ram` pointer is the same
 *  window, so its writes are traced too.                             [done]
 *  Paging: while CR0.PG=1 the engine runs the interpreter (no shadow page
 *  tables yet: the two kernel/user views, hidden/true page faults and page
 *  table tracing of the design are NOT built).                   [missing]
 *
 *  Translation cache (tcache.c).  One RWX mmap: struct bt_ctx first (guest
 *  register save area, exit code, kick word, indirect-branch table: all
 *  reached RIP-relative from generated code), then the shared stubs
 *  (stubs.c), then fragments.  Fragments are keyed by the guest-physical
 *  address of their first byte (paging off: = linear EIP) in a hash table;
 *  the cache is flushed wholesale when full or when a traced code page is
 *  written.                                                          [done]
 *
 *  Stubs (stubs.c, generated at start-up).  bt_enter: save host callee-
 *  saved registers, load guest registers and flags from bt_ctx, jump.  exit
 *  entries: store the exit code, save guest registers and flags, restore
 *  the host stack, return the code.  ibl: indirect-branch lookup in a
 *  direct-mapped table {guest eip -> host address} using a private flag
 *  stack in bt_ctx (so guest flags survive); a miss exits.          [done]
 *
 *  Translator (translate.c, emit.c).  Up to BT_MAX_INSN guest instructions
 *  or up to a control transfer.  IDENT: integer ALU/mov/lea/shift/mul/div/
 *  setcc/cmov/bt*/xchg/cmpxchg/xadd/bswap..., memory operands re-encoded
 *  with gs+addr32 (disp32-only ModRM -> SIB form, else it would be
 *  RIP-relative).  Rewritten: inc/dec 40-4F, push/pop reg/imm/mem, leave,
 *  call/ret/jmp/jcc (direct: chained exit stubs patched in place once the
 *  target is translated; indirect: ibl).  Everything else (privileged and
 *  sensitive instructions, segment loads, string ops, x87, far transfers,
 *  16-bit addressing, fs/gs/cs overrides, rep-prefixed non-string ops)
 *  ends the fragment with a CALLOUT exit: the engine runs interp_step() for
 *  that one instruction.  A fragment whose first instruction is a callout
 *  holds no code (interp-only).  Code runs translated only in "flat" mode
 *  (bt_mode_ok: protected mode, paging off, 32-bit flat CS/SS/DS/ES, no TF,
 *  no DR7 breakpoints, no alignment checks); otherwise the interpreter
 *  runs.                                                             [done]
 *  Each fragment starts with a kick check (flag-preserving: jrcxz on the
 *  bt_ctx run_ok word), so kicks/stop requests end chained loops.     [done]
 *
 *  Faults (signals.c).  SIGSEGV/SIGBUS/SIGFPE run on a sigaltstack.  With
 *  host RIP in a fragment: host RIP -> guest EIP through the fragment's
 *  per-instruction map (every rewritten sequence does its faulting access
 *  before changing guest state), registers and flags from the ucontext,
 *  exit BT_EXIT_FAULT; the engine then re-executes that instruction with
 *  interp_step(), which performs MMIO (addresses outside RAM), raises #DE,
 *  or completes a write to a traced code page.  A write by C code (the
 *  interpreter) to a traced page unprotects it, marks the cache stale and
 *  retries.                                                          [done]
 *
 *  Self-modifying code.  Pages holding translated code are write-protected
 *  in the window; a write flushes the cache (wholesale) before the next
 *  fragment runs.  Per-page invalidation is a TODO.                  [done]
 *
 *  Missing: shadow paging (two views, hidden/true #PF, A/D bits, PT
 *  tracing, CR3/invlpg coherence), in-cache sequences for cli/sti/pushf/
 *  popf, string ops, fs/gs-based accesses, adaptive retranslation, 16-bit
 *  code.
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
#define BT_FRAG_MAX_BYTES 2048      /* worst-case bytes for one fragment */
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

struct bt_ibl_entry {
    uint64_t eip;   /* guest eip, ~0 = empty */
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
    uint32_t chain_from;        /* cache offset of the rel32 to patch, 0 = none */
    _Atomic uint32_t run_ok;    /* 0: leave at the next fragment entry */
    /* Set by the signal handler with BT_EXIT_FAULT. */
    int fault_sig;
    int fault_write;
    uint64_t fault_addr;        /* guest-physical (window offset) or ~0 */
    uint64_t flag_stack[16];    /* private stack for pushfq in the ibl */
    struct bt_ibl_entry ibl[BT_IBL_SIZE];
};

/* A compiled code fragment. */
struct bt_frag {
    uint32_t eip;           /* guest eip of the first instruction */
    uint32_t pa;            /* guest-physical address of the first byte */
    uint32_t tc_off;        /* entry (after the kick check prologue start) */
    uint32_t tc_start, tc_end; /* all bytes that belong to the fragment */
    uint32_t body_off;      /* first guest instruction's host code */
    uint8_t ninsn;
    bool interp_only;       /* first instruction is a callout: no code */
    uint16_t host_off[BT_MAX_INSN]; /* per instruction, from tc_start */
    uint16_t eip_off[BT_MAX_INSN];  /* per instruction, from eip */
};

struct bt_stats {
    uint64_t fragments, translated_insns, flushes, flushes_full,
        flushes_smc;
    uint64_t enters, exits_branch, exits_indirect, exits_callout,
        exits_kick, exits_fault;
    uint64_t chains_patched, ibl_fills;
    uint64_t callouts_by_op[OP_COUNT];
    uint64_t interp_only_steps, interp_mode_insns;
    uint64_t faults_mmio, faults_de, faults_smc, smc_traps_c;
    uint64_t hidden_page_faults, true_page_faults; /* 0 until shadow paging */
};

struct bt {
    struct interp_cpu cpu;      /* reference guest state + fallback */
    struct machine *m;          /* NULL in unit tests */
    atomic_bool kicked;

    /* window.c */
    uint8_t *window;            /* guest-physical view, 4 GiB + guard */
    uint64_t ram_size;
    uint8_t *traced;            /* per RAM page: 1 = write-protected code */
    uint32_t *traced_list;      /* pages currently traced */
    uint32_t ntraced;
    _Atomic bool code_dirty;    /* a traced page was written: flush */
    bool use_wrgsbase;

    /* tcache.c */
    uint8_t *tc;                /* region: ctx, stubs, fragments */
    struct bt_ctx *ctx;
    uint32_t tc_used;           /* bytes used (offset of the next fragment) */
    uint32_t stubs_end;         /* fragments start here */
    struct bt_frag *frags;      /* in cache order */
    uint32_t nfrags;
    int32_t *hash;              /* frag index + 1, 0 = empty */

    /* stubs.c: entry points (offsets in tc) */
    uint32_t off_enter, off_exit[BT_EXIT_FAULT + 1], off_restore, off_ibl;

    struct bt_stats st;
    uint64_t run_ns;
};

/* ---- window.c ---- */
int bt_window_create(struct bt *b, int ram_fd, uint64_t ram_size);
void bt_window_destroy(struct bt *b);
void bt_set_gsbase(struct bt *b, uint64_t base);
/* Write-protect a RAM page holding translated code (idempotent). */
void bt_trace_page(struct bt *b, uint32_t pfn);
/* Drop all write protection (after a flush). */
void bt_untrace_all(struct bt *b);

/* ---- tcache.c ---- */
int bt_tc_create(struct bt *b);
void bt_tc_destroy(struct bt *b);
void bt_tc_flush(struct bt *b);
struct bt_frag *bt_tc_lookup(struct bt *b, uint32_t pa);
/* Fragment containing cache offset off, or NULL. */
struct bt_frag *bt_tc_find_host(struct bt *b, uint32_t off);
void bt_ibl_insert(struct bt *b, uint32_t eip, uint32_t tc_off);
/* Point the rel32 at cache offset `site` to cache offset `target`. */
void bt_patch_rel32(struct bt *b, uint32_t site, uint32_t target);

/* ---- stubs.c ---- */
void bt_stubs_generate(struct bt *b);
/* Enter translated code at cache offset off; returns enum bt_exit. */
int bt_enter(struct bt *b, uint32_t off);

/* ---- translate.c ---- */
/* Translate the code at guest eip (physical pa); the fragment is added to
 * the cache (flushing first if it is full).  Never NULL. */
struct bt_frag *bt_translate(struct bt *b, uint32_t eip, uint32_t pa);

/* ---- signals.c ---- */
int bt_signals_install(struct bt *b);
void bt_signals_remove(struct bt *b);
/* sigaltstack for the calling thread (idempotent per thread). */
int bt_signals_thread_init(void);

/* ---- core.c: the execution loop shared by the engine and the tests ---- */
struct bt *bt_new(int ram_fd, uint64_t ram_size, struct machine *m);
void bt_free(struct bt *b);
/* Can the current guest state run translated (flat 32-bit, paging off)? */
bool bt_mode_ok(const struct interp_cpu *c);
enum bt_run_result {
    BT_RUN_KICK, BT_RUN_STOP, BT_RUN_IRQ_WINDOW, BT_RUN_HLT,
    BT_RUN_SHUTDOWN, BT_RUN_LIMIT, BT_RUN_FAILED,
};
/* Run until an event the caller must see, or max_iters loop iterations
 * (each one fragment run or one interpreted step; 0 = no limit).
 * On BT_RUN_FAILED, msg holds why. */
enum bt_run_result bt_run(struct bt *b, uint64_t max_iters, char *msg,
                          size_t msgn);

#endif
