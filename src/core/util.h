/* util.h - small helpers shared by every part of popek: error reporting,
 * the host clock, and a minimal JSON writer for --stats and bench output. */
#ifndef POPEK_UTIL_H
#define POPEK_UTIL_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Record an error message (printf-style) and return -1.  The message is kept
 * until the next call; popek_error() returns it for the caller to print. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *popek_error(void);

/* Print "popek: <msg>" to stderr. */
void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Host monotonic clock in nanoseconds. */
uint64_t clock_ns(void);

/* Read a whole file into a malloc'd buffer; returns -1 with fail() set. */
int read_file(const char *path, uint8_t **buf, size_t *len);

/* Parse a memory size such as "256M", "1G", "65536K", "128" (MiB). */
int parse_mem_size(const char *s, uint64_t *bytes);

/* Minimal streaming JSON writer.  Keys/values are written in order; commas
 * are inserted automatically. */
struct json {
    FILE *f;
    int depth;
    bool need_comma[16];
};
void json_begin(struct json *j, FILE *f);
void json_obj_begin(struct json *j, const char *key); /* key may be NULL */
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j, const char *key);
void json_arr_end(struct json *j);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_f64(struct json *j, const char *key, double v);
void json_str(struct json *j, const char *key, const char *v);
void json_bool(struct json *j, const char *key, bool v);
void json_end(struct json *j);

#endif
