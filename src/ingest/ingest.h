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
struct source;
struct store;
struct strbuf;

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
 * Scan the stored candles of the series over the gap window ending at `now`
 * and reconcile the gap ledger. Used after every refresh and by
 * `candlekeep gaps --rescan`. The window starts no earlier than the first
 * stored candle and ends after the newest one, so a series' beginning and a
 * candle the provider has not published yet are not gaps.
 */
int ingest_scan_gaps(struct ingest_ctx *ctx, const char *symbol, enum timeframe tf, int64_t now,
                     struct ingest_stats *out, struct strbuf *err);

#endif
