/* monitor.c - the machine monitor: `--monitor unix:PATH` (a socket served
 * by a thread of its own, one client at a time) or `--monitor stdio` (the
 * console's Ctrl-A c switches stdin between the guest and the monitor),
 * speaking JSON lines: one object per line each way, e.g.
 *   {"cmd":"status"}  ->  {"ok":true,"status":"running","engine":"bt",...}
 * Commands: status, stop, cont, info registers, info stats (the --stats
 * object, live), quit, switch-engine (with "engine":NAME).  Whatever
 * touches the vCPU runs on the vCPU thread through control_call. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../core/machine.h"
#include "control.h"

#define LINE_MAX_ 4096

struct monitor {
    struct machine *m;
    bool stdio;
    int lfd;
    char path[108];
    pthread_t thread;
    _Atomic bool finish;
};

/* The string value of "key" in a JSON object line (no nesting needed). */
static bool json_get(const char *line, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != ':')
        return false;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '"')
        return false;
    size_t k = 0;
    while (*p && *p != '"' && k + 1 < n) {
        if (*p == '\\' && p[1])
            p++;
        out[k++] = *p++;
    }
    out[k] = 0;
    return *p == '"';
}

/* Append a JSON string literal. */
static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* ---- commands on the vCPU thread ---- */

struct req {
    FILE *f;
    const char *arg;
    int rc;
};

static void do_regs(struct machine *m, void *arg)
{
    struct req *r = arg;
    struct cpu_state s;
    if (m->ops->get_state(m, &s) < 0) {
        r->rc = -1;
        return;
    }
    static const char *const gpr[8] = {"eax", "ecx", "edx", "ebx",
                                       "esp", "ebp", "esi", "edi"};
    static const char *const seg[6] = {"es", "cs", "ss", "ds", "fs", "gs"};
    fprintf(r->f, "\"registers\":{");
    for (int k = 0; k < 8; k++)
        fprintf(r->f, "\"%s\":\"%#llx\",", gpr[k],
                (unsigned long long)s.gpr[k]);
    fprintf(r->f, "\"eip\":\"%#llx\",\"eflags\":\"%#llx\",",
            (unsigned long long)s.rip, (unsigned long long)s.rflags);
    for (int k = 0; k < 6; k++)
        fprintf(r->f, "\"%s\":\"%#x\",", seg[k], s.seg[k].sel);
    fprintf(r->f, "\"cr0\":\"%#llx\",\"cr2\":\"%#llx\",\"cr3\":\"%#llx\","
            "\"cr4\":\"%#llx\",\"efer\":\"%#llx\"}",
            (unsigned long long)s.cr0, (unsigned long long)s.cr2,
            (unsigned long long)s.cr3, (unsigned long long)s.cr4,
            (unsigned long long)s.efer);
    r->rc = 0;
}

static void do_stats(struct machine *m, void *arg)
{
    struct req *r = arg;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        r->rc = -1;
        return;
    }
    machine_stats_json(m, f, false);
    fclose(f);
    /* one line: drop the writer's newlines and indentation (strings
     * never hold a raw newline) */
    fputs("\"stats\":", r->f);
    for (size_t k = 0; k < len; k++) {
        if (buf[k] == '\n') {
            while (k + 1 < len && buf[k + 1] == ' ')
                k++;
            continue;
        }
        fputc(buf[k], r->f);
    }
    free(buf);
    r->rc = 0;
}

static void do_switch(struct machine *m, void *arg)
{
    struct req *r = arg;
    r->rc = control_switch_engine(m, r->arg);
    if (r->rc < 0) {
        fputs("\"error\":", r->f);
        put_str(r->f, popek_error());
    } else {
        fprintf(r->f, "\"engine\":\"%s\",\"switches\":%u",
                control_engine_name(m), control_switch_count(m));
    }
}

static void do_status(struct machine *m, void *arg)
{
    struct req *r = arg;
    fprintf(r->f, "\"engine\":\"%s\",\"switches\":%u,\"run_seconds\":%.6f",
            control_engine_name(m), control_switch_count(m),
            (double)(clock_ns() - m->start_ns) / 1e9);
    r->rc = 0;
}

/* Answer one request line; returns the reply line (malloc'd, no '\n'). */
static char *answer(struct machine *m, const char *line)
{
    char cmd[64] = "", what[64] = "", eng[32] = "";
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    json_get(line, "cmd", cmd, sizeof(cmd));
    json_get(line, "what", what, sizeof(what));
    if (!strcmp(cmd, "info") && what[0]) {
        size_t l = strlen(cmd);
        snprintf(cmd + l, sizeof(cmd) - l, " %s", what);
    }
    if (!strcmp(cmd, "info-registers"))
        strcpy(cmd, "info registers");
    if (!strcmp(cmd, "info-stats"))
        strcpy(cmd, "info stats");
    struct req r = {.f = f, .rc = -1};
    bool paused = control_paused(m, NULL, NULL);
    if (!cmd[0]) {
        fputs("{\"ok\":false,\"error\":\"no \\\"cmd\\\" in the request\"}", f);
    } else if (!strcmp(cmd, "status")) {
        fprintf(f, "{\"ok\":true,\"status\":\"%s\",",
                paused ? "paused" : "running");
        if (control_call(m, do_status, &r) < 0)
            fputs("\"ended\":true", f);
        fputc('}', f);
    } else if (!strcmp(cmd, "stop")) {
        int rc = control_stop(m, STOP_USER);
        fprintf(f, "{\"ok\":%s,\"status\":\"%s\"}", rc == 0 ? "true" : "false",
                rc == 0 ? "paused" : "ended");
    } else if (!strcmp(cmd, "cont")) {
        control_cont(m);
        fputs("{\"ok\":true,\"status\":\"running\"}", f);
    } else if (!strcmp(cmd, "info registers") ||
               !strcmp(cmd, "info stats")) {
        fputs("{\"ok\":true,", f);
        if (control_call(m, cmd[5] == 'r' ? do_regs : do_stats, &r) < 0 ||
            r.rc < 0)
            fputs("\"error\":\"the machine has ended\"", f);
        fputc('}', f);
    } else if (!strcmp(cmd, "switch-engine")) {
        if (!json_get(line, "engine", eng, sizeof(eng)) &&
            !json_get(line, "name", eng, sizeof(eng))) {
            fputs("{\"ok\":false,\"error\":\"switch-engine needs "
                  "\\\"engine\\\"\"}", f);
        } else {
            char *pb = NULL;
            size_t pl = 0;
            r.arg = eng;
            r.f = open_memstream(&pb, &pl);
            int rc = r.f ? control_call(m, do_switch, &r) : -1;
            if (r.f)
                fclose(r.f);
            if (rc < 0)
                fputs("{\"ok\":false,\"error\":\"the machine has ended\"}", f);
            else
                fprintf(f, "{\"ok\":%s,%s}", r.rc == 0 ? "true" : "false", pb);
            free(pb);
        }
    } else if (!strcmp(cmd, "quit")) {
        machine_request_stop(m, ST_USER_QUIT, "quit from the monitor");
        control_cont(m);
        fputs("{\"ok\":true,\"status\":\"quitting\"}", f);
    } else {
        fputs("{\"ok\":false,\"error\":", f);
        char msg[128];
        snprintf(msg, sizeof(msg), "unknown command '%s'", cmd);
        put_str(f, msg);
        fputc('}', f);
    }
    fclose(f);
    return buf;
}

void monitor_stdio_line(struct machine *m, const char *line)
{
    char *a = answer(m, line);
    if (a) {
        printf("%s\r\n", a);
        fflush(stdout);
    }
    free(a);
}

/* ---- the socket ---- */

static void serve(struct monitor *mon, int fd)
{
    char line[LINE_MAX_];
    size_t n = 0;
    while (!atomic_load(&mon->finish)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, 100);
        if (rc < 0 && errno != EINTR)
            return;
        if (rc <= 0)
            continue;
        ssize_t r = read(fd, line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        char *nl;
        while ((nl = memchr(line, '\n', n))) {
            *nl = 0;
            char *a = answer(mon->m, line);
            if (a) {
                size_t al = strlen(a);
                a[al] = '\n'; /* memstream buffers have room for the NUL */
                if (write(fd, a, al + 1) < 0) {
                    free(a);
                    return;
                }
                free(a);
            }
            size_t used = (size_t)(nl + 1 - line);
            memmove(line, nl + 1, n - used);
            n -= used;
        }
        if (n == sizeof(line) - 1)
            n = 0; /* an overlong line: drop it */
    }
}

static void *monitor_thread(void *arg)
{
    struct monitor *mon = arg;
    while (!atomic_load(&mon->finish)) {
        struct pollfd p = {.fd = mon->lfd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept4(mon->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        serve(mon, fd);
        close(fd);
    }
    return NULL;
}

struct monitor *monitor_start(struct machine *m, const char *spec)
{
    struct monitor *mon = calloc(1, sizeof(*mon));
    if (!mon) {
        fail("out of memory");
        return NULL;
    }
    mon->m = m;
    mon->lfd = -1;
    if (!strcmp(spec, "stdio")) {
        mon->stdio = true;
        return mon;
    }
    if (strncmp(spec, "unix:", 5) != 0 || !spec[5] ||
        strlen(spec + 5) >= sizeof(mon->path)) {
        free(mon);
        fail("bad --monitor '%s' (want unix:PATH or stdio)", spec);
        return NULL;
    }
    snprintf(mon->path, sizeof(mon->path), "%s", spec + 5);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, mon->path, strlen(mon->path) + 1);
    unlink(mon->path);
    mon->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (mon->lfd < 0 || bind(mon->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(mon->lfd, 4) < 0) {
        fail("--monitor %s: %s", spec, strerror(errno));
        if (mon->lfd >= 0)
            close(mon->lfd);
        free(mon);
        return NULL;
    }
    if (control_thread_create(&mon->thread, monitor_thread, mon) != 0) {
        close(mon->lfd);
        unlink(mon->path);
        free(mon);
        fail("cannot start the monitor thread");
        return NULL;
    }
    return mon;
}

bool monitor_is_stdio(const struct monitor *mon)
{
    return mon && mon->stdio;
}

void monitor_finish(struct monitor *mon)
{
    atomic_store(&mon->finish, true);
    if (!mon->stdio) {
        pthread_join(mon->thread, NULL);
        close(mon->lfd);
        unlink(mon->path);
    }
    free(mon);
}
