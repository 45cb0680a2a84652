/* test_bt.c - the bt engine on hand-assembled 32-bit code: each program
 * runs once under bt (guest RAM in a memfd, mapped into the bt window) and
 * once under the interpreter alone (interp_step until hlt) from the same
 * start state; registers, flags and RAM must match.  Also checks that the
 * mechanisms under test were really used (chaining, ibl, callouts, faults,
 * self-modifying code, kicks) through the engine's counters. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "engines/bt/bt.h"
#include "test.h"

#define RAM_SIZE (1u << 20)
#define CODE 0x1000u
#define DATA 0x8000u
#define STACK 0x7000u

struct prog {
    uint8_t b[4096];
    unsigned n;
};
static void P(struct prog *p, const char *hex) /* "b8 01 00 00 00 ..." */
{
    unsigned v;
    int k;
    while (sscanf(hex, " %2x%n", &v, &k) == 1) {
        p->b[p->n++] = (uint8_t)v;
        hex += k;
    }
}
static void P32(struct prog *p, uint32_t v)
{
    memcpy(p->b + p->n, &v, 4);
    p->n += 4;
}

struct run {
    struct interp_cpu cpu;   /* final state */
    uint8_t *ram;            /* copy of final RAM (malloc) */
    struct bt_stats st;
    enum bt_run_result res;
    char msg[256];
};

typedef void (*setup_fn)(uint8_t *ram, struct interp_cpu *c);

static void load(uint8_t *ram, const struct prog *p, setup_fn setup,
                 struct interp_cpu *c)
{
    memcpy(ram + CODE, p->b, p->n);
    c->eip = CODE;
    c->r[R_ESP] = STACK;
    for (int r = 0; r < 8; r++)
        if (r != R_ESP)
            c->r[r] = 0x11111111u * (uint32_t)(r + 1);
    if (setup)
        setup(ram, c);
}

static bool run_interp(const struct prog *p, setup_fn setup, struct run *out)
{
    uint8_t *ram = calloc(1, RAM_SIZE);
    static struct interp_cpu c;
    interp_cpu_init(&c, ram, RAM_SIZE, NULL);
    load(ram, p, setup, &c);
    for (int k = 0; k < 1000000 && !c.halted; k++)
        if (interp_step(&c) == -2)
            break;
    out->cpu = c;
    out->ram = ram;
    return c.halted;
}

static int make_ram_fd(uint8_t **view)
{
    int fd = memfd_create("test_bt_ram", 0);
    if (fd < 0 || ftruncate(fd, RAM_SIZE) < 0)
        return -1;
    *view = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return *view == MAP_FAILED ? -1 : fd;
}

static struct bt *bt_setup(const struct prog *p, setup_fn setup, int *fdp,
                           uint8_t **viewp)
{
    uint8_t *view;
    int fd = make_ram_fd(&view);
    if (fd < 0)
        return NULL;
    struct bt *b = bt_new(fd, RAM_SIZE, NULL);
    if (!b)
        return NULL;
    load(view, p, setup, &b->cpu);
    *fdp = fd;
    *viewp = view;
    return b;
}

static bool run_bt(const struct prog *p, setup_fn setup, struct run *out)
{
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(p, setup, &fd, &view);
    if (!b)
        return false;
    out->res = bt_run(b, 1000000, out->msg, sizeof(out->msg));
    out->cpu = b->cpu;
    out->st = b->st;
    out->ram = malloc(RAM_SIZE);
    memcpy(out->ram, view, RAM_SIZE);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
    return out->res == BT_RUN_HLT;
}

#define DEFINED_FLAGS (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | \
                       FLAG_OF | FLAG_DF | FLAG_IF)

/* Run p both ways and compare; returns the bt run (caller frees rams). */
static bool compare(const struct prog *p, setup_fn setup, struct run *bt,
                    uint32_t flag_mask)
{
    struct run in;
    memset(bt, 0, sizeof(*bt));
    bool ok_in = run_interp(p, setup, &in);
    bool ok_bt = run_bt(p, setup, bt);
    CHECKF(ok_in, "interp did not reach hlt (eip %#x)", in.cpu.eip);
    CHECKF(ok_bt, "bt did not reach hlt: result %d eip %#x %s", bt->res,
           bt->cpu.eip, bt->msg);
    for (int r = 0; r < 8; r++)
        CHECKF(in.cpu.r[r] == bt->cpu.r[r], "reg %d: interp %#x bt %#x", r,
               in.cpu.r[r], bt->cpu.r[r]);
    CHECKF(in.cpu.eip == bt->cpu.eip, "eip: interp %#x bt %#x", in.cpu.eip,
           bt->cpu.eip);
    CHECKF(in.cpu.cr2 == bt->cpu.cr2, "cr2: interp %#x bt %#x", in.cpu.cr2,
           bt->cpu.cr2);
    CHECKF((in.cpu.eflags & flag_mask) == (bt->cpu.eflags & flag_mask),
           "eflags: interp %#x bt %#x", in.cpu.eflags, bt->cpu.eflags);
    bool same = bt->ram && memcmp(in.ram, bt->ram, RAM_SIZE) == 0;
    if (!same && bt->ram)
        for (unsigned a = 0; a < RAM_SIZE; a++)
            if (in.ram[a] != bt->ram[a]) {
                CHECKF(0, "RAM differs at %#x: interp %02x bt %02x", a,
                       in.ram[a], bt->ram[a]);
                break;
            }
    free(in.ram);
    return ok_in && ok_bt && same;
}

/* ---- tests ---- */

static void test_straight_line(void)
{
    struct prog p = {0};
    P(&p, "b8 34 12 00 00");      /* mov eax, 0x1234 */
    P(&p, "01 d8");               /* add eax, ebx */
    P(&p, "8d 4c 58 07");         /* lea ecx, [eax+ebx*2+7] */
    P(&p, "31 d2 f7 e1");         /* xor edx,edx; mul ecx */
    P(&p, "0f c8 86 e1 66 41");   /* bswap eax; xchg cl, ah; inc cx */
    P(&p, "4e 47 f5 f4");         /* dec esi; inc edi; cmc; hlt */
    struct run r;
    compare(&p, NULL, &r, DEFINED_FLAGS & ~(FLAG_SF | FLAG_ZF | FLAG_AF |
                                            FLAG_PF));
    CHECK(r.st.translated_insns >= 10);
    CHECK(r.st.exits_callout >= 1); /* the hlt */
    free(r.ram);
}

static void test_loop_chaining(void)
{
    struct prog q = {0};
    /* mov ecx, 10000; xor eax, eax; L: add eax, ecx; adc edx, 0; dec ecx;
     * jnz L */
    P(&q, "b9 10 27 00 00 31 c0 01 c8 83 d2 00 49 75 f8");
    P(&q, "b9 05 00 00 00 43 e2 fd"); /* mov ecx,5; L2: inc ebx; loop L2 */
    P(&q, "e3 01 90 f4");             /* jecxz +1; nop; hlt */
    struct run r;
    compare(&q, NULL, &r, DEFINED_FLAGS);
    CHECKF(r.st.chains_patched >= 2, "chains %llu",
           (unsigned long long)r.st.chains_patched);
    CHECKF(r.st.enters < 50, "enters %llu: loop not chained",
           (unsigned long long)r.st.enters);
    free(r.ram);
}

static void data_setup(uint8_t *ram, struct interp_cpu *c)
{
    (void)c;
    uint32_t t2 = CODE + 0x80;
    memcpy(ram + DATA, &t2, 4);
    for (int k = 0; k < 64; k++)
        ram[DATA + 16 + k] = (uint8_t)(k * 37 + 1);
}

static void stack_setup(uint8_t *ram, struct interp_cpu *c)
{
    (void)ram;
    c->eflags |= FLAG_CF;
}

static void test_call_ret_stack(void)
{
    struct prog p = {0};
    /* 0x1000: */
    P(&p, "bb 05 00 00 00");       /* mov ebx, 5 */
    P(&p, "e8 20 00 00 00");       /* call f (0x102a) */
    P(&p, "4b 75 f8");             /* dec ebx; jnz back to the call */
    P(&p, "6a fe 68 78 56 34 12"); /* push -2; push 0x12345678 */
    P(&p, "5e 5f 54 5d");          /* pop esi; pop edi; push esp; pop ebp */
    P(&p, "ff 35"); P32(&p, DATA); /* push dword [DATA] */
    P(&p, "8f 05"); P32(&p, DATA + 4); /* pop dword [DATA+4] (callout) */
    P(&p, "f4");                   /* hlt */
    while (p.n < 0x2a)
        P(&p, "90");
    /* f at 0x102a: enter-like frame, flags must survive ret (ibl) */
    P(&p, "55 89 e5 83 ec 08");    /* push ebp; mov ebp,esp; sub esp,8 */
    P(&p, "89 45 fc 01 45 fc");    /* mov [ebp-4],eax; add [ebp-4],eax */
    P(&p, "8b 45 fc f9");          /* mov eax,[ebp-4]; stc */
    P(&p, "c9 c3");                /* leave; ret */
    struct run r;
    compare(&p, stack_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_indirect >= 1, "ibl misses %llu",
           (unsigned long long)r.st.exits_indirect);
    free(r.ram);
}

static void test_indirect_and_flags(void)
{
    struct prog p = {0};
    P(&p, "b8"); P32(&p, CODE + 0x40);   /* mov eax, t1 */
    P(&p, "b9 64 00 00 00");             /* mov ecx, 100 */
    /* L (0x100a): */
    P(&p, "39 c8");                      /* cmp eax, ecx (flags live) */
    P(&p, "ff e0");                      /* jmp eax */
    while (p.n < 0x40)
        P(&p, "90");
    /* t1 (0x1040): flags from the cmp must arrive through the ibl */
    P(&p, "0f 92 c2 01 d3");             /* setb dl; add ebx, edx */
    P(&p, "e2 c3");                      /* loop L */
    P(&p, "ff 15"); P32(&p, DATA);       /* call [DATA] */
    P(&p, "f4");
    while (p.n < 0x80)
        P(&p, "90");
    P(&p, "0f 94 c6 c3");                /* t2: sete dh; ret */
    struct run r;
    compare(&p, data_setup, &r, DEFINED_FLAGS);
    CHECK(r.st.exits_indirect >= 2 && r.st.exits_indirect < 10);
    free(r.ram);
}


static void test_indirect_call_mem(void)
{
    struct prog p = {0};
    P(&p, "b8"); P32(&p, CODE + 0x40);
    P(&p, "b9 64 00 00 00 39 c8 ff e0");
    while (p.n < 0x40)
        P(&p, "90");
    P(&p, "0f 92 c2 01 d3");
    P(&p, "b9 01 00 00 00");             /* ecx = 1 so loop falls through */
    P(&p, "e2 00");
    P(&p, "ff 15"); P32(&p, DATA);       /* call [DATA] -> t2 */
    P(&p, "f4");
    while (p.n < 0x80)
        P(&p, "90");
    P(&p, "0f 94 c6 c3");                /* t2: sete dh; ret */
    struct run r;
    compare(&p, data_setup, &r, DEFINED_FLAGS);
    CHECK(r.st.translated_insns > 5);
    free(r.ram);
}

static void test_memory_forms(void)
{
    struct prog p = {0};
    P(&p, "a1"); P32(&p, DATA + 16);       /* mov eax, [moffs] */
    P(&p, "8b 1d"); P32(&p, DATA + 20);    /* mov ebx, [disp32] */
    P(&p, "be"); P32(&p, DATA);            /* mov esi, DATA */
    P(&p, "bf 03 00 00 00");               /* mov edi, 3 */
    P(&p, "8b 4c be 10");                  /* mov ecx, [esi+edi*4+16] */
    P(&p, "01 05"); P32(&p, DATA + 32);    /* add [disp32], eax */
    P(&p, "c7 05"); P32(&p, DATA + 36); P32(&p, 0xcafef00d); /* mov imm */
    P(&p, "66 c7 46 28 34 12");            /* mov word [esi+40], 0x1234 */
    P(&p, "80 35"); P32(&p, DATA + 44); P(&p, "5a"); /* xor byte [], 0x5a */
    P(&p, "0f b6 56 11 0f bf 6e 12");      /* movzx edx,[esi+17]; movsx ebp */
    P(&p, "f0 0f c1 46 30");               /* lock xadd [esi+48], eax */
    P(&p, "0f ba 6e 34 05");               /* bts dword [esi+52], 5 */
    P(&p, "a3"); P32(&p, DATA + 56);       /* mov [moffs], eax */
    P(&p, "36 8b 46 04 26 89 46 3c");      /* ss: mov; es: mov */
    P(&p, "f4");
    struct run r;
    compare(&p, data_setup, &r,
            DEFINED_FLAGS & ~(FLAG_OF | FLAG_SF | FLAG_AF | FLAG_PF));
    CHECKF(r.st.exits_callout == 1, "callouts %llu (only the hlt expected)",
           (unsigned long long)r.st.exits_callout);
    free(r.ram);
}

/* GDT at 0x100, IDT at 0 (interp_cpu_init: base 0, limit 0xffff). */
static void idt_setup(uint8_t *ram, struct interp_cpu *c)
{
    static const uint8_t gdt[] = {0, 0, 0, 0, 0, 0, 0, 0,
                                  0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0,
                                  0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0};
    memcpy(ram + 0x800, gdt, sizeof(gdt));
    c->gdt.base = 0x800;
    c->gdt.limit = sizeof(gdt) - 1;
    c->idt.base = 0;
    c->idt.limit = 32 * 8 - 1;
    for (int v = 0; v < 32; v++) { /* every vector -> 0x1f00 + v*8 */
        uint32_t h = CODE + 0xf00 + (uint32_t)v * 8;
        uint8_t *g = ram + v * 8;
        g[0] = (uint8_t)h; g[1] = (uint8_t)(h >> 8);
        g[2] = 0x08; g[3] = 0; g[4] = 0; g[5] = 0x8e;
        g[6] = (uint8_t)(h >> 16); g[7] = (uint8_t)(h >> 24);
        /* handler: mov ebp, v; hlt */
        uint8_t *s = ram + h;
        s[0] = 0xbd; s[1] = (uint8_t)v; s[2] = s[3] = s[4] = 0; s[5] = 0xf4;
    }
    data_setup(ram, c);
}

static void test_divide_fault_precise(void)
{
    struct prog p = {0};
    P(&p, "b8 07 00 00 00 31 db");   /* mov eax, 7; xor ebx, ebx */
    P(&p, "41 42 f7 f3 46");         /* inc ecx; inc edx; div ebx; inc esi */
    P(&p, "f4");
    struct run r;
    compare(&p, idt_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBP] == 0, "vector %u, expected #DE", r.cpu.r[R_EBP]);
    CHECK(r.st.faults_de == 1);
    free(r.ram);
}

static void test_mmio_fault(void)
{
    struct prog p = {0};
    P(&p, "b8 00 00 f0 fe 40");      /* mov eax, 0xfef00000; inc eax */
    P(&p, "8b 18 43 89 18 8b 08");   /* mov ebx,[eax]; inc ebx; mov [eax],ebx;
                                        mov ecx,[eax] */
    P(&p, "8b 90 ff ff 0f 01");      /* mov edx, [eax+0x10fffff] (wraps) */
    P(&p, "f4");
    struct run r;
    compare(&p, idt_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.faults_mmio >= 3, "mmio faults %llu",
           (unsigned long long)r.st.faults_mmio);
    CHECK(r.cpu.r[R_EBX] == 0);  /* 0xffffffff + 1 */
    free(r.ram);
}

static void test_self_modifying(void)
{
    struct prog p = {0};
    P(&p, "b9 03 00 00 00");             /* mov ecx, 3 */
    /* L (0x1005): */
    P(&p, "b0 11");                      /* mov al, 0x11  <- patched */
    P(&p, "00 c3");                      /* add bl, al */
    P(&p, "fe 05"); P32(&p, CODE + 6);   /* inc byte [imm of mov al] */
    P(&p, "e2 f4");                      /* loop L */
    /* the interpreter writes code too: rep stosb over a later insn */
    P(&p, "bf"); P32(&p, CODE + 0x40);   /* mov edi, 0x1040 */
    P(&p, "b9 02 00 00 00 b0 90 67 aa 67 aa"); /* al=0x90; stosb [di]
                                            twice (addr16: callouts, the
                                            interp writes) */
    P(&p, "eb 00");
    while (p.n < 0x40)
        P(&p, "90");
    P(&p, "cc cc 46 f4");                /* (int3 int3 ->nops); inc esi; hlt */
    struct run r;
    compare(&p, idt_setup, &r, DEFINED_FLAGS);
    CHECKF((r.cpu.r[R_EBX] & 0xff) == 0x7a,
           "bl %#x", r.cpu.r[R_EBX] & 0xff);
    CHECKF(r.st.faults_smc >= 1, "smc faults %llu",
           (unsigned long long)r.st.faults_smc);
    CHECKF(r.st.smc_traps_c >= 1, "interp smc traps %llu",
           (unsigned long long)r.st.smc_traps_c);
    CHECKF(r.st.flushes == 0 && r.st.frags_invalidated >= 2,
           "flushes %llu, fragments invalidated %llu",
           (unsigned long long)r.st.flushes,
           (unsigned long long)r.st.frags_invalidated);
    free(r.ram);
}

static void *kicker(void *arg)
{
    struct bt *b = arg;
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    atomic_store(&b->ctx->run_ok, 0);
    atomic_store(&b->kicked, true);
    return NULL;
}

static void test_kick_ends_loop(void)
{
    struct prog p = {0};
    P(&p, "40 eb fd");                   /* L: inc eax; jmp L */
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, NULL, &fd, &view);
    if (!b)
        SKIP("bt_new failed: %s", popek_error());
    pthread_t t;
    pthread_create(&t, NULL, kicker, b);
    char msg[256];
    enum bt_run_result res = bt_run(b, 0, msg, sizeof(msg));
    pthread_join(t, NULL);
    CHECKF(res == BT_RUN_KICK, "result %d", res);
    CHECKF(b->cpu.r[R_EAX] > 1000000, "eax %#x: loop ran too little",
           b->cpu.r[R_EAX]);
    CHECK(b->cpu.eip == CODE || b->cpu.eip == CODE + 1);
    CHECK(b->st.exits_kick == 1 && b->st.enters <= 3);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void test_interp_mode_when_not_flat(void)
{
    /* a DS limit below 4 GiB: the whole program runs in the interpreter */
    struct prog p = {0};
    P(&p, "b8 05 00 00 00 40 f4");
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, NULL, &fd, &view);
    if (!b)
        SKIP("bt_new failed: %s", popek_error());
    b->cpu.seg[SEG_DS].limit = 0xfffff;
    char msg[256];
    enum bt_run_result res = bt_run(b, 100, msg, sizeof(msg));
    CHECK(res == BT_RUN_HLT);
    CHECK(b->cpu.r[R_EAX] == 6);
    CHECK(b->st.enters == 0 && b->st.interp_mode_insns == 3);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

/* Random straight-line ALU programs with fully defined flags. */
static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

static void rand_setup(uint8_t *ram, struct interp_cpu *c)
{
    data_setup(ram, c);
    c->r[R_ESI] = DATA + 16;
}

static void emit_random_insn(struct prog *p)
{
    static const uint8_t alu[] = {0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31,
                                  0x39, 0x03, 0x0b, 0x13, 0x1b, 0x23, 0x2b,
                                  0x33, 0x3b, 0x85, 0x89, 0x8b, 0x87};
    /* registers other than esp and esi (the data pointer) */
    static const uint8_t regs[] = {0, 1, 2, 3, 5, 7};
    unsigned dst = regs[rnd() % 6], src = regs[rnd() % 6];
    switch (rnd() % 9) {
    case 0: case 1: case 2: /* reg, reg */
        p->b[p->n++] = alu[rnd() % sizeof(alu)];
        p->b[p->n++] = (uint8_t)(0xc0 | src << 3 | dst);
        break;
    case 3: /* reg <-> [esi+disp8] */
        p->b[p->n++] = alu[rnd() % sizeof(alu)];
        p->b[p->n++] = (uint8_t)(0x46 | src << 3);
        p->b[p->n++] = (uint8_t)(rnd() % 40);
        break;
    case 4: /* 83 /x reg, imm8 */
        p->b[p->n++] = 0x83;
        p->b[p->n++] = (uint8_t)(0xc0 | (rnd() % 8) << 3 | dst);
        p->b[p->n++] = (uint8_t)rnd();
        break;
    case 5: /* inc/dec/neg/not */
        if (rnd() & 1) {
            p->b[p->n++] = (uint8_t)(0x40 | (rnd() & 8) | dst);
        } else {
            p->b[p->n++] = 0xf7;
            p->b[p->n++] = (uint8_t)(0xd0 | (rnd() & 8) | dst);
        }
        break;
    case 6: /* setcc / cmovcc */
        p->b[p->n++] = 0x0f;
        if (rnd() & 1) {
            p->b[p->n++] = (uint8_t)(0x90 | (rnd() % 16));
            p->b[p->n++] = (uint8_t)(0xc0 | (dst & 3));
        } else {
            p->b[p->n++] = (uint8_t)(0x40 | (rnd() % 16));
            p->b[p->n++] = (uint8_t)(0xc0 | src << 3 | dst);
        }
        break;
    case 7: /* push reg / pop reg pair */
        p->b[p->n++] = (uint8_t)(0x50 | src);
        p->b[p->n++] = (uint8_t)(0x58 | dst);
        break;
    default: /* short forward jcc over one nop */
        p->b[p->n++] = (uint8_t)(0x70 | (rnd() % 16));
        p->b[p->n++] = 1;
        p->b[p->n++] = 0x90;
        break;
    }
}

static void test_random_alu_vs_interp(void)
{
    for (int prog = 0; prog < 40 && !test_failed_now; prog++) {
        struct prog p = {0};
        for (int k = 0; k < 200; k++)
            emit_random_insn(&p);
        P(&p, "f4");
        struct run r;
        compare(&p, rand_setup, &r, DEFINED_FLAGS & ~FLAG_AF);
        if (test_failed_now) {
            char more[64];
            snprintf(more, sizeof(more), " (program %d)", prog);
            strncat(test_why, more, sizeof(test_why) - strlen(test_why) - 1);
        }
        free(r.ram);
    }
}

/* ---- shadow paging ---- */

#define PD 0x10000u
#define PT 0x11000u

/* Identity-map the first 4 MiB with 4 KiB pages, minus page 0x9000;
 * linear 0x400000-0x7fffff is a 4 MiB page onto physical 0. */
static void paging_setup(uint8_t *ram, struct interp_cpu *c)
{
    idt_setup(ram, c);
    uint32_t *pd = (uint32_t *)(ram + PD), *pt = (uint32_t *)(ram + PT);
    memset(pd, 0, 4096);
    for (uint32_t k = 0; k < 1024; k++)
        pt[k] = (k << 12) | 7;
    pt[9] = 0;                       /* 0x9000: not present */
    pd[0] = PT | 7;
    pd[1] = 0x00000000u | 0x87;      /* 4 MiB page at 0x400000 -> 0 */
    c->cr3 = PD;
    c->cr4 |= CR4_PSE;
    c->cr0 |= CR0_PG | CR0_WP;
}

static void test_paging_memory_forms(void)
{
    struct prog p = {0};
    P(&p, "a1"); P32(&p, DATA + 16);
    P(&p, "be"); P32(&p, DATA);
    P(&p, "bf 03 00 00 00");             /* mov edi, 3 */
    P(&p, "8b 4c be 10 01 46 20");      /* mov ecx,[esi+edi*4+16]; add [esi+32],eax */
    P(&p, "c7 05"); P32(&p, 0x400000 + DATA + 36); P32(&p, 0xcafef00d);
    P(&p, "8b 15"); P32(&p, 0x400000 + DATA + 16); /* via the 4 MiB page */
    P(&p, "e8 00 00 00 00 58");         /* call next; pop eax (stack) */
    P(&p, "f4");
    struct run r;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    if (getenv("BT_DEBUG")) fprintf(stderr, "hidden %llu true %llu enters %llu callout %llu fault %llu mmio %llu smc %llu ptw %llu flush %llu io %llu\n", (unsigned long long)r.st.hidden_page_faults, (unsigned long long)r.st.true_page_faults, (unsigned long long)r.st.enters, (unsigned long long)r.st.exits_callout, (unsigned long long)r.st.exits_fault, (unsigned long long)r.st.faults_mmio, (unsigned long long)r.st.faults_smc, (unsigned long long)r.st.pt_write_traps, (unsigned long long)r.st.shadow_flushes, (unsigned long long)r.st.interp_only_steps);
    CHECKF(r.st.hidden_page_faults >= 3, "hidden faults %llu",
           (unsigned long long)r.st.hidden_page_faults);
    CHECK(r.st.true_page_faults == 0 && r.st.enters > 0);
    CHECKF(r.st.dirty_bit_faults >= 1, "dirty faults %llu",
           (unsigned long long)r.st.dirty_bit_faults);
    free(r.ram);
}

#define PD2 0x12000u
#define PT2 0x13000u
static void two_spaces_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    uint32_t *pd2 = (uint32_t *)(ram + PD2), *pt2 = (uint32_t *)(ram + PT2);
    memset(pd2, 0, 4096);
    memcpy(pt2, ram + PT, 4096);
    pt2[9] = 0x8000 | 7;             /* 0x9000 -> 0x8000 in space 2 */
    pd2[0] = PT2 | 7;
    memcpy(ram + 0x7010, "\x11\x22\x33\x44", 4);
    memcpy(ram + 0x8010, "\x55\x66\x77\x88", 4);
}

static void test_address_spaces_cached(void)
{
    /* two page directories, switched back and forth: the second switch
     * to each finds its shadows cached; a PTE of space 2 written while
     * space 1 runs must still be seen when space 2 runs again */
    struct prog p = {0};
    P(&p, "8b 1d"); P32(&p, 0x8010);           /* mov ebx, [0x8010] */
    P(&p, "b8"); P32(&p, PD2); P(&p, "0f 22 d8"); /* cr3 = PD2 */
    P(&p, "8b 0d"); P32(&p, 0x9010);           /* mov ecx, [0x9010] */
    P(&p, "b8"); P32(&p, PD); P(&p, "0f 22 d8");  /* cr3 = PD */
    P(&p, "8b 15"); P32(&p, 0x8010);           /* mov edx, [0x8010] */
    P(&p, "c7 05"); P32(&p, PT2 + 9 * 4); P32(&p, 0x7007); /* PT2[9] */
    P(&p, "b8"); P32(&p, PD2); P(&p, "0f 22 d8"); /* cr3 = PD2 */
    P(&p, "8b 35"); P32(&p, 0x9010);           /* mov esi, [0x9010] */
    P(&p, "b8"); P32(&p, PD); P(&p, "0f 22 d8");  /* cr3 = PD */
    P(&p, "8b 3d"); P32(&p, 0x8010);           /* mov edi, [0x8010] */
    P(&p, "f4");
    struct run r;
    compare(&p, two_spaces_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_ECX] == 0x88776655u && r.cpu.r[R_ESI] == 0x44332211u,
           "ecx %#x esi %#x", r.cpu.r[R_ECX], r.cpu.r[R_ESI]);
    CHECKF(r.st.as_hits >= 2 && r.st.cr3_switches >= 4,
           "address-space hits %llu switches %llu",
           (unsigned long long)r.st.as_hits,
           (unsigned long long)r.st.cr3_switches);
    CHECKF(r.st.shadow_flushes <= 2, "flushes %llu",
           (unsigned long long)r.st.shadow_flushes);
    free(r.ram);
}

#define PT3 0x14000u
#define PTS 0xa000u
static void shared_pt_setup(uint8_t *ram, struct interp_cpu *c)
{
    two_spaces_setup(ram, c);
    uint32_t *pd = (uint32_t *)(ram + PD), *pd2 = (uint32_t *)(ram + PD2);
    uint32_t *pt3 = (uint32_t *)(ram + PT3);
    memcpy(ram + PTS, ram + PT, 4096); /* one table for both spaces */
    ((uint32_t *)(ram + PTS))[PTS >> 12] |= 0x60; /* its own PTE: A, D */
    pd[0] = PTS | 7;
    pd2[0] = PTS | 7;
    memcpy(pt3, ram + PT, 4096);
    pt3[9] = 0x7000 | 7;
}

static void test_prefetch_traces_the_directory(void)
{
    /* both spaces use one page table; a PTE written into it by the
     * interpreter (a callout) while space 2 runs is prefetched through
     * space 2's directory, which must then be traced: space 1 changing
     * that directory's PDE is seen when space 2 runs again */
    struct prog p = {0};
    P(&p, "8b 1d"); P32(&p, 0x8010);           /* space 1: trace PD, PTS */
    P(&p, "b8"); P32(&p, PD2); P(&p, "0f 22 d8"); /* cr3 = PD2 */
    P(&p, "b8 23 80 00 00");                   /* mov eax, 0x8023 */
    P(&p, "67 89 06 24 a0");                   /* mov [0xa024], eax: addr16,
                                                  a callout: PTS[9] */
    P(&p, "b8"); P32(&p, PD); P(&p, "0f 22 d8");  /* cr3 = PD */
    P(&p, "c7 05"); P32(&p, PD2); P32(&p, PT3 | 7); /* PD2[0] -> PT3 */
    P(&p, "b8"); P32(&p, PD2); P(&p, "0f 22 d8"); /* cr3 = PD2 */
    P(&p, "8b 0d"); P32(&p, 0x9010);           /* mov ecx, [0x9010] */
    P(&p, "f4");
    struct run r;
    compare(&p, shared_pt_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_ECX] == 0x44332211u, "ecx %#x", r.cpu.r[R_ECX]);
    CHECKF(r.st.shadow_prefetches >= 1, "prefetches %llu",
           (unsigned long long)r.st.shadow_prefetches);
    free(r.ram);
}

static void self_mapped_pt_setup(uint8_t *ram, struct interp_cpu *c)
{
    two_spaces_setup(ram, c);
    uint32_t *pts = (uint32_t *)(ram + PTS);
    memcpy(pts, ram + PT, 4096);
    pts[9] = 0x8000 | 7;             /* 0x9000 -> 0x8000 */
    ((uint32_t *)(ram + PD))[0] = PTS | 7;
}

static void test_pt_store_after_ad_update(void)
{
    /* a called-out store into a page table whose own PTE lacks A/D: the
     * interpreter first sets A/D there (the write that traps), then
     * stores; the entry stored must still be invalidated */
    struct prog p = {0};
    P(&p, "8b 1d"); P32(&p, 0x9010);           /* ebx = [0x9010] (0x8010) */
    P(&p, "b8 07 70 00 00");                   /* mov eax, 0x7007 */
    P(&p, "67 89 06 24 a0");                   /* mov [0xa024], eax (addr16) */
    P(&p, "0f 20 d8 0f 22 d8");                /* reload CR3 */
    P(&p, "8b 0d"); P32(&p, 0x9010);           /* ecx = [0x9010] (0x7010) */
    P(&p, "f4");
    struct run r;
    compare(&p, self_mapped_pt_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x88776655u && r.cpu.r[R_ECX] == 0x44332211u,
           "ebx %#x ecx %#x", r.cpu.r[R_EBX], r.cpu.r[R_ECX]);
    free(r.ram);
}

static void straddle_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    /* 0x2ffe: mov eax, 0x12345678 (3 bytes on the next page); add ebx,
     * eax; dec ecx; jz done; PTE of 0x3000 -> 0x4000 (a copy with the
     * immediate's top byte 0x99); invlpg [0x3000]; jmp 0x2ffe; done: hlt */
    static const uint8_t code[] = {
        0xb8, 0x78, 0x56, 0x34, 0x12, 0x01, 0xc3, 0x49, 0x74, 0x16,
        0xc7, 0x05, 0x0c, 0x10, 0x01, 0x00, 0x07, 0x40, 0x00, 0x00,
        0x0f, 0x01, 0x3d, 0x00, 0x30, 0x00, 0x00,
        0xe9, 0xe0, 0xff, 0xff, 0xff, 0xf4};
    memcpy(ram + 0x2ffe, code, sizeof(code));
    memcpy(ram + 0x4000, ram + 0x3000, 4096);
    ram[0x4002] = 0x99;
}

static void test_page_straddling_insn(void)
{
    /* an instruction running into the next page is translated with a
     * guard on the next page's bytes; remapping that page (invlpg) must
     * make the new bytes run */
    struct prog p = {0};
    P(&p, "b9 02 00 00 00");                 /* mov ecx, 2 */
    P(&p, "e9 f4 1f 00 00 f4");              /* jmp 0x2ffe */
    struct run r;
    compare(&p, straddle_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x44444444u + 0x12345678u + 0x99345678u,
           "ebx %#x", r.cpu.r[R_EBX]);
    CHECKF(r.st.straddling_insns >= 1, "straddling translations %llu",
           (unsigned long long)r.st.straddling_insns);
    free(r.ram);
}

static void straddle_callout_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    static const uint8_t code[] = {0x46, 0x0f, 0xa2, 0xf4};
    memcpy(ram + 0x2ffe, code, sizeof(code)); /* inc esi; cpuid; hlt */
}

static void test_straddling_callout_runs_once_before(void)
{
    /* cpuid (a callout) runs into a page never touched before: the
     * guard's read of that page used to fault, be taken for the previous
     * instruction's and make it run twice (found by fuzz_diff) */
    struct prog p = {0};
    P(&p, "be 00 00 00 00");                 /* mov esi, 0 */
    P(&p, "e9 f4 1f 00 00");                 /* jmp 0x2ffe */
    struct run r;
    compare(&p, straddle_callout_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_ESI] == 1, "esi %#x: inc esi ran %u times",
           r.cpu.r[R_ESI], r.cpu.r[R_ESI]);
    free(r.ram);
}

static void test_paging_true_fault(void)
{
    struct prog p = {0};
    P(&p, "b8 01 00 00 00 40");        /* mov eax, 1; inc eax */
    P(&p, "89 05"); P32(&p, 0x9004);   /* mov [0x9004], eax -> #PF */
    P(&p, "40 f4");
    struct run r, in;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBP] == 14, "vector %u", r.cpu.r[R_EBP]);
    CHECKF(r.cpu.cr2 == 0x9004, "cr2 %#x", r.cpu.cr2);
    CHECK(r.st.true_page_faults == 1);
    /* the error code on the handler's stack: write, not present, CPL 0 */
    uint32_t err;
    memcpy(&err, r.ram + STACK - 16, 4);
    CHECKF(err == 2, "error code %#x", err);
    (void)in;
    free(r.ram);
}

static void test_paging_pte_write_invlpg(void)
{
    struct prog p = {0};
    P(&p, "8b 1d"); P32(&p, 0x8010);          /* mov ebx, [0x8010] */
    P(&p, "c7 05"); P32(&p, PT + 9 * 4); P32(&p, 0x8003); /* PTE 9 -> 0x8000 */
    P(&p, "0f 01 3d"); P32(&p, 0x9000);       /* invlpg [0x9000] */
    P(&p, "8b 0d"); P32(&p, 0x9010);          /* mov ecx, [0x9010] */
    P(&p, "89 0d"); P32(&p, 0x9020);          /* mov [0x9020], ecx (sets D) */
    P(&p, "c7 05"); P32(&p, PT + 9 * 4); P32(&p, 0x7003); /* -> 0x7000 */
    P(&p, "0f 01 3d"); P32(&p, 0x9000);
    P(&p, "8b 15"); P32(&p, 0x9020);          /* mov edx, [0x9020] */
    P(&p, "f4");
    struct run r;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_ECX] == r.cpu.r[R_EBX], "ecx %#x ebx %#x",
           r.cpu.r[R_ECX], r.cpu.r[R_EBX]);
    /* each write either drops the old shadow or maps the new frame at
     * once (prefetch); the interpreter writes through the RAM alias */
    CHECKF(r.st.pt_write_traps >= 2 &&
               r.st.shadow_invalidations + r.st.shadow_prefetches >= 2,
           "pt traps %llu invalidations %llu prefetches %llu",
           (unsigned long long)r.st.pt_write_traps,
           (unsigned long long)r.st.shadow_invalidations,
           (unsigned long long)r.st.shadow_prefetches);
    CHECKF(r.st.pt_writes_alias >= 2, "alias writes %llu",
           (unsigned long long)r.st.pt_writes_alias);
    free(r.ram);
}

static void test_paging_self_modifying(void)
{
    /* the same code page written through a second linear alias */
    struct prog p = {0};
    P(&p, "b9 03 00 00 00");                  /* mov ecx, 3 */
    P(&p, "b0 11 00 c3");                     /* L: mov al, 0x11; add bl, al */
    P(&p, "fe 05"); P32(&p, 0x400000 + CODE + 6); /* inc byte via 4M alias */
    P(&p, "e2 f4 f4");                        /* loop L; hlt */
    struct run r;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    CHECKF((r.cpu.r[R_EBX] & 0xff) == 0x7a, "bl %#x", r.cpu.r[R_EBX] & 0xff);
    CHECK(r.st.faults_smc >= 1);
    free(r.ram);
}

static void test_paging_code_traced_after_rw_mapping(void)
{
    /* 0x1100 is first written through the 4 MiB alias (a writable shadow
     * mapping), then executed (its page becomes traced: the writable alias
     * must go), then patched through the alias again. */
    struct prog p = {0};
    P(&p, "c6 05"); P32(&p, 0x400000 + CODE + 0x100); P(&p, "c3"); /* ret */
    P(&p, "e8"); P32(&p, 0x100 - 12);       /* call 0x1100 */
    P(&p, "c6 05"); P32(&p, 0x400000 + CODE + 0x100); P(&p, "43"); /* inc ebx */
    P(&p, "c6 05"); P32(&p, 0x400000 + CODE + 0x101); P(&p, "c3");
    P(&p, "e8"); P32(&p, 0x100 - 31);       /* call 0x1100 again */
    P(&p, "f4");
    struct run r;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x44444445u, "ebx %#x: stale code ran",
           r.cpu.r[R_EBX]);
    CHECK(r.st.faults_smc >= 1);
    free(r.ram);
}

static void test_adaptive_mmio_callout(void)
{
    /* a loop reading MMIO: after BT_ADAPT_THRESHOLD traps the load is
     * patched into a callout and stops faulting */
    struct prog p = {0};
    P(&p, "b9 64 00 00 00");                 /* mov ecx, 100 */
    P(&p, "8b 1d"); P32(&p, 0xfee00000u);   /* L: mov ebx, [0xfee00000] */
    P(&p, "01 d8 e2 f6");                    /* add eax, ebx; loop L */
    P(&p, "f4");
    struct run r;
    compare(&p, NULL, &r, DEFINED_FLAGS);
    CHECKF(r.st.adaptive_retranslations == 1, "retranslations %llu",
           (unsigned long long)r.st.adaptive_retranslations);
    CHECKF(r.st.faults_mmio == BT_ADAPT_THRESHOLD, "mmio faults %llu",
           (unsigned long long)r.st.faults_mmio);
    free(r.ram);
}

static void test_code_page_written_often_goes_volatile(void)
{
    /* a counter in the code page itself: each store kills the page's
     * fragments; past BT_SMC_VOLATILE the page is interpreted instead */
    struct prog p = {0};
    P(&p, "b9 c8 00 00 00");                 /* mov ecx, 200 */
    P(&p, "ff 05"); P32(&p, CODE + 0x80);    /* L: inc dword [0x1080] */
    P(&p, "01 c8 e2 f6 f4");                 /* add eax, ecx; loop L; hlt */
    struct run r;
    compare(&p, NULL, &r, DEFINED_FLAGS);
    CHECKF(r.st.volatile_pages == 1, "volatile pages %llu",
           (unsigned long long)r.st.volatile_pages);
    CHECKF(r.st.smc_page_invalidations == BT_SMC_VOLATILE,
           "page invalidations %llu",
           (unsigned long long)r.st.smc_page_invalidations);
    CHECKF(r.st.flushes == 0, "flushes %llu", (unsigned long long)r.st.flushes);
    free(r.ram);
}

static void test_volatile_page_translated_again(void)
{
    /* the page goes volatile (40 writes into it), then a long loop on it
     * without writes: after BT_SMC_QUIET interpreted steps it is
     * translated again and the loop finishes in the cache */
    struct prog p = {0};
    P(&p, "b9 28 00 00 00");                 /* mov ecx, 40 */
    P(&p, "ff 05"); P32(&p, CODE + 0x80);    /* L: inc dword [0x1080] */
    P(&p, "01 c8 e2 f6");                    /* add eax, ecx; loop L */
    P(&p, "b9 b8 0b 00 00");                 /* mov ecx, 3000 */
    P(&p, "01 cb e2 fc f4");                 /* M: add ebx, ecx; loop M */
    struct run r;
    compare(&p, NULL, &r, DEFINED_FLAGS);
    CHECKF(r.st.volatile_pages >= 1 && r.st.volatile_pages_retried == 1,
           "volatile %llu retried %llu",
           (unsigned long long)r.st.volatile_pages,
           (unsigned long long)r.st.volatile_pages_retried);
    CHECKF(r.st.interp_only_steps < 5000, "interpreted steps %llu",
           (unsigned long long)r.st.interp_only_steps);
    free(r.ram);
}

/* Wider random programs: 16-bit and byte forms (AH..BH included), SIB and
 * disp32-only memory operands, lock'ed read-modify-write, xchg/xadd/
 * cmpxchg, movzx/movsx, bswap, lea.  Flags must match (AF excepted). */
static void emit_random_insn2(struct prog *p)
{
    static const uint8_t regs[] = {0, 1, 2, 3, 5, 7};
    unsigned dst = regs[rnd() % 6], src = regs[rnd() % 6];
    uint32_t disp = DATA + 16 + rnd() % 48;
    switch (rnd() % 12) {
    case 0: /* 66 alu r16, r16 */
        p->b[p->n++] = 0x66;
        p->b[p->n++] = (uint8_t)(0x01 + 8 * (rnd() % 8));
        p->b[p->n++] = (uint8_t)(0xc0 | src << 3 | dst);
        break;
    case 1: /* byte alu r8, r8 with any of AL..BH */
        p->b[p->n++] = (uint8_t)(0x00 + 8 * (rnd() % 8));
        p->b[p->n++] = (uint8_t)(0xc0 | (rnd() % 8) << 3 | (rnd() % 8));
        break;
    case 2: /* alu r32, [disp32] / [disp32], r32 */
        p->b[p->n++] = (uint8_t)(0x01 + 2 * (rnd() & 1) + 8 * (rnd() % 8));
        p->b[p->n++] = (uint8_t)(0x05 | src << 3);
        P32(p, disp);
        break;
    case 3: /* byte op on [esi+edi*1+disp8] with AH..BH: mov/add/xor */
        p->b[p->n++] = (uint8_t)((rnd() & 1) ? 0x88 : 0x30);
        p->b[p->n++] = (uint8_t)(0x44 | (4 + rnd() % 4) << 3);
        p->b[p->n++] = 0x3e;           /* SIB: esi + edi */
        p->b[p->n++] = (uint8_t)(rnd() % 40);
        break;
    case 4: /* lock add/or/and/xor [esi+disp8], r32 */
        p->b[p->n++] = 0xf0;
        p->b[p->n++] = (uint8_t)(0x01 + 8 * (rnd() % 7));
        p->b[p->n++] = (uint8_t)(0x46 | src << 3);
        p->b[p->n++] = (uint8_t)(4 * (rnd() % 10));
        break;
    case 5: /* xadd / cmpxchg [esi+disp8], r32 */
        p->b[p->n++] = 0x0f;
        p->b[p->n++] = (rnd() & 1) ? 0xc1 : 0xb1;
        p->b[p->n++] = (uint8_t)(0x46 | src << 3);
        p->b[p->n++] = (uint8_t)(4 * (rnd() % 10));
        break;
    case 6: /* movzx/movsx r32, byte/word [disp32] */
        p->b[p->n++] = 0x0f;
        p->b[p->n++] = (uint8_t)(0xb6 + (rnd() % 2) + 8 * (rnd() % 2));
        p->b[p->n++] = (uint8_t)(0x05 | dst << 3);
        P32(p, disp);
        break;
    case 7: /* lea r32, [src + dst*4 + disp32] */
        p->b[p->n++] = 0x8d;
        p->b[p->n++] = (uint8_t)(0x84 | dst << 3);
        p->b[p->n++] = (uint8_t)(0x80 | dst << 3 | src);
        P32(p, rnd());
        break;
    case 8: /* bswap / 66 inc / dec r16 */
        if (rnd() & 1) {
            p->b[p->n++] = 0x0f;
            p->b[p->n++] = (uint8_t)(0xc8 | dst);
        } else {
            p->b[p->n++] = 0x66;
            p->b[p->n++] = (uint8_t)(0x40 | (rnd() & 8) | dst);
        }
        break;
    case 9: /* xchg r32, [esi+disp8] ; mov r16, imm16 */
        if (rnd() & 1) {
            p->b[p->n++] = 0x87;
            p->b[p->n++] = (uint8_t)(0x46 | src << 3);
            p->b[p->n++] = (uint8_t)(4 * (rnd() % 10));
        } else {
            p->b[p->n++] = 0x66;
            p->b[p->n++] = (uint8_t)(0xb8 | dst);
            p->b[p->n++] = (uint8_t)rnd();
            p->b[p->n++] = (uint8_t)rnd();
        }
        break;
    case 10: /* 81 /x [disp32], imm32 ; 66 83 /x r16, imm8 */
        if (rnd() & 1) {
            p->b[p->n++] = 0x81;
            p->b[p->n++] = (uint8_t)(0x05 | (rnd() % 8) << 3);
            P32(p, disp);
            P32(p, rnd());
        } else {
            p->b[p->n++] = 0x66;
            p->b[p->n++] = 0x83;
            p->b[p->n++] = (uint8_t)(0xc0 | (rnd() % 8) << 3 | dst);
            p->b[p->n++] = (uint8_t)rnd();
        }
        break;
    default:
        emit_random_insn(p);
        break;
    }
}

static void test_random_forms_vs_interp(void)
{
    for (int prog = 0; prog < 40 && !test_failed_now; prog++) {
        struct prog p = {0};
        P(&p, "bf 05 00 00 00");           /* edi: small index */
        for (int k = 0; k < 150; k++)
            emit_random_insn2(&p);
        P(&p, "f4");
        struct run r;
        compare(&p, rand_setup, &r, DEFINED_FLAGS & ~FLAG_AF);
        if (test_failed_now) {
            char more[64];
            snprintf(more, sizeof(more), " (program %d)", prog);
            strncat(test_why, more, sizeof(test_why) - strlen(test_why) - 1);
        }
        free(r.ram);
    }
}

static void fs_gs_setup(uint8_t *ram, struct interp_cpu *c)
{
    idt_setup(ram, c);
    c->seg[SEG_FS].base = DATA;
    c->seg[SEG_GS].base = DATA + 0x100;
    c->r[R_ESI] = 0x10;
    c->r[R_EDI] = 2;
    c->eflags |= FLAG_IF;
}

static void fs_small_limit_setup(uint8_t *ram, struct interp_cpu *c)
{
    fs_gs_setup(ram, c);
    c->seg[SEG_FS].limit = 0xfff; /* not 4 GiB: fs: operands call out */
}

static struct prog fs_prog(void)
{
    struct prog p = {0};
    P(&p, "64 8b 05 10 00 00 00");         /* mov eax, fs:[0x10] */
    P(&p, "64 89 1d 20 00 00 00");         /* mov fs:[0x20], ebx */
    P(&p, "64 8b 4c be 04");               /* mov ecx, fs:[esi+edi*4+4] */
    P(&p, "64 f0 0f c1 0d 30 00 00 00");   /* lock xadd fs:[0x30], ecx */
    P(&p, "65 81 35 08 00 00 00 78 56 34 12"); /* xor gs:[8], imm32 */
    P(&p, "65 0f b6 56 01");               /* movzx edx, byte gs:[esi+1] */
    P(&p, "fa");                           /* cli (CPL 0: in the cache) */
    P(&p, "65 8a 25 40 00 00 00");         /* mov ah, gs:[0x40]: callout */
    P(&p, "64 66 c7 44 24 00 34 12");      /* mov word fs:[esp], 0x1234 */
    P(&p, "f4");
    return p;
}

static void test_fs_gs_operands_in_cache(void)
{
    struct prog p = fs_prog();
    struct run r;
    compare(&p, fs_gs_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout == 2, "callouts %llu (mov ah + hlt expected)",
           (unsigned long long)r.st.exits_callout);
    CHECK(!(r.cpu.eflags & FLAG_IF));
    free(r.ram);
}

static void test_string_moffs_incdec_in_cache(void)
{
    /* single string instructions (both directions), fs:/gs: moffs moves,
     * inc/dec of memory: all translated, results as the interpreter's */
    struct prog p = {0};
    P(&p, "be"); P32(&p, 0x10);              /* esi = 0x10 (+ DATA below) */
    P(&p, "81 c6"); P32(&p, DATA);           /* add esi, DATA */
    P(&p, "bf"); P32(&p, DATA + 0x40);       /* mov edi, DATA + 0x40 */
    P(&p, "ad ab ac ae a7 66 a5 a4 aa");     /* lodsd stosd lodsb scasb
                                                cmpsd movsw movsb stosb */
    P(&p, "0f 92 c3");                       /* setb bl (scas/cmps flags) */
    P(&p, "fd ad aa a6 a5 af ae fc");        /* std; lods.. scasb; cld */
    P(&p, "0f 94 c7");                       /* sete bh */
    P(&p, "ff 05"); P32(&p, DATA + 0x80);    /* inc dword [DATA+0x80] */
    P(&p, "ff 0d"); P32(&p, DATA + 0x84);    /* dec dword [DATA+0x84] */
    P(&p, "64 a1 20 00 00 00");              /* mov eax, fs:[0x20] */
    P(&p, "65 a3 30 00 00 00");              /* mov gs:[0x30], eax */
    P(&p, "64 a0 21 00 00 00");              /* mov al, fs:[0x21] */
    P(&p, "65 66 a3 40 00 00 00");           /* mov gs:[0x40], ax */
    P(&p, "f4");
    struct run r;
    compare(&p, fs_gs_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout == 1, "callouts %llu (hlt only)",
           (unsigned long long)r.st.exits_callout);
    free(r.ram);
}

static void test_fs_small_limit_calls_out(void)
{
    struct prog p = fs_prog();
    struct run r;
    compare(&p, fs_small_limit_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout + r.st.interp_only_steps >= 5,
           "callouts %llu + %llu", (unsigned long long)r.st.exits_callout,
           (unsigned long long)r.st.interp_only_steps);
    CHECKF(r.cpu.r[R_EBP] == 13, "vector %u: fs:[esp] is past the limit",
           r.cpu.r[R_EBP]);
    free(r.ram);
}

static void pushf_setup(uint8_t *ram, struct interp_cpu *c)
{
    idt_setup(ram, c);
    c->eflags |= FLAG_IF | FLAG_IOPL | FLAG_NT | FLAG_ID;
}

static void test_pushf_cli_in_cache(void)
{
    struct prog p = {0};
    P(&p, "31 c0 40 f9 fd");        /* xor eax,eax; inc eax; stc; std */
    P(&p, "9c fa 9c");              /* pushf; cli; pushf */
    P(&p, "fc 5b 5a 0f 92 c1");     /* cld; pop ebx; pop edx; setc cl */
    P(&p, "f4");
    struct run r;
    compare(&p, pushf_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout == 1, "callouts %llu (only hlt expected)",
           (unsigned long long)r.st.exits_callout);
    CHECKF(r.cpu.r[R_EDX] & FLAG_IF, "first pushf image %#x",
           r.cpu.r[R_EDX]);
    CHECKF(!(r.cpu.r[R_EBX] & FLAG_IF) && (r.cpu.r[R_EBX] & FLAG_DF) &&
               (r.cpu.r[R_EBX] & FLAG_CF),
           "second pushf image %#x", r.cpu.r[R_EBX]);
    free(r.ram);
}

static void string_setup(uint8_t *ram, struct interp_cpu *c)
{
    idt_setup(ram, c);
    for (int k = 0; k < 256; k++)
        ram[0x20000 + k] = (uint8_t)(k * 7 + 3);
}

static void test_rep_string_in_cache(void)
{
    struct prog p = {0};
    P(&p, "be 00 00 02 00 bf 00 00 03 00");   /* esi=0x20000 edi=0x30000 */
    P(&p, "b9 40 00 00 00 f3 a5");            /* rep movsd (64) */
    P(&p, "b9 11 00 00 00 f3 a4");            /* rep movsb (17) */
    P(&p, "66 b9 05 00 f3 66 a5");            /* cx=5; rep movsw */
    P(&p, "fd be ff 00 02 00 bf ff 10 03 00"); /* std; esi/edi at the end */
    P(&p, "b9 20 00 00 00 f3 a4 fc");         /* rep movsb backwards; cld */
    P(&p, "b8 78 56 34 12 b9 10 00 00 00 f3 ab"); /* rep stosd */
    P(&p, "b9 00 00 00 00 f3 aa");            /* rep stosb, ecx = 0 */
    /* crosses the end of RAM into MMIO: faults half way, the interpreter
     * finishes it */
    P(&p, "bf f0 ff 0f 00 b9 08 00 00 00 f3 ab");
    /* would run past 4 GiB: called out (and wraps in the interpreter) */
    P(&p, "bf f8 ff ff ff b9 04 00 00 00 f3 ab");
    P(&p, "f4");
    struct run r;
    compare(&p, string_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout == 1 && r.st.callouts_by_op[0xab] == 1,
           "callouts %llu (only the wrapping rep stosd expected)",
           (unsigned long long)r.st.exits_callout);
    CHECKF(r.st.faults_mmio >= 1, "mmio faults %llu",
           (unsigned long long)r.st.faults_mmio);
    free(r.ram);
}

static int tlb_alias_entries(const struct bt *b)
{
    int n = 0;
    uintptr_t a = (uintptr_t)b->ram_alias;
    for (int k = 0; k < TLB_SIZE; k++) {
        uintptr_t h = (uintptr_t)b->cpu.tlb[k].host;
        n += b->cpu.tlb[k].vpage && h >= a && h - a < b->ram_size;
    }
    return n;
}

static void test_tlb_drop_one_slot(void)
{
    /* bt_tlb_drop drops the slot of one linear page (only an alias
     * pointer with alias_only), never the rest of a 4 MiB region */
    struct prog p = {0};
    P(&p, "f4");
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, NULL, &fd, &view);
    if (!b)
        SKIP("bt_new failed: %s", popek_error());
    struct tlb_entry *t = b->cpu.tlb;
    t[1] = (struct tlb_entry){.vpage = 0x1000 | 1, .ppage = 0x1000,
                              .host = b->ram_alias + 0x1000};
    t[2] = (struct tlb_entry){.vpage = 0x2000 | 1, .ppage = 0x2000,
                              .host = b->window + 0x2000};
    t[3] = (struct tlb_entry){.vpage = 0x3000 | 1, .ppage = 0x3000,
                              .host = b->ram_alias + 0x3000};
    b->cpu.tlb_large[0] = 1; /* region 0 holds a large-page entry */
    CHECK(tlb_alias_entries(b) == 2);
    bt_tlb_drop(b, 0x1234, true);
    bt_tlb_drop(b, 0x2000, true);
    CHECK(t[1].vpage == 0 && t[2].vpage == (0x2000 | 1));
    CHECK(t[3].vpage == (0x3000 | 1));
    bt_tlb_drop(b, 0x2fff, false);
    CHECK(t[2].vpage == 0 && t[3].vpage == (0x3000 | 1));
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void test_pt_store_leaves_no_alias_in_tlb(void)
{
    /* page-table stores emulated through the RAM alias: afterwards no
     * interpreter TLB entry (the store's page, the code's page) may still
     * point into the alias (a later interpreted write there would bypass
     * the write protection of traced pages) */
    struct prog p = {0};
    P(&p, "8b 1d"); P32(&p, 0x8010);          /* mov ebx, [0x8010] */
    for (int k = 0; k < 6; k++) {
        P(&p, "c7 05"); P32(&p, PT + 9 * 4); P32(&p, 0x8003);
        P(&p, "0f 01 3d"); P32(&p, 0x9000);   /* invlpg [0x9000] */
        P(&p, "8b 0d"); P32(&p, 0x9010);      /* mov ecx, [0x9010] */
    }
    P(&p, "f4");
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, paging_setup, &fd, &view);
    if (!b)
        SKIP("bt_new failed: %s", popek_error());
    char msg[256];
    enum bt_run_result res = bt_run(b, 1000000, msg, sizeof(msg));
    CHECKF(res == BT_RUN_HLT, "result %d: %s", res, msg);
    CHECK(b->cpu.r[R_ECX] == b->cpu.r[R_EBX]);
    CHECKF(b->st.pt_writes_alias >= 6, "alias writes %llu",
           (unsigned long long)b->st.pt_writes_alias);
    CHECKF(tlb_alias_entries(b) == 0, "%d TLB entries into the alias",
           tlb_alias_entries(b));
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

/* Every other page of 0x20000..1 MiB read twice (isolated shadow pages:
 * one host mapping each), then a store into the code ahead. */
static void budget_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    for (uint32_t k = 0; k < 112; k++) {
        uint32_t v = k * 3 + 1;
        memcpy(ram + 0x20000 + k * 0x2000, &v, 4);
    }
}

static void budget_prog(struct prog *p)
{
    P(p, "31 c0 be 00 00 02 00 ba 02 00 00 00"); /* eax 0; esi; edx 2 */
    P(p, "b9 70 00 00 00 89 f7");                /* outer: ecx 112 */
    P(p, "03 07 81 c7 00 20 00 00 e2 f6");       /* add eax,[edi]... */
    P(p, "4a 75 ec");                            /* dec edx; jnz outer */
    P(p, "c6 05"); P32(p, CODE + 40); P(p, "55"); /* imm of the next */
    P(p, "bb 11 00 00 00 f4");                   /* mov ebx, 0x11; hlt */
}

static void test_map_budget_reclaims(void)
{
    /* a budget of 120 host mappings: the engine must flush its shadows
     * (and translations) again and again, and still compute what the
     * interpreter does, seeing the store into code */
    struct prog p = {0};
    budget_prog(&p);
    struct run in;
    CHECK(run_interp(&p, budget_setup, &in));
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, budget_setup, &fd, &view);
    CHECK(b != NULL);
    if (!b)
        return;
    b->map_base = bt_count_maps();
    b->map_budget = b->map_base + 120;
    char msg[256] = "";
    enum bt_run_result r = bt_run(b, 1000000, msg, sizeof(msg));
    CHECKF(r == BT_RUN_HLT, "result %d %s", r, msg);
    CHECKF(b->cpu.r[R_EAX] == in.cpu.r[R_EAX] &&
               b->cpu.r[R_EBX] == in.cpu.r[R_EBX] &&
               in.cpu.r[R_EBX] == 0x55,
           "eax %#x/%#x ebx %#x/%#x", b->cpu.r[R_EAX], in.cpu.r[R_EAX],
           b->cpu.r[R_EBX], in.cpu.r[R_EBX]);
    CHECKF(b->st.map_reclaims >= 3 && b->st.hidden_page_faults >= 224,
           "reclaims %llu hidden faults %llu",
           (unsigned long long)b->st.map_reclaims,
           (unsigned long long)b->st.hidden_page_faults);
    CHECKF(b->st.maps_peak <= b->map_budget, "peak %llu budget %u",
           (unsigned long long)b->st.maps_peak, b->map_budget);
    CHECK(b->st.host_call_failures == 0);
    free(in.ram);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void test_unprotect_all_keeps_smc(void)
{
    /* the last resort of a failed unprotect (all of RAM writable, every
     * translation and shadow flushed before code runs again) must not
     * lose a store into code */
    struct prog p = {0};
    budget_prog(&p);
    struct run in;
    CHECK(run_interp(&p, budget_setup, &in));
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, budget_setup, &fd, &view);
    CHECK(b != NULL);
    if (!b)
        return;
    char msg[256] = "";
    enum bt_run_result r = bt_run(b, 40, msg, sizeof(msg));
    CHECKF(r == BT_RUN_LIMIT, "result %d %s", r, msg);
    bt_unprotect_all(b);
    r = bt_run(b, 1000000, msg, sizeof(msg));
    CHECKF(r == BT_RUN_HLT, "result %d %s", r, msg);
    CHECKF(b->cpu.r[R_EAX] == in.cpu.r[R_EAX] &&
               b->cpu.r[R_EBX] == 0x55,
           "eax %#x/%#x ebx %#x", b->cpu.r[R_EAX], in.cpu.r[R_EAX],
           b->cpu.r[R_EBX]);
    CHECKF(b->st.unprotect_all == 1 && b->st.flushes_smc == 1, "unprotect %llu flushes %llu", (unsigned long long)b->st.unprotect_all, (unsigned long long)b->st.flushes_smc);
    free(in.ram);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

/* The permissions of the host mapping holding address a ("rwxp"...), or
 * "" if none; and whether any mapping is writable and executable. */
static bool maps_scan(uintptr_t a, char perms[5], bool *any_wx)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    char line[512];
    perms[0] = 0;
    *any_wx = false;
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) != 3)
            continue;
        if (p[1] == 'w' && p[2] == 'x')
            *any_wx = true;
        if (a >= lo && a < hi)
            memcpy(perms, p, 5);
    }
    fclose(f);
    return true;
}

static void test_tcache_w_xor_x(void)
{
    /* after translating and chaining code: no host mapping in the
     * process is writable and executable; the cache's code is executable
     * and not writable, bt_ctx writable and not executable, and the
     * writable alias not executable */
    struct prog p = {0};
    budget_prog(&p);
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, budget_setup, &fd, &view);
    CHECK(b != NULL);
    if (!b)
        return;
    char msg[256] = "";
    CHECKF(bt_run(b, 1000000, msg, sizeof(msg)) == BT_RUN_HLT, "%s", msg);
    CHECK(b->st.chains_patched > 0 && b->st.fragments > 2);
    char code[5], ctx[5], alias[5];
    bool wx = true;
    CHECK(maps_scan((uintptr_t)(b->tc + b->stubs_end), code, &wx));
    CHECK(!wx);
    CHECK(maps_scan((uintptr_t)b->ctx, ctx, &wx));
    CHECK(maps_scan((uintptr_t)(b->tcw + b->stubs_end), alias, &wx));
    CHECKF(code[0] == 'r' && code[1] == '-' && code[2] == 'x',
           "code mapped %s", code);
    CHECKF(ctx[1] == 'w' && ctx[2] == '-', "bt_ctx mapped %s", ctx);
    CHECKF(alias[1] == 'w' && alias[2] == '-', "writable alias mapped %s",
           alias);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void test_pd_write_precise(void)
{
    /* PDE writes into the current page directory drop only their 4 MiB
     * regions (none at all for a PDE that was not present): the shadows
     * of region 0 survive, and the new mappings are seen at once */
    struct prog p = {0};
    P(&p, "a1"); P32(&p, 0x8010);                     /* mov eax, [0x8010] */
    P(&p, "c7 05"); P32(&p, PD + 8); P32(&p, 0x87);    /* pd[2] = 4 MiB */
    P(&p, "8b 1d"); P32(&p, 0x809010);                /* mov ebx, [..] */
    P(&p, "c7 05"); P32(&p, PD + 8); P32(&p, PT2 | 7); /* pd[2] = PT2 */
    P(&p, "0f 20 d9 0f 22 d9");                       /* cr3 = cr3 */
    P(&p, "8b 15"); P32(&p, 0x809010);                /* mov edx, [..] */
    P(&p, "8b 35"); P32(&p, 0x8010);                  /* mov esi, [0x8010] */
    P(&p, "f4");
    struct run r;
    compare(&p, two_spaces_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0 && r.cpu.r[R_EDX] == 0x88776655u,
           "ebx %#x edx %#x", r.cpu.r[R_EBX], r.cpu.r[R_EDX]);
    CHECKF(r.st.pd_writes_precise == 2 && r.st.pd_writes_slot == 0,
           "precise %llu whole-space %llu",
           (unsigned long long)r.st.pd_writes_precise,
           (unsigned long long)r.st.pd_writes_slot);
    free(r.ram);
}

static void shared_region_setup(uint8_t *ram, struct interp_cpu *c)
{
    two_spaces_setup(ram, c);
    ((uint32_t *)(ram + PD2))[1] = ((uint32_t *)(ram + PD))[1];
    memcpy(ram + 0x2000, "\x83\xc3\x03\xc3", 4); /* add ebx, 3; ret */
    memcpy(ram + 0x3000, "\x83\xc3\x05\xc3", 4); /* add ebx, 5; ret */
    memcpy(ram + 0x4000, "\x83\xc3\x07\xc3", 4); /* add ebx, 7; ret */
    ((uint32_t *)(ram + PT2))[2] = 0x3000 | 7; /* space 2: 0x2000 -> that */
}

static void test_chains_kept_across_cr3(void)
{
    /* code in a 4 MiB region both address spaces map with the same PDE
     * (like a kernel's) calls across pages while CR3 flips between them:
     * those chains and ibl entries stay; so do those into 0x4000 (other
     * page tables, the same frame); those into 0x2000 (a different
     * function in each space) go */
    struct prog p = {0};
    P(&p, "e9"); P32(&p, 0x400000);          /* jmp 0x401005 */
    P(&p, "b9 32 00 00 00");                 /* mov ecx, 50 */
    P(&p, "e8"); P32(&p, 0x402000 - 0x40100f); /* loop: call 0x402000 */
    P(&p, "0f 20 d8 35"); P32(&p, PD ^ PD2); P(&p, "0f 22 d8");
    P(&p, "e8"); P32(&p, 0x2000 - 0x40101f); /* call 0x2000 (region 0) */
    P(&p, "e8"); P32(&p, 0x4000 - 0x401024); /* call 0x4000: same frame */
    P(&p, "e2 e4 f4");                       /* loop; hlt */
    struct run r;
    compare(&p, shared_region_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x44444444u + 700, "ebx %#x eip %#x ebp %#x ecx %#x cr2 %#x", r.cpu.r[R_EBX], r.cpu.eip, r.cpu.r[R_EBP], r.cpu.r[R_ECX], r.cpu.cr2);
    CHECKF(r.st.xchains_kept > 40 && r.st.ibl_kept > 40 &&
               r.st.xchain_unlinks > 40,
           "kept %llu ibl %llu unlinked %llu",
           (unsigned long long)r.st.xchains_kept,
           (unsigned long long)r.st.ibl_kept,
           (unsigned long long)r.st.xchain_unlinks);
    free(r.ram);
}

static void test_rep_cmps_scas_in_cache(void)
{
    /* repe/repne cmps and scas run in the cache (the host's own, on the
     * view): counts, pointers and flags as the interpreter's, including
     * ecx = 0 (flags untouched) and an early stop */
    struct prog p = {0};
    P(&p, "be 00 00 02 00 bf 00 00 03 00");   /* esi=0x20000 edi=0x30000 */
    P(&p, "b9 40 00 00 00 f3 a6 9c 5b");      /* repe cmpsb; ebx = flags */
    P(&p, "be 00 00 02 00 bf 00 00 02 00");   /* the same bytes twice */
    P(&p, "b9 10 00 00 00 f3 a7 9c 5d");      /* repe cmpsd: all equal */
    P(&p, "b0 05 bf 00 00 02 00 b9 00 01 00 00 f2 ae"); /* repne scasb */
    P(&p, "9c 5a");                           /* edx = flags */
    P(&p, "31 c0 bf 00 00 02 00 b9 08 00 00 00 f3 af"); /* repe scasd */
    P(&p, "b9 00 00 00 00 f3 a6");            /* ecx = 0: flags kept */
    P(&p, "31 c0 bf 00 00 02 00 b9 ff ff ff ff f2 ae"); /* strlen's */
    P(&p, "b0 ff bf f0 ff 0f 00 b9 ff ff ff ff f2 ae"); /* into MMIO */
    P(&p, "f4");
    struct run r;
    compare(&p, string_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.exits_callout == 0, "callouts %llu",
           (unsigned long long)r.st.exits_callout);
    free(r.ram);
}

static void unlink_range_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    ((uint32_t *)(ram + PT))[5] = 0x3000 | 7;
    memcpy(ram + 0x2000, "\x83\xc3\x03\xc3", 4); /* add ebx, 3; ret */
    memcpy(ram + 0x3000, "\x83\xc3\x05\xc3", 4); /* add ebx, 5; ret */
    memcpy(ram + 0x4000, "\x83\xc3\x07\xc3", 4); /* add ebx, 7; ret */
}

static void test_unlink_only_the_page_remapped(void)
{
    /* a loop calls 0x2000 and 0x5000 and flips the frame behind 0x5000
     * (PTE write, invlpg): the chains into 0x5000 go each time, the
     * chains into 0x2000 stay, and every call runs the current code */
    struct prog p = {0};
    P(&p, "b9 14 00 00 00");                  /* mov ecx, 20 */
    P(&p, "e8"); P32(&p, 0x2000 - 0x100a);    /* loop: call 0x2000 */
    P(&p, "e8"); P32(&p, 0x5000 - 0x100f);    /* call 0x5000 */
    P(&p, "81 35"); P32(&p, PT + 5 * 4); P32(&p, 0x7000); /* flip frame */
    P(&p, "0f 01 3d"); P32(&p, 0x5000);       /* invlpg [0x5000] */
    P(&p, "e2 e3 f4");                        /* loop; hlt */
    struct run r;
    compare(&p, unlink_range_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x44444444u + 180, "ebx %#x",
           r.cpu.r[R_EBX]);
    CHECKF(r.st.xchains_kept_range >= 10 && r.st.xchain_unlinks >= 10,
           "kept %llu unlinked %llu",
           (unsigned long long)r.st.xchains_kept_range,
           (unsigned long long)r.st.xchain_unlinks);
    free(r.ram);
}

static void test_freed_pd_reused_as_stack(void)
{
    /* a page directory used once (its space cached), then used as a
     * stack: the first push traps, the page stops being traced (and the
     * cached space is given up), the other pushes run in the cache */
    struct prog p = {0};
    P(&p, "b8"); P32(&p, PD2); P(&p, "0f 22 d8");  /* cr3 = PD2 */
    P(&p, "8b 1d"); P32(&p, 0x9010);               /* mov ebx, [0x9010] */
    P(&p, "b8"); P32(&p, PD); P(&p, "0f 22 d8");   /* cr3 = PD */
    P(&p, "89 e5 bc"); P32(&p, PD2 + 0x1000);      /* esp = PD2 page top */
    P(&p, "b9 c8 00 00 00");                       /* mov ecx, 200 */
    P(&p, "51 51 5a 5a e2 fa");                    /* push push pop pop */
    P(&p, "89 ec f4");                             /* esp back; hlt */
    struct run r;
    compare(&p, two_spaces_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x88776655u, "ebx %#x", r.cpu.r[R_EBX]);
    CHECKF(r.st.pt_untraced >= 1 && r.st.pt_write_traps +
                                        r.st.pt_writes_alias <= 4,
           "untraced %llu traps %llu alias %llu",
           (unsigned long long)r.st.pt_untraced,
           (unsigned long long)r.st.pt_write_traps,
           (unsigned long long)r.st.pt_writes_alias);
    free(r.ram);
}

static void test_host_failures_stop_the_guest(void)
{
    /* host calls that keep failing (three in a row) stop the guest with
     * a message (BT_RUN_FAILED: status 10), before any more translated
     * code runs; one success in between resets the count */
    struct prog p = {0};
    budget_prog(&p);
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, budget_setup, &fd, &view);
    CHECK(b != NULL);
    if (!b)
        return;
    CHECK(bt_host_failed(b, "mmap (test)", ENOMEM));
    CHECK(bt_host_failed(b, "mmap (test)", ENOMEM));
    bt_budget_add(b, 2);
    CHECK(bt_host_failed(b, "mmap (test)", ENOMEM));
    CHECK(bt_host_failed(b, "mmap (test)", ENOMEM));
    CHECK(b->host_error[0] == 0);
    CHECK(!bt_host_failed(b, "mmap (test)", ENOMEM));
    char msg[256] = "";
    uint64_t enters = b->st.enters;
    enum bt_run_result r = bt_run(b, 1000000, msg, sizeof(msg));
    CHECKF(r == BT_RUN_FAILED && strstr(msg, "mmap (test)") &&
               strstr(msg, "max_map_count"),
           "result %d msg %s", r, msg);
    CHECK(b->st.enters == enters && b->st.host_call_failures == 5);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void test_bt_mem_reg_in_cache(void)
{
    /* bt/bts/btr/btc m32, r32 with bit offsets outside the dword
     * (negative, large, into the next page) run in the cache and match
     * the interpreter (CF; the other arithmetic flags are undefined) */
    struct prog p = {0};
    P(&p, "be"); P32(&p, DATA + 0x100);        /* esi = DATA + 0x100 */
    P(&p, "b9 05 00 00 00 0f a3 0e 0f 92 c0"); /* bt [esi], 5; setc al */
    P(&p, "b9 23 01 00 00 0f ab 0e 0f 92 c4"); /* bts [esi], 291; setc ah */
    P(&p, "b9 f7 ff ff ff 0f b3 0e 0f 92 c3"); /* btr [esi], -9; setc bl */
    P(&p, "b9 01 80 00 00 0f bb 4e 04");       /* btc [esi+4], 0x8001 */
    P(&p, "0f 92 c7");                         /* setc bh */
    P(&p, "ba 40 00 00 00 f0 0f ab 16");       /* lock bts [esi], 64 */
    P(&p, "f4");
    struct run r;
    compare(&p, NULL, &r, FLAG_CF | FLAG_ZF | FLAG_DF | FLAG_IF);
    CHECKF(r.st.callouts_by_op[OP_MAP0F + 0xa3] +
                   r.st.callouts_by_op[OP_MAP0F + 0xab] +
                   r.st.callouts_by_op[OP_MAP0F + 0xb3] +
                   r.st.callouts_by_op[OP_MAP0F + 0xbb] ==
               0,
           "bt callouts %llu",
           (unsigned long long)r.st.callouts_by_op[OP_MAP0F + 0xa3]);
    free(r.ram);
}

static void test_hot_pte_page_not_shadowed(void)
{
    /* a PTE rewritten again and again between accesses through it (a
     * kernel's temporary mapping slot): past BT_HOT_THRESHOLD rewrites
     * the page is no longer shadowed (no host mapping to replace), its
     * accesses run in the interpreter (then as adaptive callouts), and
     * every read and write sees the frame just mapped */
    struct prog p = {0};
    P(&p, "b9 28 00 00 00");                 /* mov ecx, 40 */
    P(&p, "89 c8 83 e0 01 c1 e0 0c");        /* eax = (ecx & 1) << 12 */
    P(&p, "05 03 70 00 00");                 /* add eax, 0x7003 */
    P(&p, "89 05"); P32(&p, PT + 9 * 4);     /* mov [pte 9], eax */
    P(&p, "0f 01 3d"); P32(&p, 0x9000);      /* invlpg [0x9000] */
    P(&p, "03 1d"); P32(&p, 0x9010);         /* add ebx, [0x9010] */
    P(&p, "01 1d"); P32(&p, 0x9020);         /* add [0x9020], ebx */
    P(&p, "e2 d8 f4");                       /* loop; hlt */
    struct run r;
    compare(&p, paging_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.hot_pages == 1 && r.st.hot_pte_writes >= 40 - BT_HOT_THRESHOLD - 2,
           "hot pages %llu unshadowed writes %llu",
           (unsigned long long)r.st.hot_pages,
           (unsigned long long)r.st.hot_pte_writes);
    CHECKF(r.st.hot_faults_interp >= 1 && r.st.adaptive_retranslations >= 1,
           "faults to interp %llu adaptive %llu",
           (unsigned long long)r.st.hot_faults_interp,
           (unsigned long long)r.st.adaptive_retranslations);
    CHECKF(r.st.shadow_prefetches <= BT_HOT_THRESHOLD + 1,
           "prefetches %llu", (unsigned long long)r.st.shadow_prefetches);
    free(r.ram);
}

/* paging_setup, pages 0x40000..0x4f000 not present, and a #PF handler
 * at 0x3000 that maps the faulting page (identity) and returns */
static void demand_paging_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    uint32_t *pt = (uint32_t *)(ram + PT);
    for (uint32_t k = 0x40; k < 0x50; k++)
        pt[k] = 0;
    uint8_t *g = ram + 14 * 8;
    g[0] = 0x00; g[1] = 0x30; g[6] = g[7] = 0;
    static const uint8_t h[] = {
        0x50, 0x53, 0x0f, 0x20, 0xd0,       /* push eax; push ebx; eax=cr2 */
        0x25, 0x00, 0xf0, 0xff, 0xff,       /* and eax, ~0xfff */
        0x89, 0xc3, 0x83, 0xcb, 0x03,       /* ebx = eax | 3 */
        0xc1, 0xe8, 0x0a,                   /* shr eax, 10 */
        0x89, 0x98, PT & 0xff, (PT >> 8) & 0xff, PT >> 16, 0, /* pte=ebx */
        0x5b, 0x58, 0x83, 0xc4, 0x04, 0xcf, /* pop; pop; drop err; iret */
    };
    memcpy(ram + 0x3000, h, sizeof(h));
}

static void test_pf_callout_adaptive(void)
{
    /* one store takes true page faults again and again (demand paging):
     * it becomes a callout, so later faults are raised by the
     * interpreter without a host signal; once it stops faulting it is
     * translated again */
    struct prog p = {0};
    P(&p, "b9 78 00 00 00");                 /* mov ecx, 120 */
    P(&p, "89 c8 83 e0 0f c1 e0 0c");        /* eax = (ecx & 15) << 12 */
    P(&p, "05 00 00 04 00");                 /* add eax, 0x40000 */
    P(&p, "89 08 e2 ef f4");                 /* mov [eax], ecx; loop; hlt */
    struct run r;
    compare(&p, demand_paging_setup, &r, DEFINED_FLAGS);
    CHECKF(r.st.pf_callouts_made >= 1 && r.st.pf_callout_faults >= 8,
           "pf callouts %llu faults without a signal %llu",
           (unsigned long long)r.st.pf_callouts_made,
           (unsigned long long)r.st.pf_callout_faults);
    CHECKF(r.st.true_page_faults <= BT_ADAPT_THRESHOLD + 1,
           "true page faults seen by host signals %llu",
           (unsigned long long)r.st.true_page_faults);
    CHECKF(r.st.pf_callouts_reverted >= 1, "reverted %llu",
           (unsigned long long)r.st.pf_callouts_reverted);
    free(r.ram);
}

/* paging_setup, and PT2 maps 0x400000.. to frames 0x20000.. (4 KiB) */
static void runfill_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    uint32_t *pt2 = (uint32_t *)(ram + PT2);
    for (uint32_t k = 0; k < 1024; k++)
        pt2[k] = ((0x20 + (k & 0x3f)) << 12) | 7;
    uint32_t v = 0x5eed1234u;
    memcpy(ram + 0x20000, &v, 4);
    for (uint32_t k = 0; k < 16; k++)
        memcpy(ram + k * 0x1000 + 0x40, &k, 4);
}

static void test_run_fill_large_page(void)
{
    /* reads across a 4 MiB page: the first hidden fault maps the region
     * (as far as RAM goes) with one host mmap, read-only; the other pages
     * need no fault; a write still maps its page writable; a PDE write
     * drops the run, and the new mapping is seen */
    struct prog p = {0};
    P(&p, "be 40 00 40 00 b9 10 00 00 00");   /* esi = 0x400040, ecx = 16 */
    P(&p, "03 06 81 c6 00 10 00 00 e2 f6");   /* add eax,[esi]; esi+=4K; loop */
    P(&p, "a3"); P32(&p, 0x408010);           /* mov [0x408010], eax */
    P(&p, "c7 05"); P32(&p, PD + 4); P32(&p, PT2 | 7); /* pd[1] = PT2 */
    P(&p, "0f 20 d8 0f 22 d8");               /* reload cr3 */
    P(&p, "8b 1d"); P32(&p, 0x400000);        /* mov ebx, [0x400000] */
    P(&p, "f4");
    struct run r;
    compare(&p, runfill_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x5eed1234u, "ebx %#x", r.cpu.r[R_EBX]);
    CHECKF(r.st.run_fills >= 1 && r.st.run_fill_pages >= 256,
           "run fills %llu pages %llu", (unsigned long long)r.st.run_fills,
           (unsigned long long)r.st.run_fill_pages);
    CHECKF(r.st.hidden_page_faults <= 8, "hidden faults %llu",
           (unsigned long long)r.st.hidden_page_faults);
    free(r.ram);
}

/* paging_setup, with the PTEs of 0x20000..0x3ffff accessed before */
static void runfill_4k_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    uint32_t *pt = (uint32_t *)(ram + PT);
    for (uint32_t k = 0x20; k < 0x40; k++)
        pt[k] |= PTE_A;
    pt[0x30] = (0x50 << 12) | 7 | PTE_A; /* a frame out of line: not in the run */
    for (uint32_t k = 0; k < 0x60; k++)
        memcpy(ram + k * 0x1000 + 0x800, &k, 4);
}

static void test_run_fill_4k_pages(void)
{
    /* reads across pages whose PTEs are contiguous in linear and physical
     * space and accessed before: one hidden fault maps the run read-only
     * (no A bit set on entries not accessed: RAM equals the interpreter's);
     * the run stops at the entry whose frame is out of line */
    struct prog p = {0};
    P(&p, "be 00 08 02 00 b9 18 00 00 00");   /* esi = 0x20800, ecx = 24 */
    P(&p, "03 06 81 c6 00 10 00 00 e2 f6");   /* add eax,[esi]; esi+=4K; loop */
    P(&p, "89 05"); P32(&p, 0x28010);         /* mov [0x28010], eax */
    P(&p, "f4");
    struct run r;
    compare(&p, runfill_4k_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EAX] == 0x11111111u + (0x20 + 0x37) * 24 / 2 - 0x30 + 0x50,
           "eax %#x", r.cpu.r[R_EAX]);
    CHECKF(r.st.run_fills_small >= 1, "4 KiB run fills %llu",
           (unsigned long long)r.st.run_fills_small);
    CHECKF(r.st.hidden_page_faults <= 6, "hidden faults %llu",
           (unsigned long long)r.st.hidden_page_faults);
    free(r.ram);
}

static void values_setup(uint8_t *ram, struct interp_cpu *c)
{
    paging_setup(ram, c);
    for (uint32_t k = 0x20; k < 0x60; k++)
        memcpy(ram + k * 0x1000 + 0x800, &k, 4);
}

static void test_unsync_page_table(void)
{
    /* a page table rewritten entry after entry (as a fork write-protects
     * the parent's) goes unsynchronised: its writes no longer touch the
     * shadows one by one; the CR3 reload (a TLB flush) drops the shadows
     * of the entries written, and the new frames are seen */
    struct prog p = {0};
    P(&p, "be 00 08 02 00 b9 08 00 00 00");   /* esi = 0x20800, ecx = 8 */
    P(&p, "03 06 81 c6 00 10 00 00 e2 f6");   /* add eax,[esi]; esi+=4K; loop */
    P(&p, "bf"); P32(&p, PT + 0x20 * 4);      /* edi = &pte[0x20] */
    P(&p, "ba 07 00 04 00 b9 08 00 00 00");   /* edx = 0x40007, ecx = 8 */
    P(&p, "89 17 83 c7 04 81 c2 00 10 00 00 e2 f3"); /* pte = edx; next */
    P(&p, "0f 20 d8 0f 22 d8");               /* reload cr3: flush */
    P(&p, "be 00 08 02 00 b9 08 00 00 00");
    P(&p, "03 1e 81 c6 00 10 00 00 e2 f6 f4"); /* add ebx,[esi]...; hlt */
    struct run r;
    compare(&p, values_setup, &r, DEFINED_FLAGS);
    CHECKF(r.cpu.r[R_EBX] == 0x44444444u + 8 * 0x40 + 28, "ebx %#x",
           r.cpu.r[R_EBX]);
    CHECKF(r.st.unsync_tables >= 1 && r.st.unsync_writes >= 3 &&
               r.st.unsync_resyncs >= 1,
           "unsync tables %llu deferred writes %llu resyncs %llu",
           (unsigned long long)r.st.unsync_tables,
           (unsigned long long)r.st.unsync_writes,
           (unsigned long long)r.st.unsync_resyncs);
    free(r.ram);
}

/* A host signal whose handler is not SA_ONSTACK, arriving while translated
 * code runs (host RSP = the guest's ESP): bt_new moves the handler to the
 * alternate stack, so the run is not disturbed (it used to fail with
 * "faulted outside the guest window": the kernel could not write the
 * signal frame at the guest's ESP and forced a SIGSEGV; found by
 * fuzz_diff under libFuzzer's SIGALRM, tests/fuzz/regress/README.md). */
static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms = alarms + 1;
}

static void test_signal_in_translated_code(void)
{
    struct prog p = {0};
    P(&p, "40 50 59 eb fb");            /* L: inc eax; push eax; pop ecx; jmp L */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;            /* no SA_ONSTACK */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old);
    alarms = 0;
    int fd;
    uint8_t *view;
    struct bt *b = bt_setup(&p, NULL, &fd, &view);
    if (!b)
        SKIP("bt_new failed: %s", popek_error());
    struct itimerval it = {{0, 100}, {0, 100}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t t;
    pthread_create(&t, NULL, kicker, b);
    char msg[256] = "";
    enum bt_run_result res = bt_run(b, 0, msg, sizeof(msg));
    pthread_join(t, NULL);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    CHECKF(res == BT_RUN_KICK, "result %d: %s", res, msg);
    CHECKF(alarms > 0, "no SIGALRM arrived");
    CHECKF(b->cpu.r[R_ECX] + 1 >= b->cpu.r[R_EAX] &&
           b->cpu.r[R_ESP] == STACK, "eax %#x ecx %#x esp %#x",
           b->cpu.r[R_EAX], b->cpu.r[R_ECX], b->cpu.r[R_ESP]);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

int main(void)
{
    RUN(test_straight_line);
    RUN(test_loop_chaining);
    RUN(test_call_ret_stack);
    RUN(test_indirect_and_flags);
    RUN(test_indirect_call_mem);
    RUN(test_memory_forms);
    RUN(test_divide_fault_precise);
    RUN(test_mmio_fault);
    RUN(test_self_modifying);
    RUN(test_kick_ends_loop);
    RUN(test_interp_mode_when_not_flat);
    RUN(test_random_alu_vs_interp);
    RUN(test_random_forms_vs_interp);
    RUN(test_paging_memory_forms);
    RUN(test_paging_true_fault);
    RUN(test_paging_pte_write_invlpg);
    RUN(test_tlb_drop_one_slot);
    RUN(test_pt_store_leaves_no_alias_in_tlb);
    RUN(test_address_spaces_cached);
    RUN(test_page_straddling_insn);
    RUN(test_straddling_callout_runs_once_before);
    RUN(test_prefetch_traces_the_directory);
    RUN(test_pt_store_after_ad_update);
    RUN(test_paging_self_modifying);
    RUN(test_paging_code_traced_after_rw_mapping);
    RUN(test_adaptive_mmio_callout);
    RUN(test_code_page_written_often_goes_volatile);
    RUN(test_volatile_page_translated_again);
    RUN(test_fs_gs_operands_in_cache);
    RUN(test_fs_small_limit_calls_out);
    RUN(test_string_moffs_incdec_in_cache);
    RUN(test_pushf_cli_in_cache);
    RUN(test_rep_string_in_cache);
    RUN(test_rep_cmps_scas_in_cache);
    RUN(test_bt_mem_reg_in_cache);
    RUN(test_map_budget_reclaims);
    RUN(test_unprotect_all_keeps_smc);
    RUN(test_tcache_w_xor_x);
    RUN(test_host_failures_stop_the_guest);
    RUN(test_pd_write_precise);
    RUN(test_chains_kept_across_cr3);
    RUN(test_unlink_only_the_page_remapped);
    RUN(test_freed_pd_reused_as_stack);
    RUN(test_hot_pte_page_not_shadowed);
    RUN(test_pf_callout_adaptive);
    RUN(test_run_fill_large_page);
    RUN(test_run_fill_4k_pages);
    RUN(test_unsync_page_table);
    RUN(test_signal_in_translated_code);
    TEST_MAIN_END();
}
