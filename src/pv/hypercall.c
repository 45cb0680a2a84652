/* hypercall.c - popek's hypercalls, engine-neutral: the engine decodes
 * vmcall/vmmcall and hands over its registers through struct pv_vcpu.
 * Every argument is checked as a VMM must: pointers are guest-physical and
 * must lie in guest RAM; a page-table update may only write an entry that
 * lies in guest RAM and may only map guest RAM (so a guest can map nothing
 * of the monitor's, nor device memory it was not given); sizes are
 * bounded; ring 3 may call nothing.  Errors are negative errno values in
 * EAX (docs/hypercalls.md). */
#include <string.h>

#include "../core/machine.h"
#include "../core/util.h"
#include "pv.h"

#define EAX 0
#define ECX 1
#define EDX 2
#define EBX 3
#define ESI 6

static uint32_t err(enum pv_err e)
{
    return (uint32_t)-(int32_t)e;
}

static bool in_ram(struct machine *m, uint64_t gpa, uint64_t len)
{
    return gpa < m->ram_size && len <= m->ram_size - gpa;
}

static uint32_t console_write(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], len = v->regs[ECX];
    if (len > PV_CONSOLE_MAX)
        return err(PV_EINVAL);
    uint8_t buf[PV_CONSOLE_MAX];
    if (!in_ram(m, gpa, len) || !v->read_phys(v->ctx, gpa, buf, len))
        return err(PV_EFAULT);
    for (uint32_t i = 0; i < len; i++)
        console_putc(m, buf[i]);
    return len;
}

/* May value be stored in a page-table entry?  A present entry must map
 * guest RAM only: its 4 KiB frame, and when bit 7 is set a whole 4 MiB
 * page too (PS in a directory entry, without PSE-36's high address bits
 * 13-21).  popek does not track which pages are page tables (the guest's
 * "this is a directory entry" bit 0 cannot be trusted), so bit 7 is
 * always read both ways: PAT in a table entry is refused unless the
 * 4 MiB reading is RAM too. */
static bool pte_ok(struct machine *m, uint32_t val)
{
    if (!(val & PTE_P))
        return true;
    if ((val & PTE_PS) && ((val & 0x003fe000u) ||
                           !in_ram(m, val & 0xffc00000u, 4u << 20)))
        return false;
    return in_ram(m, val & ~0xfffu, 4096);
}

static uint32_t mmu_update(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], n = v->regs[ECX], flags = v->regs[EDX];
    if (n > PV_MMU_MAX || (flags & ~(PV_MMU_FLUSH_ALL | PV_MMU_FLUSH_PAGE)))
        return err(PV_EINVAL);
    if (!in_ram(m, gpa, (uint64_t)n * 8))
        return err(PV_EFAULT);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t req[2];
        if (!v->read_phys(v->ctx, gpa + 8 * k, req, 8))
            return err(PV_EFAULT);
        uint32_t at = req[0] & ~3u;
        if ((req[0] & 2) || !in_ram(m, at, 4) || !pte_ok(m, req[1])) {
            v->regs[EBX] = k;
            if (k && (flags & PV_MMU_FLUSH_ALL))
                v->flush_tlb(v->ctx, 0, 0);
            return err(PV_EINVAL);
        }
        v->write_pte(v->ctx, at, req[1]);
    }
    if (flags & PV_MMU_FLUSH_ALL)
        v->flush_tlb(v->ctx, 0, 0);
    else if (flags & PV_MMU_FLUSH_PAGE)
        v->flush_tlb(v->ctx, 1, v->regs[ESI]);
    return n;
}

/* The trap table: every entry is checked before any is applied (all or
 * nothing): a known vector, known flags, a handler code segment of the
 * guest's GDT/LDT that is present with RPL = DPL and not ring 0 (the
 * guest kernel is deprivileged), the handler inside its limit. */
static uint32_t set_trap_table(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], n = v->regs[ECX];
    if (!v->seg_ok)
        return err(PV_ENOSYS);
    if (n > PV_TRAP_MAX)
        return err(PV_EINVAL);
    if (!in_ram(m, gpa, (uint64_t)n * 8))
        return err(PV_EFAULT);
    struct pv_state *s = pv_state_get(m);
    if (!s)
        return err(PV_EFAULT);
    struct pv_trap t[PV_TRAP_MAX];
    memset(t, 0, sizeof(t));
    for (uint32_t k = 0; k < n; k++) {
        uint8_t e[8];
        if (!v->read_phys(v->ctx, gpa + 8 * k, e, 8))
            return err(PV_EFAULT);
        uint8_t vec = e[0], flags = e[1];
        uint16_t cs = (uint16_t)(e[2] | e[3] << 8);
        uint32_t eip = (uint32_t)e[4] | (uint32_t)e[5] << 8 |
                       (uint32_t)e[6] << 16 | (uint32_t)e[7] << 24;
        uint32_t limit = 0;
        if ((flags & ~(PV_TRAP_DPL | PV_TRAP_MASK)) || (cs & 3) == 0 ||
            !v->seg_ok(v->ctx, cs, true, cs & 3u, &limit) || eip > limit) {
            v->regs[EBX] = k;
            return err(PV_EINVAL);
        }
        t[vec] = (struct pv_trap){.eip = eip, .cs = cs, .flags = flags,
                                  .set = true};
    }
    memcpy(s->trap, t, sizeof(t));
    s->traps_on = n != 0;
    return 0;
}

static uint32_t set_callback(struct machine *m, struct pv_vcpu *v)
{
    uint32_t gpa = v->regs[EBX], vec = v->regs[ECX];
    if (gpa && ((gpa & 0xfff) || vec >= PV_TRAP_MAX))
        return err(PV_EINVAL);
    if (gpa && !in_ram(m, gpa, 4096))
        return err(PV_EFAULT);
    struct pv_state *s = pv_state_get(m);
    if (!s)
        return err(PV_EFAULT);
    s->shared_gpa = gpa;
    s->cb_vector = (uint8_t)vec;
    return 0;
}

/* The ring-1 stack: a writable data segment of the caller's ring. */
static uint32_t stack_switch(struct machine *m, struct pv_vcpu *v)
{
    uint16_t ss = (uint16_t)v->regs[EBX];
    uint32_t limit = 0;
    if (!v->seg_ok)
        return err(PV_ENOSYS);
    if (v->regs[EBX] > 0xffff || (ss & 3) != v->cpl || v->cpl == 0 ||
        !v->seg_ok(v->ctx, ss, false, v->cpl, &limit) ||
        v->regs[ECX] - 1 > limit)
        return err(PV_EINVAL);
    struct pv_state *s = pv_state_get(m);
    if (!s)
        return err(PV_EFAULT);
    s->kss = ss;
    s->kesp = v->regs[ECX];
    s->stack_set = true;
    return 0;
}

/* IRET: the frame {eax, eip, cs, eflags[, esp, ss]} at the stack; the
 * engine returns through it as iret (its checks: no return to an inner
 * ring), and the virtual IF takes the frame's IF.  On success EAX is the
 * frame's; on -EFAULT/-EINVAL nothing changed. */
static bool do_iret(struct machine *m, struct pv_vcpu *v, uint32_t *ret)
{
    uint32_t f[4];
    if (!v->iret || !v->read_lin) {
        *ret = err(PV_ENOSYS);
        return false;
    }
    if (!v->read_lin(v->ctx, v->sp_lin, f, sizeof(f))) {
        *ret = err(PV_EFAULT);
        return false;
    }
    if ((f[2] & 3) < v->cpl || (f[2] & 3) == 0) {
        *ret = err(PV_EINVAL);
        return false;
    }
    if ((f[2] & 3) > v->cpl) {
        uint32_t outer[2];
        if (!v->read_lin(v->ctx, v->sp_lin + 16, outer, sizeof(outer))) {
            *ret = err(PV_EFAULT);
            return false;
        }
    }
    v->iret(v->ctx); /* may raise the guest's exception (not return) */
    if (pv_state(m))
        pv_set_vif(m, f[3] & (1u << 9));
    *ret = f[0];
    return true;
}

static uint32_t set_timer(struct machine *m, struct pv_vcpu *v)
{
    struct pv_state *s = pv_state_get(m);
    if (!s)
        return err(PV_EFAULT);
    uint32_t first = v->regs[EBX], period = v->regs[ECX];
    if (period && period < 10000) /* 10 us: the host timer's grain */
        return err(PV_EINVAL);
    s->period_ns = period;
    if (!first)
        vtimer_del(m, &s->timer);
    else
        vtimer_mod(m, &s->timer, clock_ns() + first);
    return 0;
}

static uint32_t new_baseptr(struct machine *m, struct pv_vcpu *v)
{
    uint32_t pd = v->regs[EBX];
    if (!v->set_cr3)
        return err(PV_ENOSYS);
    if (pd & 0xfe7)                 /* PWT and PCD may be set */
        return err(PV_EINVAL);
    if (!in_ram(m, pd, 4096))
        return err(PV_EFAULT);
    v->set_cr3(v->ctx, pd);
    return 0;
}

/* Port I/O for a kernel that may not execute in/out (ring 1, IOPL 0): the
 * machine's port bus, as the instruction would reach it. */
static uint32_t port_io(struct machine *m, struct pv_vcpu *v)
{
    uint32_t port = v->regs[EBX], size = v->regs[ECX] & 0xff;
    bool write = v->regs[ECX] & 0x100;
    if (port > 0xffff || (v->regs[ECX] & ~0x1ffu) ||
        (size != 1 && size != 2 && size != 4))
        return err(PV_EINVAL);
    uint8_t d[4];
    uint32_t val = v->regs[EDX];
    for (uint32_t k = 0; k < 4; k++)
        d[k] = (uint8_t)(val >> (8 * k));
    machine_pio(m, (uint16_t)port, d, size, write);
    if (!write) {
        val = 0;
        for (uint32_t k = 0; k < size; k++)
            val |= (uint32_t)d[k] << (8 * k);
        v->regs[EDX] = val;
    }
    return 0;
}

void pv_hypercall(struct machine *m, struct pv_vcpu *v)
{
    uint32_t *r = v->regs;
    uint32_t ret;
    if (!m) {
        r[EAX] = err(PV_ENOSYS);
        return;
    }
    if (v->cpl == 3) {
        r[EAX] = err(PV_EPERM);
        return;
    }
    switch (r[EAX]) {
    case PV_HC_VERSION:
        ret = PV_VERSION;
        r[EBX] = (1u << PV_HC_COUNT) - 1;
        break;
    case PV_HC_CONSOLE_WRITE:
        ret = console_write(m, v);
        break;
    case PV_HC_MMU_UPDATE:
        ret = mmu_update(m, v);
        break;
    case PV_HC_TLB_FLUSH:
        if (r[EBX] > 2) {
            ret = err(PV_EINVAL);
            break;
        }
        v->flush_tlb(v->ctx, (int)r[EBX], r[ECX]);
        ret = 0;
        break;
    case PV_HC_YIELD:
        ret = 0;
        break;
    case PV_HC_BLOCK:
        if (pv_state(m))
            pv_set_vif(m, true);
        v->block(v->ctx);
        ret = 0;
        break;
    case PV_HC_SET_TRAP_TABLE:
        ret = set_trap_table(m, v);
        break;
    case PV_HC_SET_CALLBACK:
        ret = set_callback(m, v);
        break;
    case PV_HC_STACK_SWITCH:
        ret = stack_switch(m, v);
        break;
    case PV_HC_IRET:
        if (do_iret(m, v, &ret)) {
            r[EAX] = ret;
            return;
        }
        break;
    case PV_HC_SET_TIMER:
        ret = set_timer(m, v);
        break;
    case PV_HC_EVENT_SEND:
        if (!pv_state(m) || !pv_state(m)->shared_gpa) {
            ret = err(PV_EINVAL);
            break;
        }
        pv_post(m, r[EBX]);
        ret = 0;
        break;
    case PV_HC_NEW_BASEPTR:
        ret = new_baseptr(m, v);
        break;
    case PV_HC_PORT_IO:
        ret = port_io(m, v);
        break;
    case PV_HC_SHUTDOWN:
        if (r[EBX] > 127) {
            ret = err(PV_EINVAL);
            break;
        }
        machine_request_stop(m, (int)(r[EBX] << 1 | 1),
                             "guest shutdown hypercall, code %u", r[EBX]);
        ret = 0;
        break;
    default:
        ret = err(PV_ENOSYS);
    }
    r[EAX] = ret;
}
