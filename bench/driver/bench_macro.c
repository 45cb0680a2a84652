/* bench_macro.c - the paper's macrobenchmarks in popek-bench (--macro, or
 * --only with their names or the word macro), on Debian's root filesystem
 * (scripts/mkrootfs.sh: cache/debian-i386.img and the initramfs that mounts
 * it) with Debian's i686 kernel, on every popek engine and on QEMU with the
 * same kernel, initramfs, image and devices (three virtio disks and user
 * networking).  One boot of the guest per repetition measures every row:
 *   rootfs_boot      host wall time to init's POPEK-ROOTFS-READY line;
 *   rootfs_forkwait  forkwait (rdtsc in the guest, scaled like forkwait);
 *   compile          host wall time between the guest's MACRO-BEGIN and
 *                    MACRO-END lines around `make` of the generated project
 *                    (bench/macro/gen_compile.py), whose program must print
 *                    the checksum of the host's own build;
 *   disk_*           bench/macro/diskio on the raw scratch disk /dev/vdc
 *                    (O_DIRECT, guest clock): MB/s sequential (1 MiB
 *                    requests), IOPS random (4 KiB);
 *   http_*           wrk on the host against busybox httpd in the guest
 *                    through hostfwd: requests/s and median latency;
 *   net_rx           a fixed amount sent from the host through hostfwd to
 *                    bench/macro/netsink, timed on the host until the
 *                    guest's byte count comes back.
 * The guest side is bench/macro/run.sh on a bench volume (/dev/vdb) made
 * here from build/bench/macro with mke2fs -d for every boot; the Debian
 * image is attached read-only, so it is never changed.  Whatever is
 * missing (the image, wrk, mke2fs) or does not finish is reported per cell
 * with the reason. */
#include "bench.h"
#include "bench_macro.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/core/util.h"

enum {
    M_BOOT, M_FORKWAIT, M_COMPILE, M_HTTP_RPS, M_HTTP_LAT, M_SEQW, M_SEQR,
    M_RANDW, M_RANDR, M_NET, M_NROWS
};
static const char *const row_names[M_NROWS] = {
    "rootfs_boot", "rootfs_forkwait", "compile", "http_rps", "http_latency",
    "disk_seqwrite", "disk_seqread", "disk_randwrite", "disk_randread", "net_rx"};

struct macro_result {
    bool done;
    double v[M_NROWS][BENCH_MAX_REPS];
    int nv[M_NROWS];
    char why[M_NROWS][BENCH_WHY];
    char note[M_NROWS][96];
};
static struct macro_result mres[BENCH_MAX_TARGETS];

static char m_image[4096], m_kernel[4096], m_initrd[4096], m_vol[4200];
static char m_cmdline[700], m_expected[64];
static bool m_have_wrk;

static double now_s(void) { return (double)clock_ns() / 1e9; }

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4200];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        size_t len = strcspn(p, ":");
        bench_fmt(buf, sizeof(buf), "%.*s/%s", (int)len, p, prog);
        if (access(buf, X_OK) == 0)
            return true;
        p += len + (p[len] == ':');
    }
    return false;
}

static int row_index(const char *name)
{
    for (int i = 0; i < M_NROWS; i++)
        if (!strcmp(row_names[i], name))
            return i;
    return -1;
}

void bench_macro_detect(struct bench_run *r)
{
    const char *b = r->o.build_dir;
    const char *e = getenv("POPEK_ROOTFS_IMAGE");
    memset(mres, 0, sizeof(mres));
    r->macro_status[0] = 0;
    if (r->o.macro_image)
        bench_fmt(m_image, sizeof(m_image), "%s", r->o.macro_image);
    else if (e && *e)
        bench_fmt(m_image, sizeof(m_image), "%s", e);
    else
        bench_fmt(m_image, sizeof(m_image), "%s/../cache/debian-i386.img", b);
    if (r->o.macro_initrd)
        bench_fmt(m_initrd, sizeof(m_initrd), "%s", r->o.macro_initrd);
    else
        bench_fmt(m_initrd, sizeof(m_initrd), "%s/../cache/linux/initramfs-rootfs.gz", b);
    if (r->o.linux_kernel)
        bench_fmt(m_kernel, sizeof(m_kernel), "%s", r->o.linux_kernel);
    else
        bench_fmt(m_kernel, sizeof(m_kernel), "%s/../cache/linux/vmlinuz-686", b);
    bench_fmt(m_vol, sizeof(m_vol), "%s/bench/macro", b);
    if (!r->o.macro_timeout_s)
        r->o.macro_timeout_s = r->o.quick ? 1800 : 3600;

    char path[4400];
    bench_fmt(path, sizeof(path), "%s/compile.expected", m_vol);
    FILE *f = fopen(path, "r");
    m_expected[0] = 0;
    if (f) {
        if (fgets(m_expected, sizeof(m_expected), f))
            m_expected[strcspn(m_expected, "\n")] = 0;
        fclose(f);
    }
    if (!bench_file_exists(m_image)) {
        bench_fmt(r->macro_status, sizeof(r->macro_status),
                  "SKIP: no Debian root filesystem (%s not found: run "
                  "scripts/mkrootfs.sh, or give --macro-image)", m_image);
    } else if (!bench_file_exists(m_initrd) || !bench_file_exists(m_kernel)) {
        bench_fmt(r->macro_status, sizeof(r->macro_status),
                  "SKIP: %s not found (scripts/fetch-linux.sh, scripts/mkrootfs.sh)",
                  !bench_file_exists(m_kernel) ? m_kernel : m_initrd);
    } else if (!m_expected[0]) {
        bench_fmt(r->macro_status, sizeof(r->macro_status),
                  "SKIP: the macrobenchmarks' guest side is not built (%s; make)", path);
    } else if (!in_path("mke2fs")) {
        bench_fmt(r->macro_status, sizeof(r->macro_status),
                  "SKIP: mke2fs not found (Debian e2fsprogs) for the bench volume");
    }
    m_have_wrk = in_path("wrk");
    /* The kernel command line of the Linux rows, then the root disk. */
    char cl[512] = "console=ttyS0 reboot=k panic=-1 nokaslr";
    bench_fmt(path, sizeof(path), "%s/../tests/linux/cmdline", b);
    f = fopen(path, "r");
    if (f) {
        if (fgets(cl, sizeof(cl), f))
            cl[strcspn(cl, "\n")] = 0;
        fclose(f);
    }
    e = getenv("POPEK_MACRO_APPEND");
    /* ACPI on: Linux finds the virtio devices through the DSDT's PCI root
     * bridge on popek as on QEMU. */
    bench_fmt(m_cmdline, sizeof(m_cmdline), "%s root=/dev/vda ro%s%s", cl,
              e && *e ? " " : "", e && *e ? e : "");
}

/* A TCP port nobody listens on now (the VMM binds it for hostfwd). */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static int tcp_connect(int port, double timeout_s)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct timeval tv = {(time_t)timeout_s, 0};
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Send total bytes to the guest's netsink; MB/s from connect to reply. */
static bool net_bulk(int port, size_t total, double *mbps, char *why, size_t n)
{
    static char chunk[1 << 16];
    double t0 = now_s();
    int s = tcp_connect(port, 120);
    if (s < 0) {
        bench_fmt(why, n, "cannot connect to the guest's netsink through "
                  "hostfwd (port %d): %s", port, strerror(errno));
        return false;
    }
    size_t sent = 0;
    while (sent < total) {
        size_t len = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
        ssize_t w = send(s, chunk, len, MSG_NOSIGNAL);
        if (w <= 0) {
            bench_fmt(why, n, "sending to the guest failed after %zu bytes: %s",
                      sent, w < 0 ? strerror(errno) : "closed");
            close(s);
            return false;
        }
        sent += (size_t)w;
    }
    shutdown(s, SHUT_WR);
    char reply[128];
    size_t got = 0;
    ssize_t rd;
    while (got < sizeof(reply) - 1 && (rd = recv(s, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
        got += (size_t)rd;
    reply[got] = 0;
    double t1 = now_s();
    close(s);
    double bytes;
    reply[strcspn(reply, "\r\n")] = 0;
    if (!macro_field_num(reply, "bytes", &bytes) || bytes != (double)total) {
        bench_fmt(why, n, "the guest's netsink reported '%s' for %zu bytes sent",
                  reply, total);
        return false;
    }
    *mbps = (double)total / (t1 - t0) / 1e6;
    return true;
}

static void last_line(const char *s, char *dst, size_t n)
{
    const char *end = s + strlen(s);
    while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *b = end;
    while (b > s && b[-1] != '\n')
        b--;
    size_t len = (size_t)(end - b) < n - 1 ? (size_t)(end - b) : n - 1;
    memcpy(dst, b, len);
    dst[len] = 0;
    for (char *p = dst; *p; p++)
        if (*p == '\r' || *p == '|')
            *p = ' ';
}

struct session {
    const struct target *t;
    char dir[4200], vol[4300], scratch[4300], errlog[4300];
    int port_http, port_net, port_done;
    pid_t pid;
    int fd;
    char *out;
    size_t len, cap;
    double t0, t_ready, t_begin, t_end, t_serving;
};

static void sess_read(struct session *s, int wait_ms)
{
    struct pollfd p = {s->fd, POLLIN, 0};
    if (s->fd < 0 || poll(&p, 1, wait_ms) <= 0)
        return;
    char chunk[4096];
    ssize_t n = read(s->fd, chunk, sizeof(chunk));
    if (n <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    if (s->len + (size_t)n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        while (cap < s->len + (size_t)n + 1)
            cap *= 2;
        char *q = realloc(s->out, cap);
        if (!q)
            return;
        s->out = q;
        s->cap = cap;
    }
    memcpy(s->out + s->len, chunk, (size_t)n);
    s->len += (size_t)n;
    s->out[s->len] = 0;
    double t = now_s() - s->t0;
    /* Markers, timed when their line arrives. */
    if (s->t_ready < 0 && strstr(s->out, "POPEK-ROOTFS-READY"))
        s->t_ready = t;
    if (s->t_begin < 0 && strstr(s->out, "MACRO-BEGIN compile"))
        s->t_begin = t;
    if (s->t_end < 0 && strstr(s->out, "MACRO-END compile"))
        s->t_end = t;
    if (s->t_serving < 0 && strstr(s->out, "MACRO-SERVING"))
        s->t_serving = t;
}

static int sess_start(struct bench_run *r, struct session *s, uint32_t n_fork,
                      char *why, size_t whyn)
{
    const struct target *t = s->t;
    const char *tmp = getenv("TMPDIR");
    bench_fmt(s->dir, sizeof(s->dir), "%s/popek-macro.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s->dir)) {
        bench_fmt(why, whyn, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    bench_fmt(s->vol, sizeof(s->vol), "%s/vol.img", s->dir);
    bench_fmt(s->scratch, sizeof(s->scratch), "%s/scratch.img", s->dir);
    bench_fmt(s->errlog, sizeof(s->errlog), "%s/stderr.log", s->dir);
    /* The bench volume: build/bench/macro as an ext4 image. */
    char *mk[] = {"mke2fs", "-q", "-t", "ext4", "-d", m_vol, "-F", s->vol, "96M", NULL};
    struct proc_result pr;
    if (proc_run(mk, 60, NULL, &pr) < 0 || pr.status != 0) {
        bench_fmt(why, whyn, "mke2fs -d %s failed: %s", m_vol, pr.err_tail);
        proc_result_free(&pr);
        return -1;
    }
    proc_result_free(&pr);
    int fd = open(s->scratch, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, 256 << 20) < 0) {
        bench_fmt(why, whyn, "cannot make %s: %s", s->scratch, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    s->port_http = free_port();
    s->port_net = free_port();
    s->port_done = free_port();
    char append[900], tmo[32], d_root[4300], d_vol[4400], d_scr[4400], net[256];
    bench_fmt(append, sizeof(append), "%s popek.bench=macro popek.n=%u popek.disk_secs=%d",
              m_cmdline, n_fork, r->o.quick ? 2 : 4);
    bench_fmt(tmo, sizeof(tmo), "%.0f", r->o.macro_timeout_s);
    char *argv[48];
    int i = 0;
    if (t->kind == TK_POPEK) {
        bench_fmt(d_root, sizeof(d_root), "%s,ro", m_image);
        bench_fmt(net, sizeof(net),
                  "user,hostfwd=tcp:127.0.0.1:%d-:80,hostfwd=tcp:127.0.0.1:%d-:5001,"
                  "hostfwd=tcp:127.0.0.1:%d-:81", s->port_http, s->port_net, s->port_done);
        char *a[] = {(char *)t->popek, "run", "--engine", (char *)t->engine, "--mem", "512M",
                     "--timeout", tmo, "-q", "--kernel", m_kernel, "--initrd", m_initrd,
                     "--append", append, "--disk", d_root, "--disk", s->vol, "--disk",
                     s->scratch, "--net", net, NULL};
        for (; a[i]; i++)
            argv[i] = a[i];
    } else {
        bench_fmt(d_root, sizeof(d_root), "file=%s,if=virtio,format=raw,readonly=on", m_image);
        bench_fmt(d_vol, sizeof(d_vol), "file=%s,if=virtio,format=raw", s->vol);
        bench_fmt(d_scr, sizeof(d_scr), "file=%s,if=virtio,format=raw", s->scratch);
        bench_fmt(net, sizeof(net),
                  "user,id=n0,hostfwd=tcp:127.0.0.1:%d-:80,hostfwd=tcp:127.0.0.1:%d-:5001,"
                  "hostfwd=tcp:127.0.0.1:%d-:81", s->port_http, s->port_net, s->port_done);
        char *a[] = {"qemu-system-i386", "-accel", (char *)t->engine, "-m", "512",
                     "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio",
                     "-kernel", m_kernel, "-initrd", m_initrd, "-append", append,
                     "-drive", d_root, "-drive", d_vol, "-drive", d_scr,
                     "-netdev", net, "-device", "virtio-net-pci,netdev=n0", NULL};
        for (; a[i]; i++)
            argv[i] = a[i];
    }
    argv[i] = NULL;
    if (r->o.verbose) {
        fprintf(stderr, "bench: run:");
        for (int k = 0; argv[k]; k++)
            fprintf(stderr, " %s", argv[k]);
        fprintf(stderr, "\n");
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        bench_fmt(why, whyn, "pipe: %s", strerror(errno));
        return -1;
    }
    s->t0 = now_s();
    s->t_ready = s->t_begin = s->t_end = s->t_serving = -1;
    s->pid = fork();
    if (s->pid < 0) {
        bench_fmt(why, whyn, "fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (s->pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        int err = open(s->errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in >= 0)
            dup2(in, 0);
        dup2(p[1], 1);
        if (err >= 0)
            dup2(err, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(s->pid, s->pid);
    close(p[1]);
    s->fd = p[0];
    return 0;
}

/* The host side while the guest serves: wrk, the bulk send, then "done". */
static void host_load(struct bench_run *r, struct session *s, struct macro_result *mr)
{
    int secs = r->o.quick ? 4 : 10;
    if (!m_have_wrk) {
        bench_fmt(mr->why[M_HTTP_RPS], BENCH_WHY,
                  "wrk (the HTTP load generator, Debian package wrk) not installed");
        bench_fmt(mr->why[M_HTTP_LAT], BENCH_WHY, "%s", mr->why[M_HTTP_RPS]);
    } else {
        char d[16], url[96];
        bench_fmt(d, sizeof(d), "%ds", secs);
        bench_fmt(url, sizeof(url), "http://127.0.0.1:%d/index.html", s->port_http);
        char *argv[] = {"wrk", "-t1", "-c4", "-d", d, "--timeout", "10s", "--latency",
                        url, NULL};
        struct proc_result pr;
        struct wrk_result w;
        if (proc_run(argv, secs + 60, NULL, &pr) < 0) {
            bench_fmt(mr->why[M_HTTP_RPS], BENCH_WHY, "%s", popek_error());
        } else if (!macro_wrk_parse(pr.out, &w) || w.bad_responses > 0) {
            char last[160];
            last_line(pr.out && pr.out[0] ? pr.out : pr.err_tail, last, sizeof(last));
            bench_fmt(mr->why[M_HTTP_RPS], BENCH_WHY,
                      "wrk got no good responses from the guest's httpd (status %d; %s)",
                      pr.status, last);
        } else {
            int k = mr->nv[M_HTTP_RPS]++;
            mr->v[M_HTTP_RPS][k] = w.rps;
            bench_fmt(mr->note[M_HTTP_RPS], 96, "wrk -c4 %ds: %llu requests, %llu socket errors",
                      secs, w.requests, w.socket_errors);
            k = mr->nv[M_HTTP_LAT]++;
            mr->v[M_HTTP_LAT][k] = w.lat_p50_ms >= 0 ? w.lat_p50_ms : w.lat_avg_ms;
            bench_fmt(mr->note[M_HTTP_LAT], 96, "median; mean %.3g ms, p99 %.3g ms",
                      w.lat_avg_ms, w.lat_p99_ms);
        }
        if (mr->why[M_HTTP_RPS][0])
            bench_fmt(mr->why[M_HTTP_LAT], BENCH_WHY, "%s", mr->why[M_HTTP_RPS]);
        proc_result_free(&pr);
    }
    size_t total = (size_t)(r->o.quick ? 32 : 128) << 20;
    double mbps;
    if (net_bulk(s->port_net, total, &mbps, mr->why[M_NET], BENCH_WHY)) {
        mr->v[M_NET][mr->nv[M_NET]++] = mbps;
        bench_fmt(mr->note[M_NET], 96, "%zu MiB host->guest", total >> 20);
    }
    int fd = tcp_connect(s->port_done, 30);
    if (fd >= 0) {
        ssize_t w = send(fd, "done\n", 5, MSG_NOSIGNAL);
        (void)w; /* the guest only waits for the connection */
        close(fd);
    }
}

static void note_missing(struct macro_result *mr, int row, const char *fmt, const char *a,
                         const char *b)
{
    if (!mr->why[row][0])
        bench_fmt(mr->why[row], BENCH_WHY, fmt, a, b);
}

/* One boot: every row once. */
static void run_once(struct bench_run *r, int ti, struct macro_result *mr)
{
    const struct target *t = &r->targets[ti];
    uint32_t n_fork = r->o.quick ? 500 : 2000;
    struct session s;
    memset(&s, 0, sizeof(s));
    s.t = t;
    s.fd = -1;
    char why[BENCH_WHY] = "";
    if (sess_start(r, &s, n_fork, why, sizeof(why)) < 0) {
        for (int i = 0; i < M_NROWS; i++)
            note_missing(mr, i, "%s%s", why, "");
        goto cleanup;
    }
    double deadline = s.t0 + r->o.macro_timeout_s + 10, done_at = -1;
    bool timed_out = false, loaded = false;
    while (s.fd >= 0) {
        sess_read(&s, 200);
        if (s.t_serving >= 0 && !loaded) {
            loaded = true;
            host_load(r, &s, mr);
            done_at = now_s();
        }
        double now = now_s();
        if (now > deadline || (done_at > 0 && now > done_at + 60)) {
            timed_out = now > deadline;
            kill(-s.pid, SIGKILL);
            /* drain what is left */
            for (int k = 0; k < 10 && s.fd >= 0; k++)
                sess_read(&s, 100);
            break;
        }
    }
    if (s.fd >= 0)
        close(s.fd);
    int st = 0;
    kill(-s.pid, SIGKILL); /* nothing of ours outlives the run */
    while (waitpid(s.pid, &st, 0) < 0 && errno == EINTR)
        ;
    int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    const char *out = s.out ? s.out : "";
    char line[512];
    char last[160], ctx[BENCH_WHY];
    last_line(out, last, sizeof(last));
    /* The rootfs initramfs says why it gave up before its shell. */
    if (macro_find_line(out, "popek-rootfs:", line, sizeof(line)))
        bench_fmt(last, sizeof(last), "%s", line);
    if (!last[0]) {
        FILE *f = fopen(s.errlog, "r");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
            last_line(line, last, sizeof(last));
        if (f)
            fclose(f);
    }
    if (timed_out)
        bench_fmt(ctx, sizeof(ctx), "did not finish within %.0f s (last console line: %s)",
                  r->o.macro_timeout_s, last[0] ? last : "(none)");
    else
        bench_fmt(ctx, sizeof(ctx), "the guest stopped (status %d after %.0f s; last "
                  "console line: %s)", status, now_s() - s.t0, last[0] ? last : "(none)");

    /* boot */
    if (s.t_ready >= 0)
        mr->v[M_BOOT][mr->nv[M_BOOT]++] = s.t_ready;
    else
        note_missing(mr, M_BOOT, "no POPEK-ROOTFS-READY: %s%s", ctx, "");
    /* forkwait */
    struct bench_line bl;
    char val[64];
    if (bench_parse(out, "forkwait", &bl))
        mr->v[M_FORKWAIT][mr->nv[M_FORKWAIT]++] = (double)bl.cycles * t->tsc_scale /
                                                  (double)bl.ops * 40000.0 / r->tsc_hz;
    else
        note_missing(mr, M_FORKWAIT, "no 'BENCH name=forkwait' line: %s%s", ctx, "");
    /* compile */
    if (macro_find_line(out, "MACRO-END compile", line, sizeof(line)) && s.t_begin >= 0) {
        double stv = -1;
        macro_field_num(line, "status", &stv);
        if (!macro_field(line, "check", val, sizeof(val)))
            val[0] = 0;
        if (stv != 0)
            note_missing(mr, M_COMPILE, "make failed in the guest (%s)%s", line, "");
        else if (strcmp(val, m_expected))
            note_missing(mr, M_COMPILE, "the compiled program printed '%s', the "
                         "host's build '%s'", val, m_expected);
        else
            mr->v[M_COMPILE][mr->nv[M_COMPILE]++] = s.t_end - s.t_begin;
    } else {
        note_missing(mr, M_COMPILE, "no MACRO-END compile line: %s%s", ctx, "");
    }
    /* disk */
    static const int disk_rows[] = {M_SEQW, M_SEQR, M_RANDW, M_RANDR};
    for (int k = 0; k < 4; k++) {
        int row = disk_rows[k];
        char prefix[64];
        double ops, bytes, secs;
        bench_fmt(prefix, sizeof(prefix), "BENCH name=%s", row_names[row]);
        if (macro_find_line(out, prefix, line, sizeof(line)) &&
            macro_field_num(line, "ops", &ops) && macro_field_num(line, "bytes", &bytes) &&
            macro_field_num(line, "secs", &secs) && secs > 0) {
            bool seq = row == M_SEQW || row == M_SEQR;
            mr->v[row][mr->nv[row]++] = seq ? bytes / secs / 1e6 : ops / secs;
            bench_fmt(mr->note[row], 96, "%s, %.0f MiB in %.2f s (guest clock)",
                      seq ? "1 MiB requests" : "4 KiB requests", bytes / 1048576, secs);
        } else {
            note_missing(mr, row, "no '%s' line: %s", prefix, ctx);
        }
    }
    if (!loaded) {
        note_missing(mr, M_HTTP_RPS, "the guest never served (no MACRO-SERVING): %s%s", ctx, "");
        note_missing(mr, M_HTTP_LAT, "the guest never served (no MACRO-SERVING): %s%s", ctx, "");
        note_missing(mr, M_NET, "the guest never served (no MACRO-SERVING): %s%s", ctx, "");
    }
    if (r->o.verbose)
        fprintf(stderr, "bench: console of %s:\n%s\n", t->id, out);
cleanup:
    free(s.out);
    unlink(s.vol);
    unlink(s.scratch);
    unlink(s.errlog);
    rmdir(s.dir);
}

static void run_macro(struct bench_run *r, int ti, struct macro_result *mr)
{
    const struct target *t = &r->targets[ti];
    fprintf(stderr, "bench: macro (Debian)   on %-10s", t->id);
    if (t->kind == TK_POPEK && bench_engine_lacks(t->engine, "paging32")) {
        for (int i = 0; i < M_NROWS; i++)
            bench_fmt(mr->why[i], BENCH_WHY, "the i686 kernel needs 32-bit paging, "
                      "which popek %s lacks on this host", t->engine);
        fprintf(stderr, " not runnable: %s\n", mr->why[0]);
        return;
    }
    int reps = r->o.quick ? 1 : r->o.reps < 3 ? r->o.reps : 3;
    for (int rep = 0; rep < reps; rep++) {
        int before = mr->nv[M_BOOT];
        run_once(r, ti, mr);
        if (mr->nv[M_BOOT] == before)
            break; /* does not boot: no use trying again */
        fprintf(stderr, " [boot %.1f s, compile %s s]", mr->v[M_BOOT][before],
                mr->nv[M_COMPILE] > rep ? "ok" : "-");
    }
    fprintf(stderr, "\n");
}

void bench_macro_measure(struct bench_run *r, size_t di, int ti)
{
    const struct bench_def *d = &bench_defs[di];
    struct cell *c = bench_cell(r, di, ti);
    struct macro_result *mr = &mres[ti];
    int row = row_index(d->name);
    c->status = CELL_NOT_RUNNABLE;
    if (row < 0) {
        bench_fmt(c->why, sizeof(c->why), "unknown macrobenchmark row");
        return;
    }
    if (r->macro_status[0]) {
        bench_fmt(c->why, sizeof(c->why), "%s", r->macro_status);
        return;
    }
    if (!mr->done) {
        run_macro(r, ti, mr);
        mr->done = true;
    }
    if (!mr->nv[row]) {
        /* It should have run: a failure, not a gap in the set-up. */
        c->status = mr->nv[M_BOOT] || r->targets[ti].kind != TK_POPEK ||
                    !bench_engine_lacks(r->targets[ti].engine, "paging32")
                        ? CELL_FAILED : CELL_NOT_RUNNABLE;
        bench_fmt(c->why, sizeof(c->why), "%s", mr->why[row][0] ? mr->why[row] : "no value");
        return;
    }
    for (int i = 0; i < mr->nv[row]; i++)
        c->v[i] = mr->v[row][i];
    c->reps = mr->nv[row];
    c->n = row == M_FORKWAIT ? (r->o.quick ? 500 : 2000) : 1;
    bench_fmt(c->note, sizeof(c->note), "%s", mr->note[row]);
    c->status = CELL_OK;
    bench_stats(c);
}
