/* SPDX-License-Identifier: MIT */
/*
 * Gap repair (see repair.h): the ledger's open gaps, fetched window by
 * window and judged again by what is stored.
 *
 * One gap at a time. The record is marked `repairing` before its first
 * request, so that `candlekeep gaps` and the API show the work in flight;
 * its window is then asked for page by page, each request bounded to the
 * window (fetch_request.until) and drawn from the feed's rate budget,
 * exactly as a refresh's; each page is stored as it arrives. Then the
 * stored candles of the window are compared with the calendar, and the
 * record is written back once: filled, narrowed to what is still missing
 * (open), or unfillable.
 *
 * Truthful reasons. A window asked for and answered without the candles
 * is `provider_no_data`, and counts as an attempt; a failed call is
 * `fetch_failed` and does not count (the venue said nothing about the
 * candles). A request that could not go out (no budget, an open circuit,
 * a stop) leaves the record open with its old reason: nothing was asked.
 * A venue that keeps only recent rows (Kraken's 720) and answers from a
 * horizon after the missing candles makes the gap `beyond_history`, and
 * unfillable at once.
 *
 * A record left `repairing` by a process that died is taken again once it
 * has not been touched for an hour.
 *
 * The repair never decides alone that a window is lost: it takes
 * `attempts` empty answers spread over at least `min_age`. Telling the
 * operators is the watch_alerts job's (one `gap-unfillable:` alert per
 * unfillable record, raised once), so a gap turned unfillable by the
 * command and one turned so by the job are told alike, and once.
 */
#include "ingest/repair.h"

#include "ingest/ingest.h"
#include "market/candle.h"
#include "market/gaps.h"
#include "resilience/guard.h"
#include "source/source.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Pages one gap's window may take at most (a window is seldom more than one). */
#define REPAIR_MAX_PAGES 200
/* A record `repairing` this long is one whose repairer died. */
#define REPAIR_STALE_S 3600

void repair_result_release(struct repair_result *r)
{
    strbuf_release(&r->error);
}

/* How the fetch of one window went. */
enum window_outcome {
    WINDOW_ASKED,    /* answered (some pages may hold nothing) */
    WINDOW_FAILED,   /* a call failed: the venue said nothing about the candles */
    WINDOW_NOT_SENT, /* deferred, refused by an open circuit or stopped: nothing asked */
    WINDOW_PARTIAL,  /* as WINDOW_NOT_SENT after some pages were answered */
    WINDOW_DB,       /* the database failed */
};

/* What one feed's repair keeps while it goes through the gaps. */
struct run {
    struct feed *feed;
    const struct repair_opts *o;
    struct repair_result *out;
    struct source *src; /* opened on the first gap that is due */
};

static void first_error(struct repair_result *out, const struct strbuf *err)
{
    if (out->error.len || !err->len)
        return;
    strbuf_addbuf(&out->error, err);
    redact_message(&out->error);
}

/* Is gap `g` due for an attempt at `now`? Empty answers are spread over min_age. */
static bool is_due(const struct repair_opts *o, const struct gap_record *g)
{
    int64_t spacing;

    if (g->attempts <= 0 || !g->first_attempt)
        return true;
    spacing = o->attempts > 1 ? o->min_age / (o->attempts - 1) : o->min_age;
    return o->now >= g->first_attempt + g->attempts * spacing;
}

/*
 * Fetch the window of `g`, page by page, storing each page. `*oldest` gets
 * the open time of the oldest candle the provider sent (INT64_MAX: none).
 */
static enum window_outcome fetch_window(struct run *r, const struct gap_record *g, int64_t *oldest,
                                        struct strbuf *err)
{
    const struct source_kind *kind = source_kind_of(r->src);
    const int64_t period = timeframe_seconds(g->tf);
    struct series_key key = {.source = feed_name(r->feed), .symbol = g->symbol, .tf = g->tf};
    struct fetch_request req = {
        .symbol = g->symbol,
        .tf = g->tf,
        .has_since = true,
        .since = g->first - period,
        .until = g->last,
        .count = kind->max_rows,
        .now = r->o->now,
    };
    struct fetch_result res = FETCH_RESULT_INIT;
    struct ingest_ctx ic = {
        .store = r->o->env.store, .source = r->src, .source_name = feed_name(r->feed)};
    struct ingest_stats st = {0};
    enum window_outcome how = WINDOW_ASKED;

    *oldest = INT64_MAX;
    for (int page = 0; page < REPAIR_MAX_PAGES; page++) {
        struct guard_report report = {0};
        int64_t last;
        int rc = feed_fetch(r->feed, r->src, &r->o->env, &req, &res, &report, err);

        if (rc) {
            switch (report.outcome) {
            case GUARD_STORE:
                how = WINDOW_DB;
                break;
            case GUARD_DEFERRED:
            case GUARD_REJECTED:
            case GUARD_STOPPED:
                /* Pages already answered were asked; the rest was not. */
                how = page ? WINDOW_PARTIAL : WINDOW_NOT_SENT;
                break;
            default:
                how = WINDOW_FAILED;
                break;
            }
            break;
        }
        r->out->requests++;
        if (ingest_store_page(&ic, &key, &res, r->o->now, &st, err)) {
            how = WINDOW_DB;
            break;
        }
        if (!res.candles.n)
            break;
        if (res.candles.v[0].open_time < *oldest)
            *oldest = res.candles.v[0].open_time;
        last = res.candles.v[res.candles.n - 1].open_time;
        if (last >= g->last || last <= req.since ||
            (!res.more && res.candles.n < (size_t)kind->max_rows))
            break;
        req.since = last;
        fetch_result_release(&res);
    }
    r->out->stored += st.stored;
    fetch_result_release(&res);
    return how;
}

/*
 * The candles of `g`'s window still missing, by the calendar: `*any` says
 * whether there are any, and `*left` spans them (first, last, count).
 */
static int still_missing(struct run *r, const struct gap_record *g, struct gap_range *left,
                         bool *any, struct strbuf *err)
{
    struct series_key key = {.source = feed_name(r->feed), .symbol = g->symbol, .tf = g->tf};
    const int64_t to = g->last + timeframe_seconds(g->tf);
    struct gap_range *gaps = NULL;
    size_t ngaps = 0, alloc = 0, nhave = 0;
    int64_t *have = NULL;
    int rc = ingest_stored_times(r->o->env.store, &key, g->first, to, &have, &nhave, err);

    *any = false;
    if (rc)
        return rc;
    gaps_find(feed_calendar(r->feed), g->tf, g->first, to, have, nhave, &gaps, &ngaps, &alloc);
    if (ngaps) {
        *any = true;
        left->first = gaps[0].first;
        left->last = gaps[ngaps - 1].last;
        left->count = 0;
        for (size_t i = 0; i < ngaps; i++)
            left->count += gaps[i].count;
    }
    free(have);
    free(gaps);
    return 0;
}

static void log_gap(const char *what, const struct run *r, const struct gap_record *g)
{
    char a[TIME_BUFSZ], b[TIME_BUFSZ];

    time_format_iso8601(g->first, a);
    time_format_iso8601(g->last, b);
    log_info("repair: %s %s %s: gap %lld (%s to %s, %lld candles) %s", feed_name(r->feed),
             g->symbol, timeframe_name(g->tf), (long long)g->id, a, b, (long long)g->count, what);
}

/* Repair one gap; false when the feed's repair should stop (no budget, database, stop). */
static bool repair_gap(struct run *r, struct gap_record *g)
{
    const struct repair_opts *o = r->o;
    struct repair_result *out = r->out;
    struct strbuf err = STRBUF_INIT;
    enum window_outcome how;
    struct gap_range left = {0};
    bool any, go_on = true;
    char *old_reason = g->reason;
    int64_t oldest;

    out->gaps++;
    g->state = GAP_REPAIRING;
    g->last_checked = o->now;
    if (store_update_gap(o->env.store, g, &err))
        goto db;

    how = fetch_window(r, g, &oldest, &err);
    if (how == WINDOW_DB)
        goto db;
    if (how == WINDOW_NOT_SENT) {
        /* Nothing was asked: back to open, reason unchanged. */
        out->deferred++;
        go_on = false;
        if (err.len)
            log_info("repair: %s %s %s: gap %lld not asked: %s", feed_name(r->feed), g->symbol,
                     timeframe_name(g->tf), (long long)g->id, err.buf);
        g->state = GAP_OPEN;
        if (store_update_gap(o->env.store, g, &err))
            goto db;
        goto out;
    }
    if (how == WINDOW_PARTIAL)
        go_on = false; /* what was answered is stored; the rest waits for the budget */
    if (how == WINDOW_FAILED) {
        out->failed++;
        first_error(out, &err);
        log_info("repair: %s %s %s: gap %lld: fetch failed: %s", feed_name(r->feed), g->symbol,
                 timeframe_name(g->tf), (long long)g->id, err.buf);
    }
    strbuf_reset(&err);
    if (still_missing(r, g, &left, &any, &err))
        goto db;

    if (!any) {
        g->state = GAP_FILLED;
        out->filled++;
        log_gap("filled", r, g);
    } else {
        g->first = left.first;
        g->last = left.last;
        g->count = left.count;
        g->state = GAP_OPEN;
        if (how == WINDOW_PARTIAL) {
            /* Not asked for all of it: no attempt, and the reason stands. */
            out->deferred++;
        } else if (how == WINDOW_FAILED) {
            g->reason = (char *)gap_reason_name(GAP_REASON_FETCH_FAILED);
        } else if (source_kind_of(r->src)->recent_only && left.last < oldest &&
                   oldest != INT64_MAX) {
            /*
             * A venue that keeps only recent rows answered from its
             * horizon on: what is missing lies before it and only gets
             * older. Asking again cannot help.
             */
            g->reason = (char *)gap_reason_name(GAP_REASON_BEYOND);
            g->attempts++;
            if (!g->first_attempt)
                g->first_attempt = o->now;
            g->state = GAP_UNFILLABLE;
        } else {
            g->reason = (char *)gap_reason_name(GAP_REASON_NO_DATA);
            g->attempts++;
            if (!g->first_attempt)
                g->first_attempt = o->now;
            if (g->attempts >= o->attempts && o->now - g->first_attempt >= o->min_age)
                g->state = GAP_UNFILLABLE;
        }
        if (g->state == GAP_UNFILLABLE)
            out->unfillable++;
        else if (how != WINDOW_PARTIAL)
            out->open++;
    }
    if (store_update_gap(o->env.store, g, &err)) {
        g->reason = old_reason;
        goto db;
    }
    if (g->state == GAP_UNFILLABLE)
        log_gap("is unfillable: the provider has answered without it", r, g);
    g->reason = old_reason; /* the record's own string, freed with it */
    goto out;
db:
    out->db_failed = true;
    strbuf_reset(&out->error);
    strbuf_addbuf(&out->error, &err);
    redact_message(&out->error);
    go_on = false;
out:
    strbuf_release(&err);
    return go_on;
}

/* The gaps of the feed to look at: open ones, and repairing ones whose repairer died. */
static int list_gaps(struct run *r, struct gap_record **out, size_t *n, struct strbuf *err)
{
    const struct repair_opts *o = r->o;
    struct gap_query q = {
        .source = feed_name(r->feed),
        .symbol = o->symbol,
        .has_tf = o->has_tf,
        .tf = o->tf,
        .has_state = true,
        .state = GAP_OPEN,
    };
    struct gap_record *open = NULL, *stale = NULL;
    size_t nopen = 0, nstale = 0;
    int rc = store_list_gaps(o->env.store, &q, &open, &nopen, err);

    if (!rc) {
        q.state = GAP_REPAIRING;
        rc = store_list_gaps(o->env.store, &q, &stale, &nstale, err);
    }
    if (rc) {
        gap_records_free(open, nopen);
        return rc;
    }
    *out = xcalloc(nopen + nstale + 1, sizeof(**out));
    *n = 0;
    /* Oldest first: the listings are newest first. */
    for (size_t i = nopen; i-- > 0;)
        (*out)[(*n)++] = open[i];
    for (size_t i = nstale; i-- > 0;) {
        if (stale[i].last_checked + REPAIR_STALE_S <= o->now) {
            (*out)[(*n)++] = stale[i];
        } else {
            free(stale[i].source);
            free(stale[i].symbol);
            free(stale[i].reason);
        }
    }
    free(open);
    free(stale);
    return 0;
}

static void repair_feed(struct feed *f, const struct repair_opts *o, struct repair_result *out)
{
    struct run r = {.feed = f, .o = o, .out = out};
    struct strbuf err = STRBUF_INIT;
    struct gap_record *gaps = NULL;
    size_t n = 0;

    if (list_gaps(&r, &gaps, &n, &err)) {
        out->db_failed = true;
        strbuf_reset(&out->error);
        strbuf_addbuf(&out->error, &err);
        redact_message(&out->error);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct gap_record *g = &gaps[i];

        if (!feed_lists_symbol(f, g->symbol) || !feed_lists_timeframe(f, g->tf))
            continue;
        if (!is_due(o, g)) {
            out->not_due++;
            continue;
        }
        if (o->should_stop && o->should_stop(o->stop_arg)) {
            out->stopped = true;
            break;
        }
        if (!r.src && o->adapter)
            r.src = o->adapter;
        if (!r.src && feed_source_open(f, &r.src, &err)) {
            out->failed++;
            first_error(out, &err);
            break;
        }
        if (!repair_gap(&r, g))
            break;
    }
out:
    if (r.src != o->adapter)
        source_free(r.src);
    gap_records_free(gaps, n);
    strbuf_release(&err);
}

void ingest_repair(struct feed *const *feeds, size_t nfeeds, const struct repair_opts *o,
                   struct repair_result *out)
{
    for (size_t i = 0; i < nfeeds && !out->db_failed && !out->stopped; i++) {
        const struct feed_config *fc = feed_config(feeds[i]);

        if (!fc->enabled || (o->source && strcmp(o->source, feed_name(feeds[i]))))
            continue;
        repair_feed(feeds[i], o, out);
    }
}
