/* cpu_xfer.c - moving state between the engine-neutral register file
 * (struct cpu_state) and the IA-32 CPU (struct interp_cpu), and the
 * interrupt-window rules.  Shared by the interp engine and the bt engine,
 * whose reference guest state is the same struct interp_cpu. */
#include <string.h>

#include "../../core/engine.h"
#include "../../core/machine.h"
#include "../../core/util.h"
#include "cpu.h"
#include "sys.h"

void interp_cpu_get_state(const struct interp_cpu *c, struct cpu_state *s)
{
    memset(s, 0, sizeof(*s));
    for (int r = 0; r < 8; r++)
        s->gpr[r] = c->r[r];
    s->rip = c->eip;
    s->rflags = c->eflags;
    memcpy(s->seg, c->seg, sizeof(s->seg));
    s->gdt = c->gdt;
    s->idt = c->idt;
    s->cr0 = c->cr0;
    s->cr2 = c->cr2;
    s->cr3 = c->cr3;
    s->cr4 = c->cr4;
    s->efer = c->efer;
    s->sysenter_cs = c->sysenter_cs;
    s->sysenter_esp = c->sysenter_esp;
    s->sysenter_eip = c->sysenter_eip;
}

int interp_cpu_set_state(struct interp_cpu *c, const struct cpu_state *s,
                         const char *engine)
{
    if ((s->efer & EFER_LME) || s->seg[SEG_CS].l)
        return fail("%s: 64-bit guests are not supported (IA-32 only)",
                    engine);
    if (s->rip > 0xffffffffull)
        return fail("%s: the entry state needs long mode, which this "
                    "engine does not implement", engine);
    for (int r = 0; r < 8; r++)
        c->r[r] = (uint32_t)s->gpr[r];
    c->eip = (uint32_t)s->rip;
    c->eflags = ((uint32_t)s->rflags | 2u) & 0x003f7fd7u;
    memcpy(c->seg, s->seg, sizeof(c->seg));
    c->gdt = s->gdt;
    c->idt = s->idt;
    c->cr0 = (uint32_t)s->cr0 | CR0_ET;
    c->cr2 = (uint32_t)s->cr2;
    c->cr3 = (uint32_t)s->cr3;
    c->cr4 = (uint32_t)s->cr4;
    c->efer = s->efer & EFER_SCE;
    c->sysenter_cs = s->sysenter_cs;
    c->sysenter_esp = s->sysenter_esp;
    c->sysenter_eip = s->sysenter_eip;
    c->cpl = (c->cr0 & CR0_PE) ? (c->seg[SEG_CS].sel & 3) : 0;
    c->halted = false;
    c->intr_shadow = false;
    c->pending_vector = -1;
    tlb_flush_all(c);
    if (c->dcache)
        dcache_flush(c->dcache);
    return 0;
}

bool interp_cpu_irq_window_open(const struct interp_cpu *c)
{
    return (c->eflags & FLAG_IF) && !c->intr_shadow && c->pending_vector < 0;
}

void interp_cpu_inject_irq(struct interp_cpu *c, uint8_t vector)
{
    c->pending_vector = vector;
    c->halted = false;
}

void interp_cpu_inject_nmi(struct interp_cpu *c)
{
    c->nmi_pending = true;
    if (!c->nmi_blocked)
        c->halted = false;
}

void interp_cpu_get_vcpu(const struct interp_cpu *c, struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    interp_cpu_get_state(c, &s->regs);
    memcpy(s->fxsave, c->fpu.fx, sizeof(s->fxsave));
    s->tsc_taken_ns = clock_ns();
    s->tsc = s->tsc_taken_ns + c->tsc_offset;
    s->apic_base = c->apic_base;
    s->pat = c->pat;
    s->misc_enable = c->misc_enable;
    s->tsc_aux = c->tsc_aux;
    memcpy(s->dr, c->dr, sizeof(s->dr));
    s->pending_irq = c->pending_vector;
    s->pending_exc = -1;
    s->intr_shadow = c->intr_shadow;
    s->halted = c->halted;
}

int interp_cpu_set_vcpu(struct interp_cpu *c, const struct vcpu_state *s,
                        const char *engine)
{
    const struct cpu_state *r = &s->regs;
    if ((r->efer & EFER_LMA) || r->seg[SEG_CS].l || r->rip > 0xffffffffull)
        return fail("%s: cannot take a vCPU in long mode (IA-32 only)",
                    engine);
    if (s->pending_exc >= 0 || s->nmi_pending)
        return fail("%s: cannot take a vCPU with a queued exception or NMI",
                    engine);
    for (int k = 0; k < 8; k++)
        c->r[k] = (uint32_t)r->gpr[k];
    c->eip = (uint32_t)r->rip;
    c->eflags = ((uint32_t)r->rflags | 2u) & 0x003f7fd7u;
    memcpy(c->seg, r->seg, sizeof(c->seg));
    c->gdt = r->gdt;
    c->idt = r->idt;
    c->cr0 = (uint32_t)r->cr0 | CR0_ET;
    c->cr2 = (uint32_t)r->cr2;
    c->cr3 = (uint32_t)r->cr3;
    c->cr4 = (uint32_t)r->cr4;
    c->sysenter_cs = r->sysenter_cs;
    c->sysenter_esp = r->sysenter_esp;
    c->sysenter_eip = r->sysenter_eip;
    c->efer = r->efer & EFER_SCE; /* the EFER bits of IA-32 (msr_cpuid.c) */
    c->cpl = !(c->cr0 & CR0_PE) ? 0
             : (c->eflags & FLAG_VM) ? 3 : (c->seg[SEG_CS].sel & 3);
    memcpy(c->fpu.fx, s->fxsave, sizeof(c->fpu.fx));
    c->tsc_offset = s->tsc - (s->tsc_taken_ns ? s->tsc_taken_ns : clock_ns());
    if (c->m)
        c->m->tsc_offset = c->tsc_offset; /* the TSC-deadline timer's view */
    c->apic_base = s->apic_base;
    c->pat = s->pat;
    c->misc_enable = s->misc_enable;
    c->tsc_aux = s->tsc_aux;
    memcpy(c->dr, s->dr, sizeof(c->dr));
    c->pending_vector = s->pending_irq >= 0 && s->pending_irq < 256
                            ? s->pending_irq : -1;
    c->intr_shadow = s->intr_shadow;
    c->halted = s->halted;
    c->delivering = -1;
    c->check_irq = true;
    tlb_flush_all(c);
    if (c->dcache)
        dcache_flush(c->dcache);
    return 0;
}
