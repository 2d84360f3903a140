/* SPDX-License-Identifier: MIT */
/*
 * The rules of the health report (health/rules.h), table-driven: when a
 * job runs next, when it is overdue, how old a series is. Each row is
 * written by hand from the definition, not computed with the code under
 * test, so a rule that drifts shows as a wrong row.
 *
 * And where a provider's circuit comes from (health/health.h): the live
 * breaker once it has seen traffic, else the state recorded in the store,
 * so that a process without the breaker (`candlekeep status`) reports
 * what the daemon does. Those tests use the store, on every backend.
 *
 * And that a database which answers reads but takes no writes is not
 * reachable for /health and status (SQLite: the file made read-only).
 * Root ignores file modes, so as root the file is made immutable with
 * chattr(1), which root cannot write through either (ext4, xfs, btrfs;
 * the test skips, saying so, where the file system has no such flag).
 */
#include "testutil.h"

#include "health/health.h"
#include "health/rules.h"
#include "resilience/breaker.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

static int64_t T(const char *iso)
{
    int64_t t;
    if (time_parse(iso, &t))
        fail_msg("bad time '%s'", iso);
    return t;
}

static void test_next_run(void **state)
{
    static const struct {
        const char *cron, *last_fire, *now, *want; /* last_fire NULL: never fired; want NULL: -1 */
    } v[] = {
        /* The fire after the newest one handled, even when it is long past. */
        {"1,16,31,46 * * * *", "2024-03-13T10:16:00Z", "2024-03-13T10:20:00Z",
         "2024-03-13T10:31:00Z"},
        {"1,16,31,46 * * * *", "2024-03-13T10:16:00Z", "2024-03-14T00:00:00Z",
         "2024-03-13T10:31:00Z"},
        /* Never fired: the first fire after now. */
        {"1,16,31,46 * * * *", NULL, "2024-03-13T10:20:00Z", "2024-03-13T10:31:00Z"},
        {"0 3 * * *", NULL, "2024-03-13T03:00:00Z", "2024-03-14T03:00:00Z"},
        {"0 6 * * *", "2024-03-13T06:00:00Z", "2024-03-13T05:00:00Z", "2024-03-14T06:00:00Z"},
        /* A schedule that does not parse has no next run. */
        {"not a schedule", NULL, "2024-03-13T10:20:00Z", NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t got =
            health_job_next_run(v[i].cron, v[i].last_fire ? T(v[i].last_fire) : 0, T(v[i].now));
        int64_t want = v[i].want ? T(v[i].want) : -1;
        if (got != want)
            fail_msg("row %zu (%s): next run %lld, want %lld", i, v[i].cron, (long long)got,
                     (long long)want);
    }
}

static void test_overdue(void **state)
{
    static const struct {
        const char *next_run; /* NULL: none (-1) */
        int64_t period;
        bool paused;
        const char *now;
        bool want;
    } v[] = {
        /* Due, but not yet a whole period late. */
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:31:00Z", false},
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:46:00Z", false},
        /* One second past a whole period: overdue. */
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-13T10:46:01Z", true},
        {"2024-03-13T10:31:00Z", 900, false, "2024-03-14T00:00:00Z", true},
        /* A paused job is never overdue. */
        {"2024-03-13T10:31:00Z", 900, true, "2024-03-14T00:00:00Z", false},
        /* No next run: nothing to be late for. */
        {NULL, 900, false, "2024-03-14T00:00:00Z", false},
        /* A daily job: a day and a second late. */
        {"2024-03-13T03:00:00Z", 86400, false, "2024-03-14T02:59:59Z", false},
        {"2024-03-13T03:00:00Z", 86400, false, "2024-03-14T03:00:01Z", true},
        /* Next run in the future. */
        {"2024-03-14T03:00:00Z", 86400, false, "2024-03-13T03:00:00Z", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        bool got = health_job_overdue(v[i].next_run ? T(v[i].next_run) : -1, v[i].period,
                                      v[i].paused, T(v[i].now));
        if (got != v[i].want)
            fail_msg("row %zu: overdue %d, want %d", i, got, v[i].want);
    }
}

static void test_period(void **state)
{
    (void)state;
    assert_int_equal(health_job_period("1,16,31,46 * * * *", T("2024-03-13T10:20:00Z")), 900);
    assert_int_equal(health_job_period("0 3 * * *", T("2024-03-13T10:20:00Z")), 86400);
    assert_int_equal(health_job_period("1 */4 * * *", T("2024-03-13T10:20:00Z")), 4 * 3600);
    /* No schedule: a day, as the scheduler counts it. */
    assert_int_equal(health_job_period("bogus", T("2024-03-13T10:20:00Z")), 86400);
}

static void test_age(void **state)
{
    static const struct {
        enum timeframe tf;
        const char *latest, *now;
        int64_t want;
    } v[] = {
        /* Closed at 10:15, now 10:20: 5 minutes. */
        {TF_M15, "2024-03-13T10:00:00Z", "2024-03-13T10:20:00Z", 300},
        /* Closing exactly now: 0. */
        {TF_M15, "2024-03-13T10:00:00Z", "2024-03-13T10:15:00Z", 0},
        /* Still forming (closes at 10:30): 0, not -600. */
        {TF_M15, "2024-03-13T10:15:00Z", "2024-03-13T10:20:00Z", 0},
        /* A candle from the future (a clock ahead of ours): 0. */
        {TF_H1, "2024-03-13T12:00:00Z", "2024-03-13T10:20:00Z", 0},
        {TF_H1, "2024-03-13T08:00:00Z", "2024-03-13T10:20:00Z", 4800},
        {TF_D1, "2024-03-11T00:00:00Z", "2024-03-13T10:20:00Z", 86400 + 10 * 3600 + 1200},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int64_t got = health_series_age(v[i].tf, T(v[i].latest), T(v[i].now));
        if (got != v[i].want)
            fail_msg("row %zu: age %lld, want %lld", i, (long long)got, (long long)v[i].want);
    }
}

#define NOW_MS 1710504000000LL /* 2024-03-15T12:00:00Z */

/* A recorded row read as a circuit, by the rule breaker_info() applies to a live one. */
static void test_circuit_of_row(void **state)
{
    struct breaker_row row = {.source = (char *)"td",
                              .state = (char *)"open",
                              .failures = 3,
                              .opened_at_ms = NOW_MS - 1000,
                              .retry_at_ms = NOW_MS + 59000};
    struct breaker_info bi;

    (void)state;
    assert_true(health_circuit_of_row(&row, NOW_MS, &bi));
    assert_int_equal(bi.state, BREAKER_OPEN);
    assert_int_equal(bi.failures, 3);
    assert_int_equal(bi.next_probe_ms, NOW_MS + 59000);
    assert_int_equal(bi.recovery_ms, 60000);
    assert_int_equal(bi.opened, 0);
    /* Its retry time passed: half-open, as a caller would find it. */
    assert_true(health_circuit_of_row(&row, NOW_MS + 59000, &bi));
    assert_int_equal(bi.state, BREAKER_HALF_OPEN);
    row.state = (char *)"closed";
    row.retry_at_ms = 0;
    assert_true(health_circuit_of_row(&row, NOW_MS, &bi));
    assert_int_equal(bi.state, BREAKER_CLOSED);
    assert_int_equal(bi.next_probe_ms, 0);
    row.state = (char *)"ajar";
    assert_false(health_circuit_of_row(&row, NOW_MS, &bi));
}

/* The report of one configured source, with `b` as this process's breaker (may be NULL). */
static void collect(struct store_fixture *f, struct breaker *b, int64_t now_ms,
                    struct health_report *r)
{
    struct source_settings src = {
        .name = f->source,
        .rate_per_minute = 8,
        .breaker_failures = 3,
        .breaker_recovery = 60,
        .breaker_max_recovery = 600,
        .enabled = true,
    };
    struct breaker *const breakers[] = {b};
    struct health_config cfg = {.sources = &src, .nsources = 1, .breakers = b ? breakers : NULL};

    CHECK_OK(health_collect(&cfg, f->st, NULL, now_ms / 1000, now_ms, r, &f->err), &f->err);
    assert_int_equal(r->nproviders, 1);
    /* The report keeps its own copy of the name. */
    assert_string_equal(r->providers[0].source, f->source);
}

/* The "circuit" object of the report's one provider, as /health and status print it. */
static json_t *circuit_json(const struct health_report *r)
{
    json_t *root = health_report_json(r);
    json_t *c = json_object_get(json_array_get(json_object_get(root, "providers"), 0), "circuit");
    json_incref(c);
    json_decref(root);
    return c;
}

static void expect_same_circuit(const struct health_report *a, const struct health_report *b)
{
    json_t *ja = circuit_json(a), *jb = circuit_json(b);
    if (!json_equal(ja, jb)) {
        char *ta = json_dumps(ja, JSON_SORT_KEYS), *tb = json_dumps(jb, JSON_SORT_KEYS);
        fail_msg("circuits differ: %s vs %s", ta, tb);
    }
    json_decref(ja);
    json_decref(jb);
}

/* The row the guard records for `b` after a transition at `now_ms` (resilience/guard.c). */
static void record(struct store_fixture *f, struct breaker *b, int64_t now_ms)
{
    struct breaker_info bi;
    struct breaker_row row;

    breaker_info(b, now_ms, &bi);
    row = (struct breaker_row){
        .source = f->source,
        .state = (char *)breaker_state_name(bi.state),
        .failures = bi.failures,
        .opened_at_ms = bi.opened_at_ms,
        .retry_at_ms = bi.state == BREAKER_CLOSED ? 0 : bi.opened_at_ms + bi.recovery_ms,
        .updated_ms = now_ms,
        .instance = (char *)"host:1:ab",
    };
    CHECK_OK(store_breaker_put(f->st, &row, &f->err), &f->err);
}

/* Nothing recorded: unknown without a breaker, the fresh breaker's state with one. */
static void test_circuit_unknown_until_recorded(void **state)
{
    struct store_fixture *f = *state;
    const struct breaker_config bc = {
        .failures = 3, .recovery_ms = 60000, .max_recovery_ms = 600000};
    struct breaker *b = breaker_new(f->source, &bc);
    struct health_report r;
    json_t *c;

    collect(f, NULL, NOW_MS, &r);
    assert_false(r.providers[0].circuit_known);
    assert_false(health_degraded(&r));
    c = circuit_json(&r);
    assert_string_equal(json_string_value(json_object_get(c, "state")), "unknown");
    json_decref(c);
    health_report_release(&r);

    collect(f, b, NOW_MS, &r);
    assert_true(r.providers[0].circuit_known);
    assert_false(r.providers[0].circuit_stored);
    assert_int_equal(r.providers[0].circuit.state, BREAKER_CLOSED);
    health_report_release(&r);
    breaker_free(b);
}

/*
 * The daemon's breaker opens and records it: a process without the breaker
 * reports the same circuit, field by field, open and then half-open; so
 * does a daemon whose breaker has seen no traffic yet. Once the live
 * breaker has seen traffic, it is reported as it is.
 */
static void test_circuit_recorded_agrees(void **state)
{
    struct store_fixture *f = *state;
    const struct breaker_config bc = {
        .failures = 3, .recovery_ms = 60000, .max_recovery_ms = 600000};
    struct breaker *daemon = breaker_new(f->source, &bc), *fresh = breaker_new(f->source, &bc);
    struct health_report live, stored, other;
    enum breaker_state st;

    for (int i = 0; i < 3; i++) {
        enum breaker_pass pass = breaker_allow(daemon, NOW_MS - 1000, NULL);
        breaker_record(daemon, pass, BREAKER_FAILURE, NOW_MS - 1000, &st);
    }
    assert_int_equal(st, BREAKER_OPEN);
    record(f, daemon, NOW_MS - 1000);

    collect(f, daemon, NOW_MS, &live);
    collect(f, NULL, NOW_MS, &stored);
    collect(f, fresh, NOW_MS, &other);
    assert_false(live.providers[0].circuit_stored);
    assert_true(stored.providers[0].circuit_stored);
    assert_true(other.providers[0].circuit_stored);
    assert_int_equal(stored.providers[0].circuit.state, BREAKER_OPEN);
    assert_int_equal(stored.providers[0].circuit.failures, 3);
    assert_true(health_degraded(&stored));
    expect_same_circuit(&live, &stored);
    expect_same_circuit(&live, &other);
    health_report_release(&live);
    health_report_release(&stored);
    health_report_release(&other);

    /* Past the retry time both say half-open, with no wait left. */
    collect(f, daemon, NOW_MS + 59000, &live);
    collect(f, NULL, NOW_MS + 59000, &stored);
    assert_int_equal(stored.providers[0].circuit.state, BREAKER_HALF_OPEN);
    expect_same_circuit(&live, &stored);
    health_report_release(&live);
    health_report_release(&stored);

    /* The probe succeeds and closes it: recorded, both say closed again. */
    assert_int_equal(breaker_allow(daemon, NOW_MS + 60000, NULL), BREAKER_PROBE);
    assert_true(breaker_record(daemon, BREAKER_PROBE, BREAKER_SUCCESS, NOW_MS + 60000, &st));
    record(f, daemon, NOW_MS + 60000);
    collect(f, daemon, NOW_MS + 61000, &live);
    collect(f, NULL, NOW_MS + 61000, &stored);
    assert_int_equal(stored.providers[0].circuit.state, BREAKER_CLOSED);
    assert_false(health_degraded(&stored));
    expect_same_circuit(&live, &stored);
    health_report_release(&live);
    health_report_release(&stored);

    /* A live breaker that has seen traffic wins over a record it did not write. */
    {
        struct breaker_row row = {.source = f->source,
                                  .state = (char *)"open",
                                  .failures = 9,
                                  .opened_at_ms = NOW_MS,
                                  .retry_at_ms = NOW_MS + 600000,
                                  .updated_ms = NOW_MS};
        CHECK_OK(store_breaker_put(f->st, &row, &f->err), &f->err);
    }
    collect(f, daemon, NOW_MS + 61000, &live);
    assert_false(live.providers[0].circuit_stored);
    assert_int_equal(live.providers[0].circuit.state, BREAKER_CLOSED);
    health_report_release(&live);
    breaker_free(daemon);
    breaker_free(fresh);
}

/* An SQLite file of its own, made read-only by a test and writable again in teardown. */
struct ro_fixture {
    struct store *st;
    char *path;
    bool immutable; /* made so with chattr +i (root) */
    bool chmodded;  /* made 0444 (anyone else) */
    struct strbuf err;
};

static int ro_setup(void **state)
{
    struct ro_fixture *f = calloc(1, sizeof(*f));
    struct strbuf url = STRBUF_INIT;
    strbuf_init(&f->err, 0);
    f->path = test_tmpfile(".db");
    strbuf_addf(&url, "sqlite://%s", f->path);
    CHECK_OK(store_open(&f->st, url.buf, &f->err), &f->err);
    strbuf_release(&url);
    *state = f;
    return 0;
}

static void chattr(const char *flag, const char *path, struct strbuf *out)
{
    struct strbuf cmd = STRBUF_INIT;
    strbuf_addf(&cmd, "chattr %s '%s' 2>&1", flag, path);
    FILE *p = popen(cmd.buf, "r");
    char line[256];
    int rc;
    if (!p)
        fail_msg("cannot run '%s'", cmd.buf);
    while (fgets(line, sizeof(line), p))
        strbuf_addstr(out, line);
    rc = pclose(p);
    if (rc)
        strbuf_addf(out, "(exit status %d)", rc);
    strbuf_release(&cmd);
}

static int ro_teardown(void **state)
{
    struct ro_fixture *f = *state;
    struct strbuf ignored = STRBUF_INIT;
    if (f->immutable)
        chattr("-i", f->path, &ignored);
    if (f->chmodded)
        chmod(f->path, 0644);
    store_close(f->st);
    free(f->path);
    strbuf_release(&f->err);
    strbuf_release(&ignored);
    free(f);
    return 0;
}

/* Make the database file read-only for this process; false (and skip) where it cannot be. */
static void make_read_only(struct ro_fixture *f)
{
    struct strbuf out = STRBUF_INIT;
    if (geteuid() == 0) {
        chattr("+i", f->path, &out);
        f->immutable = !out.len;
    } else {
        f->chmodded = !chmod(f->path, 0444);
    }
    if (!access(f->path, W_OK)) {
        print_message("skipped: cannot make '%s' read-only here: %s\n", f->path, out.buf);
        strbuf_release(&out);
        skip();
    }
    strbuf_release(&out);
}

static void make_writable(struct ro_fixture *f)
{
    struct strbuf out = STRBUF_INIT;
    if (f->immutable)
        chattr("-i", f->path, &out);
    if (out.len)
        fail_msg("chattr -i '%s': %s", f->path, out.buf);
    f->immutable = false;
    if (f->chmodded)
        assert_int_equal(chmod(f->path, 0644), 0);
    f->chmodded = false;
    strbuf_release(&out);
}

/* The report's "database" part as /health and status print it: reachable, and the error. */
static void collect_database(struct ro_fixture *f, bool check_write, bool *reachable,
                             struct strbuf *error)
{
    struct health_config cfg = {.check_write = check_write};
    struct health_report r;
    json_t *root, *db;

    strbuf_reset(error);
    CHECK_OK(health_collect(&cfg, f->st, NULL, T("2024-03-13T10:00:00Z"), NOW_MS, &r, &f->err),
             &f->err);
    root = health_report_json(&r);
    db = json_object_get(root, "database");
    *reachable = json_is_true(json_object_get(db, "reachable"));
    assert_int_equal(*reachable, r.reachable);
    assert_string_equal(json_string_value(json_object_get(db, "backend")), "sqlite");
    if (json_is_string(json_object_get(db, "error")))
        strbuf_addstr(error, json_string_value(json_object_get(db, "error")));
    json_decref(root);
    health_report_release(&r);
}

static void test_database_read_only(void **state)
{
    struct ro_fixture *f = *state;
    struct strbuf error = STRBUF_INIT;
    bool reachable;

    /* The connection is open and has written (the schema) before the file turns read-only. */
    collect_database(f, true, &reachable, &error);
    assert_true(reachable);
    assert_int_equal(error.len, 0);

    make_read_only(f);
    strbuf_reset(&f->err);
    assert_int_not_equal(store_check_writable(f->st, &f->err), 0);
    assert_non_null(strstr(f->err.buf, "read-only"));
    collect_database(f, true, &reachable, &error);
    assert_false(reachable);
    if (!strstr(error.buf, "read-only") || !strstr(error.buf, f->path))
        fail_msg("database error '%s' does not say the file '%s' is read-only", error.buf, f->path);
    /* Reads still work: a report that does not ask for a write (the digest's) still reads. */
    collect_database(f, false, &reachable, &error);
    assert_true(reachable);

    make_writable(f);
    strbuf_reset(&f->err);
    CHECK_OK(store_check_writable(f->st, &f->err), &f->err);
    collect_database(f, true, &reachable, &error);
    assert_true(reachable);
    assert_int_equal(error.len, 0);
    strbuf_release(&error);
}

#define S(fn) cmocka_unit_test_setup_teardown(fn, store_fixture_setup, store_fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_run),
        cmocka_unit_test(test_overdue),
        cmocka_unit_test(test_period),
        cmocka_unit_test(test_age),
        cmocka_unit_test(test_circuit_of_row),
        S(test_circuit_unknown_until_recorded),
        S(test_circuit_recorded_agrees),
        cmocka_unit_test_setup_teardown(test_database_read_only, ro_setup, ro_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
