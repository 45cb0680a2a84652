/* bench_targets.c - the columns of `popek bench`: the native baseline,
 * every popek engine (usable or not, with engine_find()'s reason), and the
 * QEMU peers, each probed before use: QEMU kvm with a tiny guest and a short
 * timeout (it hangs on some hosts), and every target's guest TSC rate
 * against the RTC (bench_tsc), so that cycles can be scaled to host cycles.
 * Also the small helpers the other bench files share. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/util.h"

bool bench_file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Is name in the comma-separated list (NULL = everything)? */
bool bench_list_has(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t l = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == l && !strncmp(p, name, l))
            return true;
        p = c ? c + 1 : p + len;
    }
    return false;
}

static struct target *add_target(struct bench_run *r, const char *id,
                                 const char *label, enum target_kind kind,
                                 const char *engine, const char *paper)
{
    struct target *t = &r->targets[r->ntargets++];
    memset(t, 0, sizeof(*t));
    bench_fmt(t->id, sizeof(t->id), "%s", id);
    bench_fmt(t->label, sizeof(t->label), "%s", label);
    t->kind = kind;
    t->engine = engine;
    t->popek = r->popek_exe;
    t->paper = paper;
    t->runnable = true;
    return t;
}

void bench_guest_argv(const struct target *t, const char *kernel,
                      const char *initrd, const char *append,
                      const char *mem_mib, const char *tmo, char **argv)
{
    static char mem[24];
    int i = 0;
    bool popek = t->kind == TK_POPEK;
    if (popek) {
        bench_fmt(mem, sizeof(mem), "%sM", mem_mib);
        argv[i++] = (char *)t->popek;
        argv[i++] = "run";
        argv[i++] = "--engine";
        argv[i++] = (char *)t->engine;
        argv[i++] = "--mem";
        argv[i++] = mem;
        argv[i++] = "--timeout";
        argv[i++] = (char *)tmo;
        argv[i++] = "-q";
    } else {
        argv[i++] = "qemu-system-i386";
        argv[i++] = "-accel";
        argv[i++] = (char *)t->engine;
        argv[i++] = "-m";
        argv[i++] = (char *)mem_mib;
        argv[i++] = "-device";
        argv[i++] = "isa-debug-exit,iobase=0xf4,iosize=0x04";
        argv[i++] = "-serial";
        argv[i++] = "stdio";
        argv[i++] = "-display";
        argv[i++] = "none";
        argv[i++] = "-nodefaults";
        argv[i++] = "-no-reboot";
    }
    argv[i++] = popek ? "--kernel" : "-kernel";
    argv[i++] = (char *)kernel;
    if (initrd) {
        argv[i++] = popek ? "--initrd" : "-initrd";
        argv[i++] = (char *)initrd;
    }
    argv[i++] = popek ? "--append" : "-append";
    argv[i++] = (char *)append;
    argv[i] = NULL;
}

/* Can QEMU with this accelerator run our smallest guest?  QEMU -accel kvm
 * hangs on some hosts (e.g. /dev/kvm backed by kvm_pvm): a short timeout
 * tells. */
static void probe_qemu(struct bench_run *r, struct target *t)
{
    char elf[4200], *argv[24];
    bench_fmt(elf, sizeof(elf), "%s/guests/bench_callret.elf", r->o.build_dir);
    if (!bench_file_exists(elf)) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why), "guest %s not built", elf);
        return;
    }
    if (!strcmp(t->engine, "kvm") && access("/dev/kvm", R_OK | W_OK) != 0) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why), "/dev/kvm not accessible: %s",
                 strerror(errno));
        return;
    }
    bench_guest_argv(t, elf, NULL, "n=10", "128", "10", argv);
    double timeout = r->o.quick ? 8 : 15;
    struct proc_result pr;
    if (proc_run(argv, timeout, NULL, &pr) < 0) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why), "%s", popek_error());
        return;
    }
    struct bench_line bl;
    if (pr.timed_out) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why),
                 "qemu -accel %s did not finish a 10-call guest within %.0f s "
                 "(hangs on this host%s)", t->engine, timeout,
                 bench_file_exists("/sys/module/kvm_pvm") ? "; /dev/kvm is kvm_pvm" : "");
    } else if (pr.status == 1 && bench_parse(pr.out, "callret", &bl) &&
               r->o.quick && pr.wall_s > 3) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why),
                  "left out of --quick: one qemu -accel %s run of a tiny guest "
                  "takes %.1f s here (run without --quick to measure it)",
                  t->engine, pr.wall_s);
    } else if (pr.status != 1 || !bench_parse(pr.out, "callret", &bl)) {
        t->runnable = false;
        char *nl;
        while ((nl = strchr(pr.err_tail, '\n')) && nl[1])
            memmove(pr.err_tail, nl + 1, strlen(nl));
        if ((nl = strchr(pr.err_tail, '\n')))
            *nl = 0;
        bench_fmt(t->why, sizeof(t->why), "qemu -accel %s failed (status %d): %s",
                 t->engine, pr.status, pr.err_tail[0] ? pr.err_tail : "no BENCH line");
    }
    proc_result_free(&pr);
}

/* Measure a target's guest TSC rate against the RTC (bench_tsc guest). */
static void probe_tsc(struct bench_run *r, struct target *t)
{
    static const struct bench_def tsc_def = {"tsc", "guest TSC rate", BK_GUEST,
                                             "bench_tsc", NULL, "ticks", false,
                                             1, 4, {-1, -1, -1, NULL}, NULL};
    const uint32_t seconds = r->o.quick ? 1 : 2;
    struct bench_line bl;
    double wall;
    char why[BENCH_WHY];
    t->tsc_scale = 1;
    t->guest_tsc_hz = r->tsc_hz;
    if (t->kind == TK_NATIVE) {
        bench_fmt(t->tsc_note, sizeof(t->tsc_note), "host TSC %.0f MHz",
                  r->tsc_hz / 1e6);
        return;
    }
    if (bench_run_once(r, &tsc_def, t, seconds, 30, &bl, &wall, why, sizeof(why)) != RUN_OK) {
        bench_fmt(t->tsc_note, sizeof(t->tsc_note),
                  "guest TSC rate not measured (%s); host rate assumed", why);
        return;
    }
    t->startup_s = wall - seconds - 0.5; /* + waiting for the first edge */
    if (t->startup_s < 0)
        t->startup_s = 0;
    double hz = (double)bl.cycles / (double)bl.ops;
    t->guest_tsc_hz = hz;
    if (fabs(hz / r->tsc_hz - 1) <= 0.05) {
        bench_fmt(t->tsc_note, sizeof(t->tsc_note),
                  "guest TSC %.0f MHz against the RTC: the host's (%.0f MHz), "
                  "cycles taken as they are", hz / 1e6, r->tsc_hz / 1e6);
    } else {
        t->tsc_scale = r->tsc_hz / hz;
        bench_fmt(t->tsc_note, sizeof(t->tsc_note),
                  "guest TSC %.0f MHz against the RTC: cycles scaled by %.3f to "
                  "host cycles (%.0f MHz)", hz / 1e6, t->tsc_scale,
                  r->tsc_hz / 1e6);
    }
}

/* Does the native baseline program run here? */
static bool native_runs(char *native)
{
    struct proc_result pr;
    char *argv[] = {native, "list", NULL};
    bool ok = proc_run(argv, 10, NULL, &pr) == 0 && pr.status == 0 &&
              pr.out && strstr(pr.out, "crc32");
    proc_result_free(&pr);
    return ok;
}

void bench_setup_targets(struct bench_run *r)
{
    char native[4200];
    bench_fmt(native, sizeof(native), "%s/bench/native32", r->o.build_dir);
    struct target *t = add_target(r, "native", "native (host)", TK_NATIVE,
                                  NULL, "native");
    if (!bench_file_exists(native)) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why), "%s not built (make)", native);
    } else if (!native_runs(native)) {
        /* The host cannot run 32-bit programs (a kernel without IA-32
         * emulation, or with it disabled): the same baselines built as a
         * 64-bit program stand in, and the table says so. */
        bench_fmt(native, sizeof(native), "%s/bench/native64", r->o.build_dir);
        if (native_runs(native)) {
            bench_fmt(t->label, sizeof(t->label), "native (host, 64-bit)");
        } else {
            t->runnable = false;
            bench_fmt(t->why, sizeof(t->why),
                      "this host runs neither bench/native32 nor native64");
        }
    }
    bench_fmt(r->native_exe, sizeof(r->native_exe), "%s", native);
    const char *const *engine_names = bench_engine_names();
    for (int i = 0; engine_names[i] && r->ntargets < BENCH_MAX_TARGETS; i++) {
        const char *e = engine_names[i];
        if (!bench_list_has(r->o.engines, e))
            continue;
        char id[24], label[40];
        bench_fmt(id, sizeof(id), "%s", e);
        bench_fmt(label, sizeof(label), "popek %s", e);
        const char *paper = !strcmp(e, "kvm") ? "hardware"
                            : !strcmp(e, "bt") ? "software" : NULL;
        t = add_target(r, id, label, TK_POPEK, engine_names[i], paper);
        if (!bench_engine_usable(e, t->why, sizeof(t->why)))
            t->runnable = false;
    }
    if (r->o.peers) {
        static const char *const accels[] = {"tcg", "kvm"};
        for (size_t i = 0; i < 2 && r->ntargets < BENCH_MAX_TARGETS; i++) {
            char id[24], label[40];
            bench_fmt(id, sizeof(id), "qemu-%s", accels[i]);
            bench_fmt(label, sizeof(label), "QEMU %s", accels[i]);
            t = add_target(r, id, label, TK_QEMU, accels[i], NULL);
            struct proc_result pr;
            char *argv[] = {"qemu-system-i386", "--version", NULL};
            if (proc_run(argv, 10, NULL, &pr) < 0 || pr.status != 0) {
                t->runnable = false;
                bench_fmt(t->why, sizeof(t->why),
                         "qemu-system-i386 not installed (Debian qemu-system-x86)");
            } else {
                probe_qemu(r, t);
            }
            proc_result_free(&pr);
        }
    }
    for (int i = 0; i < r->ntargets; i++) {
        t = &r->targets[i];
        if (!t->runnable) {
            fprintf(stderr, "bench: %s not runnable: %s\n", t->id, t->why);
            continue;
        }
        probe_tsc(r, t);
        fprintf(stderr, "bench: %s: %s\n", t->id, t->tsc_note);
    }
}

