/* bt.c - engine_bt_ops: the glue between popek's machine model and the
 * binary-translation engine (core.c runs it).  State moves between struct
 * cpu_state and the interpreter's struct interp_cpu, which is the bt
 * engine's reference copy of the guest state. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "../../core/machine.h"
#include "../interp/sys.h" /* tlb_flush_all */
#include "bt.h"

struct bt_engine {
    struct bt *b; /* created by map_ram, once the memfd is known */
};

static struct bt *B(struct machine *m)
{
    return ((struct bt_engine *)m->engine)->b;
}

static bool bt_usable(char *why, size_t n)
{
#if defined(__x86_64__)
    (void)why;
    (void)n;
    return true;
#else
    snprintf(why, n, "needs an x86-64 host");
    return false;
#endif
}

static int bt_create(struct machine *m)
{
    struct bt_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return fail("bt: out of memory");
    m->engine = e;
    return 0;
}

static int bt_map_ram(struct machine *m, uint64_t gpa, uint64_t size,
                      void *hva, int fd, uint64_t fd_off)
{
    struct bt_engine *e = m->engine;
    if (gpa != 0 || fd_off != 0 || hva != m->ram || e->b)
        return fail("bt: only one RAM block at guest-physical 0 is "
                    "supported");
    e->b = bt_new(fd, size, m);
    return e->b ? 0 : -1;
}

static int bt_vcpu_create(struct machine *m)
{
    return B(m) ? 0 : fail("bt: no RAM mapped");
}

static int bt_engine_run(struct machine *m, struct vm_exit *ex)
{
    struct bt *b = B(m);
    uint64_t t0 = clock_ns();
    enum bt_run_result r = bt_run(b, 0, ex->msg, sizeof(ex->msg));
    b->run_ns += clock_ns() - t0;
    switch (r) {
    case BT_RUN_KICK: ex->reason = EXIT_KICK; break;
    case BT_RUN_STOP: ex->reason = EXIT_STOP; break;
    case BT_RUN_IRQ_WINDOW: ex->reason = EXIT_IRQ_WINDOW; break;
    case BT_RUN_HLT: ex->reason = EXIT_HLT; break;
    case BT_RUN_SHUTDOWN: ex->reason = EXIT_SHUTDOWN; break;
    case BT_RUN_FAILED: ex->reason = EXIT_FAILED; break;
    case BT_RUN_LIMIT: ex->reason = EXIT_NONE; break;
    case BT_RUN_DEBUG: ex->reason = EXIT_DEBUG; break;
    }
    return 0;
}

static int bt_get_state(struct machine *m, struct cpu_state *s)
{
    interp_cpu_get_state(&B(m)->cpu, s);
    return 0;
}

static int bt_set_state(struct machine *m, const struct cpu_state *s)
{
    struct bt *b = B(m);
    if (interp_cpu_set_state(&b->cpu, s, "bt") < 0)
        return -1;
    /* The loader wrote RAM through the machine's own mapping. */
    bt_tc_flush(b);
    return 0;
}

static int bt_get_vcpu_state(struct machine *m, struct vcpu_state *s)
{
    interp_cpu_get_vcpu(&B(m)->cpu, s);
    return 0;
}

static int bt_set_vcpu_state(struct machine *m, const struct vcpu_state *s)
{
    struct bt *b = B(m);
    if (interp_cpu_set_vcpu(&b->cpu, s, "bt") < 0)
        return -1;
    bt_tc_flush(b);
    b->sh_valid = false;
    return 0;
}

/* Single steps and hardware breakpoints run in the interpreter (bt_run);
 * software breakpoints are int3 bytes, which translated code calls out to
 * the interpreter, whose boundary check stops there. */
static int bt_set_guest_debug(struct machine *m, const struct guest_debug *d)
{
    return interp_cpu_set_debug(&B(m)->cpu, d);
}

/* Guest RAM changed behind the engine (a debugger's int3, device DMA
 * handed over by machine_ram_dirty_sync; vCPU thread, between runs): kill
 * the fragments translated from those pages, which also stops tracing
 * them. */
static void bt_code_written(struct machine *m, uint64_t gpa, uint64_t len)
{
    struct bt *b = B(m);
    if (!b || !len)
        return;
    uint64_t end = gpa + len;
    if (end > b->ram_size)
        end = b->ram_size;
    for (uint64_t a = gpa & ~0xfffull; a < end; a += 4096) {
        uint32_t pfn = (uint32_t)(a >> 12);
        if (b->page_frags[pfn] >= 0 || b->traced[pfn] == 1)
            bt_tc_invalidate_page(b, pfn);
    }
}

static bool bt_irq_window_open(struct machine *m)
{
    return interp_cpu_irq_window_open(&B(m)->cpu);
}

static void bt_inject_irq(struct machine *m, uint8_t vector)
{
    interp_cpu_inject_irq(&B(m)->cpu, vector);
}

static void bt_inject_nmi(struct machine *m)
{
    interp_cpu_inject_nmi(&B(m)->cpu);
}

static void bt_kick(struct machine *m)
{
    struct bt_engine *e = m->engine;
    struct bt *b = e ? e->b : NULL;
    if (!b)
        return;
    atomic_store(&b->ctx->run_ok, 0);
    atomic_store(&b->kicked, true);
}

static void bt_write_stats(struct machine *m, struct json *j)
{
    struct bt *b = B(m);
    const struct bt_stats *s = &b->st;
    double secs = (double)b->run_ns / 1e9;
    json_f64(j, "run_seconds", secs);
    json_u64(j, "tc_size", BT_TC_SIZE);
    json_u64(j, "tc_used", b->tc_used);
    json_u64(j, "fragments_live", b->nfrags);
    json_u64(j, "fragments_translated", s->fragments);
    json_u64(j, "translated_insns", s->translated_insns);
    json_u64(j, "flushes", s->flushes);
    json_u64(j, "flushes_full", s->flushes_full);
    json_u64(j, "flushes_smc", s->flushes_smc);
    json_u64(j, "enters", s->enters);
    json_u64(j, "exits_unchained_branch", s->exits_branch);
    json_u64(j, "exits_indirect_miss", s->exits_indirect);
    json_u64(j, "exits_callout", s->exits_callout);
    json_u64(j, "exits_kick", s->exits_kick);
    json_u64(j, "exits_fault", s->exits_fault);
    json_u64(j, "chains_patched", s->chains_patched);
    json_u64(j, "ibl_fills", s->ibl_fills);
    json_u64(j, "interp_only_steps", s->interp_only_steps);
    json_u64(j, "interp_mode_insns", s->interp_mode_insns);
    json_u64(j, "faults_mmio", s->faults_mmio);
    json_u64(j, "faults_de", s->faults_de);
    json_u64(j, "faults_smc", s->faults_smc);
    json_u64(j, "smc_traps_from_interp", s->smc_traps_c);
    json_u64(j, "hidden_page_faults", s->hidden_page_faults);
    json_u64(j, "true_page_faults", s->true_page_faults);
    json_u64(j, "dirty_bit_faults", s->dirty_bit_faults);
    json_u64(j, "shadow_flushes", s->shadow_flushes);
    json_u64(j, "cr3_switches", s->cr3_switches);
    json_u64(j, "mode_switches", s->mode_switches);
    json_u64(j, "invlpg_flushes", s->invlpg_flushes);
    json_u64(j, "pt_write_traps", s->pt_write_traps);
    json_u64(j, "pt_writes_from_interp", s->pt_writes_from_interp);
    json_u64(j, "xchain_unlinks", s->xchain_unlinks);
    json_u64(j, "shadow_invalidations", s->shadow_invalidations);
    json_u64(j, "pt_writes_precise", s->pt_writes_precise);
    json_u64(j, "invlpg_skipped", s->invlpg_skipped);
    json_u64(j, "pt_writes_not_present", s->pt_writes_not_present);
    json_u64(j, "pt_writes_through_alias", s->pt_writes_alias);
    json_u64(j, "shadow_prefetches", s->shadow_prefetches);
    json_u64(j, "page_straddling_insns_translated", s->straddling_insns);
    json_u64(j, "invalidations_without_code", s->unlinks_skipped);
    json_u64(j, "pf_retries_interpreted", s->pf_retries_interp);
    json_u64(j, "view_unmaps_skipped", s->view_unmaps_skipped);
    json_u64(j, "address_space_hits", s->as_hits);
    json_u64(j, "address_space_misses", s->as_misses);
    json_u64(j, "address_space_evictions", s->as_evictions);
    json_u64(j, "flushes_for_traced_page_tables", s->pt_traced_resets);
    json_u64(j, "flushes_table_of_two_regions", s->flush_pt_multi);
    json_u64(j, "flushes_many_tables_written", s->flush_pt_dirty);
    json_u64(j, "flushes_page_mapped_twice", s->flush_rmap_multi);
    json_u64(j, "page_tables_reused_for_another_region", s->pt_owner_reused);
    json_u64(j, "pd_writes_one_space", s->pd_writes_slot);
    json_u64(j, "pd_writes_precise", s->pd_writes_precise);
    json_u64(j, "xchains_kept_across_cr3_switches", s->xchains_kept);
    json_u64(j, "ibl_entries_kept_across_cr3_switches", s->ibl_kept);
    json_u64(j, "xchains_kept_across_invalidations", s->xchains_kept_range);
    json_u64(j, "page_tables_untraced_unused", s->pt_untraced);
    json_u64(j, "hot_pte_pages", s->hot_pages);
    json_u64(j, "hot_pte_writes_unshadowed", s->hot_pte_writes);
    json_u64(j, "hot_page_faults_to_interp", s->hot_faults_interp);
    json_u64(j, "hot_pages_cooled", s->hot_pages_cooled);
    json_u64(j, "pf_callouts_made", s->pf_callouts_made);
    json_u64(j, "pf_callouts_reverted", s->pf_callouts_reverted);
    json_u64(j, "pf_callout_faults_no_signal", s->pf_callout_faults);
    json_u64(j, "hot_callouts_made", s->hot_callouts_made);
    json_u64(j, "hot_callouts_reverted", s->hot_callouts_reverted);
    json_u64(j, "run_fills", s->run_fills);
    json_u64(j, "run_fills_4k", s->run_fills_small);
    json_u64(j, "run_fill_pages", s->run_fill_pages);
    json_u64(j, "unsync_page_tables", s->unsync_tables);
    json_u64(j, "unsync_pte_writes_deferred", s->unsync_writes);
    json_u64(j, "unsync_resyncs", s->unsync_resyncs);
    json_u64(j, "smc_page_invalidations", s->smc_page_invalidations);
    json_u64(j, "fragments_invalidated", s->frags_invalidated);
    json_u64(j, "volatile_code_pages", s->volatile_pages);
    json_u64(j, "volatile_pages_retranslated", s->volatile_pages_retried);
    json_u64(j, "shadow_map_failures", s->shadow_map_failures);
    json_u64(j, "hidden_faults_user_view", s->hidden_faults_user_view);
    json_u64(j, "adaptive_retranslations", s->adaptive_retranslations);
    json_u64(j, "host_map_limit", b->map_limit);
    json_u64(j, "host_maps_peak", s->maps_peak);
    json_u64(j, "host_map_recounts", s->map_recounts);
    json_u64(j, "host_map_reclaims", s->map_reclaims);
    json_u64(j, "host_call_failures", s->host_call_failures);
    json_u64(j, "ram_unprotected_whole", s->unprotect_all);
    json_u64(j, "interrupts_delivered", b->cpu.irqs_delivered);
    json_obj_begin(j, "callouts_by_opcode");
    for (int op = 0; op < OP_COUNT; op++) {
        if (!s->callouts_by_op[op])
            continue;
        char k[16];
        snprintf(k, sizeof(k), op < 0x100 ? "%02x" : "0f%02x", op & 0xff);
        if (op >= OP_MAP0F38)
            snprintf(k, sizeof(k), "0f%02x%02x", op >= OP_MAP0F3A ? 0x3a : 0x38,
                     op & 0xff);
        json_u64(j, k, s->callouts_by_op[op]);
    }
    json_obj_end(j);
}

static void bt_destroy(struct machine *m)
{
    struct bt_engine *e = m->engine;
    if (e)
        bt_free(e->b);
    free(e);
    m->engine = NULL;
}

const struct engine_ops engine_bt_ops = {
    .name = "bt",
    .description = "binary translator (software VMM)",
    .caps = 0,
    .usable = bt_usable,
    .create = bt_create,
    .map_ram = bt_map_ram,
    .vcpu_create = bt_vcpu_create,
    .run = bt_engine_run,
    .get_state = bt_get_state,
    .set_state = bt_set_state,
    .irq_window_open = bt_irq_window_open,
    .inject_irq = bt_inject_irq,
    .inject_nmi = bt_inject_nmi,
    .kick = bt_kick,
    .get_vcpu_state = bt_get_vcpu_state,
    .set_vcpu_state = bt_set_vcpu_state,
    .set_guest_debug = bt_set_guest_debug,
    .code_written = bt_code_written,
    .write_stats = bt_write_stats,
    .destroy = bt_destroy,
};
