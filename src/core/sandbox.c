/* sandbox.c - the seccomp-bpf allow-list popek installs once set-up is
 * over (RAM mapped, devices made, engine created, every file opened), as
 * Firecracker's jailer does: from then on a guest that got code execution
 * inside popek could only make the system calls below, on the file
 * descriptors popek already has.  Anything else raises SIGSYS; the handler
 * prints the call's number and name and exits with status 10 (host error).
 * `popek run --no-sandbox` leaves it off for debugging (strace, gdb).
 *
 * The list lives here, one line per call with why popek needs it.  Other
 * subsystems extend it with sandbox_allow() before the machine runs (e.g.
 * libslirp's sockets, a disk's I/O thread). */
#include "sandbox.h"

#include <errno.h>
#include <asm/prctl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

struct allowed {
    int nr;
    const char *why;
};

static const struct allowed base_list[] = {
    /* console, eventfd/timerfd/signalfd, --stats and -D files */
    {__NR_read, "console input, eventfd, timerfd and signalfd reads"},
    {__NR_write, "console output, eventfd kicks, --stats and -D log"},
    {__NR_writev, "stdio may gather a line into one writev"},
    {__NR_lseek, "stdio on the already-open --stats/-D files"},
    {__NR_fstat, "stdio sizes a stream's buffer on its first use"},
    {__NR_newfstatat, "fstat as glibc 2.33+ issues it"},
    {__NR_close, "closing the --stats file and engine descriptors at exit"},
    {__NR_ioctl, "terminal mode (TCGETS/TCSETS) and the kvm engine's "
                 "KVM_RUN/KVM_INTERRUPT/... on its own descriptors"},
    /* waiting and time */
    {__NR_poll, "the I/O thread waits for stdin, the timerfd, signals"},
    {__NR_ppoll, "the run loop sleeps while the guest halts"},
    {__NR_timerfd_settime, "virtual timers arm the timerfd"},
    {__NR_timerfd_gettime, "virtual timers"},
    {__NR_clock_gettime, "the host clock when the vDSO falls back"},
    {__NR_gettimeofday, "the host clock when the vDSO falls back"},
    {__NR_clock_nanosleep, "the watchdog thread's 50 ms ticks"},
    {__NR_nanosleep, "the watchdog thread's 50 ms ticks"},
    {__NR_pause, "the run loop waits while the watchdog ends popek"},
    {__NR_sched_yield, "spin waits in the engines"},
    {__NR_restart_syscall, "an interrupted sleep is resumed"},
    /* threads */
    {__NR_futex, "mutexes, condition variables, pthread_join"},
    {__NR_clone, "new threads only (CLONE_THREAD checked by the filter)"},
    {__NR_set_robust_list, "set up by a new thread"},
    {__NR_rseq, "registered by a new thread (glibc 2.35+)"},
    {__NR_madvise, "free()ing thread stacks; bt drops shadow pages"},
    /* memory */
    {__NR_mmap, "malloc; the bt engine's translation cache and views"},
    {__NR_munmap, "free; bt flushes views of guest memory"},
    {__NR_mprotect, "bt write-protects pages holding translated code and "
                    "guest page tables; thread stacks' guard pages"},
    {__NR_mremap, "realloc of large blocks"},
    {__NR_brk, "malloc's heap"},
    /* signals */
    {__NR_rt_sigreturn, "return from bt's SIGSEGV/SIGBUS/SIGFPE handlers "
                        "and kvm's kick signal"},
    {__NR_rt_sigprocmask, "signal masks around handlers and threads"},
    {__NR_rt_sigaction, "bt re-raises a fault that is not its own under "
                        "the previous handler"},
    {__NR_sigaltstack, "bt's handlers run on an alternate stack"},
    {__NR_tgkill, "kvm's kick (pthread_kill) and abort()"},
    {__NR_tkill, "raise()"},
    {__NR_getpid, "pthread_kill and raise"},
    {__NR_gettid, "pthread_kill and raise"},
    /* disks (an I/O thread on already-open images) */
    {__NR_pread64, "disk images: reads at an offset"},
    {__NR_pwrite64, "disk images: writes at an offset"},
    {__NR_preadv, "disk images: scatter reads"},
    {__NR_pwritev, "disk images: gather writes"},
    {__NR_preadv2, "disk images: cached reads on the vCPU (RWF_NOWAIT)"},
    {__NR_fdatasync, "disk images: flush requests"},
    {__NR_fsync, "disk images: flush requests"},
    {__NR_fallocate, "virtio-blk discard (punch a hole in the image)"},
    {__NR_getrandom, "virtio-rng: entropy from the host"},
    /* an engine created after set-up (live engine switching) */
    {__NR_memfd_create, "bt's W^X translation cache: one memfd mapped twice"},
    {__NR_ftruncate, "... sized with ftruncate"},
    /* sockets: libslirp's user networking (the guest's connections to the
     * host's loopback, hostfwd listeners), the gdb stub's and monitor's
     * connections */
    {__NR_socket, "libslirp opens a host socket per guest connection"},
    {__NR_connect, "libslirp: guest connections to host services"},
    {__NR_bind, "libslirp: UDP and hostfwd sockets"},
    {__NR_listen, "libslirp: hostfwd listeners"},
    {__NR_accept, "gdb stub, monitor, hostfwd connections"},
    {__NR_accept4, "gdb stub, monitor, hostfwd connections"},
    {__NR_sendto, "sockets: libslirp, gdb stub, monitor"},
    {__NR_recvfrom, "sockets: libslirp, gdb stub, monitor"},
    {__NR_sendmsg, "sockets: libslirp"},
    {__NR_recvmsg, "sockets: libslirp"},
    {__NR_setsockopt, "libslirp sets socket options"},
    {__NR_getsockopt, "libslirp reads SO_ERROR"},
    {__NR_getsockname, "libslirp"},
    {__NR_getpeername, "libslirp"},
    {__NR_shutdown, "libslirp closes half a connection"},
    {__NR_unlink, "the monitor removes its unix socket when popek ends"},
    {__NR_fcntl, "libslirp makes sockets non-blocking"},
    /* leaving */
    {__NR_exit, "a thread ends"},
    {__NR_exit_group, "popek exits"},
};

#if defined(__SANITIZE_ADDRESS__)
#define POPEK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POPEK_ASAN 1
#endif
#endif

#ifdef POPEK_ASAN
/* The ASan/UBSan build only: LeakSanitizer's exit-time check runs in a
 * helper task (clone without CLONE_THREAD, all signals blocked) that
 * ptraces popek and reads /proc; a system call of its that the filter
 * trapped would kill it silently and leave popek spinning.  So the
 * sanitizer build enforces a deny-list of the calls an escaping guest
 * would want instead of the allow-list (the release build's filter is
 * the allow-list above). */
static const int asan_deny[] = {
    /* (sockets and memfd_create are allowed in both builds: libslirp,
     * the gdb stub and monitor, a bt engine made by a live switch) */
    __NR_execve, __NR_execveat, __NR_fork, __NR_vfork, __NR_socketpair,
    __NR_mount, __NR_umount2,
    __NR_chroot, __NR_pivot_root, __NR_setns, __NR_unshare,
    __NR_init_module, __NR_finit_module, __NR_kexec_load, __NR_reboot,
    __NR_bpf, __NR_perf_event_open, __NR_io_uring_setup,
    __NR_creat, __NR_unlinkat, __NR_rename, __NR_renameat,
    __NR_mkdir, __NR_mkdirat, __NR_chmod, __NR_fchmodat, __NR_chown,
    __NR_fchownat, __NR_symlink, __NR_link, __NR_setuid,
    __NR_setgid, __NR_userfaultfd, __NR_process_vm_writev,
};

#endif

#define MAX_EXTRA 64
static struct allowed extra[MAX_EXTRA];
static int n_extra;
static bool installed;

int sandbox_allow(int nr, const char *why)
{
    if (installed)
        return fail("sandbox: already installed (allow syscall %d earlier)",
                    nr);
    if (n_extra == MAX_EXTRA)
        return fail("sandbox: too many extra system calls");
    extra[n_extra++] = (struct allowed){nr, why};
    return 0;
}

bool sandbox_active(void) { return installed; }

#ifdef POPEK_ASAN
static bool extra_allowed(int nr)
{
    for (int i = 0; i < n_extra; i++)
        if (extra[i].nr == nr)
            return true;
    return false;
}
#endif

/* ---- names, for the SIGSYS message ---- */

static const struct {
    int nr;
    const char *name;
} names[] = {
#define N(x) {__NR_##x, #x},
    N(read) N(write) N(open) N(close) N(stat) N(fstat) N(lstat) N(poll)
    N(lseek) N(mmap) N(mprotect) N(munmap) N(brk) N(rt_sigaction)
    N(rt_sigprocmask) N(rt_sigreturn) N(ioctl) N(pread64) N(pwrite64)
    N(readv) N(writev) N(access) N(pipe) N(select) N(sched_yield) N(mremap)
    N(msync) N(mincore) N(madvise) N(shmget) N(shmat) N(shmctl) N(dup)
    N(dup2) N(pause) N(nanosleep) N(getitimer) N(alarm) N(setitimer)
    N(getpid) N(sendfile) N(socket) N(connect) N(accept) N(sendto)
    N(recvfrom) N(sendmsg) N(recvmsg) N(shutdown) N(bind) N(listen)
    N(getsockname) N(getpeername) N(socketpair) N(setsockopt) N(getsockopt)
    N(clone) N(fork) N(vfork) N(execve) N(exit) N(wait4) N(kill) N(uname)
    N(fcntl) N(flock) N(fsync) N(fdatasync) N(truncate) N(ftruncate)
    N(getdents) N(getcwd) N(chdir) N(fchdir) N(rename) N(mkdir) N(rmdir)
    N(creat) N(link) N(unlink) N(symlink) N(readlink) N(chmod) N(fchmod)
    N(chown) N(fchown) N(umask) N(gettimeofday) N(getrlimit) N(getrusage)
    N(sysinfo) N(times) N(ptrace) N(getuid) N(syslog) N(getgid) N(setuid)
    N(setgid) N(geteuid) N(getegid) N(setpgid) N(getppid) N(setsid)
    N(personality) N(statfs) N(fstatfs) N(prctl) N(arch_prctl) N(chroot)
    N(mount) N(umount2) N(reboot) N(sethostname) N(init_module)
    N(delete_module) N(gettid) N(tkill) N(futex) N(sched_getaffinity)
    N(getdents64) N(set_tid_address) N(restart_syscall) N(timer_create)
    N(clock_gettime) N(clock_nanosleep) N(exit_group) N(tgkill) N(openat)
    N(mkdirat) N(newfstatat) N(unlinkat) N(renameat) N(linkat) N(symlinkat)
    N(readlinkat) N(fchmodat) N(faccessat) N(pselect6) N(ppoll) N(unshare)
    N(set_robust_list) N(splice) N(tee) N(sync_file_range) N(vmsplice)
    N(move_pages) N(utimensat) N(epoll_pwait) N(signalfd) N(timerfd_create)
    N(eventfd) N(fallocate) N(timerfd_settime) N(timerfd_gettime)
    N(accept4) N(signalfd4) N(eventfd2) N(epoll_create1) N(dup3) N(pipe2)
    N(preadv) N(pwritev) N(perf_event_open) N(recvmmsg) N(prlimit64)
    N(sendmmsg) N(setns) N(process_vm_readv) N(process_vm_writev)
    N(kcmp) N(finit_module) N(seccomp) N(getrandom) N(memfd_create)
    N(bpf) N(execveat) N(userfaultfd) N(membarrier) N(mlock2)
    N(copy_file_range) N(preadv2) N(pwritev2) N(pkey_mprotect) N(statx)
    N(io_uring_setup) N(io_uring_enter) N(pidfd_open) N(clone3)
    N(openat2) N(pidfd_getfd) N(rseq) N(sigaltstack) N(epoll_wait)
    N(epoll_ctl) N(mknod) N(io_setup) N(io_submit) N(io_getevents)
    N(keyctl) N(add_key) N(request_key) N(pivot_root) N(swapon) N(iopl)
    N(ioperm) N(kexec_load) N(open_by_handle_at) N(name_to_handle_at)
#undef N
};

const char *sandbox_syscall_name(long nr)
{
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (names[i].nr == nr)
            return names[i].name;
    return "?";
}

/* ---- the SIGSYS handler (async-signal-safe: write and _exit only) ---- */

static char *put_str(char *p, char *end, const char *s)
{
    while (*s && p < end)
        *p++ = *s++;
    return p;
}

static char *put_dec(char *p, char *end, long v)
{
    char tmp[24];
    int n = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) && n < 20);
    if (v < 0 && p < end)
        *p++ = '-';
    while (n && p < end)
        *p++ = tmp[--n];
    return p;
}

static void sigsys_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    char buf[200], *p = buf, *end = buf + sizeof(buf) - 1;
    long nr = si->si_syscall;
    p = put_str(p, end, "popek: sandbox: forbidden system call ");
    p = put_dec(p, end, nr);
    p = put_str(p, end, " (");
    p = put_str(p, end, sandbox_syscall_name(nr));
    p = put_str(p, end, "): popek stopped (run with --no-sandbox to debug)\n");
    if (write(2, buf, (size_t)(p - buf)) < 0) {
        /* nothing left to report to */
    }
    _exit(10); /* ST_HOST_ERROR */
}

/* ---- the filter ---- */

#define MAX_INSNS 512

static int add(struct sock_filter *f, int *n, struct sock_filter insn)
{
    if (*n >= MAX_INSNS)
        return fail("sandbox: filter too long");
    f[(*n)++] = insn;
    return 0;
}

static int __attribute__((unused))
allow_nr(struct sock_filter *f, int *n, int nr)
{
    /* if (nr == A) return ALLOW; */
    if (add(f, n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                               (unsigned)nr, 0, 1)) < 0)
        return -1;
    return add(f, n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                 SECCOMP_RET_ALLOW));
}

int sandbox_install(void)
{
    static struct sock_filter f[MAX_INSNS];
    int n = 0;
    const unsigned arch_off = offsetof(struct seccomp_data, arch);
    const unsigned nr_off = offsetof(struct seccomp_data, nr);
    const unsigned arg0_off = offsetof(struct seccomp_data, args[0]);
    /* Only x86-64 system calls: an int 0x80 (i386) or x32 call is a
     * different table and is killed outright. */
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch_off));
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            AUDIT_ARCH_X86_64, 1, 0));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                            SECCOMP_RET_KILL_PROCESS));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr_off));
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K,
                                            0x40000000u, 0, 1)); /* x32 */
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                            SECCOMP_RET_KILL_PROCESS));
    /* clone3 passes its flags in memory the filter cannot read: answer
     * ENOSYS so that glibc falls back to clone, whose flags it can. */
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            __NR_clone3, 0, 1));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                            SECCOMP_RET_ERRNO | ENOSYS));
#ifdef POPEK_ASAN
    for (size_t i = 0; i < ARRAY_SIZE(asan_deny); i++) {
        if (extra_allowed(asan_deny[i]))
            continue;
        add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                (unsigned)asan_deny[i], 0, 1));
        add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                                SECCOMP_RET_TRAP));
    }
    (void)arg0_off;
    (void)base_list;
    if (add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                               SECCOMP_RET_ALLOW)) < 0)
        return -1;
#else
    /* arch_prctl: only ARCH_SET_GS/ARCH_GET_GS, which bt uses to point gs
     * at the view of guest memory in use when wrgsbase is not available. */
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            __NR_arch_prctl, 0, 5));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_off));
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            ARCH_SET_GS, 1, 0));
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            ARCH_GET_GS, 0, 1));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
    /* the accumulator holds arg0 on the paths below: reload nr */
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr_off));
    /* clone: threads only (a new process could exec). */
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                            __NR_clone, 0, 4));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0_off));
    add(f, &n, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
                                            CLONE_THREAD, 0, 1));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
    for (size_t i = 0; i < ARRAY_SIZE(base_list); i++)
        if (allow_nr(f, &n, base_list[i].nr) < 0)
            return -1;
    for (int i = 0; i < n_extra; i++)
        if (allow_nr(f, &n, extra[i].nr) < 0)
            return -1;
    if (add(f, &n, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                               SECCOMP_RET_TRAP)) < 0)
        return -1;
#endif

    /* Files glibc opens lazily, loaded now: the time zone (gmtime_r and
     * timegm in the RTC read /etc/localtime on first use). */
    tzset();

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = sigsys_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return fail("sigaction(SIGSYS): %m");
    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &ss, NULL);

    struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return fail("prctl(PR_SET_NO_NEW_PRIVS): %m");
    long rc = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER,
                      SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (rc != 0)
        return fail("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): %s",
                    rc > 0 ? "another thread has a different filter"
                           : strerror(errno));
    installed = true;
    return 0;
}

void sandbox_print(void)
{
    printf("system calls popek allows once the guest runs:\n");
    for (size_t i = 0; i < ARRAY_SIZE(base_list); i++)
        printf("  %-18s %s\n", sandbox_syscall_name(base_list[i].nr),
               base_list[i].why);
    for (int i = 0; i < n_extra; i++)
        printf("  %-18s %s\n", sandbox_syscall_name(extra[i].nr),
               extra[i].why);
    printf("  clone3             answered ENOSYS (glibc falls back to clone)\n"
           "anything else: SIGSYS, a message naming the call, status 10\n");
}

void sandbox_test_forbidden(void)
{
    char *argv[] = {"/bin/false", NULL};
    char *envp[] = {NULL};
    syscall(__NR_execve, "/bin/false", argv, envp);
}
