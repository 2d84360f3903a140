/* SPDX-License-Identifier: MIT */
/*
 * Reports (report/report.h): a store filled with a known history on a
 * fixed clock, collected into the model, every figure checked against
 * what was planted; then the three renderings checked against the model
 * and each other, and the report directory (write, list, read, keep).
 *
 * The period lies in 2100 so that other tests sharing a PostgreSQL
 * database (which prune job runs older than the real now) never touch the
 * rows planted here, and every name starts with the fixture's source.
 */
#include "testutil.h"

#include "ck/ck.h"
#include "ck/settings.h"
#include "jobs/reports.h"
#include "jobs/table.h"
#include "market/price.h"
#include "market/signal.h"
#include "report/report.h"
#include "sched/cron.h"
#include "sched/sched.h"
#include "source/source_settings.h"
#include "store/alerts.h"
#include "store/budget.h"
#include "store/candles.h"
#include "store/gaps.h"
#include "store/jobs.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

/*
 * The end of the daily period: 2100-01-05T18:00:00Z, moved on by a number
 * of weeks taken from the process id, so that a PostgreSQL database kept
 * between runs does not hold an earlier run's rows in this period.
 */
#define TO_BASE 4102941600LL
static int64_t TO = TO_BASE;
#define FROM (TO - 86400)
#define H    3600LL

static bool tf_of_job(const char *id, enum timeframe *out)
{
    size_t n = strlen(id);
    if (n < 4 || strcmp(id + n - 4, "_M15"))
        return false;
    *out = TF_M15;
    return true;
}

static void run(struct store_fixture *f, const char *job, int64_t start_s, int64_t secs,
                enum job_status status, const char *details)
{
    struct job_run r = store_fixture_start_run(f, job, start_s, start_s * 1000);
    r.status = status;
    r.finished = start_s * 1000 + secs * 1000;
    r.message = (char *)"";
    r.details = (char *)details;
    CHECK_OK(store_job_run_finish(f->st, &r, NULL, &f->err), &f->err);
}

static void mk_signal(struct store_fixture *f, int64_t now_ms, const char *recv, char *id)
{
    struct signal s;
    const char *const receivers[] = {recv};
    memset(&s, 0, sizeof(s));
    signal_new_id(s.id, now_ms);
    s.request_hash = xstrdup("h");
    s.source = xstrdup(f->source);
    s.symbol = xstrdup("XAU/USD");
    s.tf = TF_M15;
    s.direction = SIGNAL_LONG;
    assert_int_equal(price_parse("2063.41", 7, &s.entry), 0);
    assert_int_equal(price_parse("2050", 4, &s.stop_loss), 0);
    assert_int_equal(price_parse("2090.5", 6, &s.take_profit), 0);
    s.status = SIGNAL_ACTIVE;
    CHECK_OK(store_signal_create(f->st, &s, receivers, 1, now_ms, NULL, &f->err), &f->err);
    memcpy(id, s.id, SIGNAL_ID_MAX);
    signal_release(&s);
}

/* Deliver (or dead-letter) the one pending delivery of `recv` at `now_ms`. */
static void settle_delivery(struct store_fixture *f, const char *recv, int64_t now_ms, bool ok)
{
    struct delivery *d = NULL;
    size_t n = 0;
    struct delivery_attempt a = {.attempt = 1,
                                 .started_ms = now_ms,
                                 .duration_ms = 5,
                                 .http_status = ok ? 200 : 500,
                                 .error = (char *)(ok ? "" : "HTTP 500"),
                                 .instance = (char *)"inst-A"};
    CHECK_OK(store_delivery_claim(f->st, recv, now_ms, "h", now_ms + 60000, 1, &d, &n, &f->err),
             &f->err);
    assert_int_equal(n, 1);
    CHECK_OK(store_delivery_record(f->st, d[0].id, "h", &a, ok ? DELIVERY_DELIVERED : DELIVERY_DEAD,
                                   0, &f->err),
             &f->err);
    deliveries_free(d, n);
}

static void outcome(struct store_fixture *f, const char *id, enum signal_status result, int64_t ms)
{
    struct outcome o = {.result = result, .decided_ms = ms};
    memcpy(o.signal_id, id, SIGNAL_ID_MAX);
    CHECK_OK(store_outcome_record(f->st, &o, &f->err), &f->err);
}

static void alert(struct store_fixture *f, const char *what, int64_t first_s, int64_t resolved_s)
{
    char *key = store_fixture_name(f, what);
    struct alert_row a = {.key = key,
                          .severity = (char *)"warning",
                          .firing = resolved_s == 0,
                          .title = (char *)"t",
                          .details = (char *)"",
                          .inhibited_by = (char *)"",
                          .first_seen_ms = first_s * 1000,
                          .last_seen_ms = first_s * 1000,
                          .resolved_ms = resolved_s * 1000,
                          .notified_state = (char *)"",
                          .updated_ms = (resolved_s ? resolved_s : first_s) * 1000};
    bool inserted = false;
    CHECK_OK(store_alert_insert(f->st, &a, &inserted, &f->err), &f->err);
    assert_true(inserted);
    free(key);
}

struct planted {
    char *job;   /* "<source>_refresh_M15" */
    char *other; /* "<source>_other" */
    char *recv;
    char *backups;
};

/*
 * The history: four runs of the refresh job in the period (ok 10 s,
 * failed 20 s, failed 30 s, ok 40 s) and one before it; one run of
 * another job; seven candles of which five in the period; three gaps
 * (opened, filled, unfillable); one alert resolved in ten minutes and
 * one firing; two signals, one delivered and won, one dead-lettered and
 * lost; the provider's breaker opened in the period.
 */
static void plant(struct store_fixture *f, struct planted *p)
{
    static const char details[] =
        "{\"results\":[{\"source\":\"%s\",\"symbol\":\"XAU/USD\",\"ok\":true,\"status\":\"ok\","
        "\"stored\":3,\"rejected\":2,\"gaps_open\":0}]}";
    struct series_key k = {.source = f->source, .symbol = "XAU/USD", .tf = TF_M15};
    struct candle c[7];
    struct strbuf d = STRBUF_INIT;
    char s1[SIGNAL_ID_MAX], s2[SIGNAL_ID_MAX];
    struct gap_record g[3];
    struct breaker_row br = {.source = f->source,
                             .state = (char *)"open",
                             .failures = 5,
                             .opened_at_ms = (FROM + 5 * H) * 1000,
                             .retry_at_ms = (FROM + 6 * H) * 1000,
                             .updated_ms = (FROM + 5 * H) * 1000,
                             .instance = (char *)"inst-A"};

    p->job = store_fixture_name(f, "refresh_M15");
    p->other = store_fixture_name(f, "other");
    p->recv = store_fixture_name(f, "recv");
    p->backups = test_tmpfile("-backups");

    strbuf_addf(&d, details, f->source);
    run(f, p->job, FROM - H, 99, JOB_FAILED, "{}");
    run(f, p->job, FROM + 1 * H, 10, JOB_OK, d.buf);
    run(f, p->job, FROM + 2 * H, 20, JOB_FAILED, "{}");
    run(f, p->job, FROM + 3 * H, 30, JOB_FAILED, "{}");
    run(f, p->job, FROM + 3 * H + 900, 40, JOB_OK, d.buf);
    run(f, p->other, FROM + 4 * H, 1, JOB_OK, "{}");
    strbuf_release(&d);

    for (int i = 0; i < 7; i++) {
        c[i] = (struct candle){.open_time = FROM - 2 * 900 + i * 900};
        assert_int_equal(price_parse("2000", 4, &c[i].open), 0);
        c[i].high = c[i].low = c[i].close = c[i].open;
    }
    CHECK_OK(store_put_candles(f->st, &k, c, 7, &f->err), &f->err);

    for (int i = 0; i < 3; i++)
        g[i] = (struct gap_record){.source = f->source,
                                   .symbol = (char *)"XAU/USD",
                                   .tf = TF_M15,
                                   .first = FROM + i * 7200,
                                   .last = FROM + i * 7200 + 900,
                                   .count = 2,
                                   .state =
                                       (enum gap_state[]){GAP_OPEN, GAP_FILLED, GAP_UNFILLABLE}[i],
                                   .reason = (char *)"test",
                                   .first_seen = i ? FROM - 86400 : FROM + H,
                                   .last_checked = FROM + 2 * H};
    CHECK_OK(store_import_gaps(f->st, g, 3, 0, NULL, &f->err), &f->err);

    alert(f, "resolved", FROM + H, FROM + H + 600);
    alert(f, "firing", FROM + 2 * H, 0);

    mk_signal(f, (FROM + H) * 1000, p->recv, s1);
    settle_delivery(f, p->recv, (FROM + H) * 1000 + 10, true);
    mk_signal(f, (FROM + 2 * H) * 1000, p->recv, s2);
    settle_delivery(f, p->recv, (FROM + 2 * H) * 1000 + 10, false);
    outcome(f, s1, SIGNAL_WON, (FROM + 3 * H) * 1000);
    outcome(f, s2, SIGNAL_LOST, (FROM + 4 * H) * 1000);

    CHECK_OK(store_breaker_put(f->st, &br, &f->err), &f->err);
}

static void planted_release(struct planted *p)
{
    free(p->job);
    free(p->other);
    free(p->recv);
    free(p->backups);
}

static void collect(struct store_fixture *f, struct planted *p, struct report *r)
{
    struct source_settings src = {
        .name = f->source, .enabled = true, .rate_per_minute = 8, .daily_quota = 800};
    struct report_config cfg = {.type = REPORT_DAILY,
                                .to = TO,
                                .sources = &src,
                                .nsources = 1,
                                .backup_dir = p->backups,
                                .duration_target = 30,
                                .job_tf = tf_of_job};
    CHECK_OK(report_collect(&cfg, f->st, r, &f->err), &f->err);
}

static const struct report_job *find_job(const struct report *r, const char *id)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (!strcmp(r->jobs[i].id, id))
            return &r->jobs[i];
    fail_msg("no job '%s' in the report", id);
    return NULL;
}

static const struct report_series *find_series(const struct report *r, const char *source)
{
    for (size_t i = 0; i < r->nseries; i++)
        if (!strcmp(r->series[i].source, source))
            return &r->series[i];
    fail_msg("no series of '%s' in the report", source);
    return NULL;
}

static bool has_recommendation(const struct report *r, const char *text)
{
    for (size_t i = 0; i < r->nrecommendations; i++)
        if (strstr(r->recommendations[i], text))
            return true;
    return false;
}

static void test_collect(void **state)
{
    struct store_fixture *f = *state;
    struct planted p;
    struct report r;
    const struct report_job *j;
    const struct report_series *s;
    struct strbuf want = STRBUF_INIT;
    char id[48];

    plant(f, &p);
    collect(f, &p, &r);

    report_id(REPORT_DAILY, FROM, id);
    assert_string_equal(r.id, id);
    assert_int_equal(r.from, FROM);
    assert_int_equal(r.to, TO);

    j = find_job(&r, p.job);
    assert_int_equal(j->runs, 4);
    assert_int_equal(j->ok, 2);
    assert_int_equal(j->failed, 2);
    assert_int_equal(j->p50_ms, 20000);
    assert_int_equal(j->p95_ms, 40000);
    assert_int_equal(j->max_ms, 40000);
    assert_int_equal(j->longest_streak, 2);
    j = find_job(&r, p.other);
    assert_int_equal(j->runs, 1);
    assert_int_equal(j->longest_streak, 0);

    s = find_series(&r, f->source);
    assert_int_equal(s->candles, 5);
    assert_int_equal(s->total, 7);
    assert_int_equal(s->gaps_opened, 1);
    assert_int_equal(s->gaps_filled, 1);
    assert_int_equal(s->gaps_unfillable, 1);
    assert_int_equal(s->gaps_open, 1);
    assert_int_equal(s->rejected, 4);

    assert_int_equal(r.nproviders, 1);
    assert_int_equal(r.providers[0].fetches, 2);
    assert_int_equal(r.providers[0].failed, 0);
    assert_int_equal(r.providers[0].breaker_opened, 1);
    assert_string_equal(r.providers[0].breaker_state, "open");
    assert_int_equal(r.providers[0].per_day, 800);

    /* Other tests' alerts and signals may share the database, never this period. */
    assert_int_equal(r.alerts.fired, 2);
    assert_int_equal(r.alerts.resolved, 1);
    assert_true(r.alerts.firing >= 1);
    assert_int_equal(r.alerts.mean_resolve_s, 600);
    assert_int_equal(r.alerts.max_resolve_s, 600);
    assert_int_equal(r.signals.created, 2);
    assert_int_equal(r.signals.delivered, 1);
    assert_int_equal(r.signals.dead, 1);
    assert_int_equal(r.signals.won, 1);
    assert_int_equal(r.signals.lost, 1);
    assert_true(r.signals.win_rate > 49.9 && r.signals.win_rate < 50.1);

    assert_true(r.backups.looked);
    assert_int_equal(r.backups.made, 0);

    /* The trend: hour 1 holds the first run and its 3 candles stored. */
    assert_int_equal(r.nbuckets, 24);
    assert_int_equal(r.buckets[1].runs, 1);
    assert_int_equal(r.buckets[1].candles_stored, 3);
    assert_int_equal(r.buckets[3].runs, 2);
    assert_int_equal(r.buckets[3].failed, 1);

    strbuf_addf(&want, "%s p95 is 40 s against a 30 s target", p.job);
    assert_true(has_recommendation(&r, want.buf));
    assert_true(has_recommendation(&r, "gap marked unfillable"));
    assert_true(has_recommendation(&r, "circuit breaker opened"));
    assert_true(has_recommendation(&r, "dead-lettered"));
    assert_true(has_recommendation(&r, "no verified backup"));

    strbuf_release(&want);
    report_release(&r);
    planted_release(&p);
}

/* The JSON and CSV say what the model says; the HTML is self-contained and holds the figures. */
static void test_render(void **state)
{
    struct store_fixture *f = *state;
    struct strbuf out = STRBUF_INIT, want = STRBUF_INIT;
    struct planted p;
    struct report r;
    json_error_t jerr;
    json_t *root, *job = NULL, *e;
    size_t i;

    plant(f, &p);
    collect(f, &p, &r);

    report_render(&r, REPORT_JSON, &out);
    root = json_loads(out.buf, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "id")), r.id);
    assert_true(strbuf_starts_with(&out, "{"));
    json_array_foreach(json_object_get(root, "jobs"), i, e)
    {
        if (!strcmp(json_string_value(json_object_get(e, "id")), p.job))
            job = e;
    }
    assert_non_null(job);
    assert_int_equal(json_integer_value(json_object_get(job, "runs")), 4);
    assert_true(json_real_value(json_object_get(job, "success_rate")) == 50.0);
    assert_int_equal(json_integer_value(json_object_get(job, "p95_ms")), 40000);
    assert_int_equal(json_integer_value(json_object_get(job, "longest_streak")), 2);
    e = json_object_get(root, "signals");
    assert_int_equal(json_integer_value(json_object_get(e, "dead_lettered")), r.signals.dead);
    assert_int_equal(json_integer_value(json_object_get(e, "created")), r.signals.created);
    assert_true(r.signals.won == r.signals.lost &&
                json_real_value(json_object_get(e, "win_rate")) == 50.0);
    assert_int_equal(json_array_size(json_object_get(root, "recommendations")), r.nrecommendations);
    json_decref(root);

    strbuf_reset(&out);
    report_render(&r, REPORT_CSV, &out);
    assert_true(strbuf_starts_with(&out, "kind,name,runs,ok,failed,skipped,success_rate,"));
    strbuf_addf(&want, "\njob,%s,4,2,2,0,50.0,20000,40000,40000,2,", p.job);
    assert_non_null(strstr(out.buf, want.buf));
    strbuf_reset(&want);
    strbuf_addf(&want, "\nseries,%s XAU/USD M15,,,,,,,,,,5,7,1,1,1,1,4,", f->source);
    assert_non_null(strstr(out.buf, want.buf));
    strbuf_reset(&want);
    strbuf_addf(&want, "\nprovider,%s,,,,,,,,,,,,,,,,,2,0,0,1,open,", f->source);
    assert_non_null(strstr(out.buf, want.buf));

    strbuf_reset(&out);
    report_render(&r, REPORT_HTML, &out);
    assert_true(strbuf_starts_with(&out, "<!DOCTYPE html>"));
    assert_null(strstr(out.buf, "<script"));
    assert_null(strstr(out.buf, "http://"));
    assert_null(strstr(out.buf, "https://"));
    assert_non_null(strstr(out.buf, "<svg"));
    assert_non_null(strstr(out.buf, "<style>"));
    strbuf_reset(&want);
    strbuf_addf(&want,
                "<td>%s</td><td class=\"n\">4</td><td class=\"n\">2</td><td class=\"n\">2</td>"
                "<td class=\"n\">0</td><td class=\"n\">50.0</td><td class=\"n\">20000</td>"
                "<td class=\"n\">40000</td><td class=\"n\">40000</td><td class=\"n\">2</td>",
                p.job);
    assert_non_null(strstr(out.buf, want.buf));

    strbuf_release(&out);
    strbuf_release(&want);
    report_release(&r);
    planted_release(&p);
}

/* Hostile text from the database is escaped in HTML and quoted in CSV. */
static void test_escaping(void **state)
{
    struct report r = {.type = REPORT_DAILY, .from = FROM, .to = TO, .nbuckets = 24};
    struct report_job j = {.id = (char *)"<b>\"x\",y</b>&", .runs = 1, .ok = 1};
    char *rec = (char *)"<script>alert(1)</script>";
    struct strbuf out = STRBUF_INIT;

    (void)state;
    report_id(REPORT_DAILY, FROM, r.id);
    r.jobs = &j;
    r.njobs = 1;
    r.recommendations = &rec;
    r.nrecommendations = 1;
    report_render(&r, REPORT_HTML, &out);
    assert_null(strstr(out.buf, "<b>\""));
    assert_null(strstr(out.buf, "<script"));
    assert_non_null(strstr(out.buf, "&lt;b&gt;&quot;x&quot;,y&lt;/b&gt;&amp;"));
    strbuf_reset(&out);
    report_render(&r, REPORT_CSV, &out);
    assert_non_null(strstr(out.buf, "\njob,\"<b>\"\"x\"\",y</b>&\",1,1,0,0,100.0,"));
    strbuf_release(&out);
}

static void test_names(void **state)
{
    enum report_type t;
    enum report_format fm;
    char id[48];

    (void)state;
    assert_int_equal(report_type_parse("weekly", &t), 0);
    assert_int_equal(t, REPORT_WEEKLY);
    assert_int_equal(report_type_parse("monthly", &t), CK_EINVAL);
    assert_int_equal(report_format_parse("csv", &fm), 0);
    assert_int_equal(fm, REPORT_CSV);
    assert_int_equal(report_format_parse("pdf", &fm), CK_EINVAL);
    assert_int_equal(report_type_span(REPORT_WEEKLY), 7 * 86400);
    report_id(REPORT_WEEKLY, 1710309600, id); /* 2024-03-13T06:00:00Z */
    assert_string_equal(id, "weekly-20240313T0600Z");
}

/* Write, list, read back; the keep deletes reports whose period is older. */
static void test_files(void **state)
{
    struct report r = {.type = REPORT_DAILY, .from = FROM, .to = TO, .nbuckets = 24};
    struct report old = {
        .type = REPORT_WEEKLY, .from = FROM - 100 * 86400, .to = FROM - 93 * 86400, .nbuckets = 7};
    char *dir = test_tmpfile("-reports");
    struct strbuf err = STRBUF_INIT, body = STRBUF_INIT;
    struct report_file *v = NULL;
    size_t n = 0;
    struct stat sb;

    (void)state;
    report_id(r.type, r.from, r.id);
    report_id(old.type, old.from, old.id);
    CHECK_OK(report_write(&old, dir, 0, TO, &err), &err);
    CHECK_OK(report_list(dir, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    free(v);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);

    CHECK_OK(report_write(&r, dir, 90 * 86400, TO, &err), &err);
    CHECK_OK(report_list(dir, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, r.id);
    assert_int_equal(v[0].type, REPORT_DAILY);
    assert_int_equal(v[0].from, FROM);
    assert_int_equal(v[0].formats, 7u);
    assert_true(v[0].bytes > 0);
    free(v);

    CHECK_OK(report_read(dir, r.id, REPORT_CSV, &body, &err), &err);
    assert_true(strbuf_starts_with(&body, "kind,name,"));
    assert_int_equal(report_read(dir, old.id, REPORT_JSON, &body, &err), CK_ENOTFOUND);
    strbuf_reset(&err);
    assert_int_equal(report_read(dir, "../../etc/passwd", REPORT_JSON, &body, &err), CK_EINVAL);
    assert_int_equal(report_read(dir, "daily-21000104T1800Z/x", REPORT_JSON, &body, &err),
                     CK_EINVAL);

    free(dir);
    strbuf_release(&err);
    strbuf_release(&body);
}

/* The fire times of daily_report and weekly_report by default: 18:00 UTC, Sunday 06:00 UTC. */
static void test_schedules(void **state)
{
    static const struct {
        const char *job;
        int64_t after, want;
    } cases[] = {
        /* 2024-03-15 (a Friday) 12:00 -> 18:00 that day; 18:00 itself -> the next day's. */
        {JOB_DAILY_REPORT, 1710504000, 1710525600},
        {JOB_DAILY_REPORT, 1710525600, 1710612000},
        /* -> Sunday 2024-03-17 06:00; from then, the Sunday after. */
        {JOB_WEEKLY_REPORT, 1710504000, 1710655200},
        {JOB_WEEKLY_REPORT, 1710655200, 1711260000},
    };
    struct config_report rep = CONFIG_REPORT_INIT;
    char *path = test_tmpfile(".ini");
    FILE *fp = fopen(path, "w");
    struct settings s;
    struct job_table t;

    (void)state;
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.report.keep, 90 * 86400);
    job_table_build(&s, NULL, &t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct job_entry *e = job_table_find(&t, cases[i].job);
        struct cron_expr c;
        struct strbuf err = STRBUF_INIT;
        assert_non_null(e);
        CHECK_OK(cron_parse(&c, e->cron, &err), &err);
        assert_int_equal(cron_next(&c, cases[i].after), cases[i].want);
        strbuf_release(&err);
    }
    job_table_release(&t);
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

static int64_t fake_ms;
static int64_t fake_now(void *arg)
{
    (void)arg;
    return __atomic_load_n(&fake_ms, __ATOMIC_SEQ_CST);
}
static void fake_sleep(void *arg, int64_t ms)
{
    (void)arg;
    __atomic_add_fetch(&fake_ms, ms, __ATOMIC_SEQ_CST);
}

/*
 * daily_report on the scheduler's fake clock: nothing at 17:59, the report
 * of the 24 hours before 18:00 written at 18:00 (no channel to send it to).
 */
static void test_scheduled(void **state)
{
    static const struct sched_clock clock = {.now_ms = fake_now, .sleep_ms = fake_sleep};
    struct store_fixture *f = *state;
    struct config_report rep = CONFIG_REPORT_INIT;
    char *ini = test_tmpfile(".ini"), *dir = test_tmpfile("-reports");
    struct strbuf text = STRBUF_INIT, err = STRBUF_INIT, want = STRBUF_INIT;
    struct report_file *v = NULL;
    struct job_run *runs = NULL;
    struct ck app;
    struct job_table t;
    const struct job_entry *e;
    struct sched *s;
    size_t n = 0;
    char id[48];
    FILE *fp;

    strbuf_addf(&text, "[storage]\nurl = %s\n[report]\ndir = %s\n", f->url, dir);
    fp = fopen(ini, "w");
    assert_non_null(fp);
    fputs(text.buf, fp);
    fclose(fp);
    memset(&app, 0, sizeof(app));
    assert_int_equal(settings_load(&app.settings, ini, &rep), 0);
    job_table_build(&app.settings, &app, &t);
    e = job_table_find(&t, JOB_DAILY_REPORT);
    assert_non_null(e);
    {
        /* Nothing pruned: other tests' rows share a PostgreSQL database. */
        struct sched_config cfg = {.store_url = f->url,
                                   .instance = "report-test",
                                   .workers = 1,
                                   .history_keep = 150LL * 365 * 86400,
                                   .clock = &clock};
        struct sched_job_def def = {.id = e->id,
                                    .name = e->name,
                                    .cron = e->cron,
                                    .timeout = e->timeout,
                                    .fn = e->fn,
                                    .arg = e->arg};
        s = sched_new(&cfg, &err);
        assert_non_null(s);
        CHECK_OK(sched_add_job(s, &def, &err), &err);
        CHECK_OK(sched_start_workers(s, &err), &err);
    }
    fake_ms = (TO - 60) * 1000;
    sched_tick(s, fake_ms);
    sched_wait_idle(s);
    CHECK_OK(report_list(dir, &v, &n, &err), &err);
    assert_int_equal(n, 0);
    free(v);

    fake_ms = TO * 1000;
    sched_tick(s, fake_ms);
    sched_wait_idle(s);
    CHECK_OK(report_list(dir, &v, &n, &err), &err);
    assert_int_equal(n, 1);
    report_id(REPORT_DAILY, TO - 86400, id);
    assert_string_equal(v[0].id, id);
    assert_int_equal(v[0].formats, 7u);
    free(v);

    CHECK_OK(store_job_runs_list(f->st, JOB_DAILY_REPORT, 50, &runs, &n, &f->err), &f->err);
    strbuf_addf(&want, "report %s written and sent to 0 channels", id);
    {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found |= runs[i].scheduled == TO && runs[i].status == JOB_OK &&
                     !strcmp(runs[i].message, want.buf);
        assert_true(found);
    }
    job_runs_free(runs, n);

    sched_stop(s, 1000);
    sched_free(s);
    job_table_release(&t);
    free(app.job_args);
    settings_release(&app.settings);
    config_report_release(&rep);
    strbuf_release(&text);
    strbuf_release(&err);
    strbuf_release(&want);
    free(ini);
    free(dir);
}

int main(void)
{
    TO = TO_BASE + (int64_t)(getpid() % 1000) * 7 * 86400;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collect, store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_render, store_fixture_setup, store_fixture_teardown),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test_setup_teardown(test_scheduled, store_fixture_setup,
                                        store_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
