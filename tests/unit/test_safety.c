/* test_safety.c - clean stops and the sandbox: the watchdog ends popek
 * when a (fake) engine never comes back from run() after --timeout or a
 * SIGTERM; a responsive engine stops on SIGTERM with status 16; the seccomp
 * filter is installed (/proc/PID/status says "Seccomp: 2"), lets popek's
 * own calls through and kills a forbidden one (execve, fork) with a message
 * and status 10.  Each case runs in a child process. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/machine.h"
#include "core/sandbox.h"
#include "test.h"

/* ---- a fake engine: run() spins; returns on a kick only if responsive */

static bool fake_responsive;
static atomic_bool fake_kicked;

static bool fake_usable(char *why, size_t n) { (void)why; (void)n; return true; }
static int fake_create(struct machine *m) { m->engine = &fake_kicked; return 0; }
static int fake_map_ram(struct machine *m, uint64_t gpa, uint64_t size,
                        void *hva, int fd, uint64_t off)
{
    (void)m; (void)gpa; (void)size; (void)hva; (void)fd; (void)off;
    return 0;
}
static int fake_vcpu_create(struct machine *m) { (void)m; return 0; }
static int fake_run(struct machine *m, struct vm_exit *ex)
{
    (void)m;
    for (;;) {
        if (fake_responsive && atomic_exchange(&fake_kicked, false)) {
            ex->reason = EXIT_KICK;
            return 0;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* "stuck in one long instruction" */
    }
}
static int fake_get_state(struct machine *m, struct cpu_state *s)
{
    (void)m;
    memset(s, 0, sizeof(*s));
    return 0;
}
static int fake_set_state(struct machine *m, const struct cpu_state *s)
{
    (void)m; (void)s;
    return 0;
}
static bool fake_window(struct machine *m) { (void)m; return false; }
static void fake_inject(struct machine *m, uint8_t v) { (void)m; (void)v; }
static void fake_kick(struct machine *m) { (void)m; atomic_store(&fake_kicked, true); }
static void fake_destroy(struct machine *m) { m->engine = NULL; }

static const struct engine_ops fake_ops = {
    .name = "fake", .description = "test engine", .usable = fake_usable,
    .create = fake_create, .map_ram = fake_map_ram,
    .vcpu_create = fake_vcpu_create, .run = fake_run,
    .get_state = fake_get_state, .set_state = fake_set_state,
    .irq_window_open = fake_window, .inject_irq = fake_inject,
    .kick = fake_kick, .destroy = fake_destroy,
};

/* Run a machine on the fake engine in a child; returns its pid. */
static pid_t run_fake(bool responsive, double timeout_s, const char *stats)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0); /* not a terminal: no raw mode */
    dup2(devnull, 2);
    fake_responsive = responsive;
    struct machine_config cfg = {.engine = "fake", .ram_size = 2 << 20,
                                 .timeout_s = timeout_s, .quiet = true};
    cfg.stats_file = fopen(stats, "w");
    struct machine *m = machine_create_ops(&cfg, &fake_ops);
    if (!m)
        _exit(99);
    int st = machine_run(m);
    _exit(st == ST_SIGNAL ? 77 : st); /* 77: came back through the loop */
}

/* Wait up to `secs` for pid; kill it if it is still there.  Returns the
 * wait status, or -1 if it had to be killed. */
static int wait_bounded(pid_t pid, int secs)
{
    for (int i = 0; i < secs * 20; i++) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid)
            return ws;
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static bool file_has(const char *path, const char *needle)
{
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void watchdog_ends_stuck_engine_on_timeout(void)
{
    char stats[] = "/tmp/popek-test-stats-XXXXXX";
    close(mkstemp(stats));
    pid_t pid = run_fake(false, 0.3, stats);
    int ws = wait_bounded(pid, 30);
    CHECKF(ws != -1, "popek did not exit: the watchdog did not fire");
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == ST_TIMEOUT,
           "wait status %#x, want exit %d", ws, ST_TIMEOUT);
    CHECK(file_has(stats, "\"stopped_by_watchdog\": true"));
    CHECK(file_has(stats, "\"exit_status\": 12"));
    unlink(stats);
}

static void watchdog_ends_stuck_engine_on_sigterm(void)
{
    char stats[] = "/tmp/popek-test-stats-XXXXXX";
    close(mkstemp(stats));
    pid_t pid = run_fake(false, 0, stats);
    msleep(300);
    kill(pid, SIGTERM);
    int ws = wait_bounded(pid, 30);
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == ST_SIGNAL,
           "wait status %#x, want exit %d", ws, ST_SIGNAL);
    CHECK(file_has(stats, "\"stopped_by_watchdog\": true"));
    CHECK(file_has(stats, "stopped by SIGTERM"));
    unlink(stats);
}

static void sighup_stops_responsive_engine_through_the_loop(void)
{
    char stats[] = "/tmp/popek-test-stats-XXXXXX";
    close(mkstemp(stats));
    pid_t pid = run_fake(true, 0, stats);
    msleep(300);
    kill(pid, SIGHUP);
    int ws = wait_bounded(pid, 30);
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == 77,
           "wait status %#x, want the run loop's own exit", ws);
    CHECK(file_has(stats, "\"stopped_by_watchdog\": false"));
    CHECK(file_has(stats, "stopped by SIGHUP"));
    CHECK(file_has(stats, "\"exit_status\": 16"));
    unlink(stats);
}

/* ---- the sandbox ---- */

static void *thread_fn(void *arg) { return arg; }

/* Child: install the filter, do what popek does, then `what`. */
static pid_t sandboxed_child(const char *what, int errfd)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    dup2(errfd, 2);
    if (sandbox_install() < 0) {
        fprintf(stderr, "install: %s\n", popek_error());
        _exit(98);
    }
    /* allowed: memory, threads, time, writes */
    void *p = malloc(8 << 20);
    memset(p, 1, 8 << 20);
    free(p);
    pthread_t t;
    if (pthread_create(&t, NULL, thread_fn, NULL) != 0 ||
        pthread_join(t, NULL) != 0)
        _exit(97);
    (void)clock_ns();
    if (write(2, "ok\n", 3) != 3)
        _exit(96);
    if (!strcmp(what, "execve")) {
        sandbox_test_forbidden();
        _exit(95); /* not reached: killed, or /bin/false ran */
    }
    if (!strcmp(what, "fork")) {
        pid_t c = (pid_t)syscall(SYS_fork);
        if (c == 0)
            _exit(0);
        _exit(94);
    }
    if (!strcmp(what, "wait"))
        pause(); /* the parent reads /proc/PID/status, then kills us */
    _exit(0);
}

static void sandbox_allows_popeks_calls(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = sandboxed_child("nothing", fds[1]);
    close(fds[1]);
    int ws = wait_bounded(pid, 30);
    char buf[512] = "";
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fds[0]);
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
           "wait status %#x: %s", ws, buf);
}

static void sandbox_kills_execve_with_message(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = sandboxed_child("execve", fds[1]);
    close(fds[1]);
    int ws = wait_bounded(pid, 30);
    char buf[512] = "";
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fds[0]);
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == ST_HOST_ERROR,
           "wait status %#x, want exit 10: %s", ws, buf);
    CHECKF(strstr(buf, "forbidden system call 59 (execve)") != NULL,
           "message: %s", buf);
}

static void sandbox_kills_fork(void)
{
#if defined(__SANITIZE_ADDRESS__)
    SKIP("the ASan build allows clone for LeakSanitizer's helper");
#endif
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = sandboxed_child("fork", fds[1]);
    close(fds[1]);
    int ws = wait_bounded(pid, 30);
    char buf[512] = "";
    ssize_t n = read(fds[0], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fds[0]);
    CHECKF(ws != -1 && WIFEXITED(ws) && WEXITSTATUS(ws) == ST_HOST_ERROR,
           "wait status %#x, want exit 10: %s", ws, buf);
    CHECKF(strstr(buf, "(fork)") != NULL, "message: %s", buf);
}

static void sandbox_shows_in_proc_status(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = sandboxed_child("wait", fds[1]);
    close(fds[1]);
    char buf[8] = "";
    CHECK(read(fds[0], buf, 3) == 3); /* "ok\n": the filter is on */
    close(fds[0]);
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    CHECK(file_has(path, "Seccomp:\t2"));
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    RUN(watchdog_ends_stuck_engine_on_timeout);
    RUN(watchdog_ends_stuck_engine_on_sigterm);
    RUN(sighup_stops_responsive_engine_through_the_loop);
    RUN(sandbox_allows_popeks_calls);
    RUN(sandbox_kills_execve_with_message);
    RUN(sandbox_kills_fork);
    RUN(sandbox_shows_in_proc_status);
    TEST_MAIN_END();
}
