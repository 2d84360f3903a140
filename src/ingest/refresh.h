/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_REFRESH_H
#define CK_INGEST_REFRESH_H

#include "ingest/feed.h"
#include "ingest/ingest.h"
#include "market/timeframe.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A refresh: one incremental fetch of each series of a feed in one
 * timeframe, every request through feed_fetch(). The scheduled
 * refresh_candles_<TF> job and `candlekeep fetch` are both this; they
 * differ in the options below.
 */

/* How one series went. */
enum series_outcome {
    SERIES_RUN_OK,
    SERIES_RUN_FAILED,   /* the provider or its answer failed (after the retries) */
    SERIES_RUN_DEFERRED, /* no token of the budget in time, or the provider asked to wait:
                            nothing more was sent; not a failure of the series */
    SERIES_RUN_SKIPPED,  /* skipped after too many failures in a row (probed now and then) */
    SERIES_RUN_REJECTED, /* the circuit breaker is open: nothing was sent */
};
/* "ok", "failed", "deferred", "skipped", "rejected". */
const char *series_outcome_name(enum series_outcome o);

struct series_run {
    const char *source; /* borrowed from the feed */
    const char *symbol; /* borrowed from the feed */
    enum timeframe tf;
    enum series_outcome outcome;
    struct ingest_stats stats; /* OK */
    int64_t streak;            /* SKIPPED: failures in a row */
    int64_t retry_at_ms;       /* DEFERRED: when a request may go again; REJECTED: the next
                                  probe; 0: unknown */
    int rc;                    /* FAILED, DEFERRED, REJECTED: the code */
    struct strbuf message;     /* FAILED, DEFERRED, REJECTED: why (secrets redacted) */
};

/* What a refresh (or several) found; REFRESH_RESULT_INIT, refresh_result_release(). */
struct refresh_result {
    struct series_run *v; /* in the order they were taken */
    size_t n, alloc;
    bool db_failed;         /* the database failed: the refresh stopped there */
    bool stopped;           /* the caller asked to stop (deadline, shutdown) */
    struct strbuf db_error; /* with db_failed */
};
#define REFRESH_RESULT_INIT                                                                        \
    {                                                                                              \
        .db_error = STRBUF_INIT                                                                    \
    }
void refresh_result_release(struct refresh_result *r);
/*
 * Move the series runs of `src` to the end of `dst`, with its database
 * failure and stop; `src` is left empty (release it still).
 */
void refresh_result_take(struct refresh_result *dst, struct refresh_result *src);

struct refresh_opts {
    enum timeframe tf;
    const char *symbol; /* only this symbol; NULL: every symbol of the feed */
    int64_t now;        /* Unix seconds: what "closed" and "newest" are measured against */
    int64_t gap_window; /* seconds scanned for gaps after each fetch */
    bool refetch;       /* ask for the latest `backfill` candles even if some are stored */
    /*
     * The scheduled job's ways: take the most overdue series first, skip
     * a series after `symbol_skip_after` failures in a row (probing it
     * now and then), and record each series' outcome (series_state), which
     * /health and the skipping read. A manual fetch does none of these.
     */
    bool scheduled;
    struct feed_env env;
    struct source *source; /* the adapter to fetch with; NULL: one opened for the refresh */
    bool (*should_stop)(void *arg); /* may be NULL */
    void *stop_arg;
};

/*
 * Refresh the series of `f` in `o->tf` (those it lists; `o->symbol`
 * narrows them), appending one entry per series to `out`. One failing
 * series never stops the others; once a request is deferred for want of
 * budget, the series after it are deferred without asking again. Stops at
 * once when the database fails (out->db_failed) or the caller asks
 * (out->stopped). Metrics (`o->env.metrics`) count what was stored,
 * rejected, deferred, skipped and refused. Thread-safe as feed_fetch().
 */
void ingest_refresh(struct feed *f, const struct refresh_opts *o, struct refresh_result *out);

/* Which series a manual fetch takes; NULL / false: all. */
struct fetch_selection {
    const char *source; /* a feed's name */
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
};

/*
 * `candlekeep fetch`: refresh every selected series of the enabled feeds
 * among `feeds` (a feed's timeframes in its configured order), as
 * ingest_refresh() with `o` (whose `tf` and `symbol` are set here).
 * Returns how many series were selected.
 */
size_t ingest_fetch(struct feed *const *feeds, size_t nfeeds, const struct fetch_selection *sel,
                    const struct refresh_opts *o, struct refresh_result *out);

#endif
