/* instructions.c - a sample of IA-32 instructions whose results and flags
 * are easy to get wrong in an interpreter or translator: add/sub/adc/sbb
 * flags, inc/dec keeping CF, shifts and rotates, mul/imul/div/idiv,
 * bit scans and tests, cmpxchg/xadd/xchg, bswap, sign/zero extension,
 * string instructions with rep and the direction flag, setcc/cmovcc,
 * lahf/sahf, pushf/popf, enter/leave, loop, xlat and 16-bit operands.
 * Expected values are worked out from the Intel SDM by hand. */
#include "kit.h"

#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_OF 0x800u
#define ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* r = a OP b, flags after it (arithmetic flags only). */
#define BINOP(op, a, b, r, f)                                                  \
    do {                                                                       \
        uint32_t x_ = (a), fl_;                                                \
        __asm__ volatile(op " %2, %0; pushfl; popl %1"                         \
                         : "+r"(x_), "=r"(fl_) : "r"((uint32_t)(b)) : "cc");   \
        (r) = x_;                                                              \
        (f) = fl_ & ARITH;                                                     \
    } while (0)

static void check_op(const char *name, uint32_t r, uint32_t f, uint32_t want_r, uint32_t want_f)
{
    if (!CHECK(r == want_r && f == want_f, "%s", name))
        kit_printf("#   got %#x flags %#x, want %#x flags %#x\n", r, f, want_r, want_f);
}

static void arith(void)
{
    uint32_t r, f;
    BINOP("addl", 0x7fffffff, 1, r, f);
    check_op("add 0x7fffffff+1: OF SF AF PF", r, f, 0x80000000, F_OF | F_SF | F_AF | F_PF);
    BINOP("addl", 0xffffffff, 1, r, f);
    check_op("add 0xffffffff+1: CF ZF AF PF", r, f, 0, F_CF | F_ZF | F_AF | F_PF);
    BINOP("subl", 1, 2, r, f);
    check_op("sub 1-2: CF SF AF PF", r, f, 0xffffffff, F_CF | F_SF | F_AF | F_PF);
    BINOP("subl", 0x80000000, 1, r, f);
    check_op("sub 0x80000000-1: OF AF PF", r, f, 0x7fffffff, F_OF | F_AF | F_PF);
    /* Logical operations leave AF undefined: not compared. */
    BINOP("andl", 0xf0f0f0f0, 0x0ff00ff0, r, f);
    check_op("and: CF OF clear, PF of low byte", r, f & ~F_AF, 0x00f000f0, F_PF);
    BINOP("xorl", 0x1234, 0x1234, r, f);
    check_op("xor x,x: ZF PF", r, f & ~F_AF, 0, F_ZF | F_PF);

    uint32_t x = 0xffffffff, fl;
    __asm__ volatile("stc; incl %0; pushfl; popl %1" : "+r"(x), "=r"(fl) :: "cc");
    check_op("inc keeps CF", x, fl & ARITH, 0, F_CF | F_ZF | F_AF | F_PF);
    x = 0;
    __asm__ volatile("clc; decl %0; pushfl; popl %1" : "+r"(x), "=r"(fl) :: "cc");
    check_op("dec 0 keeps CF clear", x, fl & ARITH, 0xffffffff, F_SF | F_AF | F_PF);

    /* 64-bit add with adc, subtract with sbb. */
    uint32_t lo = 0xffffffff, hi = 1;
    __asm__ volatile("addl $1, %0; adcl $0, %1" : "+r"(lo), "+r"(hi) :: "cc");
    CHECK(lo == 0 && hi == 2, "adc carries into the high word");
    __asm__ volatile("subl $1, %0; sbbl $0, %1" : "+r"(lo), "+r"(hi) :: "cc");
    CHECK(lo == 0xffffffff && hi == 1, "sbb borrows from the high word");

    uint32_t n = 5;
    __asm__ volatile("negl %0; pushfl; popl %1" : "+r"(n), "=r"(fl) :: "cc");
    check_op("neg 5", n, fl & ARITH, 0xfffffffb, F_CF | F_SF | F_AF);
}

static void shifts(void)
{
    uint32_t r, f;
    r = 0x80000001;
    __asm__ volatile("shll $1, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    CHECK(r == 2 && (f & F_CF) && (f & F_OF), "shl 1: CF = old top bit, OF = CF ^ new top");
    r = 0x80000000;
    __asm__ volatile("sarl $4, %0" : "+r"(r) :: "cc");
    CHECK_EQ(r, 0xf8000000, "sar keeps the sign");
    r = 0x80000000;
    __asm__ volatile("shrl $4, %0" : "+r"(r) :: "cc");
    CHECK_EQ(r, 0x08000000, "shr shifts zeros in");
    r = 0x12345678;
    __asm__ volatile("roll $8, %0" : "+r"(r) :: "cc");
    CHECK_EQ(r, 0x34567812, "rol 8");
    r = 0x12345678;
    __asm__ volatile("rorl $4, %0" : "+r"(r) :: "cc");
    CHECK_EQ(r, 0x81234567, "ror 4");
    r = 1;
    __asm__ volatile("stc; rcrl $1, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    CHECK(r == 0x80000000 && (f & F_CF), "rcr 1 rotates CF in and bit 0 out");
    uint32_t c = 0x12345678, fl0, fl1;
    __asm__ volatile("stc; pushfl; popl %1; shll $0, %0; pushfl; popl %2"
                     : "+r"(c), "=r"(fl0), "=r"(fl1) :: "cc");
    CHECK(c == 0x12345678 && fl0 == fl1, "shift by 0 changes nothing, not even flags");
    uint32_t hi = 0x12345678, lo = 0x9abcdef0;
    __asm__ volatile("shldl $8, %1, %0" : "+r"(hi) : "r"(lo) : "cc");
    CHECK_EQ(hi, 0x3456789a, "shld 8");
    uint32_t s = 0x12345678, cnt = 36;
    __asm__ volatile("shll %%cl, %0" : "+r"(s) : "c"(cnt) : "cc");
    CHECK_EQ(s, 0x23456780, "shift counts are masked to 5 bits (36 -> 4)");
}

static void muldiv(void)
{
    uint32_t a = 0x80000000, d;
    __asm__ volatile("mull %2" : "+a"(a), "=d"(d) : "r"(4u) : "cc");
    CHECK(a == 0 && d == 2, "mul 0x80000000*4 = 0x2_00000000");
    a = (uint32_t)-7;
    __asm__ volatile("imull %2" : "+a"(a), "=d"(d) : "r"(3u) : "cc");
    CHECK(a == (uint32_t)-21 && d == 0xffffffff, "imul -7*3 = -21 sign-extended into edx");
    int32_t i = -1000;
    __asm__ volatile("imull $-3, %0, %0" : "+r"(i) :: "cc");
    CHECK_EQ(i, 3000, "imul with immediate");
    a = 100;
    d = 1;
    uint32_t q;
    __asm__ volatile("divl %3" : "=a"(q), "+d"(d) : "a"(a), "r"(7u) : "cc");
    CHECK(q == 0x24924932 && d == 6, "div (2^32+100)/7 quotient and remainder");
    a = (uint32_t)-100;
    __asm__ volatile("cltd; idivl %2" : "+a"(a), "=&d"(d) : "r"(7u) : "cc");
    CHECK(a == (uint32_t)-14 && d == (uint32_t)-2, "idiv -100/7 truncates toward zero");
}

static void bits(void)
{
    uint32_t r, f;
    __asm__ volatile("bsfl %2, %0" : "=r"(r) : "0"(0u), "r"(0x00f00000u) : "cc");
    CHECK_EQ(r, 20, "bsf finds the lowest set bit");
    __asm__ volatile("bsrl %2, %0" : "=r"(r) : "0"(0u), "r"(0x00f00000u) : "cc");
    CHECK_EQ(r, 23, "bsr finds the highest set bit");
    __asm__ volatile("bsfl %2, %0; pushfl; popl %1" : "=r"(r), "=r"(f) : "r"(0u), "0"(0u) : "cc");
    CHECK(f & F_ZF, "bsf of 0 sets ZF");
    r = 0x10;
    __asm__ volatile("btsl $3, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    CHECK(r == 0x18 && !(f & F_CF), "bts sets the bit, CF = old bit");
    __asm__ volatile("btrl $4, %0; pushfl; popl %1" : "+r"(r), "=r"(f) :: "cc");
    CHECK(r == 0x08 && (f & F_CF), "btr clears the bit, CF = old bit");
    static uint32_t arr[4] = {0, 0, 0, 0};
    __asm__ volatile("btsl %1, %0" : "+m"(arr) : "r"(70u) : "cc", "memory");
    CHECK_EQ(arr[2], 0x40, "bts with a register offset addresses beyond the dword");
    r = 0x11223344;
    __asm__ volatile("bswap %0" : "+r"(r));
    CHECK_EQ(r, 0x44332211, "bswap");
    int8_t sb = -2;
    int32_t sx;
    __asm__ volatile("movsbl %1, %0" : "=r"(sx) : "m"(sb));
    CHECK_EQ(sx, -2, "movsx byte");
    uint16_t w = 0xfffe;
    uint32_t zx;
    __asm__ volatile("movzwl %1, %0" : "=r"(zx) : "m"(w));
    CHECK_EQ(zx, 0xfffe, "movzx word");
}

static void atomics(void)
{
    uint32_t mem = 5, old = 5, f;
    __asm__ volatile("lock cmpxchgl %3, %1; pushfl; popl %2"
                     : "+a"(old), "+m"(mem), "=r"(f) : "r"(9u) : "cc", "memory");
    CHECK(mem == 9 && (f & F_ZF), "cmpxchg stores when equal, ZF set");
    old = 5;
    __asm__ volatile("lock cmpxchgl %3, %1; pushfl; popl %2"
                     : "+a"(old), "+m"(mem), "=r"(f) : "r"(1u) : "cc", "memory");
    CHECK(mem == 9 && old == 9 && !(f & F_ZF), "cmpxchg loads when different, ZF clear");
    uint32_t add = 3;
    __asm__ volatile("lock xaddl %0, %1" : "+r"(add), "+m"(mem) :: "cc", "memory");
    CHECK(add == 9 && mem == 12, "xadd returns the old value and adds");
    uint32_t x = 1;
    __asm__ volatile("xchgl %0, %1" : "+r"(x), "+m"(mem) :: "memory");
    CHECK(x == 12 && mem == 1, "xchg with memory");
}

static void strings(void)
{
    static char src[16] = "abcdefghijklmno", dst[16];
    void *d = dst;
    const void *s = src;
    uint32_t n = 16;
    __asm__ volatile("cld; rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    CHECK(!memcmp(dst, src, 16) && n == 0 && d == dst + 16, "rep movsb forward");
    memset(dst, 0, sizeof(dst));
    d = dst + 12;
    s = src + 12;
    n = 4;
    __asm__ volatile("std; rep movsl; cld" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
    CHECK(!memcmp(dst, src, 16) && (uint32_t)d == (uint32_t)dst - 4, "rep movsl backwards (DF=1)");
    d = dst;
    n = 16;
    __asm__ volatile("cld; repne scasb" : "+D"(d), "+c"(n) : "a"('e') : "cc", "memory");
    CHECK(d == dst + 5 && n == 11, "repne scasb stops after the match");
    s = src;
    d = dst;
    n = 16;
    dst[7] = 'X';
    __asm__ volatile("cld; repe cmpsb" : "+D"(d), "+S"(s), "+c"(n) :: "cc", "memory");
    CHECK(s == src + 8 && n == 8, "repe cmpsb stops after the first difference");
    n = 0;
    d = dst;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0) : "memory");
    CHECK(d == dst && dst[0] == 'a', "rep with ECX = 0 does nothing");
    static const uint8_t table[4] = {10, 20, 30, 40};
    uint32_t al = 2;
    __asm__ volatile("xlat" : "+a"(al) : "b"(table));
    CHECK_EQ(al & 0xff, 30, "xlat");
}

static void misc(void)
{
    uint32_t r, f;
    __asm__ volatile("xorl %0, %0; stc; setc %b0" : "=q"(r) :: "cc");
    CHECK_EQ(r, 1, "setc");
    r = 1;
    __asm__ volatile("cmpl $2, %1; cmovll %2, %0" : "+r"(r) : "r"(1u), "r"(77u) : "cc");
    CHECK_EQ(r, 77, "cmovl taken");
    r = 1;
    __asm__ volatile("cmpl $0, %1; cmovll %2, %0" : "+r"(r) : "r"(1u), "r"(77u) : "cc");
    CHECK_EQ(r, 1, "cmovl not taken");
    __asm__ volatile("movb $0xd5, %%ah; sahf; lahf; movzbl %%ah, %0" : "=r"(r) :: "eax", "cc");
    CHECK_EQ(r, 0xd7, "sahf/lahf (bit 1 always reads 1)");
    __asm__ volatile("pushfl; popl %0" : "=r"(f));
    CHECK(f & 2, "EFLAGS bit 1 is always set");
    uint32_t ac;
    __asm__ volatile("pushfl; orl $0x40000, (%%esp); popfl; pushfl; popl %0;"
                     "pushfl; andl $~0x40000, (%%esp); popfl" : "=r"(ac) :: "cc");
    CHECK(ac & 0x40000, "EFLAGS.AC can be set (a 486 or later)");
    uint32_t esp0, esp1, ebp_in;
    __asm__ volatile("movl %%esp, %0; movl %%ebp, %2; enter $16, $0; movl %%esp, %1; leave"
                     : "=&r"(esp0), "=&r"(esp1), "=&r"(ebp_in) :: "memory");
    CHECK_EQ(esp0 - esp1, 20, "enter $16 pushes EBP and reserves 16 bytes");
    uint32_t cnt = 10, it = 0;
    __asm__ volatile("1: incl %1; loop 1b" : "+c"(cnt), "+r"(it) :: "cc");
    CHECK(cnt == 0 && it == 10, "loop runs ECX times");
    uint16_t w = 0xffff;
    __asm__ volatile("addw $1, %0; pushfl; popl %1" : "+r"(w), "=r"(f) :: "cc");
    CHECK(w == 0 && (f & F_CF) && (f & F_ZF), "16-bit add wraps with CF");
    uint32_t wide = 0x1234ffff;
    __asm__ volatile("incw %w0" : "+r"(wide) :: "cc");
    CHECK_EQ(wide, 0x12340000, "16-bit inc leaves the upper half");
    uint32_t t0 = (uint32_t)rdtsc(), t1 = (uint32_t)rdtsc();
    CHECK(t1 != t0 || rdtsc() != t0, "rdtsc advances");
}

int main(struct multiboot_info *mbi)
{
    (void)mbi;
    arith();
    shifts();
    muldiv();
    bits();
    atomics();
    strings();
    misc();
    return 0;
}
