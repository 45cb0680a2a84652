/* exec_x87.c - the x87 FPU of the interpreter (D8-DF), FWAIT (9B) and
 * FXSAVE/FXRSTOR (0F AE /0 /1).  The guest's FPU state is the FXSAVE image
 * in c->fpu.  Arithmetic, loads, stores, compares and the other data
 * instructions run on the host FPU: a small generated stub saves the host
 * FPU, FXRSTORs the guest image, executes the same x87 instruction (its
 * memory operand rewritten to a host buffer at [rdi]), FXSAVEs the image
 * back and restores the host FPU.  The control instructions (FNINIT FNCLEX
 * FLDCW FNSTCW FNSTSW FNSTENV FLDENV FNSAVE FRSTOR) are done in C on the
 * image.  Exceptions: an unmasked exception pending in the guest FSW (ES)
 * raises #MF at the next waiting x87 instruction (also with CR0.NE=0: no
 * FERR#/IRQ13 emulation), so the host itself never runs with a pending
 * exception and never gets SIGFPE.  CR0.EM or CR0.TS give #NM.
 * Waiting instructions (all but FNINIT FNCLEX FNSTSW FNSTCW FNSTENV FNSAVE)
 * check for a pending exception first.
 * Only the protected-mode FNSTENV/FNSAVE layouts (16- and 32-bit) exist;
 * real-mode and virtual-8086 code gets them too. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS */
#endif
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "exec.h"

/* FXSAVE image offsets */
enum { FX_FCW = 0, FX_FSW = 2, FX_FTW = 4, FX_FOP = 6, FX_FIP = 8,
       FX_FCS = 12, FX_FDP = 16, FX_FDS = 20, FX_MXCSR = 24,
       FX_MXCSR_MASK = 28, FX_ST = 32 };

#define FSW_ES 0x0080u
#define FSW_B 0x8000u
#define FSW_TOP(sw) (((sw) >> 11) & 7)

static uint16_t fx16(const struct interp_cpu *c, int off)
{
    uint16_t v;
    memcpy(&v, c->fpu.fx + off, 2);
    return v;
}
static void fx16_set(struct interp_cpu *c, int off, uint16_t v)
{
    memcpy(c->fpu.fx + off, &v, 2);
}
static uint32_t fx32(const struct interp_cpu *c, int off)
{
    uint32_t v;
    memcpy(&v, c->fpu.fx + off, 4);
    return v;
}
static void fx32_set(struct interp_cpu *c, int off, uint32_t v)
{
    memcpy(c->fpu.fx + off, &v, 4);
}

/* ---- the host stubs ---- */
/* Runs one x87 instruction on the guest image with the guest's arithmetic
 * flags loaded (FCMOVcc reads them); returns the host RFLAGS after it
 * (FCOMI and friends write them). */
typedef uint64_t (*x87_stub)(void *mem, void *guest_fx, void *host_fx,
                             uint64_t flags);
#define STUB_SIZE 32
#define NSTUBS (8 * 256)
static uint8_t *stub_code;
static uint32_t host_mxcsr_mask = 0xffbf;
static pthread_once_t stub_once = PTHREAD_ONCE_INIT;

static void stubs_build(void)
{
    _Alignas(16) uint8_t fx[512];
    memset(fx, 0, sizeof(fx));
    __asm__ volatile("fxsave %0" : "=m"(fx));
    uint32_t mask;
    memcpy(&mask, fx + FX_MXCSR_MASK, 4);
    if (mask)
        host_mxcsr_mask = mask;
    void *p = mmap(NULL, NSTUBS * STUB_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    uint8_t *code = p;
    for (unsigned k = 0; k < NSTUBS; k++) {
        uint8_t *s = code + k * STUB_SIZE, *q = s;
        static const uint8_t pro[] = { 0x0f, 0xae, 0x02,   /* fxsave [rdx] */
                                       0x0f, 0xae, 0x0e,   /* fxrstor [rsi] */
                                       0x51, 0x9d };       /* push rcx; popf */
        static const uint8_t epi[] = { 0x9c, 0x58,         /* pushf; pop rax */
                                       0x0f, 0xae, 0x06,   /* fxsave [rsi] */
                                       0x0f, 0xae, 0x0a,   /* fxrstor [rdx] */
                                       0xc3 };
        memcpy(q, pro, sizeof(pro));
        q += sizeof(pro);
        *q++ = (uint8_t)(0xd8 + (k >> 8));
        *q++ = (uint8_t)(k & 0xff);   /* key: modrm (mem forms: mod 0, rm 7) */
        memcpy(q, epi, sizeof(epi));
    }
    if (mprotect(p, NSTUBS * STUB_SIZE, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, NSTUBS * STUB_SIZE);
        return;
    }
    stub_code = code;
}

static uint32_t host_run(struct interp_cpu *c, unsigned opc,
                         uint8_t modrm_key, void *mem)
{
    _Alignas(16) static __thread uint8_t host_fx[512];
    pthread_once(&stub_once, stubs_build);
    if (!stub_code)
        cpu_fault(c, EXC_UD);
    x87_stub f;
    void *p = stub_code + (opc * 256 + modrm_key) * STUB_SIZE;
    memcpy(&f, &p, sizeof(f));
    /* only the status flags: DF stays clear, IF/TF/AC are not ours */
    uint64_t in = (c->eflags & (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF |
                                FLAG_SF | FLAG_OF)) | 0x2;
    return (uint32_t)f(mem, c->fpu.fx, host_fx, in);
}

/* ---- tag word conversion ---- */
static unsigned tag_of(const uint8_t *reg)
{
    uint16_t exp;
    uint64_t mant;
    memcpy(&mant, reg, 8);
    memcpy(&exp, reg + 8, 2);
    exp &= 0x7fff;
    if (exp == 0x7fff)
        return 2;
    if (exp == 0)
        return mant == 0 ? 1 : 2;
    return (mant >> 63) ? 0 : 2;
}

static uint16_t full_tag_word(const struct interp_cpu *c)
{
    unsigned top = FSW_TOP(fx16(c, FX_FSW));
    uint8_t ab = c->fpu.fx[FX_FTW];
    uint16_t tw = 0;
    for (unsigned p = 0; p < 8; p++) {
        unsigned t = 3;
        if (ab & (1u << p))
            t = tag_of(c->fpu.fx + FX_ST + 16 * ((p - top) & 7));
        tw |= (uint16_t)(t << (2 * p));
    }
    return tw;
}

static uint8_t abridged_tag(uint16_t tw)
{
    uint8_t ab = 0;
    for (unsigned p = 0; p < 8; p++)
        if (((tw >> (2 * p)) & 3) != 3)
            ab |= (uint8_t)(1u << p);
    return ab;
}

/* ES and B follow the unmasked exception flags. */
static void fsw_update_es(struct interp_cpu *c)
{
    uint16_t sw = fx16(c, FX_FSW), cw = fx16(c, FX_FCW);
    if (sw & ~cw & 0x3f)
        sw |= FSW_ES | FSW_B;
    else
        sw &= (uint16_t)~(FSW_ES | FSW_B);
    fx16_set(c, FX_FSW, sw);
}

static void fninit(struct interp_cpu *c)
{
    fx16_set(c, FX_FCW, 0x037f);
    fx16_set(c, FX_FSW, 0);
    c->fpu.fx[FX_FTW] = 0;
    fx16_set(c, FX_FOP, 0);
    fx32_set(c, FX_FIP, 0);
    fx32_set(c, FX_FCS, 0);
    fx32_set(c, FX_FDP, 0);
    fx32_set(c, FX_FDS, 0);
}

void fpu_reset(struct interp_cpu *c)
{
    memset(c->fpu.fx, 0, sizeof(c->fpu.fx));
    fninit(c);
    fx32_set(c, FX_MXCSR, 0x1f80);
    pthread_once(&stub_once, stubs_build);
    fx32_set(c, FX_MXCSR_MASK, host_mxcsr_mask);
}

/* ---- environment / state images in guest memory ---- */
static void put16(uint8_t *b, uint16_t v) { memcpy(b, &v, 2); }
static void put32(uint8_t *b, uint32_t v) { memcpy(b, &v, 4); }
static uint16_t get16(const uint8_t *b) { uint16_t v; memcpy(&v, b, 2); return v; }
static uint32_t get32(const uint8_t *b) { uint32_t v; memcpy(&v, b, 4); return v; }

static void write_bytes(struct interp_cpu *c, int seg, uint32_t off,
                        const uint8_t *b, uint32_t n, int asz)
{
    uint32_t m = asz == 2 ? 0xffff : 0xffffffffu;
    mem_check_write(c, seg, off, n);
    uint32_t k = 0;
    for (; k + 4 <= n; k += 4)
        mem_write(c, seg, (off + k) & m, 4, get32(b + k));
    for (; k < n; k++)
        mem_write(c, seg, (off + k) & m, 1, b[k]);
}

static void read_bytes(struct interp_cpu *c, int seg, uint32_t off,
                       uint8_t *b, uint32_t n, int asz)
{
    uint32_t m = asz == 2 ? 0xffff : 0xffffffffu;
    uint32_t k = 0;
    for (; k + 4 <= n; k += 4)
        put32(b + k, mem_read(c, seg, (off + k) & m, 4));
    for (; k < n; k++)
        b[k] = (uint8_t)mem_read(c, seg, (off + k) & m, 1);
}


/* Build the environment (14 or 28 bytes) into b; returns its size. */
static uint32_t env_store(const struct interp_cpu *c, uint8_t *b, int opsize)
{
    uint16_t fop = fx16(c, FX_FOP) & 0x7ff;
    if (opsize == 2) {
        memset(b, 0, 14);
        put16(b + 0, fx16(c, FX_FCW));
        put16(b + 2, fx16(c, FX_FSW));
        put16(b + 4, full_tag_word(c));
        put16(b + 6, (uint16_t)fx32(c, FX_FIP));
        put16(b + 8, fx16(c, FX_FCS));
        put16(b + 10, (uint16_t)fx32(c, FX_FDP));
        put16(b + 12, fx16(c, FX_FDS));
        return 14;
    }
    memset(b, 0, 28);
    put32(b + 0, 0xffff0000u | fx16(c, FX_FCW));
    put32(b + 4, 0xffff0000u | fx16(c, FX_FSW));
    put32(b + 8, 0xffff0000u | full_tag_word(c));
    put32(b + 12, fx32(c, FX_FIP));
    put32(b + 16, fx16(c, FX_FCS) | ((uint32_t)fop << 16));
    put32(b + 20, fx32(c, FX_FDP));
    put32(b + 24, 0xffff0000u | fx16(c, FX_FDS));
    return 28;
}

/* Load an environment.  The tag word is applied after the registers are
 * in place (the abridged form only keeps empty/non-empty). */
static uint32_t env_load(struct interp_cpu *c, const uint8_t *b, int opsize)
{
    uint16_t tw;
    if (opsize == 2) {
        fx16_set(c, FX_FCW, get16(b + 0));
        fx16_set(c, FX_FSW, get16(b + 2));
        tw = get16(b + 4);
        fx32_set(c, FX_FIP, get16(b + 6));
        fx16_set(c, FX_FCS, get16(b + 8));
        fx16_set(c, FX_FOP, 0);
        fx32_set(c, FX_FDP, get16(b + 10));
        fx16_set(c, FX_FDS, get16(b + 12));
    } else {
        fx16_set(c, FX_FCW, get16(b + 0));
        fx16_set(c, FX_FSW, get16(b + 4));
        tw = get16(b + 8);
        fx32_set(c, FX_FIP, get32(b + 12));
        fx16_set(c, FX_FCS, get16(b + 16));
        fx16_set(c, FX_FOP, get16(b + 18) & 0x7ff);
        fx32_set(c, FX_FDP, get32(b + 20));
        fx16_set(c, FX_FDS, get16(b + 24));
    }
    c->fpu.fx[FX_FTW] = abridged_tag(tw);
    fsw_update_es(c);
    return opsize == 2 ? 14 : 28;
}

static void fnstenv(struct interp_cpu *c, const struct insn *i, bool save)
{
    uint8_t b[108];
    uint32_t ea = insn_ea(c, i);
    uint32_t n = env_store(c, b, i->opsize);
    if (save)
        for (int r = 0; r < 8; r++)
            memcpy(b + n + 10 * r, c->fpu.fx + FX_ST + 16 * r, 10);
    write_bytes(c, i->ea_seg, ea, b, save ? n + 80 : n, i->addrsize);
    if (save) {
        fninit(c);
    } else {
        fx16_set(c, FX_FCW, fx16(c, FX_FCW) | 0x3f);
        fsw_update_es(c);
    }
}

static void fldenv(struct interp_cpu *c, const struct insn *i, bool rstor)
{
    uint8_t b[108];
    uint32_t n = i->opsize == 2 ? 14 : 28;
    uint32_t ea = insn_ea(c, i);
    read_bytes(c, i->ea_seg, ea, b, rstor ? n + 80 : n, i->addrsize);
    if (rstor)
        for (int r = 0; r < 8; r++) {
            memset(c->fpu.fx + FX_ST + 16 * r, 0, 16);
            memcpy(c->fpu.fx + FX_ST + 16 * r, b + n + 10 * r, 10);
        }
    env_load(c, b, i->opsize);
}

/* ---- the instruction table ---- */
enum { MEM_NONE, MEM_LOAD, MEM_STORE, MEM_C, MEM_UD };
struct memform { uint8_t kind, size; };

/* [opcode & 7][reg] for mod != 3.  FISTTP (DB/DD/DF /1) is SSE3, which
 * CPUID does not report: #UD, as on the P6 we claim to be. */
static const struct memform mem_forms[8][8] = {
    /* D8 */ { {MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},
               {MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4} },
    /* D9 */ { {MEM_LOAD,4},{MEM_UD,0},{MEM_STORE,4},{MEM_STORE,4},
               {MEM_C,0},{MEM_C,0},{MEM_C,0},{MEM_C,0} },
    /* DA */ { {MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},
               {MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4},{MEM_LOAD,4} },
    /* DB */ { {MEM_LOAD,4},{MEM_UD,0},{MEM_STORE,4},{MEM_STORE,4},
               {MEM_UD,0},{MEM_LOAD,10},{MEM_UD,0},{MEM_STORE,10} },
    /* DC */ { {MEM_LOAD,8},{MEM_LOAD,8},{MEM_LOAD,8},{MEM_LOAD,8},
               {MEM_LOAD,8},{MEM_LOAD,8},{MEM_LOAD,8},{MEM_LOAD,8} },
    /* DD */ { {MEM_LOAD,8},{MEM_UD,0},{MEM_STORE,8},{MEM_STORE,8},
               {MEM_C,0},{MEM_UD,0},{MEM_C,0},{MEM_C,0} },
    /* DE */ { {MEM_LOAD,2},{MEM_LOAD,2},{MEM_LOAD,2},{MEM_LOAD,2},
               {MEM_LOAD,2},{MEM_LOAD,2},{MEM_LOAD,2},{MEM_LOAD,2} },
    /* DF */ { {MEM_LOAD,2},{MEM_UD,0},{MEM_STORE,2},{MEM_STORE,2},
               {MEM_LOAD,10},{MEM_LOAD,8},{MEM_STORE,10},{MEM_STORE,8} },
};

/* Register forms (mod == 3) the host may run: one bit per modrm C0-FF. */
static bool reg_form_valid(unsigned opc, unsigned m)
{
    switch (opc) {
    case 0: case 4: return true;
    case 1: return m < 0xd1 || (m >= 0xd8 && m <= 0xe1) || m == 0xe4 ||
                   m == 0xe5 || (m >= 0xe8 && m <= 0xee) || m >= 0xf0;
    case 2: return m < 0xe0 || m == 0xe9;
    case 3: return m < 0xe0 || (m >= 0xe8 && m < 0xf8);
    case 5: return m < 0xf0;
    case 6: return m < 0xd8 || m == 0xd9 || m >= 0xe0;
    default: return m < 0xe0 || (m >= 0xe8 && m < 0xf8);
    }
}

/* The undocumented register-form aliases (fstp1, fcom2, fcomp3, fxch4,
 * fcomp5, fxch7, fstp8, fstp9) run as their documented twins, which every
 * host implements. */
static void alias_to_documented(unsigned *opc, unsigned *m)
{
    unsigned r = *m & 7, row = *m & 0xf8;
    if (*opc == 1 && row == 0xd8)
        *opc = 5, *m = 0xd8 | r;               /* fstp1 -> fstp */
    else if (*opc == 4 && (row == 0xd0 || row == 0xd8))
        *opc = 0;                              /* fcom2/fcomp3 */
    else if (*opc == 5 && row == 0xc8)
        *opc = 1;                              /* fxch4 -> fxch */
    else if (*opc == 6 && row == 0xd0)
        *opc = 0, *m = 0xd8 | r;               /* fcomp5 -> fcomp */
    else if (*opc == 7 && row == 0xc8)
        *opc = 1;                              /* fxch7 -> fxch */
    else if (*opc == 7 && (row == 0xd0 || row == 0xd8))
        *opc = 5, *m = 0xd8 | r;               /* fstp8/9 -> fstp */
}

static void check_pending(struct interp_cpu *c)
{
    if (fx16(c, FX_FSW) & FSW_ES)
        cpu_fault(c, EXC_MF);
}

static void set_last_insn(struct interp_cpu *c, const struct insn *i,
                          unsigned opc, bool mem, uint32_t ea)
{
    fx16_set(c, FX_FOP, (uint16_t)((opc << 8) | i->modrm));
    fx32_set(c, FX_FIP, c->insn_eip);
    fx32_set(c, FX_FCS, c->seg[SEG_CS].sel);
    if (mem) {
        fx32_set(c, FX_FDP, ea);
        fx32_set(c, FX_FDS, c->seg[i->ea_seg].sel);
    }
}

/* The control instructions done in C (mod != 3 forms and DB E0-E4, DF E0).
 * Returns false if i is not one of them. */
static bool x87_control(struct interp_cpu *c, const struct insn *i,
                        unsigned opc)
{
    bool mem = insn_is_mem(i);
    if (mem && mem_forms[opc][i->reg].kind != MEM_C)
        return false;
    if (mem) {
        uint32_t ea = insn_ea(c, i);
        switch (opc * 8 + i->reg) {
        case 1 * 8 + 4: check_pending(c); fldenv(c, i, false); break;
        case 1 * 8 + 5: { /* fldcw */
            check_pending(c);
            uint16_t cw = (uint16_t)mem_read(c, i->ea_seg, ea, 2);
            fx16_set(c, FX_FCW, cw);
            fsw_update_es(c);
            break;
        }
        case 1 * 8 + 6: fnstenv(c, i, false); break;
        case 1 * 8 + 7: mem_write(c, i->ea_seg, ea, 2, fx16(c, FX_FCW)); break;
        case 5 * 8 + 4: check_pending(c); fldenv(c, i, true); break;
        case 5 * 8 + 6: fnstenv(c, i, true); break;
        default: /* DD /7 fnstsw m16 */
            mem_write(c, i->ea_seg, ea, 2, fx16(c, FX_FSW));
            break;
        }
        return true;
    }
    if (opc == 3 && i->modrm >= 0xe0 && i->modrm <= 0xe4) {
        if (i->modrm == 0xe2) /* fnclex */
            fx16_set(c, FX_FSW, fx16(c, FX_FSW) & 0x7f00);
        else if (i->modrm == 0xe3)
            fninit(c);
        /* E0 feni, E1 fdisi, E4 fsetpm: no-ops since the 387 */
        return true;
    }
    if (opc == 7 && i->modrm == 0xe0) { /* fnstsw ax */
        reg_set(c, R_EAX, 2, fx16(c, FX_FSW));
        return true;
    }
    return false;
}

/* D8-DF */
void ex_x87(struct interp_cpu *c, const struct insn *i)
{
    unsigned opc = i->op & 7;
    if (c->cr0 & (CR0_EM | CR0_TS))
        cpu_fault(c, EXC_NM);
    if (x87_control(c, i, opc))
        return;
    check_pending(c);
    _Alignas(16) uint8_t buf[16];
    memset(buf, 0, sizeof(buf));
    if (!insn_is_mem(i)) {
        if (!reg_form_valid(opc, i->modrm))
            cpu_undefined(c, i);
        unsigned hop = opc, hm = i->modrm;
        alias_to_documented(&hop, &hm);
        uint32_t fl = host_run(c, hop, (uint8_t)hm, buf);
        /* fcomi fucomi fcomip fucomip: ZF PF CF, and OF SF AF = 0 */
        if ((hop == 3 || hop == 7) && hm >= 0xe8 && hm < 0xf8)
            flags_set(c, fl & (FLAG_ZF | FLAG_PF | FLAG_CF),
                      FLAG_ZF | FLAG_PF | FLAG_CF | FLAG_OF | FLAG_SF | FLAG_AF);
        set_last_insn(c, i, opc, false, 0);
        return;
    }
    struct memform f = mem_forms[opc][i->reg];
    if (f.kind == MEM_UD)
        cpu_undefined(c, i);
    uint32_t ea = insn_ea(c, i);
    uint32_t ea2 = addr_wrap(i, ea + 8);
    if (f.kind == MEM_LOAD) {
        if (f.size == 10) {
            uint64_t lo = mem_read64(c, i->ea_seg, ea);
            uint32_t hi = mem_read(c, i->ea_seg, ea2, 2);
            memcpy(buf, &lo, 8);
            memcpy(buf + 8, &hi, 2);
        } else if (f.size == 8) {
            uint64_t v = mem_read64(c, i->ea_seg, ea);
            memcpy(buf, &v, 8);
        } else {
            uint32_t v = mem_read(c, i->ea_seg, ea, f.size);
            memcpy(buf, &v, 4);
        }
    } else {
        mem_check_write(c, i->ea_seg, ea, f.size);
    }
    host_run(c, opc, (uint8_t)((i->reg << 3) | 7), buf);
    if (f.kind == MEM_STORE) {
        if (f.size >= 8) {
            uint64_t v;
            memcpy(&v, buf, 8);
            mem_write64(c, i->ea_seg, ea, v);
            if (f.size == 10)
                mem_write(c, i->ea_seg, ea2, 2, get16(buf + 8));
        } else {
            uint32_t v;
            memcpy(&v, buf, 4);
            mem_write(c, i->ea_seg, ea, f.size, v);
        }
    }
    set_last_insn(c, i, opc, true, ea);
}

/* 9B: fwait */
void ex_fwait(struct interp_cpu *c, const struct insn *i)
{
    (void)i;
    if ((c->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
        cpu_fault(c, EXC_NM);
    check_pending(c);
}

/* 0F AE /0 fxsave, /1 fxrstor (memory forms); lfence, mfence, sfence
 * (register forms /5 /6 /7: one CPU, in order: nothing to wait for;
 * Linux runs mfence in TSC-deadline mode); the rest is #UD here. */
void ex_fxsave_grp(struct interp_cpu *c, const struct insn *i)
{
    if (!insn_is_mem(i) && i->reg >= 5)
        return;
    if (!insn_is_mem(i) || i->reg > 1)
        cpu_undefined(c, i);
    if (c->cr0 & (CR0_EM | CR0_TS))
        cpu_fault(c, EXC_NM);
    uint32_t ea = insn_ea(c, i);
    if (ea & 15)
        cpu_fault_err(c, EXC_GP, 0);
    if (i->reg == 0) {
        write_bytes(c, i->ea_seg, ea, c->fpu.fx, 512, i->addrsize);
        return;
    }
    _Alignas(16) uint8_t b[512];
    read_bytes(c, i->ea_seg, ea, b, 512, i->addrsize);
    if (get32(b + FX_MXCSR) & ~host_mxcsr_mask)
        cpu_fault_err(c, EXC_GP, 0);
    uint32_t mask = fx32(c, FX_MXCSR_MASK);
    memcpy(c->fpu.fx, b, 512);
    fx32_set(c, FX_MXCSR_MASK, mask);
    fsw_update_es(c);
}
