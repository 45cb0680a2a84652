/* bench_linux.c - the Linux macrobenchmarks of `popek bench`: boot time to
 * the initramfs (the kernel's "Run /init as init process" line by default)
 * and forkwait inside the Linux guest.  Data-driven: the Linux guest image
 * is looked for, each target actually boots it, and whatever does not boot
 * is reported with the reason rather than left out.
 * Contract with the initramfs for forkwait: with `popek.bench=forkwait
 * popek.n=N` on the kernel command line, /init runs N fork+exit+wait, prints
 * "BENCH name=forkwait ops=N cycles=C ..." on the console and powers off. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/util.h"

static char linux_kernel[4096], linux_initrd[4096];

static bool exists(const char *p)
{
    struct stat st;
    return p && *p && stat(p, &st) == 0;
}

static bool pick(char *dst, size_t n, const char *opt, const char *env,
                 const char *build, const char *const *names)
{
    const char *e = getenv(env);
    if (opt || (e && *e)) {
        bench_fmt(dst, n, "%s", opt ? opt : e);
        return exists(dst);
    }
    for (int i = 0; names[i]; i++) {
        bench_fmt(dst, n, "%s/linux/%s", build, names[i]);
        if (exists(dst))
            return true;
    }
    return false;
}

void bench_linux_detect(struct bench_run *r)
{
    static const char *const kernels[] = {"bzImage", "vmlinuz", NULL};
    static const char *const initrds[] = {"initramfs.cpio.gz", "initramfs.cpio",
                                          "initrd.img", NULL};
    if (!r->o.linux_marker)
        r->o.linux_marker = "Run /init as init process";
    if (!r->o.linux_timeout_s)
        r->o.linux_timeout_s = r->o.quick ? 45 : 120;
    bool k = pick(linux_kernel, sizeof(linux_kernel), r->o.linux_kernel,
                  "POPEK_LINUX_KERNEL", r->o.build_dir, kernels);
    bool i = pick(linux_initrd, sizeof(linux_initrd), r->o.linux_initrd,
                  "POPEK_LINUX_INITRD", r->o.build_dir, initrds);
    if (!k || !i)
        bench_fmt(r->linux_status, sizeof(r->linux_status),
                  "Linux does not boot on any engine yet: no Linux guest image "
                  "here (%s not found; give --linux-kernel/--linux-initrd or "
                  "put bzImage + initramfs.cpio.gz in %s/linux)",
                  !k ? "kernel" : "initramfs", r->o.build_dir);
    else
        r->linux_status[0] = 0;
}

/* Boot the Linux guest on target t; stop at stop_at if given. */
static int boot(struct bench_run *r, const struct target *t, const char *append,
                const char *stop_at, struct proc_result *pr)
{
    char tmo[32], *argv[32];
    int i = 0;
    bench_fmt(tmo, sizeof(tmo), "%.0f", r->o.linux_timeout_s);
    if (t->kind == TK_POPEK) {
        argv[i++] = POPEK_SELF_EXE;
        argv[i++] = "run";
        argv[i++] = "--engine";
        argv[i++] = (char *)t->engine;
        argv[i++] = "--mem";
        argv[i++] = "256M";
        argv[i++] = "--timeout";
        argv[i++] = tmo;
        argv[i++] = "-q";
    } else {
        argv[i++] = "qemu-system-i386";
        argv[i++] = "-accel";
        argv[i++] = (char *)t->engine;
        argv[i++] = "-m";
        argv[i++] = "256";
        argv[i++] = "-serial";
        argv[i++] = "stdio";
        argv[i++] = "-display";
        argv[i++] = "none";
        argv[i++] = "-nodefaults";
        argv[i++] = "-no-reboot";
    }
    argv[i++] = t->kind == TK_POPEK ? "--kernel" : "-kernel";
    argv[i++] = linux_kernel;
    argv[i++] = t->kind == TK_POPEK ? "--initrd" : "-initrd";
    argv[i++] = linux_initrd;
    argv[i++] = t->kind == TK_POPEK ? "--append" : "-append";
    argv[i++] = (char *)append;
    argv[i] = NULL;
    return proc_run(argv, r->o.linux_timeout_s + 10, stop_at, pr);
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
}

void bench_linux_measure(struct bench_run *r, size_t di, int ti)
{
    const struct bench_def *d = &bench_defs[di];
    const struct target *t = &r->targets[ti];
    struct cell *c = bench_cell(r, di, ti);
    c->status = CELL_NOT_RUNNABLE;
    if (r->linux_status[0]) {
        bench_fmt(c->why, sizeof(c->why), "%s", r->linux_status);
        return;
    }
    bool forkwait = !strcmp(d->name, "forkwait");
    char append[160];
    uint32_t n = forkwait ? 40000 : 1;
    bench_fmt(append, sizeof(append), "console=ttyS0 panic=-1%s", forkwait
              ? " popek.bench=forkwait popek.n=40000" : "");
    fprintf(stderr, "bench: %-16s on %-10s", d->name, t->id);
    for (int rep = 0; rep < r->o.reps; rep++) {
        struct proc_result pr;
        if (boot(r, t, append, forkwait ? NULL : r->o.linux_marker, &pr) < 0) {
            bench_fmt(c->why, sizeof(c->why), "%s", popek_error());
            c->status = CELL_FAILED;
            break;
        }
        c->wall_s += pr.wall_s;
        char last[120];
        last_line(pr.out, last, sizeof(last));
        struct bench_line bl;
        if (!forkwait && pr.stopped_at_marker) {
            c->v[c->reps++] = pr.marker_s;
        } else if (forkwait && bench_parse(pr.out, "forkwait", &bl)) {
            c->v[c->reps++] = (double)bl.cycles / (double)bl.ops * 40000.0 / r->tsc_hz;
        } else if (!strstr(pr.out, r->o.linux_marker)) {
            if (pr.timed_out)
                bench_fmt(c->why, sizeof(c->why),
                          "Linux does not boot on %s: no '%s' within %.0f s "
                          "(last console line: %s)", t->label, r->o.linux_marker,
                          r->o.linux_timeout_s, last[0] ? last : "(none)");
            else
                bench_fmt(c->why, sizeof(c->why),
                          "Linux does not boot on %s: no '%s' before the guest "
                          "stopped (status %d after %.1f s; last console line: "
                          "%s)", t->label, r->o.linux_marker, pr.status,
                          pr.wall_s, last[0] ? last : "(none)");
            proc_result_free(&pr);
            break;
        } else {
            bench_fmt(c->why, sizeof(c->why),
                      "Linux boots on %s but its initramfs printed no "
                      "'BENCH name=forkwait' line for popek.bench=forkwait",
                      t->label);
            proc_result_free(&pr);
            break;
        }
        proc_result_free(&pr);
        fprintf(stderr, " %.3g", c->v[c->reps - 1]);
    }
    if (c->reps == r->o.reps) {
        c->status = CELL_OK;
        c->n = n;
        c->why[0] = 0;
        bench_stats(c);
    } else {
        c->reps = 0;
    }
    fprintf(stderr, " %s\n", c->status == CELL_OK ? "ok" : c->why);
}
