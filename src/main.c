/* main.c - popek's command line: `popek run ...` boots a guest on a chosen
 * engine, `popek engines` lists the engines and whether they are usable
 * here.  Flags follow QEMU and kvmtool where they overlap. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "board/board.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/machine.h"
#include "core/sandbox.h"
#include "loaders/loader.h"
#include "control/control.h"

#ifndef POPEK_VERSION
#define POPEK_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
        "usage: popek run [options]     boot a guest\n"
        "       popek engines           list engines and whether they work here\n"
        "       popek sandbox           list the system calls the sandbox allows\n"
        "       popek bench [options]   run the benchmark suite (popek bench --help)\n"
        "       popek --help | --version\n"
        "\n"
        "run options (QEMU's single-dash spellings work too: -kernel, -initrd,\n"
        "-append, -m; -nographic, -serial stdio, -no-reboot are accepted):\n"
        "  -e, --engine E      CPU engine: auto, kvm, interp or bt (default auto:\n"
        "                      kvm if it can run this guest here, else bt)\n"
        "  -k, --kernel F      multiboot ELF32/ELF64 kernel or Linux bzImage\n"
        "  -i, --initrd F      initrd (Linux) or first multiboot module\n"
        "  -a, --append S      kernel command line\n"
        "  -m, --mem SIZE      guest RAM, e.g. 256M or 1G (default 128M)\n"
        "      --stats FILE    write run statistics as JSON to FILE\n"
        "      --timeout SECS  stop the guest after SECS seconds (status 12)\n"
        "      --cpu LIST      paravirtual interfaces offered, comma-separated:\n"
        "                      kvm (KVM's CPUID leaves and kvmclock, as Linux's\n"
        "                      KVM guest support uses them: kvmclock and PV EOI),\n"
        "                      -kvmclock, -pv-eoi turn one off; default\n"
        "                      none (popek's own hypercalls are always there)\n"
        "      --ide F[,ro]    raw disk image as the next IDE drive (primary\n"
        "                      master, then slave); ,ro attaches it read-only\n"
        "  -d, --log LIST      diagnostic log categories (-d help lists them)\n"
        "  -D, --log-file F    write the -d log to F instead of stderr\n"
        "      --no-sandbox    don't install the seccomp filter (debugging)\n"
        "  -q, --quiet         don't print the reason when the guest resets\n"
        "  -v, --verbose       say which engine runs and why\n"
        "      --gdb tcp:[ADDR]:PORT  gdb remote stub (target remote ADDR:PORT)\n"
        "  -s                  the same as --gdb tcp::1234\n"
        "  -S                  stop before the first instruction (for gdb)\n"
        "      --monitor unix:PATH|stdio  JSON-lines monitor: status, stop,\n"
        "                      cont, info registers, info stats, quit,\n"
        "                      switch-engine (stdio: Ctrl-A c toggles)\n"
        "      --switch-engine-after SECS:ENGINE  move the running guest to\n"
        "                      ENGINE after SECS seconds (repeatable)\n"
        "      --disk F[,ro]   virtio-blk disk on raw image F (repeatable)\n"
        "      --net user[,hostfwd=tcp:HOSTADDR:HOSTPORT-:GUESTPORT]...\n"
        "                      virtio-net with user-mode networking (slirp)\n"
        "      --net tap,ifname=NAME\n"
        "                      virtio-net on the host's tap interface NAME\n"
        "      --rng           virtio-rng fed by the host's getrandom\n"
        "\n"
        "The console is COM1 on stdio; Ctrl-A x quits.\n"
        "exit status: the guest's isa-debug-exit value v as (v<<1)|1;\n"
        "  0 guest reset/power-off, 2 bad usage or input, 4 triple fault,\n"
        "  6 guest halted with interrupts off, 8 unsupported guest operation,\n"
        "  10 engine or host error (also a system call the sandbox forbids),\n"
        "  12 timeout, 14 quit (console Ctrl-A x, monitor quit, gdb kill),\n"
        "  16 stopped by a signal (SIGTERM, SIGINT, SIGHUP).\n");
}

static int cmd_engines(void)
{
    /* One line per engine: "NAME usable [key=value ...]" or "NAME <why
     * not>"; the test scripts read it. */
    for (int i = 0; engine_names[i]; i++) {
        const struct engine_ops *ops = engine_find(engine_names[i]);
        char desc[200] = "";
        if (ops && ops->describe)
            ops->describe(desc, sizeof(desc));
        printf("%-7s %s%s%s\n", engine_names[i], ops ? "usable" : popek_error(),
               desc[0] ? " " : "", desc);
    }
    return 0;
}

/* --cpu LIST: kvm, -kvm, kvmclock, -kvmclock, pv-eoi, -pv-eoi, none. */
static int parse_cpu(const char *list, struct machine_config *cfg)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save, *w = strtok_r(buf, ",", &save); w;
         w = strtok_r(NULL, ",", &save)) {
        bool on = *w != '-';
        const char *name = *w == '-' || *w == '+' ? w + 1 : w;
        if (!strcmp(name, "kvm")) {
            cfg->cpu_kvm = on;
            cfg->cpu_kvmclock = on;
            cfg->cpu_pv_eoi = on;
        } else if (!strcmp(name, "kvmclock")) {
            cfg->cpu_kvmclock = on;
        } else if (!strcmp(name, "pv-eoi")) {
            cfg->cpu_pv_eoi = on;
        } else if (!strcmp(name, "none")) {
            cfg->cpu_kvm = cfg->cpu_kvmclock = cfg->cpu_pv_eoi = false;
        } else {
            warnx_("unknown --cpu feature '%s' (known: kvm, kvmclock, pv-eoi, none; "
                   "'-' turns one off)", w);
            return -1;
        }
    }
    if (cfg->cpu_pv_eoi && !cfg->cpu_kvm) {
        warnx_("--cpu pv-eoi needs kvm (KVM's CPUID leaves announce it)");
        return -1;
    }
    if (cfg->cpu_kvmclock && !cfg->cpu_kvm) {
        warnx_("--cpu kvmclock needs kvm (KVM's CPUID leaves announce it)");
        return -1;
    }
    return 0;
}

/* Does the engine declare limit `what` in its describe() line? */
static bool engine_has_limit(const struct engine_ops *ops, const char *what)
{
    char desc[200] = "";
    if (ops->describe)
        ops->describe(desc, sizeof(desc));
    const char *l = strstr(desc, "limits=");
    if (!l)
        return false;
    l += 7;
    size_t n = strcspn(l, " ");
    for (const char *p = l; p < l + n;) {
        size_t k = strcspn(p, ", ");
        if (k == strlen(what) && !strncmp(p, what, k))
            return true;
        p += k + 1;
    }
    return false;
}

/* Choose the engine for --engine auto, or check that the one named can run
 * this kernel; before anything boots.  Returns 0, or a status with the
 * message printed. */
static int choose_engine(struct machine_config *cfg, char *why, size_t n)
{
    uint8_t *img = NULL;
    size_t len = 0;
    if (read_file(cfg->kernel, &img, &len) < 0) {
        warnx_("%s", popek_error());
        return ST_USAGE;
    }
    struct kernel_info ki;
    bool known = kernel_probe(img, len, &ki) == 0;
    free(img);
    if (!known) /* the loader explains what is wrong with the file */
        ki = (struct kernel_info){.format = "unknown"};
    const char *bits = ki.is64 ? "64-bit" : "32-bit";
    char kvm_why[256] = "";
    const struct engine_ops *kvm = engine_find("kvm");
    if (!kvm)
        snprintf(kvm_why, sizeof(kvm_why), "%s", popek_error());
    bool kvm_paging32 = kvm && engine_has_limit(kvm, "paging32");
    if (!strcmp(cfg->engine, "auto")) {
        if (kvm && !(kvm_paging32 && !ki.is64)) {
            cfg->engine = "kvm";
            snprintf(why, n, "auto: %s %s kernel, kvm is usable here",
                     bits, ki.format);
        } else if (ki.is64) {
            warnx_("%s: a 64-bit kernel needs kvm (the only engine with long "
                   "mode), and %s", cfg->kernel,
                   kvm ? "it cannot run it here" : kvm_why);
            return ST_USAGE;
        } else {
            cfg->engine = "bt";
            if (kvm)
                snprintf(why, n, "auto: %s %s kernel may use 32-bit paging, "
                         "which kvm's backend here lacks (limits=paging32)",
                         bits, ki.format);
            else
                snprintf(why, n, "auto: %s %s kernel; kvm: %s", bits,
                         ki.format, kvm_why);
        }
        cfg->engine_why = why;
        return 0;
    }
    const struct engine_ops *ops = engine_find(cfg->engine);
    if (!ops) {
        warnx_("%s", popek_error());
        return ST_HOST_ERROR;
    }
    if (ki.is64 && !(ops->caps & ENGINE_CAP_LONG_MODE)) {
        warnx_("%s is a 64-bit kernel: the %s engine has no long mode (use "
               "--engine kvm)", cfg->kernel, cfg->engine);
        return ST_USAGE;
    }
    if (ki.linux_kernel && !ki.is64 && engine_has_limit(ops, "paging32")) {
        warnx_("%s is a 32-bit Linux kernel, which turns on 32-bit paging: "
               "the %s engine cannot run it here (limits=paging32; use "
               "--engine bt)", cfg->kernel, cfg->engine);
        return ST_USAGE;
    }
    return 0;
}

/* --ide FILE[,ro]: the next free IDE drive (the ",ro" suffix is cut off
 * the argument in place). */
static int add_ide(struct machine_config *cfg, char *arg)
{
    if (cfg->n_ide >= (int)(sizeof(cfg->ide) / sizeof(cfg->ide[0]))) {
        warnx_("--ide %s: both IDE drives are taken", arg);
        return -1;
    }
    size_t n = strlen(arg);
    bool ro = n > 3 && !strcmp(arg + n - 3, ",ro");
    if (ro)
        arg[n - 3] = 0;
    if (!arg[0]) {
        warnx_("--ide needs a file name");
        return -1;
    }
    cfg->ide[cfg->n_ide].path = arg;
    cfg->ide[cfg->n_ide].ro = ro;
    cfg->n_ide++;
    return 0;
}

/* --timeout: a finite positive number of seconds. */
static int parse_timeout(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || !(v > 0) || v > 1e9)
        return fail("bad --timeout '%s': want a finite number of seconds "
                    "greater than 0", s);
    *out = v;
    return 0;
}

/* QEMU options a QEMU user may type: accepted when they mean what popek
 * does anyway, refused naming popek's flag otherwise.  Returns -1 if arg
 * is not one of them, else the number of argv words used (the status is
 * *st: 0 = carry on). */
static int qemu_option(int argc, char **argv, int i, int *st)
{
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    *st = 0;
    if (!strcmp(o, "-nographic") || !strcmp(o, "-no-reboot"))
        return 1; /* popek's console is COM1 on stdio; a reset ends popek */
    if (!strcmp(o, "-serial") || !strcmp(o, "-display")) {
        const char *ok = !strcmp(o, "-serial") ? "stdio" : "none";
        if (v && (!strcmp(v, ok) || (!strcmp(o, "-serial") &&
                                     !strcmp(v, "mon:stdio"))))
            return 2;
        warnx_("%s %s: popek's console is always COM1 on stdio (no other "
               "%s)", o, v ? v : "", o + 1);
        *st = ST_USAGE;
        return 1;
    }
    if (!strcmp(o, "-enable-kvm") || !strcmp(o, "-accel") ||
        !strcmp(o, "--accel") || !strcmp(o, "-machine") || !strcmp(o, "-M") ||
        !strcmp(o, "-cpu") || !strcmp(o, "-smp") || !strcmp(o, "-hda") ||
        !strcmp(o, "-drive") || !strcmp(o, "-device") || !strcmp(o, "-bios") ||
        !strcmp(o, "-netdev") || !strcmp(o, "-monitor")) {
        if (!strcmp(o, "-enable-kvm") || strstr(o, "accel"))
            warnx_("%s is QEMU's: popek chooses the CPU engine with --engine "
                   "(kvm, interp, bt or auto)", o);
        else
            warnx_("%s is a QEMU option popek does not have (popek --help "
                   "lists popek's)", o);
        *st = ST_USAGE;
        return 1;
    }
    return -1;
}

static int cmd_run(int argc, char **argv)
{
    enum { O_STATS = 256, O_TIMEOUT, O_NO_SANDBOX, O_TEST_SYSCALL, O_GDB,
           O_MONITOR, O_SWITCH };
    static const struct option opts[] = {
        {"engine", required_argument, 0, 'e'},
        {"kernel", required_argument, 0, 'k'},
        {"initrd", required_argument, 0, 'i'},
        {"append", required_argument, 0, 'a'},
        {"mem", required_argument, 0, 'm'},
        {"stats", required_argument, 0, O_STATS},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"log", required_argument, 0, 'd'},
        {"log-file", required_argument, 0, 'D'},
        {"no-sandbox", no_argument, 0, O_NO_SANDBOX},
        {"test-forbidden-syscall", no_argument, 0, O_TEST_SYSCALL},
        {"gdb", required_argument, 0, O_GDB},
        {"monitor", required_argument, 0, O_MONITOR},
        {"switch-engine-after", required_argument, 0, O_SWITCH},
        {"quiet", no_argument, 0, 'q'},
        {"cpu", required_argument, 0, 'C'},
        {"ide", required_argument, 0, 'I'},
        {"disk", required_argument, 0, 'B'},
        {"net", required_argument, 0, 'B'},
        {"rng", no_argument, 0, 'B'},
        {"verbose", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct machine_config cfg = {.engine = "auto", .ram_size = 128ull << 20,
                                 .sandbox = true};
    const char *log_path = NULL;
    struct control_config ctl = {0};
    /* QEMU's spellings first: drop the ones popek accepts as no-ops. */
    char **av = calloc((size_t)argc + 1, sizeof(*av));
    int ac = 0;
    if (!av)
        return ST_HOST_ERROR;
    for (int i = 0; i < argc; i++) {
        int st, used = i ? qemu_option(argc, argv, i, &st) : -1;
        if (used < 0) {
            av[ac++] = argv[i];
            continue;
        }
        if (st) {
            free(av);
            return st;
        }
        i += used - 1;
    }
    av[ac] = NULL;
    int c, li = 0, st = 0;
    optind = 1;
    opterr = 0;
    /* getopt_long_only: "-kernel F" is --kernel F, not -k ernel. */
    while (!st && (c = getopt_long_only(ac, av, ":e:k:i:a:m:d:D:qvhsS", opts,
                                        &li)) != -1) {
        switch (c) {
        case 'e': cfg.engine = optarg; break;
        case 'k': cfg.kernel = optarg; break;
        case 'i': cfg.initrd = optarg; break;
        case 'a': cfg.append = optarg; break;
        case 'm':
            if (parse_mem_size(optarg, &cfg.ram_size) < 0) {
                warnx_("%s", popek_error());
                st = ST_USAGE;
            }
            break;
        case O_STATS: cfg.stats_path = optarg; break;
        case O_TIMEOUT:
            if (parse_timeout(optarg, &cfg.timeout_s) < 0) {
                warnx_("%s", popek_error());
                st = ST_USAGE;
            }
            break;
        case 'd': {
            int r = log_parse(optarg);
            if (r < 0) {
                warnx_("%s", popek_error());
                st = ST_USAGE;
            } else if (r > 0) {
                free(av);
                return 0; /* -d help */
        case O_GDB: ctl.gdb = optarg; break;
        case 's': ctl.gdb = "tcp::1234"; break;
        case 'S': ctl.gdb_wait = true; break;
        case O_MONITOR: ctl.monitor = optarg; break;
        case O_SWITCH:
            if (control_parse_switch(&ctl, optarg) < 0) {
                warnx_("%s", popek_error());
                st = ST_USAGE;
            }
            break;
            }
            break;
        }
        case 'D': log_path = optarg; break;
        case O_NO_SANDBOX: cfg.sandbox = false; break;
        case O_TEST_SYSCALL: cfg.test_forbidden_syscall = true; break;
        case 'q': cfg.quiet = true; break;
        case 'B': /* board devices: --disk, --net, --rng */
            if (pc_board_option(&cfg, opts[li].name, optarg) < 0) {
                warnx_("%s", popek_error());
                st = ST_USAGE;
            }
            break;
        case 'C':
            if (parse_cpu(optarg, &cfg) < 0)
                st = ST_USAGE;
            break;
        case 'I':
            if (add_ide(&cfg, optarg) < 0)
                st = ST_USAGE;
            break;
        case 'v': cfg.verbose = true; break;
        case 'h': usage(stdout); free(av); return 0;
        case ':':
            warnx_("option '%s' needs an argument", av[optind - 1]);
            st = ST_USAGE;
            break;
        default:
            if (optopt)
                warnx_("unknown option '-%c' (popek --help lists the "
                       "options)", optopt);
            else
                warnx_("unknown option '%s' (popek --help lists the options)",
                       av[optind - 1]);
            st = ST_USAGE;
        }
    }
    if (!st && optind < ac) {
        warnx_("unexpected argument '%s'", av[optind]);
        st = ST_USAGE;
    }
    free(av);
    if (st)
        return st;
    if (machine_check_config(&cfg) < 0 || pc_board_check_config(&cfg) < 0) {
        warnx_("%s", popek_error());
        return ST_USAGE;
    }
    /* A name popek doesn't know is a usage error; a known engine that is
     * not built or not usable here is reported below. */
    bool known = !strcmp(cfg.engine, "auto");
    for (int i = 0; engine_names[i]; i++)
        known |= !strcmp(engine_names[i], cfg.engine);
    if (!known) {
        warnx_("unknown engine '%s' (choose auto, kvm, interp or bt)",
               cfg.engine);
        return ST_USAGE;
    }
    /* Output files are opened now, so that a bad path is found before the
     * guest runs (and the sandbox needs no open() later). */
    if (log_path && log_open_file(log_path) < 0) {
        warnx_("%s", popek_error());
        return ST_USAGE;
    }
    if (cfg.stats_path) {
        cfg.stats_file = fopen(cfg.stats_path, "w");
        if (!cfg.stats_file) {
            warnx_("cannot open --stats file %s: %s", cfg.stats_path,
                   strerror(errno));
            return ST_USAGE;
        }
    }
    char why[300] = "";
    st = choose_engine(&cfg, why, sizeof(why));
    if (st)
        goto out;
    struct machine *m = machine_create(&cfg);
    if (!m) {
        warnx_("%s", popek_error());
        st = ST_HOST_ERROR;
        goto out;
    }
    int brc = pc_board_create(m);
    if (brc < 0) {
        warnx_("%s", popek_error());
        machine_destroy(m);
        st = brc == -2 ? ST_USAGE : ST_HOST_ERROR;
        goto out;
    }
    if (pc_board_load(m) < 0) {
        warnx_("%s", popek_error());
        machine_destroy(m);
        st = ST_USAGE;
        goto out;
    }
    if (control_attach(m, &ctl) < 0) {
        warnx_("%s", popek_error());
        machine_destroy(m);
        st = ST_USAGE;
        goto out;
    }
    st = machine_run(m); /* writes and closes the stats file */
    control_finish(m, st);
    cfg.stats_file = m->cfg.stats_file;
    machine_destroy(m);
out:
    if (cfg.stats_file)
        fclose(cfg.stats_file);
    log_close();
    return st;
}

/* `popek bench ...` runs popek-bench, the benchmark harness, which lives
 * beside this binary (it is a program of its own: the VMM contains none of
 * it). */
static int run_bench(char **argv)
{
    char path[4096];
    ssize_t l = readlink("/proc/self/exe", path, sizeof(path) - 16);
    if (l <= 0) {
        warnx_("cannot find my own binary");
        return ST_HOST_ERROR;
    }
    path[l] = 0;
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "popek-bench");
    argv[0] = path;
    execv(path, argv);
    warnx_("cannot run %s: %s (make builds it)", path, strerror(errno));
    return ST_HOST_ERROR;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return ST_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("popek %s\n", POPEK_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench"))
        return run_bench(argv + 1);
    if (!strcmp(argv[1], "engines"))
        return cmd_engines();
    if (!strcmp(argv[1], "sandbox")) {
        sandbox_print();
        return 0;
    }
    warnx_("unknown command '%s' (try popek --help)", argv[1]);
    return ST_USAGE;
}
