/* bench_main.c - `popek bench`: parse the options, set up the columns
 * (native host, each popek engine that is selected, QEMU peers), then for
 * every benchmark row and column either measure it (a calibration run picks
 * N so that one run takes about --target seconds, then --reps runs) or
 * record why it cannot run here, and finally write the reports. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../core/engine.h"
#include "../core/util.h"
#include "../../bench/guests/crc32_core.h"

static void bench_usage(FILE *f)
{
    fprintf(f,
        "usage: popek bench [options]   run the benchmark suite\n"
        "  --engines LIST     popek engines to measure, comma-separated\n"
        "                     (default: all; unusable ones are listed with why;\n"
        "                     '' = none, native baselines only)\n"
        "  --peers            also run the guests under QEMU (tcg, and kvm\n"
        "                     if it works here)\n"
        "  --out DIR          results directory (default bench/results)\n"
        "  --reps N           measured runs per cell (default 5, quick 3)\n"
        "  --target SECS      aimed-for length of one run (default 1, quick 0.2)\n"
        "  --quick            fewer and shorter runs (a few minutes at most)\n"
        "  --only LIST        only these benchmarks, comma-separated (e.g.\n"
        "                     callret,pgfault; default: all)\n"
        "  --build DIR        where guests/ and bench/native32 are (default:\n"
        "                     the directory of this popek binary)\n"
        "  --linux-kernel F, --linux-initrd F, --linux-marker TEXT\n"
        "                     the Linux guest for the macrobenchmarks\n"
        "  -v, --verbose      print every command run\n"
        "Writes DIR/results.{json,csv,md,png}.\n");
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Is name in the comma-separated list (NULL = everything)? */
static bool list_has(const char *list, const char *name)
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
    t->paper = paper;
    t->runnable = true;
    return t;
}

enum run_result { RUN_OK, RUN_SKIP, RUN_FAIL };
static enum run_result run_once(struct bench_run *r, const struct bench_def *d,
                                const struct target *t, uint32_t n,
                                double timeout, struct bench_line *bl,
                                double *wall, char *why, size_t whyn);

static void qemu_argv(const char *accel, const char *elf, const char *append,
                      char **argv)
{
    static char accel_buf[16];
    bench_fmt(accel_buf, sizeof(accel_buf), "%s", accel);
    int i = 0;
    argv[i++] = "qemu-system-i386";
    argv[i++] = "-accel";
    argv[i++] = accel_buf;
    argv[i++] = "-m";
    argv[i++] = "128";
    argv[i++] = "-kernel";
    argv[i++] = (char *)elf;
    argv[i++] = "-append";
    argv[i++] = (char *)append;
    argv[i++] = "-device";
    argv[i++] = "isa-debug-exit,iobase=0xf4,iosize=0x04";
    argv[i++] = "-serial";
    argv[i++] = "stdio";
    argv[i++] = "-display";
    argv[i++] = "none";
    argv[i++] = "-nodefaults";
    argv[i++] = "-no-reboot";
    argv[i] = NULL;
}

/* Can QEMU with this accelerator run our smallest guest?  QEMU -accel kvm
 * hangs on some hosts (e.g. /dev/kvm backed by kvm_pvm): a short timeout
 * tells. */
static void probe_qemu(struct bench_run *r, struct target *t)
{
    char elf[4200], *argv[24];
    bench_fmt(elf, sizeof(elf), "%s/guests/bench_callret.elf", r->o.build_dir);
    if (!file_exists(elf)) {
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
    qemu_argv(t->engine, elf, "n=10", argv);
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
                 file_exists("/sys/module/kvm_pvm") ? "; /dev/kvm is kvm_pvm" : "");
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
                                             1, 4, {-1, -1, -1, NULL}};
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
    if (run_once(r, &tsc_def, t, seconds, 30, &bl, &wall, why, sizeof(why)) != RUN_OK) {
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

static void setup_targets(struct bench_run *r)
{
    char native[4200];
    bench_fmt(native, sizeof(native), "%s/bench/native32", r->o.build_dir);
    struct target *t = add_target(r, "native", "native (host)", TK_NATIVE,
                                  NULL, "native");
    if (!file_exists(native)) {
        t->runnable = false;
        bench_fmt(t->why, sizeof(t->why), "%s not built (make)", native);
    }
    for (int i = 0; engine_names[i] && r->ntargets < BENCH_MAX_TARGETS; i++) {
        const char *e = engine_names[i];
        if (!list_has(r->o.engines, e))
            continue;
        char id[24], label[40];
        bench_fmt(id, sizeof(id), "%s", e);
        bench_fmt(label, sizeof(label), "popek %s", e);
        const char *paper = !strcmp(e, "kvm") ? "hardware"
                            : !strcmp(e, "bt") ? "software" : NULL;
        t = add_target(r, id, label, TK_POPEK, engine_names[i], paper);
        if (!engine_find(e)) {
            t->runnable = false;
            bench_fmt(t->why, sizeof(t->why), "%s", popek_error());
        }
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
}

/* ---- one measured run ---- */

static uint32_t crc_cache_kib;
static uint32_t crc_cache_sum;

static uint32_t expected_crc(uint32_t kib)
{
    if (kib == crc_cache_kib)
        return crc_cache_sum;
    static uint32_t table[256];
    uint32_t len = crc32_buf_len(kib);
    uint8_t *buf = malloc(len);
    if (!buf)
        return 0;
    crc32_make_table(table);
    crc32_fill(buf, len);
    crc_cache_sum = crc32_work(table, buf, len, kib);
    crc_cache_kib = kib;
    free(buf);
    return crc_cache_sum;
}

/* The last non-empty line of text that does not contain `skip`. */
static void last_line(const char *text, const char *skip, char *dst, size_t n)
{
    dst[0] = 0;
    const char *end = text + strlen(text);
    while (end > text) {
        while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
            end--;
        const char *b = end;
        while (b > text && b[-1] != '\n')
            b--;
        size_t len = (size_t)(end - b);
        if (len) {
            char line[512];
            size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
            memcpy(line, b, l);
            line[l] = 0;
            if (!skip || !strstr(line, skip)) {
                bench_fmt(dst, n, "%s", line);
                return;
            }
        }
        end = b;
    }
}

/* Run def on target with n ops; on success fill bl and *wall. */
static enum run_result run_once(struct bench_run *r, const struct bench_def *d,
                                const struct target *t, uint32_t n,
                                double timeout, struct bench_line *bl,
                                double *wall, char *why, size_t whyn)
{
    char native[4200], elf[4200], nbuf[32], append[96], tmo[32];
    char *argv[32];
    int want_status = 1;
    bench_fmt(nbuf, sizeof(nbuf), "n=%u", n);
    bench_fmt(append, sizeof(append), "n=%u only=%s", n, d->name);
    bench_fmt(elf, sizeof(elf), "%s/guests/%s.elf", r->o.build_dir,
             d->guest ? d->guest : "");
    bench_fmt(tmo, sizeof(tmo), "%.0f", timeout);
    if (t->kind == TK_NATIVE) {
        bench_fmt(native, sizeof(native), "%s/bench/native32", r->o.build_dir);
        argv[0] = native;
        argv[1] = (char *)d->name;
        argv[2] = nbuf;
        argv[3] = NULL;
        want_status = 0;
    } else if (t->kind == TK_POPEK) {
        int i = 0;
        argv[i++] = POPEK_SELF_EXE;
        argv[i++] = "run";
        argv[i++] = "--engine";
        argv[i++] = (char *)t->engine;
        argv[i++] = "--kernel";
        argv[i++] = elf;
        argv[i++] = "--append";
        argv[i++] = append;
        argv[i++] = "--timeout";
        argv[i++] = tmo;
        argv[i++] = "-q";
        argv[i] = NULL;
    } else {
        qemu_argv(t->engine, elf, append, argv);
    }
    if (t->kind != TK_NATIVE && !file_exists(elf)) {
        bench_fmt(why, whyn, "guest %s not built", elf);
        return RUN_FAIL;
    }
    if (r->o.verbose) {
        fprintf(stderr, "bench: $");
        for (int i = 0; argv[i]; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n");
    }
    struct proc_result pr;
    if (proc_run(argv, timeout + 5, NULL, &pr) < 0) {
        bench_fmt(why, whyn, "%s", popek_error());
        return RUN_FAIL;
    }
    *wall = pr.wall_s;
    enum run_result res = RUN_OK;
    if (bench_parse_skip(pr.out, d->name, why, whyn)) {
        res = RUN_SKIP;
    } else if (pr.timed_out || pr.status != want_status ||
               !bench_parse(pr.out, d->name, bl)) {
        /* The last console line and the last stderr line that is not a
         * warning say what happened. */
        char last_out[160], last_err[160];
        last_line(pr.out, NULL, last_out, sizeof(last_out));
        last_line(pr.err_tail, "warning", last_err, sizeof(last_err));
        if (pr.timed_out)
            bench_fmt(why, whyn, "timed out after %.0f s (n=%u); last console "
                      "line: %s", timeout, n, last_out[0] ? last_out : "(none)");
        else
            bench_fmt(why, whyn, "exit status %d, expected %d (n=%u): %s%s%s",
                      pr.status, want_status, n, last_out,
                      last_err[0] ? " | " : "", last_err);
        res = RUN_FAIL;
    } else {
        bool per_byte = !strcmp(d->unit, "cycles/byte");
        uint64_t want_ops = per_byte ? (uint64_t)n * 1024 : n;
        if (strncmp(d->unit, "cycles", 6) == 0 && bl->ops != want_ops) {
            bench_fmt(why, whyn, "reported ops=%llu, expected %llu",
                     (unsigned long long)bl->ops, (unsigned long long)want_ops);
            res = RUN_FAIL;
        } else if (!strcmp(d->name, "crc32")) {
            char want[16];
            bench_fmt(want, sizeof(want), "0x%08x", expected_crc(n));
            if (strcmp(bl->crc, want)) {
                bench_fmt(why, whyn, "wrong checksum crc=%s, expected %s", bl->crc,
                         want);
                res = RUN_FAIL;
            }
        }
    }
    proc_result_free(&pr);
    return res;
}

static double value_of(const struct bench_run *r, const struct bench_def *d,
                       const struct target *t, const struct bench_line *bl)
{
    double cpo = (double)bl->cycles * t->tsc_scale / (double)bl->ops;
    return d->per_40k_seconds ? cpo * 40000.0 / r->tsc_hz : cpo;
}

/* Pick N so that one run takes about target_s, from the per-op time the
 * calibration run reported (its cycles at the host TSC rate), capped by its
 * wall time less the target's start-up time, in case a guest's TSC is off. */
static uint32_t choose_n(const struct bench_run *r, const struct bench_def *d,
                         const struct target *t, uint32_t n0,
                         const struct bench_line *bl, double wall0)
{
    double op_s = (double)bl->cycles * t->tsc_scale / (double)bl->ops / r->tsc_hz;
    if (!strcmp(d->unit, "cycles/byte"))
        op_s *= 1024; /* n counts KiB */
    double n = op_s > 0 ? r->o.target_s / op_s : (double)d->n_max;
    double work0 = wall0 - t->startup_s;
    if (work0 < 0.1 * wall0)
        work0 = 0.1 * wall0;
    double wall_cap = work0 > 0 ? n0 * (3.0 * r->o.target_s) / work0 : n;
    if (n > wall_cap)
        n = wall_cap;
    if (n < n0)
        n = n0;
    if (n > d->n_max)
        n = d->n_max;
    /* round to 2 significant digits, so that the N in the results is readable */
    double mag = pow(10, floor(log10(n)) - 1);
    return (uint32_t)(floor(n / mag) * mag);
}

static void measure(struct bench_run *r, size_t di, int ti)
{
    const struct bench_def *d = &bench_defs[di];
    const struct target *t = &r->targets[ti];
    struct cell *c = bench_cell(r, di, ti);
    struct bench_line bl;
    double wall;
    uint32_t n0 = d->n_calib;
    fprintf(stderr, "bench: %-16s on %-10s calibrating (n=%u) ...", d->name,
            t->id, n0);
    double calib_timeout = r->o.quick ? 15 : 40;
    enum run_result rr = run_once(r, d, t, n0, calib_timeout, &bl, &wall, c->why,
                                  sizeof(c->why));
    c->wall_s += wall;
    if (rr != RUN_OK) {
        c->status = rr == RUN_SKIP ? CELL_NOT_RUNNABLE : CELL_FAILED;
        fprintf(stderr, " %s: %s\n", rr == RUN_SKIP ? "skipped" : "FAILED", c->why);
        return;
    }
    uint32_t n = choose_n(r, d, t, n0, &bl, wall);
    c->n = n;
    fprintf(stderr, " n=%u:", n);
    /* Generous: 5x what the calibration run predicts, at least 15 s. */
    double timeout = fmax(15.0, 5.0 * wall * n / n0);
    for (int rep = 0; rep < r->o.reps; rep++) {
        rr = run_once(r, d, t, n, timeout, &bl, &wall, c->why, sizeof(c->why));
        c->wall_s += wall;
        if (rr != RUN_OK) {
            c->status = CELL_FAILED;
            fprintf(stderr, " FAILED: %s\n", c->why);
            return;
        }
        c->v[c->reps++] = value_of(r, d, t, &bl);
        bench_fmt(c->note, sizeof(c->note), "%s", bl.note);
        fprintf(stderr, " %.4g", c->v[c->reps - 1]);
    }
    c->status = CELL_OK;
    bench_stats(c);
    fprintf(stderr, " -> median %.4g %s\n", c->median, d->unit);
}

static void not_runnable(struct cell *c, const char *why)
{
    c->status = CELL_NOT_RUNNABLE;
    bench_fmt(c->why, sizeof(c->why), "%s", why);
}

static void describe_machine(struct bench_run *r)
{
    char model[128] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!strncmp(line, "model name", 10) && colon) {
            bench_fmt(model, sizeof(model), "%s", colon + 2);
            model[strcspn(model, "\n")] = 0;
            break;
        }
    }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    bench_fmt(r->machine, sizeof(r->machine),
             "%s, %ld CPUs, TSC %.0f MHz, Linux %s%s", model,
             sysconf(_SC_NPROCESSORS_ONLN), r->tsc_hz / 1e6, u.release,
             file_exists("/sys/module/kvm_pvm") ? ", /dev/kvm = kvm_pvm" : "");
    time_t now = time(NULL);
    strftime(r->started, sizeof(r->started), "%Y-%m-%d %H:%M UTC", gmtime(&now));
}

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
    static const struct option opts[] = {
        {"engines", required_argument, 0, 'e'},
        {"peers", no_argument, 0, 'p'},
        {"out", required_argument, 0, 'o'},
        {"reps", required_argument, 0, 'r'},
        {"target", required_argument, 0, 't'},
        {"quick", no_argument, 0, 'Q'},
        {"build", required_argument, 0, 'b'},
        {"only", required_argument, 0, 'O'},
        {"linux-kernel", required_argument, 0, 'K'},
        {"linux-initrd", required_argument, 0, 'I'},
        {"linux-marker", required_argument, 0, 'M'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'e': o->engines = optarg; break;
        case 'p': o->peers = true; break;
        case 'o': o->out_dir = optarg; break;
        case 'r':
            o->reps = (int)strtol(optarg, &end, 10);
            if (*end || o->reps < 1 || o->reps > BENCH_MAX_REPS) {
                warnx_("bad --reps '%s' (1..%d)", optarg, BENCH_MAX_REPS);
                return 2;
            }
            break;
        case 't':
            o->target_s = strtod(optarg, &end);
            if (*end || o->target_s <= 0 || o->target_s > 600) {
                warnx_("bad --target '%s'", optarg);
                return 2;
            }
            break;
        case 'Q': o->quick = true; break;
        case 'b': o->build_dir = optarg; break;
        case 'O': o->only = optarg; break;
        case 'K': o->linux_kernel = optarg; break;
        case 'I': o->linux_initrd = optarg; break;
        case 'M': o->linux_marker = optarg; break;
        case 'v': o->verbose = true; break;
        case 'h': bench_usage(stdout); return -1;
        default: bench_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        warnx_("unexpected argument '%s'", argv[optind]);
        return 2;
    }
    for (const char *p = o->only; p && *p;) {
        size_t len = strcspn(p, ",");
        bool known = false;
        for (size_t i = 0; i < bench_ndefs; i++)
            known |= strlen(bench_defs[i].name) == len &&
                     !strncmp(p, bench_defs[i].name, len);
        if (!known) {
            warnx_("unknown benchmark '%.*s' in --only", (int)len, p);
            return 2;
        }
        p += len + (p[len] == ',');
    }
    for (const char *p = o->engines; p && *p;) {
        size_t len = strcspn(p, ",");
        bool known = false;
        for (int i = 0; engine_names[i]; i++)
            known |= strlen(engine_names[i]) == len && !strncmp(p, engine_names[i], len);
        if (!known) {
            warnx_("unknown engine '%.*s' in --engines (known: kvm, interp, bt)",
                   (int)len, p);
            return 2;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

int bench_main(int argc, char **argv)
{
    static struct bench_run run;
    struct bench_run *r = &run;
    memset(r, 0, sizeof(*r));
    bench_fmt(r->command, sizeof(r->command), "popek");
    for (int i = 0; i < argc; i++) {
        size_t l = strlen(r->command);
        bench_fmt(r->command + l, sizeof(r->command) - l, " %s", argv[i]);
    }
    int rc = parse_opts(argc, argv, &r->o);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!r->o.reps)
        r->o.reps = r->o.quick ? 3 : 5;
    if (!r->o.target_s)
        r->o.target_s = r->o.quick ? 0.2 : 1.0;
    if (!r->o.out_dir)
        r->o.out_dir = "bench/results";
    ssize_t l = readlink("/proc/self/exe", r->popek_exe, sizeof(r->popek_exe) - 1);
    if (l <= 0) {
        warnx_("cannot find my own binary: %s", strerror(errno));
        return 10;
    }
    r->popek_exe[l] = 0;
    static char build_dir[4096];
    if (!r->o.build_dir) {
        bench_fmt(build_dir, sizeof(build_dir), "%s", r->popek_exe);
        char *slash = strrchr(build_dir, '/');
        if (slash)
            *slash = 0;
        r->o.build_dir = build_dir;
    }
    if (mkdir(r->o.out_dir, 0777) < 0 && errno != EEXIST) {
        warnx_("cannot create %s: %s", r->o.out_dir, strerror(errno));
        return 10;
    }
    r->tsc_hz = bench_tsc_hz();
    describe_machine(r);
    fprintf(stderr, "bench: %s\n", r->machine);
    setup_targets(r);
    for (int i = 0; i < r->ntargets; i++) {
        struct target *t = &r->targets[i];
        if (!t->runnable) {
            fprintf(stderr, "bench: %s not runnable: %s\n", t->id, t->why);
            continue;
        }
        probe_tsc(r, t);
        fprintf(stderr, "bench: %s: %s\n", t->id, t->tsc_note);
    }
    if (bench_ndefs > BENCH_MAX_ROWS) {
        warnx_("too many benchmarks for BENCH_MAX_ROWS");
        return 10;
    }
    for (size_t di = 0; di < bench_ndefs; di++)
        r->row_on[di] = list_has(r->o.only, bench_defs[di].name);
    bench_linux_detect(r);
    r->cells = calloc(bench_ndefs * BENCH_MAX_TARGETS, sizeof(struct cell));
    if (!r->cells)
        return 10;
    uint64_t t0 = clock_ns();
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct bench_def *d = &bench_defs[di];
        for (int ti = 0; ti < r->ntargets; ti++) {
            const struct target *t = &r->targets[ti];
            struct cell *c = bench_cell(r, di, ti);
            if (!t->runnable)
                not_runnable(c, t->why);
            else if (t->kind == TK_NATIVE && d->native_why)
                not_runnable(c, d->native_why);
            else if (d->kind == BK_LINUX && t->kind != TK_NATIVE)
                bench_linux_measure(r, di, ti);
            else
                measure(r, di, ti);
        }
    }
    fprintf(stderr, "bench: measured in %.0f s\n", (double)(clock_ns() - t0) / 1e9);

    char path[4200];
    int bad = 0;
    bench_fmt(path, sizeof(path), "%s/results.json", r->o.out_dir);
    bad |= bench_write_json(r, path) < 0;
    bench_fmt(path, sizeof(path), "%s/results.csv", r->o.out_dir);
    bad |= bench_write_csv(r, path) < 0;
    bench_fmt(path, sizeof(path), "%s/results.md", r->o.out_dir);
    bad |= bench_write_md(r, path, stdout) < 0;
    char why[256];
    if (bench_plot(r, r->o.out_dir, why, sizeof(why)) < 0)
        fprintf(stderr, "bench: no plot: %s\n", why);
    if (bad)
        fprintf(stderr, "bench: %s\n", popek_error());
    int failed = 0;
    for (size_t i = 0; i < bench_ndefs * BENCH_MAX_TARGETS; i++)
        failed += r->cells[i].status == CELL_FAILED;
    fprintf(stderr, "bench: results in %s/results.{json,csv,md,png}%s\n",
            r->o.out_dir, failed ? " (some runs FAILED: see the table)" : "");
    free(r->cells);
    return bad ? 10 : failed ? 1 : 0;
}
