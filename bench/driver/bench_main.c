/* bench_main.c - popek-bench (also `popek bench`, which runs it): a program
 * of its own that drives build/popek from outside, as it drives QEMU.
 * Parse the options, set up the columns
 * (bench_targets.c), then for every benchmark row and column either measure
 * it (bench_measure.c) or record why it cannot run here, and finally write
 * the reports (bench_report.c, bench_plot.c). */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../../src/core/util.h"

static void bench_usage(FILE *f)
{
    fprintf(f,
        "usage: popek-bench [options]   run the benchmark suite\n"
        "       (popek bench [options] runs this program)\n"
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
        "                     the directory of this program)\n"
        "  --popek F          the popek binary to measure (default: DIR/popek)\n"
        "  --linux-kernel F, --linux-initrd F, --linux-marker TEXT\n"
        "                     the Linux guest for the macrobenchmarks\n"
        "  --macro            also the macrobenchmarks on the Debian root\n"
        "                     filesystem (scripts/mkrootfs.sh): compile, web\n"
        "                     server, disk, network, forkwait, boot; --only macro\n"
        "                     runs only those\n"
        "  --macro-image F, --macro-initrd F, --macro-timeout SECS\n"
        "                     the Debian image (cache/debian-i386.img), its\n"
        "                     initramfs (cache/linux/initramfs-rootfs.gz), the\n"
        "                     limit for one boot (3600 s; quick 1800 s)\n"
        "  -v, --verbose      print every command run\n"
        "Writes DIR/results.{json,csv,md,png}.\n");
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
             bench_file_exists("/sys/module/kvm_pvm") ? ", /dev/kvm = kvm_pvm" : "");
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
        {"popek", required_argument, 0, 'P'},
        {"verbose", no_argument, 0, 'v'},
        {"macro", no_argument, 0, 'm'},
        {"macro-image", required_argument, 0, 'x'},
        {"macro-initrd", required_argument, 0, 'y'},
        {"macro-timeout", required_argument, 0, 'z'},
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
        case 'P': o->popek = optarg; break;
        case 'v': o->verbose = true; break;
        case 'm': o->macro = true; break;
        case 'x': o->macro_image = optarg; break;
        case 'y': o->macro_initrd = optarg; break;
        case 'z':
            o->macro_timeout_s = strtod(optarg, &end);
            if (*end || !(o->macro_timeout_s > 0) || o->macro_timeout_s > 86400) {
                warnx_("bad --macro-timeout '%s'", optarg);
                return 2;
            }
            break;
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
        bool known = len == 5 && !strncmp(p, "macro", 5);
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
        static const char *const engine_names[] = {"kvm", "interp", "bt",
                                                   NULL};
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

int main(int argc, char **argv)
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
    char self[4096];
    ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (l <= 0) {
        warnx_("cannot find my own binary: %s", strerror(errno));
        return 10;
    }
    self[l] = 0;
    static char build_dir[4096];
    if (!r->o.build_dir) {
        bench_fmt(build_dir, sizeof(build_dir), "%s", self);
        char *slash = strrchr(build_dir, '/');
        if (slash)
            *slash = 0;
        r->o.build_dir = build_dir;
    }
    /* The VMM under test: build/popek beside this program (--popek F). */
    if (r->o.popek)
        bench_fmt(r->popek_exe, sizeof(r->popek_exe), "%s", r->o.popek);
    else
        bench_fmt(r->popek_exe, sizeof(r->popek_exe), "%s/popek",
                  r->o.build_dir);
    if (bench_engines_load(r->popek_exe) < 0)
        return 10;
    if (mkdir(r->o.out_dir, 0777) < 0 && errno != EEXIST) {
        warnx_("cannot create %s: %s", r->o.out_dir, strerror(errno));
        return 10;
    }
    r->tsc_hz = bench_tsc_hz();
    describe_machine(r);
    fprintf(stderr, "bench: %s\n", r->machine);
    bench_setup_targets(r);
    if (bench_ndefs > BENCH_MAX_ROWS) {
        warnx_("too many benchmarks for BENCH_MAX_ROWS");
        return 10;
    }
    for (size_t di = 0; di < bench_ndefs; di++) {
        r->row_on[di] = bench_list_has(r->o.only, bench_defs[di].name);
        /* The Debian rows take minutes per engine: only when asked for,
         * by --macro or by name (or "macro") in --only. */
        if (bench_defs[di].kind == BK_MACRO)
            r->row_on[di] = r->o.only ? r->row_on[di] || bench_list_has(r->o.only, "macro")
                                      : r->o.macro;
    }
    bench_linux_detect(r);
    bench_macro_detect(r);
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
            else if (d->kind == BK_MACRO)
                bench_macro_measure(r, di, ti);
            else if (t->kind == TK_QEMU && !strncmp(d->name, "pv_", 3))
                not_runnable(c, "popek's hypercalls: QEMU has none");
            else if (d->kind == BK_LINUX && t->kind != TK_NATIVE)
                bench_linux_measure(r, di, ti);
            else
                bench_measure(r, di, ti);
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
