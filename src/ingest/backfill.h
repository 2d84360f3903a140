/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_BACKFILL_H
#define CK_INGEST_BACKFILL_H

#include "ingest/feed.h"
#include "market/timeframe.h"
#include "store/backfill.h"

#include <stdbool.h>
#include <stdint.h>

struct source;
struct source_settings;
struct strbuf;

/*
 * Backfill: the history of one series from a date, fetched forwards page
 * by page within the venue's limits, for `candlekeep backfill`,
 * POST /backfills and the daemon's `backfill` job alike.
 *
 * Every page is one request through feed_fetch() (one token of the
 * provider's budget) and is stored as it arrives, in one transaction with
 * the backfill's new position (store/backfill.h), so a backfill that is
 * killed continues from the last page it stored: at most the request in
 * flight is asked again.
 *
 * The refresh jobs go first: before each request the backfill looks at
 * the budget (store_rate_peek()) and defers while no more than
 * `reserve_pct` percent of the window's (or the day's) tokens are left.
 *
 * The venue's limits are the kind's (source.h): max_rows per request, and
 * a venue that serves only its latest max_rows candles (recent_only) gets
 * a `not_served` note saying what cannot be fetched from it. An empty
 * answer before any candle, or a first candle later than the calendar
 * expects one, is the venue's first candle: a `beyond_history` note, not
 * an error.
 *
 * One process pages a backfill at a time: it holds the lease
 * "backfill:<id>" (store/jobs.h), renewed with every page; a lease left by
 * a process of this host that died is taken over at once.
 */

/* What to backfill. */
struct backfill_spec {
    const char *symbol;
    enum timeframe tf;
    int64_t since; /* Unix s: the first open time wanted (rounded up to the timeframe) */
    int64_t until; /* Unix s: open times before it; 0: up to the present */
};

/*
 * The backfill of `spec` from source `src` at `now`: the one not done yet
 * over the same series and range when there is one (`*resumed` true), else
 * a new one, queued. Checks the request first: a source that is disabled,
 * a timeframe the venue does not serve, a range that is empty or starts
 * in the future are CK_EINVAL with the reason in `err`. Release `out`.
 */
int backfill_open(struct store *st, const struct source_settings *src,
                  const struct backfill_spec *spec, int64_t now, struct backfill_row *out,
                  bool *resumed, struct strbuf *err);

/* How a run went. */
enum backfill_outcome {
    BACKFILL_RUN_DONE,     /* reached its end, or the venue's */
    BACKFILL_RUN_DEFERRED, /* stopped for the reserve, a ban, the circuit, a deadline or a stop */
    BACKFILL_RUN_FAILED,   /* the provider failed it (after the retries) */
    BACKFILL_RUN_BUSY,     /* another process is paging it */
};
/* "done", "deferred", "failed", "busy". */
const char *backfill_outcome_name(enum backfill_outcome o);

/* What a progress callback is told, after each page and while waiting. */
struct backfill_progress {
    const struct backfill_row *row; /* the backfill as stored now */
    int64_t end;                    /* the last open time wanted */
    int64_t start;                  /* the position this run started from */
    int64_t candles;                /* stored by this run */
    int64_t requests;               /* answered in this run */
    int64_t elapsed_ms;             /* since this run started */
    int64_t budget_left;            /* tokens left in the budget's window; -1 unknown */
    int64_t budget_window;          /* the window's tokens */
    int64_t eta_s;                  /* seconds left at this run's pace; -1 unknown */
    const char *waiting;            /* waiting for the budget: why; NULL when not */
};
typedef void backfill_progress_fn(void *arg, const struct backfill_progress *p);

struct backfill_opts {
    struct feed_env env;   /* the store is the caller's connection; no_budget_wait is set here;
                              env.instance MUST be set (the lease's holder) */
    struct source *source; /* the adapter to fetch with; NULL: one opened for the run */
    int64_t reserve_pct;   /* [ingest] backfill_reserve */
    bool wait;             /* wait for the budget (until the deadline) instead of deferring */
    bool (*should_stop)(void *arg); /* may be NULL */
    void *stop_arg;
    backfill_progress_fn *progress; /* may be NULL */
    void *progress_arg;
};

struct backfill_report {
    enum backfill_outcome outcome;
    struct backfill_row row; /* as stored at the end (released by backfill_report_release()) */
    int64_t candles;         /* stored by this run */
    int64_t requests;        /* answered in this run */
    int64_t elapsed_ms;
    struct strbuf message; /* DEFERRED, FAILED, BUSY: why */
};
void backfill_report_init(struct backfill_report *r);
void backfill_report_release(struct backfill_report *r);

/*
 * Carry backfill `id` of feed `f` forward until it is done, fails, or is
 * deferred (see the outcomes above), recording every page. Returns 0 with
 * the outcome in `out`, or a negative CK_E* when the database failed or
 * the backfill cannot be read (the reason in `err`). Thread-safe as
 * feed_fetch(): the store is the calling thread's.
 */
int backfill_run(struct feed *f, int64_t id, const struct backfill_opts *o,
                 struct backfill_report *out, struct strbuf *err);

#endif
