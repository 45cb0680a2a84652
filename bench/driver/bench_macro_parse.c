/* bench_macro_parse.c - the text parsing of popek-bench's macrobenchmarks
 * (bench_macro.c), kept free of everything else so that
 * tests/unit/test_bench_macro.c can test it on fixed text: key=value fields
 * of the guest's lines ("BENCH name=disk_seqread ops=.. bytes=.. secs=..",
 * "MACRO-END compile status=0 check=..") and the report of wrk, the HTTP
 * load generator (requests per second and the latency percentiles). */
#include "bench_macro.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool macro_find_line(const char *out, const char *prefix, char *line, size_t n)
{
    size_t pl = strlen(prefix);
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
            len--;
        if (len >= pl && !strncmp(p, prefix, pl) &&
            (len == pl || p[pl] == ' ')) {
            if (len >= n)
                len = n - 1;
            memcpy(line, p, len);
            line[len] = 0;
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}

bool macro_field(const char *line, const char *key, char *val, size_t n)
{
    size_t kl = strlen(key);
    for (const char *p = line; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            size_t vl = len - kl - 1;
            if (vl >= n)
                vl = n - 1;
            memcpy(val, p + kl + 1, vl);
            val[vl] = 0;
            return true;
        }
        p += len;
    }
    return false;
}

bool macro_field_num(const char *line, const char *key, double *v)
{
    char s[64], *end;
    if (!macro_field(line, key, s, sizeof(s)) || !s[0])
        return false;
    *v = strtod(s, &end);
    return *end == 0;
}

/* "1.23ms", "850.12us", "2.01s", "3m" -> milliseconds; < 0 if malformed. */
double macro_wrk_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    if (!strncmp(end, "us", 2))
        return v / 1000;
    if (!strncmp(end, "ms", 2))
        return v;
    if (!strncmp(end, "s", 1))
        return v * 1000;
    if (!strncmp(end, "m", 1))
        return v * 60000;
    if (!strncmp(end, "h", 1))
        return v * 3600000;
    return -1;
}

bool macro_wrk_parse(const char *out, struct wrk_result *w)
{
    memset(w, 0, sizeof(*w));
    w->lat_avg_ms = w->lat_p50_ms = w->lat_p99_ms = -1;
    bool have_rps = false;
    for (const char *p = out; p && *p;) {
        const char *eol = strchr(p, '\n');
        char line[256];
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = 0;
        char *l = line;
        while (isspace((unsigned char)*l))
            l++;
        char a[64], b[64];
        double v;
        unsigned long long reqs;
        if (sscanf(l, "Requests/sec: %lf", &v) == 1) {
            w->rps = v;
            have_rps = true;
        } else if (sscanf(l, "Latency %63s", a) == 1 && w->lat_avg_ms < 0 &&
                   macro_wrk_ms(a) >= 0) {
            /* the Thread Stats line: Latency AVG STDEV MAX +/-STDEV */
            w->lat_avg_ms = macro_wrk_ms(a);
        } else if (sscanf(l, "50%% %63s", b) == 1) {
            w->lat_p50_ms = macro_wrk_ms(b);
        } else if (sscanf(l, "99%% %63s", b) == 1) {
            w->lat_p99_ms = macro_wrk_ms(b);
        } else if (sscanf(l, "%llu requests in", &reqs) == 1) {
            w->requests = reqs;
        } else if (sscanf(l, "Non-2xx or 3xx responses: %llu", &reqs) == 1) {
            w->bad_responses = reqs;
        } else if (!strncmp(l, "Socket errors:", 14)) {
            unsigned long long c = 0, r = 0, wr = 0, t = 0;
            if (sscanf(l, "Socket errors: connect %llu, read %llu, write %llu, timeout %llu",
                       &c, &r, &wr, &t) == 4)
                w->socket_errors = c + r + wr + t;
        }
        p = eol ? eol + 1 : NULL;
    }
    return have_rps && w->requests > 0 && w->lat_avg_ms >= 0;
}
