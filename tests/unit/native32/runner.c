/* runner.c - the native side of the instruction differential test
 * (tests/unit/test_insn_diff.c).  Built with gcc -m32 as
 * $(BUILD)/tests/native32_runner.  It maps a fixed data window and a code
 * page at the same addresses the interpreter test uses, then serves cases
 * from stdin: for each struct diff_case it loads the registers and EFLAGS,
 * runs the instruction bytes on the host CPU (followed by a jump back),
 * and answers with a struct diff_result: registers, EFLAGS, the data window
 * and the fault (SIGFPE -> #DE, SIGILL -> #UD, SIGSEGV/SIGBUS -> #GP). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "../diff_proto.h"

uint32_t in_regs[8], out_regs[8], in_eflags, out_eflags, host_esp;
uint32_t code_ptr, back_ptr;

void run_native(void);
void native_back(void);
__asm__(".text\n"
        ".globl run_native\n"
        "run_native:\n"
        "  pushal\n"
        "  movl %esp, host_esp\n"
        "  pushl in_eflags\n"
        "  popfl\n"
        "  movl in_regs+0, %eax\n"
        "  movl in_regs+4, %ecx\n"
        "  movl in_regs+8, %edx\n"
        "  movl in_regs+12, %ebx\n"
        "  movl in_regs+20, %ebp\n"
        "  movl in_regs+24, %esi\n"
        "  movl in_regs+28, %edi\n"
        "  movl in_regs+16, %esp\n"
        "  jmp *code_ptr\n"
        ".globl native_back\n"
        "native_back:\n"
        "  movl %eax, out_regs+0\n"
        "  movl %ecx, out_regs+4\n"
        "  movl %edx, out_regs+8\n"
        "  movl %ebx, out_regs+12\n"
        "  movl %esp, out_regs+16\n"
        "  movl %ebp, out_regs+20\n"
        "  movl %esi, out_regs+24\n"
        "  movl %edi, out_regs+28\n"
        "  movl host_esp, %esp\n"
        "  pushfl\n"
        "  popl out_eflags\n"
        "  cld\n"
        "  popal\n"
        "  ret\n");

static volatile int fault_vector;

static void on_signal(int sig, siginfo_t *si, void *uc_)
{
    (void)si;
    ucontext_t *uc = uc_;
    fault_vector = sig == SIGFPE ? 0 : sig == SIGILL ? 6 : 13;
    /* resume at native_back with the registers of the faulting insn */
    uc->uc_mcontext.gregs[REG_EIP] = (greg_t)(uintptr_t)native_back;
}

static int read_full(void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(0, b, n);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_full(const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t r = write(1, b, n);
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

int main(void)
{
    uint8_t *data = mmap((void *)DIFF_DATA, DIFF_DATA_SIZE,
                         PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *code = mmap((void *)DIFF_CODE, 4096,
                         PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (data != (void *)DIFF_DATA || code != (void *)DIFF_CODE) {
        fprintf(stderr, "native32_runner: cannot map the fixed windows\n");
        write_full(DIFF_NOT_READY, 4);
        return 1;
    }
    static uint8_t altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    back_ptr = (uint32_t)(uintptr_t)native_back;
    code_ptr = DIFF_CODE;

    if (write_full(DIFF_READY, 4) != 0)
        return 1;
    static struct diff_case in;
    static struct diff_result out;
    while (read_full(&in, sizeof(in)) == 0) {
        memcpy(code, in.code, in.code_len);
        /* jmp *back_ptr */
        code[in.code_len] = 0xff;
        code[in.code_len + 1] = 0x25;
        uint32_t bp = (uint32_t)(uintptr_t)&back_ptr;
        memcpy(code + in.code_len + 2, &bp, 4);
        __builtin___clear_cache((char *)code, (char *)code + 128);
        memcpy(data, in.mem, DIFF_DATA_SIZE);
        memcpy(in_regs, in.regs, sizeof(in_regs));
        in_eflags = in.eflags;
        fault_vector = -1;
        /* FNINIT leaves the data registers alone: zero them first so that
         * FNSAVE images do not depend on earlier cases */
        __asm__ volatile("fninit\n" "fldz\n fldz\n fldz\n fldz\n"
                         "fldz\n fldz\n fldz\n fldz\n" "fninit");
        run_native();
        memcpy(out.regs, out_regs, sizeof(out_regs));
        out.eflags = out_eflags;
        out.fault = fault_vector;
        memcpy(out.mem, data, DIFF_DATA_SIZE);
        if (write_full(&out, sizeof(out)) != 0)
            return 1;
    }
    return 0;
}
