/* cpu.c - the interpreter's core: CPU reset, the dispatch table (user-side
 * handlers from exec_user_init, then the system ones), instruction fetch
 * and decode (through the decoded-instruction cache when enabled), and
 * interp_step: one instruction or one pending external interrupt, with
 * fault unwinding (longjmp back here), restart at the faulting instruction,
 * and double/triple-fault escalation. */
#include <string.h>

#include "sys.h"

static exec_fn dispatch[OP_COUNT];
static bool dispatch_ready;

static void dispatch_init(void)
{
    if (dispatch_ready)
        return;
    exec_user_init(dispatch);
    exec_sys_init(dispatch);
    dispatch_ready = true;
}

void interp_cpu_init(struct interp_cpu *c, uint8_t *ram, uint32_t ram_size,
                     struct machine *m)
{
    struct decode_cache *dc = c->dcache;
    bool bt = c->bt_engine;
    struct interp_dbg *dbg = c->dbg;
    memset(c, 0, sizeof(*c));
    c->dcache = dc;
    c->bt_engine = bt;
    c->dbg = dbg;
    if (dc)
        dcache_flush(dc);
    dispatch_init();
    c->ram = ram;
    c->ram_size = ram_size;
    c->m = m;
    c->eflags = 2;
    c->cr0 = CR0_PE | CR0_ET | CR0_NE;
    seg_flat32(&c->seg[SEG_CS], 0x08, true);
    for (int s = SEG_ES; s <= SEG_GS; s++)
        if (s != SEG_CS)
            seg_flat32(&c->seg[s], 0x10, false);
    c->seg[SEG_LDTR].unusable = true;
    c->seg[SEG_TR].type = 0xb;
    c->seg[SEG_TR].limit = 0xffff;
    c->seg[SEG_TR].present = 1;
    c->gdt.limit = 0xffff;
    c->idt.limit = 0xffff;
    c->dr[6] = 0xffff0ff0u;
    c->dr[7] = 0x400;
    c->pending_vector = -1;
    c->nmi_pending = c->nmi_blocked = false;
    c->delivering = -1;
    c->tsc_offset = 0;
    cpu_msr_reset(c);
    fpu_reset(c);
}

/* Fetch bytes of the current instruction that lie past the first page (or
 * in MMIO) one at a time; returns how many were readable under the CS
 * limit, faulting only when decode needs a byte it cannot have. */
static int fetch_slow(struct interp_cpu *c, uint8_t *b, bool *limited)
{
    const struct seg_reg *cs = &c->seg[SEG_CS];
    uint32_t room = cs->limit - c->eip; /* bytes after the first */
    int n = room >= X86_MAX_INSN - 1 ? X86_MAX_INSN : (int)room + 1;
    *limited = n < X86_MAX_INSN;
    uint32_t lin0 = (uint32_t)cs->base + c->eip;
    int user = cpu_user(c);
    uint32_t pa = 0;
    for (int k = 0; k < n; k++) {
        uint32_t lin = lin0 + (uint32_t)k;
        if (k == 0 || (lin & 0xfff) == 0)
            pa = mmu_translate(c, lin, ACC_FETCH, user);
        else
            pa++;
        b[k] = (uint8_t)phys_read(c, pa, 1);
    }
    return n;
}

static const struct insn *fetch_decode(struct interp_cpu *c,
                                       struct insn *buf)
{
    const struct seg_reg *cs = &c->seg[SEG_CS];
    uint32_t eip = c->eip;
    if (eip > cs->limit)
        cpu_fault_err(c, EXC_GP, 0);
    bool code32 = cs->db;
    uint32_t lin = (uint32_t)cs->base + eip;
    const struct tlb_entry *t = &c->tlb[(lin >> 12) & (TLB_SIZE - 1)];
    uint32_t pa;
    if (t->vpage == ((lin & ~0xfffu) | 1) &&
        tlb_priv_ok(c, t->user_ok, cpu_user(c), CR4_SMEP))
        pa = t->ppage | (lin & 0xfff);
    else
        pa = mmu_translate(c, lin, ACC_FETCH, cpu_user(c));
    int avail = 4096 - (int)(lin & 0xfff);
    const struct insn *ip = buf;
    int n = DECODE_SHORT;
    if ((uint64_t)pa + (unsigned)avail <= c->ram_size &&
        cs->limit - eip >= X86_MAX_INSN - 1) {
        if (c->dcache)
            n = dcache_lookup(c, pa, c->ram + pa, avail, code32, &ip);
        else
            n = x86_decode(c->ram + pa, (size_t)avail, code32, buf);
    }
    if (n == DECODE_SHORT) {
        /* Crosses a page, ends near the CS limit, or runs from MMIO. */
        uint8_t b[X86_MAX_INSN];
        bool limited;
        int have = 0;
        /* Fetch just the first page's part first: the next page may be
         * unmapped and the instruction may not need it. */
        int first = avail < X86_MAX_INSN ? avail : X86_MAX_INSN;
        uint32_t room = cs->limit - eip;
        if ((uint32_t)first - 1 > room)
            first = (int)room + 1;
        for (int k = 0; k < first; k++)
            b[k] = (uint8_t)phys_read(c, pa + (uint32_t)k, 1);
        have = first;
        ip = buf;
        n = x86_decode(b, (size_t)have, code32, buf);
        if (n == DECODE_SHORT) {
            have = fetch_slow(c, b, &limited);
            n = x86_decode(b, (size_t)have, code32, buf);
            if (n == DECODE_SHORT) {
                if (limited)
                    cpu_fault_err(c, EXC_GP, 0);
                n = DECODE_INVALID;
            }
        }
    }
    if (n < 0) {
        /* Not an instruction: #UD, logged with its bytes. */
        memset(buf, 0, sizeof(*buf)); /* len 0: logged as undecodable */
        cpu_undefined(c, buf);
    }
    uint32_t next = eip + (uint32_t)n;
    c->eip = code32 ? next : (next & 0xffff);
    return ip;
}

#define MAX_NESTED_FAULTS 16

static bool contributory(int v)
{
    return v == EXC_DE || (v >= EXC_TS && v <= EXC_GP);
}

static bool has_error_code(int v)
{
    return v == EXC_DF || (v >= EXC_TS && v <= EXC_PF) || v == EXC_AC;
}

/* EFLAGS.TF was set when the instruction began: #DB (a trap: the pushed
 * EIP is the next instruction) with DR6.BS.  Not after int n/int3/into/
 * int1, which clear TF on their way into the handler. */
static void single_step_trap(struct interp_cpu *c, unsigned op)
{
    if (op == 0xcc || op == 0xcd || op == 0xce || op == 0xf1)
        return;
    c->dr[6] |= 0x4000;
    c->insn_eip = c->eip; /* a fault in delivery restarts after the insn */
    c->insn_esp = c->r[R_ESP];
    c->exc_count[EXC_DB]++;
    c->delivering = EXC_DB;
    cpu_deliver(c, EXC_DB, EV_EXCEPTION, false, 0, c->eip);
    c->delivering = -1;
}

/* The body of a step: a pending interrupt, or one instruction. */
static inline __attribute__((always_inline)) void
step_body(struct interp_cpu *c)
{
    c->insn_eip = c->eip;
    c->insn_esp = c->r[R_ESP];
    if (__builtin_expect(c->nmi_pending, 0) && !c->nmi_blocked) {
        /* NMI: whatever EFLAGS.IF, before a pending INTR; blocks further
         * NMIs until IRET (Intel SDM vol. 3 6.7.1). */
        c->nmi_pending = false;
        c->nmi_blocked = true;
        c->halted = false;
        c->irqs_delivered++;
        cpu_deliver(c, 2, EV_EXTERNAL, false, 0, c->eip);
        return;
    }
    if (c->pending_vector >= 0) {
        int v = c->pending_vector;
        c->pending_vector = -1;
        c->halted = false;
        c->irqs_delivered++;
        cpu_deliver(c, v, EV_EXTERNAL, false, 0, c->eip);
        return;
    }
    if (__builtin_expect(c->dbg != NULL, 0) && interp_dbg_stop_here(c))
        return; /* a debugger breakpoint: nothing executed */
    c->intr_shadow = false;
    bool tf = c->eflags & FLAG_TF;
    struct insn buf;
    const struct insn *i = fetch_decode(c, &buf);
    exec_fn f = dispatch[i->op];
    if (!f)
        cpu_undefined(c, i);
    f(c, i);
    c->icount++;
    if (tf)
        single_step_trap(c, i->op);
}

/* A fault unwound to the dispatch loop: undo the instruction and decide
 * what to deliver (the fault, #DF, or nothing on a triple fault: false).
 * Intel SDM vol. 3 table 6-5, with prev the exception being delivered:
 *   prev benign (or an interrupt): the new fault is delivered serially;
 *   prev contributory: a contributory fault -> #DF, a #PF -> serially;
 *   prev #PF: a contributory fault or a #PF -> #DF;
 *   prev #DF: any fault -> shutdown (a triple fault). */
static bool fault_escalate(struct interp_cpu *c)
{
    int vec = c->fault_vector;
    c->eip = c->insn_eip;
    c->r[R_ESP] = c->insn_esp;
    int prev = c->delivering;
    if (prev >= 0) {
        if (prev == EXC_DF) {
            c->delivering = -1;
            return false;
        }
        if ((contributory(prev) && contributory(vec)) ||
            (prev == EXC_PF && (contributory(vec) || vec == EXC_PF))) {
            c->fault_vector = EXC_DF;
            c->fault_err = 0;
        }
    }
    if (c->fault_vector < 32)
        c->exc_count[c->fault_vector]++;
    c->delivering = c->fault_vector;
    return true;
}

static void fault_deliver(struct interp_cpu *c)
{
    int vec = c->fault_vector;
    cpu_deliver(c, vec, EV_EXCEPTION, has_error_code(vec), c->fault_err,
                c->insn_eip);
    c->delivering = -1;
    c->halted = false;
}

/* Deliver the fault that just unwound (escalating to #DF or a triple
 * fault as deliveries fault).  Returns the vector delivered, or -2. */
static int deliver_unwound_fault(struct interp_cpu *c)
{
    /* Table 6-5 ends every chain within a few deliveries (a benign, a
     * contributory, a #PF, #DF, shutdown); a longer one can only come
     * from events the interpreter refuses with #UD (virtual-8086 mode):
     * end it as a shutdown rather than loop inside one instruction. */
    for (volatile int n = 0;; n++) {
        if (n == MAX_NESTED_FAULTS) {
            log_once(c, LOG_FAULT_LOOP, "%d nested faults while delivering "
                     "an exception (last: vector %d): shutdown",
                     (int)n, c->fault_vector);
            c->delivering = -1;
            return -2;
        }
        if (!fault_escalate(c))
            return -2;
        if (setjmp(c->fault_jmp) == 0) {
            fault_deliver(c);
            return c->fault_vector;
        }
    }
}

int interp_step(struct interp_cpu *c)
{
    c->delivering = -1;
    if (setjmp(c->fault_jmp) == 0) {
        step_body(c);
        return -1;
    }
    return deliver_unwound_fault(c);
}

bool interp_unwind_iret(struct interp_cpu *c, int opsize)
{
    c->delivering = -1;
    if (setjmp(c->fault_jmp) == 0) {
        cpu_iret(c, opsize);
        return true;
    }
    return false; /* the fault is not delivered */
}

int interp_run_batch(struct interp_cpu *c, uint32_t n)
{
    c->batch_left = n;
    c->delivering = -1;
    for (;;) {
        if (setjmp(c->fault_jmp) == 0) {
            while (c->batch_left) {
                c->batch_left--;
                step_body(c);
                if (c->halted || c->check_irq)
                    return -1;
            }
            return -1;
        }
        if (deliver_unwound_fault(c) == -2)
            return -2;
        if (c->halted || c->check_irq)
            return -1;
    }
}
