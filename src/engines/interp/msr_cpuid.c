/* msr_cpuid.c - the interpreter's CPU identity and model-specific
 * registers: CPUID (a GenuineIntel family 6 part with FPU TSC CX8 CMOV PSE
 * PGE SEP MSR FXSR, APIC and TSC-deadline when the machine has a local
 * APIC, no SSE/PAE, brand "popek interp"),
 * rdmsr/wrmsr for the MSRs such a CPU has (those of devices, such as the
 * local APIC's, through machine_msr), and the TSC (1 GHz, from the host
 * clock). */
#include <string.h>

#include "../../core/machine.h"
#include "../../core/util.h"
#include "sys.h"

#define CPUID_MAX_BASIC 2u
#define CPUID_MAX_EXT 0x80000004u
/* family 6, model 5, stepping 2 (a Pentium II class part: no SSE) */
#define CPUID_SIGNATURE 0x00000652u
#define FEAT_EDX ((1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | \
                  (1u << 11) | (1u << 13) | (1u << 15) | (1u << 24))
/* FPU PSE TSC MSR CX8 SEP PGE CMOV FXSR */
#define FEAT_EDX_APIC (1u << 9)
#define FEAT_ECX_TSC_DEADLINE (1u << 24)

static void put_str(uint32_t *r, const char *s)
{
    memcpy(r, s, 4);
}

/* Does the machine have a local APIC (a device serves IA32_APIC_BASE)? */
static bool have_apic(struct interp_cpu *c)
{
    uint64_t v;
    return machine_msr(c->m, 0x1b, &v, false);
}

void cpu_cpuid(struct interp_cpu *c)
{
    uint32_t leaf = c->r[R_EAX];
    uint32_t a = 0, b = 0, cc = 0, d = 0;
    if (leaf >= 0x80000000u && leaf <= CPUID_MAX_EXT) {
        static const char brand[48] = "popek interp";
        switch (leaf) {
        case 0x80000000u:
            a = CPUID_MAX_EXT;
            break;
        case 0x80000001u:
            break;
        default: {
            const char *p = brand + 16 * (leaf - 0x80000002u);
            memcpy(&a, p, 4);
            memcpy(&b, p + 4, 4);
            memcpy(&cc, p + 8, 4);
            memcpy(&d, p + 12, 4);
        }
        }
    } else {
        if (leaf > CPUID_MAX_BASIC)
            leaf = CPUID_MAX_BASIC; /* as Intel: the highest basic leaf */
        switch (leaf) {
        case 0:
            a = CPUID_MAX_BASIC;
            put_str(&b, "Genu");
            put_str(&d, "ineI");
            put_str(&cc, "ntel");
            break;
        case 1:
            a = CPUID_SIGNATURE;
            d = FEAT_EDX;
            if (have_apic(c)) {
                d |= FEAT_EDX_APIC;
                cc |= FEAT_ECX_TSC_DEADLINE;
            }
            break;
        default: /* 2: one iteration, no cache descriptors */
            a = 0x00000001u;
            break;
        }
    }
    c->r[R_EAX] = a;
    c->r[R_EBX] = b;
    c->r[R_ECX] = cc;
    c->r[R_EDX] = d;
}

uint64_t cpu_rdtsc(struct interp_cpu *c)
{
    return clock_ns() + c->tsc_offset;
}

enum {
    MSR_TSC = 0x10, MSR_PLATFORM_ID = 0x17, MSR_EBL_CR_POWERON = 0x2a,
    MSR_BIOS_UPDT_TRIG = 0x79, MSR_BIOS_SIGN_ID = 0x8b,
    MSR_BBL_CR_CTL3 = 0x11e, MSR_SYSENTER_CS = 0x174,
    MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176,
    MSR_MISC_ENABLE = 0x1a0, MSR_DEBUGCTL = 0x1d9,
};

static void log_msr(struct interp_cpu *c, const char *what, uint32_t msr)
{
    static uint32_t seen[16];
    static unsigned nseen;
    for (unsigned k = 0; k < nseen; k++)
        if (seen[k] == msr)
            return;
    if (nseen < 16)
        seen[nseen++] = msr;
    log_once(c, LOG_NKEYS, "%s of unknown MSR %#x: #GP", what, msr);
}

bool cpu_rdmsr(struct interp_cpu *c, uint32_t msr, uint64_t *val)
{
    switch (msr) {
    case MSR_TSC: *val = cpu_rdtsc(c); return true;
    case MSR_PLATFORM_ID:
    case MSR_EBL_CR_POWERON:
    case MSR_BIOS_SIGN_ID:
    case MSR_BBL_CR_CTL3:
    case MSR_DEBUGCTL:
        *val = 0;
        return true;
    case MSR_SYSENTER_CS: *val = c->sysenter_cs; return true;
    case MSR_SYSENTER_ESP: *val = c->sysenter_esp; return true;
    case MSR_SYSENTER_EIP: *val = c->sysenter_eip; return true;
    case MSR_MISC_ENABLE: *val = c->misc_enable; return true;
    default:
        if (machine_msr(c->m, msr, val, false)) /* devices: APIC base... */
            return true;
        log_msr(c, "rdmsr", msr);
        return false;
    }
}

bool cpu_wrmsr(struct interp_cpu *c, uint32_t msr, uint64_t val)
{
    switch (msr) {
    case MSR_TSC:
        c->tsc_offset = val - clock_ns();
        if (c->m)
            c->m->tsc_offset = c->tsc_offset; /* for the TSC-deadline timer */
        return true;
    case MSR_BIOS_UPDT_TRIG:
    case MSR_BIOS_SIGN_ID:
    case MSR_DEBUGCTL:
        return true;
    case MSR_SYSENTER_CS: c->sysenter_cs = val & 0xffff; return true;
    case MSR_SYSENTER_ESP: c->sysenter_esp = (uint32_t)val; return true;
    case MSR_SYSENTER_EIP: c->sysenter_eip = (uint32_t)val; return true;
    case MSR_MISC_ENABLE: c->misc_enable = val; return true;
    default:
        if (machine_msr(c->m, msr, &val, true)) {
            c->check_irq = true; /* it may have raised an interrupt */
            return true;
        }
        log_msr(c, "wrmsr", msr);
        return false;
    }
}
