/* SPDX-License-Identifier: MIT */
/*
 * The digest's text: a report built by hand, formatted, compared line by
 * line with what an operator should read (padding, ages, sizes, the
 * retention line in its three forms, the scheduler's counts and the jobs
 * it names); and the reading of a retention run's details.
 */
#include "testutil.h"

#include "jobs/digest.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

static int64_t T(const char *iso)
{
    int64_t t = 0;
    if (time_parse(iso, &t) != 0)
        fail_msg("bad time literal '%s'", iso);
    return t;
}

static struct digest_report sample(void)
{
    struct digest_report r = {0};
    r.now = T("2024-03-15T06:00:20Z");
    r.day_start = T("2024-03-15T00:00:00Z");
    r.signals = (struct signal_counts){.active = 3, .created = 5, .won = 2, .lost = 1};
    r.has_retention = true;
    r.retention_finished = T("2024-03-15T03:00:41Z");
    r.retention_status = xstrdup("ok");
    r.retention_message = xstrdup("pruned");
    digest_parse_deleted("{\"deleted\": {\"M15\": 1200, \"H1\": 0, \"backtests\": 3}}", &r.deleted,
                         &r.ndeleted);
    r.daemons = 1;
    r.njobs = 4;
    r.jobs = xcalloc(4, sizeof(*r.jobs));
    r.jobs[0] = (struct digest_job){.id = xstrdup("refresh_candles_M15"), .streak = 3};
    r.jobs[1] = (struct digest_job){.id = xstrdup("refresh_candles_H1"), .overdue = true};
    r.jobs[2] = (struct digest_job){.id = xstrdup("watch_alerts")};
    r.jobs[3] = (struct digest_job){.id = xstrdup("digest"), .paused = true};
    r.nseries = 3;
    r.series = xcalloc(3, sizeof(*r.series));
    r.series[0] = (struct digest_series){.source = xstrdup("twelvedata"),
                                         .symbol = xstrdup("XAU/USD"),
                                         .tf = TF_M15,
                                         .has_latest = true,
                                         .latest = T("2024-03-15T05:45:00Z"),
                                         .age = 20,
                                         .open_gaps = 2};
    r.series[1] = (struct digest_series){.source = xstrdup("twelvedata"),
                                         .symbol = xstrdup("XAU/USD"),
                                         .tf = TF_H1,
                                         .has_latest = true,
                                         .latest = T("2024-03-13T01:00:00Z"),
                                         .age = 2 * 86400 + 3 * 3600 + 59};
    r.series[2] = (struct digest_series){
        .source = xstrdup("kraken"), .symbol = xstrdup("BTC/USD"), .tf = TF_D1};
    r.open_gaps = 2;
    r.nproviders = 2;
    r.providers = xcalloc(2, sizeof(*r.providers));
    r.providers[0] =
        (struct digest_provider){.source = xstrdup("twelvedata"), .day_used = 412, .per_day = 800};
    r.providers[1] = (struct digest_provider){.source = xstrdup("kraken"), .day_used = 7};
    r.backend = "sqlite";
    r.db_size = 12897280;
    r.has_disk = true;
    r.disk_free = 43057418240ULL;
    r.disk_total = 107374182400ULL;
    return r;
}

static void test_format(void **state)
{
    struct digest_report r = sample();
    struct strbuf title = STRBUF_INIT, text = STRBUF_INIT;
    (void)state;

    digest_title(&r, &title);
    assert_string_equal(title.buf, "Health digest 2024-03-15 06:00 UTC");
    digest_format(&r, &text);
    assert_string_equal(
        text.buf,
        "Signals: 3 active, 5 new today\n"
        "Outcomes today: 2 won, 1 lost, 0 expired\n"
        "Retention: last run 2024-03-15 03:00 UTC, ok; deleted M15 1200, H1 0, backtests 3\n"
        "Scheduler: running (1 daemon); 4 jobs, 1 paused, 1 failing, 1 overdue\n"
        "  failing: refresh_candles_M15 (3 in a row)\n"
        "  overdue: refresh_candles_H1\n"
        "  paused: digest\n"
        "Latest candles:\n"
        "  twelvedata XAU/USD M15  2024-03-15 05:45 UTC  age 0m\n"
        "  twelvedata XAU/USD H1   2024-03-13 01:00 UTC  age 2d 03h\n"
        "  kraken     BTC/USD D1   none yet\n"
        "Open gaps: 2\n"
        "  twelvedata XAU/USD M15  2\n"
        "API credits today:\n"
        "  twelvedata 412 of 800\n"
        "  kraken     7\n"
        "Database: sqlite, 12.3 MiB (12897280 bytes); free disk 40.1 GiB of 100.0 GiB\n");
    digest_report_release(&r);
    strbuf_release(&title);
    strbuf_release(&text);
}

/* The lines that change with the state: no retention run, a failed one, no daemon, PostgreSQL. */
static void test_format_variants(void **state)
{
    struct digest_report r = sample();
    struct strbuf text = STRBUF_INIT;
    (void)state;

    r.has_retention = false;
    r.daemons = 0;
    r.backend = "postgresql";
    r.has_disk = false;
    r.db_size = 900;
    r.series[0].age = 3 * 3600 + 7 * 60;
    digest_format(&r, &text);
    assert_non_null(strstr(text.buf, "\nRetention: not run yet\n"));
    assert_non_null(strstr(text.buf, "\nScheduler: no daemon running; 4 jobs,"));
    assert_non_null(strstr(text.buf, "age 3h 07m\n"));
    assert_non_null(strstr(text.buf, "\nDatabase: postgresql, 900 B (900 bytes); free disk n/a\n"));

    strbuf_reset(&text);
    r.has_retention = true;
    r.daemons = 2;
    free(r.retention_status);
    r.retention_status = xstrdup("failed");
    free(r.retention_message);
    r.retention_message = xstrdup("database: disk full");
    for (size_t i = 0; i < r.ndeleted; i++)
        free(r.deleted[i].name);
    free(r.deleted);
    r.deleted = NULL;
    r.ndeleted = 0;
    digest_format(&r, &text);
    assert_non_null(strstr(
        text.buf, "\nRetention: last run 2024-03-15 03:00 UTC, failed: database: disk full\n"));
    assert_non_null(strstr(text.buf, "\nScheduler: running (2 daemons);"));
    digest_report_release(&r);
    strbuf_release(&text);
}

/* Nothing configured or stored: every section still says so. */
static void test_format_empty(void **state)
{
    struct digest_report r = {0};
    struct strbuf text = STRBUF_INIT;
    (void)state;
    r.now = T("2024-03-15T06:00:00Z");
    r.backend = "sqlite";
    digest_format(&r, &text);
    assert_string_equal(text.buf, "Signals: 0 active, 0 new today\n"
                                  "Outcomes today: 0 won, 0 lost, 0 expired\n"
                                  "Retention: not run yet\n"
                                  "Scheduler: no daemon running; 0 jobs, 0 paused, 0 failing, "
                                  "0 overdue\n"
                                  "Latest candles:\n"
                                  "  (no series configured)\n"
                                  "Open gaps: 0\n"
                                  "API credits today:\n"
                                  "  (no provider enabled)\n"
                                  "Database: sqlite, 0 B (0 bytes); free disk n/a\n");
    digest_report_release(&r);
    strbuf_release(&text);
}

static void expect_deleted(const char *details, const char *want)
{
    struct digest_count *v = NULL;
    size_t n = 0;
    struct strbuf got = STRBUF_INIT;
    digest_parse_deleted(details, &v, &n);
    for (size_t i = 0; i < n; i++) {
        strbuf_addf(&got, "%s%s=%lld", i ? " " : "", v[i].name, (long long)v[i].n);
        free(v[i].name);
    }
    free(v);
    if (strcmp(got.buf, want))
        fail_msg("details %s: got '%s', expected '%s'", details ? details : "(null)", got.buf,
                 want);
    strbuf_release(&got);
}

static void test_parse_deleted(void **state)
{
    (void)state;
    /* A "deleted" object: its integers, in the order written. */
    expect_deleted("{\"deleted\": {\"M15\": 5, \"H1\": 0, \"note\": \"x\", \"backtests\": 2}, "
                   "\"bytes_freed\": 4096}",
                   "M15=5 H1=0 backtests=2");
    /* deleted_<category> members. */
    expect_deleted("{\"deleted_M15\": 7, \"deleted_backtests\": 1, \"seconds\": 3}",
                   "M15=7 backtests=1");
    /* Otherwise every integer member. */
    expect_deleted("{\"M15\": 9, \"H1\": 4, \"dry_run\": false}", "M15=9 H1=4");
    /* Nothing usable. */
    expect_deleted("{}", "");
    expect_deleted("[1, 2]", "");
    expect_deleted("not json", "");
    expect_deleted(NULL, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_variants),
        cmocka_unit_test(test_format_empty),
        cmocka_unit_test(test_parse_deleted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
