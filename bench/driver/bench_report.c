/* bench_report.c - the reports of `popek bench`: results.json (everything,
 * for tools), results.csv (one line per cell), and results.md (the table a
 * person reads: one row per benchmark, one column per target, medians with
 * the ratio to native, the paper's figures as reference rows beneath, and
 * every not-runnable or failed cell's reason as a numbered note). */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../src/core/util.h"

#ifndef POPEK_VERSION
#define POPEK_VERSION "0.1.0"
#endif

static const char *status_name(enum cell_status s)
{
    return s == CELL_OK ? "ok" : s == CELL_FAILED ? "failed" : "not_runnable";
}

static const char *kind_name(enum target_kind k)
{
    return k == TK_NATIVE ? "native" : k == TK_POPEK ? "popek" : "qemu";
}

/* The native median of row di, or 0 if there is none. */
static double native_of(struct bench_run *r, size_t di)
{
    for (int t = 0; t < r->ntargets; t++) {
        struct cell *c = bench_cell(r, di, t);
        if (r->targets[t].kind == TK_NATIVE && c->status == CELL_OK && c->median > 0)
            return c->median;
    }
    return 0;
}

static double paper_value(const struct paper_ref *p, const char *col)
{
    if (!col || !p->unit)
        return -1;
    if (!strcmp(col, "native"))
        return p->native;
    if (!strcmp(col, "software"))
        return p->software;
    if (!strcmp(col, "hardware"))
        return p->hardware;
    return -1;
}

int bench_write_json(struct bench_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("cannot write %s: %s", path, strerror(errno));
    struct json j;
    json_begin(&j, f);
    json_str(&j, "tool", "popek bench");
    json_str(&j, "popek_version", POPEK_VERSION);
    json_str(&j, "date", r->started);
    json_str(&j, "command", r->command);
    json_str(&j, "machine", r->machine);
    json_f64(&j, "tsc_hz", r->tsc_hz);
    json_u64(&j, "reps", (uint64_t)r->o.reps);
    json_f64(&j, "target_run_seconds", r->o.target_s);
    json_bool(&j, "quick", r->o.quick);
    json_str(&j, "linux_status", r->linux_status[0] ? r->linux_status : "found");
    json_str(&j, "paper", "Adams & Agesen, A Comparison of Software and Hardware "
                          "Techniques for x86 Virtualization, ASPLOS 2006 "
                          "(Pentium 4, VMware software and hardware VMMs)");
    json_arr_begin(&j, "targets");
    for (int t = 0; t < r->ntargets; t++) {
        const struct target *tg = &r->targets[t];
        json_obj_begin(&j, NULL);
        json_str(&j, "id", tg->id);
        json_str(&j, "label", tg->label);
        json_str(&j, "kind", kind_name(tg->kind));
        json_bool(&j, "runnable", tg->runnable);
        if (!tg->runnable)
            json_str(&j, "why", tg->why);
        if (tg->paper)
            json_str(&j, "paper_column", tg->paper);
        if (tg->runnable) {
            json_f64(&j, "guest_tsc_hz", tg->guest_tsc_hz);
            json_f64(&j, "tsc_scale", tg->tsc_scale);
            json_str(&j, "tsc_note", tg->tsc_note);
        }
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_arr_begin(&j, "benchmarks");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct bench_def *d = &bench_defs[di];
        double native = native_of(r, di);
        json_obj_begin(&j, NULL);
        json_str(&j, "name", d->name);
        json_str(&j, "title", d->title);
        json_str(&j, "unit", d->unit);
        if (d->paper.unit) {
            json_obj_begin(&j, "paper");
            json_str(&j, "unit", d->paper.unit);
            if (d->paper.native >= 0) json_f64(&j, "native", d->paper.native);
            if (d->paper.software >= 0) json_f64(&j, "software_vmm", d->paper.software);
            if (d->paper.hardware >= 0) json_f64(&j, "hardware_vmm", d->paper.hardware);
            json_obj_end(&j);
        }
        json_arr_begin(&j, "results");
        for (int t = 0; t < r->ntargets; t++) {
            struct cell *c = bench_cell(r, di, t);
            json_obj_begin(&j, NULL);
            json_str(&j, "target", r->targets[t].id);
            json_str(&j, "status", status_name(c->status));
            if (c->status != CELL_OK) {
                json_str(&j, "why", c->why);
            } else {
                json_u64(&j, "n", c->n);
                json_u64(&j, "reps", (uint64_t)c->reps);
                json_arr_begin(&j, "values");
                for (int i = 0; i < c->reps; i++)
                    json_f64(&j, NULL, c->v[i]);
                json_arr_end(&j);
                json_f64(&j, "median", c->median);
                json_f64(&j, "min", c->min);
                json_f64(&j, "max", c->max);
                json_f64(&j, "q1", c->q1);
                json_f64(&j, "q3", c->q3);
                if (native > 0)
                    json_f64(&j, "ratio_to_native", c->median / native);
                if (c->note[0])
                    json_str(&j, "note", c->note);
            }
            json_f64(&j, "wall_seconds", c->wall_s);
            json_obj_end(&j);
        }
        json_arr_end(&j);
        json_obj_end(&j);
    }
    json_arr_end(&j);
    json_end(&j);
    if (fclose(f) != 0)
        return fail("cannot write %s: %s", path, strerror(errno));
    return 0;
}

static void csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int bench_write_csv(struct bench_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("cannot write %s: %s", path, strerror(errno));
    fprintf(f, "benchmark,unit,target,status,n,reps,median,min,max,q1,q3,"
               "ratio_to_native,note,why\n");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct bench_def *d = &bench_defs[di];
        double native = native_of(r, di);
        for (int t = 0; t < r->ntargets; t++) {
            struct cell *c = bench_cell(r, di, t);
            fprintf(f, "%s,%s,%s,%s,", d->name, d->unit, r->targets[t].id,
                    status_name(c->status));
            if (c->status == CELL_OK) {
                fprintf(f, "%u,%d,%.6g,%.6g,%.6g,%.6g,%.6g,", c->n, c->reps,
                        c->median, c->min, c->max, c->q1, c->q3);
                if (native > 0)
                    fprintf(f, "%.4g", c->median / native);
            } else {
                fprintf(f, ",,,,,,,");
            }
            fputc(',', f);
            csv_str(f, c->note);
            fputc(',', f);
            csv_str(f, c->status == CELL_OK ? "" : c->why);
            fputc('\n', f);
        }
    }
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct paper_ref *p = &bench_defs[di].paper;
        if (!p->unit)
            continue;
        const char *cols[] = {"native", "software", "hardware"};
        for (int i = 0; i < 3; i++) {
            double v = paper_value(p, cols[i]);
            if (v >= 0)
                fprintf(f, "%s,%s,paper-%s,reference,,,%.6g,,,,,,\"Adams & Agesen "
                           "2006, Pentium 4\",\n", bench_defs[di].name, p->unit,
                        cols[i], v);
        }
    }
    if (fclose(f) != 0)
        return fail("cannot write %s: %s", path, strerror(errno));
    return 0;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (v >= 1000)
        bench_fmt(buf, n, "%.0f", v);
    else if (v >= 10)
        bench_fmt(buf, n, "%.1f", v);
    else
        bench_fmt(buf, n, "%.2f", v);
}

static void fmt_ratio(char *buf, size_t n, double v)
{
    if (v >= 10)
        bench_fmt(buf, n, "%.0f×", v);
    else
        bench_fmt(buf, n, "%.2g×", v);
}

/* Numbered notes for the reasons of cells that did not produce a value. */
struct notes {
    const char *why[64];
    int n;
};

static int note_of(struct notes *ns, const char *why)
{
    for (int i = 0; i < ns->n; i++)
        if (!strcmp(ns->why[i], why))
            return i + 1;
    if (ns->n == 64)
        return 64;
    ns->why[ns->n++] = why;
    return ns->n;
}

static void md_table(struct bench_run *r, FILE *f, struct notes *ns)
{
    fprintf(f, "| benchmark | unit |");
    for (int t = 0; t < r->ntargets; t++)
        fprintf(f, " %s |", r->targets[t].label);
    fprintf(f, "\n|---|---|");
    for (int t = 0; t < r->ntargets; t++)
        fprintf(f, "---:|");
    fprintf(f, "\n");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct bench_def *d = &bench_defs[di];
        double native = native_of(r, di);
        fprintf(f, "| **%s** | %s |", d->name, d->unit);
        for (int t = 0; t < r->ntargets; t++) {
            struct cell *c = bench_cell(r, di, t);
            char v[32];
            if (c->status == CELL_OK) {
                fmt_num(v, sizeof(v), c->median);
                char ratio[32];
                if (native > 0 && r->targets[t].kind != TK_NATIVE) {
                    fmt_ratio(ratio, sizeof(ratio), c->median / native);
                    fprintf(f, " %s (%s) |", v, ratio);
                } else {
                    fprintf(f, " %s |", v);
                }
            } else {
                fprintf(f, " %s [%d] |",
                        c->status == CELL_FAILED ? "**failed**" : "n/r",
                        note_of(ns, c->why));
            }
        }
        fprintf(f, "\n");
        const struct paper_ref *p = &d->paper;
        if (!p->unit)
            continue;
        fprintf(f, "| ↳ *paper, P4* | %s |", strcmp(p->unit, "cycles") ? p->unit
                                                                     : "cycles/op");
        for (int t = 0; t < r->ntargets; t++) {
            double pv = paper_value(p, r->targets[t].paper);
            if (pv < 0) {
                fprintf(f, " |");
                continue;
            }
            char v[32];
            fmt_num(v, sizeof(v), pv);
            char ratio[32];
            fmt_ratio(ratio, sizeof(ratio), p->native > 0 ? pv / p->native : 0);
            if (p->native > 0 && r->targets[t].kind != TK_NATIVE)
                fprintf(f, " *%s (%s) %s* |", v, ratio, r->targets[t].paper);
            else
                fprintf(f, " *%s %s* |", v, r->targets[t].paper);
        }
        fprintf(f, "\n");
    }
}

int bench_write_md(struct bench_run *r, const char *path, FILE *also)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("cannot write %s: %s", path, strerror(errno));
    struct notes ns = {.n = 0};
    fprintf(f, "# popek benchmark results\n\n");
    fprintf(f, "Measured %s on: %s.  popek %s, `%s`.\n\n", r->started,
            r->machine, POPEK_VERSION, r->command);
    fprintf(f, "Each cell is the median of %d runs; N is scaled per target so "
               "that one run takes about %.2g s (see the detail table).  "
               "Cycles are the host TSC as read by `rdtsc` inside the guest "
               "(or the native process).  (×) = ratio to native on this "
               "machine.  Rows *paper, P4* are Adams & Agesen's figures "
               "(ASPLOS 2006: Pentium 4, VMware's software VMM = our `bt` "
               "column, its hardware-assisted VMM = our `kvm` column).  n/r = "
               "not runnable here, with the reason in the notes.\n\n",
            r->o.reps, r->o.target_s);
    md_table(r, f, &ns);
    if (ns.n) {
        fprintf(f, "\nNotes:\n\n");
        for (int i = 0; i < ns.n; i++)
            fprintf(f, "%d. %s\n", i + 1, ns.why[i]);
    }
    fprintf(f, "\nTargets:\n\n");
    for (int t = 0; t < r->ntargets; t++) {
        const struct target *tg = &r->targets[t];
        fprintf(f, "- %s: %s\n", tg->label,
                tg->runnable ? tg->tsc_note : tg->why);
    }
    fprintf(f, "\n## Detail\n\n| benchmark | target | N | runs | median | min "
               "| max | IQR | wall s | note |\n|---|---|---:|---:|---:|---:|---:"
               "|---|---:|---|\n");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        for (int t = 0; t < r->ntargets; t++) {
            struct cell *c = bench_cell(r, di, t);
            if (c->status != CELL_OK)
                continue;
            char med[32], mn[32], mx[32], q1[32], q3[32];
            fmt_num(med, sizeof(med), c->median);
            fmt_num(mn, sizeof(mn), c->min);
            fmt_num(mx, sizeof(mx), c->max);
            fmt_num(q1, sizeof(q1), c->q1);
            fmt_num(q3, sizeof(q3), c->q3);
            fprintf(f, "| %s | %s | %u | %d | %s | %s | %s | %s–%s | %.1f | %s |\n",
                    bench_defs[di].name, r->targets[t].id, c->n, c->reps, med, mn,
                    mx, q1, q3, c->wall_s, c->note);
        }
    }
    fprintf(f, "\nBenchmarks:\n\n");
    for (size_t di = 0; di < bench_ndefs; di++)
        if (r->row_on[di])
            fprintf(f, "- `%s`: %s\n", bench_defs[di].name, bench_defs[di].title);
    if (fclose(f) != 0)
        return fail("cannot write %s: %s", path, strerror(errno));
    if (also) {
        md_table(r, also, &ns);
        for (int i = 0; i < ns.n; i++)
            fprintf(also, "[%d] %s\n", i + 1, ns.why[i]);
    }
    return 0;
}
