/* test_interp_user.c - the interpreter's user-level instructions in the
 * cases the differential tests (test_insn_diff*.c) cannot reach:
 * 16-bit address-size strings, faults in the middle of a REP string (segment
 * limit, page fault) and the restart, long strings split across steps,
 * read-modify-write instructions whose write faults (nothing may change),
 * LOCK #UD, BOUND #BR, AAM 0
 * #DE, the x87 exceptions (#MF pending, #NM), FXSAVE/FXRSTOR, the FNSTENV
 * layouts, 16-bit branch truncation, LES/LSS, MOV from a segment register,
 * far indirect JMP, and the hint NOPs.  Driven through interp_cpu_init +
 * interp_step on hand-assembled bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engines/interp/cpu.h"
#include "interp_rig.h"
#include "test.h"

/* Fresh CPU (interp_rig.h). */
static void setup(void)
{
    rig_setup();
}

/* Put code at CODE and run until EIP leaves it (or a fault); returns the
 * vector raised or -1. */
static int run(const char *bytes, size_t n)
{
    memcpy(ram + CODE, bytes, n);
    c->eip = CODE;
    for (int k = 0; k < 100000; k++) {
        int v = interp_step(c);
        if (v != -1)
            return v;
        if (c->eip == CODE + n)
            return -1;
    }
    return -3;
}
#define RUN_BYTES(s) run(s, sizeof(s) - 1)

static void test_string_addr16(void)
{
    setup();
    ram[0xfffe] = 0x11;
    ram[0xffff] = 0x22;
    ram[0x0000] = 0x33;
    ram[0x0001] = 0x44;
    c->r[R_ESI] = 0xabcdfffe;
    c->r[R_EDI] = 0x12345000;
    c->r[R_ECX] = 0x00010004;
    int v = RUN_BYTES("\x67\xf3\xa4"); /* a16 rep movsb */
    CHECKF(v == -1, "vector %d", v);
    CHECKF(c->r[R_ECX] == 0x00010000, "ecx %08x", c->r[R_ECX]);
    CHECKF(c->r[R_ESI] == 0xabcd0002, "esi %08x", c->r[R_ESI]);
    CHECKF(c->r[R_EDI] == 0x12345004, "edi %08x", c->r[R_EDI]);
    CHECK(get32(0x5000) == 0x44332211);
}

static void test_string_fault_restart(void)
{
    setup();
    c->seg[SEG_ES].limit = 0x5003; /* bytes 0x5000-0x5003 are writable */
    c->r[R_EDI] = 0x5000;
    c->r[R_ECX] = 10;
    c->r[R_EAX] = 0xab;
    int v = RUN_BYTES("\xf3\xaa"); /* rep stosb */
    CHECKF(v == EXC_GP, "vector %d", v);
    CHECKF(c->r[R_ECX] == 6 && c->r[R_EDI] == 0x5004, "ecx %u edi %x",
           c->r[R_ECX], c->r[R_EDI]);
    CHECK(get32(0x5000) == 0xabababab && ram[0x5004] == 0);
    /* fix the limit and restart the instruction */
    c->seg[SEG_ES].limit = 0xffffffff;
    c->r[R_ESP] = STACK;
    v = RUN_BYTES("\xf3\xaa");
    CHECKF(v == -1, "vector %d", v);
    CHECK(c->r[R_ECX] == 0 && c->r[R_EDI] == 0x500a);
    CHECK(ram[0x5009] == 0xab && ram[0x500a] == 0);
}

static void test_string_long(void)
{
    setup();
    c->r[R_EDI] = 0x100000;
    c->r[R_ECX] = 20000;
    c->r[R_EAX] = 0x5a5a1234;
    memcpy(ram + CODE, "\xf3\xab", 2);
    c->eip = CODE;
    int steps = 0, v = -1;
    while (c->eip != CODE + 2 && steps < 1000 && v == -1) {
        v = interp_step(c);
        steps++;
    }
    CHECKF(v == -1, "vector %d", v);
    CHECKF(steps > 1, "rep stosd of 20000 done in %d step(s)", steps);
    CHECK(c->r[R_ECX] == 0 && c->r[R_EDI] == 0x100000 + 80000);
    CHECK(get32(0x100000) == 0x5a5a1234 && get32(0x100000 + 79996) == 0x5a5a1234);
    CHECK(get32(0x100000 + 80000) == 0);
}

/* Identity paging of the first 4 MiB; 0x101000 not present, 0x102000
 * read-only (CR0.WP=1, so even ring 0 cannot write it). */
#define PD 0x30000u
#define PT 0x31000u
#define NOT_PRESENT 0x101000u
#define READ_ONLY 0x102000u
static void setup_paging(void)
{
    setup();
    for (uint32_t k = 0; k < 1024; k++)
        put32(PT + 4 * k, (k << 12) | 3);
    put32(PT + 4 * (NOT_PRESENT >> 12), 0);
    put32(PT + 4 * (READ_ONLY >> 12), READ_ONLY | 1);
    put32(PD, PT | 3);
    c->cr3 = PD;
    c->cr0 |= CR0_PG | CR0_WP;
}

static void test_string_page_fault(void)
{
    setup_paging();
    for (uint32_t k = 0; k < 16; k++)
        ram[NOT_PRESENT - 16 + k] = (uint8_t)(0xa0 + k);
    c->r[R_ESI] = NOT_PRESENT - 16;
    c->r[R_EDI] = 0x200000;
    c->r[R_ECX] = 32;
    int v = RUN_BYTES("\xf3\xa4"); /* rep movsb */
    CHECKF(v == EXC_PF, "vector %d", v);
    CHECKF(c->r[R_ECX] == 16 && c->r[R_ESI] == NOT_PRESENT &&
           c->r[R_EDI] == 0x200010, "ecx %u esi %x edi %x", c->r[R_ECX],
           c->r[R_ESI], c->r[R_EDI]);
    CHECKF(c->cr2 == NOT_PRESENT, "cr2 %x", c->cr2);
    CHECK(ram[0x20000f] == 0xaf && ram[0x200010] == 0);
    /* map the page and restart where it stopped */
    put32(PT + 4 * (NOT_PRESENT >> 12), NOT_PRESENT | 3);
    ram[NOT_PRESENT] = 0x55;
    c->r[R_ESP] = STACK;
    v = RUN_BYTES("\xf3\xa4");
    CHECKF(v == -1, "vector %d", v);
    CHECK(c->r[R_ECX] == 0 && c->r[R_EDI] == 0x200020 && ram[0x200010] == 0x55);
}

/* A read-modify-write whose write faults changes nothing: not memory, not
 * registers, not flags. */
static void test_rmw_fault_atomic(void)
{
    static const struct { const char *name, *code; size_t len; } cases[] = {
        { "add [ebx],eax", "\x01\x03", 2 },
        { "inc dword [ebx]", "\xff\x03", 2 },
        { "neg dword [ebx]", "\xf7\x1b", 2 },
        { "shl dword [ebx],1", "\xd1\x23", 2 },
        { "rcl dword [ebx],cl", "\xd3\x13", 2 },
        { "shld [ebx],ecx,4", "\x0f\xa4\x0b\x04", 4 },
        /* a masked count of 0 writes nothing but is a write access, as
         * on hardware (bt runs the host's instruction; fuzz_diff) */
        { "shl dword [ebx],0", "\xc1\x23\x00", 3 },
        { "sar byte [ebx],0x20", "\xc0\x3b\x20", 3 },
        { "shrd [ebx],ecx,0", "\x0f\xac\x0b\x00", 4 },
        { "xchg [ebx],ecx", "\x87\x0b", 2 },
        { "xadd [ebx],ecx", "\x0f\xc1\x0b", 3 },
        { "cmpxchg [ebx],ecx", "\x0f\xb1\x0b", 3 },
        { "cmpxchg8b [ebx]", "\x0f\xc7\x0b", 3 },
        { "bts [ebx],ecx", "\x0f\xab\x0b", 3 },
        { "pop dword [ebx]", "\x8f\x03", 2 },
        { "setc [ebx]", "\x0f\x92\x03", 3 },
        { "stosd", "\xab", 1 },
        { "fstp qword [ebx]", "\xdd\x1b", 2 },
    };
    for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
        setup_paging();
        put32(READ_ONLY, 0x80000001);
        put32(READ_ONLY + 4, 0x12345678);
        c->r[R_EBX] = READ_ONLY;
        c->r[R_EDI] = READ_ONLY;
        c->r[R_EAX] = 0x80000001;
        c->r[R_EDX] = 0x12345678;
        c->r[R_ECX] = 0x7fffffff;
        c->eflags = 2 | FLAG_CF | FLAG_ZF;
        put32(STACK, 0xdeadbeef);
        uint8_t fx[512];
        memcpy(fx, c->fpu.fx, sizeof(fx));
        uint32_t regs[8];
        memcpy(regs, c->r, sizeof(regs));
        /* run just this instruction and look at the state at the fault */
        memcpy(ram + CODE, cases[k].code, cases[k].len);
        c->eip = CODE;
        uint32_t esp_before = c->r[R_ESP];
        int v = interp_step(c);
        CHECKF(v == EXC_PF, "%s: vector %d", cases[k].name, v);
        CHECKF(get32(READ_ONLY) == 0x80000001 && get32(READ_ONLY + 4) == 0x12345678,
               "%s: memory changed", cases[k].name);
        for (int r = 0; r < 8; r++)
            if (r != R_ESP)
                CHECKF(c->r[r] == regs[r], "%s: reg %d changed", cases[k].name, r);
        /* the #PF frame: error code, EIP, CS, EFLAGS on the same stack */
        CHECKF(c->r[R_ESP] == esp_before - 16, "%s: esp %x", cases[k].name, c->r[R_ESP]);
        CHECKF(get32(esp_before - 4) == (2 | FLAG_CF | FLAG_ZF),
               "%s: eflags at the fault %x", cases[k].name, get32(esp_before - 4));
        CHECKF(get32(esp_before - 12) == CODE, "%s: fault eip %x", cases[k].name,
               get32(esp_before - 12));
        CHECKF(memcmp(fx, c->fpu.fx, sizeof(fx)) == 0, "%s: FPU state changed",
               cases[k].name);
    }
}

static void test_lock(void)
{
    setup();
    CHECK(RUN_BYTES("\xf0\x89\x03") == EXC_UD);      /* lock mov [ebx],eax */
    setup();
    CHECK(RUN_BYTES("\xf0\x0f\xa3\x03") == EXC_UD);  /* lock bt (no write) */
    setup();
    c->r[R_EAX] = 5;
    put32(DATA, 7);
    CHECK(RUN_BYTES("\xf0\x01\x03") == -1);          /* lock add [ebx],eax */
    CHECK(get32(DATA) == 12);
    setup();
    CHECK(RUN_BYTES("\xf0\x0f\xc7\x0b") == -1);      /* lock cmpxchg8b */
}

static void test_bound_aam(void)
{
    setup();
    put32(DATA, (uint32_t)-5);
    put32(DATA + 4, 5);
    c->r[R_EAX] = 5;
    CHECK(RUN_BYTES("\x62\x03") == -1);
    c->r[R_EAX] = (uint32_t)-5;
    CHECK(RUN_BYTES("\x62\x03") == -1);
    c->r[R_EAX] = 6;
    CHECK(RUN_BYTES("\x62\x03") == EXC_BR);
    setup();
    c->r[R_EAX] = (uint32_t)-6;
    put32(DATA, (uint32_t)-5);
    put32(DATA + 4, 5);
    CHECK(RUN_BYTES("\x62\x03") == EXC_BR);
    CHECK(RUN_BYTES("\x62\xc0") == EXC_UD);          /* register form */
    setup();
    c->r[R_EAX] = 0x1234;
    CHECK(RUN_BYTES("\xd4\x00") == EXC_DE);
    CHECK(c->r[R_EAX] == 0x1234);
}

static double get_double(uint32_t pa)
{
    double d;
    memcpy(&d, ram + pa, 8);
    return d;
}

static void test_x87_arith(void)
{
    setup();
    /* fninit; fld1; fld1; faddp; fstp qword [ebx]; fnstsw ax */
    int v = RUN_BYTES("\xdb\xe3\xd9\xe8\xd9\xe8\xde\xc1\xdd\x1b\xdf\xe0");
    CHECKF(v == -1, "vector %d", v);
    CHECKF(get_double(DATA) == 2.0, "got %g", get_double(DATA));
    CHECKF((c->r[R_EAX] & 0xffff) == 0, "fsw %04x", c->r[R_EAX] & 0xffff);
    /* fild dword [ebx+8]; fimul dword [ebx+12]; fistp dword [ebx+16] */
    put32(DATA + 8, (uint32_t)-7);
    put32(DATA + 12, 6);
    v = RUN_BYTES("\xdb\x43\x08\xda\x4b\x0c\xdb\x5b\x10");
    CHECK(v == -1 && get32(DATA + 16) == (uint32_t)-42);
    /* the last-instruction pointers are the guest's */
    uint32_t fip;
    memcpy(&fip, c->fpu.fx + 8, 4);
    CHECKF(fip == CODE + 6, "FIP %08x", fip);
    uint32_t fdp;
    memcpy(&fdp, c->fpu.fx + 16, 4);
    CHECKF(fdp == DATA + 16, "FDP %08x", fdp);
}

static void test_x87_mf_nm(void)
{
    setup();
    put16(DATA, 0x037b); /* zero-divide unmasked */
    /* fldcw [ebx]; fld1; fldz; fdivp (ZE pending, no fault yet) */
    int v = RUN_BYTES("\xd9\x2b\xd9\xe8\xd9\xee\xde\xf9");
    CHECKF(v == -1, "vector %d", v);
    uint16_t sw;
    memcpy(&sw, c->fpu.fx + 2, 2);
    CHECKF((sw & 0x8084) == 0x8084, "fsw %04x", sw);
    CHECK(RUN_BYTES("\x9b") == EXC_MF);              /* fwait */
    c->r[R_ESP] = STACK;
    CHECK(RUN_BYTES("\xd9\xe8") == EXC_MF);          /* fld1 */
    c->r[R_ESP] = STACK;
    CHECK(RUN_BYTES("\xdf\xe0") == -1);              /* fnstsw ax */
    CHECK((c->r[R_EAX] & 0x80) != 0);
    CHECK(RUN_BYTES("\xdb\xe2\x9b\xd9\xe8") == -1);  /* fnclex; fwait; fld1 */

    setup();
    c->cr0 |= CR0_TS;
    CHECK(RUN_BYTES("\xd9\xe8") == EXC_NM);
    c->r[R_ESP] = STACK;
    CHECK(RUN_BYTES("\x9b") == -1);                  /* TS without MP */
    c->cr0 |= CR0_MP;
    CHECK(RUN_BYTES("\x9b") == EXC_NM);
    setup();
    c->cr0 |= CR0_EM;
    CHECK(RUN_BYTES("\xdb\xe3") == EXC_NM);
    c->r[R_ESP] = STACK;
    CHECK(RUN_BYTES("\x0f\xae\x03") == EXC_NM);      /* fxsave */
    setup();
    CHECK(RUN_BYTES("\xdb\x0b") == -1);              /* fisttp: SSE3 */
    CHECK(RUN_BYTES("\xd9\xd1") == EXC_UD);          /* reserved D9 D1 */
}

static void test_fxsave(void)
{
    setup();
    c->r[R_EBX] = DATA + 0x100;
    /* fld1; fxsave [ebx]; fninit; fxrstor [ebx]; fstp qword [ebx+512] */
    int v = RUN_BYTES("\xd9\xe8\x0f\xae\x03\xdb\xe3\x0f\xae\x0b\xdd\x9b\x00\x02\x00\x00");
    CHECKF(v == -1, "vector %d", v);
    CHECK(get_double(DATA + 0x100 + 512) == 1.0);
    CHECK(get16(DATA + 0x100) == 0x037f);            /* FCW in the image */
    CHECK(ram[DATA + 0x100 + 4] == 0x80);            /* abridged tag: R7 */
    setup();
    c->r[R_EBX] = DATA + 8;
    CHECK(RUN_BYTES("\x0f\xae\x03") == EXC_GP);      /* misaligned */
    setup();
    put32(DATA + 24, 0xffffffff);                    /* bad MXCSR */
    CHECK(RUN_BYTES("\x0f\xae\x0b") == EXC_GP);
}

static void test_fnstenv_layouts(void)
{
    setup();
    /* fld1; fnstenv [ebx]; 66 fnstenv [ebx+32] */
    int v = RUN_BYTES("\xd9\xe8\xd9\x33\x66\xd9\x73\x20");
    CHECKF(v == -1, "vector %d", v);
    CHECKF(get32(DATA) == 0xffff037f, "fcw %08x", get32(DATA));
    CHECKF(get32(DATA + 4) == 0xffff3800, "fsw %08x", get32(DATA + 4));
    CHECKF(get32(DATA + 8) == 0xffff3fff, "ftw %08x", get32(DATA + 8));
    CHECKF(get32(DATA + 12) == CODE, "fip %08x", get32(DATA + 12));
    CHECKF(get16(DATA + 18) == 0x1e8, "fop %04x", get16(DATA + 18));
    CHECK(get16(DATA + 32) == 0x037f);
    CHECK(get16(DATA + 34) == 0x3800);
    CHECK(get16(DATA + 36) == 0x3fff);
    CHECK(get16(DATA + 38) == (uint16_t)CODE);
    /* fnstenv masked all exceptions: FCW is now 0x37f | 0x3f = 0x37f */
    /* fnsave then frstor brings the stack back */
    v = RUN_BYTES("\xdd\x73\x40\xd9\xee\xdd\x63\x40\xdd\x5b\x08");
    CHECKF(v == -1, "vector %d", v);
    CHECK(get_double(DATA + 8) == 1.0);
}

static void test_branch16(void)
{
    setup();
    /* 66 e9 rel16: target = (next EIP + rel) & 0xffff */
    memcpy(ram + CODE, "\x66\xe9\x10\x00", 4);
    c->eip = CODE;
    CHECK(interp_step(c) == -1);
    CHECKF(c->eip == ((CODE + 4 + 0x10) & 0xffff), "eip %08x", c->eip);
    setup();
    /* 66 e8: call pushes a 16-bit return address */
    memcpy(ram + CODE, "\x66\xe8\x00\x00", 4);
    c->eip = CODE;
    CHECK(interp_step(c) == -1);
    CHECK(c->r[R_ESP] == STACK - 2 && get16(STACK - 2) == (uint16_t)(CODE + 4));
}

static void test_segment_loads(void)
{
    setup();
    put32(DATA, 0x12345678);
    put16(DATA + 4, 0x10);
    c->seg[SEG_ES].sel = 0;
    int v = RUN_BYTES("\xc4\x03"); /* les eax,[ebx] */
    CHECKF(v == -1, "vector %d", v);
    CHECK(c->r[R_EAX] == 0x12345678 && c->seg[SEG_ES].sel == 0x10);
    put16(DATA + 4, 0x08); /* a code selector into SS: #GP */
    c->r[R_EDX] = 0;
    v = RUN_BYTES("\x0f\xb2\x13"); /* lss edx,[ebx] */
    CHECKF(v == EXC_GP, "vector %d", v);
    CHECK(c->r[R_EDX] == 0);
    setup();
    c->r[R_EAX] = 0xffffffff;
    put32(DATA, 0xaaaaaaaa);
    v = RUN_BYTES("\x8c\xd8\x8c\x1b"); /* mov eax,ds; mov [ebx],ds */
    CHECK(v == -1 && c->r[R_EAX] == 0x10);
    CHECK(get32(DATA) == 0xaaaa0010);
    CHECK(RUN_BYTES("\x8c\xf0") == EXC_UD); /* no segment register 6 */
}

static void test_far_indirect(void)
{
    setup();
    put32(DATA, CODE + 0x40);
    put16(DATA + 4, 0x08);
    memcpy(ram + CODE, "\xff\x2b", 2); /* jmp far [ebx] */
    c->eip = CODE;
    CHECK(interp_step(c) == -1);
    CHECK(c->eip == CODE + 0x40 && c->seg[SEG_CS].sel == 0x08);
    setup();
    CHECK(RUN_BYTES("\xff\xe8") == EXC_UD); /* register form */
}

static void test_hint_nops(void)
{
    setup();
    c->r[R_EAX] = 0xfffffff0; /* never accessed */
    int v = RUN_BYTES("\x0f\x1f\x44\x00\x00\x0f\x18\x00\x0f\x0d\x08\x90\xf3\x90");
    CHECKF(v == -1, "vector %d", v);
}

int main(void)
{
    if (!rig_alloc())
        return 1;
    RUN(test_string_addr16);
    RUN(test_string_fault_restart);
    RUN(test_string_long);
    RUN(test_string_page_fault);
    RUN(test_rmw_fault_atomic);
    RUN(test_lock);
    RUN(test_bound_aam);
    RUN(test_x87_arith);
    RUN(test_x87_mf_nm);
    RUN(test_fxsave);
    RUN(test_fnstenv_layouts);
    RUN(test_branch16);
    RUN(test_segment_loads);
    RUN(test_far_indirect);
    RUN(test_hint_nops);
    free(ram);
    free(c);
    TEST_MAIN_END();
}
