/* test.h - a tiny unit-test harness for popek's host code.  Each test_*.c
 * is one binary; it prints "PASS name" / "FAIL name: why" / "SKIP name: why"
 * lines that tests/run_tests.sh counts. */
#ifndef POPEK_TEST_H
#define POPEK_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_now, test_skipped_now;
static int tests_pass, tests_fail, tests_skip;
static char test_why[512];

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond) && !test_failed_now) {                                   \
            test_failed_now = 1;                                             \
            snprintf(test_why, sizeof(test_why), "%s:%d: %s", __FILE__,       \
                     __LINE__, #cond);                                       \
        }                                                                    \
    } while (0)

#define CHECKF(cond, ...)                                                    \
    do {                                                                     \
        if (!(cond) && !test_failed_now) {                                   \
            test_failed_now = 1;                                             \
            int n_ = snprintf(test_why, sizeof(test_why), "%s:%d: ",          \
                              __FILE__, __LINE__);                           \
            snprintf(test_why + n_, sizeof(test_why) - (size_t)n_,           \
                     __VA_ARGS__);                                           \
        }                                                                    \
    } while (0)

#define SKIP(...)                                                            \
    do {                                                                     \
        test_skipped_now = 1;                                                \
        snprintf(test_why, sizeof(test_why), __VA_ARGS__);                   \
        return;                                                              \
    } while (0)

#define RUN(fn)                                                              \
    do {                                                                     \
        test_failed_now = test_skipped_now = 0;                              \
        test_why[0] = 0;                                                     \
        fn();                                                                \
        if (test_failed_now) {                                               \
            tests_fail++;                                                    \
            printf("FAIL %s: %s\n", #fn, test_why);                          \
        } else if (test_skipped_now) {                                       \
            tests_skip++;                                                    \
            printf("SKIP %s: %s\n", #fn, test_why);                          \
        } else {                                                             \
            tests_pass++;                                                    \
            printf("PASS %s\n", #fn);                                        \
        }                                                                    \
        fflush(stdout);                                                      \
    } while (0)

#define TEST_MAIN_END() return tests_fail ? 1 : 0

#endif
