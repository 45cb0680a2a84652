/* interp.c - engine_interp_ops: the glue between popek's machine model and
 * the IA-32 interpreter (cpu.c and friends).  run() steps instructions
 * until a kick, a stop, hlt, a triple fault, or the moment the CPU becomes
 * able to take an interrupt the PIC is raising (EXIT_IRQ_WINDOW).  State
 * moves between struct cpu_state (loaders, the run loop) and the
 * interpreter's own struct interp_cpu. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../core/machine.h"
#include "../../core/disasm.h"
#include "sys.h"

/* Instructions between checks of the kick flag and m->stop. */
#define RUN_BATCH 256

/* POPEK_INTERP_PROFILE=1: sample EIP once per batch and print the
 * hottest addresses (with their disassembly) when the machine ends. */
#define PROF_SLOTS 4096
struct prof_slot {
    uint32_t eip;
    uint8_t cpl, ifl;
    uint64_t n;
};

struct interp_engine {
    struct interp_cpu cpu;
    atomic_bool kicked;
    uint64_t run_ns, cpu_ns;
    struct prof_slot *prof;
};

static void prof_sample(struct interp_engine *e)
{
    const struct interp_cpu *c = &e->cpu;
    uint32_t eip = c->eip;
    unsigned h = (eip * 2654435761u) >> 20;
    for (unsigned k = 0; k < 8; k++) {
        struct prof_slot *p = &e->prof[(h + k) & (PROF_SLOTS - 1)];
        if (p->n == 0 || p->eip == eip) {
            p->eip = eip;
            p->cpl = c->cpl;
            p->ifl = (c->eflags & FLAG_IF) != 0;
            p->n++;
            return;
        }
    }
}

static int prof_cmp(const void *a, const void *b)
{
    const struct prof_slot *x = a, *y = b;
    return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

static void prof_report(struct interp_engine *e)
{
    qsort(e->prof, PROF_SLOTS, sizeof(*e->prof), prof_cmp);
    uint64_t total = 0;
    for (unsigned k = 0; k < PROF_SLOTS; k++)
        total += e->prof[k].n;
    fprintf(stderr, "interp profile: %llu samples\n",
            (unsigned long long)total);
    for (unsigned k = 0; k < 40 && e->prof[k].n; k++) {
        const struct prof_slot *p = &e->prof[k];
        uint8_t b[16];
        char dis[128] = "?";
        int n = 0;
        uint32_t lin = (uint32_t)e->cpu.seg[SEG_CS].base + p->eip, pa;
        while (n < 16 && mmu_probe(&e->cpu, lin + (uint32_t)n, &pa))
            b[n++] = (uint8_t)phys_read(&e->cpu, pa, 1);
        if (n)
            disasm32(b, (size_t)n, p->eip, dis, sizeof(dis));
        fprintf(stderr, "  %6.2f%%  %08x cpl%d if%d  %s\n",
                100.0 * (double)p->n / (double)total, p->eip, p->cpl,
                p->ifl, dis);
    }
}

static struct interp_engine *eng(struct machine *m)
{
    return m->engine;
}

static bool interp_usable(char *why, size_t n)
{
    (void)why;
    (void)n;
    return true;
}

static int interp_create(struct machine *m)
{
    /* aligned_alloc needs a size that is a multiple of the alignment */
    struct interp_engine *e = aligned_alloc(64, (sizeof(*e) + 63) & ~(size_t)63);
    if (!e)
        return fail("interp: out of memory");
    memset(e, 0, sizeof(*e));
    atomic_init(&e->kicked, false);
    const char *prof = getenv("POPEK_INTERP_PROFILE");
    if (prof && *prof && *prof != '0')
        e->prof = calloc(PROF_SLOTS, sizeof(*e->prof));
    m->engine = e;
    return 0;
}

static int interp_map_ram(struct machine *m, uint64_t gpa, uint64_t size,
                          void *hva, int fd, uint64_t fd_off)
{
    (void)hva;
    (void)fd;
    (void)fd_off;
    if (gpa != 0 || size > 0xffffffffull || hva != m->ram)
        return fail("interp: only guest RAM at physical address 0 below "
                    "4 GiB is supported");
    return 0;
}

static int interp_vcpu_create(struct machine *m)
{
    struct interp_engine *e = eng(m);
    interp_cpu_init(&e->cpu, m->ram, (uint32_t)m->ram_size, m);
    if (interp_dcache_enable(&e->cpu) < 0)
        return fail("interp: out of memory for the decode cache");
    return 0;
}

/* Has a virtual timer expired?  The run loop fires timers when run()
 * returns; the I/O thread kicks us when the timerfd expires, but on a
 * loaded host it may be scheduled late, so the interpreter also checks the
 * deadlines itself (the timer list belongs to this thread). */
static bool timer_due(struct machine *m)
{
    uint64_t next = 0;
    for (const struct vtimer *t = m->timers; t; t = t->next)
        if (!next || t->deadline < next)
            next = t->deadline;
    return next && clock_ns() >= next;
}

/* CPU time of this thread: --stats reports MIPS over it too, since the
 * wall clock on a loaded host says little about the interpreter. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int interp_run(struct machine *m, struct vm_exit *ex)
{
    struct interp_engine *e = eng(m);
    struct interp_cpu *c = &e->cpu;
    uint64_t t0 = clock_ns(), cpu0 = thread_cpu_ns();
    c->check_irq = true;
    interp_dbg_resume(c);
    /* Single step (debugger): one instruction, then EXIT_DEBUG. */
    uint32_t batch = c->dbg && c->dbg->single_step ? 1 : RUN_BATCH;
    for (;;) {
        if (atomic_load_explicit(&e->kicked, memory_order_relaxed)) {
            atomic_store(&e->kicked, false);
            ex->reason = EXIT_KICK;
            break;
        }
        if (atomic_load_explicit(&m->stop, memory_order_relaxed)) {
            ex->reason = EXIT_STOP;
            break;
        }
        if (c->check_irq && c->pending_vector < 0 && !c->intr_shadow) {
            c->check_irq = false;
            if (((c->eflags & FLAG_IF) && machine_intr_pending(m)) ||
                machine_nmi_pending(m)) {
                ex->reason = EXIT_IRQ_WINDOW;
                break;
            }
        }
        if (c->halted && !interp_cpu_event_pending(c)) {
            ex->reason = EXIT_HLT;
            break;
        }
        if (timer_due(m)) {
            ex->reason = EXIT_KICK;
            break;
        }
        if (e->prof)
            prof_sample(e);
        if (interp_run_batch(c, batch) == -2) {
            ex->reason = EXIT_SHUTDOWN;
            snprintf(ex->msg, sizeof(ex->msg),
                     "triple fault at %04x:%08x (cr2 %#x)",
                     c->seg[SEG_CS].sel, c->eip, c->cr2);
            break;
        }
        if (c->dbg && (c->dbg->hit || c->dbg->single_step)) {
            c->dbg->hit = true;
            ex->reason = EXIT_DEBUG;
            break;
        }
    }
    e->run_ns += clock_ns() - t0;
    e->cpu_ns += thread_cpu_ns() - cpu0;
    return 0;
}

static int interp_get_state(struct machine *m, struct cpu_state *s)
{
    interp_cpu_get_state(&eng(m)->cpu, s);
    return 0;
}

static int interp_set_state(struct machine *m, const struct cpu_state *s)
{
    return interp_cpu_set_state(&eng(m)->cpu, s, "interp");
}

static int interp_get_vcpu_state(struct machine *m, struct vcpu_state *s)
{
    interp_cpu_get_vcpu(&eng(m)->cpu, s);
    return 0;
}

static int interp_set_vcpu_state(struct machine *m, const struct vcpu_state *s)
{
    return interp_cpu_set_vcpu(&eng(m)->cpu, s, "interp");
}

static int interp_set_guest_debug(struct machine *m,
                                  const struct guest_debug *d)
{
    return interp_cpu_set_debug(&eng(m)->cpu, d);
}

static void interp_code_written(struct machine *m, uint64_t gpa,
                                uint64_t len)
{
    struct interp_cpu *c = &eng(m)->cpu;
    if (!c->dcache || !len)
        return;
    for (uint64_t a = gpa & ~0xfffull; a < gpa + len && a < (1ull << 32);
         a += 4096)
        if (dcache_page_has_code(c->dcache, (uint32_t)a))
            dcache_invalidate_page(c->dcache, (uint32_t)a);
}

static bool interp_irq_window_open(struct machine *m)
{
    return interp_cpu_irq_window_open(&eng(m)->cpu);
}

static void interp_inject_irq(struct machine *m, uint8_t vector)
{
    interp_cpu_inject_irq(&eng(m)->cpu, vector);
}

static void interp_inject_nmi(struct machine *m)
{
    interp_cpu_inject_nmi(&eng(m)->cpu);
}

static void interp_kick(struct machine *m)
{
    atomic_store(&eng(m)->kicked, true);
}

static void interp_write_stats(struct machine *m, struct json *j)
{
    struct interp_engine *e = eng(m);
    const struct interp_cpu *c = &e->cpu;
    json_u64(j, "instructions", c->icount);
    double s = (double)e->run_ns / 1e9;
    json_f64(j, "run_seconds", s);
    json_f64(j, "mips", s > 0 ? (double)c->icount / s / 1e6 : 0.0);
    double cs = (double)e->cpu_ns / 1e9;
    json_f64(j, "cpu_seconds", cs);
    json_f64(j, "mips_cpu", cs > 0 ? (double)c->icount / cs / 1e6 : 0.0);
    json_u64(j, "interrupts_delivered", c->irqs_delivered);
    json_u64(j, "tlb_flushes", c->tlb_flushes);
    json_obj_begin(j, "exceptions");
    for (int v = 0; v < 32; v++) {
        if (!c->exc_count[v])
            continue;
        char k[8];
        snprintf(k, sizeof(k), "%d", v);
        json_u64(j, k, c->exc_count[v]);
    }
    json_obj_end(j);
    if (c->dcache) {
        json_u64(j, "decode_cache_misses", c->dcache->misses);
        json_u64(j, "decode_cache_invalidations", c->dcache->invalidations);
    }
}

static void interp_destroy(struct machine *m)
{
    struct interp_engine *e = eng(m);
    if (e->prof) {
        prof_report(e);
        free(e->prof);
    }
    interp_cpu_free(&e->cpu);
    free(e);
    m->engine = NULL;
}

const struct engine_ops engine_interp_ops = {
    .name = "interp",
    .description = "IA-32 interpreter (the reference for fidelity)",
    .caps = 0,
    .usable = interp_usable,
    .create = interp_create,
    .map_ram = interp_map_ram,
    .vcpu_create = interp_vcpu_create,
    .run = interp_run,
    .get_state = interp_get_state,
    .set_state = interp_set_state,
    .irq_window_open = interp_irq_window_open,
    .inject_irq = interp_inject_irq,
    .inject_nmi = interp_inject_nmi,
    .kick = interp_kick,
    .get_vcpu_state = interp_get_vcpu_state,
    .set_vcpu_state = interp_set_vcpu_state,
    .set_guest_debug = interp_set_guest_debug,
    .code_written = interp_code_written,
    .write_stats = interp_write_stats,
    .destroy = interp_destroy,
};
