/* test_interp_sys.c - the interpreter's system side, driven through
 * interp_cpu_init/interp_step on hand-assembled bytes in a RAM buffer:
 * paging (A/D bits, #PF error codes and CR2, TLB and invlpg, global pages,
 * 4 MiB pages), privilege transitions (int through a gate to ring 0, iret
 * to ring 3), #GP/#NP/#SS error codes for bad selectors, double and triple
 * faults, far jmp/call/ret, sysenter/sysexit, cpuid, rdmsr/wrmsr, I/O
 * permission, and the decode cache's self-modifying-code invalidation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engines/interp/cpu.h"
#include "test.h"

#define RAM_SIZE (8u << 20)
#define GDT 0x1000u
#define IDT 0x2000u
#define TSS 0x3000u
#define CODE 0x10000u
#define HANDLERS 0x11000u /* vector v's handler is at HANDLERS + 16 * v */
#define STACK0 0x9000u
#define STACK3 0x8000u
#define PD 0x20000u
#define PT 0x21000u

/* Selectors of the test GDT. */
enum { K_CS = 0x08, K_DS = 0x10, U_CS = 0x1b, U_DS = 0x23, TSS_SEL = 0x28,
       NP_DS = 0x30, SMALL_DS = 0x38, CONF_CS = 0x40, GATE = 0x48,
       K_CS16 = 0x50, GATE2 = 0x58 };

static uint8_t *ram;
static struct interp_cpu *c;

static void put32(uint32_t pa, uint32_t v) { memcpy(ram + pa, &v, 4); }
static uint32_t get32(uint32_t pa)
{
    uint32_t v;
    memcpy(&v, ram + pa, 4);
    return v;
}
static void put16(uint32_t pa, uint16_t v) { memcpy(ram + pa, &v, 2); }

static void set_desc(int idx, uint32_t base, uint32_t limit, unsigned type,
                     unsigned s, unsigned dpl, unsigned p, unsigned db)
{
    unsigned g = limit > 0xfffff;
    if (g)
        limit >>= 12;
    uint32_t lo = (limit & 0xffff) | (base << 16);
    uint32_t hi = ((base >> 16) & 0xff) | (type << 8) | (s << 12) |
                  (dpl << 13) | (p << 15) | (limit & 0xf0000) | (db << 22) |
                  (g << 23) | (base & 0xff000000u);
    put32(GDT + 8 * (uint32_t)idx, lo);
    put32(GDT + 8 * (uint32_t)idx + 4, hi);
}

static void set_gate(int vec, uint16_t sel, uint32_t off, unsigned type,
                     unsigned dpl, unsigned p)
{
    put32(IDT + 8 * (uint32_t)vec, (off & 0xffff) | ((uint32_t)sel << 16));
    put32(IDT + 8 * (uint32_t)vec + 4,
          (off & 0xffff0000u) | (type << 8) | (dpl << 13) | (p << 15));
}

/* Place code at phys/linear `at` (paging off or identity) and step once. */
static int step_at(uint32_t at, const void *bytes, size_t n)
{
    memcpy(ram + at, bytes, n);
    c->eip = at;
    return interp_step(c);
}

static void setup(void)
{
    memset(ram, 0, RAM_SIZE);
    interp_cpu_free(c);
    interp_cpu_init(c, ram, RAM_SIZE, NULL);
    set_desc(1, 0, 0xffffffff, 0xa, 1, 0, 1, 1);   /* K_CS */
    set_desc(2, 0, 0xffffffff, 0x2, 1, 0, 1, 1);   /* K_DS */
    set_desc(3, 0, 0xffffffff, 0xa, 1, 3, 1, 1);   /* U_CS */
    set_desc(4, 0, 0xffffffff, 0x2, 1, 3, 1, 1);   /* U_DS */
    set_desc(5, TSS, 0x2000 + 103, 0x9, 0, 0, 1, 0); /* TSS + io bitmap */
    set_desc(6, 0, 0xffffffff, 0x2, 1, 0, 0, 1);   /* NP_DS: not present */
    set_desc(7, 0x40000, 0xfff, 0x2, 1, 0, 1, 1);  /* SMALL_DS */
    set_desc(8, 0, 0xffffffff, 0xe, 1, 0, 1, 1);   /* CONF_CS conforming */
    /* 9: call gate to K_CS:HANDLERS+0x800, DPL 3 */
    put32(GDT + 72, ((HANDLERS + 0x800) & 0xffff) | ((uint32_t)K_CS << 16));
    put32(GDT + 76, ((HANDLERS + 0x800) & 0xffff0000u) | (0xcu << 8) |
                        (3u << 13) | (1u << 15));
    set_desc(10, 0, 0xffff, 0xa, 1, 0, 1, 0);      /* K_CS16 */
    /* 11: call gate with 2 dword parameters to K_CS:HANDLERS+0x900 */
    put32(GDT + 88, ((HANDLERS + 0x900) & 0xffff) | ((uint32_t)K_CS << 16));
    put32(GDT + 92, ((HANDLERS + 0x900) & 0xffff0000u) | (0xcu << 8) |
                        (3u << 13) | (1u << 15) | 2);
    c->gdt.base = GDT;
    c->gdt.limit = 12 * 8 - 1;
    for (int v = 0; v < 256; v++)
        set_gate(v, K_CS, HANDLERS + 16u * (uint32_t)v, 0xe, 0, 1);
    set_gate(0x80, K_CS, HANDLERS + 16 * 0x80, 0xe, 3, 1);
    set_gate(0x81, K_CS, HANDLERS + 16 * 0x81, 0xf, 0, 1);
    c->idt.base = IDT;
    c->idt.limit = 256 * 8 - 1;
    put32(TSS + 4, STACK0);
    put32(TSS + 8, K_DS);
    put16(TSS + 102, 0x100);                /* io bitmap at TSS+0x100 */
    memset(ram + TSS + 0x100, 0xff, 0x2000);
    ram[TSS + 0x100 + 0x80 / 8] = 0xfe;     /* port 0x80 allowed */
    c->r[4] = STACK0;
    static const uint8_t ltr[] = {0x66, 0xb8, TSS_SEL, 0, 0x0f, 0x00, 0xd8};
    step_at(CODE, ltr, sizeof(ltr));        /* mov ax, TSS_SEL */
    interp_step(c);                          /* ltr ax */
}

/* From ring 0, iret to ring 3 at eip with ESP = STACK3. */
static int enter_ring3(uint32_t eip, uint32_t eflags)
{
    static const uint8_t mov_ds_ax[] = {0x8e, 0xd8};
    uint32_t eax = c->r[0];
    c->r[0] = U_DS;
    step_at(CODE + 0xf0, mov_ds_ax, 2); /* DS stays usable in ring 3 */
    c->r[0] = eax;
    c->r[4] = STACK0 - 20;
    put32(STACK0 - 20, eip);
    put32(STACK0 - 16, U_CS);
    put32(STACK0 - 12, eflags);
    put32(STACK0 - 8, STACK3);
    put32(STACK0 - 4, U_DS);
    static const uint8_t iret[] = {0xcf};
    return step_at(CODE + 0x100, iret, 1);
}

/* ---- tests ---- */

static void test_init_state(void)
{
    setup();
    CHECK(c->cpl == 0);
    CHECK(c->seg[SEG_TR].sel == TSS_SEL);
    CHECKF((get32(GDT + 44) >> 8 & 0xf) == 0xb, "ltr must mark the TSS busy");
    CHECK(c->eip == CODE + 7);
}

static void test_cpuid(void)
{
    setup();
    static const uint8_t cpuid[] = {0x0f, 0xa2};
    c->r[0] = 0;
    CHECK(step_at(CODE, cpuid, 2) == -1);
    char vendor[13] = {0};
    memcpy(vendor, &c->r[3], 4);
    memcpy(vendor + 4, &c->r[2], 4);
    memcpy(vendor + 8, &c->r[1], 4);
    CHECKF(!strcmp(vendor, "GenuineIntel"), "vendor %s", vendor);
    CHECK(c->r[0] >= 1);
    c->r[0] = 1;
    step_at(CODE, cpuid, 2);
    CHECKF(((c->r[0] >> 8) & 0xf) == 6, "family %u", (c->r[0] >> 8) & 0xf);
    uint32_t want = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 8) |
                    (1u << 11) | (1u << 13) | (1u << 15) | (1u << 3);
    CHECKF((c->r[2] & want) == want, "features %#x", c->r[2]);
    CHECKF(!(c->r[2] & ((1u << 6) | (1u << 9) | (1u << 23))),
           "PAE/APIC/MMX must be off: %#x", c->r[2]);
    CHECKF((c->r[2] & (3u << 25)) == (3u << 25), "SSE SSE2 on: %#x", c->r[2]);
    c->r[0] = 0x80000000u;
    step_at(CODE, cpuid, 2);
    CHECK(c->r[0] == 0x80000008u);
    c->r[0] = 0x80000002u;
    step_at(CODE, cpuid, 2);
    char brand[17] = {0};
    memcpy(brand, &c->r[0], 4);
    memcpy(brand + 4, &c->r[3], 4);
    memcpy(brand + 8, &c->r[1], 4);
    memcpy(brand + 12, &c->r[2], 4);
    CHECKF(!strcmp(brand, "popek interp"), "brand '%s'", brand);
}

static void test_msr(void)
{
    setup();
    static const uint8_t wr[] = {0x0f, 0x30}, rd[] = {0x0f, 0x32};
    c->r[1] = 0x175;
    c->r[0] = 0x12345678;
    c->r[2] = 0;
    CHECK(step_at(CODE, wr, 2) == -1);
    c->r[0] = c->r[2] = 0;
    CHECK(step_at(CODE, rd, 2) == -1);
    CHECK(c->r[0] == 0x12345678 && c->r[2] == 0);
    /* An unknown MSR: #GP(0), delivered to the handler. */
    c->r[1] = 0xdeadbeef;
    CHECK(step_at(CODE, rd, 2) == EXC_GP);
    CHECK(c->eip == HANDLERS + 16 * EXC_GP);
    CHECK(get32(c->r[4]) == 0);              /* error code */
    CHECK(get32(c->r[4] + 4) == CODE);       /* faulting eip */
    /* rdtsc moves forward; the TSC MSR writes it. */
    static const uint8_t rdtsc[] = {0x0f, 0x31};
    c->r[1] = 0x10;
    c->r[0] = 0;
    c->r[2] = 5;
    step_at(CODE, wr, 2);
    step_at(CODE, rdtsc, 2);
    CHECKF(c->r[2] == 5, "tsc high %u after wrmsr", c->r[2]);
}

static uint32_t cpuid_reg(uint32_t leaf, uint32_t sub, int reg)
{
    static const uint8_t cpuid[] = {0x0f, 0xa2};
    c->r[0] = leaf;
    c->r[1] = sub;
    step_at(CODE, cpuid, 2);
    return c->r[reg];
}

/* The leaves guests probe: cache (2, 4), TSC rate (0x15, 0x16), invariant
 * TSC, RDTSCP, no NX; the brand names the engine. */
static void test_cpuid_leaves(void)
{
    setup();
    CHECK(cpuid_reg(0, 0, 0) >= 0x16);
    CHECKF((cpuid_reg(2, 0, 0) & 0xff) == 1, "leaf 2 iterations");
    uint32_t a = cpuid_reg(4, 0, 0), b = c->r[3], cc = c->r[1];
    CHECKF((a & 0x1f) == 1 && ((a >> 5) & 7) == 1, "leaf 4.0: L1 data %#x", a);
    uint32_t size = ((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) *
                    ((b & 0xfff) + 1) * (cc + 1);
    CHECKF(size == 32768, "L1D size %u", size);
    CHECK((cpuid_reg(4, 3, 0) & 0x1f) == 0);  /* no fourth cache */
    uint32_t den = cpuid_reg(0x15, 0, 0), num = c->r[3], crystal = c->r[1];
    CHECKF(den && (uint64_t)crystal * num / den == 1000000000ull,
           "leaf 0x15: TSC %u * %u / %u", crystal, num, den);
    CHECKF(cpuid_reg(0x16, 0, 0) == 1000, "leaf 0x16 base MHz %u", c->r[0]);
    CHECK(cpuid_reg(0x80000007u, 0, 2) & (1u << 8));   /* invariant TSC */
    uint32_t x1 = cpuid_reg(0x80000001u, 0, 2);
    CHECK(x1 & (1u << 27));                           /* RDTSCP */
    CHECK(!(x1 & (1u << 20)));                        /* no NX */
    CHECK(!(cpuid_reg(1, 0, 2) & (1u << 9)));  /* no machine: no APIC */
    CHECK(cpuid_reg(1, 0, 2) & (1u << 16));    /* PAT */
    c->bt_engine = true;
    cpuid_reg(0x80000002u, 0, 0);
    char brand[17] = {0};
    memcpy(brand, &c->r[0], 4);
    memcpy(brand + 4, &c->r[3], 4);
    memcpy(brand + 8, &c->r[1], 4);
    memcpy(brand + 12, &c->r[2], 4);
    CHECKF(!strcmp(brand, "popek bt"), "bt brand '%s'", brand);
    c->bt_engine = false;
}

static int msr_write(uint32_t msr, uint64_t v)
{
    static const uint8_t wr[] = {0x0f, 0x30};
    c->r[4] = STACK0;
    c->r[1] = msr;
    c->r[0] = (uint32_t)v;
    c->r[2] = (uint32_t)(v >> 32);
    return step_at(CODE, wr, 2);
}

static uint64_t msr_read(uint32_t msr)
{
    static const uint8_t rd[] = {0x0f, 0x32};
    c->r[1] = msr;
    c->r[0] = c->r[2] = 0xdead;
    CHECK(step_at(CODE, rd, 2) == -1);
    return (uint64_t)c->r[2] << 32 | c->r[0];
}

/* PAT (reset value, reserved types), EFER (SCE only), TSC_AUX + rdtscp. */
static void test_msr_more(void)
{
    setup();
    CHECK(msr_read(0x277) == 0x0007040600070406ull);
    CHECK(msr_write(0x277, 0x0001040600070406ull) == -1);
    CHECK(msr_read(0x277) == 0x0001040600070406ull);
    CHECK(msr_write(0x277, 0x0002040600070406ull) == EXC_GP);  /* type 2 */
    CHECK(msr_write(0x277, 0x0800000000000000ull) == EXC_GP);  /* type 8 */
    CHECK(msr_read(0x277) == 0x0001040600070406ull);
    CHECK(msr_read(0xc0000080u) == 0);
    CHECK(msr_write(0xc0000080u, 1) == -1);                    /* SCE */
    CHECK(msr_read(0xc0000080u) == 1);
    CHECK(msr_write(0xc0000080u, 1u << 11) == EXC_GP);         /* NXE */
    CHECK(msr_write(0xc0000080u, 1u << 8) == EXC_GP);          /* LME */
    CHECK(msr_write(0xc0000103u, 0x1234) == -1);
    CHECK(msr_write(0xc0000103u, 1ull << 32) == EXC_GP);
    static const uint8_t rdtscp[] = {0x0f, 0x01, 0xf9};
    c->r[1] = 0;
    CHECK(step_at(CODE, rdtscp, 3) == -1);
    CHECKF(c->r[1] == 0x1234, "rdtscp ecx %#x", c->r[1]);
    CHECK(c->eip == CODE + 3);
}

static void test_gp_selectors(void)
{
    setup();
    static const uint8_t mov_ds_ax[] = {0x8e, 0xd8}, mov_ss_ax[] = {0x8e, 0xd0};
    c->r[0] = NP_DS;
    CHECK(step_at(CODE, mov_ds_ax, 2) == EXC_NP);
    CHECKF(get32(c->r[4]) == NP_DS, "#NP err %#x", get32(c->r[4]));
    c->r[4] = STACK0;
    c->r[0] = 0x1000 | 3;
    CHECK(step_at(CODE, mov_ds_ax, 2) == EXC_GP);
    CHECKF(get32(c->r[4]) == 0x1000, "#GP err %#x", get32(c->r[4]));
    c->r[4] = STACK0;
    c->r[0] = K_CS;
    CHECK(step_at(CODE, mov_ss_ax, 2) == EXC_GP);
    CHECK(get32(c->r[4]) == K_CS);
    c->r[4] = STACK0;
    c->r[0] = 0;
    CHECK(step_at(CODE, mov_ss_ax, 2) == EXC_GP);
    CHECK(get32(c->r[4]) == 0);
    c->r[4] = STACK0;
    /* A null DS loads; using it faults #GP(0). */
    c->r[0] = 0;
    CHECK(step_at(CODE, mov_ds_ax, 2) == -1);
    CHECK(c->seg[SEG_DS].unusable);
    static const uint8_t load[] = {0x8b, 0x05, 0, 0, 1, 0}; /* mov eax,[0x10000] */
    CHECK(step_at(CODE, load, 6) == EXC_GP);
    c->r[4] = STACK0;
    /* Segment limit: SMALL_DS has limit 0xfff. */
    c->r[0] = SMALL_DS;
    CHECK(step_at(CODE, mov_ds_ax, 2) == -1);
    static const uint8_t ld_ok[] = {0x8b, 0x05, 0xfc, 0x0f, 0, 0};
    static const uint8_t ld_bad[] = {0x8b, 0x05, 0xfd, 0x0f, 0, 0};
    put32(0x40ffc, 0xcafef00d);
    CHECK(step_at(CODE, ld_ok, 6) == -1);
    CHECK(c->r[0] == 0xcafef00d);
    CHECK(step_at(CODE, ld_bad, 6) == EXC_GP);
    /* Accessed bit written back to the descriptor. */
    CHECK(get32(GDT + 7 * 8 + 4) & 0x100);
}

static void test_ring_transitions(void)
{
    setup();
    CHECK(enter_ring3(CODE + 0x200, 0x202) == -1);
    CHECK(c->cpl == 3 && c->seg[SEG_CS].sel == U_CS);
    CHECK(c->seg[SEG_SS].sel == U_DS && c->r[4] == STACK3);
    CHECK(c->eip == CODE + 0x200 && (c->eflags & FLAG_IF));
    /* ES (DPL 0) is nulled on the way out to ring 3, DS (DPL 3) kept. */
    CHECK(c->seg[SEG_ES].unusable && !c->seg[SEG_DS].unusable);
    /* int 0x80 (interrupt gate, DPL 3): to ring 0 on the TSS stack. */
    static const uint8_t int80[] = {0xcd, 0x80};
    c->r[3] = 0;
    CHECK(step_at(CODE + 0x200, int80, 2) == -1);
    CHECK(c->cpl == 0 && c->seg[SEG_CS].sel == K_CS);
    CHECK(c->seg[SEG_SS].sel == K_DS && c->r[4] == STACK0 - 20);
    CHECK(c->eip == HANDLERS + 16 * 0x80);
    CHECK(!(c->eflags & FLAG_IF));
    CHECK(get32(STACK0 - 20) == CODE + 0x202);
    CHECK(get32(STACK0 - 16) == U_CS);
    CHECK(get32(STACK0 - 12) & FLAG_IF);
    CHECK(get32(STACK0 - 8) == STACK3);
    CHECK(get32(STACK0 - 4) == U_DS);
    /* The handler: mov ebx, 0x1234; iret. */
    static const uint8_t h[] = {0xbb, 0x34, 0x12, 0, 0, 0xcf};
    memcpy(ram + HANDLERS + 16 * 0x80, h, sizeof(h));
    CHECK(interp_step(c) == -1 && interp_step(c) == -1);
    CHECK(c->cpl == 3 && c->eip == CODE + 0x202 && c->r[4] == STACK3);
    CHECK(c->r[3] == 0x1234 && (c->eflags & FLAG_IF));
    /* int 0x81 has a DPL 0 gate: #GP(0x81*8+2) from ring 3. */
    static const uint8_t int81[] = {0xcd, 0x81};
    CHECK(step_at(CODE + 0x200, int81, 2) == EXC_GP);
    CHECK(c->cpl == 0 && get32(c->r[4]) == 0x81 * 8 + 2);
    CHECK(get32(c->r[4] + 4) == CODE + 0x200); /* eip of the int */
    /* Privileged instructions at CPL 3: #GP(0). */
    static const uint8_t hlt[] = {0xf4}, cli[] = {0xfa};
    enter_ring3(CODE + 0x200, 0x202);
    CHECK(step_at(CODE + 0x200, hlt, 1) == EXC_GP);
    enter_ring3(CODE + 0x200, 0x202);
    CHECK(step_at(CODE + 0x200, cli, 1) == EXC_GP);
    /* With IOPL 3, cli is allowed at CPL 3. */
    enter_ring3(CODE + 0x200, 0x3202);
    CHECK(step_at(CODE + 0x200, cli, 1) == -1 && !(c->eflags & FLAG_IF));
}

static void test_io_permission(void)
{
    setup();
    static const uint8_t out80[] = {0xe6, 0x80}, out81[] = {0xe6, 0x81};
    enter_ring3(CODE + 0x200, 0x202);
    CHECK(step_at(CODE + 0x200, out80, 2) == -1);
    CHECK(c->cpl == 3);
    CHECK(step_at(CODE + 0x200, out81, 2) == EXC_GP);
    static const uint8_t in_al[] = {0xe4, 0x71};
    CHECK(step_at(CODE, in_al, 2) == -1); /* ring 0 now */
    CHECK((c->r[0] & 0xff) == 0xff);      /* no machine: all ones */
}

static void test_far_transfers(void)
{
    setup();
    /* jmp far K_CS16:0x1234 -> 16-bit code segment */
    static const uint8_t jmpf[] = {0xea, 0x34, 0x12, 0, 0, K_CS16, 0};
    CHECK(step_at(CODE, jmpf, 7) == -1);
    CHECK(c->seg[SEG_CS].sel == K_CS16 && c->eip == 0x1234 &&
          !c->seg[SEG_CS].db);
    /* Back to 32-bit: jmp far from 16-bit code (ea ptr16:16). */
    static const uint8_t jmpf16[] = {0xea, 0x00, 0x30, K_CS, 0};
    CHECK(step_at(0x1234, jmpf16, 5) == -1);
    CHECK(c->seg[SEG_CS].sel == K_CS && c->eip == 0x3000 && c->seg[SEG_CS].db);
    /* Jumping to a DPL 3 non-conforming segment from CPL 0: #GP(sel). */
    static const uint8_t jmpu[] = {0xea, 0, 0, 0, 0, U_CS, 0};
    CHECK(step_at(CODE, jmpu, 7) == EXC_GP);
    CHECKF(get32(c->r[4]) == (U_CS & ~3u), "err %#x", get32(c->r[4]));
    c->r[4] = STACK0;
    /* Not-present target: NP_DS is data -> #GP; far call pushes nothing. */
    static const uint8_t callf_bad[] = {0x9a, 0, 0, 0, 0, NP_DS, 0};
    CHECK(step_at(CODE, callf_bad, 7) == EXC_GP);
    CHECK(c->r[4] == STACK0 - 16); /* only the exception frame */
    c->r[4] = STACK0;
    /* call far + retf at the same privilege. */
    static const uint8_t callf[] = {0x9a, 0x00, 0x50, 0x01, 0, K_CS, 0};
    CHECK(step_at(CODE, callf, 7) == -1);
    CHECK(c->eip == 0x15000 && c->r[4] == STACK0 - 8);
    CHECK(get32(STACK0 - 8) == CODE + 7 && get32(STACK0 - 4) == K_CS);
    static const uint8_t retf[] = {0xcb};
    CHECK(step_at(0x15000, retf, 1) == -1);
    CHECK(c->eip == CODE + 7 && c->r[4] == STACK0);
    /* Call gate (DPL 3) from ring 3 to ring 0: stack switch. */
    enter_ring3(CODE + 0x200, 0x202);
    static const uint8_t callg[] = {0x9a, 0, 0, 0, 0, GATE | 3, 0};
    CHECK(step_at(CODE + 0x200, callg, 7) == -1);
    CHECK(c->cpl == 0 && c->eip == HANDLERS + 0x800);
    CHECK(c->r[4] == STACK0 - 16 && c->seg[SEG_SS].sel == K_DS);
    CHECK(get32(STACK0 - 16) == CODE + 0x207 && get32(STACK0 - 12) == U_CS);
    CHECK(get32(STACK0 - 8) == STACK3 && get32(STACK0 - 4) == U_DS);
    /* retf back to ring 3 restores SS:ESP. */
    CHECK(step_at(HANDLERS + 0x800, retf, 1) == -1);
    CHECK(c->cpl == 3 && c->r[4] == STACK3 && c->eip == CODE + 0x207);
}

static void test_call_gate_params(void)
{
    setup();
    enter_ring3(CODE + 0x200, 0x202);
    /* push 0x11; push 0x22; call GATE2 (copies 2 dwords to the ring-0
     * stack); the handler returns with retf 8. */
    static const uint8_t code[] = {0x6a, 0x11, 0x6a, 0x22,
                                   0x9a, 0, 0, 0, 0, GATE2 | 3, 0};
    memcpy(ram + CODE + 0x200, code, sizeof(code));
    static const uint8_t retf8[] = {0xca, 8, 0};
    memcpy(ram + HANDLERS + 0x900, retf8, sizeof(retf8));
    CHECK(interp_step(c) == -1 && interp_step(c) == -1);
    CHECK(c->r[4] == STACK3 - 8);
    CHECK(interp_step(c) == -1);
    CHECK(c->cpl == 0 && c->eip == HANDLERS + 0x900);
    /* new stack: eip, cs, param(esp+0)=0x22, param(esp+4)=0x11, esp, ss */
    CHECKF(c->r[4] == STACK0 - 24, "esp %#x", c->r[4]);
    CHECK(get32(STACK0 - 24) == CODE + 0x20b && get32(STACK0 - 20) == U_CS);
    CHECK(get32(STACK0 - 16) == 0x22 && get32(STACK0 - 12) == 0x11);
    CHECK(get32(STACK0 - 8) == STACK3 - 8 && get32(STACK0 - 4) == U_DS);
    CHECK(interp_step(c) == -1);
    CHECK(c->cpl == 3 && c->eip == CODE + 0x20b);
    CHECKF(c->r[4] == STACK3, "esp after retf 8: %#x", c->r[4]);
}

static void test_double_triple_fault(void)
{
    setup();
    static const uint8_t mov_ds_ax[] = {0x8e, 0xd8};
    /* #GP whose gate is not present -> #NP while delivering -> #DF. */
    set_gate(EXC_GP, K_CS, HANDLERS + 16 * EXC_GP, 0xe, 0, 0);
    c->r[0] = 0x1000;
    CHECK(step_at(CODE, mov_ds_ax, 2) == EXC_DF);
    CHECK(c->eip == HANDLERS + 16 * EXC_DF);
    CHECK(get32(c->r[4]) == 0);               /* #DF error code is 0 */
    CHECK(get32(c->r[4] + 4) == CODE);
    CHECK(c->exc_count[EXC_DF] == 1);
    /* #DF gate missing too: triple fault. */
    c->r[4] = STACK0;
    set_gate(EXC_DF, K_CS, HANDLERS + 16 * EXC_DF, 0xe, 0, 0);
    CHECK(step_at(CODE, mov_ds_ax, 2) == -2);
    /* A benign exception (#UD) with a missing gate -> #NP is delivered
     * normally (no #DF). */
    setup();
    set_gate(EXC_UD, K_CS, HANDLERS + 16 * EXC_UD, 0xe, 0, 0);
    static const uint8_t ud2[] = {0x0f, 0x0b};
    CHECK(step_at(CODE, ud2, 2) == EXC_NP);
    CHECKF(get32(c->r[4]) == EXC_UD * 8 + 2 + 1, "err %#x", get32(c->r[4]));
    /* #PF while delivering #PF (unmapped stack) -> #DF. */
    setup();
    for (uint32_t i = 0; i < 1024; i++)
        put32(PT + 4 * i, (i << 12) | 3);
    put32(PD, PT | 3);
    put32(PT + 4 * 8, 0); /* page 0x8000-0x8fff (the stack) not present */
    c->cr3 = PD;
    c->cr0 |= CR0_PG;
    c->r[4] = STACK0;      /* 0x9000: pushes go to 0x8ffx */
    static const uint8_t ld[] = {0x8b, 0x05, 0, 0, 0x40, 0}; /* [0x400000] */
    CHECK(step_at(CODE, ld, 6) == -2); /* #PF, #PF -> #DF, #PF -> triple */
}

/* Table 6-5 corners: contributory then #PF is serial (the #PF is
 * delivered, no #DF); a chain that never converges (#UD whose delivery
 * raises #UD: interrupts from virtual-8086 mode, refused) ends as a
 * shutdown instead of looping inside the instruction. */
static void test_fault_chains(void)
{
    setup();
    /* #GP (bad ds) whose delivery #PFs: the IDT entry for 13 lies in a
     * page that is not present; #PF's own entry is fine. */
    for (uint32_t i = 0; i < 1024; i++)
        put32(PT + 4 * i, (i << 12) | 3);
    put32(PD, PT | 3);
    c->cr3 = PD;
    c->cr0 |= CR0_PG;
    static const uint8_t mov_ds_ax[] = {0x8e, 0xd8};
    c->r[0] = 0x1000;
    c->idt.base = 0x2fff8 - 8 * EXC_GP;     /* entry 13 at 0x2fff8 */
    memcpy(ram + 0x30000, ram + IDT + 8 * EXC_PF, 8); /* entry 14 */
    put32(PT + 4 * 0x2f, 0);                /* 0x2f000 not present */
    CHECK(step_at(CODE, mov_ds_ax, 2) == EXC_PF);
    CHECKF(c->cr2 == 0x2fff8, "cr2 %#x", c->cr2);
    CHECK(c->exc_count[EXC_DF] == 0);
    /* VM86: every delivery is refused with #UD: bounded, then shutdown. */
    setup();
    c->eflags |= FLAG_VM;
    static const uint8_t ud2[] = {0x0f, 0x0b};
    CHECK(step_at(CODE, ud2, 2) == -2);
    CHECKF(c->exc_count[EXC_UD] >= 2 && c->exc_count[EXC_UD] <= 16,
           "#UD deliveries %llu", (unsigned long long)c->exc_count[EXC_UD]);
}

static void setup_paging(void)
{
    setup();
    for (uint32_t i = 0; i < 1024; i++)
        put32(PT + 4 * i, (i << 12) | 7);
    put32(PT + 4 * 0x50, 0x30000 | 5);       /* read-only, user */
    put32(PT + 4 * 0x51, 0);                 /* not present */
    put32(PT + 4 * 0x52, 0x31000 | 3);       /* supervisor only */
    put32(PT + 4 * 0x53, 0x32000 | 3 | 0x100); /* global */
    put32(PD, PT | 7);
    put32(PD + 4, 0x400000 | 0x87);          /* 4 MiB page, user rw */
    static const uint8_t code[] = {
        0xb8, PD & 0xff, (PD >> 8) & 0xff, PD >> 16, 0, /* mov eax, PD */
        0x0f, 0x22, 0xd8,                                 /* mov cr3, eax */
        0x0f, 0x20, 0xe0, 0x0c, 0x90, 0x0f, 0x22, 0xe0,   /* cr4 |= PSE|PGE */
        0x0f, 0x20, 0xc0, 0x0d, 0, 0, 1, 0x80,            /* or eax, PG|WP */
        0x0f, 0x22, 0xc0,                                 /* mov cr0, eax */
    };
    memcpy(ram + CODE, code, sizeof(code));
    c->eip = CODE;
    for (int k = 0; k < 8; k++)
        interp_step(c);
}

static void test_paging(void)
{
    setup_paging();
    CHECKF((c->cr0 & (CR0_PG | CR0_WP)) == (CR0_PG | CR0_WP), "cr0 %#x",
           c->cr0);
    CHECK(c->cr4 & CR4_PSE);
    CHECK(c->eip == CODE + 27);
    put32(0x30000, 0xa1b2c3d4);
    static const uint8_t rd50[] = {0x8b, 0x05, 0, 0, 5, 0};
    static const uint8_t wr50[] = {0x89, 0x05, 0, 0, 5, 0};
    static const uint8_t rd51[] = {0x8b, 0x05, 0, 0x10, 5, 0};
    static const uint8_t rd52[] = {0x8b, 0x05, 0, 0x20, 5, 0};
    uint32_t at = 0x60000;
    CHECK(step_at(at, rd50, 6) == -1 && c->r[0] == 0xa1b2c3d4);
    CHECKF((get32(PT + 4 * 0x50) & 0x60) == 0x20, "pte %#x: A, not D",
           get32(PT + 4 * 0x50));
    CHECK(get32(PD) & 0x20);
    /* Supervisor write to a read-only page with WP=1: #PF(P|W). */
    CHECK(step_at(at, wr50, 6) == EXC_PF);
    CHECKF(get32(c->r[4]) == 3, "err %#x", get32(c->r[4]));
    CHECK(c->cr2 == 0x50000 && get32(c->r[4] + 4) == at);
    c->r[4] = STACK0;
    /* Not present: err 0. */
    CHECK(step_at(at, rd51, 6) == EXC_PF);
    CHECK(get32(c->r[4]) == 0 && c->cr2 == 0x51000);
    c->r[4] = STACK0;
    /* WP=0: the supervisor write goes through and sets D. */
    c->cr0 &= ~CR0_WP;
    c->r[0] = 0x55;
    CHECK(step_at(at, wr50, 6) == -1);
    CHECK(get32(0x30000) == 0x55 && (get32(PT + 4 * 0x50) & 0x40));
    c->cr0 |= CR0_WP;
    /* Ring 3: supervisor page -> #PF(P|U), read-only page write ->
     * #PF(P|W|U). */
    memcpy(ram + at + 0x100, rd52, 6);
    enter_ring3(at + 0x100, 0x202);
    CHECK(interp_step(c) == EXC_PF);
    CHECKF(get32(c->r[4]) == 5, "err %#x", get32(c->r[4]));
    memcpy(ram + at + 0x100, wr50, 6);
    enter_ring3(at + 0x100, 0x202);
    CHECK(interp_step(c) == EXC_PF);
    CHECKF(get32(c->r[4]) == 7, "err %#x", get32(c->r[4]));
    CHECK(c->cr2 == 0x50000);
    c->r[4] = STACK0;
    /* 4 MiB page: a write sets A and D in the PDE. */
    static const uint8_t wr4m[] = {0x89, 0x05, 0x10, 0, 0x40, 0};
    CHECK(step_at(at, wr4m, 6) == -1);
    CHECK((get32(PD + 4) & 0x60) == 0x60 && get32(0x400010) == c->r[0]);
    /* TLB: a changed PTE is not seen until invlpg. */
    put32(0x31000, 1);
    put32(0x33000, 2);
    CHECK(step_at(at, rd52, 6) == -1 && c->r[0] == 1);
    put32(PT + 4 * 0x52, 0x33000 | 3);
    CHECK(step_at(at, rd52, 6) == -1 && c->r[0] == 1);
    static const uint8_t invlpg[] = {0x0f, 0x01, 0x3d, 0, 0x20, 5, 0};
    CHECK(step_at(at, invlpg, 7) == -1);
    CHECK(step_at(at, rd52, 6) == -1 && c->r[0] == 2);
    /* CR3 reload drops non-global entries, keeps global ones. */
    static const uint8_t rd53[] = {0x8b, 0x05, 0, 0x30, 5, 0};
    put32(0x32000, 10);
    put32(0x34000, 20);
    CHECK(step_at(at, rd53, 6) == -1 && c->r[0] == 10);
    put32(PT + 4 * 0x53, 0x34000 | 3 | 0x100);
    put32(PT + 4 * 0x52, 0x31000 | 3);
    static const uint8_t reload[] = {0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8};
    memcpy(ram + at, reload, 6);
    c->eip = at;
    interp_step(c);
    interp_step(c);
    CHECK(step_at(at, rd53, 6) == -1 && c->r[0] == 10); /* global: stale */
    CHECK(step_at(at, rd52, 6) == -1 && c->r[0] == 1);  /* refetched */
}

static void test_sysenter(void)
{
    setup();
    static const uint8_t wr[] = {0x0f, 0x30};
    uint32_t msrs[3][2] = {{0x174, K_CS}, {0x175, 0x9800}, {0x176, 0x15000}};
    for (int k = 0; k < 3; k++) {
        c->r[1] = msrs[k][0];
        c->r[0] = msrs[k][1];
        c->r[2] = 0;
        CHECK(step_at(CODE, wr, 2) == -1);
    }
    enter_ring3(CODE + 0x200, 0x202);
    static const uint8_t sysenter[] = {0x0f, 0x34}, sysexit[] = {0x0f, 0x35};
    CHECK(step_at(CODE + 0x200, sysenter, 2) == -1);
    CHECK(c->cpl == 0 && c->seg[SEG_CS].sel == K_CS);
    CHECK(c->seg[SEG_SS].sel == K_DS && c->r[4] == 0x9800);
    CHECK(c->eip == 0x15000 && !(c->eflags & FLAG_IF));
    c->r[1] = 0x7000;
    c->r[2] = 0x16000;
    CHECK(step_at(0x15000, sysexit, 2) == -1);
    CHECK(c->cpl == 3 && c->seg[SEG_CS].sel == U_CS);
    CHECK(c->seg[SEG_SS].sel == U_DS && c->r[4] == 0x7000);
    CHECK(c->eip == 0x16000);
    /* sysexit at CPL 3: #GP(0). */
    CHECK(step_at(0x16000, sysexit, 2) == EXC_GP);
}

static void test_descriptor_queries(void)
{
    setup();
    /* lar eax, bx ; lsl eax, bx ; verw bx */
    static const uint8_t lar[] = {0x0f, 0x02, 0xc3}, lsl[] = {0x0f, 0x03, 0xc3};
    static const uint8_t verw[] = {0x0f, 0x00, 0xeb};
    c->r[3] = SMALL_DS;
    CHECK(step_at(CODE, lsl, 3) == -1);
    CHECK((c->eflags & FLAG_ZF) && c->r[0] == 0xfff);
    CHECK(step_at(CODE, lar, 3) == -1);
    CHECKF((c->eflags & FLAG_ZF) && (c->r[0] & 0xff00) == 0x9200,
           "lar %#x", c->r[0]);
    CHECK(step_at(CODE, verw, 3) == -1 && (c->eflags & FLAG_ZF));
    c->r[3] = K_CS;
    CHECK(step_at(CODE, verw, 3) == -1 && !(c->eflags & FLAG_ZF));
    c->r[3] = 0x1000;
    CHECK(step_at(CODE, lsl, 3) == -1 && !(c->eflags & FLAG_ZF));
    /* sgdt [0x5000] */
    static const uint8_t sgdt[] = {0x0f, 0x01, 0x05, 0, 0x50, 0, 0};
    CHECK(step_at(CODE, sgdt, 7) == -1);
    CHECK((get32(0x5000) & 0xffff) == 12 * 8 - 1 && get32(0x5002) == GDT);
}

static void test_external_interrupt(void)
{
    setup();
    static const uint8_t sti_nop[] = {0xfb, 0x90, 0xf4};
    memcpy(ram + CODE, sti_nop, 3);
    c->eip = CODE;
    CHECK(interp_step(c) == -1);
    CHECK((c->eflags & FLAG_IF) && c->intr_shadow);
    CHECK(interp_step(c) == -1 && !c->intr_shadow); /* nop */
    CHECK(interp_step(c) == -1 && c->halted);         /* hlt */
    c->pending_vector = 0x30;
    CHECK(interp_step(c) == -1);
    CHECK(!c->halted && c->eip == HANDLERS + 16 * 0x30);
    CHECK(get32(c->r[4]) == CODE + 3 && !(c->eflags & FLAG_IF));
    CHECK(c->irqs_delivered == 1);
}

static void test_decode_cache(void)
{
    setup();
    CHECK(interp_dcache_enable(c) == 0);
    /* mov eax, 1 at 0x60000; then overwrite it from guest code. */
    static const uint8_t mov1[] = {0xb8, 1, 0, 0, 0};
    static const uint8_t patch[] = {0xc6, 0x05, 1, 0, 6, 0, 2}; /* mov byte [0x60001], 2 */
    memcpy(ram + 0x60000, mov1, 5);
    c->eip = 0x60000;
    CHECK(interp_step(c) == -1 && c->r[0] == 1);
    CHECK(step_at(CODE, patch, 7) == -1);
    c->eip = 0x60000;
    CHECK(interp_step(c) == -1);
    CHECKF(c->r[0] == 2, "stale decoded instruction: eax=%u", c->r[0]);
    /* An instruction crossing into an unmapped page faults with CR2 at
     * the second page. */
    interp_cpu_free(c);
}

static void test_fetch_crossing_page(void)
{
    setup_paging();
    /* mov eax, imm32 starting 2 bytes before the unmapped 0x51000. */
    static const uint8_t mov[] = {0xb8, 1, 2, 3, 4};
    memcpy(ram + 0x30ffe, mov, 2); /* linear 0x50ffe is phys 0x30ffe */
    c->eip = 0x50ffe;
    CHECK(interp_step(c) == EXC_PF);
    CHECKF(c->cr2 == 0x51000, "cr2 %#x", c->cr2);
    CHECKF(get32(c->r[4]) == 0, "err %#x", get32(c->r[4]));
    CHECK(get32(c->r[4] + 4) == 0x50ffe);
    /* A 2-byte instruction that ends exactly at the page end runs. */
    static const uint8_t nop2[] = {0x66, 0x90};
    memcpy(ram + 0x30ffe, nop2, 2);
    c->eip = 0x50ffe;
    c->r[4] = STACK0;
    CHECK(interp_step(c) == -1 && c->eip == 0x51000);
}

static void test_single_step(void)
{
    setup();
    /* With TF set, each instruction is followed by #DB (a trap). */
    static const uint8_t nop[] = {0x90};
    c->eflags |= FLAG_TF;
    CHECK(step_at(CODE, nop, 1) == -1);
    CHECK(c->eip == HANDLERS + 16 * EXC_DB);
    CHECK(get32(c->r[4]) == CODE + 1);            /* return EIP: after */
    CHECK(get32(c->r[4] + 8) & FLAG_TF);          /* saved EFLAGS.TF */
    CHECK(!(c->eflags & FLAG_TF) && (c->dr[6] & 0x4000));
    CHECK(c->exc_count[EXC_DB] == 1);
    /* int n with TF: no #DB after it (the gate clears TF). */
    c->r[4] = STACK0;
    c->eflags |= FLAG_TF;
    static const uint8_t int30[] = {0xcd, 0x30};
    CHECK(step_at(CODE, int30, 2) == -1);
    CHECK(c->eip == HANDLERS + 16 * 0x30 && c->exc_count[EXC_DB] == 1);
}

static void test_rep_ins_restart(void)
{
    setup_paging();
    /* rep insb of 12 bytes from 0x4fff8: 8 land in the writable page, the
     * 9th hits read-only 0x50000 and faults; the instruction restarts with
     * ECX/EDI showing the 8 bytes already stored. */
    static const uint8_t rep_insb[] = {0xf3, 0x6c};
    memset(ram + 0x4fff8, 0, 16);
    c->r[7] = 0x4fff8;  /* EDI */
    c->r[1] = 12;       /* ECX */
    c->r[2] = 0x70;     /* DX */
    c->eflags &= ~FLAG_DF;
    CHECK(step_at(CODE, rep_insb, 2) == EXC_PF);
    CHECKF(c->r[1] == 4 && c->r[7] == 0x50000, "ecx %u edi %#x", c->r[1],
           c->r[7]);
    CHECK(get32(0x4fff8) == 0xffffffffu && get32(0x4fffc) == 0xffffffffu);
    CHECK(c->cr2 == 0x50000 && get32(c->r[4] + 4) == CODE);
    /* popf at CPL 3 cannot change IF or IOPL (no fault). */
    c->r[4] = STACK0;
    enter_ring3(CODE + 0x200, 0x202);
    static const uint8_t push_popf[] = {0x68, 0x00, 0x30, 0, 0, 0x9d};
    memcpy(ram + CODE + 0x200, push_popf, sizeof(push_popf));
    CHECK(interp_step(c) == -1 && interp_step(c) == -1);
    CHECKF((c->eflags & (FLAG_IF | FLAG_IOPL)) == FLAG_IF, "eflags %#x",
           c->eflags);
}

int main(void)
{
    ram = aligned_alloc(4096, RAM_SIZE);
    c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
    if (!ram || !c)
        return 1;
    memset(c, 0, sizeof(*c));
    RUN(test_init_state);
    RUN(test_cpuid);
    RUN(test_msr);
    RUN(test_cpuid_leaves);
    RUN(test_msr_more);
    RUN(test_gp_selectors);
    RUN(test_ring_transitions);
    RUN(test_io_permission);
    RUN(test_far_transfers);
    RUN(test_call_gate_params);
    RUN(test_double_triple_fault);
    RUN(test_fault_chains);
    RUN(test_paging);
    RUN(test_sysenter);
    RUN(test_descriptor_queries);
    RUN(test_external_interrupt);
    RUN(test_decode_cache);
    RUN(test_fetch_crossing_page);
    RUN(test_single_step);
    RUN(test_rep_ins_restart);
    interp_cpu_free(c);
    free(c);
    free(ram);
    TEST_MAIN_END();
}
