/* kvm_vcpu_state.c - the kvm engine's side of live engine switching and of
 * the debugger: the full vCPU state (struct vcpu_state: registers, FPU in
 * FXSAVE layout from KVM_GET_FPU, TSC/APIC base/PAT/MISC_ENABLE/TSC_AUX
 * MSRs,
 * debug registers, pending events from KVM_GET_VCPU_EVENTS, halted from
 * KVM_GET_MP_STATE) and set_guest_debug (kept in the engine, applied with
 * KVM_SET_GUEST_DEBUG by kvm_debug.c).  UNTESTED: this host has no
 * /dev/kvm; written against the KVM API documentation. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/machine.h"
#include "kvm_priv.h"

#define MSR_TSC 0x10
#define MSR_APIC_BASE 0x1b
#define MSR_MISC_ENABLE 0x1a0
#define MSR_PAT 0x277
#define MSR_TSC_AUX 0xc0000103u

struct state_msrs {
    struct kvm_msrs hdr;
    struct kvm_msr_entry e[5];
};

static void msrs_init(struct state_msrs *b)
{
    memset(b, 0, sizeof(*b));
    b->hdr.nmsrs = 5;
    b->e[0].index = MSR_TSC;
    b->e[1].index = MSR_APIC_BASE;
    b->e[2].index = MSR_PAT;
    b->e[3].index = MSR_MISC_ENABLE;
    b->e[4].index = MSR_TSC_AUX;
}

static void fpu_to_fx(const struct kvm_fpu *f, uint8_t *fx)
{
    memset(fx, 0, 512);
    memcpy(fx + 0, &f->fcw, 2);
    memcpy(fx + 2, &f->fsw, 2);
    fx[4] = f->ftwx;
    memcpy(fx + 6, &f->last_opcode, 2);
    memcpy(fx + 8, &f->last_ip, 8);
    memcpy(fx + 16, &f->last_dp, 8);
    memcpy(fx + 24, &f->mxcsr, 4);
    for (int i = 0; i < 8; i++)
        memcpy(fx + 32 + 16 * i, f->fpr[i], 16);
    for (int i = 0; i < 16; i++)
        memcpy(fx + 160 + 16 * i, f->xmm[i], 16);
}

static void fx_to_fpu(const uint8_t *fx, struct kvm_fpu *f)
{
    memset(f, 0, sizeof(*f));
    memcpy(&f->fcw, fx + 0, 2);
    memcpy(&f->fsw, fx + 2, 2);
    f->ftwx = fx[4];
    memcpy(&f->last_opcode, fx + 6, 2);
    memcpy(&f->last_ip, fx + 8, 8);
    memcpy(&f->last_dp, fx + 16, 8);
    memcpy(&f->mxcsr, fx + 24, 4);
    for (int i = 0; i < 8; i++)
        memcpy(f->fpr[i], fx + 32 + 16 * i, 16);
    for (int i = 0; i < 16; i++)
        memcpy(f->xmm[i], fx + 160 + 16 * i, 16);
}

int kvm_get_vcpu_state(struct machine *m, struct vcpu_state *s)
{
    struct kvm_engine *k = KVM_OF(m);
    memset(s, 0, sizeof(*s));
    if (kvm_get_state(m, &s->regs) < 0)
        return -1;
    struct kvm_fpu fpu;
    if (ioctl(k->vcpu_fd, KVM_GET_FPU, &fpu) < 0)
        return fail("KVM_GET_FPU: %s", strerror(errno));
    fpu_to_fx(&fpu, s->fxsave);
    struct state_msrs msrs;
    msrs_init(&msrs);
    int n = ioctl(k->vcpu_fd, KVM_GET_MSRS, &msrs);
    if (n < 2)
        return fail("KVM_GET_MSRS (TSC, APIC base): %s",
                    n < 0 ? strerror(errno) : "not read");
    s->tsc = msrs.e[0].data;
    s->apic_base = msrs.e[1].data;
    s->pat = n > 2 ? msrs.e[2].data : 0x0007040600070406ull;
    s->misc_enable = n > 3 ? msrs.e[3].data : 0;
    s->tsc_aux = n > 4 ? msrs.e[4].data : 0;
    struct kvm_debugregs dr;
    if (ioctl(k->vcpu_fd, KVM_GET_DEBUGREGS, &dr) < 0)
        return fail("KVM_GET_DEBUGREGS: %s", strerror(errno));
    for (int i = 0; i < 4; i++)
        s->dr[i] = (uint32_t)dr.db[i];
    s->dr[6] = (uint32_t)dr.dr6;
    s->dr[7] = (uint32_t)dr.dr7;
    struct kvm_vcpu_events ev;
    if (ioctl(k->vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
        return fail("KVM_GET_VCPU_EVENTS: %s", strerror(errno));
    if (ev.interrupt.injected && ev.interrupt.soft)
        return fail("kvm: a software interrupt is in flight; try again");
    s->pending_irq = ev.interrupt.injected ? ev.interrupt.nr : -1;
    s->pending_exc = ev.exception.injected || ev.exception.pending
                         ? ev.exception.nr : -1;
    s->pending_exc_has_err = ev.exception.has_error_code;
    s->pending_exc_err = ev.exception.error_code;
    s->nmi_pending = ev.nmi.injected || ev.nmi.pending;
    s->intr_shadow = ev.interrupt.shadow != 0;
    struct kvm_mp_state mp;
    if (ioctl(k->vcpu_fd, KVM_GET_MP_STATE, &mp) < 0)
        return fail("KVM_GET_MP_STATE: %s", strerror(errno));
    s->halted = mp.mp_state == KVM_MP_STATE_HALTED;
    return 0;
}

int kvm_set_vcpu_state(struct machine *m, const struct vcpu_state *s)
{
    struct kvm_engine *k = KVM_OF(m);
    if (kvm_set_state(m, &s->regs) < 0)
        return -1;
    struct kvm_fpu fpu;
    fx_to_fpu(s->fxsave, &fpu);
    if (ioctl(k->vcpu_fd, KVM_SET_FPU, &fpu) < 0)
        return fail("KVM_SET_FPU: %s", strerror(errno));
    struct state_msrs msrs;
    msrs_init(&msrs);
    msrs.e[0].data = s->tsc;
    msrs.e[1].data = s->apic_base ? s->apic_base : 0xfee00900ull;
    msrs.e[2].data = s->pat ? s->pat : 0x0007040600070406ull;
    msrs.e[3].data = s->misc_enable;
    msrs.e[4].data = s->tsc_aux;
    int n = ioctl(k->vcpu_fd, KVM_SET_MSRS, &msrs);
    if (n < 2)
        return fail("KVM_SET_MSRS (TSC, APIC base): %s",
                    n < 0 ? strerror(errno) : "not written");
    struct kvm_debugregs dr;
    memset(&dr, 0, sizeof(dr));
    for (int i = 0; i < 4; i++)
        dr.db[i] = s->dr[i];
    dr.dr6 = s->dr[6] ? s->dr[6] : 0xffff0ff0u;
    dr.dr7 = s->dr[7] ? s->dr[7] : 0x400;
    if (ioctl(k->vcpu_fd, KVM_SET_DEBUGREGS, &dr) < 0)
        return fail("KVM_SET_DEBUGREGS: %s", strerror(errno));
    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    if (s->pending_irq >= 0) {
        ev.interrupt.injected = 1;
        ev.interrupt.nr = (uint8_t)s->pending_irq;
    }
    if (s->pending_exc >= 0) {
        ev.exception.injected = 1;
        ev.exception.nr = (uint8_t)s->pending_exc;
        ev.exception.has_error_code = s->pending_exc_has_err;
        ev.exception.error_code = s->pending_exc_err;
    }
    ev.nmi.pending = s->nmi_pending;
    ev.interrupt.shadow = s->intr_shadow ? KVM_X86_SHADOW_INT_STI : 0;
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    if (ioctl(k->vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
        return fail("KVM_SET_VCPU_EVENTS: %s", strerror(errno));
    struct kvm_mp_state mp = {
        .mp_state = s->halted ? KVM_MP_STATE_HALTED : KVM_MP_STATE_RUNNABLE};
    if (ioctl(k->vcpu_fd, KVM_SET_MP_STATE, &mp) < 0)
        return fail("KVM_SET_MP_STATE: %s", strerror(errno));
    return 0;
}

int kvm_set_guest_debug(struct machine *m, const struct guest_debug *d)
{
    struct kvm_engine *k = KVM_OF(m);
    if (d && d->nhw > 4)
        return fail("kvm: at most 4 hardware breakpoints");
    k->udbg_on = d != NULL;
    if (d)
        k->udbg = *d;
    k->udbg_dirty = true;
    return 0;
}
