/* test_insn_diff16.c - differential test of the interpreter's user-level
 * instructions in 16-bit code (CS.D=0, SS.B=0: 16-bit operand and address
 * size by default, 0x66/0x67 select 32) against Unicorn in UC_MODE_16.
 * The native helper of test_insn_diff.c cannot run 16-bit code (nor map
 * the low 64 KiB), so this is where the address-size-16 paths are checked:
 * [bx+si]-style operands, SI/DI/CX strings, CX loops, XLAT, the 16-bit
 * stack (push/pop, pusha/popa, enter/leave, call/ret), 16-bit IP
 * arithmetic.  Both sides see the same flat 64 KiB (segment bases 0);
 * registers, the data window and the defined flags are compared (the
 * undefined ones are masked as in test_insn_diff.c: Unicorn computes them
 * its own way), and whether an exception happened (Unicorn does not report
 * real-mode exception vectors reliably; #UD is compared exactly; the
 * vectors are checked by test_insn_diff.c and test_interp_user.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicorn/unicorn.h>

#include "engines/interp/cpu.h"
#include "insn_diff_common.h"
#include "test.h"

#define RAM_SIZE (1u << 20)
#define WIN 0x1000u            /* compared data window [WIN, WIN+WIN_SIZE) */
#define WIN_SIZE 0x2000u
#define CODE 0x4000u
#define GDT_BASE 0x10000u
#define IDT_BASE 0x11000u
#define HANDLER 0x12000u
#define UC_TRAPS 0x3000u       /* Unicorn: one hlt per exception vector */
#define FAULT_ANY 100          /* Unicorn faulted, vector not known */

struct state {
    uint32_t r[8], eflags;
    int fault;
    uint8_t mem[WIN_SIZE];
};

static const struct tmpl tmpls16[] = {
    /* ALU: 16-bit by default, 66 = 32-bit; [bx+si], [bp+di+d8], [bx] */
#define ALU(o, K, nm)                                                         \
    T(nm " ax,cx", o "1 c8", K), T(nm " ah,dl", o "0 d4", K),                \
    T(nm " [bx+si],ax", o "1 00", K), T(nm " cx,[bp+di+d8]", o "3 4b jj", K), \
    T(nm " [bx+si],eax", "66 " o "1 00", K), T(nm " eax,ecx", "66 " o "1 c8", K), \
    T(nm " ax,imm16", o "5 jj jj", K)
    ALU("0", K_ARITH, "add"), ALU("1", K_ARITH, "adc"), ALU("2", K_LOGIC, "and"),
    ALU("3", K_LOGIC, "xor"),
#undef ALU
#define ALU(o, K, nm)                                                         \
    T(nm " ax,cx", o "9 c8", K), T(nm " ah,dl", o "8 d4", K),                \
    T(nm " [bx+si],ax", o "9 00", K), T(nm " cx,[bp+di+d8]", o "b 4b jj", K), \
    T(nm " [bx+si],eax", "66 " o "9 00", K), T(nm " eax,ecx", "66 " o "9 c8", K), \
    T(nm " ax,imm16", o "d jj jj", K)
    ALU("0", K_LOGIC, "or"), ALU("1", K_ARITH, "sbb"), ALU("2", K_ARITH, "sub"),
    ALU("3", K_ARITH, "cmp"),
#undef ALU
    T("add word [bx],imm16", "81 07 jj jj", K_ARITH), T("sub dx,simm8", "83 ea jj", K_ARITH),
    T("cmp byte [bx+si+d8],imm", "80 78 jj jj", K_ARITH), T("add edx,imm32", "66 81 c2 jj jj jj jj", K_ARITH),
    T("inc ax", "40", K_ARITH), T("dec ecx", "66 49", K_ARITH), T("neg word [bx]", "f7 1f", K_ARITH),
    T("not cx", "f7 d1", K_NONE), T("test [bx+si],ax", "85 00", K_LOGIC),
    /* shifts */
    S("shl ax,cl", "d3 e0", K_SHIFT, 16, C_CL, 4), S("shr word [bx],cl", "d3 2f", K_SHIFT, 16, C_CL, 5),
    S("sar eax,cl", "66 d3 f8", K_SHIFT, 32, C_CL, 7), S("rol ax,imm", "c1 c0 ii", K_ROT, 16, C_IMM, 0),
    S("rcr ax,1", "d1 d8", K_ROT, 16, C_ONE, 3), S("rcl byte [bx+si],cl", "d2 10", K_ROT, 8, C_CL, 2),
    S("shld ax,cx,imm", "0f a4 c8 ii", K_SHD, 16, C_IMM, 0), S("shrd eax,ecx,cl", "66 0f ad c8", K_SHD, 32, C_CL, 0),
    /* mul/div */
    T("mul cx", "f7 e1", K_MUL), T("imul word [bx+si]", "f7 28", K_MUL), T("mul ecx", "66 f7 e1", K_MUL),
    T("imul ax,[bx],simm8", "6b 07 jj", K_MUL), T("imul ax,cx", "0f af c1", K_MUL),
    T("div cx", "f7 f1", K_DIV), T("idiv word [bx]", "f7 3f", K_DIV), T("div ecx", "66 f7 f1", K_DIV),
    T("div cl", "f6 f1", K_DIV),
    /* bits */
    T("bt ax,cx", "0f a3 c8", K_BT), T("bts [bx+si],ax", "0f ab 00", K_BTMEM),
    T("btr dword [bx+si],eax", "66 0f b3 00", K_BTMEM), T("btc word [bx],imm", "0f ba 3f jj", K_BT),
    T("bsf ax,[bx]", "0f bc 07", K_BSF), T("bsr eax,ecx", "66 0f bd c1", K_BSF),
    /* BCD */
    T("daa", "27", K_DAA), T("das", "2f", K_DAA), T("aaa", "37", K_AAA), T("aas", "3f", K_AAA),
    T("aam", "d4 0a", K_AAM), T("aad imm", "d5 jj", K_AAM), T("aam 0", "d4 00", K_AAM),
    /* strings: SI/DI/CX, and 67 for ESI/EDI/ECX */
    T("movsb", "a4", K_STR), T("movsw", "a5", K_STR), T("movsd", "66 a5", K_STR),
    T("rep movsw", "f3 a5", K_STR), T("rep stosb", "f3 aa", K_STR), T("rep stosd", "f3 66 ab", K_STR),
    T("repe cmpsw", "f3 a7", K_STR), T("repne cmpsb", "f2 a6", K_STR), T("repe scasb", "f3 ae", K_STR),
    T("repne scasw", "f2 af", K_STR), T("rep lodsb", "f3 ac", K_STR),
    T("a32 rep movsb", "67 f3 a4", K_STR), T("a32 repe cmpsb", "67 f3 a6", K_STR),
    /* loops and branches: a taken branch skips "mov ax,1" */
    T("loop", "e2 03 b8 01 00", K_STR), T("loope", "e1 03 b8 01 00", K_STR),
    T("loopne", "e0 03 b8 01 00", K_STR), T("jcxz", "e3 03 b8 01 00", K_STR),
    T("a32 loop ecx", "67 e2 03 b8 01 00", K_STR), T("a32 jecxz", "67 e3 03 b8 01 00", K_STR),
    T("jz", "74 03 b8 01 00", K_NONE), T("jnl rel16", "0f 8d 03 00 b8 01 00", K_NONE),
    T("jmp rel16", "e9 03 00 b8 01 00", K_NONE), T("jmp rel8", "eb 03 b8 01 00", K_NONE),
    /* stack (SS.B = 0) */
    T("push ax", "50", K_STACK), T("push eax", "66 50", K_STACK), T("pop dx", "5a", K_STACK),
    T("pop edx", "66 5a", K_STACK), T("pusha", "60", K_STACK), T("popa", "61", K_STACK),
    T("pushad", "66 60", K_STACK), T("popad", "66 61", K_STACK), T("push imm16", "68 jj jj", K_STACK),
    T("push simm8", "6a jj", K_STACK), T("pop [bx]", "8f 07", K_STACK), T("push [bx]", "ff 37", K_STACK),
    T("enter 8,2", "c8 08 00 02", K_STACK), T("enter 4,0", "c8 04 00 00", K_STACK),
    T("enterd 8,1", "66 c8 08 00 01", K_STACK), T("leave", "c9", K_STACK), T("leaved", "66 c9", K_STACK),
    T("call rel16", "e8 03 00 b8 01 00", K_STACK),
    T("ret", "c3", K_RET), T("ret 4", "c2 04 00", K_RET), T("jmp ax", "ff e0", K_RET),
    T("call ax", "ff d0", K_RET), T("call [bx]", "ff 17", K_RET),
    /* moves */
    T("xlat", "d7", K_NONE), T("lea ax,[bx+si+d8]", "8d 40 jj", K_NONE), T("lea eax,[bp+di]", "66 8d 03", K_NONE),
    T("mov ax,moffs", "a1 00 18", K_NONE), T("mov moffs,al", "a2 10 18", K_NONE),
    T("movzx ax,ah", "0f b6 c4", K_NONE), T("movsx eax,word [bx]", "66 0f bf 07", K_NONE),
    T("xchg [bx+si],cx", "87 08", K_NONE), T("cbw", "98", K_NONE), T("cwde", "66 98", K_NONE),
    T("cwd", "99", K_NONE), T("cdq", "66 99", K_NONE),
    T("cmpxchg [bx],cx", "0f b1 0f", K_CMPXCHG), T("xadd [bx],cx", "0f c1 0f", K_ARITH),
    T("cmpxchg8b [bx]", "0f c7 0f", K_CX8), T("bound ax,[bx]", "62 07", K_NONE),
    T("setc [bx+si]", "0f 92 00", K_NONE), T("cmovz cx,[bx]", "0f 44 0f", K_NONE),
};

static void gen16(const struct tmpl *t, uint8_t *code, uint32_t *len,
                  struct state *in, unsigned *count)
{
    uint8_t cnt = rnd_count();
    if (t->kind == K_SHD && t->width == 16)
        while ((cnt & 31) > 16)
            cnt = rnd_count();
    *len = (uint32_t)assemble(t->hex, code, 16, cnt);
    for (int r = 0; r < 8; r++)
        in->r[r] = rnd_value();
    bool lowent = rnd() & 1;
    for (uint32_t k = 0; k < WIN_SIZE; k++)
        in->mem[k] = (uint8_t)(t->kind == K_STR && lowent ? rnd() & 1 : rnd());
    /* [bx], [bx+si], [bp+di+d8] all land in the window */
    in->r[R_EBX] = (in->r[R_EBX] & 0xffff0000u) | (0x1800 + (rnd() & 0x3e));
    in->r[R_EBP] = (in->r[R_EBP] & 0xffff0000u) | (0x1800 + (rnd() & 0x3e));
    in->r[R_ESI] = (in->r[R_ESI] & 0xffff0000u) | (rnd() & 0x1ff);
    in->r[R_EDI] = (in->r[R_EDI] & 0xffff0000u) | (rnd() & 0x1ff);
    in->r[R_ESP] = (in->r[R_ESP] & 0xffff0000u) | (0x2800 + (rnd() & 0x3e));
    in->eflags = 2 | (rnd() & ARITH);
    if (t->cnt == C_CL)
        in->r[R_ECX] = (in->r[R_ECX] & ~0xffu) | cnt;
    *count = t->cnt == C_CL || t->cnt == C_IMM ? cnt : t->cnt == C_ONE ? 1 : 0;
    uint32_t end = CODE + *len;
    switch (t->kind) {
    case K_BTMEM: { /* bit offsets within +-2048 bits of [bx+si] */
        uint32_t off = (uint32_t)((int32_t)(rnd() % 4096) - 2048);
        in->r[R_EAX] = t->hex[0] == '6' ? off : (in->r[R_EAX] & 0xffff0000u) | (off & 0xffff);
        break;
    }
    case K_DIV:
        if (rnd() & 1) {
            in->r[R_EDX] &= 0xf;
            in->r[R_EAX] &= 0xffff0fffu;
        }
        break;
    case K_STR:
        in->r[R_ESI] = 0x1100 + (rnd() % 0x800);
        in->r[R_EDI] = 0x1100 + (rnd() % 0x800);
        /* a32 forms count with all of ECX; a16 ones must ignore the top */
        in->r[R_ECX] = (strncmp(t->hex, "67", 2) == 0 || !(rnd() & 1)
                            ? 0 : in->r[R_ECX] & 0xffff0000u) | (rnd() % 20);
        if (lowent)
            in->r[R_EAX] &= 0xffffff01u;
        if (rnd() & 1)
            in->eflags |= FLAG_DF;
        break;
    case K_CMPXCHG:
        if (rnd() & 1)
            memcpy(in->mem + (in->r[R_EBX] & 0xffff) - WIN, &in->r[R_EAX], 2);
        break;
    case K_CX8:
        if (rnd() & 1) {
            memcpy(in->mem + (in->r[R_EBX] & 0xffff) - WIN, &in->r[R_EAX], 4);
            memcpy(in->mem + (in->r[R_EBX] & 0xffff) - WIN + 4, &in->r[R_EDX], 4);
        }
        break;
    case K_RET:
        memcpy(in->mem + (in->r[R_ESP] & 0xffff) - WIN, &end, 2);
        memcpy(in->mem + (in->r[R_EBX] & 0xffff) - WIN, &end, 2);
        in->r[R_EAX] = (in->r[R_EAX] & 0xffff0000u) | end;
        break;
    default:
        break;
    }
}

/* ---- the interpreter: protected mode, 16-bit code and stack ---- */
static uint8_t *ram;
static struct interp_cpu *cpu;

static void put_desc(uint32_t at, uint32_t lo, uint32_t hi)
{
    memcpy(ram + at, &lo, 4);
    memcpy(ram + at + 4, &hi, 4);
}

static void interp_setup(void)
{
    memset(ram, 0, RAM_SIZE);
    put_desc(GDT_BASE + 0x08, 0x0000ffff, 0x00009b00); /* 16-bit code */
    put_desc(GDT_BASE + 0x10, 0x0000ffff, 0x00009300); /* 16-bit data */
    put_desc(GDT_BASE + 0x18, 0x0000ffff, 0x00cf9b00); /* 32-bit code */
    for (uint32_t v = 0; v < 32; v++)
        put_desc(IDT_BASE + 8 * v, (0x18u << 16) | (HANDLER & 0xffff),
                 (HANDLER & 0xffff0000u) | 0x8e00);
    ram[HANDLER] = 0xf4;
}

static void interp_run16(const uint8_t *code, uint32_t len,
                         const struct state *in, struct state *out)
{
    interp_cpu_init(cpu, ram, RAM_SIZE, NULL);
    cpu->gdt.base = GDT_BASE;
    cpu->gdt.limit = 0x1f;
    cpu->idt.base = IDT_BASE;
    cpu->idt.limit = 32 * 8 - 1;
    for (int s = SEG_ES; s <= SEG_GS; s++) {
        cpu->seg[s].limit = 0xffff;
        cpu->seg[s].db = 0;
        cpu->seg[s].g = 0;
    }
    memcpy(ram + WIN, in->mem, WIN_SIZE);
    memset(ram + CODE, 0x90, 32);
    memcpy(ram + CODE, code, len);
    memcpy(cpu->r, in->r, sizeof(cpu->r));
    cpu->eflags = in->eflags;
    cpu->eip = CODE;
    int v = -1;
    for (int n = 0; n < 256; n++) {
        v = interp_step(cpu);
        if (v != -1 || cpu->eip == CODE + len)
            break;
    }
    memcpy(out->r, cpu->r, sizeof(out->r));
    out->eflags = cpu->eflags;
    out->fault = v;
    memcpy(out->mem, ram + WIN, WIN_SIZE);
}

/* ---- Unicorn, real mode with all segments 0 ---- */
static int uc_vector;

static void on_intr(uc_engine *uc, uint32_t intno, void *user)
{
    (void)user;
    uc_vector = (int)intno;
    uc_emu_stop(uc);
}

static const int uc_gpr[8] = { UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX,
                               UC_X86_REG_EBX, UC_X86_REG_ESP, UC_X86_REG_EBP,
                               UC_X86_REG_ESI, UC_X86_REG_EDI };

static int unicorn_run16(uc_engine *uc, const uint8_t *code, uint32_t len,
                         const struct state *in, struct state *out)
{
    static uint8_t zero[0x10000];
    uc_mem_write(uc, 0, zero, sizeof(zero));
    /* real-mode IVT: vector v -> 0000:(UC_TRAPS + v), a hlt */
    for (uint32_t v = 0; v < 32; v++) {
        uint32_t ent = UC_TRAPS + v;
        uint8_t hlt = 0xf4;
        uc_mem_write(uc, 4 * v, &ent, 4);
        uc_mem_write(uc, UC_TRAPS + v, &hlt, 1);
    }
    uc_mem_write(uc, WIN, in->mem, WIN_SIZE);
    uint8_t nops[32];
    memset(nops, 0x90, sizeof(nops));
    uc_mem_write(uc, CODE, nops, sizeof(nops));
    uc_mem_write(uc, CODE, code, len);
    for (int r = 0; r < 8; r++) {
        uint32_t v = in->r[r];
        uc_reg_write(uc, uc_gpr[r], &v);
    }
    uint32_t fl = in->eflags, zero32 = 0;
    uc_reg_write(uc, UC_X86_REG_EFLAGS, &fl);
    int segs[] = { UC_X86_REG_CS, UC_X86_REG_DS, UC_X86_REG_ES,
                   UC_X86_REG_SS, UC_X86_REG_FS, UC_X86_REG_GS };
    for (size_t s = 0; s < ARRAY_SIZE(segs); s++)
        uc_reg_write(uc, segs[s], &zero32);
    uc_vector = -1;
    uc_ctl_remove_cache(uc, CODE, CODE + 64); /* no stale translations */
    uc_err e = uc_emu_start(uc, CODE, CODE + len, 1000000, 0);
    uint32_t ip = 0;
    uc_reg_read(uc, UC_X86_REG_EIP, &ip);
    /* Unicorn reports exceptions unreliably here: through the hook (with
     * odd vectors), through the IVT, or by stopping without retiring the
     * instruction.  Any of them counts as "faulted", vector unknown. */
    if (uc_vector >= 0 || (ip >= UC_TRAPS && ip <= UC_TRAPS + 32) ||
        (e == UC_ERR_OK && ip == CODE))
        uc_vector = FAULT_ANY;
    if (e == UC_ERR_INSN_INVALID)
        uc_vector = EXC_UD;
    else if (e != UC_ERR_OK && uc_vector < 0)
        return -1;
    for (int r = 0; r < 8; r++)
        uc_reg_read(uc, uc_gpr[r], &out->r[r]);
    uc_reg_read(uc, UC_X86_REG_EFLAGS, &out->eflags);
    out->fault = uc_vector;
    uc_mem_read(uc, WIN, out->mem, WIN_SIZE);
    return 0;
}

static bool compare16(const struct tmpl *t, const struct state *in,
                      const struct state *a, const struct state *b,
                      unsigned count, char *why, size_t n)
{
    static const char *rn[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };
    bool same_fault = a->fault == b->fault ||
                      (b->fault == FAULT_ANY && a->fault >= 0);
    if (!same_fault) {
        snprintf(why, n, "%s: fault interp=%d unicorn=%d", t->name, a->fault, b->fault);
        return false;
    }
    for (int r = 0; r < 8; r++) {
        if (a->fault >= 0 && r == R_ESP)
            continue;
        if (a->r[r] != b->r[r]) {
            snprintf(why, n, "%s: %s interp=%08x unicorn=%08x (in eax=%08x "
                     "ecx=%08x edx=%08x esi=%08x edi=%08x fl=%03x)", t->name,
                     rn[r], a->r[r], b->r[r], in->r[0], in->r[1], in->r[2],
                     in->r[6], in->r[7], in->eflags);
            return false;
        }
    }
    if (a->fault < 0) {
        uint32_t m = (ARITH | FLAG_DF) & ~undef_flags(t, count);
        if ((a->eflags ^ b->eflags) & m) {
            snprintf(why, n, "%s: eflags interp=%03x unicorn=%03x (in eax=%08x "
                     "ecx=%08x fl=%03x)", t->name, a->eflags & m, b->eflags & m,
                     in->r[0], in->r[1], in->eflags);
            return false;
        }
    }
    /* with a fault the interpreter's exception frame lands on the stack */
    uint32_t lim = a->fault >= 0 ? 0x2700 - WIN : WIN_SIZE;
    for (uint32_t k = 0; k < lim; k++)
        if (a->mem[k] != b->mem[k]) {
            snprintf(why, n, "%s: mem[%#x] interp=%02x unicorn=%02x", t->name,
                     WIN + k, a->mem[k], b->mem[k]);
            return false;
        }
    return true;
}

static void test_insn_diff16(void)
{
    uc_engine *uc;
    if (uc_open(UC_ARCH_X86, UC_MODE_16, &uc) != UC_ERR_OK)
        SKIP("unicorn cannot open a 16-bit x86 engine");
    uc_mem_map(uc, 0, 0x10000, UC_PROT_ALL);
    uc_hook hook;
    uc_hook_add(uc, &hook, UC_HOOK_INTR, (void *)on_intr, NULL, 1, 0);
    ram = aligned_alloc(4096, RAM_SIZE);
    cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
    CHECK(ram && cpu);
    if (!ram || !cpu) {
        uc_close(uc);
        return;
    }
    memset(cpu, 0, sizeof(*cpu));
    interp_setup();
    static struct state in, a, b;
    const int per = getenv("DIFF_CASES") ? atoi(getenv("DIFF_CASES")) : 100;
    unsigned long cases = 0;
    int failures = 0;
    char why[400];
    for (size_t ti = 0; ti < ARRAY_SIZE(tmpls16); ti++) {
        const struct tmpl *t = &tmpls16[ti];
        for (int k = 0; k < per; k++) {
            uint8_t code[16];
            uint32_t len;
            unsigned count;
            gen16(t, code, &len, &in, &count);
            interp_run16(code, len, &in, &a);
            if (unicorn_run16(uc, code, len, &in, &b) != 0)
                continue; /* unicorn could not run it: not compared */
            cases++;
            if (!compare16(t, &in, &a, &b, count, why, sizeof(why))) {
                failures++;
                printf("  diff16: %s\n", why);
                CHECKF(0, "%.300s", why);
                break;
            }
        }
    }
    printf("  insn_diff16: %zu instruction forms, %lu cases compared, %d forms differ\n",
           ARRAY_SIZE(tmpls16), cases, failures);
    uc_close(uc);
    free(ram);
    free(cpu);
}

int main(void)
{
    RUN(test_insn_diff16);
    TEST_MAIN_END();
}
