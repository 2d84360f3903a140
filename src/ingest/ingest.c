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
 *  5. The recent window is scanned against the trading calendar and the
 *     gap ledger reconciled.
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

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Reason recorded for a hole found after a successful fetch covering it. */
#define GAP_REASON_NO_DATA "provider_no_data"
/* Pages one refresh of one series may fetch at most (the deadline and budget stop it sooner). */
#define INGEST_MAX_PAGES 1000

/* Drop forming bars, validate, and upsert one page of the provider's answer. */
static int store_page(struct ingest_ctx *ctx, const struct series_key *key,
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
    int64_t latest = 0, want;
    int rc;

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
        if (rc)
            goto out;
        out->pages++;
        if (res.note[0])
            log_warn("ingest: %s %s %s: %s", ctx->source_name, symbol, timeframe_name(tf),
                     res.note);
        rc = store_page(ctx, &key, &res, now, out, err);
        if (rc)
            goto out;
        if (!req.has_since)
            break;
        /*
         * A short page is the provider's last (asking again would only
         * spend budget), unless the request was a window of periods:
         * then paging goes on after the window, empty or not.
         */
        if (!res.window_end && !res.more &&
            (!res.candles.n || res.candles.n < (size_t)kind->max_rows))
            break;
        last = res.candles.n ? res.candles.v[res.candles.n - 1].open_time : req.since;
        if (res.window_end > last)
            last = res.window_end;
        if (last <= req.since || last >= newest)
            break;
        req.since = last;
        fetch_result_release(&res);
    }

    rc = ingest_scan_gaps(ctx, symbol, tf, now, out, err);
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

int ingest_scan_gaps(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                     struct ingest_stats *out, struct strbuf *err)
{
    struct series_key key = {.source = ctx->source_name, .symbol = symbol, .tf = tf};
    struct candle_query q = {.series = key, .has_start = true, .has_end = true};
    struct candle_iter *it = NULL;
    struct gap_range *gaps = NULL;
    struct gap_sync_result sync;
    int64_t *have = NULL, first, latest, from, to;
    size_t nhave = 0, have_alloc = 0, ngaps = 0, gaps_alloc = 0;
    struct candle c;
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
    if (rc)
        return rc;

    from = timeframe_floor(tf, now - ctx->gap_window);
    if (from < first)
        from = first;
    to = latest + timeframe_seconds(tf); /* exclusive */

    q.start = from;
    q.end = to - 1;
    q.order = STORE_ASC;
    rc = store_query_candles(ctx->store, &q, &it, err);
    if (rc)
        return rc;
    while ((rc = candle_iter_next(it, &c, err)) == ITER_OK) {
        ALLOC_GROW(have, nhave + 1, have_alloc);
        have[nhave++] = c.open_time;
    }
    candle_iter_free(it);
    if (rc != ITER_DONE)
        goto out;

    gaps_find(ctx->cal, tf, from, to, have, nhave, &gaps, &ngaps, &gaps_alloc);
    rc = store_sync_gaps(ctx->store, &key, from, to, gaps, ngaps, GAP_REASON_NO_DATA, now, &sync,
                         err);
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
    return rc;
}
