/* test_bench_macro.c - popek-bench's macrobenchmark parsing
 * (bench/driver/bench_macro_parse.c, compiled in here): the guest's
 * key=value lines, serial line ends, and wrk's report, including the cases
 * that must be refused (no requests, malformed units). */
#include "test.h"

#include "../../bench/driver/bench_macro_parse.c"

static const char wrk_out[] =
    "Running 10s test @ http://127.0.0.1:40123/index.html\n"
    "  1 threads and 4 connections\n"
    "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
    "    Latency     2.51ms  812.44us  19.87ms   91.20%\n"
    "    Req/Sec     1.60k   120.33     1.81k    72.00%\n"
    "  Latency Distribution\n"
    "     50%    2.37ms\n"
    "     75%    2.71ms\n"
    "     90%    3.12ms\n"
    "     99%    1.02s\n"
    "  15987 requests in 10.01s, 76.90MB read\n"
    "  Socket errors: connect 0, read 2, write 0, timeout 1\n"
    "Requests/sec:   1597.12\n"
    "Transfer/sec:      7.68MB\n";

static void test_wrk_report(void)
{
    struct wrk_result w;
    CHECK(macro_wrk_parse(wrk_out, &w));
    CHECKF(w.rps > 1597.11 && w.rps < 1597.13, "rps %f", w.rps);
    CHECKF(w.lat_avg_ms > 2.509 && w.lat_avg_ms < 2.511, "avg %f", w.lat_avg_ms);
    CHECKF(w.lat_p50_ms > 2.369 && w.lat_p50_ms < 2.371, "p50 %f", w.lat_p50_ms);
    CHECKF(w.lat_p99_ms > 1019.9 && w.lat_p99_ms < 1020.1, "p99 %f", w.lat_p99_ms);
    CHECK(w.requests == 15987);
    CHECK(w.socket_errors == 3);
    CHECK(w.bad_responses == 0);
}

static void test_wrk_refused(void)
{
    struct wrk_result w;
    /* wrk that could not connect: no requests, no latency */
    CHECK(!macro_wrk_parse("Running 4s test @ http://127.0.0.1:1/\n"
                           "  0 requests in 4.00s, 0.00B read\n"
                           "  Socket errors: connect 4, read 0, write 0, timeout 0\n"
                           "Requests/sec:      0.00\n", &w));
    CHECK(w.socket_errors == 4);
    CHECK(!macro_wrk_parse("", &w));
    CHECK(!macro_wrk_parse("unable to connect to 127.0.0.1:1 Connection refused\n", &w));
    /* non-2xx answers are counted */
    char buf[sizeof(wrk_out) + 64];
    snprintf(buf, sizeof(buf), "%s  Non-2xx or 3xx responses: 17\n", wrk_out);
    CHECK(macro_wrk_parse(buf, &w) && w.bad_responses == 17);
}

static void test_wrk_units(void)
{
    CHECK(macro_wrk_ms("850.00us") > 0.849 && macro_wrk_ms("850.00us") < 0.851);
    CHECK(macro_wrk_ms("3.00ms") == 3.0);
    CHECK(macro_wrk_ms("2.00s") == 2000.0);
    CHECK(macro_wrk_ms("1.50m") == 90000.0);
    CHECK(macro_wrk_ms("fast") < 0);
    CHECK(macro_wrk_ms("-1ms") < 0);
    CHECK(macro_wrk_ms("12xs") < 0);
}

static void test_guest_lines(void)
{
    const char *out = "[    3.1] virtio_blk virtio1: [vdb] 196608 512-byte logical blocks\r\n"
                      "MACRO-BEGIN compile\r\n"
                      "MACRO-END compile status=0 check=a1022612\r\n"
                      "BENCH name=disk_seqread ops=96 cycles=123 bytes=100663296 secs=2.0312\r\n"
                      "BENCH name=disk_seqreadx ops=1 cycles=1 bytes=1 secs=1\n";
    char line[256], v[32];
    double d;
    CHECK(macro_find_line(out, "MACRO-END compile", line, sizeof(line)));
    CHECK(!strcmp(line, "MACRO-END compile status=0 check=a1022612"));
    CHECK(macro_field(line, "check", v, sizeof(v)) && !strcmp(v, "a1022612"));
    CHECK(macro_field_num(line, "status", &d) && d == 0);
    CHECK(!macro_field(line, "compile", v, sizeof(v)));
    CHECK(!macro_field(line, "chec", v, sizeof(v)));
    CHECK(macro_find_line(out, "BENCH name=disk_seqread", line, sizeof(line)));
    CHECK(macro_field_num(line, "bytes", &d) && d == 100663296.0);
    CHECK(macro_field_num(line, "secs", &d) && d > 2.031 && d < 2.032);
    /* a prefix of a longer name is not that line */
    CHECK(!macro_find_line(out, "BENCH name=disk_seq", line, sizeof(line)));
    CHECK(!macro_find_line(out, "MACRO-DONE", line, sizeof(line)));
    /* numbers must be whole */
    CHECK(!macro_field_num("x secs=1.5q", "secs", &d));
    CHECK(!macro_field_num("x secs=", "secs", &d));
    /* a short buffer truncates, never overflows */
    char small[8];
    CHECK(macro_find_line(out, "MACRO-BEGIN", small, sizeof(small)) && strlen(small) == 7);
}

int main(void)
{
    RUN(test_wrk_report);
    RUN(test_wrk_refused);
    RUN(test_wrk_units);
    RUN(test_guest_lines);
    TEST_MAIN_END();
}
