/* task.c - hardware task switching (Intel SDM vol. 3 ch. 7) for the
 * interpreter: far jmp/call to a TSS descriptor or a task gate, task gates
 * in the IDT (interrupts and exceptions, #DF included, as real kernels use
 * them), and iret with EFLAGS.NT (return to the back link).  32-bit TSSs
 * only (a 16-bit TSS is refused with #TS and logged once).
 * Order, as the SDM's SWITCH-TASKS: every check of the old and new TSS
 * and every read of the new task's state happens first (a fault there is
 * in the old task and restarts cleanly); then the old task's state is
 * saved, busy bits and the back link are updated, TR, CR3, the registers
 * and the selectors are loaded, and only then are the new task's segment
 * descriptors checked: a fault there (#TS/#NP/#SS with the selector) is
 * delivered in the new task's context, as on hardware. */
#include "sys.h"

#define SEL_ERR(sel) ((uint32_t)((sel) & 0xfffcu))
#define TSS32_MIN_LIMIT 0x67u

/* Offsets in a 32-bit TSS. */
enum {
    TSS_LINK = 0x00, TSS_CR3 = 0x1c, TSS_EIP = 0x20, TSS_EFLAGS = 0x24,
    TSS_EAX = 0x28, TSS_ES = 0x48, TSS_LDT = 0x60,
};

static void tss_busy(struct interp_cpu *c, uint16_t sel, bool busy)
{
    uint32_t at = (uint32_t)c->gdt.base + (sel & 0xfff8u) + 4;
    uint32_t hi = lin_read(c, at, 4, false);
    hi = busy ? hi | 0x200u : hi & ~0x200u;
    lin_write(c, at, 4, hi, false);
}

/* A data segment register (or SS) of the new task. */
static void load_data_ts(struct interp_cpu *c, int seg, uint16_t sel)
{
    struct seg_reg *s = &c->seg[seg];
    uint32_t err = SEL_ERR(sel);
    struct desc d;
    if (seg == SEG_SS) {
        if ((sel & 0xfffc) == 0)
            cpu_fault_err(c, EXC_TS, err);
        seg_check_ss(c, sel, c->cpl, true, 0, &d);
        desc_set_accessed(c, sel, &d);
        seg_from_desc(s, sel, d);
        return;
    }
    seg_load_data(c, seg, sel, EXC_TS);
}

static void load_cs_ts(struct interp_cpu *c, uint16_t sel)
{
    uint32_t err = SEL_ERR(sel);
    struct desc d;
    if ((sel & 0xfffc) == 0 || !desc_read(c, sel, &d) || !desc_is_code(d))
        cpu_fault_err(c, EXC_TS, err);
    unsigned dpl = desc_dpl(d), rpl = sel & 3u;
    if ((desc_type(d) & 4) ? dpl > rpl : dpl != rpl)
        cpu_fault_err(c, EXC_TS, err);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_NP, err);
    desc_set_accessed(c, sel, &d);
    seg_load_cs(c, sel, d, (int)rpl);
}

void task_switch(struct interp_cpu *c, uint16_t sel, struct desc nd,
                 enum task_source src, uint32_t ext, uint32_t ret_eip)
{
    uint32_t err = SEL_ERR(sel) + ext;
    bool nest = src == TS_CALL || src == TS_INT;
    unsigned t = desc_type(nd);
    /* The new TSS: in the GDT, a TSS, available (busy for iret). */
    if ((sel & 4) || desc_s(nd) || (t & 5) != 1) /* types 1 3 9 11 */
        cpu_fault_err(c, src == TS_IRET ? EXC_TS : EXC_GP, err);
    bool busy = t & 2;
    if (src == TS_IRET ? !busy : busy)
        cpu_fault_err(c, src == TS_IRET ? EXC_TS : EXC_GP, err);
    if (!desc_p(nd))
        cpu_fault_err(c, EXC_NP, err);
    if (!(t & 8)) {
        log_once(c, LOG_TASK_SWITCH, "task switch to a 16-bit TSS "
                 "(selector %#x): not implemented: #TS", sel);
        cpu_fault_err(c, EXC_TS, err);
    }
    if (desc_limit(nd) < TSS32_MIN_LIMIT)
        cpu_fault_err(c, EXC_TS, err);
    const struct seg_reg *tr = &c->seg[SEG_TR];
    if (tr->unusable || !(tr->type & 8) || tr->limit < TSS32_MIN_LIMIT) {
        log_once(c, LOG_TASK_SWITCH, "task switch from a missing or 16-bit "
                 "TSS (TR %#x): #TS", tr->sel);
        cpu_fault_err(c, EXC_TS, SEL_ERR(tr->sel) + ext);
    }

    /* Read the new task's state (with the old CR3). */
    uint32_t nb = desc_base(nd), ob = (uint32_t)tr->base;
    uint32_t st[18]; /* cr3, eip, eflags, 8 gprs, 6 sregs, ldt */
    st[0] = lin_read(c, nb + TSS_CR3, 4, false);
    st[1] = lin_read(c, nb + TSS_EIP, 4, false);
    st[2] = lin_read(c, nb + TSS_EFLAGS, 4, false);
    for (int r = 0; r < 8; r++)
        st[3 + r] = lin_read(c, nb + TSS_EAX + 4 * (uint32_t)r, 4, false);
    for (int s = 0; s < 6; s++)
        st[11 + s] = lin_read(c, nb + TSS_ES + 4 * (uint32_t)s, 2, false);
    st[17] = lin_read(c, nb + TSS_LDT, 2, false);
    /* Everything written below must be writable (no partial switch). */
    lin_check_write(c, ob + TSS_EIP, TSS_LDT - TSS_EIP, false);
    if (nest)
        lin_check_write(c, nb + TSS_LINK, 2, false);
    lin_check_write(c, (uint32_t)c->gdt.base + (sel & 0xfff8u) + 4, 4, false);
    if (src == TS_JMP || src == TS_IRET)
        lin_check_write(c, (uint32_t)c->gdt.base + (tr->sel & 0xfff8u) + 4,
                        4, false);

    /* Save the old task. */
    uint32_t oflags = c->eflags;
    if (src == TS_IRET)
        oflags &= ~FLAG_NT;
    lin_write(c, ob + TSS_EIP, 4, ret_eip, false);
    lin_write(c, ob + TSS_EFLAGS, 4, oflags, false);
    for (int r = 0; r < 8; r++)
        lin_write(c, ob + TSS_EAX + 4 * (uint32_t)r, 4, c->r[r], false);
    for (int s = 0; s < 6; s++)
        lin_write(c, ob + TSS_ES + 4 * (uint32_t)s, 2, c->seg[s].sel, false);
    uint16_t old_tr = tr->sel;
    if (src == TS_JMP || src == TS_IRET)
        tss_busy(c, old_tr, false);
    if (nest)
        lin_write(c, nb + TSS_LINK, 2, old_tr, false);
    if (src != TS_IRET) {
        tss_busy(c, sel, true);
        nd.hi |= 0x200u;
    }

    /* Load the new task: TR, CR3, registers, raw selectors. */
    seg_from_desc(&c->seg[SEG_TR], sel, nd);
    c->cr0 |= CR0_TS;
    if (c->cr0 & CR0_PG) {
        c->cr3 = st[0];
        tlb_flush_nonglobal(c);
    }
    uint32_t old_flags = c->eflags;
    c->eflags = ((st[2] | (nest ? FLAG_NT : 0)) & 0x003f7fd7u) | 2u;
    cpu_note_if(c, old_flags);
    c->check_irq = true;
    for (int r = 0; r < 8; r++)
        c->r[r] = st[3 + r];
    c->eip = st[1];
    for (int s = 0; s < 6; s++) {
        c->seg[s].sel = (uint16_t)st[11 + s];
        c->seg[s].unusable = true;
        c->seg[s].present = 0;
    }
    c->seg[SEG_LDTR].sel = (uint16_t)st[17];
    c->seg[SEG_LDTR].unusable = true;
    /* From here on a fault belongs to the new task. */
    c->insn_eip = c->eip;
    c->insn_esp = c->r[R_ESP];
    if (c->eflags & FLAG_VM) {
        log_once(c, LOG_VM86, "task switch into virtual-8086 mode");
        c->cpl = 3;
        for (int s = 0; s < 6; s++)
            seg_load_real(c, s, (uint16_t)st[11 + s]);
        return;
    }
    c->cpl = (uint8_t)(st[11 + SEG_CS] & 3);
    seg_load_ldt(c, (uint16_t)st[17], EXC_TS, SEL_ERR((uint16_t)st[17]),
                 EXC_TS);
    load_cs_ts(c, (uint16_t)st[11 + SEG_CS]);
    load_data_ts(c, SEG_SS, (uint16_t)st[11 + SEG_SS]);
    static const int data[] = {SEG_DS, SEG_ES, SEG_FS, SEG_GS};
    for (int k = 0; k < 4; k++)
        load_data_ts(c, data[k], (uint16_t)st[11 + data[k]]);
    if (c->eip > c->seg[SEG_CS].limit)
        cpu_fault_err(c, EXC_GP, 0);
}

/* A task gate (jmp/call/int): the TSS it names. */
void task_gate(struct interp_cpu *c, struct desc gate, enum task_source src,
               uint32_t ext, uint32_t ret_eip)
{
    uint16_t sel = (uint16_t)(gate.lo >> 16);
    struct desc d;
    if ((sel & 4) || (sel & 0xfffc) == 0 || !desc_read(c, sel, &d) ||
        desc_s(d) || (desc_type(d) != 9 && desc_type(d) != 1))
        cpu_fault_err(c, EXC_GP, SEL_ERR(sel) + ext);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_NP, SEL_ERR(sel) + ext);
    task_switch(c, sel, d, src, ext, ret_eip);
}

void task_return(struct interp_cpu *c)
{
    const struct seg_reg *tr = &c->seg[SEG_TR];
    if (tr->unusable || tr->limit < 1)
        cpu_fault_err(c, EXC_TS, SEL_ERR(tr->sel));
    uint16_t link = (uint16_t)lin_read(c, (uint32_t)tr->base + TSS_LINK, 2,
                                       false);
    struct desc d;
    if ((link & 4) || (link & 0xfffc) == 0 || !desc_read(c, link, &d))
        cpu_fault_err(c, EXC_TS, SEL_ERR(link));
    task_switch(c, link, d, TS_IRET, 0, c->eip);
}
