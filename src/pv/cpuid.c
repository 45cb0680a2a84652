/* cpuid.c - the hypervisor CPUID leaves, answered the same on every engine:
 * 0x40000000 popek's signature "popekpopekpk" and its hypercall interface
 * (0x40000001: version in EAX, feature bits in EBX), and with --cpu kvm the
 * leaves of Linux's KVM guest support at 0x40000100 (Linux scans the range
 * in steps of 0x100): "KVMKVMKVM", and in 0x40000101 the features popek
 * implements (kvmclock with the stable bit, PV EOI). */
#include <string.h>

#include "../core/machine.h"
#include "pv.h"

/* KVM's feature bits (Linux's asm/kvm_para.h). */
#define KVM_FEATURE_CLOCKSOURCE 0
#define KVM_FEATURE_CLOCKSOURCE2 3
#define KVM_FEATURE_PV_EOI 6
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT 24

static void sig(uint32_t r[4], uint32_t max, const char s[12])
{
    r[0] = max;
    memcpy(&r[1], s, 4);
    memcpy(&r[2], s + 4, 4);
    memcpy(&r[3], s + 8, 4);
}

bool pv_hypervisor_bit(struct machine *m)
{
    return m && m->cfg.cpu_kvm;
}

bool pv_cpuid(struct machine *m, uint32_t leaf, uint32_t r[4])
{
    if (leaf < 0x40000000u || leaf > 0x4fffffffu)
        return false;
    r[0] = r[1] = r[2] = r[3] = 0;
    switch (leaf) {
    case PV_CPUID_POPEK:
        sig(r, PV_CPUID_POPEK + 1, "popekpopekpk");
        break;
    case PV_CPUID_POPEK + 1:
        r[0] = PV_VERSION;
        r[1] = (1u << PV_HC_COUNT) - 1; /* every call of this version */
        break;
    case PV_CPUID_KVM:
        if (m && m->cfg.cpu_kvm)
            sig(r, PV_CPUID_KVM + 1, "KVMKVMKVM\0\0\0");
        break;
    case PV_CPUID_KVM + 1:
        if (m && m->cfg.cpu_kvm && m->cfg.cpu_kvmclock)
            r[0] = 1u << KVM_FEATURE_CLOCKSOURCE |
                   1u << KVM_FEATURE_CLOCKSOURCE2 |
                   1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;
        if (m && m->cfg.cpu_kvm && m->cfg.cpu_pv_eoi)
            r[0] |= 1u << KVM_FEATURE_PV_EOI; /* lapic.c */
        break;
    }
    return true;
}
