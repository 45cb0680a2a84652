/* bench_plot.c - results.png for `popek bench`, in the style of the paper's
 * nanobenchmark figure: log-scale y, one group per benchmark, one bar per
 * target.  Top panel: this machine (every benchmark measured in cycles);
 * bottom panel: the paper's Pentium 4 figures.  Written as a gnuplot
 * script + data file in the results directory and rendered with gnuplot
 * (Debian gnuplot-nox, pngcairo or png terminal). */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../../src/core/util.h"

static bool plottable(const struct bench_def *d)
{
    return !strncmp(d->unit, "cycles", 6);
}

/* Colours by target, so that a paper column and ours compare at a glance:
 * native = native, bt = software VMM, kvm = hardware VMM. */
static const char *colour_of(const struct target *t)
{
    if (t->kind == TK_NATIVE)
        return "#7b3294";
    if (t->kind == TK_POPEK)
        return !strcmp(t->engine, "kvm") ? "#1b9e77"
               : !strcmp(t->engine, "bt") ? "#e7298a" : "#d95f02";
    return !strcmp(t->engine, "tcg") ? "#e6ab02" : "#377eb8";
}

/* Does target t have a value for some plotted benchmark? */
static bool has_values(struct bench_run *r, int t)
{
    for (size_t di = 0; di < bench_ndefs; di++)
        if (r->row_on[di] && plottable(&bench_defs[di]) &&
            bench_cell(r, di, t)->status == CELL_OK)
            return true;
    return false;
}

/* Writes the data of the targets with values; lists the others in `none`. */
static int write_data(struct bench_run *r, const char *path, int *cols,
                      int *ncols, char *none, size_t nn)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "benchmark");
    *ncols = 0;
    none[0] = 0;
    for (int t = 0; t < r->ntargets; t++) {
        if (has_values(r, t)) {
            fprintf(f, " \"%s\"", r->targets[t].label);
            cols[(*ncols)++] = t;
        } else {
            size_t l = strlen(none);
            bench_fmt(none + l, nn - l, "%s%s", l ? ", " : "", r->targets[t].label);
        }
    }
    fprintf(f, "\n");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct bench_def *d = &bench_defs[di];
        if (!plottable(d))
            continue;
        /* short labels: syscall_int80 -> int80 */
        const char *label = strncmp(d->name, "syscall_", 8) ? d->name : d->name + 8;
        fprintf(f, "\"%s%s\"", label, strcmp(d->unit, "cycles/op") ? " (/byte)" : "");
        for (int i = 0; i < *ncols; i++) {
            struct cell *c = bench_cell(r, di, cols[i]);
            if (c->status == CELL_OK && c->median > 0)
                fprintf(f, " %.6g", c->median);
            else
                fprintf(f, " ?");
        }
        fprintf(f, "\n");
    }
    return fclose(f);
}

static int write_paper(struct bench_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "benchmark \"native\" \"software VMM (cf. bt)\" \"hardware VMM (cf. kvm)\"\n");
    for (size_t di = 0; di < bench_ndefs; di++) {
        if (!r->row_on[di])
            continue;
        const struct paper_ref *p = &bench_defs[di].paper;
        if (!p->unit || strcmp(p->unit, "cycles"))
            continue;
        fprintf(f, "\"%s\"", bench_defs[di].name);
        const double v[3] = {p->native, p->software, p->hardware};
        for (int i = 0; i < 3; i++)
            v[i] > 0 ? fprintf(f, " %.6g", v[i]) : fprintf(f, " ?");
        fprintf(f, "\n");
    }
    return fclose(f);
}

int bench_plot(struct bench_run *r, const char *dir, char *why, size_t n)
{
    char data[4200], paper[4200], script[4200], png[4200];
    bench_fmt(data, sizeof(data), "%s/plot.dat", dir);
    bench_fmt(paper, sizeof(paper), "%s/plot_paper.dat", dir);
    bench_fmt(script, sizeof(script), "%s/plot.gp", dir);
    bench_fmt(png, sizeof(png), "%s/results.png", dir);
    int cols[BENCH_MAX_TARGETS], ncols;
    char none[512];
    if (write_data(r, data, cols, &ncols, none, sizeof(none)) != 0 ||
        write_paper(r, paper) != 0) {
        bench_fmt(why, n, "cannot write plot data in %s: %s", dir, strerror(errno));
        return -1;
    }
    if (ncols == 0) {
        bench_fmt(why, n, "no target produced a value to plot");
        return -1;
    }
    FILE *f = fopen(script, "w");
    if (!f) {
        bench_fmt(why, n, "cannot write %s: %s", script, strerror(errno));
        return -1;
    }
    fprintf(f,
        "# popek bench: the nanobenchmark figure (run: gnuplot %s)\n"
        "set terminal pngcairo size 1400,1000 font 'DejaVu Sans,11' noenhanced\n"
        "set output '%s'\n"
        "set datafile missing '?'\n"
        "set style data histograms\n"
        "set style histogram clustered gap 1\n"
        "set style fill solid 0.85 border -1\n"
        "set boxwidth 0.9\n"
        "set logscale y\n"
        "set yrange [1:*]\n"
        "set grid ytics\n"
        "set key outside right top vertical\n"
        "set ylabel 'cycles per op (log scale)'\n"
        "set xtics scale 0\n"
        "set multiplot layout 2,1\n"
        "set title \"popek bench, %s: median of %d runs (missing bar = not "
        "runnable or failed: see results.md)\\n%s%s%s\"\n",
        script, png, r->started, r->o.reps, r->machine,
        none[0] ? "\\nno values: " : "", none);
    fprintf(f, "plot ");
    for (int i = 0; i < ncols; i++)
        fprintf(f, "%s'%s' using %d:xtic(1) title columnheader(%d) lc rgb '%s'",
                i ? ", \\\n     " : "", data, i + 2, i + 2,
                colour_of(&r->targets[cols[i]]));
    fprintf(f, "\n"
        "set title 'Adams & Agesen, ASPLOS 2006 (Pentium 4; VMware software VMM "
        "and hardware-assisted VMM): cycles per op'\n"
        "plot '%s' using 2:xtic(1) title columnheader(2) lc rgb '#7b3294', \\\n"
        "     '%s' using 3:xtic(1) title columnheader(3) lc rgb '#e7298a', \\\n"
        "     '%s' using 4:xtic(1) title columnheader(4) lc rgb '#1b9e77'\n"
        "unset multiplot\n", paper, paper, paper);
    fclose(f);
    char *argv[] = {"gnuplot", script, NULL};
    struct proc_result pr;
    if (proc_run(argv, 60, NULL, &pr) < 0) {
        bench_fmt(why, n, "%s", popek_error());
        return -1;
    }
    int st = pr.status;
    if (st != 0) {
        bench_fmt(why, n, "gnuplot failed (status %d; install Debian gnuplot-nox): %s",
                  st, pr.err_tail);
        proc_result_free(&pr);
        return -1;
    }
    proc_result_free(&pr);
    return 0;
}
