/* bench_measure.c - one cell of `popek bench`: run a benchmark on a target
 * (native32, popek run of a guest, or QEMU), check its BENCH line (op count,
 * CRC-32 checksum against our own computation), then pick N from a
 * calibration run so that a run takes about --target seconds, and do the
 * measured runs. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/util.h"
#include "../guests/crc32_core.h"

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

enum run_result bench_run_once(struct bench_run *r, const struct bench_def *d,
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
        bench_fmt(native, sizeof(native), "%s", r->native_exe);
        argv[0] = native;
        argv[1] = (char *)d->name;
        argv[2] = nbuf;
        argv[3] = NULL;
        want_status = 0;
    } else {
        bench_guest_argv(t, elf, NULL, append, "128", tmo, argv);
    }
    if (t->kind == TK_POPEK && d->needs && bench_engine_lacks(t->engine, d->needs)) {
        bench_fmt(why, whyn, "needs %s, which popek %s lacks on this host "
                  "(see popek engines)", d->needs, t->engine);
        return RUN_SKIP;
    }
    if (t->kind != TK_NATIVE && !bench_file_exists(elf)) {
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

void bench_measure(struct bench_run *r, size_t di, int ti)
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
    enum run_result rr = bench_run_once(r, d, t, n0, calib_timeout, &bl, &wall, c->why,
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
        rr = bench_run_once(r, d, t, n, timeout, &bl, &wall, c->why, sizeof(c->why));
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

