/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_DERIVE_H
#define CK_INGEST_DERIVE_H

/*
 * Derived timeframes over the store: build candles of a higher timeframe
 * from the stored candles of a lower one (market/resample.h says which
 * exist and how they add up), store them, and cross-check candles a venue
 * sent against derived ones.
 */
#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct ingest_ctx;
struct store;
struct strbuf;

/* One series to derive or verify, and the window. */
struct derive_request {
    const char *source;
    const char *symbol;
    enum timeframe lower, upper;
    bool has_since; /* only candles of buckets that reach `since` or later */
    int64_t since;
    int64_t now; /* buckets closing after `now` are forming: never derived */
};

struct derive_stats {
    size_t lower;      /* lower candles read */
    size_t built;      /* derived candles (stored by derive_series()) */
    size_t incomplete; /* buckets left out: a lower candle the calendar expects is missing */
};

/*
 * Derive the candles of `rq->upper` from the stored `rq->lower` of the
 * series and upsert them (one transaction). Returns 0 or CK_E* with the
 * reason, naming the series, in `err`.
 */
int derive_series(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                  struct derive_stats *out, struct strbuf *err);

/* A field of a stored candle that differs from the derived one. */
struct derive_mismatch {
    int64_t open_time;
    const char *field; /* "open", "high", "low", "close" or "volume" (static) */
    int64_t stored, derived;
    bool stored_null, derived_null; /* volume only */
};

struct verify_result {
    size_t compared;           /* stored candles with a derived one to compare with */
    size_t bad;                /* of those, candles with at least one mismatch */
    size_t unchecked;          /* stored candles whose lower candles are not all there */
    size_t unstored;           /* derived candles the venue's series lacks */
    struct derive_mismatch *v; /* in open time order, fields in the order above */
    size_t n, alloc;
};
void verify_result_release(struct verify_result *r);

/*
 * Compare the stored candles of `rq->upper` with candles derived from the
 * stored `rq->lower` (nothing is written). Returns 0 (mismatches are a
 * result, not an error) or CK_E* with the reason in `err`.
 */
int derive_verify(struct store *st, const struct calendar *cal, const struct derive_request *rq,
                  struct verify_result *out, struct strbuf *err);

/*
 * The refresh's hook (ingest_series()): after timeframe `tf` of `symbol`
 * was refreshed, derive every timeframe ctx->derive builds from it, from
 * the newest derived candle (or the gap window, when that starts earlier,
 * so that a repaired lower hole is derived too) to `now`. Does nothing
 * when ctx->derive is NULL.
 */
int derive_after_refresh(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                         struct strbuf *err);

/*
 * Refresh a derived timeframe `tf` of `symbol` (the scheduled refresh of a
 * timeframe the source derives): derive it as derive_after_refresh() does
 * for its lower timeframe. `*built` (may be NULL) gets the candles stored.
 */
int derive_refresh(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                   size_t *built, struct strbuf *err);

#endif
