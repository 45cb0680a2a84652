/* bench_macro.h - text parsing for popek-bench's macrobenchmarks
 * (bench_macro_parse.c; used by bench_macro.c and tested on its own by
 * tests/unit/test_bench_macro.c). */
#ifndef POPEK_BENCH_MACRO_H
#define POPEK_BENCH_MACRO_H
#include <stdbool.h>
#include <stddef.h>

/* The first line of out that is `prefix` alone or `prefix` and a space,
 * without its line end (serial consoles add \r). */
bool macro_find_line(const char *out, const char *prefix, char *line, size_t n);
/* The value of " key=value" in a line of space-separated fields. */
bool macro_field(const char *line, const char *key, char *val, size_t n);
bool macro_field_num(const char *line, const char *key, double *v);

/* What wrk reports (wrk --latency). */
struct wrk_result {
    double rps;                 /* Requests/sec */
    double lat_avg_ms, lat_p50_ms, lat_p99_ms; /* < 0 when absent */
    unsigned long long requests, socket_errors, bad_responses;
};
/* wrk's time units (us, ms, s, m, h) in milliseconds, < 0 if malformed. */
double macro_wrk_ms(const char *s);
/* Parse wrk's report: true when it has requests/s, a request count and the
 * mean latency. */
bool macro_wrk_parse(const char *out, struct wrk_result *w);

#endif
