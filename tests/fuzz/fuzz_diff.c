/* fuzz_diff.c - differential fuzzing of the bt engine against the
 * interpreter (the machinery of tests/unit/test_bt.c): the input drives a
 * generator of 32-bit instruction sequences (ALU, shifts, multiply and
 * divide, bit tests and scans, moves, exchanges, conditional moves and
 * sets, forward branches, loops, pushes and pops, string ops, memory
 * operands with and without an fs: base, locked read-modify-writes, and
 * self-modifying stores into the code that follows), run with paging off
 * or on and with the code starting just before a page boundary or not.
 * Every vector's handler records the vector in ebp and halts.  Both
 * engines must end in the same state: registers, eip, cr2, the defined
 * flags, CPL, segment registers and all of RAM.
 *
 * Mode byte bit 7 ("extended"; without it the program is generated as it
 * was when the first regression inputs were found) adds: ring 3 (bit 3:
 * CPL 3 code and data, user pages, handlers reached through the TSS's
 * ring-0 stack); the next code page mapped to another frame (bit 4, with
 * paging: code crossing pages comes from two unrelated frames, and an
 * instruction can remap it, with invlpg, to a third frame holding the
 * same code with other immediates); GS with a base (bit 5: wrapping past
 * 4 GiB to low memory, or making accesses straddle linear 0xffffffff,
 * whose page maps a RAM frame with paging); an FS base that wraps past
 * 4 GiB (bit 6); segment loads (FS/GS/DS/ES: null, flat, wrapping base,
 * small limit, non-zero base: bt then runs in the interpreter);
 * self-modifying code in a loop (the loop rewrites its own immediate),
 * through rep movsb, and through a second linear mapping of the code
 * frames; push/pop of memory operands with segment overrides; calls and
 * returns, indirect jumps and calls through registers and memory (bt's
 * rewritten control flow and indirect-branch table); bt/bts/btr/btc of
 * memory with register bit offsets; leave.
 *
 * Architecturally undefined flags are masked in the program itself: after
 * an instruction that leaves flags U undefined the generator emits
 * "pushfd; and dword [esp], ~U; popfd", so those flags are 0 on both
 * engines from then on and no later instruction can observe them.  A
 * divergence aborts with both states printed (libFuzzer saves the input).
 *
 * Every input runs under a SIGPROF timer (1 ms of CPU time) whose handler
 * is not SA_ONSTACK: host signals land in translated code, which runs
 * with RSP = the guest's ESP (bt must move such handlers to its
 * alternate stack: tests/fuzz/regress/README.md). */
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#include "engines/bt/bt.h"
#include "fuzz_common.h"

#define RAM_SIZE (1u << 20)
#define HANDLERS 0x600u
#define GDT 0x800u
#define STACK 0x7000u
#define DATA 0x8000u
#define CODE 0x3000u
#define PD 0x10000u
#define PT 0x11000u
/* extended mode */
#define IDT_EXT 0x100u  /* the IDT (linear 0-0xff: a target of GS wraps) */
#define TSS 0x900u
#define ESP0 0x6800u    /* ring-0 stack of handlers entered from ring 3 */
#define WRAP 0x5000u    /* where wrapping FS/GS bases land */
#define PT2 0x12000u    /* page table of linear 0xffc00000-0xffffffff */
#define NEXTF 0x20000u  /* frame of the code's second page (bit 4) */
#define ALTF 0x21000u   /* the same code with other immediates */
#define TOPF 0x22000u   /* frame of linear page 0xfffff000 */
#define ALIAS 0x40000u  /* second linear mapping of the two code pages */
#define MAX_IMMS 64

#define DEFINED_FLAGS (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | \
                       FLAG_OF | FLAG_DF | FLAG_IF)
#define ARITH (FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF)

struct prog {
    uint8_t b[4096];
    unsigned n;
};

static void emit(struct prog *p, const uint8_t *b, unsigned n)
{
    if (p->n + n <= sizeof(p->b)) {
        memcpy(p->b + p->n, b, n);
        p->n += n;
    }
}
static void e1(struct prog *p, uint8_t b) { emit(p, &b, 1); }
static void e4(struct prog *p, uint32_t v) { emit(p, (uint8_t *)&v, 4); }

/* pushfd; and dword [esp], ~U; popfd */
static void mask_flags(struct prog *p, uint32_t undef)
{
    if (!undef)
        return;
    static const uint8_t pre[] = {0x9c, 0x81, 0x24, 0x24};
    emit(p, pre, 4);
    e4(p, ~undef);
    e1(p, 0x9d);
}

/* Registers the program may write: eax ecx edx esi edi (ebx is the data
 * pointer, esp the stack, ebp the handlers' vector). */
static const uint8_t dregs[5] = {0, 1, 2, 6, 7};
/* Byte registers that don't alias ebx: al cl dl ah ch dh. */
static const uint8_t bregs[6] = {0, 1, 2, 4, 5, 6};

static unsigned D(struct fuzz_in *in) { return dregs[fuzz_get(in, 1) % 5]; }
static unsigned S(struct fuzz_in *in) { return fuzz_get(in, 1) & 7; }
static unsigned B8(struct fuzz_in *in) { return bregs[fuzz_get(in, 1) % 6]; }

struct gen {
    struct prog *p;
    struct fuzz_in *in;
    bool fs;         /* fs: has a base: use it on some memory operands */
    uint32_t code;   /* where the program starts */
    bool ext, gs, paging, ring3, remap;
    bool nostack;    /* inside a subroutine: no unbalanced push/pop */
    uint32_t imms[MAX_IMMS]; /* linear addresses of mov r, imm32 imm32s */
    unsigned nimms;
};

static void note_imm(struct gen *g)
{
    if (g->code && g->nimms < MAX_IMMS)
        g->imms[g->nimms++] = g->code + g->p->n;
}

/* [ebx+disp8] memory operand for modrm reg field r, optionally fs: */
static void mem_operand(struct gen *g, unsigned r, bool *prefix_done)
{
    (void)prefix_done;
    e1(g->p, (uint8_t)(0x43 | r << 3));
    e1(g->p, (uint8_t)(fuzz_get(g->in, 1) & 0x7c));
}

static void maybe_fs(struct gen *g)
{
    if (g->ext) { /* fs: or gs: (either may be null, small or wrapping) */
        unsigned b = fuzz_get(g->in, 1);
        if (b & 1)
            e1(g->p, b & 2 ? 0x65 : 0x64);
        return;
    }
    if (g->fs && (fuzz_get(g->in, 1) & 1))
        e1(g->p, 0x64);
}

static uint32_t gen_ext(struct gen *g, unsigned k);

/* One instruction (or a short group); returns its undefined flags. */
static uint32_t gen_one(struct gen *g, int depth)
{
    struct prog *p = g->p;
    struct fuzz_in *in = g->in;
    unsigned k = fuzz_get(in, 1) % (g->ext ? 34 : 24);
    if (k >= 24)
        return depth ? 0 : gen_ext(g, k - 24);
    switch (k) {
    case 0: { /* ALU r, r (add or adc sbb and sub xor cmp) */
        unsigned op = fuzz_get(in, 1) & 7;
        if (fuzz_get(in, 1) & 1)
            e1(p, 0x66);
        e1(p, (uint8_t)(op << 3 | 1));
        e1(p, (uint8_t)(0xc0 | S(in) << 3 | D(in)));
        return (op == 1 || op == 4 || op == 6) ? FLAG_AF : 0;
    }
    case 1: { /* ALU r, imm8 / imm32 */
        unsigned op = fuzz_get(in, 1) & 7;
        bool imm32 = fuzz_get(in, 1) & 1;
        e1(p, imm32 ? 0x81 : 0x83);
        e1(p, (uint8_t)(0xc0 | op << 3 | D(in)));
        if (imm32)
            e4(p, fuzz_get(in, 4));
        else
            e1(p, (uint8_t)fuzz_get(in, 1));
        return (op == 1 || op == 4 || op == 6) ? FLAG_AF : 0;
    }
    case 2: { /* ALU with a memory operand, 8 or 32 bits, either way */
        unsigned op = fuzz_get(in, 1) & 7, form = fuzz_get(in, 1) & 3;
        bool lock = form == 1 && op != 7 && (fuzz_get(in, 1) & 1);
        maybe_fs(g);
        if (lock)
            e1(p, 0xf0);
        unsigned r = form & 1 ? (form & 2 ? B8(in) : S(in))
                              : (form & 2 ? B8(in) : D(in));
        /* forms: 0 = 03 (r32 <- m), 1 = 01 (m <- r32), 2 = 02 (r8 <- m),
         * 3 = 00 (m <- r8) */
        static const uint8_t opc[4] = {3, 1, 2, 0};
        e1(p, (uint8_t)(op << 3 | opc[form]));
        mem_operand(g, r, NULL);
        return (op == 1 || op == 4 || op == 6) ? FLAG_AF : 0;
    }
    case 3: /* inc / dec r32 */
        e1(p, (uint8_t)((fuzz_get(in, 1) & 1 ? 0x48 : 0x40) + D(in)));
        return 0;
    case 4: { /* shifts and rotates: by 1, by imm8, by cl */
        unsigned op = fuzz_get(in, 1) & 7, how = fuzz_get(in, 1) % 3;
        if (op == 6)
            op = 4;
        e1(p, how == 0 ? 0xd1 : how == 1 ? 0xc1 : 0xd3);
        e1(p, (uint8_t)(0xc0 | op << 3 | D(in)));
        if (how == 1)
            e1(p, (uint8_t)fuzz_get(in, 1));
        return how == 0 ? FLAG_AF : FLAG_AF | FLAG_OF;
    }
    case 5: { /* group 3: test not neg mul imul div idiv */
        unsigned op = fuzz_get(in, 1) & 7;
        if (op == 1)
            op = 0;
        e1(p, 0xf7);
        e1(p, (uint8_t)(0xc0 | op << 3 | (op >= 4 ? S(in) : D(in))));
        if (op == 0)
            e4(p, fuzz_get(in, 4));
        if (op == 0)
            return FLAG_AF;
        if (op == 4 || op == 5)
            return FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
        if (op >= 6)
            return ARITH;
        return 0;
    }
    case 6: /* imul r, r / imul r, r, imm8 */
        if (fuzz_get(in, 1) & 1) {
            e1(p, 0x0f);
            e1(p, 0xaf);
            e1(p, (uint8_t)(0xc0 | D(in) << 3 | S(in)));
        } else {
            e1(p, 0x6b);
            e1(p, (uint8_t)(0xc0 | D(in) << 3 | S(in)));
            e1(p, (uint8_t)fuzz_get(in, 1));
        }
        return FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
    case 7: { /* bt bts btr btc: by register or imm8 */
        unsigned op = fuzz_get(in, 1) & 3;
        e1(p, 0x0f);
        if (fuzz_get(in, 1) & 1) {
            e1(p, (uint8_t)(0xa3 | op << 3));
            e1(p, (uint8_t)(0xc0 | S(in) << 3 | D(in)));
        } else {
            e1(p, 0xba);
            e1(p, (uint8_t)(0xc0 | (4 + op) << 3 | D(in)));
            e1(p, (uint8_t)fuzz_get(in, 1));
        }
        return FLAG_OF | FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
    }
    case 8: { /* bsf / bsr of a non-zero source (zero: dest undefined) */
        unsigned s = D(in), d = D(in);
        e1(p, 0x81);
        e1(p, (uint8_t)(0xc8 | s)); /* or s, imm32 | 1 */
        e4(p, fuzz_get(in, 4) | 1);
        mask_flags(p, FLAG_AF);
        e1(p, 0x0f);
        e1(p, fuzz_get(in, 1) & 1 ? 0xbc : 0xbd);
        e1(p, (uint8_t)(0xc0 | d << 3 | s));
        return FLAG_CF | FLAG_OF | FLAG_SF | FLAG_AF | FLAG_PF;
    }
    case 9: /* mov r, imm32 */
        e1(p, (uint8_t)(0xb8 + D(in)));
        note_imm(g);
        e4(p, fuzz_get(in, 4));
        return 0;
    case 10: { /* mov / movzx / movsx / lea */
        unsigned f = fuzz_get(in, 1) % 4;
        if (f == 0) {
            e1(p, 0x89);
            e1(p, (uint8_t)(0xc0 | S(in) << 3 | D(in)));
        } else if (f == 1) {
            static const uint8_t x[4] = {0xb6, 0xb7, 0xbe, 0xbf};
            e1(p, 0x0f);
            e1(p, x[fuzz_get(in, 1) & 3]);
            e1(p, (uint8_t)(0xc0 | D(in) << 3 | S(in)));
        } else if (f == 2) { /* lea d, [base + index*scale + disp8] */
            unsigned idx = S(in);
            if (idx == 4)
                idx = 0;
            e1(p, 0x8d);
            e1(p, (uint8_t)(0x44 | D(in) << 3));
            e1(p, (uint8_t)((fuzz_get(in, 1) & 3) << 6 | idx << 3 | S(in)));
            e1(p, (uint8_t)fuzz_get(in, 1));
        } else { /* mov r32 <-> [ebx+d] */
            maybe_fs(g);
            bool load = fuzz_get(in, 1) & 1;
            e1(p, load ? 0x8b : 0x89);
            mem_operand(g, load ? D(in) : S(in), NULL);
        }
        return 0;
    }
    case 11: { /* xchg, bswap, cdq, cwde, lahf, sahf, clc, stc, cmc, cld, std */
        unsigned f = fuzz_get(in, 1) % 11;
        static const uint8_t one[] = {0x99, 0x98, 0x9f, 0x9e, 0xf8, 0xf9,
                                      0xf5, 0xfc, 0xfd};
        if (f == 0) {
            e1(p, 0x87);
            e1(p, (uint8_t)(0xc0 | D(in) << 3 | D(in)));
        } else if (f == 1) {
            e1(p, 0x0f);
            e1(p, (uint8_t)(0xc8 + D(in)));
        } else {
            e1(p, one[f - 2]);
        }
        return 0;
    }
    case 12: /* setcc r8 */
        e1(p, 0x0f);
        e1(p, (uint8_t)(0x90 | (fuzz_get(in, 1) & 15)));
        e1(p, (uint8_t)(0xc0 | B8(in)));
        return 0;
    case 13: /* cmovcc */
        e1(p, 0x0f);
        e1(p, (uint8_t)(0x40 | (fuzz_get(in, 1) & 15)));
        e1(p, (uint8_t)(0xc0 | D(in) << 3 | S(in)));
        return 0;
    case 14: { /* xadd / cmpxchg, register or (locked) memory */
        bool mem = fuzz_get(in, 1) & 1, x = fuzz_get(in, 1) & 1;
        if (mem) {
            maybe_fs(g);
            if (fuzz_get(in, 1) & 1)
                e1(p, 0xf0);
        }
        e1(p, 0x0f);
        e1(p, x ? 0xc1 : 0xb1);
        if (mem)
            mem_operand(g, D(in), NULL);
        else
            e1(p, (uint8_t)(0xc0 | D(in) << 3 | D(in)));
        return 0;
    }
    case 15:
    case 16: { /* a forward branch over the next instruction */
        if (depth > 2)
            return 0;
        struct prog tmp = {.n = 0};
        struct gen g2 = *g;
        g2.p = &tmp;
        g2.code = 0; /* no self-modifying store inside: addresses move */
        uint32_t u = gen_one(&g2, depth + 1);
        mask_flags(&tmp, u);
        if (tmp.n > 127)
            return 0;
        unsigned f = fuzz_get(in, 1) % 4;
        if (f == 0)
            e1(p, 0xeb); /* jmp */
        else if (f == 1)
            e1(p, (uint8_t)(0xe2 + (fuzz_get(in, 1) & 1))); /* loop/jecxz */
        else
            e1(p, (uint8_t)(0x70 | (fuzz_get(in, 1) & 15))); /* jcc */
        e1(p, (uint8_t)tmp.n);
        emit(p, tmp.b, tmp.n);
        return 0;
    }
    case 17: { /* push / pop / pushfd+pop / push imm; popfd (flags only) */
        if (g->nostack)
            return 0;
        unsigned f = fuzz_get(in, 1) % 5;
        if (f == 0) {
            e1(p, (uint8_t)(0x50 + S(in)));
        } else if (f == 1) {
            e1(p, (uint8_t)(0x58 + D(in)));
        } else if (f == 2) {
            e1(p, 0x9c);
            e1(p, (uint8_t)(0x58 + D(in)));
        } else if (f == 3) {
            e1(p, 0x6a);
            e1(p, (uint8_t)fuzz_get(in, 1));
        } else {
            e1(p, 0x68);
            e4(p, (fuzz_get(in, 4) & (ARITH | FLAG_DF)) | 2);
            e1(p, 0x9d);
        }
        return 0;
    }
    case 18: { /* self-modifying: store a new immediate into the next mov */
        if (!g->code)
            return 0;
        unsigned d = D(in);
        uint32_t at = g->code + p->n + 10 + 1; /* imm32 of the mov below */
        e1(p, 0xc7);
        e1(p, 0x05);
        e4(p, at);
        e4(p, fuzz_get(in, 4));
        e1(p, (uint8_t)(0xb8 + d));
        note_imm(g);
        e4(p, fuzz_get(in, 4));
        return 0;
    }
    case 19: { /* memory read-modify-write forms */
        unsigned f = fuzz_get(in, 1) % 5;
        maybe_fs(g);
        if (f == 0) { /* inc/dec dword [m] */
            e1(p, 0xff);
            mem_operand(g, fuzz_get(in, 1) & 1, NULL);
            return 0;
        }
        if (f == 1) { /* not/neg byte [m] */
            e1(p, 0xf6);
            mem_operand(g, 2 + (fuzz_get(in, 1) & 1), NULL);
            return 0;
        }
        if (f == 2) { /* shift dword [m], imm8 */
            unsigned op = fuzz_get(in, 1) & 7;
            if (op == 6)
                op = 4;
            e1(p, 0xc1);
            mem_operand(g, op, NULL);
            e1(p, (uint8_t)fuzz_get(in, 1));
            return FLAG_AF | FLAG_OF;
        }
        if (f == 3) { /* alu dword [m], imm8 */
            unsigned op = fuzz_get(in, 1) & 7;
            e1(p, 0x83);
            mem_operand(g, op, NULL);
            e1(p, (uint8_t)fuzz_get(in, 1));
            return (op == 1 || op == 4 || op == 6) ? FLAG_AF : 0;
        }
        e1(p, 0x87); /* xchg [m], r */
        mem_operand(g, D(in), NULL);
        return 0;
    }
    case 20: { /* a short string operation on the data area */
        static const uint8_t ops[] = {0xa4, 0xa5, 0xaa, 0xab, 0xac, 0xad,
                                      0xa6, 0xa7, 0xae, 0xaf};
        unsigned o = fuzz_get(in, 1) % ARRAY_SIZE(ops);
        e1(p, 0xb9); /* mov ecx, n */
        e4(p, fuzz_get(in, 1) & 15);
        e1(p, 0xbe); /* mov esi */
        e4(p, DATA + 0x40 + (fuzz_get(in, 1) & 0x3f));
        e1(p, 0xbf); /* mov edi */
        e4(p, DATA + 0x40 + (fuzz_get(in, 1) & 0x3f));
        unsigned rep = fuzz_get(in, 1) % 3;
        if (rep)
            e1(p, rep == 1 ? 0xf3 : 0xf2);
        e1(p, ops[o]);
        return 0;
    }
    case 21: /* adc/sbb with carry set up */
        e1(p, fuzz_get(in, 1) & 1 ? 0xf9 : 0xf8);
        e1(p, fuzz_get(in, 1) & 1 ? 0x11 : 0x19);
        e1(p, (uint8_t)(0xc0 | S(in) << 3 | D(in)));
        return 0;
    case 22: /* 16-bit ALU and moves */
        e1(p, 0x66);
        if (fuzz_get(in, 1) & 1) {
            e1(p, 0xb8 + D(in));
            e1(p, (uint8_t)fuzz_get(in, 1));
            e1(p, (uint8_t)fuzz_get(in, 1));
            return 0;
        } else {
            unsigned op = fuzz_get(in, 1) & 7;
            e1(p, 0x83);
            e1(p, (uint8_t)(0xc0 | op << 3 | D(in)));
            e1(p, (uint8_t)fuzz_get(in, 1));
            return (op == 1 || op == 4 || op == 6) ? FLAG_AF : 0;
        }
    default: /* shld / shrd by imm8 (count < 32: defined but OF, AF) */
        e1(p, 0x0f);
        e1(p, fuzz_get(in, 1) & 1 ? 0xa4 : 0xac);
        e1(p, (uint8_t)(0xc0 | S(in) << 3 | D(in)));
        e1(p, (uint8_t)(fuzz_get(in, 1) & 31));
        return FLAG_AF | FLAG_OF | FLAG_CF;
    }
}

/* Selectors of the extended GDT (setup_ram), all DPL 3 data but 0x08/0x10
 * (ring 0) and 0x18 (ring-3 code). */
#define SEL_DATA3 0x23
#define SEL_FSBASE 0x33   /* FS's base (wrapping or not) */
#define SEL_GSBASE 0x3b   /* GS's base (wrapping or straddling 4 GiB) */
#define SEL_SMALL 0x43    /* base 0, limit 0x8fff */
#define SEL_BASE1K 0x4b   /* base 0x1000, limit 4 GiB (not flat) */

/* The extended instruction kinds (gen_one's 24..33, top level only). */
static uint32_t gen_ext(struct gen *g, unsigned k)
{
    struct prog *p = g->p;
    struct fuzz_in *in = g->in;
    switch (k) {
    case 0: { /* push sel; pop fs/gs/ds/es */
        static const uint8_t fsgs[] = {0, SEL_DATA3, SEL_FSBASE, SEL_GSBASE,
                                       SEL_SMALL, SEL_BASE1K};
        static const uint8_t dses[] = {SEL_DATA3, SEL_DATA3, SEL_BASE1K,
                                       SEL_SMALL, 0};
        unsigned r = fuzz_get(in, 1) & 3, v = fuzz_get(in, 1);
        uint8_t sel = r < 2 ? fsgs[v % sizeof(fsgs)] : dses[v % sizeof(dses)];
        e1(p, 0x6a);
        e1(p, sel);
        if (r == 0) {
            e1(p, 0x0f); e1(p, 0xa1); /* pop fs */
        } else if (r == 1) {
            e1(p, 0x0f); e1(p, 0xa9); /* pop gs */
        } else {
            e1(p, r == 2 ? 0x1f : 0x07); /* pop ds / pop es */
        }
        return 0;
    }
    case 1: { /* a loop that rewrites its own immediate each time round:
               * mov ecx, n; L: mov r, imm32; mov [L+1], ecx; loop L */
        unsigned d = D(in);
        if (d == 1)
            d = 0;
        e1(p, 0xb9);
        e4(p, 1 + (fuzz_get(in, 1) & 3));
        uint32_t l = g->code + p->n;
        e1(p, (uint8_t)(0xb8 + d));
        e4(p, fuzz_get(in, 4));
        e1(p, 0x89); e1(p, 0x0d); e4(p, l + 1); /* mov [l+1], ecx */
        e1(p, 0xe2);
        e1(p, (uint8_t)(l - (g->code + p->n + 1)));
        return 0;
    }
    case 2: { /* rep movsb 4 bytes from the data into the next mov's imm32:
               * cld; mov esi, src; mov edi, at; mov ecx, 4; rep movsb */
        e1(p, 0xfc);
        e1(p, 0xbe);
        e4(p, DATA + (fuzz_get(in, 1) & 0x7c));
        e1(p, 0xbf);
        e4(p, g->code + p->n + 4 + 5 + 2 + 1);
        e1(p, 0xb9);
        e4(p, 4);
        e1(p, 0xf3); e1(p, 0xa4);
        e1(p, (uint8_t)(0xb8 + D(in)));
        note_imm(g);
        e4(p, fuzz_get(in, 4));
        return 0;
    }
    case 3: { /* a store into the next mov's imm32 through the second
               * mapping of the code frames (paging; else the address) */
        uint32_t at = g->code + p->n + 10 + 1;
        uint32_t via = g->paging && (at >> 12) - (CODE >> 12) < 2
                           ? ALIAS + (at - CODE) : at;
        e1(p, 0xc7); e1(p, 0x05);
        e4(p, via);
        e4(p, fuzz_get(in, 4));
        e1(p, (uint8_t)(0xb8 + D(in)));
        note_imm(g);
        e4(p, fuzz_get(in, 4));
        return 0;
    }
    case 4: { /* remap the code's second page (ring 0, paging, bit 4):
               * mov dword ss:[pte], frame | 7; invlpg ss:[page] */
        if (!g->remap || g->ring3)
            return 0;
        uint32_t page = (g->code & ~0xfffu) + 0x1000;
        e1(p, 0x36); e1(p, 0xc7); e1(p, 0x05);
        e4(p, PT + (page >> 12) * 4);
        e4(p, (fuzz_get(in, 1) & 1 ? ALTF : NEXTF) | 0x27); /* A set */
        e1(p, 0x36); e1(p, 0x0f); e1(p, 0x01); e1(p, 0x3d);
        e4(p, page);
        return 0;
    }
    case 6: { /* a call to a subroutine holding one instruction:
               * jmp over; sub: insn; (flag mask); ret; over: call sub */
        struct prog tmp = {.n = 0};
        struct gen g2 = *g;
        g2.p = &tmp;
        g2.code = 0;
        g2.nostack = true;
        uint32_t u = gen_one(&g2, 1);
        mask_flags(&tmp, u);
        if (tmp.n > 120)
            return 0;
        e1(p, 0xeb);
        e1(p, (uint8_t)(tmp.n + 1));
        uint32_t sub = p->n;
        emit(p, tmp.b, tmp.n);
        e1(p, 0xc3);
        e1(p, 0xe8);
        e4(p, sub - (p->n + 4));
        return 0;
    }
    case 7: { /* indirect jmp/call to the next instruction, through a
               * register or memory: mov r, t; jmp r | mov [m], t; jmp [m]
               * | mov r, t; call r; pop r2 (lands at t) */
        unsigned f = fuzz_get(in, 1) % 3, r = D(in);
        if (f == 1) {
            uint32_t t = g->code + p->n + 7 + 3;
            unsigned d = fuzz_get(in, 1) & 0x7c;
            e1(p, 0xc7); e1(p, 0x43); e1(p, (uint8_t)d); e4(p, t);
            e1(p, 0xff); e1(p, 0x63); e1(p, (uint8_t)d); /* jmp [ebx+d] */
        } else {
            uint32_t t = g->code + p->n + 5 + 2;
            e1(p, (uint8_t)(0xb8 + r));
            e4(p, t);
            e1(p, 0xff);
            e1(p, (uint8_t)((f ? 0xd0 : 0xe0) + r)); /* call r / jmp r */
            if (f == 2)
                e1(p, (uint8_t)(0x58 + D(in))); /* pop the return address */
        }
        return 0;
    }
    case 8: { /* bt/bts/btr/btc [ebx+d], r with a register offset of
               * -0x200..0x1ff bits: and r, 0x3ff; sub r, 0x200 */
        unsigned r = D(in), op = fuzz_get(in, 1) & 3;
        e1(p, 0x81); e1(p, (uint8_t)(0xe0 + r)); e4(p, 0x3ff);
        e1(p, 0x81); e1(p, (uint8_t)(0xe8 + r)); e4(p, 0x200);
        mask_flags(p, FLAG_AF);
        maybe_fs(g);
        if (op && (fuzz_get(in, 1) & 1))
            e1(p, 0xf0);
        e1(p, 0x0f);
        e1(p, (uint8_t)(0xa3 + op * 8));
        mem_operand(g, r, NULL);
        return FLAG_OF | FLAG_SF | FLAG_ZF | FLAG_AF | FLAG_PF;
    }
    case 9: /* push imm8; mov ebp, esp; leave (ebp = the value pushed) */
        e1(p, 0x6a);
        e1(p, (uint8_t)fuzz_get(in, 1));
        e1(p, 0x89); e1(p, 0xe5);
        e1(p, 0xc9);
        return 0;
    default: { /* push / pop of a memory operand, maybe fs:/gs: */
        bool pop = fuzz_get(in, 1) & 1;
        maybe_fs(g);
        e1(p, pop ? 0x8f : 0xff);
        mem_operand(g, pop ? 0 : 6, NULL);
        return 0;
    }
    }
}

struct setup {
    uint8_t mode, mode2;
    uint32_t regs[8];
    uint8_t data[128];
    struct prog code;
    uint32_t code_at;
    uint32_t fsbase, gsbase;
    uint32_t imms[MAX_IMMS]; /* immediates ALTF holds differently */
    unsigned nimms;
};

static bool ext(const struct setup *s) { return s->mode & 0x80; }
static bool paging(const struct setup *s) { return s->mode & 1; }
static bool ring3(const struct setup *s) { return ext(s) && (s->mode & 8); }
static bool remapped(const struct setup *s)
{
    return ext(s) && paging(s) && (s->mode & 0x10);
}

static void put_desc(uint8_t *d, uint32_t base, uint32_t limit,
                     uint8_t access, uint8_t flags)
{
    d[0] = (uint8_t)limit; d[1] = (uint8_t)(limit >> 8);
    d[2] = (uint8_t)base; d[3] = (uint8_t)(base >> 8);
    d[4] = (uint8_t)(base >> 16); d[5] = access;
    d[6] = (uint8_t)(flags | ((limit >> 16) & 15));
    d[7] = (uint8_t)(base >> 24);
}

static void seg_cache(struct seg_reg *r, uint16_t sel, uint32_t base,
                      uint32_t limit, uint8_t type, uint8_t dpl)
{
    memset(r, 0, sizeof(*r));
    r->sel = sel;
    r->base = base;
    r->limit = limit;
    r->type = type;
    r->s = 1;
    r->dpl = dpl;
    r->present = 1;
    r->db = 1;
    r->g = limit > 0xfffff;
}

/* Where the code byte at linear address lin lives in RAM. */
static uint32_t code_pa(const struct setup *s, uint32_t lin)
{
    if (remapped(s) && (lin >> 12) == (s->code_at >> 12) + 1)
        return NEXTF + (lin & 0xfff);
    return lin;
}

static void setup_ram(const struct setup *s, uint8_t *ram, struct interp_cpu *c)
{
    static const uint8_t gdt[] = {0, 0, 0, 0, 0, 0, 0, 0,
                                  0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0,
                                  0xff, 0xff, 0, 0, 0, 0x93, 0xcf, 0};
    memcpy(ram + GDT, gdt, sizeof(gdt));
    c->gdt.base = GDT;
    c->gdt.limit = sizeof(gdt) - 1;
    uint32_t idt = ext(s) ? IDT_EXT : 0;
    c->idt.base = idt;
    c->idt.limit = 32 * 8 - 1;
    for (int v = 0; v < 32; v++) { /* handler v: mov ebp, v; hlt */
        uint32_t h = HANDLERS + (uint32_t)v * 8;
        uint8_t *gte = ram + idt + v * 8;
        gte[0] = (uint8_t)h; gte[1] = (uint8_t)(h >> 8);
        gte[2] = 0x08; gte[3] = 0; gte[4] = 0; gte[5] = 0x8e;
        gte[6] = (uint8_t)(h >> 16); gte[7] = (uint8_t)(h >> 24);
        uint8_t *sp = ram + h;
        sp[0] = 0xbd; sp[1] = (uint8_t)v; sp[2] = sp[3] = sp[4] = 0;
        sp[5] = 0xf4;
    }
    memcpy(ram + DATA, s->data, sizeof(s->data));
    for (unsigned k = 0; k < s->code.n; k++)
        ram[code_pa(s, s->code_at + k)] = s->code.b[k];
    for (int r = 0; r < 8; r++)
        c->r[r] = s->regs[r];
    c->r[R_EBX] = DATA;
    c->r[R_ESP] = STACK;
    c->r[R_EBP] = 0xffffffffu;
    c->eip = s->code_at;
    if (s->mode & 4) {
        c->seg[SEG_FS].base = DATA + 0x40;
    }
    if (ext(s)) {
        uint8_t *g = ram + GDT;
        put_desc(g + 0x18, 0, 0xfffff, 0xfb, 0xc0);          /* code 3 */
        put_desc(g + 0x20, 0, 0xfffff, 0xf3, 0xc0);          /* data 3 */
        put_desc(g + 0x28, TSS, 0x67, 0x8b, 0);               /* busy TSS */
        put_desc(g + 0x30, s->fsbase, 0xfffff, 0xf3, 0xc0);
        put_desc(g + 0x38, s->gsbase, 0xfffff, 0xf3, 0xc0);
        put_desc(g + 0x40, 0, 0x8fff, 0xf3, 0x40);            /* small */
        put_desc(g + 0x48, 0x1000, 0xfffff, 0xf3, 0xc0);      /* base */
        c->gdt.limit = 0x50 - 1;
        memset(ram + TSS, 0, 0x68);
        uint32_t esp0 = ESP0, ss0 = 0x10;
        memcpy(ram + TSS + 4, &esp0, 4);
        memcpy(ram + TSS + 8, &ss0, 4);
        seg_cache(&c->seg[SEG_TR], 0x28, TSS, 0x67, 0xb, 0);
        c->seg[SEG_TR].s = 0;
        c->seg[SEG_TR].g = 0;
        c->seg[SEG_TR].db = 0;
        seg_cache(&c->seg[SEG_FS], SEL_FSBASE, s->fsbase, 0xffffffffu, 3, 3);
        seg_cache(&c->seg[SEG_GS], SEL_GSBASE, s->gsbase, 0xffffffffu, 3, 3);
        if (ring3(s)) {
            seg_cache(&c->seg[SEG_CS], 0x1b, 0, 0xffffffffu, 0xb, 3);
            for (int r = SEG_ES; r <= SEG_DS; r++)
                if (r != SEG_CS)
                    seg_cache(&c->seg[r], SEL_DATA3, 0, 0xffffffffu, 3, 3);
            c->cpl = 3;
        }
    }
    if (paging(s)) { /* identity paging: 4 KiB pages, then 4 MiB */
        uint32_t *pd = (uint32_t *)(ram + PD), *pt = (uint32_t *)(ram + PT);
        /* extended: user pages but page 0 (IDT, GDT, TSS, handlers), and
         * A set in every entry (bt may set A early: docs/fidelity.md) */
        uint32_t u = ext(s) ? 0x24 : 0;
        memset(pd, 0, 4096);
        for (uint32_t k = 0; k < 1024; k++)
            pt[k] = (k << 12) | 3 | (k ? u : u & 0x20);
        pd[0] = PT | 3 | u;
        pd[1] = 0x00000000u | 0x83 | u;
        if (ext(s)) {
            uint32_t *pt2 = (uint32_t *)(ram + PT2);
            memset(pt2, 0, 4096);
            pt2[1023] = TOPF | 0x27;
            pd[1023] = PT2 | 0x27;
            uint32_t cp = s->code_at >> 12;
            pt[ALIAS >> 12] = (cp << 12) | 0x27;
            pt[(ALIAS >> 12) + 1] = code_pa(s, (cp + 1) << 12) | 0x27;
            if (remapped(s)) {
                pt[cp + 1] = NEXTF | 0x27;
                /* ALTF: the same code with every whole immediate changed */
                memcpy(ram + ALTF, ram + NEXTF, 4096);
                for (unsigned k = 0; k < s->nimms; k++) {
                    uint32_t at = s->imms[k];
                    if ((at >> 12) == cp + 1 && (at & 0xfff) <= 0xffc)
                        ram[ALTF + (at & 0xfff) + 1] ^= 0x5a;
                }
            }
        }
        c->cr3 = PD;
        c->cr4 |= CR4_PSE;
        c->cr0 |= CR0_PG | CR0_WP;
    }
}

struct result {
    struct interp_cpu cpu;
    uint8_t *ram;
    bool halted;
    char msg[256];
};

static void run_interp(const struct setup *s, struct result *out)
{
    uint8_t *ram = calloc(1, RAM_SIZE);
    static struct interp_cpu c;
    interp_cpu_init(&c, ram, RAM_SIZE, NULL);
    setup_ram(s, ram, &c);
    for (int k = 0; k < 200000 && !c.halted; k++)
        if (interp_step(&c) == -2)
            break;
    out->cpu = c;
    out->ram = ram;
    out->halted = c.halted;
}

static void run_bt(const struct setup *s, struct result *out)
{
    int fd = memfd_create("fuzz_diff_ram", 0);
    if (fd < 0 || ftruncate(fd, RAM_SIZE) < 0)
        abort();
    uint8_t *view = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                         fd, 0);
    struct bt *b = bt_new(fd, RAM_SIZE, NULL);
    if (view == MAP_FAILED || !b)
        abort();
    setup_ram(s, view, &b->cpu);
    enum bt_run_result res = bt_run(b, 200000, out->msg, sizeof(out->msg));
    out->cpu = b->cpu;
    out->halted = res == BT_RUN_HLT;
    out->ram = malloc(RAM_SIZE);
    memcpy(out->ram, view, RAM_SIZE);
    bt_free(b);
    munmap(view, RAM_SIZE);
    close(fd);
}

static void dump(const char *who, const struct result *r)
{
    fprintf(stderr, "%-6s halted %d eip %08x eflags %08x cr2 %08x %s\n", who,
            r->halted, r->cpu.eip, r->cpu.eflags, r->cpu.cr2, r->msg);
    for (int k = 0; k < 8; k++)
        fprintf(stderr, "  r%d %08x", k, r->cpu.r[k]);
    fprintf(stderr, "\n  cpl %d", r->cpu.cpl);
    for (int k = SEG_ES; k <= SEG_GS; k++)
        fprintf(stderr, "  %.2s %04x/%08x", &"escsssdsfsgs"[2 * k],
                r->cpu.seg[k].sel, (uint32_t)r->cpu.seg[k].base);
    fprintf(stderr, "\n");
}

static bool seg_differs(const struct interp_cpu *a, const struct interp_cpu *b)
{
    for (int r = SEG_ES; r <= SEG_GS; r++)
        if (a->seg[r].sel != b->seg[r].sel ||
            a->seg[r].base != b->seg[r].base ||
            a->seg[r].limit != b->seg[r].limit)
            return true;
    return false;
}

/* A host signal without SA_ONSTACK, every ms of CPU time (see the top). */
static volatile sig_atomic_t profs;
static void on_prof(int sig)
{
    (void)sig;
    profs = profs + 1;
}

__attribute__((constructor)) static void prof_timer(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_prof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_PROF, &it, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct setup s;
    memset(&s, 0, sizeof(s));
    struct fuzz_in in = {data, size};
    s.mode = (uint8_t)fuzz_get(&in, 1);
    if (ext(&s))
        s.mode2 = (uint8_t)fuzz_get(&in, 1);
    for (int r = 0; r < 8; r++)
        s.regs[r] = fuzz_get(&in, 4);
    for (size_t k = 0; k < sizeof(s.data); k++)
        s.data[k] = (uint8_t)fuzz_get(&in, 1);
    /* mode bit 1: start 1..64 bytes before a page boundary */
    s.code_at = s.mode & 2 ? CODE + 0x1000 - 1 - (fuzz_get(&in, 1) & 63)
                           : CODE;
    if (ext(&s)) {
        /* FS: DATA + 0x40, or wrapping past 4 GiB to WRAP (bit 6) */
        if (s.mode & 4)
            s.fsbase = s.mode & 0x40 ? WRAP - DATA + (s.mode2 & 0x3c)
                                     : DATA + 0x40;
        /* GS: wrapping to WRAP + 0x80, or [ebx + d] = d - off: low memory
         * or the top of the address space, straddling 0xffffffff */
        if (s.mode & 0x20)
            s.gsbase = s.mode2 & 0x80
                           ? 0u - DATA - ((s.mode2 & 0x1fu) + 1)
                           : WRAP + 0x80 - DATA;
    }
    struct gen g = {.p = &s.code, .in = &in, .fs = (s.mode & 4) != 0,
                    .code = s.code_at, .ext = ext(&s),
                    .gs = (s.mode & 0x20) != 0, .paging = paging(&s),
                    .ring3 = ring3(&s), .remap = remapped(&s)};
    for (int k = 0; k < 48 && in.n && s.code.n < 3500; k++)
        mask_flags(&s.code, gen_one(&g, 0));
    memcpy(s.imms, g.imms, sizeof(s.imms));
    s.nimms = g.nimms;
    e1(&s.code, 0xf4); /* hlt */

    if (getenv("FUZZ_DIFF_VERBOSE")) {
        fprintf(stderr, "mode %#x/%#x code at %#x fs %#x gs %#x:", s.mode,
                s.mode2, s.code_at, s.fsbase, s.gsbase);
        for (unsigned k = 0; k < s.code.n; k++)
            fprintf(stderr, " %02x", s.code.b[k]);
        fprintf(stderr, "\n");
    }
    struct result a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    run_interp(&s, &a);
    run_bt(&s, &b);
    const char *what = NULL;
    char where[96] = "";
    if (a.halted != b.halted)
        what = "halted";
    else if (memcmp(a.cpu.r, b.cpu.r, sizeof(a.cpu.r)))
        what = "registers";
    else if (a.cpu.eip != b.cpu.eip)
        what = "eip";
    else if (a.cpu.cr2 != b.cpu.cr2)
        what = "cr2";
    else if (a.cpu.cpl != b.cpu.cpl)
        what = "cpl";
    else if ((a.cpu.eflags ^ b.cpu.eflags) & DEFINED_FLAGS)
        what = "eflags";
    else if (seg_differs(&a.cpu, &b.cpu))
        what = "segment registers";
    else if (memcmp(a.ram, b.ram, RAM_SIZE)) {
        what = "RAM";
        for (unsigned k = 0; k < RAM_SIZE; k++)
            if (a.ram[k] != b.ram[k]) {
                snprintf(where, sizeof(where), " at %#x: interp %02x bt %02x",
                         k, a.ram[k], b.ram[k]);
                break;
            }
    }
    if (what) {
        fprintf(stderr, "fuzz_diff: interp and bt differ in %s%s (mode "
                "%#x/%#x, code at %#x, fs %#x gs %#x, %u bytes):", what,
                where, s.mode, s.mode2, s.code_at, s.fsbase, s.gsbase,
                s.code.n);
        for (unsigned k = 0; k < s.code.n; k++)
            fprintf(stderr, " %02x", s.code.b[k]);
        fprintf(stderr, "\n");
        dump("interp", &a);
        dump("bt", &b);
        abort();
    }
    if (getenv("FUZZ_DIFF_VERBOSE"))
        fprintf(stderr, "end: vector %d eip %#x cpl %d (%u bytes of code)\n",
                (int)a.cpu.r[R_EBP], a.cpu.eip, a.cpu.cpl, s.code.n);
    free(a.ram);
    free(b.ram);
    return 0;
}
