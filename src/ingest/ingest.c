/* SPDX-License-Identifier: MIT */
/*
 * The ingestion pipeline of one series (see ingest.h). The order of steps
 * is what makes the data trustworthy:
 *
 *  1. The request asks only for what is new: the adapter gets the latest
 *     stored open time and requests candles after it, page after page
 *     (each page one request through the budget) until it is current.
 *  2. A malformed answer fails as a whole in the adapter, before anything
 *     is written, so earlier candles stay intact.
 *  3. A bar whose period has not closed (open_time + period > now) is
 *     dropped; it is fetched again, final, on a later run.
 *  4. Each remaining candle is validated; invalid ones are logged and
 *     counted, valid ones upserted in one transaction per page.
 *  5. The stored candles are scanned against the trading calendar and
 *     the gap ledger reconciled: the recent window, and everything since
 *     the last point known complete (the newest candle before the run, or
 *     the oldest gap still open), however old, so that a long outage is
 *     scanned whole.
 *
 * No unrecorded hole. A refresh that stops paging before it is current
 * (the deadline, the budget, the page cap, a failed later page) records
 * what it has not fetched yet, from its newest candle to the newest final
 * one, as an open gap with reason `fetch_pending`; the next refresh or a
 * repair fills it, and the scan then marks it filled.
 *
 * Reasons. A hole inside the window this run asked the provider for is
 * `provider_no_data` (asked, nothing came back); the unfetched tail is
 * `fetch_pending`; a hole found older than that is `candlekeep_down` when
 * the job history shows no process running when its candles closed, and
 * `fetch_pending` (not asked yet) otherwise. A reason is replaced only by
 * firsthand knowledge (this run asked for the window).
 */
#include "ingest/ingest.h"

#include "ingest/derive.h"
#include "market/calendar.h"
#include "market/candle.h"
#include "market/gaps.h"
#include "source/source.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Pages one refresh of one series may fetch at most (the deadline and budget stop it sooner). */
#define INGEST_MAX_PAGES 1000
/* A process counts as running at a candle's close if a job run started this soon after it. */
#define UP_SLACK_MS (5 * 60 * 1000)

static const char *const gap_reason_names[] = {
    [GAP_REASON_NO_DATA] = "provider_no_data", [GAP_REASON_FETCH_FAILED] = "fetch_failed",
    [GAP_REASON_PENDING] = "fetch_pending",    [GAP_REASON_DOWN] = "candlekeep_down",
    [GAP_REASON_BEYOND] = "beyond_history",
};

const char *gap_reason_name(enum gap_reason_code r)
{
    if ((unsigned)r >= sizeof(gap_reason_names) / sizeof(gap_reason_names[0]))
        BUG("invalid gap reason %d", (int)r);
    return gap_reason_names[r];
}

int ingest_store_page(struct ingest_ctx *ctx, const struct series_key *key,
                      const struct fetch_result *res, int64_t now, struct ingest_stats *out,
                      struct strbuf *err)
{
    struct candle_vec keep = CANDLE_VEC_INIT;
    struct strbuf why = STRBUF_INIT;
    int rc;

    out->fetched += res->candles.n;
    for (size_t i = 0; i < res->candles.n; i++) {
        const struct candle *c = &res->candles.v[i];
        if (!candle_is_final(c, key->tf, now)) {
            out->forming++;
            continue;
        }
        strbuf_reset(&why);
        if (!candle_validate(c, key->tf, &why)) {
            char t[TIME_BUFSZ];
            time_format_iso8601(c->open_time, t);
            log_warn("ingest: %s %s %s: rejected candle at %s: %s", ctx->source_name, key->symbol,
                     timeframe_name(key->tf), t, why.buf);
            out->rejected++;
            continue;
        }
        candle_vec_push(&keep, c);
    }
    rc = store_put_candles(ctx->store, key, keep.v, keep.n, err);
    if (rc)
        out->store_failed = true;
    else
        out->stored += keep.n;
    strbuf_release(&why);
    candle_vec_release(&keep);
    return rc;
}

/* What a scan is to look at, and what the run that calls it knows. */
struct scan_plan {
    int64_t from;       /* scan from here at the latest (0: the gap window alone) */
    bool whole;         /* from the first stored candle */
    int64_t asked_from; /* the run asked for open times in (asked_from, asked_to] */
    int64_t asked_to;   /* 0: asked for nothing */
    int64_t tail_to;    /* > 0: the run stopped short; candles up to here are pending */
};

static int scan(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                const struct scan_plan *p, struct ingest_stats *out, struct strbuf *err);

int ingest_series(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                  struct ingest_stats *out, struct strbuf *err)
{
    struct series_key key = {.source = ctx->source_name, .symbol = symbol, .tf = tf};
    struct fetch_request req = {.symbol = symbol, .tf = tf, .now = now};
    struct fetch_result res = FETCH_RESULT_INIT;
    const struct source_kind *kind = source_kind_of(ctx->source);
    const int64_t period = timeframe_seconds(tf);
    /* The newest candle that can be final now. */
    const int64_t newest = timeframe_floor(tf, now) - period;
    struct scan_plan plan = {0};
    int64_t latest = 0, want;
    bool current = false;
    int rc, fetch_rc = 0;

    memset(out, 0, sizeof(*out));
    rc = store_latest_time(ctx->store, &key, &latest, err);
    out->store_failed = rc && rc != CK_ENOTFOUND;
    if (rc == CK_ENOTFOUND || (!rc && ctx->refetch)) {
        out->first_fetch = rc == CK_ENOTFOUND;
        out->since = rc ? 0 : latest;
        strbuf_reset(err);
        rc = 0;
        want = ctx->backfill > 0 ? ctx->backfill : kind->max_rows;
        if (want <= kind->max_rows || kind->recent_only) {
            req.count = (int)(want < kind->max_rows ? want : kind->max_rows);
        } else {
            /* More than one request holds: page forward from where the backfill starts. */
            req.has_since = true;
            req.since = newest - want * period;
        }
    } else if (rc) {
        goto out;
    } else {
        req.has_since = true;
        req.since = latest;
        out->since = latest;
    }
    if (req.has_since)
        req.count = kind->max_rows;
    plan.from = out->first_fetch ? 0 : out->since;
    plan.asked_from = req.has_since ? req.since : INT64_MIN;

    /*
     * One request per page, each through the hook (the budget): while the
     * answer moves forward and the newest final candle is not reached.
     * Each page is stored as it arrives, so a later page's failure keeps
     * what came before.
     */
    for (int page = 0; page < INGEST_MAX_PAGES; page++) {
        int64_t last;

        rc = ctx->fetch ? ctx->fetch(ctx->fetch_arg, ctx->source, &req, &res, err)
                        : source_fetch(ctx->source, &req, &res, err);
        if (rc) {
            /* Pages before it were stored: what is still missing is recorded below. */
            if (!out->pages)
                goto out;
            fetch_rc = rc;
            break;
        }
        out->pages++;
        if (res.note[0])
            log_warn("ingest: %s %s %s: %s", ctx->source_name, symbol, timeframe_name(tf),
                     res.note);
        rc = ingest_store_page(ctx, &key, &res, now, out, err);
        if (rc)
            goto out;
        if (res.candles.n && plan.asked_from == INT64_MIN)
            plan.asked_from = res.candles.v[0].open_time - period;
        if (!req.has_since) {
            current = true;
            break;
        }
        /*
         * A short page is the provider's last (asking again would only
         * spend budget), unless the request was a window of periods:
         * then paging goes on after the window, empty or not.
         */
        if (!res.window_end && !res.more &&
            (!res.candles.n || res.candles.n < (size_t)kind->max_rows)) {
            current = true;
            break;
        }
        last = res.candles.n ? res.candles.v[res.candles.n - 1].open_time : req.since;
        if (res.window_end > last)
            last = res.window_end;
        if (last <= req.since || last >= newest) {
            current = true;
            break;
        }
        req.since = last;
        fetch_result_release(&res);
    }

    if (plan.asked_from != INT64_MIN) {
        /* `err` may hold the failed page's message, which the caller is to get. */
        struct strbuf why = STRBUF_INIT;
        rc = store_latest_time(ctx->store, &key, &latest, &why);
        if (rc && rc != CK_ENOTFOUND) {
            out->store_failed = true;
            strbuf_reset(err);
            strbuf_addbuf(err, &why);
            strbuf_release(&why);
            goto out;
        }
        strbuf_release(&why);
        /* Short of the present, what was asked ends at the newest stored candle. */
        plan.asked_to = current ? newest : (rc ? 0 : latest);
        rc = 0;
    }
    if (!current && latest && latest < newest)
        plan.tail_to = newest;
    if (fetch_rc) {
        /* Keep the fetch's message for the caller; a scan failure replaces it. */
        struct strbuf scan_err = STRBUF_INIT;
        rc = scan(ctx, symbol, tf, now, &plan, out, &scan_err);
        out->store_failed = rc != 0;
        if (rc) {
            strbuf_reset(err);
            strbuf_addbuf(err, &scan_err);
        } else {
            rc = fetch_rc;
        }
        strbuf_release(&scan_err);
        goto out;
    }
    rc = scan(ctx, symbol, tf, now, &plan, out, err);
    if (!rc)
        rc = derive_after_refresh(ctx, symbol, tf, now, err);
    out->store_failed = rc != 0;

out:
    if (rc && err->len && !strstr(err->buf, symbol)) {
        /* Make sure the caller's message names the series. */
        struct strbuf msg = STRBUF_INIT;
        strbuf_addf(&msg, "%s %s %s: %s", ctx->source_name, symbol, timeframe_name(tf), err->buf);
        strbuf_reset(err);
        strbuf_addbuf(err, &msg);
        strbuf_release(&msg);
    }
    fetch_result_release(&res);
    return rc;
}

/* Open time of the first stored candle of the series (0 and CK_ENOTFOUND if none). */
static int first_time(struct store *st, const struct series_key *key, int64_t *out,
                      struct strbuf *err)
{
    struct candle_query q = {.series = *key, .limit = 1, .order = STORE_ASC};
    struct candle_vec cv = CANDLE_VEC_INIT;
    int rc = store_query_candles_vec(st, &q, &cv, err);
    if (!rc && !cv.n)
        rc = CK_ENOTFOUND;
    if (!rc)
        *out = cv.v[0].open_time;
    candle_vec_release(&cv);
    return rc;
}

int ingest_stored_times(struct store *st, const struct series_key *key, int64_t from, int64_t to,
                        int64_t **out, size_t *n, struct strbuf *err)
{
    struct candle_query q = {
        .series = *key, .has_start = true, .has_end = true, .start = from, .end = to - 1};

    return store_candle_times(st, &q, out, n, err);
}

/*
 * The job history as evidence of when a process of candlekeep ran: the
 * start times (ms) of the runs that really ran, ascending, loaded on first
 * use by a scan that has a hole it cannot otherwise explain.
 */
struct uptime {
    bool loaded;
    int64_t *started;
    size_t n;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int uptime_load(struct uptime *u, struct store *st, struct strbuf *err)
{
    struct job_run *runs = NULL;
    size_t n = 0;
    int rc;

    if (u->loaded)
        return 0;
    rc = store_job_runs_list(st, NULL, 0, &runs, &n, err);
    if (rc)
        return rc;
    u->started = xcalloc(n ? n : 1, sizeof(*u->started));
    for (size_t i = 0; i < n; i++)
        if (runs[i].status != JOB_MISSED && runs[i].status != JOB_SKIPPED)
            u->started[u->n++] = runs[i].started;
    qsort(u->started, u->n, sizeof(*u->started), cmp_i64);
    job_runs_free(runs, n);
    u->loaded = true;
    return 0;
}

/*
 * Were the candles of `g` closing while no process of candlekeep ran? Only
 * when the history reaches back before them and no run started between
 * the first close and a little after the last.
 */
static bool uptime_was_down(const struct uptime *u, enum timeframe tf, const struct gap_range *g)
{
    int64_t a = (g->first + timeframe_seconds(tf)) * 1000;
    int64_t b = (g->last + timeframe_seconds(tf)) * 1000 + UP_SLACK_MS;

    if (!u->n || u->started[0] >= a)
        return false;
    for (size_t i = 0; i < u->n; i++)
        if (u->started[i] >= a && u->started[i] <= b)
            return false;
    return true;
}

static bool overlaps(int64_t a_first, int64_t a_last, int64_t b_first, int64_t b_last)
{
    return a_first <= b_last && b_first <= a_last;
}

/* The reason of each found gap, as the comment at the top of this file says. */
static int classify(struct ingest_ctx *ctx, const struct series_key *key, const struct scan_plan *p,
                    int64_t latest, const struct gap_range *gaps, size_t ngaps,
                    struct gap_reason *why, struct strbuf *err)
{
    const int64_t period = timeframe_seconds(key->tf);
    struct gap_query q = {
        .source = key->source, .symbol = key->symbol, .has_tf = true, .tf = key->tf};
    struct gap_record *recs = NULL;
    struct uptime up = {0};
    size_t nrecs = 0;
    int rc = 0;

    for (size_t i = 0; i < ngaps && !rc; i++) {
        const struct gap_range *g = &gaps[i];
        bool known = false;

        if (p->tail_to && g->last > latest) {
            why[i] = (struct gap_reason){gap_reason_name(GAP_REASON_PENDING), true};
            continue;
        }
        if (p->asked_to && overlaps(g->first, g->last, p->asked_from + period, p->asked_to)) {
            why[i] = (struct gap_reason){gap_reason_name(GAP_REASON_NO_DATA), true};
            continue;
        }
        /* Older than what was asked: a record that already explains it keeps its reason. */
        if (!recs) {
            rc = store_list_gaps(ctx->store, &q, &recs, &nrecs, err);
            if (rc)
                break;
            if (!recs)
                recs = xcalloc(1, sizeof(*recs));
        }
        for (size_t j = 0; j < nrecs && !known; j++)
            known = recs[j].state != GAP_FILLED &&
                    overlaps(g->first, g->last, recs[j].first, recs[j].last);
        if (known)
            continue;
        rc = uptime_load(&up, ctx->store, err);
        if (!rc)
            why[i].text = gap_reason_name(uptime_was_down(&up, key->tf, g) ? GAP_REASON_DOWN
                                                                           : GAP_REASON_PENDING);
    }
    gap_records_free(recs, nrecs);
    free(up.started);
    return rc;
}

/* The first open time of the oldest open or repairing gap of the series; 0: none. */
static int oldest_open(struct store *st, const struct series_key *key, int64_t *out,
                       struct strbuf *err)
{
    struct gap_query q = {
        .source = key->source, .symbol = key->symbol, .has_tf = true, .tf = key->tf};
    struct gap_record *recs = NULL;
    size_t n = 0;
    int rc = store_list_gaps(st, &q, &recs, &n, err);

    *out = 0;
    for (size_t i = 0; !rc && i < n; i++)
        if ((recs[i].state == GAP_OPEN || recs[i].state == GAP_REPAIRING) &&
            (!*out || recs[i].first < *out))
            *out = recs[i].first;
    gap_records_free(recs, n);
    return rc;
}

static int scan(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                const struct scan_plan *p, struct ingest_stats *out, struct strbuf *err)
{
    struct series_key key = {.source = ctx->source_name, .symbol = symbol, .tf = tf};
    struct gap_range *gaps = NULL;
    struct gap_reason *why = NULL;
    struct gap_sync_result sync;
    int64_t *have = NULL, first, latest, from, to, open_from;
    size_t nhave = 0, ngaps = 0, gaps_alloc = 0;
    int rc;

    rc = store_latest_time(ctx->store, &key, &latest, err);
    if (rc == CK_ENOTFOUND) {
        strbuf_reset(err);
        out->latest = 0;
        return 0; /* nothing stored: nothing to compare against */
    }
    if (rc)
        return rc;
    out->latest = latest;
    rc = first_time(ctx->store, &key, &first, err);
    if (!rc)
        rc = oldest_open(ctx->store, &key, &open_from, err);
    if (rc)
        return rc;

    /* The recent window, and back to the last point known complete. */
    from = timeframe_floor(tf, now - ctx->gap_window);
    if (p->from && p->from < from)
        from = p->from;
    if (open_from && open_from < from)
        from = open_from;
    if (p->whole || from < first)
        from = first;
    to = latest + timeframe_seconds(tf); /* exclusive */
    if (p->tail_to > latest)
        to = p->tail_to + timeframe_seconds(tf);

    rc = ingest_stored_times(ctx->store, &key, from, to, &have, &nhave, err);
    if (rc)
        goto out;
    gaps_find(ctx->cal, tf, from, to, have, nhave, &gaps, &ngaps, &gaps_alloc);
    why = xcalloc(ngaps ? ngaps : 1, sizeof(*why));
    rc = classify(ctx, &key, p, latest, gaps, ngaps, why, err);
    if (rc)
        goto out;
    rc = store_sync_gaps_reasons(ctx->store, &key, from, to, gaps, ngaps,
                                 gap_reason_name(GAP_REASON_PENDING), why, now, &sync, err);
    if (rc)
        goto out;
    out->gaps_open = sync.open;
    out->gaps_opened = sync.opened;
    out->gaps_filled = sync.filled;
    for (size_t i = 0; i < ngaps && sync.opened; i++) {
        char a[TIME_BUFSZ], b[TIME_BUFSZ];
        time_format_iso8601(gaps[i].first, a);
        time_format_iso8601(gaps[i].last, b);
        log_info("ingest: %s %s %s: gap of %lld candles from %s to %s", ctx->source_name, symbol,
                 timeframe_name(tf), (long long)gaps[i].count, a, b);
    }
out:
    free(have);
    free(gaps);
    free(why);
    return rc;
}

int ingest_scan_gaps(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                     struct ingest_stats *out, struct strbuf *err)
{
    const struct scan_plan p = {0};
    return scan(ctx, symbol, tf, now, &p, out, err);
}

int ingest_scan_history(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                        struct ingest_stats *out, struct strbuf *err)
{
    const struct scan_plan p = {.whole = true};
    return scan(ctx, symbol, tf, now, &p, out, err);
}
