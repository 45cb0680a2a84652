/* seg.c - protected-mode segmentation for the interpreter: descriptor reads
 * from the GDT/LDT, segment register loads with all their checks (null
 * selectors, type, CPL/DPL/RPL, presence: #GP/#SS/#NP with the selector as
 * error code), far jmp/call (code segments and call gates, including calls
 * to an inner ring), far return and iret (same privilege and to an outer
 * ring; task switches through TSSs and task gates are in task.c), and
 * the lar/lsl/verr/verw queries.  Real mode loads set
 * base = selector << 4.  Every check and stack access happens before the
 * first register is changed, so faults restart cleanly. */
#include "sys.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffcu))

bool desc_read(struct interp_cpu *c, uint16_t sel, struct desc *d)
{
    uint32_t base, limit;
    if (sel & 4) {
        const struct seg_reg *l = &c->seg[SEG_LDTR];
        if (l->unusable || !l->present)
            return false;
        base = (uint32_t)l->base;
        limit = l->limit;
    } else {
        base = (uint32_t)c->gdt.base;
        limit = c->gdt.limit;
    }
    uint32_t idx = sel & 0xfff8u;
    if (idx + 7 > limit)
        return false;
    d->lo = lin_read(c, base + idx, 4, false);
    d->hi = lin_read(c, base + idx + 4, 4, false);
    return true;
}

void desc_set_accessed(struct interp_cpu *c, uint16_t sel, struct desc *d)
{
    if (!desc_s(*d) || (d->hi & 0x100))
        return;
    d->hi |= 0x100;
    uint32_t base = (sel & 4) ? (uint32_t)c->seg[SEG_LDTR].base
                              : (uint32_t)c->gdt.base;
    lin_write(c, base + (sel & 0xfff8u) + 4, 4, d->hi, false);
}

void seg_load_real(struct interp_cpu *c, int seg, uint16_t sel)
{
    struct seg_reg *s = &c->seg[seg];
    s->sel = sel;
    s->base = (uint32_t)sel << 4;
    s->present = 1;
    s->s = 1;
    s->unusable = false;
    if (c->eflags & FLAG_VM) {
        s->limit = 0xffff;
        s->db = 0;
        s->dpl = 3;
        s->type = seg == SEG_CS ? 0xb : 0x3;
    }
}

void seg_load_cs(struct interp_cpu *c, uint16_t sel, struct desc d, int cpl)
{
    seg_from_desc(&c->seg[SEG_CS], sel, d);
    c->cpl = (uint8_t)cpl;
}

void seg_check_ss(struct interp_cpu *c, uint16_t sel, int cpl, bool ts,
                  uint32_t ext, struct desc *out)
{
    int vec = ts ? EXC_TS : EXC_GP;
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, vec, ext);
    uint32_t err = SEL_ERR(sel) + ext;
    if (!desc_read(c, sel, out))
        cpu_fault_err(c, vec, err);
    struct desc d = *out;
    bool writable_data = desc_s(d) && !(desc_type(d) & 8) &&
                         (desc_type(d) & 2);
    if ((sel & 3) != (unsigned)cpl || desc_dpl(d) != (unsigned)cpl ||
        !writable_data)
        cpu_fault_err(c, vec, err);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_SS, err);
}

void cpu_load_seg(struct interp_cpu *c, int seg, uint16_t sel)
{
    if (!(c->cr0 & CR0_PE) || (c->eflags & FLAG_VM)) {
        seg_load_real(c, seg, sel);
        return;
    }
    struct desc d;
    if (seg == SEG_SS) {
        seg_check_ss(c, sel, c->cpl, false, 0, &d);
        desc_set_accessed(c, sel, &d);
        seg_from_desc(&c->seg[SEG_SS], sel, d);
        return;
    }
    if (seg == SEG_CS || seg >= SEG_LDTR)
        cpu_fault(c, EXC_UD);
    seg_load_data(c, seg, sel, EXC_GP);
}

void seg_load_data(struct interp_cpu *c, int seg, uint16_t sel, int vec)
{
    struct seg_reg *s = &c->seg[seg];
    if ((sel & 0xfffc) == 0) {
        s->sel = sel;
        s->base = 0;
        s->limit = 0;
        s->present = 0;
        s->unusable = true;
        return;
    }
    uint32_t err = SEL_ERR(sel);
    struct desc d;
    if (!desc_read(c, sel, &d))
        cpu_fault_err(c, vec, err);
    bool code = desc_is_code(d);
    if (!desc_s(d) || (code && !(desc_type(d) & 2)))
        cpu_fault_err(c, vec, err);
    bool conforming_code = code && (desc_type(d) & 4);
    if (!conforming_code &&
        ((sel & 3u) > desc_dpl(d) || c->cpl > desc_dpl(d)))
        cpu_fault_err(c, vec, err);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_NP, err);
    desc_set_accessed(c, sel, &d);
    seg_from_desc(s, sel, d);
}

void seg_load_ldt(struct interp_cpu *c, uint16_t sel, int vec, uint32_t err,
                  int np_vec)
{
    struct seg_reg *l = &c->seg[SEG_LDTR];
    if ((sel & 0xfffc) == 0) {
        l->sel = sel;
        l->unusable = true;
        l->present = 0;
        return;
    }
    struct desc d;
    if ((sel & 4) || !desc_read(c, sel, &d) || desc_s(d) || desc_type(d) != 2)
        cpu_fault_err(c, vec, err);
    if (!desc_p(d))
        cpu_fault_err(c, np_vec, err);
    seg_from_desc(l, sel, d);
}

void seg_null_outer(struct interp_cpu *c)
{
    static const int segs[] = {SEG_ES, SEG_DS, SEG_FS, SEG_GS};
    for (unsigned k = 0; k < 4; k++) {
        struct seg_reg *s = &c->seg[segs[k]];
        if (s->unusable)
            continue;
        bool conforming_code = (s->type & 0xc) == 0xc;
        if (!conforming_code && s->dpl < c->cpl) {
            s->sel = 0;
            s->unusable = true;
            s->present = 0;
        }
    }
}

/* How a code segment is reached by a jmp/call. */
enum target_kind { TGT_DIRECT, TGT_GATE_JMP, TGT_GATE_CALL };

/* Check a code segment as the target of a far jmp/call.  Directly: a
 * conforming segment needs DPL <= CPL, a non-conforming one RPL <= CPL and
 * DPL == CPL.  Through a call gate the target's RPL is ignored; a jmp
 * still needs DPL == CPL (non-conforming), a call allows DPL < CPL (a call
 * to an inner ring). */
static void check_code_target(struct interp_cpu *c, uint16_t sel,
                              struct desc *d, enum target_kind kind)
{
    uint32_t err = SEL_ERR(sel);
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    if (!desc_read(c, sel, d) || !desc_is_code(*d))
        cpu_fault_err(c, EXC_GP, err);
    unsigned dpl = desc_dpl(*d);
    bool bad;
    if (desc_type(*d) & 4)
        bad = dpl > c->cpl;
    else if (kind == TGT_GATE_CALL)
        bad = dpl > c->cpl;
    else if (kind == TGT_GATE_JMP)
        bad = dpl != c->cpl;
    else
        bad = (sel & 3u) > c->cpl || dpl != c->cpl;
    if (bad)
        cpu_fault_err(c, EXC_GP, err);
    if (!desc_p(*d))
        cpu_fault_err(c, EXC_NP, err);
}

/* Read a call gate (type 4 or 12) named by sel; d is its descriptor. */
static void check_call_gate(struct interp_cpu *c, uint16_t sel, struct desc d)
{
    uint32_t err = SEL_ERR(sel);
    if (desc_dpl(d) < c->cpl || desc_dpl(d) < (sel & 3u))
        cpu_fault_err(c, EXC_GP, err);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_NP, err);
}

static struct desc far_target(struct interp_cpu *c, uint16_t sel)
{
    struct desc d;
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    if (!desc_read(c, sel, &d))
        cpu_fault_err(c, EXC_GP, SEL_ERR(sel));
    if (!desc_s(d)) {
        unsigned t = desc_type(d);
        if (t != 4 && t != 12 && t != 1 && t != 9 && t != 5)
            cpu_fault_err(c, EXC_GP, SEL_ERR(sel));
    }
    return d;
}

/* jmp/call far to a TSS descriptor (types 1, 9) or a task gate (5):
 * returns false if d is neither. */
static bool far_task(struct interp_cpu *c, uint16_t sel, struct desc d,
                     enum task_source src)
{
    unsigned t = desc_type(d);
    if (desc_s(d) || (t != 1 && t != 9 && t != 5))
        return false;
    uint32_t err = SEL_ERR(sel);
    if (desc_dpl(d) < c->cpl || desc_dpl(d) < (sel & 3u))
        cpu_fault_err(c, EXC_GP, err);
    if (t == 5) {
        if (!desc_p(d))
            cpu_fault_err(c, EXC_NP, err);
        task_gate(c, d, src, 0, c->eip);
    } else {
        task_switch(c, sel, d, src, 0, c->eip);
    }
    return true;
}

void cpu_far_jump(struct interp_cpu *c, uint16_t sel, uint32_t off, int opsize)
{
    if (opsize == 2)
        off &= 0xffff;
    if (!(c->cr0 & CR0_PE) || (c->eflags & FLAG_VM)) {
        seg_load_real(c, SEG_CS, sel);
        c->eip = off;
        return;
    }
    struct desc d = far_target(c, sel), cd;
    if (far_task(c, sel, d, TS_JMP))
        return;
    uint16_t csel = sel;
    if (!desc_s(d)) {
        check_call_gate(c, sel, d);
        csel = (uint16_t)(d.lo >> 16);
        off = (d.lo & 0xffff) |
              (desc_type(d) == 12 ? (d.hi & 0xffff0000u) : 0);
        check_code_target(c, csel, &cd, TGT_GATE_JMP);
    } else {
        check_code_target(c, csel, &cd, TGT_DIRECT);
    }
    if (off > desc_limit(cd))
        cpu_fault_err(c, EXC_GP, 0);
    desc_set_accessed(c, csel, &cd);
    seg_load_cs(c, (uint16_t)((csel & 0xfffc) | c->cpl), cd, c->cpl);
    c->eip = off;
}

/* A call through a gate to a more privileged non-conforming segment: new
 * stack from the TSS, parameters copied from the old stack. */
static void call_inner(struct interp_cpu *c, struct desc gate, uint16_t csel,
                       struct desc cd, uint32_t off)
{
    int new_cpl = (int)desc_dpl(cd);
    bool g32 = desc_type(gate) == 12;
    int sz = g32 ? 4 : 2;
    const struct seg_reg *tr = &c->seg[SEG_TR];
    bool tss32 = tr->type & 8;
    uint32_t at = tss32 ? 4 + 8 * (uint32_t)new_cpl : 2 + 4 * (uint32_t)new_cpl;
    if (tr->unusable || (tss32 ? at + 5 : at + 3) > tr->limit)
        cpu_fault_err(c, EXC_TS, SEL_ERR(tr->sel));
    uint32_t tb = (uint32_t)tr->base;
    uint32_t nesp = lin_read(c, tb + at, tss32 ? 4 : 2, false);
    uint16_t nss = (uint16_t)lin_read(c, tb + at + (tss32 ? 4u : 2u), 2, false);
    struct desc sd;
    seg_check_ss(c, nss, new_cpl, true, 0, &sd);
    struct seg_reg ss;
    seg_from_desc(&ss, nss, sd);
    unsigned nparams = gate.hi & 0x1f;
    uint32_t params[32];
    for (unsigned k = 0; k < nparams; k++)
        params[k] = cpu_stack_peek(c, k * (uint32_t)sz, sz);
    if (off > desc_limit(cd))
        cpu_fault_err(c, EXC_GP, 0);
    /* Write the new frame: old SS, old ESP, params, old CS, old EIP. */
    uint32_t mask = ss.db ? 0xffffffffu : 0xffffu;
    uint32_t len = (4 + nparams) * (uint32_t)sz;
    uint32_t lo = (nesp - len) & mask;
    if (lo > ss.limit || len - 1 > ss.limit - lo)
        cpu_fault_err(c, EXC_SS, SEL_ERR(nss));
    uint32_t base = (uint32_t)ss.base;
    lin_check_write(c, base + lo, len, false);
    uint32_t p = lo;
    uint32_t words[36];
    unsigned n = 0;
    words[n++] = c->eip;
    words[n++] = c->seg[SEG_CS].sel;
    for (unsigned k = 0; k < nparams; k++)
        words[n++] = params[k];
    words[n++] = c->r[R_ESP];
    words[n++] = c->seg[SEG_SS].sel;
    for (unsigned k = 0; k < n; k++) {
        lin_write(c, base + (p & mask), sz, words[k], false);
        p += (uint32_t)sz;
    }
    desc_set_accessed(c, nss, &sd);
    desc_set_accessed(c, csel, &cd);
    seg_from_desc(&c->seg[SEG_SS], nss, sd);
    c->r[R_ESP] = ss.db ? lo : ((nesp & 0xffff0000u) | lo);
    seg_load_cs(c, (uint16_t)((csel & 0xfffc) | (unsigned)new_cpl), cd,
                new_cpl);
    c->eip = off;
}

void cpu_far_call(struct interp_cpu *c, uint16_t sel, uint32_t off, int opsize)
{
    if (opsize == 2)
        off &= 0xffff;
    if (!(c->cr0 & CR0_PE) || (c->eflags & FLAG_VM)) {
        cpu_push(c, c->seg[SEG_CS].sel, opsize);
        cpu_push(c, c->eip, opsize);
        seg_load_real(c, SEG_CS, sel);
        c->eip = off;
        return;
    }
    struct desc d = far_target(c, sel), cd;
    if (far_task(c, sel, d, TS_CALL))
        return;
    uint16_t csel = sel;
    int sz = opsize;
    if (!desc_s(d)) {
        check_call_gate(c, sel, d);
        csel = (uint16_t)(d.lo >> 16);
        off = (d.lo & 0xffff) |
              (desc_type(d) == 12 ? (d.hi & 0xffff0000u) : 0);
        sz = desc_type(d) == 12 ? 4 : 2;
        check_code_target(c, csel, &cd, TGT_GATE_CALL);
        if (!(desc_type(cd) & 4) && desc_dpl(cd) < c->cpl) {
            call_inner(c, d, csel, cd, off);
            return;
        }
    } else {
        check_code_target(c, csel, &cd, TGT_DIRECT);
    }
    /* Same privilege: push the return address, then transfer. */
    cpu_push(c, c->seg[SEG_CS].sel, sz);
    cpu_push(c, c->eip, sz);
    if (off > desc_limit(cd))
        cpu_fault_err(c, EXC_GP, 0);
    desc_set_accessed(c, csel, &cd);
    seg_load_cs(c, (uint16_t)((csel & 0xfffc) | c->cpl), cd, c->cpl);
    c->eip = off;
}

/* Checks of the CS popped by retf/iret (privilege rpl >= CPL). */
static void check_return_cs(struct interp_cpu *c, uint16_t sel, struct desc *d)
{
    uint32_t err = SEL_ERR(sel);
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    if (!desc_read(c, sel, d) || !desc_is_code(*d) || (sel & 3u) < c->cpl)
        cpu_fault_err(c, EXC_GP, err);
    unsigned dpl = desc_dpl(*d);
    if ((desc_type(*d) & 4) ? dpl > (sel & 3u) : dpl != (sel & 3u))
        cpu_fault_err(c, EXC_GP, err);
    if (!desc_p(*d))
        cpu_fault_err(c, EXC_NP, err);
}

/* The common tail of retf/iret: frame words already read.  extra: bytes
 * of parameters to release (retf imm16). */
static void return_to(struct interp_cpu *c, uint16_t csel, uint32_t eip,
                      int sz, uint32_t frame, uint16_t extra,
                      uint32_t flags, uint32_t flags_mask)
{
    struct desc cd;
    check_return_cs(c, csel, &cd);
    int rpl = csel & 3;
    if (sz == 2)
        eip &= 0xffff;
    if (rpl > c->cpl) {
        uint32_t nesp = cpu_stack_peek(c, frame + extra, sz);
        uint16_t nss = (uint16_t)cpu_stack_peek(c, frame + extra +
                                                 (uint32_t)sz, sz);
        struct desc sd;
        seg_check_ss(c, nss, rpl, false, 0, &sd);
        if (eip > desc_limit(cd))
            cpu_fault_err(c, EXC_GP, 0);
        desc_set_accessed(c, csel, &cd);
        desc_set_accessed(c, nss, &sd);
        if (flags_mask)
            cpu_set_eflags(c, flags, flags_mask);
        seg_load_cs(c, csel, cd, rpl);
        seg_from_desc(&c->seg[SEG_SS], nss, sd);
        uint32_t m = stack_mask(c);
        nesp += extra;
        c->r[R_ESP] = (c->r[R_ESP] & ~m) | (nesp & m);
        seg_null_outer(c);
    } else {
        if (eip > desc_limit(cd))
            cpu_fault_err(c, EXC_GP, 0);
        desc_set_accessed(c, csel, &cd);
        if (flags_mask)
            cpu_set_eflags(c, flags, flags_mask);
        seg_load_cs(c, csel, cd, c->cpl);
        cpu_stack_adjust(c, (int32_t)(frame + extra));
    }
    c->eip = eip;
}

void cpu_far_return(struct interp_cpu *c, int opsize, uint16_t pop_extra)
{
    int sz = opsize;
    uint32_t eip = cpu_stack_peek(c, 0, sz);
    uint16_t csel = (uint16_t)cpu_stack_peek(c, (uint32_t)sz, sz);
    if (!(c->cr0 & CR0_PE) || (c->eflags & FLAG_VM)) {
        cpu_stack_adjust(c, 2 * sz + pop_extra);
        seg_load_real(c, SEG_CS, csel);
        c->eip = sz == 2 ? eip & 0xffff : eip;
        return;
    }
    return_to(c, csel, eip, sz, 2 * (uint32_t)sz, pop_extra, 0, 0);
}

void cpu_iret(struct interp_cpu *c, int opsize)
{
    c->nmi_blocked = false; /* IRET ends NMI blocking */
    if ((c->cr0 & CR0_PE) && !(c->eflags & FLAG_VM) &&
        (c->eflags & FLAG_NT)) {
        task_return(c); /* no stack frame: back to the linked task */
        return;
    }
    int sz = opsize;
    uint32_t eip = cpu_stack_peek(c, 0, sz);
    uint16_t csel = (uint16_t)cpu_stack_peek(c, (uint32_t)sz, sz);
    uint32_t fl = cpu_stack_peek(c, 2 * (uint32_t)sz, sz);
    uint32_t mask = sz == 4 ? 0x003f7fd5u : 0x7fd5u;
    if (!(c->cr0 & CR0_PE)) {
        cpu_stack_adjust(c, 3 * sz);
        seg_load_real(c, SEG_CS, csel);
        c->eip = sz == 2 ? eip & 0xffff : eip;
        cpu_set_eflags(c, fl, mask & ~(FLAG_VIF | FLAG_VIP));
        return;
    }
    if (sz == 4 && (fl & FLAG_VM) && c->cpl == 0) {
        log_once(c, LOG_VM86, "iret to virtual-8086 mode: not implemented: "
                 "#UD");
        cpu_fault(c, EXC_UD);
    }
    /* VIF/VIP change only at CPL 0. */
    if (c->cpl != 0)
        mask &= ~(FLAG_VIF | FLAG_VIP);
    return_to(c, csel, eip, sz, 3 * (uint32_t)sz, 0, fl, mask);
}

bool seg_query(struct interp_cpu *c, uint16_t sel, int kind, struct desc *d)
{
    /* kind: 0 lar, 1 lsl, 2 verr, 3 verw */
    if ((sel & 0xfffc) == 0 || !desc_read(c, sel, d))
        return false;
    bool conforming_code = desc_is_code(*d) && (desc_type(*d) & 4);
    if (!desc_s(*d)) {
        if (kind >= 2)
            return false;
        static const uint16_t lar_ok = 0x1a3e; /* 1 2 3 4 5 9 B C */
        static const uint16_t lsl_ok = 0x0a0e; /* 1 2 3 9 B */
        if (!(((kind == 0) ? lar_ok : lsl_ok) >> desc_type(*d) & 1))
            return false;
    }
    if (!conforming_code &&
        (desc_dpl(*d) < c->cpl || desc_dpl(*d) < (sel & 3u)))
        return false;
    if (kind == 2 && desc_is_code(*d) && !(desc_type(*d) & 2))
        return false;
    if (kind == 3 && (desc_is_code(*d) || !(desc_type(*d) & 2)))
        return false;
    return true;
}
