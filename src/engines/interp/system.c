/* system.c - the interpreter's system instructions and exec_sys_init():
 * segment register push/pop/mov, far jmp/call/ret, int/iret, pushf/popf,
 * cli/sti/hlt, the 0F 00 and 0F 01 groups, lar/lsl, control and debug
 * registers, msr/tsc/cpuid, sysenter/sysexit.  Also cpu_set_eflags and
 * cpu_near_branch from cpu.h.  Port I/O is in io.c. */
#include "../../core/util.h"
#include "sys.h"

#define EFLAGS_WRITABLE                                                     \
    (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_TF | FLAG_IF |  \
     FLAG_DF | FLAG_OF | FLAG_IOPL | FLAG_NT | FLAG_RF | FLAG_AC |           \
     FLAG_VIF | FLAG_VIP | FLAG_ID)

static inline unsigned iopl(const struct interp_cpu *c)
{
    return (c->eflags >> 12) & 3;
}

static inline bool pmode(const struct interp_cpu *c)
{
    return (c->cr0 & CR0_PE) && !(c->eflags & FLAG_VM);
}

static void need_cpl0(struct interp_cpu *c)
{
    if ((c->cr0 & CR0_PE) && (c->cpl != 0 || (c->eflags & FLAG_VM)))
        cpu_fault_err(c, EXC_GP, 0);
}

void cpu_set_eflags(struct interp_cpu *c, uint32_t val, uint32_t mask)
{
    uint32_t allowed = mask & EFLAGS_WRITABLE;
    if (c->cr0 & CR0_PE) {
        if (c->cpl > 0)
            allowed &= ~FLAG_IOPL;
        if (c->cpl > iopl(c))
            allowed &= ~FLAG_IF;
    }
    uint32_t old = c->eflags;
    c->eflags = ((old & ~allowed) | (val & allowed) | 2u) & 0x003f7fd7u;
    cpu_note_if(c, old);
}

void cpu_near_branch(struct interp_cpu *c, uint32_t target)
{
    if (target > c->seg[SEG_CS].limit)
        cpu_fault_err(c, EXC_GP, 0);
    c->eip = target;
}

/* ---- segment registers ---- */

static int sreg_of(const struct insn *i)
{
    if (i->op == 0x1a0 || i->op == 0x1a1)
        return SEG_FS;
    if (i->op == 0x1a8 || i->op == 0x1a9)
        return SEG_GS;
    return (i->op >> 3) & 3; /* 06/07 ES, 0E CS, 16/17 SS, 1E/1F DS */
}

/* With a 32-bit operand size, recent Intel CPUs (and KVM's emulator)
 * write only the 16-bit selector and leave the upper half of the stack
 * slot alone; ESP still moves by 4. */
static void ex_push_sreg(struct interp_cpu *c, const struct insn *i)
{
    uint32_t m = stack_mask(c);
    uint32_t sp = (c->r[R_ESP] - (uint32_t)i->opsize) & m;
    mem_check_write(c, SEG_SS, sp, (uint32_t)i->opsize);
    mem_write(c, SEG_SS, sp, 2, c->seg[sreg_of(i)].sel);
    c->r[R_ESP] = (c->r[R_ESP] & ~m) | sp;
}

static void ex_pop_sreg(struct interp_cpu *c, const struct insn *i)
{
    int s = sreg_of(i);
    uint16_t v = (uint16_t)cpu_stack_peek(c, 0, i->opsize);
    /* ESP moves by the old stack's address size. */
    uint32_t m = stack_mask(c);
    uint32_t nesp = (c->r[R_ESP] & ~m) | ((c->r[R_ESP] + (uint32_t)i->opsize) & m);
    cpu_load_seg(c, s, v);
    c->r[R_ESP] = nesp;
    if (s == SEG_SS)
        c->intr_shadow = true;
}

static void ex_mov_sreg_rm(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg == SEG_CS || i->reg > SEG_GS)
        cpu_undefined(c, i);
    uint16_t v = (uint16_t)rm_read(c, i, 2);
    cpu_load_seg(c, i->reg, v);
    if (i->reg == SEG_SS)
        c->intr_shadow = true;
}

static void ex_arpl(struct interp_cpu *c, const struct insn *i)
{
    if (!pmode(c))
        cpu_undefined(c, i);
    uint16_t dst = (uint16_t)rm_read(c, i, 2);
    uint16_t src = (uint16_t)reg_get(c, i->reg, 2);
    if ((dst & 3) < (src & 3)) {
        rm_write(c, i, 2, (dst & ~3u) | (src & 3u));
        c->eflags |= FLAG_ZF;
    } else {
        c->eflags &= ~FLAG_ZF;
    }
}

/* ---- control transfers ---- */

static void ex_callf(struct interp_cpu *c, const struct insn *i)
{
    cpu_far_call(c, i->imm2, i->imm, i->opsize);
}

static void ex_jmpf(struct interp_cpu *c, const struct insn *i)
{
    cpu_far_jump(c, i->imm2, i->imm, i->opsize);
}

static void ex_retf(struct interp_cpu *c, const struct insn *i)
{
    cpu_far_return(c, i->opsize, i->op == 0xca ? (uint16_t)i->imm : 0);
}

static void ex_int(struct interp_cpu *c, const struct insn *i)
{
    switch (i->op) {
    case 0xcc:
        cpu_soft_int(c, EXC_BP, EV_SOFT_INT);
        break;
    case 0xcd:
        cpu_soft_int(c, (int)(i->imm & 0xff), EV_SOFT_INT);
        break;
    case 0xce:
        if (c->eflags & FLAG_OF)
            cpu_soft_int(c, EXC_OF, EV_SOFT_INT);
        break;
    default: /* f1: icebp */
        cpu_soft_int(c, EXC_DB, EV_ICEBP);
        break;
    }
}

static void ex_iret(struct interp_cpu *c, const struct insn *i)
{
    cpu_iret(c, i->opsize);
}

/* ---- flags, interrupts, halt ---- */

static void ex_pushf(struct interp_cpu *c, const struct insn *i)
{
    if ((c->eflags & FLAG_VM) && iopl(c) < 3)
        cpu_fault_err(c, EXC_GP, 0);
    cpu_push(c, c->eflags & ~(FLAG_VM | FLAG_RF), i->opsize);
}

static void ex_popf(struct interp_cpu *c, const struct insn *i)
{
    if ((c->eflags & FLAG_VM) && iopl(c) < 3)
        cpu_fault_err(c, EXC_GP, 0);
    uint32_t v = cpu_stack_peek(c, 0, i->opsize);
    uint32_t mask = EFLAGS_WRITABLE & ~(FLAG_VIF | FLAG_VIP | FLAG_RF);
    if (i->opsize == 2)
        mask &= 0xffff;
    cpu_stack_adjust(c, i->opsize);
    cpu_set_eflags(c, v, mask);
}

static void ex_cli_sti(struct interp_cpu *c, const struct insn *i)
{
    if ((c->cr0 & CR0_PE) && c->cpl > iopl(c))
        cpu_fault_err(c, EXC_GP, 0);
    if (i->op == 0xfa) {
        c->eflags &= ~FLAG_IF;
    } else if (!(c->eflags & FLAG_IF)) {
        c->eflags |= FLAG_IF;
        c->intr_shadow = true;
        c->check_irq = true;
    }
}

static void ex_hlt(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    c->halted = true;
}

/* UMIP: sgdt sidt sldt smsw str are CPL 0 only (#GP(0)). */
static void umip_check(struct interp_cpu *c)
{
    if ((c->cr4 & CR4_UMIP) && (c->cpl > 0 || (c->eflags & FLAG_VM)))
        cpu_fault_err(c, EXC_GP, 0);
}

/* ---- 0F 00: sldt str lldt ltr verr verw ---- */

static void load_tr(struct interp_cpu *c, uint16_t sel)
{
    if ((sel & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    struct desc d;
    uint32_t err = sel & 0xfffcu;
    if ((sel & 4) || !desc_read(c, sel, &d) || desc_s(d) ||
        (desc_type(d) != 1 && desc_type(d) != 9))
        cpu_fault_err(c, EXC_GP, err);
    if (!desc_p(d))
        cpu_fault_err(c, EXC_NP, err);
    d.hi |= 0x200; /* busy */
    lin_write(c, (uint32_t)c->gdt.base + (sel & 0xfff8u) + 4, 4, d.hi, false);
    seg_from_desc(&c->seg[SEG_TR], sel, d);
}

static void ex_grp6(struct interp_cpu *c, const struct insn *i)
{
    if (!pmode(c))
        cpu_undefined(c, i);
    int size = i->mod == 3 ? i->opsize : 2;
    switch (i->reg) {
    case 0:
        umip_check(c);
        rm_write(c, i, size, c->seg[SEG_LDTR].sel);
        break;
    case 1:
        umip_check(c);
        rm_write(c, i, size, c->seg[SEG_TR].sel);
        break;
    case 2:
    case 3: {
        need_cpl0(c);
        uint16_t sel = (uint16_t)rm_read(c, i, 2);
        if (i->reg == 2)
            seg_load_ldt(c, sel, EXC_GP, sel & 0xfffcu, EXC_NP);
        else
            load_tr(c, sel);
        break;
    }
    case 4:
    case 5: {
        uint16_t sel = (uint16_t)rm_read(c, i, 2);
        struct desc d;
        if (seg_query(c, sel, i->reg == 4 ? 2 : 3, &d))
            c->eflags |= FLAG_ZF;
        else
            c->eflags &= ~FLAG_ZF;
        break;
    }
    default:
        cpu_undefined(c, i);
    }
}

/* ---- 0F 01: sgdt sidt lgdt lidt smsw lmsw invlpg ---- */

static void set_cr0(struct interp_cpu *c, uint32_t v);

static void ex_rdtscp(struct interp_cpu *c)
{
    if ((c->cr4 & CR4_TSD) && (c->cr0 & CR0_PE) && c->cpl != 0)
        cpu_fault_err(c, EXC_GP, 0);
    uint64_t t = cpu_rdtsc(c);
    uint64_t aux = 0;
    cpu_rdmsr(c, 0xc0000103u, &aux);
    c->r[R_EAX] = (uint32_t)t;
    c->r[R_EDX] = (uint32_t)(t >> 32);
    c->r[R_ECX] = (uint32_t)aux;
}

/* 0F 01 with mod == 3 and reg != 4/6: rdtscp, clac/stac; the others
 * (monitor/mwait, xgetbv, vmx, swapgs ...) do not exist here: #UD. */
static void ex_grp7_reg(struct interp_cpu *c, const struct insn *i)
{
    if (i->reg == 7 && i->rm == 1) {
        ex_rdtscp(c);
        return;
    }
    if (i->reg == 1 && (i->rm == 2 || i->rm == 3) && cpu_smap_supported(c)) {
        /* clac / stac: #UD above CPL 0 (and in virtual-8086 mode) */
        if ((c->cr0 & CR0_PE) && (c->cpl > 0 || (c->eflags & FLAG_VM)))
            cpu_fault(c, EXC_UD);
        if (i->rm == 2)
            c->eflags &= ~FLAG_AC;
        else
            c->eflags |= FLAG_AC;
        return;
    }
    cpu_undefined(c, i);
}

static void ex_grp7(struct interp_cpu *c, const struct insn *i)
{
    if (i->modrm == 0xc1 || i->modrm == 0xd9) { /* vmcall, vmmcall */
        interp_hypercall(c);
        return;
    }
    if (i->mod == 3 && i->reg != 4 && i->reg != 6) {
        ex_grp7_reg(c, i);
        return;
    }
    uint32_t am = i->addrsize == 2 ? 0xffff : 0xffffffffu;
    switch (i->reg) {
    case 0:
    case 1: {
        umip_check(c);
        const struct dtable *t = i->reg == 0 ? &c->gdt : &c->idt;
        uint32_t ea = insn_ea(c, i);
        /* The full 32-bit base, whatever the operand size (SDM). */
        uint32_t base = (uint32_t)t->base;
        mem_check_write(c, i->ea_seg, ea, 6);
        mem_write(c, i->ea_seg, ea, 2, t->limit);
        mem_write(c, i->ea_seg, (ea + 2) & am, 4, base);
        break;
    }
    case 2:
    case 3: {
        need_cpl0(c);
        uint32_t ea = insn_ea(c, i);
        uint16_t limit = (uint16_t)mem_read(c, i->ea_seg, ea, 2);
        uint32_t base = mem_read(c, i->ea_seg, (ea + 2) & am, 4);
        if (i->opsize == 2)
            base &= 0x00ffffff;
        struct dtable *t = i->reg == 2 ? &c->gdt : &c->idt;
        t->base = base;
        t->limit = limit;
        break;
    }
    case 4:
        umip_check(c);
        if (i->mod == 3)
            reg_set(c, i->rm, i->opsize, c->cr0);
        else
            mem_write(c, i->ea_seg, insn_ea(c, i), 2, c->cr0 & 0xffff);
        break;
    case 6: {
        need_cpl0(c);
        uint32_t v = rm_read(c, i, 2);
        /* lmsw loads PE MP EM TS; it can set PE but not clear it. */
        set_cr0(c, (c->cr0 & ~0xeu) | (v & 0xf) | (c->cr0 & CR0_PE));
        break;
    }
    case 7:
        need_cpl0(c);
        tlb_flush_page(c, (uint32_t)c->seg[i->ea_seg].base + insn_ea(c, i));
        break;
    default:
        cpu_undefined(c, i);
    }
}

static void ex_lar_lsl(struct interp_cpu *c, const struct insn *i)
{
    if (!pmode(c))
        cpu_undefined(c, i);
    uint16_t sel = (uint16_t)rm_read(c, i, 2);
    struct desc d;
    bool lar = i->op == 0x102;
    if (!seg_query(c, sel, lar ? 0 : 1, &d)) {
        c->eflags &= ~FLAG_ZF;
        return;
    }
    uint32_t v = lar ? (d.hi & 0x00f0ff00u) : desc_limit(d);
    reg_set(c, i->reg, i->opsize, i->opsize == 2 ? (v & 0xffff) : v);
    c->eflags |= FLAG_ZF;
}

/* ---- control and debug registers ---- */

#define CR0_VALID (CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_ET | CR0_NE |   \
                   CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG)
#define CR4_VALID (CR4_TSD | CR4_DE | CR4_PSE | CR4_PGE | CR4_OSFXSR |    \
                   CR4_OSXMMEXCPT | CR4_UMIP | CR4_SMEP | CR4_SMAP)

static void set_cr0(struct interp_cpu *c, uint32_t v)
{
    v = (v & CR0_VALID) | CR0_ET;
    if ((v & CR0_PG) && !(v & CR0_PE))
        cpu_fault_err(c, EXC_GP, 0);
    if ((v & CR0_NW) && !(v & CR0_CD))
        cpu_fault_err(c, EXC_GP, 0);
    uint32_t changed = v ^ c->cr0;
    c->cr0 = v;
    if (changed & (CR0_PG | CR0_WP | CR0_PE))
        tlb_flush_all(c);
    if (!(v & CR0_PE))
        c->cpl = 0;
}

static void set_cr4(struct interp_cpu *c, uint32_t v)
{
    uint32_t valid = CR4_VALID & ~(cpu_smap_supported(c) ? 0 : CR4_SMAP);
    if (v & ~valid) {
        log_once(c, LOG_CR4, "mov cr4, %#x: unsupported bits %#x, #GP", v,
                 v & ~valid);
        cpu_fault_err(c, EXC_GP, 0);
    }
    uint32_t changed = v ^ c->cr4;
    c->cr4 = v;
    if (changed & (CR4_PSE | CR4_PGE))
        tlb_flush_all(c);
}

static void ex_mov_cr(struct interp_cpu *c, const struct insn *i)
{
    int n = i->reg;
    if (n == 1 || n > 4)
        cpu_undefined(c, i);
    need_cpl0(c);
    if (i->op == 0x120) {
        uint32_t v = n == 0 ? c->cr0 : n == 2 ? c->cr2 : n == 3 ? c->cr3
                                                                : c->cr4;
        c->r[i->rm] = v;
        return;
    }
    uint32_t v = c->r[i->rm];
    switch (n) {
    case 0: set_cr0(c, v); break;
    case 2: c->cr2 = v; break;
    case 3:
        c->cr3 = v;
        tlb_flush_nonglobal(c);
        break;
    default: set_cr4(c, v); break;
    }
}

static void ex_mov_dr(struct interp_cpu *c, const struct insn *i)
{
    int n = i->reg;
    if (n == 4 || n == 5) {
        if (c->cr4 & CR4_DE)
            cpu_undefined(c, i);
        n += 2;
    }
    need_cpl0(c);
    if (i->op == 0x121) {
        uint32_t v = c->dr[n];
        if (n == 6)
            v = (v & 0x0000e00fu) | 0xffff0ff0u;
        else if (n == 7)
            v = (v | 0x400u) & ~0x0000d800u;
        c->r[i->rm] = v;
        return;
    }
    uint32_t v = c->r[i->rm];
    if (n == 7 && (v & 0xff))
        log_once(c, LOG_DR7, "DR7=%#x enables breakpoints: hardware "
                 "breakpoints are not implemented (ignored)", v);
    c->dr[n] = v;
}

static void ex_clts(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    c->cr0 &= ~CR0_TS;
}

static void ex_invd(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
}

/* ---- msr, tsc, cpuid ---- */

static void ex_wrmsr(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    uint64_t v = (uint64_t)c->r[R_EDX] << 32 | c->r[R_EAX];
    if (!cpu_wrmsr(c, c->r[R_ECX], v))
        cpu_fault_err(c, EXC_GP, 0);
}

static void ex_rdmsr(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    need_cpl0(c);
    uint64_t v;
    if (!cpu_rdmsr(c, c->r[R_ECX], &v))
        cpu_fault_err(c, EXC_GP, 0);
    c->r[R_EAX] = (uint32_t)v;
    c->r[R_EDX] = (uint32_t)(v >> 32);
}

static void ex_rdtsc(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    if ((c->cr4 & CR4_TSD) && (c->cr0 & CR0_PE) && c->cpl != 0)
        cpu_fault_err(c, EXC_GP, 0);
    uint64_t t = cpu_rdtsc(c);
    c->r[R_EAX] = (uint32_t)t;
    c->r[R_EDX] = (uint32_t)(t >> 32);
}

static void ex_cpuid(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    cpu_cpuid(c);
}

/* ---- sysenter / sysexit ---- */

static void flat_seg(struct seg_reg *s, uint16_t sel, bool code, int dpl)
{
    seg_flat32(s, sel, code);
    s->dpl = (uint8_t)dpl;
}

static void ex_sysenter(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    uint16_t cs = (uint16_t)c->sysenter_cs;
    if (!(c->cr0 & CR0_PE) || (cs & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    c->eflags &= ~(FLAG_VM | FLAG_IF | FLAG_RF);
    flat_seg(&c->seg[SEG_CS], cs & 0xfffc, true, 0);
    flat_seg(&c->seg[SEG_SS], (uint16_t)((cs + 8) & 0xfffc), false, 0);
    c->cpl = 0;
    c->r[R_ESP] = (uint32_t)c->sysenter_esp;
    c->eip = (uint32_t)c->sysenter_eip;
}

static void ex_sysexit(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    uint16_t cs = (uint16_t)c->sysenter_cs;
    if (!(c->cr0 & CR0_PE) || c->cpl != 0 || (cs & 0xfffc) == 0)
        cpu_fault_err(c, EXC_GP, 0);
    flat_seg(&c->seg[SEG_CS], (uint16_t)(((cs + 16) & 0xfffc) | 3), true, 3);
    flat_seg(&c->seg[SEG_SS], (uint16_t)(((cs + 24) & 0xfffc) | 3), false, 3);
    c->cpl = 3;
    c->r[R_ESP] = c->r[R_ECX];
    c->eip = c->r[R_EDX];
}

/* ud2 (0F 0B), ud1 (0F B9), ud0 (0F FF): #UD by definition, not logged
 * (Linux uses ud2 for BUG and WARN). */
static void ex_ud(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    cpu_fault(c, EXC_UD);
}

/* ---- registration ---- */

static exec_fn sys_tab[OP_COUNT];

/* LOCK is never valid on these instructions. */
static void sys_dispatch(struct interp_cpu *c, const struct insn *i)
{
    if (i->lock)
        cpu_undefined(c, i);
    sys_tab[i->op](c, i);
}

static void reg(exec_fn *tab, unsigned op, exec_fn fn)
{
    sys_tab[op] = fn;
    tab[op] = sys_dispatch;
}

void exec_sys_init(exec_fn *tab)
{
    static const uint16_t push_s[] = {0x06, 0x0e, 0x16, 0x1e, 0x1a0, 0x1a8};
    static const uint16_t pop_s[] = {0x07, 0x17, 0x1f, 0x1a1, 0x1a9};
    for (unsigned k = 0; k < ARRAY_SIZE(push_s); k++)
        reg(tab, push_s[k], ex_push_sreg);
    for (unsigned k = 0; k < ARRAY_SIZE(pop_s); k++)
        reg(tab, pop_s[k], ex_pop_sreg);
    reg(tab, 0x63, ex_arpl);
    reg(tab, 0x10b, ex_ud);
    reg(tab, 0x1b9, ex_ud);
    reg(tab, 0x1ff, ex_ud);
    reg(tab, 0x8e, ex_mov_sreg_rm);
    reg(tab, 0x9a, ex_callf);
    reg(tab, 0x9c, ex_pushf);
    reg(tab, 0x9d, ex_popf);
    reg(tab, 0xca, ex_retf);
    reg(tab, 0xcb, ex_retf);
    reg(tab, 0xcc, ex_int);
    reg(tab, 0xcd, ex_int);
    reg(tab, 0xce, ex_int);
    reg(tab, 0xcf, ex_iret);
    reg(tab, 0xea, ex_jmpf);
    reg(tab, 0xf1, ex_int);
    reg(tab, 0xf4, ex_hlt);
    reg(tab, 0xfa, ex_cli_sti);
    reg(tab, 0xfb, ex_cli_sti);
    reg(tab, 0x100, ex_grp6);
    reg(tab, 0x101, ex_grp7);
    reg(tab, 0x102, ex_lar_lsl);
    reg(tab, 0x103, ex_lar_lsl);
    reg(tab, 0x106, ex_clts);
    reg(tab, 0x108, ex_invd);
    reg(tab, 0x109, ex_invd);
    reg(tab, 0x120, ex_mov_cr);
    reg(tab, 0x122, ex_mov_cr);
    reg(tab, 0x121, ex_mov_dr);
    reg(tab, 0x123, ex_mov_dr);
    reg(tab, 0x130, ex_wrmsr);
    reg(tab, 0x131, ex_rdtsc);
    reg(tab, 0x132, ex_rdmsr);
    reg(tab, 0x1a2, ex_cpuid);
    reg(tab, 0x134, ex_sysenter);
    reg(tab, 0x135, ex_sysexit);
    for (unsigned op = 0xe4; op <= 0xe7; op++)
        reg(tab, op, ex_in_out);
    for (unsigned op = 0xec; op <= 0xef; op++)
        reg(tab, op, ex_in_out);
    for (unsigned op = 0x6c; op <= 0x6f; op++)
        reg(tab, op, ex_ins_outs);
}
