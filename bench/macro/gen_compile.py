#!/usr/bin/env python3
"""gen_compile.py OUTDIR - write the compile macrobenchmark's C project:
a fixed program of several files (about 3,000 lines: 10 modules, a shared
header and main.c) and its Makefile, generated deterministically (fixed
seed) so that every run builds the very same code.  Built with gcc and make
inside the Debian guest by bench/macro/run.sh, and on the host by make
(build/bench/macro/compile.expected), whose output - a 32-bit checksum of
what every function computed, on uint32_t only so that i386 and x86-64
agree - the guest's build must reproduce."""
import os
import random
import sys

MODULES = 10
FUNCS = 14


def gen_func(r, m, i):
    name = "m%02d_f%02d" % (m, i)
    kind = i % 6
    c = [r.randrange(1, 1 << 31) | 1 for _ in range(6)]
    out = []
    if kind == 0:
        k = r.randrange(50, 400)
        out += ["static uint32_t %s(uint32_t x)" % name, "{",
                "    uint32_t a = x ^ 0x%08xu;" % c[0],
                "    for (uint32_t i = 0; i < %du; i++) {" % k,
                "        a = a * 0x%08xu + (a >> %d) + i;" % (c[1], r.randrange(3, 29)),
                "        if (a & 0x%08xu)" % (1 << r.randrange(0, 31)),
                "            a ^= 0x%08xu;" % c[2],
                "        else",
                "            a = rotl32(a, %d);" % r.randrange(1, 31),
                "    }", "    return a;", "}"]
    elif kind == 1:
        n = r.randrange(12, 28)
        out += ["static uint32_t %s(uint32_t x)" % name, "{", "    switch (x %% %du) {" % n]
        for j in range(n):
            op = r.choice(["x * 0x%08xu", "x + 0x%08xu", "(x ^ 0x%08xu) >> 3",
                           "rotl32(x, 7) - 0x%08xu", "mix32(x + 0x%08xu)"])
            out += ["    case %d:" % j, "        return %s;" % (op % r.randrange(1, 1 << 31))]
        out += ["    default:", "        return x;", "    }", "}"]
    elif kind == 2:
        out += ["static uint32_t %s(uint32_t x)" % name, "{",
                "    struct rec_%02d v[%d];" % (m, r.randrange(8, 33)),
                "    uint32_t n = sizeof(v) / sizeof(v[0]), h = 0;",
                "    for (uint32_t i = 0; i < n; i++) {",
                "        v[i].a = x + i * 0x%08xu;" % c[0],
                "        v[i].b = mix32(v[i].a ^ 0x%08xu);" % c[1],
                "        v[i].c = (uint16_t)(v[i].b >> %d);" % r.randrange(0, 16),
                "        for (int j = 0; j < 8; j++)",
                "            v[i].d[j] = (uint8_t)(v[i].a >> (j * 3));",
                "    }",
                "    for (uint32_t i = 0; i < n; i++)",
                "        h = h * 31u + v[i].a + v[i].b + v[i].c + v[i].d[i % 8];",
                "    return h;", "}"]
    elif kind == 3:
        out += ["static uint32_t %s(uint32_t x)" % name, "{",
                "    char buf[96];",
                "    int len = snprintf(buf, sizeof(buf), \"%%u-%%x-%s-%%u\", x, x ^ 0x%08xu, x %% %du);"
                % (name, c[0], r.randrange(3, 1000)),
                "    uint32_t h = 2166136261u;",
                "    for (int i = 0; i < len; i++)",
                "        h = (h ^ (uint8_t)buf[i]) * 16777619u;",
                "    if (strchr(buf, '%s'))" % r.choice("0123456789abcdef"),
                "        h ^= (uint32_t)strlen(buf);",
                "    return h;", "}"]
    elif kind == 4:
        d = r.randrange(8, 14)
        out += ["static uint32_t %s_r(uint32_t x, int d)" % name, "{",
                "    if (d == 0)", "        return x;",
                "    if (x & 1)",
                "        return %s_r(x * 3u + 1u, d - 1) + %s_r(x >> 1, d - 2 < 0 ? 0 : d - 2);" % (name, name),
                "    return %s_r(x >> 1, d - 1) ^ 0x%08xu;" % (name, c[0]), "}", "",
                "static uint32_t %s(uint32_t x)" % name, "{",
                "    return %s_r(x | 1u, %d);" % (name, d), "}"]
    else:
        n = 32
        vals = ", ".join("0x%08xu" % r.randrange(0, 1 << 32) for _ in range(n))
        out += ["static const uint32_t %s_tbl[%d] = {%s};" % (name, n, vals), "",
                "static uint32_t %s(uint32_t x)" % name, "{", "    uint32_t h = x;",
                "    for (int i = 0; i < %d; i++)" % r.randrange(64, 256),
                "        h = %s_tbl[(h ^ (uint32_t)i) %% %du] + rotl32(h, %d);" % (name, n, r.randrange(1, 31)),
                "    return h;", "}"]
    return name, out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_compile.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    r = random.Random(20060121)  # fixed: the same project every time
    files = {}
    files["common.h"] = "\n".join([
        "/* common.h - shared by every module of the generated compile benchmark */",
        "#ifndef COMMON_H", "#define COMMON_H", "#include <stdint.h>", "#include <stdio.h>",
        "#include <string.h>", "",
        "static inline uint32_t rotl32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }",
        "static inline uint32_t mix32(uint32_t x)", "{",
        "    x ^= x >> 16;", "    x *= 0x7feb352du;", "    x ^= x >> 15;", "    x *= 0x846ca68bu;",
        "    x ^= x >> 16;", "    return x;", "}", ""] +
        ["uint32_t mod%02d_run(uint32_t seed);" % m for m in range(MODULES)] + ["", "#endif", ""])
    for m in range(MODULES):
        lines = ["/* mod%02d.c - generated by bench/macro/gen_compile.py */" % m,
                 '#include "common.h"', "",
                 "struct rec_%02d {" % m, "    uint32_t a, b;", "    uint16_t c;",
                 "    uint8_t d[8];", "};", ""]
        names = []
        for i in range(FUNCS):
            name, body = gen_func(r, m, i)
            names.append(name)
            lines += body + [""]
        lines += ["uint32_t mod%02d_run(uint32_t seed)" % m, "{", "    uint32_t h = seed;"]
        for n in names:
            lines.append("    h = mix32(h + %s(h));" % n)
        lines += ["    return h;", "}", ""]
        files["mod%02d.c" % m] = "\n".join(lines)
    main_c = ["/* main.c - generated by bench/macro/gen_compile.py: runs every module */",
              '#include "common.h"', "", "int main(void)", "{", "    uint32_t h = 1;"]
    for m in range(MODULES):
        main_c.append("    h = mod%02d_run(h ^ %du);" % (m, m))
    main_c += ['    printf("%08x\\n", h);', "    return 0;", "}", ""]
    files["main.c"] = "\n".join(main_c)
    objs = " ".join(["main.o"] + ["mod%02d.o" % m for m in range(MODULES)])
    files["Makefile"] = "\n".join([
        "# generated by bench/macro/gen_compile.py", "CC ?= gcc", "CFLAGS = -O2 -Wall",
        "OBJS = " + objs, "", "compiled: $(OBJS)", "\t$(CC) -o $@ $(OBJS)", "",
        "%.o: %.c common.h", "\t$(CC) $(CFLAGS) -c -o $@ $<", "",
        "clean:", "\trm -f compiled $(OBJS)", ""])
    for name, text in files.items():
        with open(os.path.join(outdir, name), "w") as f:
            f.write(text)


main()
