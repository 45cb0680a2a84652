/* exceptions.c - raising faults (longjmp back to interp_step, see cpu.c)
 * and delivering events through the guest IDT: interrupt and trap gates,
 * same privilege or to an inner ring through the TSS stack (SS0:ESP0 ...),
 * task gates (task.c), real-mode IVT delivery, a paravirtual guest's trap
 * table in place of the IDT (src/pv), #UD logging of
 * unimplemented instructions.
 * Double/triple-fault escalation happens in interp_step. */
#include <stdarg.h>
#include <stdio.h>

#include "../../core/disasm.h"
#include "../../core/log.h"
#include "../../core/util.h"
#include "../../pv/pv.h"
#include "sys.h"

_Noreturn void cpu_fault_err(struct interp_cpu *c, int vector, uint32_t err)
{
    c->fault_vector = vector;
    c->fault_err = err;
    c->fault_has_err = true;
    longjmp(c->fault_jmp, 1);
}

_Noreturn void cpu_fault(struct interp_cpu *c, int vector)
{
    c->fault_vector = vector;
    c->fault_err = 0;
    c->fault_has_err = false;
    longjmp(c->fault_jmp, 1);
}

/* One bit per log key (opcodes, then the LOG_* keys): each message once
 * per process. */
static uint8_t logged[(LOG_NKEYS + 7) / 8];

void log_once(struct interp_cpu *c, unsigned key, const char *fmt, ...)
{
    (void)c;
    if (key < LOG_NKEYS) {
        if (logged[key / 8] & (1u << (key % 8)))
            return;
        logged[key / 8] |= (uint8_t)(1u << (key % 8));
    }
    char buf[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    plog(PLOG_UNIMP, "%s", buf);
}

_Noreturn void cpu_undefined(struct interp_cpu *c, const struct insn *i)
{
    unsigned key = (i && i->len && i->op < OP_COUNT) ? i->op : LOG_BAD_INSN;
    if (!(logged[key / 8] & (1u << (key % 8)))) {
        uint8_t b[X86_MAX_INSN];
        int n = 0;
        const struct seg_reg *cs = &c->seg[SEG_CS];
        while (n < X86_MAX_INSN) {
            uint32_t pa;
            uint32_t lin = (uint32_t)cs->base + c->insn_eip + (uint32_t)n;
            if (!mmu_probe(c, lin, &pa))
                break;
            b[n++] = (uint8_t)phys_read(c, pa, 1);
        }
        char hex[3 * X86_MAX_INSN + 1] = "";
        for (int k = 0; k < n && k < (i && i->len ? i->len : 8); k++)
            snprintf(hex + 3 * k, 4, "%02x ", b[k]);
        char dis[128] = "?";
        if (n > 0) {
            if (cs->db)
                disasm32(b, (size_t)n, c->insn_eip, dis, sizeof(dis));
            else
                disasm16(b, (size_t)n, c->insn_eip, dis, sizeof(dis));
        }
        log_once(c, key,
                 "#UD at %04x:%08x: %s(%s) not implemented, reported once",
                 cs->sel, c->insn_eip, hex, dis);
    }
    cpu_fault(c, EXC_UD);
}

/* ---- delivery ---- */

static void deliver_real(struct interp_cpu *c, int vector, uint32_t ret_eip)
{
    uint32_t ent = (uint32_t)vector * 4;
    if (ent + 3 > c->idt.limit)
        cpu_fault_err(c, EXC_GP, (uint32_t)vector * 8 + 2);
    uint32_t ivt = lin_read(c, (uint32_t)c->idt.base + ent, 4, false);
    cpu_push(c, c->eflags & 0xffff, 2);
    cpu_push(c, c->seg[SEG_CS].sel, 2);
    cpu_push(c, ret_eip & 0xffff, 2);
    seg_load_real(c, SEG_CS, (uint16_t)(ivt >> 16));
    c->eip = ivt & 0xffff;
    c->eflags &= ~(FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF);
}

/* Write the frame words (the first is pushed first) below sp in the stack
 * segment described by ss (base, limit, B) and return the new sp. */
static uint32_t push_frame(struct interp_cpu *c, const struct seg_reg *ss,
                           uint32_t sp, const uint32_t *w, int n, int size,
                           uint32_t fault_err, int user)
{
    uint32_t mask = ss->db ? 0xffffffffu : 0xffffu;
    uint32_t len = (uint32_t)(n * size);
    uint32_t lo = (sp - len) & mask;
    /* Limit check of [lo, lo+len) in the new stack segment. */
    bool down = (ss->type & 0x4) != 0;
    uint32_t upper = ss->db ? 0xffffffffu : 0xffffu;
    bool bad = down ? (lo <= ss->limit || len - 1 > upper - lo)
                    : (lo > ss->limit || len - 1 > ss->limit - lo);
    if (bad)
        cpu_fault_err(c, EXC_SS, fault_err);
    uint32_t base = (uint32_t)ss->base;
    /* The first word pushed is the highest: a fault there reports its
     * address in CR2, as hardware pushing word by word does. */
    mmu_translate(c, base + ((sp - (uint32_t)size) & mask), ACC_WRITE, user);
    lin_check_write(c, base + lo, len, user);
    uint32_t p = (sp - len) & mask;
    for (int k = n - 1; k >= 0; k--) {
        lin_write(c, base + (p & mask), size, w[k], user);
        p += (uint32_t)size;
    }
    return lo;
}

void cpu_deliver(struct interp_cpu *c, int vector, enum event_kind kind,
                 bool has_err, uint32_t err, uint32_t ret_eip)
{
    c->intr_shadow = false;
    if (!(c->cr0 & CR0_PE)) {
        deliver_real(c, vector, ret_eip);
        return;
    }
    uint32_t ext = kind == EV_SOFT_INT ? 0 : 1;
    uint32_t idt_err = (uint32_t)vector * 8 + 2 + ext;
    /* A paravirtual guest's trap table (src/pv) stands in for its IDT:
     * the entry acts as a 32-bit trap gate (the real IF stays set; the
     * entry may mask events instead), the frame's IF is the virtual IF, and
     * the stack for traps from ring 3 is the one STACK_SWITCH gave. */
    struct pv_trap pt;
    bool pv = c->m && c->m->pv_event_ready && !(c->eflags & FLAG_VM) &&
              pv_trap(c->m, vector, kind == EV_EXTERNAL, &pt);
    struct desc g;
    if (pv) {
        g.lo = (uint32_t)pt.cs << 16 | (pt.eip & 0xffff);
        g.hi = (pt.eip & 0xffff0000u) | 0x8f00u |
               (uint32_t)(pt.flags & PV_TRAP_DPL) << 13;
    } else {
        if ((uint32_t)vector * 8 + 7 > c->idt.limit)
            cpu_fault_err(c, EXC_GP, idt_err);
        uint32_t ga = (uint32_t)c->idt.base + (uint32_t)vector * 8;
        g = (struct desc){lin_read(c, ga, 4, false),
                          lin_read(c, ga + 4, 4, false)};
    }
    unsigned type = desc_type(g);
    if (desc_s(g) || !(type == 5 || (type & 7) == 6 || (type & 7) == 7))
        cpu_fault_err(c, EXC_GP, idt_err);
    if (kind == EV_SOFT_INT && desc_dpl(g) < c->cpl)
        cpu_fault_err(c, EXC_GP, idt_err);
    if (!desc_p(g))
        cpu_fault_err(c, EXC_NP, idt_err);
    if (type == 5) {
        /* A task gate: switch tasks, then push the error code (if any) on
         * the new task's stack, sized by the new TSS (32-bit only). */
        task_gate(c, g, TS_INT, ext, ret_eip);
        if (has_err)
            cpu_push(c, err, 4);
        return;
    }
    bool gate32 = type & 8;
    int sz = gate32 ? 4 : 2;
    uint16_t sel = (uint16_t)(g.lo >> 16);
    uint32_t off = (g.lo & 0xffff) | (gate32 ? (g.hi & 0xffff0000u) : 0);
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, ext);
    struct desc cd;
    uint32_t sel_err = (sel & 0xfffcu) + ext;
    if (!desc_read(c, sel, &cd) || !desc_is_code(cd) ||
        desc_dpl(cd) > c->cpl)
        cpu_fault_err(c, EXC_GP, sel_err);
    if (!desc_p(cd))
        cpu_fault_err(c, EXC_NP, sel_err);
    if (c->eflags & FLAG_VM) {
        log_once(c, LOG_VM86, "interrupt from virtual-8086 mode: not "
                 "implemented: #UD");
        cpu_fault(c, EXC_UD);
    }
    bool conforming = desc_type(cd) & 4;
    int new_cpl = conforming ? c->cpl : (int)desc_dpl(cd);
    if (off > desc_limit(cd))
        cpu_fault_err(c, EXC_GP, ext);

    uint32_t w[6];
    int n = 0;
    uint32_t old_flags = c->eflags;
    if (pv)
        old_flags = (old_flags & ~FLAG_IF) | (pv_vif(c->m) ? FLAG_IF : 0);
    uint16_t new_cs = (uint16_t)((sel & 0xfffc) | (unsigned)new_cpl);
    if (new_cpl < c->cpl) {
        /* Inner privilege: the stack comes from the TSS. */
        uint32_t nesp;
        uint16_t nss;
        if (!pv || !pv_stack(c->m, &nss, &nesp)) {
            const struct seg_reg *tr = &c->seg[SEG_TR];
            bool tss32 = tr->type & 8;
            uint32_t at = tss32 ? 4 + 8 * (uint32_t)new_cpl
                                : 2 + 4 * (uint32_t)new_cpl;
            uint32_t need = tss32 ? at + 5 : at + 3;
            if (tr->unusable || need > tr->limit)
                cpu_fault_err(c, EXC_TS, (tr->sel & 0xfffcu) + ext);
            uint32_t tb = (uint32_t)tr->base;
            nesp = tss32 ? lin_read(c, tb + at, 4, false)
                         : lin_read(c, tb + at, 2, false);
            nss = (uint16_t)lin_read(c, tb + at + (uint32_t)(tss32 ? 4 : 2),
                                     2, false);
        }
        struct desc sd;
        seg_check_ss(c, nss, new_cpl, true, ext, &sd);
        struct seg_reg ss;
        seg_from_desc(&ss, nss, sd);
        w[n++] = c->seg[SEG_SS].sel;
        w[n++] = c->r[R_ESP];
        w[n++] = old_flags;
        w[n++] = c->seg[SEG_CS].sel;
        w[n++] = ret_eip;
        if (has_err)
            w[n++] = err;
        uint32_t sp = push_frame(c, &ss, nesp, w, n, sz,
                                 (nss & 0xfffcu) + ext, false);
        desc_set_accessed(c, nss, &sd);
        desc_set_accessed(c, sel, &cd);
        /* Commit. */
        seg_from_desc(&c->seg[SEG_SS], nss, sd);
        c->r[R_ESP] = ss.db ? sp : ((nesp & 0xffff0000u) | sp);
        seg_load_cs(c, new_cs, cd, new_cpl);
    } else {
        w[n++] = old_flags;
        w[n++] = c->seg[SEG_CS].sel;
        w[n++] = ret_eip;
        if (has_err)
            w[n++] = err;
        const struct seg_reg *ss = &c->seg[SEG_SS];
        uint32_t sp = push_frame(c, ss, c->r[R_ESP], w, n, sz, ext,
                                 cpu_user(c));
        desc_set_accessed(c, sel, &cd);
        uint32_t m = stack_mask(c);
        c->r[R_ESP] = (c->r[R_ESP] & ~m) | sp;
        seg_load_cs(c, new_cs, cd, new_cpl);
    }
    c->eip = gate32 ? off : (off & 0xffff);
    c->eflags &= ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
    if (!(type & 1))
        c->eflags &= ~FLAG_IF;
    if (pv) {
        if (pt.flags & PV_TRAP_MASK)
            pv_set_vif(c->m, false);
        if (vector == EXC_PF && kind == EV_EXCEPTION)
            pv_set_cr2(c->m, c->cr2);
    }
}

void cpu_soft_int(struct interp_cpu *c, int vector, enum event_kind kind)
{
    if (vector < 32)
        c->exc_count[vector]++;
    cpu_deliver(c, vector, kind, false, 0, c->eip);
}
