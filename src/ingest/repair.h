/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_REPAIR_H
#define CK_INGEST_REPAIR_H

#include "ingest/feed.h"
#include "market/timeframe.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct source;

/*
 * Gap repair: for each open gap of the ledger whose series a feed lists,
 * fetch exactly its window (through feed_fetch(): the breaker, the rate
 * budget, the retries) and judge the record again by what is stored:
 *
 *   open -> repairing -> filled       every candle of the window is stored
 *                     -> open         some are still missing: the record
 *                                     narrows to them; reason
 *                                     provider_no_data (asked, nothing came
 *                                     back) or fetch_failed (the call failed)
 *                     -> unfillable   the provider answered without them
 *                                     `attempts` times over at least
 *                                     `min_age` seconds: not asked again
 *                                     (the watch_alerts job raises its
 *                                     alert, once: jobs/watch.c); at once,
 *                                     as beyond_history, when a venue that
 *                                     keeps only recent rows answers from
 *                                     a horizon after the missing candles
 *
 * A gap that was answered empty is asked again only when its next attempt
 * is due: attempts are spread evenly over `min_age` (with 3 attempts over a
 * day: at its first attempt, 12 h later and 24 h later), so a window the
 * venue never serves does not spend the budget every cycle.
 */

struct repair_opts {
    int64_t now;      /* Unix seconds */
    int64_t attempts; /* empty answers before a gap is unfillable (>= 1) */
    int64_t min_age;  /* seconds from the first empty answer before it is unfillable */
    /* Which gaps: NULL / false means any. */
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
    struct feed_env env;
    struct source *adapter; /* the adapter to fetch with (one feed's); NULL: one opened per feed */
    bool (*should_stop)(void *arg); /* may be NULL */
    void *stop_arg;
};

struct repair_result {
    size_t gaps;         /* gaps taken */
    size_t not_due;      /* open gaps whose next attempt is not due yet */
    size_t filled;       /* gaps now filled */
    size_t open;         /* gaps still open after the attempt */
    size_t unfillable;   /* gaps that became unfillable */
    size_t failed;       /* gaps whose fetch failed */
    size_t deferred;     /* gaps not asked for want of budget (or a stop) */
    size_t requests;     /* pages answered */
    size_t stored;       /* candles stored */
    bool db_failed;      /* the database failed: the repair stopped there */
    bool stopped;        /* the caller asked to stop */
    struct strbuf error; /* the first failure (database or fetch), redacted */
};
#define REPAIR_RESULT_INIT                                                                         \
    {                                                                                              \
        .error = STRBUF_INIT                                                                       \
    }
void repair_result_release(struct repair_result *r);

/*
 * Repair the open gaps `o` selects of the enabled feeds among `feeds`,
 * oldest first per feed, adding up what happened in `out`. One gap whose
 * fetch fails does not stop the others; a deferral (no budget) ends that
 * feed's repair until the next run. Stops at once when the database fails
 * or the caller asks. Thread-safe as feed_fetch().
 */
void ingest_repair(struct feed *const *feeds, size_t nfeeds, const struct repair_opts *o,
                   struct repair_result *out);

#endif
