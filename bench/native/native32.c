/* native32.c - popek's native baselines: the benchmarks that have a native
 * equivalent, timed on the host in a 32-bit process (gcc -m32) with the same
 * rdtsc cycles-per-op measure as the guests in bench/guests.  `popek bench`
 * runs it as `native32 NAME n=N` and parses the one line it prints:
 *   BENCH name=NAME ops=N cycles=C cycles_per_op=F [key=value ...]
 * or, when this host cannot run it,
 *   BENCH-SKIP name=NAME reason=...
 * Exit status 0 = ran and checked its own work, 1 = failed, 2 = usage.
 * The same file also builds as a 64-bit program (native64), which the bench
 * uses, with a note, on hosts that cannot run 32-bit programs: the null
 * system calls then use the 64-bit `syscall` instruction. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "../guests/crc32_core.h"

#if !defined(__i386__) && !defined(__x86_64__)
#error "native32.c is an x86 program"
#endif

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}

static void report(const char *name, uint64_t ops, uint64_t cycles,
                   const char *extra)
{
    printf("BENCH name=%s ops=%llu cycles=%llu cycles_per_op=%.1f%s%s\n", name,
           (unsigned long long)ops, (unsigned long long)cycles,
           ops ? (double)cycles / (double)ops : 0.0, extra ? " " : "",
           extra ? extra : "");
}

static int skip(const char *name, const char *why)
{
    printf("BENCH-SKIP name=%s reason=%s\n", name, why);
    return 0;
}

static int failed(const char *name, const char *why)
{
    printf("BENCH-FAIL name=%s reason=%s\n", name, why);
    return 1;
}

/* ---- null system call: int 0x80 (getpid, 20 on i386) ---------------- */
#ifdef __x86_64__
/* 64-bit build: the null system call is `syscall` (getpid is 39). */
static int null_syscall(const char *name, uint32_t n)
{
    long pid = getpid(), r = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        __asm__ volatile("syscall" : "=a"(r) : "a"(39L)
                         : "memory", "rcx", "r11");
        if (r != pid)
            return failed(name, "syscall getpid returned a wrong pid");
    }
    report(name, n, rdtsc() - t0, "via=syscall64");
    return 0;
}
static int bench_int80(uint32_t n) { return null_syscall("syscall_int80", n); }
static int bench_vsyscall(uint32_t n)
{
    return null_syscall("syscall_sysenter", n);
}
#else
static int bench_int80(uint32_t n)
{
    long pid = getpid(), r = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        __asm__ volatile("int $0x80" : "=a"(r) : "a"(20) : "memory");
        if (r != pid)
            return failed("syscall_int80", "int 0x80 getpid returned a wrong pid");
    }
    report("syscall_int80", n, rdtsc() - t0, NULL);
    return 0;
}

/* ---- null system call through the vDSO entry (__kernel_vsyscall) -----
 * On Intel the 32-bit vDSO enters with sysenter; on AMD CPUs (which lack
 * sysenter in compatibility mode) it uses syscall.  Reported as the native
 * reference for syscall_sysenter with the mechanism noted. */
static int bench_vsyscall(uint32_t n)
{
    uintptr_t entry = (uintptr_t)getauxval(AT_SYSINFO);
    if (!entry)
        return skip("syscall_sysenter", "no AT_SYSINFO vDSO entry in this process");
    long pid = getpid(), r = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        __asm__ volatile("call *%1" : "=a"(r) : "r"(entry), "a"(20)
                         : "memory", "ecx", "edx");
        if (r != pid)
            return failed("syscall_sysenter", "vsyscall getpid returned a wrong pid");
    }
    report("syscall_sysenter", n, rdtsc() - t0, "via=__kernel_vsyscall");
    return 0;
}
#endif

/* ---- in from port 0x80 (needs ioperm, i.e. root) --------------------- */
static int bench_in(uint32_t n)
{
    if (ioperm(0x80, 1, 1) != 0) {
        char why[128];
        snprintf(why, sizeof(why), "ioperm(0x80) failed: %s", strerror(errno));
        return skip("in", why);
    }
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        (void)inb(0x80);
    report("in", n, rdtsc() - t0, NULL);
    return 0;
}

/* ---- call/ret --------------------------------------------------------- */
__attribute__((noinline)) static uint32_t leaf(uint32_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x + 1;
}

static int bench_callret(uint32_t n)
{
    uint32_t x = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        x = leaf(x);
    uint64_t c = rdtsc() - t0;
    if (x != n)
        return failed("callret", "the subroutine did not run n times");
    report("callret", n, c, NULL);
    return 0;
}

/* ---- page fault on fresh anonymous pages ------------------------------ */
static int bench_pgfault(uint32_t n)
{
    const uint32_t chunk = 4096; /* pages per mapping (16 MiB) */
    uint64_t cycles = 0;
    for (uint32_t done = 0; done < n;) {
        uint32_t pages = n - done < chunk ? n - done : chunk;
        size_t len = (size_t)pages * 4096;
        uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return failed("pgfault", "mmap failed");
        madvise(p, len, MADV_NOHUGEPAGE);
        uint64_t t0 = rdtsc();
        for (uint32_t i = 0; i < pages; i++)
            ((volatile uint8_t *)p)[(size_t)i * 4096] = (uint8_t)(i | 1);
        cycles += rdtsc() - t0;
        for (uint32_t i = 0; i < pages; i++)
            if (p[(size_t)i * 4096] != (uint8_t)(i | 1))
                return failed("pgfault", "a faulted-in page lost its write");
        munmap(p, len);
        done += pages;
    }
    report("pgfault", n, cycles, NULL);
    return 0;
}

/* ---- divide by zero: SIGFPE handler skips the 2-byte div -------------- */
static volatile sig_atomic_t fpe_count;

static void on_sigfpe(int sig, siginfo_t *si, void *uc_)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = uc_;
#ifdef __x86_64__
    uc->uc_mcontext.gregs[REG_RIP] += 2; /* f7 f1 = div %ecx */
#else
    uc->uc_mcontext.gregs[REG_EIP] += 2; /* f7 f1 = div %ecx */
#endif
    fpe_count++;
}

static int bench_divzero(uint32_t n)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigfpe;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGFPE, &sa, NULL);
    fpe_count = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        __asm__ volatile(".byte 0xf7, 0xf1" /* div %ecx */
                         : : "a"(1), "d"(0), "c"(0) : "memory", "cc");
    uint64_t c = rdtsc() - t0;
    if ((uint32_t)fpe_count != n)
        return failed("divzero", "the SIGFPE handler did not run n times");
    report("divzero", n, c, "via=SIGFPE");
    return 0;
}

/* ---- fork + exit + wait ---------------------------------------------- */
static int bench_forkwait(uint32_t n)
{
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return failed("forkwait", "fork failed");
        if (pid == 0)
            _exit(7);
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
            return failed("forkwait", "wait did not see the child exit 7");
    }
    report("forkwait", n, rdtsc() - t0, NULL);
    return 0;
}

/* ---- CRC-32 compute loop (n = KiB processed) -------------------------- */
static int bench_crc32(uint32_t n)
{
    static uint32_t table[256];
    const uint32_t buf_len = crc32_buf_len(n);
    uint8_t *buf = malloc(buf_len);
    if (!buf)
        return failed("crc32", "out of memory");
    crc32_make_table(table);
    crc32_fill(buf, buf_len);
    uint32_t check = crc32_update(table, 0xFFFFFFFFu, (const uint8_t *)"123456789", 9);
    if ((check ^ 0xFFFFFFFFu) != CRC32_CHECK_VALUE)
        return failed("crc32", "crc32(\"123456789\") is wrong");
    uint64_t t0 = rdtsc();
    uint32_t sum = crc32_work(table, buf, buf_len, n);
    uint64_t c = rdtsc() - t0;
    char extra[64];
    snprintf(extra, sizeof(extra), "unit=byte crc=0x%08x", sum);
    report("crc32", (uint64_t)n * 1024, c, extra);
    free(buf);
    return 0;
}

/* ---- user-program mix of the Linux guest (tests/linux/userprog.c) ---- */
#define USERPROG_NO_MAIN
#include "../../tests/linux/userprog.c"
static int bench_userprog(uint32_t n)
{
    uint32_t sum = 0;
    uint64_t t0 = rdtsc();
    for (uint32_t i = 0; i < n; i++)
        sum += round1();
    uint64_t c = rdtsc() - t0;
    char extra[32];
    snprintf(extra, sizeof(extra), "sum=%u", sum);
    report("userprog", n, c, extra);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(uint32_t n);
} benches[] = {
    {"syscall_int80", bench_int80}, {"syscall_sysenter", bench_vsyscall},
    {"in", bench_in},               {"callret", bench_callret},
    {"pgfault", bench_pgfault},     {"divzero", bench_divzero},
    {"forkwait", bench_forkwait},   {"crc32", bench_crc32},
    {"userprog", bench_userprog},
};

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "list")) {
        for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
            printf("%s\n", benches[i].name);
        return 0;
    }
    if (argc != 3 || strncmp(argv[2], "n=", 2) != 0) {
        fprintf(stderr, "usage: native32 NAME n=N | native32 list\n");
        return 2;
    }
    char *end;
    unsigned long n = strtoul(argv[2] + 2, &end, 0);
    if (*end || n == 0 || n > 0xffffffffu) {
        fprintf(stderr, "native32: bad n '%s'\n", argv[2] + 2);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
        if (!strcmp(argv[1], benches[i].name))
            return benches[i].fn((uint32_t)n);
    fprintf(stderr, "native32: unknown benchmark '%s' (try: native32 list)\n", argv[1]);
    return 2;
}
