/* bench.h - popek-bench, the benchmark suite of the paper's experiments: a
 * program of its own (bench/driver) that runs build/popek, the native
 * baselines and QEMU as child processes; nothing of it is in the VMM.
 * The rows are benchmarks (bench_defs.c: nanobenchmark guests in
 * bench/guests, the CRC-32 compute guest, Linux macrobenchmarks), the
 * columns are targets (native host baseline, each popek engine, QEMU peers).
 * bench_main.c measures every (row, column) it can by running child
 * processes (bench_proc.c) and parsing their BENCH lines; what cannot run is
 * recorded with its reason.  bench_report.c writes JSON/CSV/Markdown and
 * bench_plot.c the gnuplot figure. */
#ifndef POPEK_BENCH_H
#define POPEK_BENCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_MAX_REPS 32
#define BENCH_MAX_TARGETS 8
#define BENCH_MAX_ROWS 32
#define BENCH_WHY 320

/* ---- rows ---- */
enum bench_kind {
    BK_GUEST, /* a multiboot guest printing a BENCH line (+ native32) */
    BK_LINUX, /* needs the Linux guest (boot time / forkwait in Linux) */
    BK_MACRO, /* the Debian root filesystem (bench_macro.c, --macro) */
};

/* The paper's figures (Adams & Agesen 2006, Pentium 4 / VMware), < 0 when
 * the paper has none; in the paper's unit (paper_unit). */
struct paper_ref {
    double native, software, hardware;
    const char *unit;
};

struct bench_def {
    const char *name;        /* BENCH name=..., row id */
    const char *title;       /* human description */
    enum bench_kind kind;
    const char *guest;       /* guest ELF basename (BK_GUEST) */
    const char *native_why;  /* NULL: native32 has it; else why not */
    const char *unit;        /* unit of the measured values */
    bool per_40k_seconds;    /* show as seconds for 40,000 ops (forkwait) */
    uint32_t n_calib;        /* small N for the calibration run */
    uint32_t n_max;          /* largest N a guest/native run accepts */
    struct paper_ref paper;
    const char *needs;       /* a limit word an engine may lack (its
                              * `popek engines` limits=), or NULL */
};
extern const struct bench_def bench_defs[];
/* Does popek engine `name` declare the limit `word` (limits= in its
 * `popek engines` line, e.g. paging32 on kvm_pvm)? */
bool bench_engine_lacks(const char *name, const char *word);
extern const size_t bench_ndefs;

/* ---- columns ---- */
enum target_kind { TK_NATIVE, TK_POPEK, TK_QEMU };

struct target {
    char id[24];          /* "native", "kvm", "qemu-tcg", ... */
    char label[40];       /* column heading */
    enum target_kind kind;
    const char *engine;   /* popek engine name / qemu accel */
    const char *popek;    /* TK_POPEK: the popek binary */
    const char *paper;    /* paper column it compares with, or NULL */
    bool runnable;
    char why[BENCH_WHY];  /* why not runnable */
    /* The guest TSC: measured rate (bench_tsc guest), and the factor that
     * turns its cycles into host cycles (1 when it runs at the host rate). */
    double guest_tsc_hz, tsc_scale;
    char tsc_note[160];
    double startup_s;     /* wall time of a run beyond its timed work */
};

/* ---- cells ---- */
enum cell_status { CELL_OK, CELL_NOT_RUNNABLE, CELL_FAILED };

struct cell {
    enum cell_status status;
    char why[BENCH_WHY];
    uint32_t n;             /* ops per run */
    int reps;
    double v[BENCH_MAX_REPS]; /* measured values, in the row's unit */
    double median, min, max, q1, q3;
    double wall_s;          /* total wall time spent on this cell */
    char note[96];          /* e.g. "via=__kernel_vsyscall" */
};

struct bench_opts {
    const char *engines;    /* comma-separated popek engines, NULL = all */
    bool peers;
    const char *out_dir;
    int reps;
    bool quick;
    double target_s;        /* aimed-for duration of one measured run */
    const char *build_dir;  /* where guests/ and bench/native32 live */
    const char *only;       /* comma-separated benchmark names, NULL = all */
    const char *popek;      /* --popek: the VMM binary (default beside us) */
    const char *linux_kernel, *linux_initrd, *linux_marker;
    double linux_timeout_s;
    bool verbose;
    bool macro;             /* --macro: add the Debian macrobenchmark rows */
    const char *macro_image, *macro_initrd;
    double macro_timeout_s;
};

struct bench_run {
    struct bench_opts o;
    char popek_exe[4096];   /* the popek binary under test */
    char native_exe[4200];  /* bench/native32, or native64 where this host
                             * cannot run 32-bit programs */
    double tsc_hz;
    struct target targets[BENCH_MAX_TARGETS];
    int ntargets;
    struct cell *cells;     /* [def][target] */
    bool row_on[BENCH_MAX_ROWS]; /* rows selected (--only) */
    char machine[512];      /* one-line description of the host */
    char started[64];       /* UTC date */
    char command[512];      /* the popek bench command line */
    char linux_status[BENCH_WHY]; /* why Linux rows can't run, "" if they can */
    char macro_status[BENCH_WHY]; /* why the Debian rows can't, "" if they can */
};


static inline struct cell *bench_cell(struct bench_run *r, size_t def, int t)
{
    return &r->cells[def * BENCH_MAX_TARGETS + (size_t)t];
}

/* bench_engines.c: `popek engines`, run once and parsed. */
int bench_engines_load(const char *popek);
/* Names of popek's engines, NULL-terminated. */
const char *const *bench_engine_names(void);
/* Is engine name usable here?  If not, why says why. */
bool bench_engine_usable(const char *name, char *why, size_t n);

/* bench_targets.c */
bool bench_file_exists(const char *path);
/* Is name in the comma-separated list (NULL = everything)? */
bool bench_list_has(const char *list, const char *name);
/* Fill r->targets, probing each (QEMU works? guest TSC rate?). */
void bench_setup_targets(struct bench_run *r);
struct target;
/* argv (at most 32 entries, NULL-terminated) that boots `kernel` (with
 * `initrd` unless NULL) and command line `append` with mem_mib MiB of RAM
 * on popek target t (popek run ... --timeout tmo) or QEMU target t
 * (qemu-system-i386 -accel ..., isa-debug-exit, serial on stdio). */
void bench_guest_argv(const struct target *t, const char *kernel,
                      const char *initrd, const char *append,
                      const char *mem_mib, const char *tmo, char **argv);

/* bench_measure.c */
struct bench_line;
enum run_result { RUN_OK, RUN_SKIP, RUN_FAIL };
/* Run def on target t with n ops (timeout in seconds); on success fill bl
 * and *wall; otherwise why says what went wrong. */
enum run_result bench_run_once(struct bench_run *r, const struct bench_def *d,
                               const struct target *t, uint32_t n,
                               double timeout, struct bench_line *bl,
                               double *wall, char *why, size_t whyn);
/* Calibrate, then measure cell (def di, target ti). */
void bench_measure(struct bench_run *r, size_t di, int ti);

/* bench_proc.c: run argv with stdin from /dev/null, collect stdout (and the
 * tail of stderr), kill the child (its process group) after timeout_s.  If
 * stop_at is given, the child is killed as soon as that text appears in its
 * stdout and *stop_at_s is the wall time at which it did (else -1). */
struct proc_result {
    int status;             /* exit status; 128+sig if killed by a signal */
    bool timed_out, stopped_at_marker;
    double wall_s, marker_s;
    char *out;              /* stdout, NUL-terminated (malloc'd) */
    char err_tail[512];     /* last bytes of stderr */
};
int proc_run(char *const argv[], double timeout_s, const char *stop_at,
             struct proc_result *res);
/* Like proc_run, but only notes when `marker` appears (marker_s) unless
 * stop is set. */
int proc_run_marked(char *const argv[], double timeout_s, const char *marker,
                    bool stop, struct proc_result *res);
void proc_result_free(struct proc_result *res);

/* Find "BENCH name=<name> ..." in out and read its fields. */
struct bench_line {
    uint64_t ops, cycles;
    double cycles_per_op;
    char crc[16];
    char note[96];          /* other key=value fields (via=, insn=...) */
};
bool bench_parse(const char *out, const char *name, struct bench_line *bl);
/* "BENCH-SKIP name=<name> reason=..." -> the reason. */
bool bench_parse_skip(const char *out, const char *name, char *why, size_t n);

/* snprintf without gcc's truncation warnings: reasons and paths are
 * cut short on purpose when they do not fit. */
void bench_fmt(char *dst, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* bench_stats.c */
void bench_stats(struct cell *c);
double bench_tsc_hz(void);

/* bench_report.c / bench_plot.c */
int bench_write_json(struct bench_run *r, const char *path);
int bench_write_csv(struct bench_run *r, const char *path);
int bench_write_md(struct bench_run *r, const char *path, FILE *also);
int bench_plot(struct bench_run *r, const char *dir, char *why, size_t n);

/* bench_linux.c: find the Linux guest and measure the BK_LINUX rows. */
void bench_linux_detect(struct bench_run *r);
void bench_linux_measure(struct bench_run *r, size_t def, int t);

/* bench_macro.c: the Debian root filesystem's macrobenchmarks (BK_MACRO). */
void bench_macro_detect(struct bench_run *r);
void bench_macro_measure(struct bench_run *r, size_t def, int t);

#endif
