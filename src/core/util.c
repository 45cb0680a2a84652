/* util.c - error reporting, host clock, file reading, size parsing and the
 * small JSON writer used by --stats and the benchmark reports. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __thread char err_buf[512];

int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
    va_end(ap);
    return -1;
}

const char *popek_error(void) { return err_buf[0] ? err_buf : "unknown error"; }

void warnx_(const char *fmt, ...)
{
    va_list ap;
    fputs("popek: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

uint64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int read_file(const char *path, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return fail("%s: out of memory (%zu bytes)", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r <= 0) {
            free(p);
            close(fd);
            return fail("%s: read error", path);
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = n;
    return 0;
}

int parse_mem_size(const char *s, uint64_t *bytes)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return fail("bad memory size '%s'", s);
    uint64_t mul = 1ull << 20;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1ull << 10; break;
        case 'm': case 'M': mul = 1ull << 20; break;
        case 'g': case 'G': mul = 1ull << 30; break;
        default: return fail("bad memory size '%s' (use K, M or G)", s);
        }
        if (end[1] && !((end[1] == 'i' || end[1] == 'B') && (!end[2] || (end[1] == 'i' && end[2] == 'B' && !end[3]))))
            return fail("bad memory size '%s'", s);
    }
    if (v > (1ull << 40) / mul)
        return fail("memory size '%s' is too large", s);
    *bytes = v * mul;
    return 0;
}

/* ---- JSON ---- */
static void json_key(struct json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = true;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    if (key)
        fprintf(j->f, "\"%s\": ", key);
}

void json_begin(struct json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    fputc('{', f);
    j->depth = 1;
}

void json_obj_begin(struct json *j, const char *key)
{
    json_key(j, key);
    fputc('{', j->f);
    j->depth++;
    j->need_comma[j->depth] = false;
}

static void json_close(struct json *j, char c)
{
    j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    fputc(c, j->f);
}

void json_obj_end(struct json *j) { json_close(j, '}'); }

void json_arr_begin(struct json *j, const char *key)
{
    json_key(j, key);
    fputc('[', j->f);
    j->depth++;
    j->need_comma[j->depth] = false;
}

void json_arr_end(struct json *j) { json_close(j, ']'); }

void json_u64(struct json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_f64(struct json *j, const char *key, double v)
{
    json_key(j, key);
    fprintf(j->f, "%.6g", v);
}

void json_str(struct json *j, const char *key, const char *v)
{
    json_key(j, key);
    fputc('"', j->f);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(j->f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(j->f, "\\u%04x", *p);
        else
            fputc(*p, j->f);
    }
    fputc('"', j->f);
}

void json_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

void json_end(struct json *j)
{
    json_close(j, '}');
    fputc('\n', j->f);
    j->depth = 0;
}
