/* log.c - the -d/-D diagnostic log (see log.h).  A line is formatted into
 * one buffer and written with a single fwrite under a lock, so lines from
 * the vCPU and the I/O thread never interleave. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"

unsigned popek_log_mask;

static FILE *log_file;             /* NULL: stderr */
static const char *log_engine = "-";
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
    const char *name;
    unsigned cat;
    const char *help;
} cats[] = {
    {"unimp", PLOG_UNIMP, "guest used a feature the engine does not implement"},
    {"guest_errors", PLOG_GUEST_ERRORS,
     "guest did something invalid (unclaimed port/MMIO access, ...)"},
    {"int", PLOG_INT, "interrupts injected into the vCPU"},
    {"exec", PLOG_EXEC, "engine exits to the run loop (very verbose)"},
    {"io", PLOG_IO, "port I/O traces (kvm)"},
};

static const char *cat_name(unsigned cat)
{
    for (size_t i = 0; i < ARRAY_SIZE(cats); i++)
        if (cats[i].cat & cat)
            return cats[i].name;
    return "log";
}

int log_parse(const char *list)
{
    unsigned mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        bool found = false;
        if (n == 4 && !strncmp(p, "help", 4)) {
            printf("log categories for -d (comma-separated; 'all', 'none'):\n");
            for (size_t i = 0; i < ARRAY_SIZE(cats); i++)
                printf("  %-13s %s\n", cats[i].name, cats[i].help);
            return 1;
        }
        if (n == 3 && !strncmp(p, "all", 3)) {
            for (size_t i = 0; i < ARRAY_SIZE(cats); i++)
                mask |= cats[i].cat;
            found = true;
        } else if (n == 4 && !strncmp(p, "none", 4)) {
            found = true;
        }
        for (size_t i = 0; !found && i < ARRAY_SIZE(cats); i++) {
            if (strlen(cats[i].name) == n && !strncmp(p, cats[i].name, n)) {
                mask |= cats[i].cat;
                found = true;
            }
        }
        if (!found)
            return fail("unknown log category '%.*s' in -d (try -d help)",
                        (int)n, p);
        p += n;
        if (*p == ',')
            p++;
    }
    popek_log_mask = mask;
    return 0;
}

void log_enable(unsigned c) { popek_log_mask |= c; }

int log_open_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return fail("cannot open log file %s: %m", path);
    setvbuf(f, NULL, _IOLBF, 0);
    log_close();
    log_file = f;
    return 0;
}

void log_close(void)
{
    if (log_file)
        fclose(log_file);
    log_file = NULL;
}

void log_set_engine(const char *name) { log_engine = name ? name : "-"; }

void plog(unsigned cat, const char *fmt, ...)
{
    if (!log_enabled(cat))
        return;
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "popek[%s] %s: ", log_engine,
                     cat_name(cat));
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(buf))
        n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf) - 1)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    pthread_mutex_lock(&log_lock);
    FILE *f = log_file ? log_file : stderr;
    fwrite(buf, 1, (size_t)n, f);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}
