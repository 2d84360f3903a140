/* SPDX-License-Identifier: MIT */
/*
 * Derived timeframes over the store (see derive.h).
 *
 * A derivation reads the lower candles of whole buckets: the window starts
 * at the start of the bucket that holds `since`, so the first derived
 * candle sees all of its lower candles, and ends at `now`. The arithmetic
 * and the calendar rules are market/resample.c's; this file moves candles
 * between it and the store.
 *
 * After a refresh, derivation starts at the newest derived candle (its
 * bucket is derived again: cheap, and an upsert of equal values changes
 * nothing) or at the start of the gap window when that is earlier, so a
 * lower hole repaired since is derived too, without reading the whole
 * history on every refresh.
 */
#include "ingest/derive.h"

#include "ingest/ingest.h"
#include "market/calendar.h"
#include "market/candle.h"
#include "market/resample.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* The lower candles of the request's window, and the first bucket's label. */
static int read_lower(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                      struct candle_vec *out, int64_t *label, struct strbuf *err)
{
    struct candle_query q = {
        .series = {.source = rq->source, .symbol = rq->symbol, .tf = rq->lower},
        .has_end = true,
        .end = rq->now - 1,
        .order = STORE_ASC,
    };

    *label = INT64_MIN;
    if (rq->has_since) {
        struct resample_bucket b;
        resample_bucket_of(cal, rq->upper, rq->since, &b);
        q.has_start = true;
        q.start = b.start;
        *label = b.label;
    }
    return store_query_candles_vec(st, &q, out, err);
}

static void name_series(const struct derive_request *rq, struct strbuf *err)
{
    struct strbuf msg = STRBUF_INIT;

    strbuf_addf(&msg, "%s %s %s from %s: %s", rq->source, rq->symbol, timeframe_name(rq->upper),
                timeframe_name(rq->lower), err->buf);
    strbuf_reset(err);
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
}

/* Read the lower candles and build the derived ones into `out`. */
static int build(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                 struct candle_vec *out, int64_t *label, struct derive_stats *stats,
                 struct strbuf *err)
{
    struct candle_vec low = CANDLE_VEC_INIT;
    struct resample_stats rs;
    int rc;

    memset(stats, 0, sizeof(*stats));
    if (!resample_fits(calendar_get_kind(cal), rq->lower, rq->upper)) {
        strbuf_addf(err, "%s candles cannot be built from %s candles on a %s calendar",
                    timeframe_name(rq->upper), timeframe_name(rq->lower),
                    calendar_kind_name(calendar_get_kind(cal)));
        return CK_EINVAL;
    }
    rc = read_lower(st, cal, rq, &low, label, err);
    if (!rc)
        rc = resample(cal, rq->lower, rq->upper, low.v, low.n, rq->now, out, &rs, err);
    if (!rc) {
        stats->lower = low.n;
        stats->built = rs.built;
        stats->incomplete = rs.incomplete;
    }
    candle_vec_release(&low);
    return rc;
}

int derive_series(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                  struct derive_stats *out, struct strbuf *err)
{
    struct series_key key = {.source = rq->source, .symbol = rq->symbol, .tf = rq->upper};
    struct candle_vec up = CANDLE_VEC_INIT;
    int64_t label;
    int rc = build(st, cal, rq, &up, &label, out, err);

    if (!rc && up.n)
        rc = store_put_candles(st, &key, up.v, up.n, err);
    if (rc)
        name_series(rq, err);
    candle_vec_release(&up);
    return rc;
}

void verify_result_release(struct verify_result *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static void mismatch(struct verify_result *r, int64_t t, const char *field, int64_t stored,
                     bool stored_null, int64_t derived, bool derived_null)
{
    ALLOC_GROW(r->v, r->n + 1, r->alloc);
    r->v[r->n++] = (struct derive_mismatch){
        .open_time = t,
        .field = field,
        .stored = stored,
        .derived = derived,
        .stored_null = stored_null,
        .derived_null = derived_null,
    };
}

/* Compare one stored candle with its derived twin; true when they differ. */
static bool compare(struct verify_result *r, const struct candle *s, const struct candle *d)
{
    static const char *const names[] = {"open", "high", "low", "close"};
    const int64_t sv[] = {s->open, s->high, s->low, s->close};
    const int64_t dv[] = {d->open, d->high, d->low, d->close};
    size_t before = r->n;

    for (size_t i = 0; i < 4; i++)
        if (sv[i] != dv[i])
            mismatch(r, s->open_time, names[i], sv[i], false, dv[i], false);
    if (s->has_volume != d->has_volume || (s->has_volume && s->volume != d->volume))
        mismatch(r, s->open_time, "volume", s->volume, !s->has_volume, d->volume, !d->has_volume);
    return r->n > before;
}

int derive_verify(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                  struct verify_result *out, struct strbuf *err)
{
    struct candle_vec der = CANDLE_VEC_INIT, sto = CANDLE_VEC_INIT;
    struct derive_stats stats;
    int64_t label;
    size_t i = 0, j = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = build(st, cal, rq, &der, &label, &stats, err);
    if (!rc) {
        struct candle_query q = {
            .series = {.source = rq->source, .symbol = rq->symbol, .tf = rq->upper},
            .has_start = rq->has_since,
            .start = label,
            .has_end = true,
            .end = rq->now - 1,
            .order = STORE_ASC,
        };
        rc = store_query_candles_vec(st, &q, &sto, err);
    }
    if (rc) {
        name_series(rq, err);
        goto out;
    }
    /* Both ascending: a merge walk. */
    while (i < sto.n || j < der.n) {
        if (j == der.n || (i < sto.n && sto.v[i].open_time < der.v[j].open_time)) {
            out->unchecked++;
            i++;
        } else if (i == sto.n || der.v[j].open_time < sto.v[i].open_time) {
            out->unstored++;
            j++;
        } else {
            out->compared++;
            if (compare(out, &sto.v[i], &der.v[j]))
                out->bad++;
            i++;
            j++;
        }
    }
out:
    candle_vec_release(&der);
    candle_vec_release(&sto);
    return rc;
}

/* Derive `upper` of the context's series from its planned lower timeframe, incrementally. */
static int derive_one(struct ingest_ctx *ctx, const char *symbol, enum timeframe upper, int64_t now,
                      size_t *built, struct strbuf *err)
{
    struct series_key key = {.source = ctx->source_name, .symbol = symbol, .tf = upper};
    struct derive_request rq = {
        .source = ctx->source_name,
        .symbol = symbol,
        .lower = ctx->derive->from[upper],
        .upper = upper,
        .now = now,
    };
    struct derive_stats stats;
    int64_t latest;
    int rc = store_latest_time(ctx->store, &key, &latest, err);

    if (rc && rc != CK_ENOTFOUND)
        return rc;
    strbuf_reset(err);
    /* Nothing derived yet: from the first lower candle on. */
    if (!rc) {
        rq.has_since = true;
        rq.since = latest;
        if (ctx->gap_window > 0 && now - ctx->gap_window < latest)
            rq.since = now - ctx->gap_window;
    }
    rc = derive_series(ctx->store, ctx->cal, &rq, &stats, err);
    if (!rc && built)
        *built = stats.built;
    return rc;
}

int derive_after_refresh(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                         struct strbuf *err)
{
    if (!ctx->derive || ctx->derive->derived[tf])
        return 0;
    for (int up = 0; up < TF_COUNT; up++) {
        int rc;
        if (!ctx->derive->derived[up] || ctx->derive->from[up] != tf)
            continue;
        rc = derive_one(ctx, symbol, (enum timeframe)up, now, NULL, err);
        if (rc)
            return rc;
    }
    return 0;
}

int derive_refresh(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                   size_t *built, struct strbuf *err)
{
    if (!ctx->derive || !ctx->derive->derived[tf])
        BUG("derive: %s is not a derived timeframe", timeframe_name(tf));
    return derive_one(ctx, symbol, tf, now, built, err);
}
