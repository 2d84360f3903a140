/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_INGEST_H
#define CK_INGEST_INGEST_H

#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct resample_plan;
struct fetch_request;
struct fetch_result;
struct series_key;
struct source;
struct store;
struct strbuf;

/*
 * Why candles are missing, as the gap ledger records it. The names are
 * part of the interface (the ledger, `candlekeep gaps`, the API).
 */
enum gap_reason_code {
    GAP_REASON_NO_DATA,      /* "provider_no_data": asked, the venue had nothing */
    GAP_REASON_FETCH_FAILED, /* "fetch_failed": asked, the call failed (retried later) */
    GAP_REASON_PENDING,      /* "fetch_pending": not asked yet */
    GAP_REASON_DOWN,         /* "candlekeep_down": no process ran when the candles closed */
    GAP_REASON_BEYOND,       /* "beyond_history": before what the venue keeps */
};
const char *gap_reason_name(enum gap_reason_code r);

/*
 * How ingest_series() asks the provider: like source_fetch() (which is
 * what it calls when no hook is set). A refresh (ingest/refresh.h) hooks
 * in feed_fetch(): the circuit breaker, the rate budget, retries and bans.
 */
typedef int ingest_fetch_fn(void *arg, struct source *src, const struct fetch_request *req,
                            struct fetch_result *res, struct strbuf *err);

/*
 * Ingestion of one series: latest stored open time -> fetch only newer
 * candles (the first time: `backfill` of them) -> drop the still-forming
 * bar -> validate -> upsert in one transaction -> gap scan of the recent
 * window into the gap ledger.
 *
 * Everything a run needs is borrowed from the caller through the context;
 * one context is used by one thread at a time.
 */
struct ingest_ctx {
    struct store *store;
    struct source *source;
    const char *source_name;
    const struct calendar *cal;
    int backfill;           /* candles to ask for when a series is new; more than one request
                               holds are fetched page by page */
    int64_t gap_window;     /* seconds scanned for gaps after a refresh */
    bool refetch;           /* ask for the latest `backfill` candles even if some are stored,
                               so corrected values replace stored ones */
    ingest_fetch_fn *fetch; /* NULL: source_fetch() */
    void *fetch_arg;
    /* Timeframes built from the one refreshed (ingest/derive.h); NULL: none. */
    const struct resample_plan *derive;
};

struct ingest_stats {
    size_t pages;       /* requests answered */
    size_t fetched;     /* candles in the provider's answers */
    size_t stored;      /* candles upserted */
    size_t rejected;    /* invalid candles (reasons logged) */
    size_t forming;     /* still-forming bars dropped */
    size_t gaps_open;   /* open gaps in the window after the scan */
    size_t gaps_opened; /* new ledger records */
    size_t gaps_filled; /* ledger records found filled */
    bool first_fetch;   /* the series had no candles */
    int64_t since;      /* latest stored open time before the fetch (if !first_fetch) */
    int64_t latest;     /* latest stored open time after the run (0: none) */
    bool store_failed;  /* the failure was the database's, not the provider's */
};

/*
 * Refresh series (ctx->source_name, symbol, tf) at time `now`: one request,
 * or page after page while the answers move forward and the newest final
 * candle is not reached (catching up after downtime, or a backfill larger
 * than one request). Returns 0, or a negative CK_E* with a message naming
 * the series in `err`; nothing from a failed response is stored (pages
 * answered before it are). Invalid candles are logged (warn) and counted,
 * not stored; the rest of the batch is.
 */
int ingest_series(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                  struct ingest_stats *out, struct strbuf *err);

/*
 * Store one page of the provider's answer for series `key`: drop the bars
 * still forming at `now`, validate the rest (invalid ones are logged and
 * counted), upsert the valid ones in one call (joining the caller's
 * transaction if there is one). Adds to out->fetched, forming, rejected
 * and stored; sets out->store_failed when the database failed. The one
 * place a fetched candle is judged, for a refresh and a backfill alike.
 */
int ingest_store_page(struct ingest_ctx *ctx, const struct series_key *key,
                      const struct fetch_result *res, int64_t now, struct ingest_stats *out,
                      struct strbuf *err);

/*
 * Scan the stored candles of the series over the gap window ending at `now`
 * (and further back to the oldest gap still open) and reconcile the gap
 * ledger. Used after every refresh and by `candlekeep gaps --rescan`. The
 * window starts no earlier than the first stored candle and ends after the
 * newest one, so a series' beginning and a candle the provider has not
 * published yet are not gaps. New holes are `candlekeep_down` or
 * `fetch_pending` (see ingest.c).
 */
int ingest_scan_gaps(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                     struct ingest_stats *out, struct strbuf *err);

/*
 * ingest_scan_gaps() over the whole stored range of the series, from its
 * first candle to its newest (the weekly scan_history job).
 */
int ingest_scan_history(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                        struct ingest_stats *out, struct strbuf *err);

/*
 * Drop the forming bars of one answer of the provider, validate the rest
 * (invalid ones logged and counted) and upsert them in one transaction;
 * counts go to `out` (fetched, forming, rejected, stored). A database
 * failure sets out->store_failed.
 */
int ingest_store_page(struct ingest_ctx *ctx, const struct series_key *key,
                      const struct fetch_result *res, int64_t now, struct ingest_stats *out,
                      struct strbuf *err);

/*
 * The open times of the stored candles of `key` in [from, to), ascending,
 * in a new array `*out` (the caller frees it) of `*n`.
 */
int ingest_stored_times(struct store *st, const struct series_key *key, int64_t from, int64_t to,
                        int64_t **out, size_t *n, struct strbuf *err);

#endif
