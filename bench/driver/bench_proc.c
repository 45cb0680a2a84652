/* bench_proc.c - child processes for `popek bench`: run one benchmark
 * command with a timeout (killing its whole process group, which only holds
 * what we started), capture its output, and parse the BENCH lines that
 * guests and bench/native32 print. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/core/util.h"

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return; /* keep what we have */
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void bench_fmt(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

static double now_s(void) { return (double)clock_ns() / 1e9; }

int proc_run(char *const argv[], double timeout_s, const char *stop_at,
             struct proc_result *res)
{
    return proc_run_marked(argv, timeout_s, stop_at, true, res);
}

int proc_run_marked(char *const argv[], double timeout_s, const char *marker,
                    bool stop, struct proc_result *res)
{
    memset(res, 0, sizeof(*res));
    res->marker_s = -1;
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) < 0)
        return fail("pipe: %s", strerror(errno));
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return fail("pipe: %s", strerror(errno));
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]); close(out[1]); close(err[0]); close(err[1]);
        return fail("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent, to avoid the race */
    close(out[1]);
    close(err[1]);
    struct buf o = {0}, e = {0};
    bool out_open = true, err_open = true, killed = false;
    while (out_open || err_open) {
        double left = timeout_s - (now_s() - t0);
        if (left <= 0 && !killed) {
            res->timed_out = true;
            kill(-pid, SIGKILL);
            killed = true;
        }
        struct pollfd p[2] = {{out_open ? out[0] : -1, POLLIN, 0},
                              {err_open ? err[0] : -1, POLLIN, 0}};
        int wait_ms = killed ? 1000 : (int)(left * 1000) + 1;
        int rc = poll(p, 2, wait_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        if (rc == 0 && killed)
            break; /* a grandchild may hold the pipes open: give up */
        char chunk[4096];
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
            if (n <= 0) {
                if (i == 0)
                    out_open = false;
                else
                    err_open = false;
                continue;
            }
            buf_add(i == 0 ? &o : &e, chunk, (size_t)n);
        }
        if (marker && res->marker_s < 0 && o.p && strstr(o.p, marker)) {
            res->marker_s = now_s() - t0;
            if (stop && !killed) {
                res->stopped_at_marker = true;
                kill(-pid, SIGKILL);
                killed = true;
            }
        }
    }
    close(out[0]);
    close(err[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    res->wall_s = now_s() - t0;
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->out = o.p ? o.p : strdup("");
    if (e.p) {
        size_t keep = e.len < sizeof(res->err_tail) - 1 ? e.len
                                                        : sizeof(res->err_tail) - 1;
        memcpy(res->err_tail, e.p + e.len - keep, keep);
        res->err_tail[keep] = 0;
        free(e.p);
    }
    return 0;
}

void proc_result_free(struct proc_result *res)
{
    free(res->out);
    res->out = NULL;
}

/* The line that starts with `prefix` and names `name`; copies it (without
 * the newline) into line. */
static bool find_line(const char *out, const char *prefix, const char *name,
                      char *line, size_t n)
{
    char want[96];
    snprintf(want, sizeof(want), "%s name=%s ", prefix, name);
    size_t wl = strlen(want);
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= wl && !strncmp(p, want, wl)) {
            if (len >= n)
                len = n - 1;
            memcpy(line, p, len);
            line[len] = 0;
            if (len && line[len - 1] == '\r')
                line[len - 1] = 0;
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

bool bench_parse(const char *out, const char *name, struct bench_line *bl)
{
    char line[512];
    memset(bl, 0, sizeof(*bl));
    if (!find_line(out, "BENCH", name, line, sizeof(line)))
        return false;
    bool have_ops = false, have_cycles = false;
    char *save = NULL;
    for (char *tok = strtok_r(line, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            continue;
        *eq = 0;
        const char *k = tok, *v = eq + 1;
        if (!strcmp(k, "ops")) {
            bl->ops = strtoull(v, NULL, 10);
            have_ops = true;
        } else if (!strcmp(k, "cycles")) {
            bl->cycles = strtoull(v, NULL, 10);
            have_cycles = true;
        } else if (!strcmp(k, "cycles_per_op")) {
            bl->cycles_per_op = strtod(v, NULL);
        } else if (!strcmp(k, "crc")) {
            snprintf(bl->crc, sizeof(bl->crc), "%s", v);
        } else if (strcmp(k, "name") && strcmp(k, "unit")) {
            size_t l = strlen(bl->note);
            snprintf(bl->note + l, sizeof(bl->note) - l, "%s%s=%s",
                     l ? " " : "", k, v);
        }
    }
    return have_ops && have_cycles && bl->ops > 0;
}

bool bench_parse_skip(const char *out, const char *name, char *why, size_t n)
{
    char line[512];
    if (!find_line(out, "BENCH-SKIP", name, line, sizeof(line)))
        return false;
    const char *r = strstr(line, "reason=");
    snprintf(why, n, "%s", r ? r + 7 : "skipped");
    return true;
}
