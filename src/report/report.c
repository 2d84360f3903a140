/* SPDX-License-Identifier: MIT */
/*
 * Collecting a report (report.h): every figure is read from the database
 * or the backup directory, none from the memory of the process, so the
 * daemon's scheduled report and `candlekeep report` agree.
 *
 * Jobs: the runs that started in the period, by job; durations are those
 * of finished runs, percentiles by the nearest-rank method; the longest
 * streak counts failed and timed-out runs in a row, in start order,
 * skipped and missed runs neither breaking nor extending it. The refresh
 * runs' details (jobs/refresh.c: "results", one object per series with
 * "source", "symbol", "status", "stored", "rejected") also give the
 * rejected candles per series, the fetches per provider and the trend of
 * candles stored.
 *
 * Data: the stored series (store_list_series), the candles of each whose
 * open time is in the period, and the gap ledger: opened is first seen in
 * the period, filled and unfillable are those states last checked in it.
 *
 * Recommendations are rules over the figures, written as sentences, in a
 * fixed order so that two collections of one history read the same.
 */
#include "report/report.h"

#include "backup/backup.h"
#include "resilience/ratelimit.h"
#include "source/source_settings.h"
#include "store/alerts.h"
#include "store/budget.h"
#include "store/candles.h"
#include "store/gaps.h"
#include "store/jobs.h"
#include "store/signals.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define DEFAULT_TARGET_S 60

static const char *const type_names[] = {[REPORT_DAILY] = "daily", [REPORT_WEEKLY] = "weekly"};
static const char *const format_names[] = {
    [REPORT_HTML] = "html", [REPORT_JSON] = "json", [REPORT_CSV] = "csv"};

const char *report_type_name(enum report_type t)
{
    return t == REPORT_WEEKLY ? type_names[REPORT_WEEKLY] : type_names[REPORT_DAILY];
}

int report_type_parse(const char *name, enum report_type *out)
{
    for (int t = REPORT_DAILY; t <= REPORT_WEEKLY; t++) {
        if (name && !strcmp(name, type_names[t])) {
            *out = (enum report_type)t;
            return 0;
        }
    }
    return CK_EINVAL;
}

int64_t report_type_span(enum report_type t)
{
    return t == REPORT_WEEKLY ? 7 * 86400 : 86400;
}

const char *report_format_name(enum report_format f)
{
    return f <= REPORT_CSV ? format_names[f] : "?";
}

int report_format_parse(const char *name, enum report_format *out)
{
    for (int f = REPORT_HTML; f <= REPORT_CSV; f++) {
        if (name && !strcmp(name, format_names[f])) {
            *out = (enum report_format)f;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *report_format_mime(enum report_format f)
{
    switch (f) {
    case REPORT_HTML:
        return "text/html; charset=utf-8";
    case REPORT_JSON:
        return "application/json";
    case REPORT_CSV:
        return "text/csv; charset=utf-8";
    }
    return "application/octet-stream";
}

void report_id(enum report_type type, int64_t from, char out[48])
{
    struct civil_time c;
    time_to_civil(from, &c);
    snprintf(out, 48, "%s-%04d%02d%02dT%02d%02dZ", report_type_name(type), c.year, c.month, c.day,
             c.hour, c.min);
}

void report_release(struct report *r)
{
    for (size_t i = 0; i < r->njobs; i++)
        free(r->jobs[i].id);
    free(r->jobs);
    for (size_t i = 0; i < r->nseries; i++) {
        free(r->series[i].source);
        free(r->series[i].symbol);
    }
    free(r->series);
    for (size_t i = 0; i < r->nproviders; i++) {
        free(r->providers[i].source);
        free(r->providers[i].breaker_state);
    }
    free(r->providers);
    for (size_t i = 0; i < r->nrecommendations; i++)
        free(r->recommendations[i]);
    free(r->recommendations);
    memset(r, 0, sizeof(*r));
}

/* --- lookups ---------------------------------------------------------------- */

static struct report_job *job_of(struct report *r, const char *id)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (!strcmp(r->jobs[i].id, id))
            return &r->jobs[i];
    r->jobs = xrealloc(r->jobs, (r->njobs + 1) * sizeof(*r->jobs));
    memset(&r->jobs[r->njobs], 0, sizeof(*r->jobs));
    r->jobs[r->njobs].id = xstrdup(id);
    return &r->jobs[r->njobs++];
}

static struct report_series *series_of(struct report *r, const char *source, const char *symbol,
                                       enum timeframe tf)
{
    for (size_t i = 0; i < r->nseries; i++) {
        struct report_series *s = &r->series[i];
        if (s->tf == tf && !strcmp(s->source, source) && !strcmp(s->symbol, symbol))
            return s;
    }
    return NULL;
}

static struct report_provider *provider_of(struct report *r, const char *source)
{
    for (size_t i = 0; i < r->nproviders; i++)
        if (!strcmp(r->providers[i].source, source))
            return &r->providers[i];
    return NULL;
}

static struct report_bucket *bucket_of(struct report *r, int64_t t)
{
    int64_t width = (r->to - r->from) / (int64_t)r->nbuckets;
    int64_t i;
    if (t < r->from || t >= r->to || width <= 0)
        return NULL;
    i = (t - r->from) / width;
    return i < (int64_t)r->nbuckets ? &r->buckets[i] : NULL;
}

/* --- jobs ------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p% of the values at or below it. */
static int64_t percentile(const int64_t *sorted, size_t n, int p)
{
    size_t rank;
    if (!n)
        return 0;
    rank = ((size_t)p * n + 99) / 100;
    return sorted[rank ? rank - 1 : 0];
}

/* The series results of a refresh run's details: rejected, fetches, candles stored. */
static void tally_refresh(struct report *r, const struct report_config *cfg,
                          const struct job_run *run)
{
    enum timeframe tf;
    json_t *root, *results, *e;
    size_t i;

    if (!cfg->job_tf || !cfg->job_tf(run->job_id, &tf))
        return;
    root = json_loads(run->details ? run->details : "", 0, NULL);
    results = json_object_get(root, "results");
    json_array_foreach(results, i, e)
    {
        const char *source = json_string_value(json_object_get(e, "source"));
        const char *symbol = json_string_value(json_object_get(e, "symbol"));
        const char *status = json_string_value(json_object_get(e, "status"));
        struct report_series *s;
        struct report_provider *p;
        struct report_bucket *b;

        if (!source || !symbol || !status)
            continue;
        s = series_of(r, source, symbol, tf);
        if (s)
            s->rejected += json_integer_value(json_object_get(e, "rejected"));
        p = provider_of(r, source);
        if (p && strcmp(status, "skipped")) {
            if (!strcmp(status, "deferred")) {
                p->deferred++;
            } else {
                p->fetches++;
                p->failed += strcmp(status, "ok") != 0;
            }
        }
        b = bucket_of(r, run->started / 1000);
        if (b)
            b->candles_stored += json_integer_value(json_object_get(e, "stored"));
    }
    json_decref(root);
}

static void count_run(struct report *r, const struct report_config *cfg, const struct job_run *run,
                      struct report_job *j, int64_t *streak, int64_t **dur, size_t *ndur)
{
    struct report_bucket *b = bucket_of(r, run->started / 1000);

    j->runs++;
    if (b)
        b->runs++;
    switch (run->status) {
    case JOB_OK:
        j->ok++;
        *streak = 0;
        break;
    case JOB_FAILED:
    case JOB_TIMED_OUT:
        j->failed++;
        if (b)
            b->failed++;
        if (++*streak > j->longest_streak)
            j->longest_streak = *streak;
        break;
    case JOB_SKIPPED:
    case JOB_MISSED:
        j->skipped++;
        break;
    case JOB_RUNNING:
        break;
    }
    if (run->finished && run->finished >= run->started) {
        *dur = xrealloc(*dur, (*ndur + 1) * sizeof(**dur));
        (*dur)[(*ndur)++] = run->finished - run->started;
    }
    if (run->status == JOB_OK || run->status == JOB_FAILED)
        tally_refresh(r, cfg, run);
}

static int collect_jobs(struct report *r, const struct report_config *cfg, struct store *st,
                        struct strbuf *err)
{
    struct job_run *runs = NULL;
    int64_t **dur, *streak;
    size_t n = 0, *ndur;
    int rc = store_job_runs_list(st, NULL, 0, &runs, &n, err);

    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++)
        if (runs[k].started >= r->from * 1000 && runs[k].started < r->to * 1000)
            job_of(r, runs[k].job_id);
    dur = xcalloc(r->njobs + 1, sizeof(*dur));
    ndur = xcalloc(r->njobs + 1, sizeof(*ndur));
    streak = xcalloc(r->njobs + 1, sizeof(*streak));
    /* Newest first: walk backwards so that streaks are counted in start order. */
    for (size_t k = n; k-- > 0;) {
        const struct job_run *run = &runs[k];
        struct report_job *j;
        size_t ji;

        if (run->started < r->from * 1000 || run->started >= r->to * 1000)
            continue;
        j = job_of(r, run->job_id);
        ji = (size_t)(j - r->jobs);
        count_run(r, cfg, run, j, &streak[ji], &dur[ji], &ndur[ji]);
    }
    for (size_t i = 0; i < r->njobs; i++) {
        if (ndur[i])
            qsort(dur[i], ndur[i], sizeof(int64_t), cmp_i64);
        r->jobs[i].p50_ms = percentile(dur[i], ndur[i], 50);
        r->jobs[i].p95_ms = percentile(dur[i], ndur[i], 95);
        r->jobs[i].max_ms = ndur[i] ? dur[i][ndur[i] - 1] : 0;
        free(dur[i]);
    }
    free(dur);
    free(ndur);
    free(streak);
    job_runs_free(runs, n);
    return 0;
}

static int cmp_job(const void *a, const void *b)
{
    return strcmp(((const struct report_job *)a)->id, ((const struct report_job *)b)->id);
}

/* --- data: series and gaps ------------------------------------------------------ */

static int collect_series(struct report *r, struct store *st, struct strbuf *err)
{
    struct series_info *v = NULL;
    struct gap_record *gaps = NULL;
    size_t n = 0, ngaps = 0;
    struct gap_query gq = {0};
    int rc = store_list_series(st, &v, &n, err);

    if (rc)
        return rc;
    r->series = xcalloc(n ? n : 1, sizeof(*r->series));
    for (size_t i = 0; i < n && !rc; i++) {
        struct report_series *s = &r->series[r->nseries++];
        struct candle_query q = {
            .has_start = true, .has_end = true, .start = r->from, .end = r->to - 1};
        s->source = xstrdup(v[i].source);
        s->symbol = xstrdup(v[i].symbol);
        s->tf = v[i].tf;
        s->total = v[i].count;
        q.series = (struct series_key){.source = s->source, .symbol = s->symbol, .tf = s->tf};
        rc = store_count_candles(st, &q, &s->candles, err);
    }
    series_info_free(v, n);
    if (!rc)
        rc = store_list_gaps(st, &gq, &gaps, &ngaps, err);
    for (size_t i = 0; i < ngaps && !rc; i++) {
        const struct gap_record *g = &gaps[i];
        struct report_series *s = series_of(r, g->source, g->symbol, g->tf);
        bool in_period = g->last_checked >= r->from && g->last_checked < r->to;
        if (!s)
            continue;
        if (g->first_seen >= r->from && g->first_seen < r->to)
            s->gaps_opened++;
        if (g->state == GAP_FILLED && in_period)
            s->gaps_filled++;
        if (g->state == GAP_UNFILLABLE && in_period)
            s->gaps_unfillable++;
        if (g->state == GAP_OPEN || g->state == GAP_REPAIRING)
            s->gaps_open++;
    }
    gap_records_free(gaps, ngaps);
    return rc;
}

/* --- providers -------------------------------------------------------------- */

static int collect_providers(struct report *r, const struct report_config *cfg, struct store *st,
                             struct strbuf *err)
{
    struct breaker_row *rows = NULL;
    size_t nrows = 0;
    int rc = store_breaker_list(st, &rows, &nrows, err);

    r->providers = xcalloc(cfg->nsources ? cfg->nsources : 1, sizeof(*r->providers));
    for (size_t i = 0; i < cfg->nsources && !rc; i++) {
        const struct source_settings *src = &cfg->sources[i];
        struct report_provider *p;
        struct rate_budget b;
        struct rate_state rs;

        if (!src->enabled)
            continue;
        p = &r->providers[r->nproviders++];
        p->source = xstrdup(src->name);
        p->breaker_state = xstrdup("closed");
        p->per_day = src->daily_quota;
        for (size_t k = 0; k < nrows; k++) {
            if (strcmp(rows[k].source, src->name))
                continue;
            free(p->breaker_state);
            p->breaker_state = xstrdup(rows[k].state);
            p->breaker_opened =
                rows[k].opened_at_ms >= r->from * 1000 && rows[k].opened_at_ms < r->to * 1000;
        }
        ratelimit_budget(&b, p->source, src->rate_per_minute, src->daily_quota);
        rc = store_rate_peek(st, &b, r->to * 1000 - 1, &rs, err);
        if (!rc) {
            p->day_used = rs.day_used;
            p->banned_until = rs.banned_until_ms / 1000;
        }
    }
    breaker_rows_free(rows, nrows);
    return rc;
}

/* --- alerts and signals ------------------------------------------------------------ */

static int collect_alerts(struct report *r, struct store *st, struct strbuf *err)
{
    struct alert_query q = {0};
    struct alert_row *v = NULL;
    size_t n = 0;
    int64_t total = 0;
    int rc = store_alert_list(st, &q, &v, &n, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct alert_row *a = &v[i];
        if (a->first_seen_ms >= r->from * 1000 && a->first_seen_ms < r->to * 1000)
            r->alerts.fired++;
        if (a->firing)
            r->alerts.firing++;
        if (!a->firing && a->resolved_ms >= r->from * 1000 && a->resolved_ms < r->to * 1000) {
            int64_t took = (a->resolved_ms - a->first_seen_ms) / 1000;
            r->alerts.resolved++;
            total += took;
            if (took > r->alerts.max_resolve_s)
                r->alerts.max_resolve_s = took;
        }
    }
    if (r->alerts.resolved)
        r->alerts.mean_resolve_s = total / r->alerts.resolved;
    alert_rows_free(v, n);
    return rc;
}

static int collect_signals(struct report *r, struct store *st, struct strbuf *err)
{
    struct signal_query q = {.since_ms = r->from * 1000, .until_ms = r->to * 1000};
    struct signal_counts c;
    struct signal *v = NULL;
    size_t n = 0;
    int rc = store_signal_list(st, &q, &v, &n, err);

    for (size_t i = 0; i < n && !rc; i++) {
        struct delivery *d = NULL;
        size_t nd = 0;
        r->signals.created++;
        rc = store_delivery_list(st, v[i].id, &d, &nd, err);
        for (size_t k = 0; k < nd && !rc; k++) {
            r->signals.delivered += d[k].status == DELIVERY_DELIVERED;
            r->signals.dead += d[k].status == DELIVERY_DEAD;
            r->signals.pending += d[k].status == DELIVERY_PENDING;
        }
        deliveries_free(d, nd);
    }
    signals_free(v, n);
    if (!rc)
        rc = store_signal_counts(st, r->from * 1000, r->to * 1000, &c, err);
    if (!rc) {
        r->signals.won = c.won;
        r->signals.lost = c.lost;
        r->signals.expired = c.expired;
        r->signals.win_rate =
            c.won + c.lost ? 100.0 * (double)c.won / (double)(c.won + c.lost) : -1.0;
    }
    return rc;
}

static int collect_backups(struct report *r, const char *dir, struct strbuf *err)
{
    struct backup_info *v = NULL;
    size_t n = 0;
    int rc;

    if (!dir)
        return 0;
    rc = backup_list(dir, &v, &n, err);
    if (rc)
        return rc;
    r->backups.looked = true;
    for (size_t i = 0; i < n; i++) {
        const struct backup_info *b = &v[i];
        if (b->verify_ok && b->created > r->backups.last_verified)
            r->backups.last_verified = b->created;
        if (b->created < r->from || b->created >= r->to)
            continue;
        r->backups.made++;
        r->backups.bytes += b->bytes;
        r->backups.verified += b->verified && b->verify_ok;
        r->backups.failed += b->verified && !b->verify_ok;
    }
    backup_infos_free(v, n);
    return 0;
}

/* --- recommendations ------------------------------------------------------------- */

static void recommend(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void recommend(struct report *r, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    r->recommendations =
        xrealloc(r->recommendations, (r->nrecommendations + 1) * sizeof(*r->recommendations));
    r->recommendations[r->nrecommendations++] = strbuf_detach(&sb, NULL);
}

static void collect_recommendations(struct report *r)
{
    for (size_t i = 0; i < r->njobs; i++) {
        const struct report_job *j = &r->jobs[i];
        int64_t decided = j->ok + j->failed;
        if (j->p95_ms > r->duration_target * 1000)
            recommend(r, "%s p95 is %" PRId64 " s against a %" PRId64 " s target", j->id,
                      (j->p95_ms + 500) / 1000, r->duration_target);
        if (decided && j->failed * 10 > decided)
            recommend(r, "%s failed %" PRId64 " of %" PRId64 " runs; see `candlekeep jobs runs %s`",
                      j->id, j->failed, decided, j->id);
    }
    for (size_t i = 0; i < r->nseries; i++) {
        const struct report_series *s = &r->series[i];
        if (s->gaps_unfillable)
            recommend(r, "%s %s %s has %" PRId64 " gap%s marked unfillable", s->source, s->symbol,
                      timeframe_name(s->tf), s->gaps_unfillable,
                      s->gaps_unfillable == 1 ? "" : "s");
        if (s->rejected)
            recommend(r, "%s %s %s: %" PRId64 " candle%s rejected by validation", s->source,
                      s->symbol, timeframe_name(s->tf), s->rejected, s->rejected == 1 ? "" : "s");
    }
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct report_provider *p = &r->providers[i];
        if (p->per_day > 0 && p->day_used * 5 >= p->per_day * 4)
            recommend(r, "%s used %" PRId64 " of its %" PRId64 " daily requests", p->source,
                      p->day_used, p->per_day);
        if (p->breaker_opened)
            recommend(r, "%s's circuit breaker opened; it is %s now", p->source, p->breaker_state);
    }
    if (r->signals.dead)
        recommend(r,
                  "%" PRId64 " signal deliver%s dead-lettered; redeliver with `candlekeep "
                  "signals redeliver`",
                  r->signals.dead, r->signals.dead == 1 ? "y is" : "ies are");
    if (r->alerts.firing)
        recommend(r, "%" PRId64 " alert%s still firing", r->alerts.firing,
                  r->alerts.firing == 1 ? " is" : "s are");
    if (r->backups.looked && !r->backups.verified)
        recommend(r, "no verified backup in the period; run `candlekeep backup`");
}

int report_collect(const struct report_config *cfg, struct store *st, struct report *out,
                   struct strbuf *err)
{
    int64_t span = report_type_span(cfg->type);
    int rc;

    memset(out, 0, sizeof(*out));
    out->type = cfg->type;
    out->to = cfg->to;
    out->from = cfg->to - span;
    out->duration_target = cfg->duration_target > 0 ? cfg->duration_target : DEFAULT_TARGET_S;
    report_id(cfg->type, out->from, out->id);
    out->nbuckets = cfg->type == REPORT_WEEKLY ? 7 : 24;
    for (size_t i = 0; i < out->nbuckets; i++)
        out->buckets[i].start = out->from + (int64_t)i * (span / (int64_t)out->nbuckets);

    rc = collect_series(out, st, err);
    if (!rc)
        rc = collect_providers(out, cfg, st, err);
    if (!rc)
        rc = collect_jobs(out, cfg, st, err);
    if (!rc)
        rc = collect_alerts(out, st, err);
    if (!rc)
        rc = collect_signals(out, st, err);
    if (!rc)
        rc = collect_backups(out, cfg->backup_dir, err);
    if (rc) {
        report_release(out);
        return rc;
    }
    if (out->njobs)
        qsort(out->jobs, out->njobs, sizeof(*out->jobs), cmp_job);
    collect_recommendations(out);
    return 0;
}
