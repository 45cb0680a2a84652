/* bench_engines.c - what popek's engines can do here, learned from outside:
 * the bench runs `popek engines` once and parses its lines ("NAME usable
 * key=value ..." or "NAME <why not>"), so the harness needs nothing from
 * inside the VMM binary. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/util.h"

#define MAX_ENGINES 8

struct bench_engine {
    char name[16];
    bool usable;
    char line[BENCH_WHY]; /* why not usable, or the key=value words */
};
static struct bench_engine engines[MAX_ENGINES];
static int nengines;
static const char *names[MAX_ENGINES + 1];

int bench_engines_load(const char *popek)
{
    char *argv[] = {(char *)popek, "engines", NULL};
    struct proc_result pr;
    if (proc_run(argv, 30, NULL, &pr) < 0 || pr.status != 0) {
        warnx_("cannot run '%s engines'", popek);
        proc_result_free(&pr);
        return -1;
    }
    nengines = 0;
    for (char *l = strtok(pr.out, "\n"); l && nengines < MAX_ENGINES;
         l = strtok(NULL, "\n")) {
        struct bench_engine *e = &engines[nengines];
        size_t n = strcspn(l, " ");
        if (!n || n >= sizeof(e->name))
            continue;
        memcpy(e->name, l, n);
        e->name[n] = 0;
        const char *rest = l + n + strspn(l + n, " ");
        e->usable = !strncmp(rest, "usable", 6) &&
                    (rest[6] == 0 || rest[6] == ' ');
        bench_fmt(e->line, sizeof(e->line), "%s",
                  e->usable ? rest + 6 + strspn(rest + 6, " ") : rest);
        names[nengines++] = e->name;
    }
    names[nengines] = NULL;
    proc_result_free(&pr);
    return nengines ? 0 : -1;
}

const char *const *bench_engine_names(void)
{
    return names;
}

static const struct bench_engine *find(const char *name)
{
    for (int i = 0; i < nengines; i++)
        if (!strcmp(engines[i].name, name))
            return &engines[i];
    return NULL;
}

bool bench_engine_usable(const char *name, char *why, size_t n)
{
    const struct bench_engine *e = find(name);
    if (!e) {
        bench_fmt(why, n, "popek has no engine '%s'", name);
        return false;
    }
    if (!e->usable)
        bench_fmt(why, n, "%s", e->line);
    return e->usable;
}

bool bench_engine_lacks(const char *name, const char *word)
{
    const struct bench_engine *e = find(name);
    if (!e || !e->usable)
        return false;
    const char *l = strstr(e->line, "limits=");
    if (!l)
        return false;
    l += 7;
    size_t n = strlen(word);
    while (*l && *l != ' ') {
        if (!strncmp(l, word, n) && (l[n] == ',' || l[n] == ' ' || !l[n]))
            return true;
        l = strchr(l, ',');
        if (!l)
            break;
        l++;
    }
    return false;
}
