/* msr_cpuid.c - the interpreter's CPU identity and model-specific
 * registers.  CPUID describes a GenuineIntel family 6 part with exactly
 * the features the interpreter implements (and bt, which runs on it):
 * FPU PSE TSC MSR CX8 SEP PGE CMOV PAT CLFSH FXSR SSE SSE2 SSE3 SSSE3 (the
 * SSE levels the host has: exec_sse.c runs host instructions), no MMX, SMEP, UMIP, SMAP (interp only: bt's kernel view maps
 * user pages), no PAE (so no NX), cache leaves 2 and 4, an invariant
 * TSC whose rate (1 GHz of host time) leaves 0x15/0x16 state, RDTSCP, and
 * a brand string naming the engine ("popek interp" or "popek bt").  The
 * local APIC bits (CPUID.1:EDX.APIC, ECX.TSC-deadline) are reported only
 * when the machine serves the APIC MSRs (machine_msr_hook below).
 * rdmsr/wrmsr for the MSRs such a CPU has: TSC, SYSENTER_*, MISC_ENABLE,
 * PAT, EFER (SCE only), TSC_AUX, and a few read-as-zero identification
 * MSRs; anything else is #GP. */
#include <string.h>

#include "../../core/machine.h"
#include "../../core/util.h"
#include "../../pv/pv.h"
#include "sys.h"

#define CPUID_MAX_BASIC 0x16u
#define CPUID_MAX_EXT 0x80000008u
/* family 6, model 0x0f, stepping 11 (a Core 2 class part) */
#define CPUID_SIGNATURE 0x000006fbu

/* The TSC: 1 GHz (cpu_rdtsc counts host nanoseconds).  Leaf 0x15 states
 * it as crystal * EBX / EAX with a 1 GHz crystal, the rate the local APIC
 * timer should count at (Linux takes lapic_timer_period from it). */
#define TSC_HZ 1000000000u
#define CRYSTAL_HZ 1000000000u

enum {
    MSR_TSC = 0x10, MSR_PLATFORM_ID = 0x17, MSR_APIC_BASE = 0x1b,
    MSR_EBL_CR_POWERON = 0x2a, MSR_BIOS_UPDT_TRIG = 0x79,
    MSR_BIOS_SIGN_ID = 0x8b, MSR_BBL_CR_CTL3 = 0x11e,
    MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175,
    MSR_SYSENTER_EIP = 0x176, MSR_MISC_ENABLE = 0x1a0,
    MSR_DEBUGCTL = 0x1d9, MSR_PAT = 0x277, MSR_TSC_DEADLINE = 0x6e0,
    MSR_EFER = 0xc0000080u, MSR_TSC_AUX = 0xc0000103u,
};

#define PAT_RESET 0x0007040600070406ull

/* ---- the machine's MSRs (local APIC, kvmclock: devices on m->msr) ---- */
static bool machine_msr_hook(struct interp_cpu *c, uint32_t idx,
                             uint64_t *val, bool write)
{
    return c->m && machine_msr(c->m, idx, val, write);
}

/* Does the machine provide a local APIC (it answers IA32_APIC_BASE)? */
static bool have_apic(struct interp_cpu *c)
{
    uint64_t v;
    return c->m && machine_msr_hook(c, MSR_APIC_BASE, &v, false);
}

static bool have_tsc_deadline(struct interp_cpu *c)
{
    uint64_t v;
    return have_apic(c) && machine_msr_hook(c, MSR_TSC_DEADLINE, &v, false);
}

/* ---- CPUID ---- */

#define F1D_FPU (1u << 0)
#define F1D_PSE (1u << 3)
#define F1D_TSC (1u << 4)
#define F1D_MSR (1u << 5)
#define F1D_CX8 (1u << 8)
#define F1D_APIC (1u << 9)
#define F1D_SEP (1u << 11)
#define F1D_PGE (1u << 13)
#define F1D_CMOV (1u << 15)
#define F1D_PAT (1u << 16)
#define F1D_CLFSH (1u << 19)
#define F1D_FXSR (1u << 24)
#define F1D_SSE (1u << 25)
#define F1D_SSE2 (1u << 26)
#define F1C_SSE3 (1u << 0)
#define F1C_SSSE3 (1u << 9)
#define F1C_TSC_DEADLINE (1u << 24)
#define F7B_SMEP (1u << 7)
#define F7B_SMAP (1u << 20)
#define F7C_UMIP (1u << 2)
#define X1D_RDTSCP (1u << 27)
#define X7D_INVTSC (1u << 8)

/* SSE levels: those the host runs (exec_sse.c runs host instructions). */
#define INTERP_SSE_FEATURES                                                 \
    ((sse_host_features() & 1 ? F1D_SSE : 0) |                              \
     (sse_host_features() & 2 ? F1D_SSE2 : 0))
#define INTERP_SSE3_FEATURES                                                \
    ((sse_host_features() & 4 ? F1C_SSE3 : 0) |                             \
     (sse_host_features() & 8 ? F1C_SSSE3 : 0))
#define INTERP_LEAF7_EBX(c) (F7B_SMEP | (cpu_smap_supported(c) ? F7B_SMAP : 0))
#define INTERP_LEAF7_ECX F7C_UMIP

static uint32_t feat1_edx(struct interp_cpu *c)
{
    uint32_t d = F1D_FPU | F1D_PSE | F1D_TSC | F1D_MSR | F1D_CX8 | F1D_SEP |
                 F1D_PGE | F1D_CMOV | F1D_PAT | F1D_CLFSH | F1D_FXSR |
                 INTERP_SSE_FEATURES;
    if (have_apic(c))
        d |= F1D_APIC;
    return d;
}

static uint32_t feat1_ecx(struct interp_cpu *c)
{
    uint32_t x = INTERP_SSE3_FEATURES;
    if (have_tsc_deadline(c))
        x |= F1C_TSC_DEADLINE;
    return x;
}

static void put_str(uint32_t *r, const char *s)
{
    memcpy(r, s, 4);
}

/* Leaf 4: deterministic cache parameters (subleaf n). */
static void cache_leaf4(uint32_t n, uint32_t *a, uint32_t *b, uint32_t *cc)
{
    static const struct { uint8_t type, level; uint16_t ways, sets; } k[] = {
        {1, 1, 8, 64},    /* L1 data, 32 KiB, 8-way, 64-byte lines */
        {2, 1, 8, 64},    /* L1 instruction, 32 KiB */
        {3, 2, 8, 4096},  /* L2 unified, 2 MiB, 8-way */
    };
    if (n >= sizeof(k) / sizeof(k[0]))
        return; /* type 0: no more caches */
    *a = k[n].type | (uint32_t)k[n].level << 5 | 1u << 8; /* self-init */
    *b = (uint32_t)(k[n].ways - 1) << 22 | 63u;          /* 1 partition */
    *cc = k[n].sets - 1u;
}

void cpu_cpuid(struct interp_cpu *c)
{
    uint32_t leaf = c->r[R_EAX], sub = c->r[R_ECX];
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
        switch (leaf) {
        case 0x80000000u:
            a = CPUID_MAX_EXT;
            break;
        case 0x80000001u:
            d = X1D_RDTSCP; /* no NX: 32-bit paging has no XD bit */
            break;
        case 0x80000002u:
        case 0x80000003u:
        case 0x80000004u: {
            char brand[48] = {0};
            strcpy(brand, c->bt_engine ? "popek bt" : "popek interp");
            const char *p = brand + 16 * (leaf - 0x80000002u);
            memcpy(&a, p, 4);
            memcpy(&b, p + 4, 4);
            memcpy(&cc, p + 8, 4);
            memcpy(&d, p + 12, 4);
            break;
        }
        case 0x80000006u:
            cc = 2048u << 16 | 0x6u << 12 | 64u; /* L2 2 MiB 8-way 64 B */
            break;
        case 0x80000007u:
            /* With KVM's paravirtual leaves offered, as KVM by default:
             * no invariant-TSC bit, so that Linux rates kvm-clock above
             * the TSC and takes it (it lowers kvm-clock's rating when the
             * TSC is invariant). */
            d = pv_hypervisor_bit(c->m) ? 0 : X7D_INVTSC;
            break;
        case 0x80000008u:
            a = 32u | 32u << 8; /* physical and linear address bits */
            break;
        default:
            break;
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
            b = 8u << 8 | 1u << 16; /* clflush 64 bytes, 1 logical CPU */
            cc = feat1_ecx(c);
            d = feat1_edx(c);
            if (pv_hypervisor_bit(c->m))
                cc |= 1u << 31;
            break;
        case 2:
            /* one iteration: L1D 32K 8-way (2c), L1I 32K 8-way (30), L2
             * 2M 8-way (7d), all 64-byte lines: as leaf 4 says */
            a = 0x7d302c01u;
            break;
        case 4:
            cache_leaf4(sub, &a, &b, &cc);
            break;
        case 7:
            if (sub == 0) {
                b = INTERP_LEAF7_EBX(c);
                cc = INTERP_LEAF7_ECX;
            }
            break;
        case 0x15:
            a = 1;
            b = TSC_HZ / CRYSTAL_HZ;
            cc = CRYSTAL_HZ;
            break;
        case 0x16:
            a = TSC_HZ / 1000000u; /* base MHz */
            b = TSC_HZ / 1000000u; /* max MHz */
            cc = 100;              /* bus MHz */
            break;
        default:
            break; /* 3, 5, 6, 8-0x14: nothing to report */
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

/* ---- MSRs ---- */

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

/* PAT entries: 0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-; 2, 3 and >= 8 are
 * reserved (#GP). */
static bool pat_valid(uint64_t v)
{
    for (int k = 0; k < 8; k++) {
        unsigned t = (v >> (8 * k)) & 0xff;
        if (t == 2 || t == 3 || t >= 8)
            return false;
    }
    return true;
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
    case MSR_PAT: *val = c->pat; return true;
    case MSR_EFER: *val = c->efer; return true;
    case MSR_TSC_AUX: *val = c->tsc_aux; return true;
    default:
        if (machine_msr_hook(c, msr, val, false))
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
    case MSR_PAT:
        if (!pat_valid(val))
            return false;
        c->pat = val;
        return true;
    case MSR_EFER:
        /* SCE only: no long mode, and no NX with 32-bit paging. */
        if (val & ~(uint64_t)EFER_SCE)
            return false;
        c->efer = val;
        return true;
    case MSR_TSC_AUX:
        if (val >> 32)
            return false;
        c->tsc_aux = val;
        return true;
    default:
        if (machine_msr_hook(c, msr, &val, true)) {
            c->check_irq = true; /* it may have raised an interrupt */
            return true;
        }
        log_msr(c, "wrmsr", msr);
        return false;
    }
}

void cpu_msr_reset(struct interp_cpu *c)
{
    c->pat = PAT_RESET;
    c->efer = 0;
    c->tsc_aux = 0;
}
