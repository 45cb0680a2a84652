/* bench_linux.c - the Linux macrobenchmarks of `popek bench`: boot time to
 * the initramfs (its /init's first line, POPEK-LINUX-START, by default) and
 * forkwait inside the Linux guest.  Data-driven: the Linux guest image is
 * looked for (scripts/fetch-linux.sh + scripts/mkinitramfs.sh put it in
 * cache/linux), each target actually boots it, and whatever does not boot is
 * reported with the reason rather than left out.  One boot per repetition
 * serves both rows: the marker's time is the boot time, and a
 * "BENCH name=forkwait ..." line, if the initramfs prints one, is forkwait.
 * Contract with the initramfs for forkwait: with `popek.bench=forkwait
 * popek.n=N` on the kernel command line, /init runs N fork+exit+wait and
 * prints "BENCH name=forkwait ops=N cycles=C" (rdtsc) before it reboots.
 * userprog (tests/linux/userprog.c, a mix of ordinary user code) has boots
 * of its own, with popek.bench=userprog popek.n=N. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

#include "../../src/core/util.h"

#define DEFAULT_CMDLINE "console=ttyS0 earlyprintk=serial,ttyS0,115200 " \
                        "reboot=k panic=-1 acpi=off nolapic noapic nokaslr"

static char linux_kernel[4096], linux_initrd[4096], linux_cmdline[512];

/* What booting Linux on each target gave (filled on first use). */
struct linux_result {
    bool done;
    int boots;
    double boot_s[BENCH_MAX_REPS], forkwait_40k[BENCH_MAX_REPS];
    int forkwaits;
    bool up_done;
    double userprog[BENCH_MAX_REPS]; /* host cycles per round */
    int userprogs;
    char up_why[BENCH_WHY];
    char boot_why[BENCH_WHY], fork_why[BENCH_WHY];
};
static struct linux_result results[BENCH_MAX_TARGETS];

/* First existing path among candidates (relative to base), or the option /
 * environment variable when given. */
static bool pick(char *dst, size_t n, const char *opt, const char *env,
                 const char *base, const char *const *names)
{
    const char *e = getenv(env);
    if (opt || (e && *e)) {
        bench_fmt(dst, n, "%s", opt ? opt : e);
        return bench_file_exists(dst);
    }
    for (int i = 0; names[i]; i++) {
        bench_fmt(dst, n, "%s/%s", base, names[i]);
        if (bench_file_exists(dst))
            return true;
    }
    return false;
}

void bench_linux_detect(struct bench_run *r)
{
    /* build/linux/... or, beside the build directory, the repository's
     * cache/linux from scripts/fetch-linux.sh and mkinitramfs.sh. */
    static const char *const kernels[] = {"linux/bzImage", "../cache/linux/vmlinuz-686",
                                          NULL};
    static const char *const initrds[] = {"linux/initramfs.cpio.gz",
                                          "../cache/linux/initramfs.gz", NULL};
    if (!r->o.linux_marker)
        r->o.linux_marker = "POPEK-LINUX-START";
    if (!r->o.linux_timeout_s)
        r->o.linux_timeout_s = r->o.quick ? 25 : 180;
    memset(results, 0, sizeof(results));
    bool k = pick(linux_kernel, sizeof(linux_kernel), r->o.linux_kernel,
                  "POPEK_LINUX_KERNEL", r->o.build_dir, kernels);
    bool i = pick(linux_initrd, sizeof(linux_initrd), r->o.linux_initrd,
                  "POPEK_LINUX_INITRD", r->o.build_dir, initrds);
    bench_fmt(linux_cmdline, sizeof(linux_cmdline), "%s", DEFAULT_CMDLINE);
    char path[4200];
    bench_fmt(path, sizeof(path), "%s/../tests/linux/cmdline", r->o.build_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(linux_cmdline, sizeof(linux_cmdline), f))
            linux_cmdline[strcspn(linux_cmdline, "\n")] = 0;
        fclose(f);
    }
    if (!k || !i)
        bench_fmt(r->linux_status, sizeof(r->linux_status),
                  "Linux does not boot on any engine yet: no Linux guest image "
                  "here (%s not found; run scripts/fetch-linux.sh and "
                  "scripts/mkinitramfs.sh, or give --linux-kernel/--linux-initrd)",
                  !k ? "kernel" : "initramfs");
    else
        r->linux_status[0] = 0;
}

/* Boot the Linux guest on target t (noting when the marker appears). */
static int boot(struct bench_run *r, const struct target *t, const char *append,
                struct proc_result *pr)
{
    char tmo[32], *argv[32];
    bench_fmt(tmo, sizeof(tmo), "%.0f", r->o.linux_timeout_s);
    bench_guest_argv(t, linux_kernel, linux_initrd, append, "256", tmo, argv);
    return proc_run_marked(argv, r->o.linux_timeout_s + 10, r->o.linux_marker,
                           false, pr);
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

/* Boot Linux up to --reps times (at most 3; once with --quick) on target ti and keep what
 * each boot showed; stop at the first boot that does not reach the marker. */
static void run_linux(struct bench_run *r, int ti, struct linux_result *lr)
{
    const struct target *t = &r->targets[ti];
    uint32_t n = r->o.quick ? 500 : 2000;
    char append[700];
    bench_fmt(append, sizeof(append), "%s popek.bench=forkwait popek.n=%u",
              linux_cmdline, n);
    int reps = r->o.quick ? 1 : r->o.reps < 3 ? r->o.reps : 3;
    fprintf(stderr, "bench: linux            on %-10s", t->id);
    /* The i686 kernel turns on 32-bit paging. */
    if (t->kind == TK_POPEK && bench_engine_lacks(t->engine, "paging32")) {
        bench_fmt(lr->boot_why, sizeof(lr->boot_why),
                  "the i686 kernel needs 32-bit paging, which popek %s lacks "
                  "on this host", t->engine);
        bench_fmt(lr->fork_why, sizeof(lr->fork_why), "%s", lr->boot_why);
        fprintf(stderr, " not runnable: %s\n", lr->boot_why);
        return;
    }
    for (int rep = 0; rep < reps; rep++) {
        struct proc_result pr;
        if (boot(r, t, append, &pr) < 0) {
            bench_fmt(lr->boot_why, sizeof(lr->boot_why), "%s", popek_error());
            break;
        }
        char last[120];
        last_line(pr.out, last, sizeof(last));
        if (pr.marker_s < 0) {
            /* status 12: popek's own --timeout */
            if (pr.timed_out || (t->kind == TK_POPEK && pr.status == 12))
                bench_fmt(lr->boot_why, sizeof(lr->boot_why),
                          "Linux does not boot on %s: no '%s' within %.0f s "
                          "(last console line: %s)", t->label, r->o.linux_marker,
                          r->o.linux_timeout_s, last[0] ? last : "(none)");
            else
                bench_fmt(lr->boot_why, sizeof(lr->boot_why),
                          "Linux does not boot on %s: no '%s' before the guest "
                          "stopped (status %d after %.1f s; last console line: "
                          "%s)", t->label, r->o.linux_marker, pr.status,
                          pr.wall_s, last[0] ? last : "(none)");
            proc_result_free(&pr);
            break;
        }
        lr->boot_s[lr->boots++] = pr.marker_s;
        struct bench_line bl;
        if (bench_parse(pr.out, "forkwait", &bl))
            lr->forkwait_40k[lr->forkwaits++] = (double)bl.cycles * t->tsc_scale /
                                                (double)bl.ops * 40000.0 / r->tsc_hz;
        fprintf(stderr, " boot %.2f s", pr.marker_s);
        proc_result_free(&pr);
    }
    if (lr->boots && lr->forkwaits < lr->boots)
        bench_fmt(lr->fork_why, sizeof(lr->fork_why),
                  "Linux boots on %s, but its initramfs printed no 'BENCH "
                  "name=forkwait' line: its /init has no forkwait mode "
                  "(popek.bench=forkwait)", t->label);
    if (!lr->boots)
        bench_fmt(lr->fork_why, sizeof(lr->fork_why), "%s", lr->boot_why);
    fprintf(stderr, " %s\n", lr->boots ? "" : lr->boot_why);
}

/* Boot Linux with popek.bench=userprog on target ti (like run_linux). */
static void run_userprog(struct bench_run *r, int ti, struct linux_result *lr)
{
    const struct target *t = &r->targets[ti];
    uint32_t n = r->o.quick ? 3 : 10;
    char append[700];
    bench_fmt(append, sizeof(append), "%s popek.bench=userprog popek.n=%u",
              linux_cmdline, n);
    int reps = r->o.quick ? 1 : r->o.reps < 3 ? r->o.reps : 3;
    fprintf(stderr, "bench: linux userprog   on %-10s", t->id);
    if (t->kind == TK_POPEK && bench_engine_lacks(t->engine, "paging32")) {
        bench_fmt(lr->up_why, sizeof(lr->up_why),
                  "the i686 kernel needs 32-bit paging, which popek %s lacks "
                  "on this host", t->engine);
        fprintf(stderr, " not runnable: %s\n", lr->up_why);
        return;
    }
    for (int rep = 0; rep < reps; rep++) {
        struct proc_result pr;
        if (boot(r, t, append, &pr) < 0) {
            bench_fmt(lr->up_why, sizeof(lr->up_why), "%s", popek_error());
            break;
        }
        struct bench_line bl;
        if (!bench_parse(pr.out, "userprog", &bl) || !bl.ops) {
            char last[120];
            last_line(pr.out, last, sizeof(last));
            bench_fmt(lr->up_why, sizeof(lr->up_why),
                      "no 'BENCH name=userprog' line from Linux on %s "
                      "(status %d; last console line: %s)", t->label,
                      pr.status, last[0] ? last : "(none)");
            proc_result_free(&pr);
            break;
        }
        lr->userprog[lr->userprogs++] =
            (double)bl.cycles * t->tsc_scale / (double)bl.ops;
        fprintf(stderr, " %.0f cycles/round", lr->userprog[lr->userprogs - 1]);
        proc_result_free(&pr);
    }
    fprintf(stderr, "\n");
}

void bench_linux_measure(struct bench_run *r, size_t di, int ti)
{
    const struct bench_def *d = &bench_defs[di];
    struct cell *c = bench_cell(r, di, ti);
    struct linux_result *lr = &results[ti];
    c->status = CELL_NOT_RUNNABLE;
    if (r->linux_status[0]) {
        bench_fmt(c->why, sizeof(c->why), "%s", r->linux_status);
        return;
    }
    if (!strcmp(d->name, "userprog")) {
        if (!lr->up_done) {
            run_userprog(r, ti, lr);
            lr->up_done = true;
        }
        if (!lr->userprogs) {
            bench_fmt(c->why, sizeof(c->why), "%s", lr->up_why);
            return;
        }
        for (int i = 0; i < lr->userprogs; i++)
            c->v[i] = lr->userprog[i];
        c->reps = lr->userprogs;
        c->n = r->o.quick ? 3 : 10;
        c->status = CELL_OK;
        bench_stats(c);
        return;
    }
    if (!lr->done) {
        run_linux(r, ti, lr);
        lr->done = true;
    }
    bool forkwait = !strcmp(d->name, "forkwait");
    int nv = forkwait ? (lr->forkwaits == lr->boots ? lr->forkwaits : 0) : lr->boots;
    const double *v = forkwait ? lr->forkwait_40k : lr->boot_s;
    if (!nv) {
        bench_fmt(c->why, sizeof(c->why), "%s", forkwait ? lr->fork_why : lr->boot_why);
        return;
    }
    for (int i = 0; i < nv; i++)
        c->v[i] = v[i];
    c->reps = nv;
    c->n = forkwait ? (r->o.quick ? 500 : 2000) : 1;
    c->status = CELL_OK;
    bench_stats(c);
}
