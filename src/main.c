/* main.c - popek's command line: `popek run ...` boots a guest on a chosen
 * engine, `popek engines` lists the engines and whether they are usable
 * here.  Flags follow QEMU and kvmtool where they overlap. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board/board.h"
#include "core/engine.h"
#include "core/machine.h"
#include "bench/bench.h"

#ifndef POPEK_VERSION
#define POPEK_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
        "usage: popek run [options]     boot a guest\n"
        "       popek engines           list engines and whether they work here\n"
        "       popek bench [options]   run the benchmark suite (popek bench --help)\n"
        "       popek --help | --version\n"
        "\n"
        "run options:\n"
        "  -e, --engine E      CPU engine: kvm, interp or bt (default kvm)\n"
        "  -k, --kernel F      multiboot ELF32/ELF64 kernel or Linux bzImage\n"
        "  -i, --initrd F      initrd (Linux) or first multiboot module\n"
        "  -a, --append S      kernel command line\n"
        "  -m, --mem SIZE      guest RAM, e.g. 256M or 1G (default 128M)\n"
        "      --stats FILE    write run statistics as JSON to FILE\n"
        "      --timeout SECS  stop the guest after SECS seconds (status 12)\n"
        "  -q, --quiet         don't print the reason when the guest resets\n"
        "      --disk F[,ro]   virtio-blk disk on raw image F (repeatable)\n"
        "      --net user[,hostfwd=tcp:HOSTADDR:HOSTPORT-:GUESTPORT]...\n"
        "                      virtio-net with user-mode networking (slirp)\n"
        "      --rng           virtio-rng fed by the host's getrandom\n"
        "\n"
        "The console is COM1 on stdio; Ctrl-A x quits.\n"
        "exit status: the guest's isa-debug-exit value v as (v<<1)|1;\n"
        "  0 guest reset/power-off, 2 bad usage or input, 4 triple fault,\n"
        "  6 guest halted with interrupts off, 8 unsupported guest operation,\n"
        "  10 engine or host error, 12 timeout, 14 quit from the console.\n");
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

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"engine", required_argument, 0, 'e'},
        {"kernel", required_argument, 0, 'k'},
        {"initrd", required_argument, 0, 'i'},
        {"append", required_argument, 0, 'a'},
        {"mem", required_argument, 0, 'm'},
        {"stats", required_argument, 0, 'S'},
        {"timeout", required_argument, 0, 'T'},
        {"quiet", no_argument, 0, 'q'},
        {"disk", required_argument, 0, 'B'},
        {"net", required_argument, 0, 'B'},
        {"rng", no_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct machine_config cfg = {.engine = "kvm", .ram_size = 128ull << 20};
    int c, li;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:k:i:a:m:qh", opts, &li)) != -1) {
        switch (c) {
        case 'e': cfg.engine = optarg; break;
        case 'k': cfg.kernel = optarg; break;
        case 'i': cfg.initrd = optarg; break;
        case 'a': cfg.append = optarg; break;
        case 'm':
            if (parse_mem_size(optarg, &cfg.ram_size) < 0) {
                warnx_("%s", popek_error());
                return ST_USAGE;
            }
            break;
        case 'S': cfg.stats_path = optarg; break;
        case 'T': {
            char *end;
            cfg.timeout_s = strtod(optarg, &end);
            if (*end || cfg.timeout_s <= 0) {
                warnx_("bad --timeout '%s'", optarg);
                return ST_USAGE;
            }
            break;
        }
        case 'q': cfg.quiet = true; break;
        case 'B': /* board devices: --disk, --net, --rng */
            if (pc_board_option(&cfg, opts[li].name, optarg) < 0) {
                warnx_("%s", popek_error());
                return ST_USAGE;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return ST_USAGE;
        }
    }
    if (optind < argc) {
        warnx_("unexpected argument '%s'", argv[optind]);
        return ST_USAGE;
    }
    if (machine_check_config(&cfg) < 0) {
        warnx_("%s", popek_error());
        return ST_USAGE;
    }
    /* A name popek doesn't know is a usage error; a known engine that is
     * not built or not usable here is reported by machine_create. */
    bool known = false;
    for (int i = 0; engine_names[i]; i++)
        known |= !strcmp(engine_names[i], cfg.engine);
    if (!known) {
        warnx_("unknown engine '%s' (choose kvm, interp or bt)", cfg.engine);
        return ST_USAGE;
    }
    struct machine *m = machine_create(&cfg);
    if (!m) {
        warnx_("%s", popek_error());
        return ST_HOST_ERROR;
    }
    int brc = pc_board_create(m);
    if (brc < 0) {
        warnx_("%s", popek_error());
        machine_destroy(m);
        return brc == -2 ? ST_USAGE : ST_HOST_ERROR;
    }
    if (pc_board_load(m) < 0) {
        warnx_("%s", popek_error());
        machine_destroy(m);
        return ST_USAGE;
    }
    int st = machine_run(m);
    machine_destroy(m);
    return st;
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
        return bench_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "engines"))
        return cmd_engines();
    warnx_("unknown command '%s' (try popek --help)", argv[1]);
    return ST_USAGE;
}
