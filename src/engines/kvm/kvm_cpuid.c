/* kvm_cpuid.c - the guest's CPUID for the kvm engine: what KVM supports on
 * this host (KVM_GET_SUPPORTED_CPUID), adjusted for popek's machine (one
 * CPU with APIC id 0, popek's own xAPIC (no x2APIC, no TSC-deadline timer:
 * KVM keeps the TSC and popek's APIC cannot convert it), no KVM
 * paravirtual features so that guests
 * see the same plain PC on every engine), then set with KVM_SET_CPUID2.
 * Note: kvm_pvm does not honour most of this; its guests see the host's
 * CPUID features (KVM_GET_CPUID2 after KVM_SET_CPUID2 shows them), so
 * RDRAND, XSAVE, ... stay visible and kvm_assist*.c must cope. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "../../core/util.h"
#include "kvm_priv.h"

#define CPUID1_ECX_X2APIC (1u << 21)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_EDX_APIC (1u << 9)
#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_FEATURES 0x40000001u

static struct kvm_cpuid2 *get_supported(int sys_fd)
{
    for (unsigned n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c =
            calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
        if (!c) {
            fail("out of memory");
            return NULL;
        }
        c->nent = n;
        if (ioctl(sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int err = errno;
        free(c);
        if (err != E2BIG) {
            fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(err));
            return NULL;
        }
    }
    fail("KVM_GET_SUPPORTED_CPUID: too many entries");
    return NULL;
}

static void adjust_entry(struct kvm_cpuid_entry2 *e)
{
    switch (e->function) {
    case 1:
        /* EBX: APIC id 0 (31:24), one logical processor (23:16). */
        e->ebx = (e->ebx & 0x0000ffffu) | (1u << 16);
        e->ecx &= ~(CPUID1_ECX_X2APIC | CPUID1_ECX_TSC_DEADLINE);
        e->edx |= CPUID1_EDX_APIC; /* popek's local APIC (src/devices) */
        break;
    case 4:
        /* Deterministic cache parameters: one core, one thread per cache. */
        e->eax &= 0x00003fffu;
        break;
    case 0xb:
    case 0x1f:
        /* Extended topology: x2APIC id 0, a single thread and core. */
        e->edx = 0;
        if (e->index == 0 || e->index == 1)
            e->ebx = e->ebx ? 1 : 0;
        break;
    case KVM_CPUID_FEATURES:
        /* No kvmclock, async PF, PV EOI...: a plain PC. */
        e->eax = 0;
        e->edx = 0;
        break;
    default:
        break;
    }
}

int kvm_setup_cpuid(struct kvm_engine *k)
{
    struct kvm_cpuid2 *c = get_supported(k->sys_fd);
    if (!c)
        return -1;
    for (unsigned i = 0; i < c->nent; i++)
        adjust_entry(&c->entries[i]);
    int r = ioctl(k->vcpu_fd, KVM_SET_CPUID2, c);
    int err = errno;
    free(c);
    if (r < 0)
        return fail("KVM_SET_CPUID2: %s", strerror(err));
    return 0;
}
