/* core.c - the bt engine's execution loop, shared by engine_bt_ops (bt.c)
 * and the unit tests: pick the fragment for the guest EIP (translating on
 * a miss), sync registers into bt_ctx, enter translated code, and handle
 * the exit: chain direct branches, refill the indirect-branch table, run
 * callouts and faulting instructions in the interpreter (interp_step).
 * Outside flat 32-bit paging-off mode the interpreter runs on its own. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/machine.h"
#include "../interp/sys.h" /* tlb_flush_page */
#include "bt.h"

#define ARITH_FLAGS (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | \
                     FLAG_OF | FLAG_DF)
#define INTERP_BATCH 64

static bool flat(const struct seg_reg *s, bool code)
{
    if (s->unusable || !s->present || !s->s || s->base != 0 ||
        s->limit != 0xffffffffu)
        return false;
    if (code)
        return (s->type & 8) && s->db;
    return !(s->type & 8) && (s->type & 2) && !(s->type & 4);
}

bool bt_mode_ok(const struct interp_cpu *c)
{
    if (!(c->cr0 & CR0_PE) || ((c->cr0 & CR0_PG) && (c->cr4 & CR4_PAE)))
        return false;
    if (c->eflags & (FLAG_TF | FLAG_VM))
        return false;
    if (c->dr[7] & 0xff)
        return false;
    if ((c->cr0 & CR0_AM) && (c->eflags & FLAG_AC) && c->cpl == 3)
        return false;
    return flat(&c->seg[SEG_CS], true) && flat(&c->seg[SEG_SS], false) &&
           c->seg[SEG_SS].db && flat(&c->seg[SEG_DS], false) &&
           flat(&c->seg[SEG_ES], false);
}

static bool seg_usable_4g(const struct seg_reg *s)
{
    return !s->unusable && s->present && s->s && !(s->type & 8) &&
           (s->type & 2) && !(s->type & 4) && s->limit == 0xffffffffu;
}

unsigned bt_mode_word(const struct interp_cpu *c)
{
    return (c->cpl == 0 ? MODE_CPL0 : 0) |
           (seg_usable_4g(&c->seg[SEG_FS]) ? MODE_FS_OK : 0) |
           (seg_usable_4g(&c->seg[SEG_GS]) ? MODE_GS_OK : 0);
}

struct bt *bt_new(int ram_fd, uint64_t ram_size, struct machine *m)
{
    struct bt *b = aligned_alloc(64, (sizeof(struct bt) + 63) & ~(size_t)63);
    if (!b) {
        fail("bt: out of memory");
        return NULL;
    }
    memset(b, 0, sizeof(*b));
    b->m = m;
    atomic_init(&b->kicked, false);
    if (bt_window_create(b, ram_fd, ram_size) < 0 ||
        bt_shadow_create(b) < 0 || bt_tc_create(b) < 0 ||
        bt_signals_install(b) < 0) {
        bt_free(b);
        return NULL;
    }
    b->cpu.bt_engine = true; /* CPUID brand "popek bt", no SMAP */
    interp_cpu_init(&b->cpu, b->window, (uint32_t)ram_size, m);
    bt_budget_init(b);
    return b;
}

void bt_free(struct bt *b)
{
    if (!b)
        return;
    bt_signals_remove(b);
    interp_cpu_free(&b->cpu);
    bt_tc_destroy(b);
    bt_shadow_destroy(b);
    bt_window_destroy(b);
    free(b);
}

static void sync_in(struct bt *b)
{
    const struct interp_cpu *c = &b->cpu;
    for (int r = 0; r < 8; r++)
        b->ctx->gpr[r] = c->r[r];
    b->ctx->rflags = (c->eflags & ARITH_FLAGS) | 2;
    b->ctx->vif = (c->eflags & FLAG_IF) != 0;
    b->ctx->vflags = c->eflags &
                     ~(ARITH_FLAGS | FLAG_IF | FLAG_RF | FLAG_VM);
    b->ctx->segbase[0] = (uint32_t)c->seg[SEG_FS].base;
    b->ctx->segbase[1] = (uint32_t)c->seg[SEG_GS].base;
}

static void sync_out(struct bt *b)
{
    struct interp_cpu *c = &b->cpu;
    for (int r = 0; r < 8; r++)
        c->r[r] = (uint32_t)b->ctx->gpr[r];
    c->eflags = (c->eflags & ~(ARITH_FLAGS | FLAG_IF)) |
                ((uint32_t)b->ctx->rflags & ARITH_FLAGS) |
                (b->ctx->vif ? FLAG_IF : 0);
    c->eip = b->ctx->next_eip;
}

/* Decode the instruction at the guest EIP (for statistics and for the
 * shadows: invlpg invalidates them).  Returns false if unreadable. */
static bool peek(struct bt *b, uint32_t eip, struct insn *i)
{
    const struct interp_cpu *c = &b->cpu;
    uint32_t pa;
    if (!bt_walk(b, eip, c->cpl == 3, false, &pa) || pa >= b->ram_size)
        return false;
    uint32_t avail = (uint32_t)(b->ram_size - pa);
    if (bt_paging(c) && avail > 4096 - (pa & 0xfff))
        avail = 4096 - (pa & 0xfff);
    return x86_decode(b->window + pa, avail < X86_MAX_INSN ? avail
                                                          : X86_MAX_INSN,
                      true, i) > 0;
}

/* Invalidate the interpreter's TLB slot for linear page lin (mmu.c's
 * tlb_slot: direct-mapped by page number); with alias_only, only if its
 * host pointer is into the RAM alias.  Unlike tlb_flush_page this never
 * drops a whole 4 MiB region (a loop over the TLB whenever the guest uses
 * large pages: ~1/6 of ptemod's time when it ran twice per alias store).
 * Dropping an entry early is always allowed (a TLB may forget). */
void bt_tlb_drop(struct bt *b, uint32_t lin, bool alias_only)
{
    struct tlb_entry *t = &b->cpu.tlb[(lin >> 12) & (TLB_SIZE - 1)];
    uintptr_t h = (uintptr_t)t->host, a = (uintptr_t)b->ram_alias;
    if (alias_only && !(h >= a && h - a < b->ram_size))
        return;
    t->vpage = 0;
}

/* Bytes written by i if its only memory access is a store (or read-
 * modify-write) of its ModRM operand; 0 otherwise. */
static unsigned modrm_store_size(const struct insn *i)
{
    if (!i->has_modrm || i->mod == 3 || i->addrsize != 4 || i->rep)
        return 0;
    unsigned op = i->op, w = i->opsize;
    if (op < 0x40 && (op & 7) <= 1 && (op & 0x38) != 0x38)
        return (op & 1) ? w : 1;                /* ALU r/m, r */
    switch (op) {
    case 0x88: case 0x86: case 0xc6: case 0x80: case 0xfe:
        return (op == 0x80 && i->reg == 7) || (op == 0xfe && i->reg > 1)
                   ? 0 : 1;
    case 0x89: case 0x87: case 0xc7: case 0x81: case 0x83:
        return (op == 0x81 || op == 0x83) && i->reg == 7 ? 0 : w;
    case 0xff:
        return i->reg <= 1 ? w : 0;
    case OP_MAP0F + 0xb0: return 1;
    case OP_MAP0F + 0xb1: return w;
    case OP_MAP0F + 0xba: return i->reg >= 5 ? w : 0; /* bts/btr/btc imm */
    case OP_MAP0F + 0xc7: return i->reg == 1 ? 8 : 0;
    default: return 0;
    }
}

/* Run one instruction (or deliver the pending event) in the interpreter.
 * op: its opcode if the translator knew it (a callout, counted), 0xffff
 * for an undecodable callout, -1 for other steps.
 * A store into a traced page table (write-protected in the physical view
 * the interpreter uses) goes through the unprotected RAM alias instead:
 * no host signal, no mprotect pair; the entry written is then handled
 * like a trapped write (bt_shadow_pt_write_done). */
static int interp_one(struct bt *b, int op)
{
    struct interp_cpu *c = &b->cpu;
    if (op >= 0)
        b->st.callouts_by_op[op == 0xffff ? 0xf1 : op]++;
    bool event = interp_cpu_event_pending(c);
    uint32_t eip0 = c->eip;
    struct insn i;
    bool known = false, invlpg = false, alias = false;
    uint32_t lin = 0, alin = 0;
    if (!event && b->sh_valid && bt_paging(c)) {
        known = peek(b, eip0, &i);
        invlpg = known && i.op == OP_MAP0F + 0x01 && i.reg == 7 &&
                 i.mod != 3;
        if (invlpg)
            lin = (uint32_t)c->seg[i.ea_seg].base + insn_ea(c, &i);
        unsigned size = known && b->npt && !b->npt_written
                            ? modrm_store_size(&i) : 0;
        uint32_t pa;
        if (size) {
            alin = (uint32_t)c->seg[i.ea_seg].base + insn_ea(c, &i);
            if ((alin & 0xfff) + size <= 4096 &&
                bt_walk(b, alin, c->cpl == 3, true, &pa) &&
                (uint64_t)pa + size <= b->ram_size &&
                b->pt_role[pa >> 12] == 1 && b->traced[pa >> 12] != 1 &&
                !bt_shadow_pt_unused(b, pa >> 12)) {
                alias = true;
                b->pt_written[0] = pa >> 12;
                b->pt_written_pa[0] = pa;
                memcpy(&b->pt_written_old[0], b->ram_alias + (pa & ~3u), 4);
                bt_tlb_drop(b, alin, false); /* the store walks afresh */
                c->ram = b->ram_alias;
            }
        }
    }
    /* where its store goes (the interpreter may first write A/D bits
     * into the same page table: then the first write trapped is not it) */
    int64_t st_pa = -1;
    if (known && !event && bt_paging(c) &&
        ((i.has_modrm && i.mod != 3) || i.op == 0xa2 || i.op == 0xa3)) {
        uint32_t pa;
        if (bt_walk(b, (uint32_t)c->seg[i.ea_seg].base + insn_ea(c, &i),
                    c->cpl == 3, false, &pa))
            st_pa = pa;
    }
    int r = interp_step(c);
    if (alias) {
        c->ram = b->window;
        b->npt_written = 1;
        b->st.pt_writes_alias++;
        if (c->eip != eip0 + i.len) {
            /* it raised an exception: the frame pushed went through the
             * alias too, untraced; start translations and shadows afresh */
            tlb_flush_all(c);
            atomic_store(&b->code_dirty, true);
            atomic_store(&b->pt_dirty, true);
        } else {
            /* no TLB entry may keep the alias: the instruction touched
             * its code (at most two pages) and its ModRM operand only */
            bt_tlb_drop(b, alin, true);
            bt_tlb_drop(b, eip0, true);
            bt_tlb_drop(b, eip0 + i.len - 1, true);
        }
    }
    /* A page table written by an instruction whose only store is its
     * ModRM operand, and that store is the write that trapped: drop just
     * the shadows of the entries written (else bt_shadow_sync drops the
     * table's whole region). */
    if (st_pa >= 0 && b->npt_written == 1 &&
        (b->pt_written_pa[0] & ~3u) == ((uint32_t)st_pa & ~3u) &&
        !(i.op == 0xff && (i.reg == 2 || i.reg == 6))) {
        b->ptw_pa = b->pt_written_pa[0];
        bt_shadow_pt_write_done(b, i.op == OP_MAP0F + 0xc7 ? 8 : 4);
    }
    if (invlpg) {
        b->st.invlpg_flushes++;
        bt_shadow_invlpg(b, lin);
    }
    if (c->pv_tlb_flushed) {
        /* a hypercall (src/pv) flushed the TLB; the entries it stored went
         * through the physical view, traced like any page-table write.
         * One page: as invlpg; non-global: as a CR3 reload (nothing more);
         * everything: the shadows of every cached space start afresh */
        c->pv_tlb_flushed = false;
        if (c->pv_flush_how == 1) {
            b->st.invlpg_flushes++;
            bt_shadow_invlpg(b, c->pv_flush_lin);
        } else if (c->pv_flush_how == 2) {
            b->sh_valid = false;
        }
    }
    return r;
}

/* A callout: interp_one, and if the instruction is a revertible callout
 * (adapt.c: true page faults, hot pages), whether it raised #PF. */
static int pf_callout(struct bt *b, int op)
{
    uint32_t eip = b->cpu.eip;
    if (!bt_adapt_watched(b, eip))
        return interp_one(b, op);
    uint64_t pfs = b->cpu.exc_count[EXC_PF];
    int r = interp_one(b, op);
    bt_adapt_callout_done(b, eip, b->cpu.exc_count[EXC_PF] != pfs);
    return r;
}

/* The fragment for the current EIP; NULL: let the interpreter run it
 * (fetch fault, MMIO). */
static struct bt_frag *frag_at(struct bt *b, uint32_t eip)
{
    uint32_t pa;
    if (b->host_error[0] ||
        !bt_walk(b, eip, b->cpu.cpl == 3, false, &pa) || pa >= b->ram_size)
        return NULL;
    /* SMEP: a supervisor fetch from a user page faults: leave it to the
     * interpreter (which raises the #PF) */
    uint32_t upa;
    if (b->cpu.cpl < 3 && (b->cpu.cr4 & CR4_SMEP) && bt_paging(&b->cpu) &&
        bt_walk(b, eip, true, false, &upa))
        return NULL;
    bt_touch(b, eip);
    unsigned mode = bt_mode_word(&b->cpu);
    struct bt_frag *f = bt_tc_lookup(b, pa, eip, mode);
    return f ? f : bt_translate(b, eip, pa, mode);
}

/* A direct branch left the cache through the stub its site points to:
 * chain the site to the target. */
static void chain(struct bt *b, uint32_t site, uint32_t eip)
{
    if (!site)
        return;
    int32_t rel;
    memcpy(&rel, b->tc + site, 4);
    uint32_t stub = site + 4 + (uint32_t)rel;
    struct bt_frag *src = bt_tc_find_host(b, site);
    bool cross = bt_paging(&b->cpu) &&
                 (!src || (src->eip >> 12) != (eip >> 12));
    uint64_t flushes = b->st.flushes, sflushes = b->st.shadow_flushes;
    struct bt_frag *g = frag_at(b, eip);
    if (!g || g->interp_only || b->st.flushes != flushes ||
        b->st.shadow_flushes != sflushes)
        return;
    bt_patch_rel32(b, site, g->tc_off);
    if (cross)
        bt_shadow_note_xchain(b, site, stub, eip);
}

enum fault_action { FA_REENTER, FA_INTERP, FA_ADAPT, FA_ADAPT_PF,
                    FA_ADAPT_HOT, FA_FAILED };

static enum fault_action fault_exit(struct bt *b, char *msg, size_t msgn)
{
    struct bt_ctx *x = b->ctx;
    if (x->fault_sig == SIGFPE) {
        b->st.faults_de++;
        return FA_ADAPT; /* a div that keeps faulting: call it out */
    }
    if (x->fault_addr == ~0ull) {
        snprintf(msg, msgn,
                 "bt: translated code at guest eip %#x faulted outside the "
                 "guest window",
                 x->next_eip);
        return FA_FAILED;
    }
    if (x->fault_view != VIEW_PHYS) {
        if (x->fault_addr > 0xffffffffull)
            return FA_INTERP; /* guard page: wraps around 4 GiB */
        uint64_t mmio = b->st.faults_mmio, tpf = b->st.true_page_faults;
        b->fault_adapt = false;
        if (bt_shadow_fault(b, x->fault_view, (uint32_t)x->fault_addr,
                            x->fault_write))
            return FA_REENTER;
        if (b->st.true_page_faults != tpf) {
            b->pf_retry_eip = x->next_eip;
            return FA_ADAPT_PF;
        }
        if (b->fault_adapt)
            return FA_ADAPT_HOT;
        return b->ptw_pa >= 0 || b->st.faults_mmio != mmio ? FA_ADAPT
                                                           : FA_INTERP;
    }
    if (x->fault_addr >= b->ram_size) {
        b->st.faults_mmio++;
        return FA_ADAPT;
    } else if (b->traced[x->fault_addr >> 12] == 1) {
        b->st.faults_smc++;
        bt_tc_invalidate_page(b, (uint32_t)(x->fault_addr >> 12));
    } else if (b->code_dirty || b->ncode_written) {
        b->st.faults_smc++; /* already unprotected by a C-side trap */
    } else {
        snprintf(msg, msgn,
                 "bt: unexpected fault at guest eip %#x, address %#llx",
                 x->next_eip, (unsigned long long)x->fault_addr);
        return FA_FAILED;
    }
    return FA_INTERP;
}

enum bt_run_result bt_run(struct bt *b, uint64_t max_iters, char *msg,
                          size_t msgn)
{
    struct interp_cpu *c = &b->cpu;
    if (bt_signals_thread_init() < 0) {
        snprintf(msg, msgn, "%s", popek_error());
        return BT_RUN_FAILED;
    }
    c->check_irq = true;
    interp_dbg_resume(c);
    for (uint64_t it = 0; !max_iters || it < max_iters; it++) {
        if (b->host_error[0]) {
            snprintf(msg, msgn, "%s", b->host_error);
            return BT_RUN_FAILED;
        }
        if (atomic_load_explicit(&b->kicked, memory_order_relaxed)) {
            atomic_store(&b->ctx->run_ok, 1);
            atomic_store(&b->kicked, false);
            return BT_RUN_KICK;
        }
        if (b->m && atomic_load_explicit(&b->m->stop, memory_order_relaxed))
            return BT_RUN_STOP;
        if (c->check_irq && c->pending_vector < 0 && !c->intr_shadow) {
            c->check_irq = false;
            if (b->m && (((c->eflags & FLAG_IF) && machine_intr_pending(b->m)) ||
                         machine_nmi_pending(b->m)))
                return BT_RUN_IRQ_WINDOW;
        }
        if (c->halted && !interp_cpu_event_pending(c))
            return BT_RUN_HLT;
        int r;
        struct bt_frag *f = NULL;
        if (interp_cpu_event_pending(c) || c->intr_shadow) {
            r = interp_one(b, -1);
            goto stepped;
        }
        if (b->pf_retry_eip == (int64_t)c->eip) {
            b->pf_retry_eip = -1;
            b->st.pf_retries_interp++;
            r = interp_one(b, -1);
            goto stepped;
        }
        bool dbg_interp = c->dbg && (c->dbg->single_step || c->dbg->nhw);
        if (!bt_mode_ok(c) || dbg_interp) {
            uint64_t before = c->icount;
            r = interp_run_batch(c, c->dbg && c->dbg->single_step
                                        ? 1 : INTERP_BATCH);
            b->st.interp_mode_insns += c->icount - before;
            b->sh_valid = false; /* it may have run invlpg */
            goto stepped;
        }
        if (atomic_load(&b->code_dirty)) {
            b->st.flushes_smc++;
            bt_tc_flush(b);
        } else if (b->ncode_written) {
            uint32_t n = b->ncode_written;
            for (uint32_t k = 0; k < n; k++)
                bt_tc_invalidate_page(b, b->code_written[k]);
            b->ncode_written = 0;
        }
        bt_shadow_sync(b);
        f = frag_at(b, c->eip);
        if (b->host_error[0])
            continue; /* stop before running any translated code */
        if (!f || f->interp_only) {
            b->st.interp_only_steps++;
            if (f)
                bt_tc_volatile_step(b, f);
            r = pf_callout(b, f ? f->callout_op : 0xffff);
            goto stepped;
        }
        int view = !bt_paging(c) ? VIEW_PHYS
                   : c->cpl == 3 ? VIEW_USER : VIEW_KERNEL;
        bt_set_gsbase(b, (uint64_t)(uintptr_t)b->view[view]);
        b->ctx->view_base = (uint64_t)(uintptr_t)b->view[view];
        sync_in(b);
        b->ctx->chain_from = 0;
        b->st.enters++;
        int x = bt_enter(b, f->tc_off);
        sync_out(b);
        switch (x) {
        case BT_EXIT_BRANCH:
            b->st.exits_branch++;
            chain(b, b->ctx->chain_from, c->eip);
            continue;
        case BT_EXIT_INDIRECT: {
            b->st.exits_indirect++;
            struct bt_frag *g = frag_at(b, c->eip);
            if (g && !g->interp_only)
                bt_ibl_insert(b, c->eip, g->mode, g->tc_off);
            continue;
        }
        case BT_EXIT_KICK:
            b->st.exits_kick++;
            atomic_store(&b->ctx->run_ok, 1);
            atomic_store(&b->kicked, false);
            return BT_RUN_KICK;
        case BT_EXIT_CALLOUT:
            b->st.exits_callout++;
            r = pf_callout(b, (int)(b->ctx->chain_from & 0xffff));
            break;
        case BT_EXIT_FAULT: {
            b->st.exits_fault++;
            enum fault_action fa = fault_exit(b, msg, msgn);
            if (fa == FA_FAILED)
                return BT_RUN_FAILED;
            if (fa == FA_REENTER)
                continue;
            if (fa == FA_ADAPT && b->ctx->fault_frag < b->nfrags)
                bt_adapt_trap(b, &b->frags[b->ctx->fault_frag],
                              b->ctx->next_eip);
            if ((fa == FA_ADAPT_PF || fa == FA_ADAPT_HOT) &&
                b->ctx->fault_frag < b->nfrags)
                bt_adapt_revertible(b, &b->frags[b->ctx->fault_frag],
                                    b->ctx->next_eip,
                                    fa == FA_ADAPT_PF ? ADAPT_PF : ADAPT_HOT);
            b->ptw_pa = -1; /* interp_one finds the written entry */
            r = interp_one(b, -1);
            break;
        }
        default:
            snprintf(msg, msgn, "bt: bad exit code %d", x);
            return BT_RUN_FAILED;
        }
    stepped:
        if (r == -2) {
            snprintf(msg, msgn, "triple fault at %04x:%08x (cr2 %#x)",
                     c->seg[SEG_CS].sel, c->eip, c->cr2);
            return BT_RUN_SHUTDOWN;
        }
        if (c->dbg && (c->dbg->hit || c->dbg->single_step)) {
            c->dbg->hit = true;
            return BT_RUN_DEBUG;
        }
    }
    return BT_RUN_LIMIT;
}
