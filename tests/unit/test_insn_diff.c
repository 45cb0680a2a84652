/* test_insn_diff.c - differential test of the interpreter's user-level
 * instruction semantics against the host CPU.  For each instruction
 * template (ALU, INC/DEC/NEG/NOT, shifts and rotates, SHLD/SHRD, MUL/IMUL/
 * DIV/IDIV, bit tests and scans, BCD, CMPXCHG/XADD, SETcc/CMOVcc, strings
 * with REP prefixes, a few moves) it generates random and edge-value
 * inputs with a seeded PRNG and runs the instruction
 *   (1) in the interpreter: interp_cpu_init + interp_step over a RAM buffer
 *       (flat segments, a GDT and an IDT so exceptions are delivered);
 *   (2) on the host CPU in tests/unit/native32/runner.c (a 32-bit helper
 *       process built by the Makefile), which maps its data window and code
 *       at the same addresses so that pointers are identical.
 * It compares the eight GPRs, the data window, the defined flags (the
 * undefined ones are masked per instruction, see undef_flags(): the host
 * may be an AMD CPU) and the exception raised (#DE, #UD, ...).
 * 16-bit address-size forms are not compared: the native helper cannot map
 * the low 64 KiB. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "engines/interp/cpu.h"
#include "test.h"
#include "diff_proto.h"
#include "insn_diff_common.h"

#define RAM_SIZE (4u << 20)
#define GDT_BASE 0x1000u
#define IDT_BASE 0x2000u
#define HANDLER 0x3000u
#define STACK_TOP (DIFF_DATA + DIFF_DATA_SIZE - 0x10)
#define MEM_CMP 0xe00u          /* compare [DIFF_DATA, +MEM_CMP) */
#define EBX_BASE (DIFF_DATA + 0x400)

static const struct tmpl tmpls[] = {
    /* ALU: op eax,ecx / ah,dl / cx,dx / [ebx],ecx / al,[ebx] / acc,imm / grp1 */
#define ALU(o, K, nm)                                                         \
    T(nm " r32", o "1 c8", K), T(nm " r8h", o "0 d4", K),                    \
    T(nm " r16", "66 " o "1 d1", K), T(nm " m32", o "1 0b", K),              \
    T(nm " r8,m8", o "2 03", K), T(nm " m16,r", "66 " o "1 13", K),          \
    T(nm " eax,imm", o "5 jj jj jj jj", K), T(nm " al,imm", o "4 jj", K)
    ALU("0", K_ARITH, "add"), ALU("1", K_ARITH, "adc"), ALU("2", K_LOGIC, "and"),
    ALU("3", K_LOGIC, "xor"),
#undef ALU
#define ALU(o, K, nm)                                                         \
    T(nm " r32", o "9 c8", K), T(nm " r8h", o "8 d4", K),                    \
    T(nm " r16", "66 " o "9 d1", K), T(nm " m32", o "9 0b", K),              \
    T(nm " r8,m8", o "a 03", K), T(nm " m16,r", "66 " o "9 13", K),          \
    T(nm " eax,imm", o "d jj jj jj jj", K), T(nm " al,imm", o "c jj", K)
    ALU("0", K_LOGIC, "or"), ALU("1", K_ARITH, "sbb"), ALU("2", K_ARITH, "sub"),
    ALU("3", K_ARITH, "cmp"),
#undef ALU
#define G1(rr, mm, cl, nm, K)                                                \
    T(nm " edx,simm8", "83 " rr " jj", K), T(nm " m32,imm", "81 " mm " jj jj jj jj", K), \
    T(nm " cl,imm8", "80 " cl " jj", K), T(nm " m16,simm8", "66 83 " mm " jj", K),  \
    T(nm " m8,imm8", "80 " mm " jj", K)
    G1("c2", "03", "c1", "g1 add", K_ARITH), G1("d2", "13", "d1", "g1 adc", K_ARITH),
    G1("e2", "23", "e1", "g1 and", K_LOGIC), G1("f2", "33", "f1", "g1 xor", K_LOGIC),
    G1("ca", "0b", "c9", "g1 or", K_LOGIC), G1("da", "1b", "d9", "g1 sbb", K_ARITH),
    G1("ea", "2b", "e9", "g1 sub", K_ARITH), G1("fa", "3b", "f9", "g1 cmp", K_ARITH),
#undef G1
    T("lock add m32", "f0 01 0b", K_ARITH), T("lock add reg (#UD)", "f0 01 c8", K_ARITH),
    T("lock cmp m32 (#UD)", "f0 39 0b", K_ARITH),
    /* inc/dec/neg/not/test */
    T("inc eax", "40", K_ARITH), T("dec ecx", "49", K_ARITH),
    T("inc cx", "66 41", K_ARITH), T("dec dx", "66 4a", K_ARITH),
    T("inc byte [ebx]", "fe 03", K_ARITH), T("dec dword [ebx]", "ff 0b", K_ARITH),
    T("inc ah", "fe c4", K_ARITH), T("dec dh", "fe ce", K_ARITH),
    T("neg eax", "f7 d8", K_ARITH), T("neg byte [ebx]", "f6 1b", K_ARITH),
    T("neg cx", "66 f7 d9", K_ARITH), T("neg ch", "f6 dd", K_ARITH),
    T("not edx", "f7 d2", K_NONE), T("not byte [ebx]", "f6 13", K_NONE),
    T("test eax,ecx", "85 c8", K_LOGIC), T("test ah,dl", "84 d4", K_LOGIC),
    T("test eax,imm", "a9 jj jj jj jj", K_LOGIC), T("test ecx,imm", "f7 c1 jj jj jj jj", K_LOGIC),
    T("test byte [ebx],imm", "f6 03 jj", K_LOGIC), T("test cx,dx", "66 85 d1", K_LOGIC),
    /* mul/div */
    T("mul ecx", "f7 e1", K_MUL), T("mul cl", "f6 e1", K_MUL), T("mul cx", "66 f7 e1", K_MUL),
    T("imul ecx", "f7 e9", K_MUL), T("imul cl", "f6 e9", K_MUL), T("imul cx", "66 f7 e9", K_MUL),
    T("mul dword [ebx]", "f7 23", K_MUL), T("imul byte [ebx]", "f6 2b", K_MUL),
    T("imul eax,ecx", "0f af c1", K_MUL), T("imul ax,cx", "66 0f af c1", K_MUL),
    T("imul eax,ecx,imm32", "69 c1 jj jj jj jj", K_MUL), T("imul eax,ecx,imm8", "6b c1 jj", K_MUL),
    T("imul dx,cx,imm8", "66 6b d1 jj", K_MUL), T("imul eax,[ebx]", "0f af 03", K_MUL),
    T("div ecx", "f7 f1", K_DIV), T("div cl", "f6 f1", K_DIV), T("div cx", "66 f7 f1", K_DIV),
    T("idiv ecx", "f7 f9", K_DIV), T("idiv cl", "f6 f9", K_DIV), T("idiv cx", "66 f7 f9", K_DIV),
    T("div dword [ebx]", "f7 33", K_DIV), T("idiv word [ebx]", "66 f7 3b", K_DIV),
    /* shifts/rotates */
    S("rol [ebx],cl", "d3 03", K_ROT, 32, C_CL, 0), S("rcr byte [ebx],cl", "d2 1b", K_ROT, 8, C_CL, 3),
    S("shl [ebx],cl", "d3 23", K_SHIFT, 32, C_CL, 4), S("sar word [ebx],imm", "66 c1 3b ii", K_SHIFT, 16, C_IMM, 7),
    S("shr byte [ebx],1", "d0 2b", K_SHIFT, 8, C_ONE, 5),
    S("shld eax,ecx,cl", "0f a5 c8", K_SHD, 32, C_CL, 0), S("shld eax,edx,imm", "0f a4 d0 ii", K_SHD, 32, C_IMM, 0),
    S("shrd eax,ecx,cl", "0f ad c8", K_SHD, 32, C_CL, 0), S("shrd eax,edx,imm", "0f ac d0 ii", K_SHD, 32, C_IMM, 0),
    S("shld ax,dx,imm", "66 0f a4 d0 ii", K_SHD, 16, C_IMM, 0), S("shrd ax,dx,imm", "66 0f ac d0 ii", K_SHD, 16, C_IMM, 0),
    S("shld [ebx],ecx,cl", "0f a5 0b", K_SHD, 32, C_CL, 0), S("shrd [ebx],edx,imm", "0f ac 13 ii", K_SHD, 32, C_IMM, 0),
    /* bits */
    T("bt eax,ecx", "0f a3 c8", K_BT), T("bts eax,ecx", "0f ab c8", K_BT),
    T("btr eax,ecx", "0f b3 c8", K_BT), T("btc eax,ecx", "0f bb c8", K_BT),
    T("bt ax,cx", "66 0f a3 c8", K_BT), T("btc dx,cx", "66 0f bb ca", K_BT),
    T("bt eax,imm", "0f ba e0 jj", K_BT), T("bts eax,imm", "0f ba e8 jj", K_BT),
    T("btr edx,imm", "0f ba f2 jj", K_BT), T("btc eax,imm", "0f ba f8 jj", K_BT),
    T("bt [ebx],ecx", "0f a3 0b", K_BTMEM), T("bts [ebx],ecx", "0f ab 0b", K_BTMEM),
    T("btr [ebx],ecx", "0f b3 0b", K_BTMEM), T("btc [ebx],ecx", "0f bb 0b", K_BTMEM),
    T("bts word [ebx],cx", "66 0f ab 0b", K_BTMEM), T("lock btr [ebx],ecx", "f0 0f b3 0b", K_BTMEM),
    T("bts [ebx],imm", "0f ba 2b jj", K_BT), T("btr word [ebx],imm", "66 0f ba 33 jj", K_BT),
    T("bsf eax,ecx", "0f bc c1", K_BSF), T("bsr eax,ecx", "0f bd c1", K_BSF),
    T("bsf ax,cx", "66 0f bc c1", K_BSF), T("bsr dx,cx", "66 0f bd d1", K_BSF),
    T("bsf eax,[ebx]", "0f bc 03", K_BSF), T("bsr eax,[ebx]", "0f bd 03", K_BSF),
    /* BCD */
    T("daa", "27", K_DAA), T("das", "2f", K_DAA), T("aaa", "37", K_AAA), T("aas", "3f", K_AAA),
    T("aam", "d4 0a", K_AAM), T("aam imm", "d4 jj", K_AAM),
    T("aad", "d5 0a", K_AAM), T("aad imm", "d5 jj", K_AAM),
    /* cmpxchg/xadd */
    T("cmpxchg edx,ecx", "0f b1 ca", K_CMPXCHG), T("cmpxchg dl,cl", "0f b0 ca", K_CMPXCHG),
    T("cmpxchg [ebx],ecx", "0f b1 0b", K_CMPXCHG), T("cmpxchg word [ebx],cx", "66 0f b1 0b", K_CMPXCHG),
    T("lock cmpxchg [ebx],ecx", "f0 0f b1 0b", K_CMPXCHG),
    T("xadd edx,ecx", "0f c1 ca", K_ARITH), T("xadd dl,cl", "0f c0 ca", K_ARITH),
    T("xadd [ebx],ecx", "0f c1 0b", K_ARITH), T("lock xadd word [ebx],cx", "f0 66 0f c1 0b", K_ARITH),
    T("cmpxchg8b [ebx]", "0f c7 0b", K_CX8),
    /* setcc/cmovcc */
#define CC(x) T("setcc " x, "0f 9" x " c0", K_NONE), T("cmovcc " x, "0f 4" x " c1", K_NONE)
    CC("0"), CC("1"), CC("2"), CC("3"), CC("4"), CC("5"), CC("6"), CC("7"),
    CC("8"), CC("9"), CC("a"), CC("b"), CC("c"), CC("d"), CC("e"), CC("f"),
#undef CC
    T("cmovz ax,[ebx]", "66 0f 44 03", K_NONE), T("setnz [ebx]", "0f 95 03", K_NONE),
    /* strings */
    T("movsb", "a4", K_STR), T("movsd", "a5", K_STR), T("movsw", "66 a5", K_STR),
    T("cmpsb", "a6", K_STR), T("cmpsd", "a7", K_STR), T("stosb", "aa", K_STR),
    T("stosd", "ab", K_STR), T("lodsb", "ac", K_STR), T("lodsw", "66 ad", K_STR),
    T("scasb", "ae", K_STR), T("scasd", "af", K_STR),
    T("rep movsb", "f3 a4", K_STR), T("rep movsd", "f3 a5", K_STR),
    T("rep movsw", "f3 66 a5", K_STR), T("rep stosb", "f3 aa", K_STR),
    T("rep stosd", "f3 ab", K_STR), T("rep lodsb", "f3 ac", K_STR),
    T("repe cmpsb", "f3 a6", K_STR), T("repne cmpsb", "f2 a6", K_STR),
    T("repe cmpsd", "f3 a7", K_STR), T("repne cmpsw", "f2 66 a7", K_STR),
    T("repe scasb", "f3 ae", K_STR), T("repne scasb", "f2 ae", K_STR),
    T("repe scasd", "f3 af", K_STR), T("repne scasw", "66 f2 af", K_STR),
    T("rep movsb es:,fs-less seg ds", "3e f3 a4", K_STR),
    /* moves and conversions */
    T("movzx eax,ah", "0f b6 c4", K_NONE), T("movsx eax,word [ebx]", "0f bf 03", K_NONE),
    T("movsx cx,dl", "66 0f be ca", K_NONE), T("movzx edx,cx", "0f b7 d1", K_NONE),
    T("cbw", "66 98", K_NONE), T("cwde", "98", K_NONE), T("cwd", "66 99", K_NONE),
    T("cdq", "99", K_NONE), T("sahf", "9e", K_NONE), T("lahf", "9f", K_NONE),
    T("bswap ecx", "0f c9", K_NONE), T("xchg [ebx],ecx", "87 0b", K_NONE),
    T("xchg al,dh", "86 f0", K_NONE), T("xchg eax,edx", "92", K_NONE),
    T("lea eax,[ebx+ecx*4+7]", "8d 44 8b 07", K_NONE), T("lea ax,[ebx+ecx]", "66 8d 04 0b", K_NONE),
    T("xlat", "d7", K_NONE), T("salc", "d6", K_NONE),
    T("cmc", "f5", K_NONE), T("clc", "f8", K_NONE), T("stc", "f9", K_NONE),
    T("mov [ebx],dh", "88 33", K_NONE), T("mov cx,[ebx]", "66 8b 0b", K_NONE),
    T("mov dword [ebx+jj],imm", "c7 43 jj jj jj jj jj", K_NONE),
    T("mov eax,moffs", "a1 00 04 20 00", K_NONE), T("mov moffs,al", "a2 10 04 20 00", K_NONE),
    /* branches: a taken branch skips "mov eax,1" */
#define JCC(x) T("jcc " x, "7" x " 05 b8 01 00 00 00", K_NONE), \
               T("jcc rel32 " x, "0f 8" x " 05 00 00 00 b8 01 00 00 00", K_NONE)
    JCC("0"), JCC("1"), JCC("2"), JCC("3"), JCC("4"), JCC("5"), JCC("6"), JCC("7"),
    JCC("8"), JCC("9"), JCC("a"), JCC("b"), JCC("c"), JCC("d"), JCC("e"), JCC("f"),
#undef JCC
    T("loop", "e2 05 b8 01 00 00 00", K_STR), T("loope", "e1 05 b8 01 00 00 00", K_STR),
    T("loopne", "e0 05 b8 01 00 00 00", K_STR), T("jecxz", "e3 05 b8 01 00 00 00", K_STR),
    T("loop cx (a16)", "67 e2 05 b8 01 00 00 00", K_STR), T("jcxz (a16)", "67 e3 05 b8 01 00 00 00", K_STR),
    T("jmp rel8", "eb 05 b8 01 00 00 00", K_NONE), T("jmp rel32", "e9 05 00 00 00 b8 01 00 00 00", K_NONE),
    /* stack */
    T("push eax", "50", K_STACK), T("push cx", "66 51", K_STACK), T("pop edx", "5a", K_STACK),
    T("pop si", "66 5e", K_STACK), T("push esp", "54", K_STACK), T("pop esp", "5c", K_STACK),
    T("pusha", "60", K_STACK), T("popa", "61", K_STACK), T("pushaw", "66 60", K_STACK),
    T("popaw", "66 61", K_STACK), T("push imm32", "68 jj jj jj jj", K_STACK),
    T("push simm8", "6a jj", K_STACK), T("pushw simm8", "66 6a jj", K_STACK),
    T("pop [ebx]", "8f 03", K_STACK), T("pop [esp+4]", "8f 44 24 04", K_STACK),
    T("pop word [ebx]", "66 8f 03", K_STACK), T("push [ebx]", "ff 33", K_STACK),
    T("push [esp]", "ff 34 24", K_STACK), T("pushw [ebx]", "66 ff 33", K_STACK),
    T("enter 16,0", "c8 10 00 00", K_STACK), T("enter 8,1", "c8 08 00 01", K_STACK),
    T("enter 4,3", "c8 04 00 03", K_STACK), T("enter 0,7", "c8 00 00 07", K_STACK),
    T("enterw 4,2", "66 c8 04 00 02", K_STACK), T("leave", "c9", K_STACK),
    T("leavew", "66 c9", K_STACK), T("call rel32", "e8 05 00 00 00 b8 01 00 00 00", K_STACK),
    T("xchg [esp],eax", "87 04 24", K_STACK),
    T("ret", "c3", K_RET), T("ret 8", "c2 08 00", K_RET), T("jmp eax", "ff e0", K_RET),
    T("jmp [ebx]", "ff 23", K_RET), T("call eax", "ff d0", K_RET), T("call [ebx]", "ff 13", K_RET),
    /* x87: loads, arithmetic, stores and the environment, from FNINIT */
    T("fld/fadd/fstp m64", "dd 03 dc 43 08 dd 5b 10 df e0", K_X87),
    T("fld/fsub/fmul/fdiv m32", "d9 03 d8 63 04 d8 4b 08 d8 73 0c d9 5b 10 df e0", K_X87),
    T("fild/fidiv/fistp", "db 03 da 73 04 db 5b 08 df e0", K_X87),
    T("fild m16/fimul/fistp m16", "df 03 de 4b 02 df 5b 04 df e0", K_X87),
    T("fild m64/fistp m64", "df 2b df 7b 08 df e0", K_X87),
    T("fld m80/fstp m80", "db 2b db 7b 10 df e0", K_X87),
    T("fld m80/fsqrt/fstp m80", "db 2b d9 fa db 7b 10 df e0", K_X87),
    T("fbld/fbstp", "df 23 df 33 df e0", K_X87),
    T("fld1 fldpi fyl2x fsin fcos fstp", "d9 e8 d9 eb d9 f1 d9 fe dd 1b d9 ff dd 5b 08 df e0", K_X87),
    T("fcom/fcomp/fucompp fstsw", "dd 03 dd 43 08 d8 d1 df e0 8b c8 d8 d9 df e0 da e9 df e0", K_X87),
    T("fcomi/fucomip", "dd 03 dd 43 08 db f1 0f 92 c0 0f 94 c4 0f 9a c1 df e9 0f 92 c2 0f 94 c6 0f 9a c5", K_X87),
    T("fcmov", "dd 03 dd 43 08 da c1 db d1 dd 5b 10 dd 5b 18", K_X87),
    T("fxch/fabs/fchs/frndint/fscale", "dd 03 dd 43 08 d9 c9 d9 e1 d9 e0 d9 fc d9 fd dd 5b 10 dd 5b 18", K_X87),
    T("fxam/ftst/fprem", "dd 03 d9 e5 df e0 8b c8 d9 e4 df e0 dd 43 08 d9 f8 dd 5b 10 df e0", K_X87),
    T("fldcw/fist rounding", "d9 6b 20 dd 03 db 53 10 df e0", K_X87),
    T("fnstenv", "dd 03 d9 e8 d9 73 00", K_X87ENV),
    T("fnstenv 16", "dd 03 d9 e8 66 d9 73 00", K_X87ENV),
    T("fnsave", "dd 03 d9 ee dd 43 08 dd 73 00", K_X87ENV),
    T("fnsave 16", "dd 03 d9 ee dd 43 08 66 dd 73 00", K_X87ENV),
    T("frstor/fnsave", "dd 03 dd 43 08 dd 73 40 dd 63 40 de c1 dd 73 00", K_X87ENV),
    T("fldenv/fnstenv", "dd 03 d9 73 40 d9 c0 d9 63 40 d9 e8 d9 73 00", K_X87ENV),
    T("ffree/fincstp/fdecstp", "dd 03 d9 e8 dd c1 d9 f7 d9 f6 d9 73 00", K_X87ENV),
    T("fnclex/fninit", "d9 ee d9 f6 d9 e8 de f9 db e2 d9 73 00 db e3 d9 73 20", K_X87ENV),
};

/* Group 2 in register forms: every op x every operand form. */
static struct tmpl shift_tmpls[8 * 8];
static char shift_text[8 * 8][2][32];

static size_t build_shift_tmpls(void)
{
    static const char *ops[8] = { "rol", "ror", "rcl", "rcr",
                                  "shl", "shr", "sal", "sar" };
    static const struct {
        const char *name, *pre;
        int rm, width;
        enum cnt cnt;
    } forms[] = {
        { "eax,cl", "d3", 0, 32, C_CL },   { "ah,cl", "d2", 4, 8, C_CL },
        { "dx,cl", "66 d3", 2, 16, C_CL }, { "esi,imm", "c1", 6, 32, C_IMM },
        { "edi,1", "d1", 7, 32, C_ONE },   { "dl,1", "d0", 2, 8, C_ONE },
        { "cx,imm", "66 c1", 1, 16, C_IMM }, { "al,imm", "c0", 0, 8, C_IMM },
    };
    size_t n = 0;
    for (int op = 0; op < 8; op++)
        for (size_t f = 0; f < ARRAY_SIZE(forms); f++, n++) {
            snprintf(shift_text[n][0], 32, "%s %s", ops[op], forms[f].name);
            snprintf(shift_text[n][1], 32, "%s %02x%s", forms[f].pre,
                     0xc0 | (op << 3) | forms[f].rm,
                     forms[f].cnt == C_IMM ? " ii" : "");
            shift_tmpls[n] = (struct tmpl){ shift_text[n][0], shift_text[n][1],
                                            op < 4 ? K_ROT : K_SHIFT,
                                            forms[f].width, forms[f].cnt, op };
        }
    return n;
}

/* ---- the native helper ---- */
static pid_t native_pid = -1;
static int native_in = -1, native_out = -1;
static void native_stop(void);

static int native_start(char *why, size_t n)
{
    char path[4096];
    ssize_t len = readlink("/proc/self/exe", path, sizeof(path) - 32);
    if (len <= 0) {
        snprintf(why, n, "readlink /proc/self/exe failed");
        return -1;
    }
    path[len] = 0;
    char *slash = strrchr(path, '/');
    strcpy(slash + 1, "native32_runner");
    if (access(path, X_OK) != 0) {
        snprintf(why, n, "native32_runner not built next to the test (%.200s)", path);
        return -1;
    }
    int to[2], from[2];
    if (pipe(to) || pipe(from)) {
        snprintf(why, n, "pipe: %s", strerror(errno));
        return -1;
    }
    native_pid = fork();
    if (native_pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]); close(to[1]); close(from[0]); close(from[1]);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    native_in = to[1];
    native_out = from[0];
    signal(SIGPIPE, SIG_IGN);
    char hello[4] = { 0 };
    ssize_t got = read(native_out, hello, 4);
    if (got != 4 || memcmp(hello, DIFF_READY, 4) != 0) {
        snprintf(why, n, "native32_runner cannot run here (no 32-bit support, "
                 "or the fixed windows at %#x/%#x are taken)", DIFF_DATA, DIFF_CODE);
        native_stop();
        return -1;
    }
    return 0;
}

static int xfer(int fd, void *p, size_t n, bool wr)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = wr ? write(fd, b, n) : read(fd, b, n);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void native_stop(void)
{
    if (native_pid <= 0)
        return;
    close(native_in);
    close(native_out);
    waitpid(native_pid, NULL, 0);
    native_pid = -1;
}

/* ---- the interpreter side ---- */
static uint8_t *ram;
static struct interp_cpu *cpu;

static void put_desc(uint8_t *p, uint32_t lo, uint32_t hi)
{
    memcpy(p, &lo, 4);
    memcpy(p + 4, &hi, 4);
}

static void ram_setup(void)
{
    /* GDT: null, 0x08 code 32 flat, 0x10 data 32 flat */
    put_desc(ram + GDT_BASE + 8, 0x0000ffff, 0x00cf9b00);
    put_desc(ram + GDT_BASE + 16, 0x0000ffff, 0x00cf9300);
    for (int v = 0; v < 32; v++) /* interrupt gates to HANDLER */
        put_desc(ram + IDT_BASE + 8 * v, (0x08u << 16) | (HANDLER & 0xffff),
                 (HANDLER & 0xffff0000u) | 0x8e00);
    ram[HANDLER] = 0xf4; /* hlt */
}

static void interp_run(const struct diff_case *in, struct diff_result *out)
{
    memset(cpu, 0, sizeof(*cpu));
    interp_cpu_init(cpu, ram, RAM_SIZE, NULL);
    cpu->gdt.base = GDT_BASE;
    cpu->gdt.limit = 23;
    cpu->idt.base = IDT_BASE;
    cpu->idt.limit = 32 * 8 - 1;
    memcpy(ram + DIFF_DATA, in->mem, DIFF_DATA_SIZE);
    memset(ram + DIFF_CODE, 0x90, 128);
    memcpy(ram + DIFF_CODE, in->code, in->code_len);
    memcpy(cpu->r, in->regs, sizeof(cpu->r));
    cpu->eflags = in->eflags | 2;
    cpu->eip = DIFF_CODE;
    int v = -1;
    /* run until the end of the bytes: branches, short sequences and rep
     * strings (which may take several steps) */
    for (int n = 0; n < 256; n++) {
        v = interp_step(cpu);
        if (v != -1 || cpu->eip == DIFF_CODE + in->code_len)
            break;
    }
    memcpy(out->regs, cpu->r, sizeof(out->regs));
    out->eflags = cpu->eflags;
    out->fault = v;
    memcpy(out->mem, ram + DIFF_DATA, DIFF_DATA_SIZE);
}

/* ---- case generation ---- */
static void gen_case(const struct tmpl *t, struct diff_case *dc, unsigned *count)
{
    uint8_t cnt = rnd_count();
    if (t->kind == K_SHD && t->width == 16)
        while ((cnt & 31) > 16)
            cnt = rnd_count();
    memset(dc, 0, sizeof(*dc));
    dc->code_len = (uint32_t)assemble(t->hex, dc->code, (int)sizeof(dc->code), cnt);
    for (int r = 0; r < 8; r++)
        dc->regs[r] = rnd_value();
    bool lowent = rnd() & 1;
    for (uint32_t k = 0; k < DIFF_DATA_SIZE; k++)
        dc->mem[k] = (uint8_t)(t->kind == K_STR && lowent ? rnd() & 1 : rnd());
    for (uint32_t k = 0; k + 4 <= DIFF_DATA_SIZE && rnd() % 4 == 0; k += 4) {
        uint32_t v = rnd_value(); /* sprinkle edge values */
        uint32_t at = (rnd() % (DIFF_DATA_SIZE / 4)) * 4;
        memcpy(dc->mem + at, &v, 4);
    }
    dc->regs[R_ESP] = STACK_TOP;
    dc->regs[R_EBX] = EBX_BASE + (rnd() & 0x3f);
    dc->eflags = 2 | (rnd() & ARITH);
    if (t->cnt == C_CL)
        dc->regs[R_ECX] = (dc->regs[R_ECX] & ~0xffu) | cnt;
    *count = t->cnt == C_CL || t->cnt == C_IMM ? cnt : t->cnt == C_ONE ? 1 : 0;
    switch (t->kind) {
    case K_BTMEM:
        dc->regs[R_ECX] = (uint32_t)((int32_t)(rnd() % 2048) - 1024);
        break;
    case K_DIV:
        if (rnd() & 1) { /* make most quotients fit */
            dc->regs[R_EDX] &= 0xf;
            dc->regs[R_EAX] &= rnd() & 1 ? 0xffff0fffu : 0xffffffffu;
        }
        break;
    case K_STR:
        dc->regs[R_ESI] = DIFF_DATA + 0x100 + (rnd() % 0x400);
        dc->regs[R_EDI] = DIFF_DATA + 0x100 + (rnd() % 0x400);
        dc->regs[R_ECX] = rnd() % 24;
        if (lowent)
            dc->regs[R_EAX] &= 0xffffff01u;
        if (rnd() & 1)
            dc->eflags |= FLAG_DF;
        break;
    case K_CMPXCHG:
        if (rnd() & 1) {
            dc->regs[R_EDX] = dc->regs[R_EAX];
            memcpy(dc->mem + (dc->regs[R_EBX] - DIFF_DATA), &dc->regs[R_EAX], 4);
        }
        break;
    case K_CX8:
        if (rnd() & 1) {
            memcpy(dc->mem + (dc->regs[R_EBX] - DIFF_DATA), &dc->regs[R_EAX], 4);
            memcpy(dc->mem + (dc->regs[R_EBX] - DIFF_DATA) + 4, &dc->regs[R_EDX], 4);
        }
        break;
    case K_STACK:
    case K_RET:
        dc->regs[R_ESP] = DIFF_DATA + 0x800 + (rnd() & 0x3c);
        dc->regs[R_EBP] = DIFF_DATA + 0x900 + (rnd() & 0xfc);
        if (t->kind == K_RET) {
            uint32_t end = DIFF_CODE + dc->code_len;
            memcpy(dc->mem + (dc->regs[R_ESP] - DIFF_DATA), &end, 4);
            memcpy(dc->mem + (dc->regs[R_EBX] - DIFF_DATA), &end, 4);
            dc->regs[R_EAX] = end;
        }
        break;
    case K_X87:
    case K_X87ENV: {
        /* some well-formed numbers among the random bits */
        uint32_t at = dc->regs[R_EBX] - DIFF_DATA;
        for (int k = 0; k < 4; k++) {
            if (rnd() & 1) {
                double d = (double)(int32_t)rnd() / (double)((rnd() & 0xffff) + 1);
                memcpy(dc->mem + at + 8 * k, &d, 8);
            }
        }
        if (rnd() & 1) {
            int32_t v = (int32_t)rnd() >> (rnd() & 31);
            memcpy(dc->mem + at, &v, 4);
        }
        uint16_t cw = (uint16_t)(0x037f | ((rnd() & 3) << 10) | ((rnd() & 3) << 8));
        memcpy(dc->mem + at + 0x20, &cw, 2);
        break;
    }
    default:
        break;
    }
}

static void hexdump_code(char *buf, size_t n, const struct diff_case *dc)
{
    size_t o = 0;
    for (uint32_t k = 0; k < dc->code_len && o + 4 < n; k++)
        o += (size_t)snprintf(buf + o, n - o, "%02x ", dc->code[k]);
}

/* Cases whose undefined (masked) flags differ from the host: information
 * only, e.g. an AMD host computes some of them differently from Intel. */
static unsigned long undef_differ;

/* Compare one case; returns false and describes the first difference. */
static bool compare(const struct tmpl *t, const struct diff_case *dc,
                    const struct diff_result *a, const struct diff_result *b,
                    unsigned count, char *why, size_t n)
{
    static const char *rn[8] = { "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi" };
    char code[200];
    hexdump_code(code, sizeof(code), dc);
    int fa = a->fault, fb = b->fault;
    if (fa == 14)
        fa = 13;
    if ((fa < 0) != (fb < 0) || fa != fb) {
        snprintf(why, n, "%s [%s]: fault interp=%d native=%d", t->name, code,
                 a->fault, b->fault);
        return false;
    }
    for (int r = 0; r < 8; r++) {
        if (fa >= 0 && r == R_ESP)
            continue;
        if (a->regs[r] != b->regs[r]) {
            snprintf(why, n,
                     "%s [%s]: %s interp=%08x native=%08x (in eax=%08x ecx=%08x "
                     "edx=%08x esi=%08x edi=%08x fl=%03x)",
                     t->name, code, rn[r], a->regs[r], b->regs[r], dc->regs[0],
                     dc->regs[1], dc->regs[2], dc->regs[6], dc->regs[7], dc->eflags);
            return false;
        }
    }
    if (fa < 0) {
        if ((a->eflags ^ b->eflags) & undef_flags(t, count))
            undef_differ++;
        uint32_t m = (ARITH | FLAG_DF) & ~undef_flags(t, count);
        if ((a->eflags ^ b->eflags) & m) {
            snprintf(why, n,
                     "%s [%s]: eflags interp=%03x native=%03x differ in %03x "
                     "(in eax=%08x ecx=%08x edx=%08x fl=%03x)",
                     t->name, code, a->eflags & m, b->eflags & m,
                     (a->eflags ^ b->eflags) & m, dc->regs[0], dc->regs[1],
                     dc->regs[2], dc->eflags);
            return false;
        }
    }
    uint32_t env = dc->regs[R_EBX] - DIFF_DATA;
    bool env16 = strstr(t->name, " 16") != NULL;
    for (uint32_t k = 0; k < MEM_CMP; k++) {
        /* FIP FCS FOP FDP FDS of an FNSTENV/FNSAVE image: the host keeps
         * its own instruction pointers there (or zeros) */
        if (t->kind == K_X87ENV && (env16 ? k >= env + 6 && k < env + 14
                                          : k >= env + 12 && k < env + 28))
            continue;
        if (t->kind == K_X87ENV && !env16 &&
            ((k >= env + 0x20 + 12 && k < env + 0x20 + 28) ||
             (k >= env + 0x40 + 12 && k < env + 0x40 + 28)))
            continue;
        if (a->mem[k] != b->mem[k]) {
            snprintf(why, n, "%s [%s]: mem[%#x] interp=%02x native=%02x",
                     t->name, code, DIFF_DATA + k, a->mem[k], b->mem[k]);
            return false;
        }
    }
    return true;
}

static unsigned long cases_compared, insns_compared;

static void test_insn_diff(void)
{
    char why[600];
    if (native_start(why, sizeof(why)) != 0)
        SKIP("%.400s", why);
    ram = aligned_alloc(4096, RAM_SIZE);
    cpu = aligned_alloc(64, (sizeof(*cpu) + 63) & ~(size_t)63);
    CHECK(ram && cpu);
    if (!ram || !cpu)
        return;
    memset(ram, 0, RAM_SIZE);
    ram_setup();
    static struct diff_case dc;
    static struct diff_result ra, rb;
    const int per = getenv("DIFF_CASES") ? atoi(getenv("DIFF_CASES")) : 200;
    int failures = 0;
    size_t nshift = build_shift_tmpls();
    for (size_t ti = 0; ti < ARRAY_SIZE(tmpls) + nshift; ti++) {
        const struct tmpl *t = ti < ARRAY_SIZE(tmpls)
                                   ? &tmpls[ti]
                                   : &shift_tmpls[ti - ARRAY_SIZE(tmpls)];
        bool ok = true;
        for (int k = 0; k < per && ok; k++) {
            unsigned count;
            gen_case(t, &dc, &count);
            if (xfer(native_in, &dc, sizeof(dc), true) ||
                xfer(native_out, &rb, sizeof(rb), false)) {
                CHECKF(0, "native helper died");
                native_stop();
                return;
            }
            interp_run(&dc, &ra);
            cases_compared++;
            if (!compare(t, &dc, &ra, &rb, count, why, sizeof(why))) {
                ok = false;
                failures++;
                printf("  diff: %s\n", why);
                CHECKF(0, "%.400s", why);
            }
        }
        insns_compared++;
    }
    native_stop();
    printf("  insn_diff: %lu instruction forms, %lu cases compared, %d forms differ"
           " (%lu cases with differing undefined flags, masked)\n",
           insns_compared, cases_compared, failures, undef_differ);
    free(ram);
    free(cpu);
}

int main(void)
{
    RUN(test_insn_diff);
    TEST_MAIN_END();
}
