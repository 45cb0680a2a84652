/* msr_cpuid.c - the interpreter's CPU identity and model-specific
 * registers: CPUID (a GenuineIntel family 6 part with FPU TSC CX8 CMOV PSE
 * PGE SEP MSR FXSR, no SSE/PAE/APIC, brand "popek interp"), rdmsr/wrmsr
 * for the MSRs such a CPU has, and the TSC (1 GHz, from the host clock). */
#include <string.h>

#include "../../core/machine.h"
#include "../../core/util.h"
#include "../../pv/pv.h"
#include "sys.h"

#define CPUID_MAX_BASIC 2u
#define CPUID_MAX_EXT 0x80000004u
/* family 6, model 5, stepping 2 (a Pentium II class part: no SSE) */
#define CPUID_SIGNATURE 0x00000652u
#define FEAT_EDX ((1u << 0) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8) | \
                  (1u << 11) | (1u << 13) | (1u << 15) | (1u << 24))
/* FPU PSE TSC MSR CX8 SEP PGE CMOV FXSR */

static void put_str(uint32_t *r, const char *s)
{
    memcpy(r, s, 4);
}

void cpu_cpuid(struct interp_cpu *c)
{
    uint32_t leaf = c->r[R_EAX];
    uint32_t a = 0, b = 0, cc = 0, d = 0;
    uint32_t hv[4];
    if (pv_cpuid(c->m, leaf, hv)) { /* hypervisor leaves: src/pv */
        c->r[R_EAX] = hv[0];
        c->r[R_EBX] = hv[1];
        c->r[R_ECX] = hv[2];
        c->r[R_EDX] = hv[3];
        return;
    }
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
            if (pv_hypervisor_bit(c->m))
                cc |= 1u << 31;
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
        if (machine_msr(c->m, msr, val, false)) /* a device serves it */
            return true;
        log_msr(c, "rdmsr", msr);
        return false;
    }
}

bool cpu_wrmsr(struct interp_cpu *c, uint32_t msr, uint64_t val)
{
    switch (msr) {
    case MSR_TSC: c->tsc_offset = val - clock_ns(); return true;
    case MSR_BIOS_UPDT_TRIG:
    case MSR_BIOS_SIGN_ID:
    case MSR_DEBUGCTL:
        return true;
    case MSR_SYSENTER_CS: c->sysenter_cs = val & 0xffff; return true;
    case MSR_SYSENTER_ESP: c->sysenter_esp = (uint32_t)val; return true;
    case MSR_SYSENTER_EIP: c->sysenter_eip = (uint32_t)val; return true;
    case MSR_MISC_ENABLE: c->misc_enable = val; return true;
    default:
        if (machine_msr(c->m, msr, &val, true)) /* a device serves it */
            return true;
        log_msr(c, "wrmsr", msr);
        return false;
    }
}
