/* SPDX-License-Identifier: MIT */
/* The metrics registry and its Prometheus text rendering. */
#include "testutil.h"

#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void render(struct metrics *m, struct strbuf *out)
{
    strbuf_reset(out);
    metrics_render(m, out);
}

static void test_null_registry(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_declare(NULL, "x_total", METRIC_COUNTER, "x");
    metrics_add(NULL, "x_total", NULL, 1);
    metrics_set(NULL, "g", "", 1);
    metrics_observe(NULL, "h_seconds", NULL, 1);
    assert_true(metrics_get(NULL, "x_total", NULL) == 0);
    metrics_render(NULL, &sb);
    assert_int_equal(sb.len, 0);
    metrics_free(NULL);

    /* An empty registry renders nothing. */
    struct metrics *m = metrics_new();
    metrics_render(m, &sb);
    assert_int_equal(sb.len, 0);
    metrics_free(m);
}

static void test_counter_and_gauge(void **state)
{
    struct metrics *m = metrics_new();
    (void)state;
    metrics_declare(m, "candles_total", METRIC_COUNTER, "Candles.");
    metrics_declare(m, "candles_total", METRIC_COUNTER, "Candles.");
    metrics_add(m, "candles_total", "symbol=\"A\"", 2);
    metrics_add(m, "candles_total", "symbol=\"A\"", 3);
    metrics_add(m, "candles_total", "symbol=\"B\"", 1);
    /* A counter never goes backwards. */
    metrics_add(m, "candles_total", "symbol=\"A\"", -10);
    assert_true(metrics_get(m, "candles_total", "symbol=\"A\"") == 5);
    assert_true(metrics_get(m, "candles_total", "symbol=\"B\"") == 1);
    assert_true(metrics_get(m, "candles_total", "symbol=\"C\"") == 0);
    assert_true(metrics_get(m, "nothing", NULL) == 0);

    metrics_declare(m, "queue", METRIC_GAUGE, "Queue length.");
    metrics_set(m, "queue", NULL, 7);
    metrics_add(m, "queue", "", -2);
    /* NULL and "" are the same (empty) label set. */
    assert_true(metrics_get(m, "queue", "") == 5);
    metrics_set(m, "queue", "", 1.5);
    assert_true(metrics_get(m, "queue", NULL) == 1.5);
    metrics_free(m);
}

static void test_render_exact(void **state)
{
    struct metrics *m = metrics_new();
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_declare(m, "b_gauge", METRIC_GAUGE, "A gauge\\with a backslash\nand a newline.");
    metrics_declare(m, "a_total", METRIC_COUNTER, "A counter.");
    metrics_declare(m, "c_empty", METRIC_COUNTER, "Declared, no series yet.");
    metrics_add(m, "a_total", "k=\"z\"", 1);
    metrics_add(m, "a_total", "k=\"a\"", 0.1);
    metrics_set(m, "b_gauge", NULL, 1e-9);
    render(m, &sb);
    assert_string_equal(sb.buf, "# HELP a_total A counter.\n"
                                "# TYPE a_total counter\n"
                                "a_total{k=\"a\"} 0.1\n"
                                "a_total{k=\"z\"} 1\n"
                                "# HELP b_gauge A gauge\\\\with a backslash\\nand a newline.\n"
                                "# TYPE b_gauge gauge\n"
                                "b_gauge 1e-09\n"
                                "# HELP c_empty Declared, no series yet.\n"
                                "# TYPE c_empty counter\n");
    strbuf_release(&sb);
    metrics_free(m);
}

static void test_histogram(void **state)
{
    struct metrics *m = metrics_new();
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_declare(m, "job_seconds", METRIC_HISTOGRAM, "Job durations.");
    metrics_observe(m, "job_seconds", "job=\"x\"", 0.003);
    metrics_observe(m, "job_seconds", "job=\"x\"", 0.005); /* le is inclusive */
    metrics_observe(m, "job_seconds", "job=\"x\"", 0.2);
    metrics_observe(m, "job_seconds", "job=\"x\"", 1000);
    metrics_observe(m, "job_seconds", "job=\"x\"", NAN); /* ignored */
    assert_true(metrics_get(m, "job_seconds", "job=\"x\"") == 4);
    render(m, &sb);
    assert_string_equal(sb.buf, "# HELP job_seconds Job durations.\n"
                                "# TYPE job_seconds histogram\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.005\"} 2\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.01\"} 2\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.025\"} 2\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.05\"} 2\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.1\"} 2\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.25\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"0.5\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"1\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"2.5\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"5\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"10\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"30\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"60\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"120\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"300\"} 3\n"
                                "job_seconds_bucket{job=\"x\",le=\"+Inf\"} 4\n"
                                "job_seconds_sum{job=\"x\"} 1000.208\n"
                                "job_seconds_count{job=\"x\"} 4\n");

    /* Without labels, le is the only one. */
    metrics_observe(m, "plain_seconds", NULL, 400);
    render(m, &sb);
    assert_non_null(strstr(sb.buf, "# TYPE plain_seconds histogram\n"));
    assert_non_null(strstr(sb.buf, "plain_seconds_bucket{le=\"300\"} 0\n"));
    assert_non_null(strstr(sb.buf, "plain_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(sb.buf, "plain_seconds_sum 400\n"));
    strbuf_release(&sb);
    metrics_free(m);
}

static void test_labels_escaping(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_labels(&sb, "source", "twelve\"data", "symbol", "XAU/USD\\x\ny", "empty", NULL, NULL);
    assert_string_equal(sb.buf, "source=\"twelve\\\"data\",symbol=\"XAU/USD\\\\x\\ny\",empty=\"\"");
    /* Appending to a non-empty label string continues the list. */
    metrics_labels(&sb, "le", "1", NULL);
    assert_string_equal(sb.buf + sb.len - 7, ",le=\"1\"");
    strbuf_reset(&sb);
    metrics_labels(&sb, NULL);
    assert_int_equal(sb.len, 0);
    strbuf_release(&sb);
}

static void test_undeclared_family(void **state)
{
    struct metrics *m = metrics_new();
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_add(m, "implied_total", NULL, 1);
    metrics_set(m, "implied_gauge", NULL, 2);
    metrics_observe(m, "implied_seconds", NULL, 0.01);
    render(m, &sb);
    assert_non_null(strstr(sb.buf, "# TYPE implied_total counter\nimplied_total 1\n"));
    assert_non_null(strstr(sb.buf, "# TYPE implied_gauge gauge\nimplied_gauge 2\n"));
    assert_non_null(strstr(sb.buf, "# TYPE implied_seconds histogram\n"));
    /* A later declaration gives the family its help text. */
    metrics_declare(m, "implied_total", METRIC_COUNTER, "Now described.");
    render(m, &sb);
    assert_non_null(strstr(sb.buf, "# HELP implied_total Now described.\n"));
    strbuf_release(&sb);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    struct metrics *m = metrics_new();
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    metrics_set(m, "g_inf", NULL, INFINITY);
    metrics_set(m, "g_ninf", NULL, -INFINITY);
    metrics_set(m, "g_nan", NULL, NAN);
    metrics_set(m, "g_big", NULL, 1700000000123.0);
    metrics_set(m, "g_third", NULL, 1.0 / 3.0);
    render(m, &sb);
    assert_non_null(strstr(sb.buf, "\ng_inf +Inf\n"));
    assert_non_null(strstr(sb.buf, "\ng_ninf -Inf\n"));
    assert_non_null(strstr(sb.buf, "\ng_nan NaN\n"));
    assert_non_null(strstr(sb.buf, "\ng_big 1700000000123\n"));
    /* Round-trips exactly. */
    const char *p = strstr(sb.buf, "\ng_third ");
    assert_non_null(p);
    assert_true(strtod(p + 9, NULL) == 1.0 / 3.0);
    strbuf_release(&sb);
    metrics_free(m);
}

#define NTHREADS 4
#define NADDS    20000

static void *hammer(void *arg)
{
    struct metrics *m = arg;
    char labels[32];
    for (int i = 0; i < NADDS; i++) {
        snprintf(labels, sizeof(labels), "n=\"%d\"", i % 50);
        metrics_add(m, "hits_total", "", 1);
        metrics_add(m, "spread_total", labels, 1);
        metrics_observe(m, "lat_seconds", NULL, 0.001);
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct metrics *m = metrics_new();
    pthread_t th[NTHREADS];
    struct strbuf sb = STRBUF_INIT;
    double spread = 0;
    (void)state;
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, m), 0);
    /* Render concurrently with the writers. */
    for (int i = 0; i < 20; i++)
        render(m, &sb);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    assert_true(metrics_get(m, "hits_total", NULL) == NTHREADS * NADDS);
    assert_true(metrics_get(m, "lat_seconds", NULL) == NTHREADS * NADDS);
    for (int i = 0; i < 50; i++) {
        char labels[32];
        snprintf(labels, sizeof(labels), "n=\"%d\"", i);
        spread += metrics_get(m, "spread_total", labels);
    }
    assert_true(spread == NTHREADS * NADDS);
    render(m, &sb);
    assert_non_null(strstr(sb.buf, "lat_seconds_bucket{le=\"0.005\"} 80000\n"));
    strbuf_release(&sb);
    metrics_free(m);
}

static void test_promtool(void **state)
{
    struct metrics *m = metrics_new();
    struct strbuf sb = STRBUF_INIT, report = STRBUF_INIT, lab = STRBUF_INIT;
    (void)state;
    metrics_declare(m, "candles_ingested_total", METRIC_COUNTER, "Candles stored, by series.");
    metrics_declare(m, "job_duration_seconds", METRIC_HISTOGRAM, "Duration of job runs.");
    metrics_declare(m, "job_failure_streak", METRIC_GAUGE, "Consecutive failed runs of each job.");
    metrics_labels(&lab, "source", "twelve\"data", "symbol", "XAU/USD\\", "timeframe", "M15", NULL);
    metrics_add(m, "candles_ingested_total", lab.buf, 96);
    metrics_observe(m, "job_duration_seconds", "job=\"refresh_candles_M15\"", 0.7);
    metrics_observe(m, "job_duration_seconds", "job=\"refresh_candles_H1\"", 12);
    metrics_set(m, "job_failure_streak", "job=\"refresh_candles_M15\"", 0);
    render(m, &sb);
    int rc = test_promtool_check(sb.buf, &report);
    if (rc != 0)
        fail_msg("promtool rejected the rendering (exit %d): %s\n%s", rc, report.buf, sb.buf);

    /* And it does reject broken text, so the check above means something. */
    strbuf_reset(&report);
    rc = test_promtool_check("# TYPE x counter\nx{a=\"1} 1\n", &report);
    assert_int_not_equal(rc, 0);

    strbuf_release(&lab);
    strbuf_release(&report);
    strbuf_release(&sb);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_registry),   cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_render_exact),    cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_labels_escaping), cmocka_unit_test(test_undeclared_family),
        cmocka_unit_test(test_special_values),  cmocka_unit_test(test_threads),
        cmocka_unit_test(test_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
