/* SPDX-License-Identifier: MIT */
/*
 * Backfills (see backfill.h): a series' history paged forwards from a
 * date, one request per page through the feed, each page stored with the
 * backfill's position in one transaction.
 *
 * A page. The request asks for the candles after the position (the
 * fetch contract of source.h: the oldest up to max_rows of them). Candles
 * past the backfill's end are left out, still-forming ones are dropped and
 * the rest validated by ingest_store_page(), as a refresh does. The new
 * position is the newest open time of the answer. An empty answer that
 * says more may follow (the venue answered a window of its own, which
 * held nothing) moves the position over that window; an empty answer
 * without it means the venue has nothing after the position: the backfill
 * is done.
 *
 * The venue's first candle. When the first candle of the range comes
 * later than the trading calendar expects one after `since`, the venue
 * has no history before it: the backfill records a `beyond_history` note
 * with the first candle's time and goes on; an answer with nothing at all
 * in the range says so too. A recent_only venue (Kraken's 720 rows) gets a
 * `not_served` note when the backfill starts before what it serves, and
 * the backfill goes on from the oldest candle the venue still has.
 *
 * The reserve. Before each request the budget is looked at: when no more
 * than `reserve_pct` percent of its window's tokens (or of its day's) are
 * left, or a ban is in force, the backfill waits (a command) or defers (the
 * job, which carries it on at its next run). The request itself never
 * waits for a token (no_budget_wait): a token freed in the meantime goes
 * to whoever asks first, and the refresh jobs ask first because the
 * backfill leaves them the reserve.
 *
 * Ownership. The row and the source adapter are this run's; the feed and
 * the caller's store connection are borrowed.
 */
#include "ingest/backfill.h"

#include "ingest/ingest.h"
#include "market/calendar.h"
#include "market/gaps.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "source/source.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

/* How long a lease on a backfill lasts without a page renewing it, at least. */
#define BACKFILL_LEASE_MS 60000
/* Longest wait between two looks at the budget while waiting for its reserve. */
#define BACKFILL_POLL_MS 1000

const char *backfill_outcome_name(enum backfill_outcome o)
{
    switch (o) {
    case BACKFILL_RUN_DONE:
        return "done";
    case BACKFILL_RUN_DEFERRED:
        return "deferred";
    case BACKFILL_RUN_FAILED:
        return "failed";
    case BACKFILL_RUN_BUSY:
        return "busy";
    }
    return "unknown";
}

void backfill_report_init(struct backfill_report *r)
{
    memset(r, 0, sizeof(*r));
    strbuf_init(&r->message, 0);
}

void backfill_report_release(struct backfill_report *r)
{
    backfill_row_release(&r->row);
    strbuf_release(&r->message);
}

int backfill_open(struct store *st, const struct source_settings *src,
                  const struct backfill_spec *spec, int64_t now, struct backfill_row *out,
                  bool *resumed, struct strbuf *err)
{
    const int64_t period = timeframe_seconds(spec->tf);
    int64_t since = timeframe_floor(spec->tf, spec->since);
    char a[TIME_BUFSZ], b[TIME_BUFSZ];
    size_t mark = err->len;
    int rc;

    *resumed = false;
    memset(out, 0, sizeof(*out));
    if (since < spec->since)
        since += period; /* the first whole period from `since` */
    if (!src->enabled) {
        strbuf_addf(err, "source '%s' is disabled (enabled = false)", src->name);
        return CK_EINVAL;
    }
    if (src->venue && !source_kind_serves(src->venue, spec->tf)) {
        strbuf_addf(err, "%s does not serve %s candles (source '%s')", src->venue->title,
                    timeframe_name(spec->tf), src->name);
        return CK_EINVAL;
    }
    if (!spec->symbol || !*spec->symbol) {
        strbuf_addstr(err, "a backfill needs a symbol");
        return CK_EINVAL;
    }
    time_format_iso8601(since, a);
    if (since + period > now) {
        strbuf_addf(err, "since %s: no candle from then on has closed yet", a);
        return CK_EINVAL;
    }
    if (spec->until && spec->until <= since) {
        time_format_iso8601(spec->until, b);
        strbuf_addf(err, "until %s is not after since %s", b, a);
        return CK_EINVAL;
    }

    rc = store_backfill_find_open(st, src->name, spec->symbol, spec->tf, since, spec->until, out,
                                  err);
    if (!rc) {
        *resumed = true;
        return 0;
    }
    if (rc != CK_ENOTFOUND)
        return rc;
    strbuf_setlen(err, mark);
    *out = (struct backfill_row){
        .source = xstrdup(src->name),
        .symbol = xstrdup(spec->symbol),
        .tf = spec->tf,
        .since = since,
        .until = spec->until,
        .position = since - period,
        .state = BACKFILL_QUEUED,
        .note = xstrdup(""),
        .error = xstrdup(""),
        .created_at = now,
        .updated_at = now,
    };
    rc = store_backfill_add(st, out, err);
    if (rc)
        backfill_row_release(out);
    return rc;
}

/* Is `holder` (an instance id, "[cli:]HOST:PID:XXXX") a process of this host that is gone? */
static bool holder_dead(const char *holder)
{
    static const size_t cli_len = sizeof(SCHED_CLI_PREFIX) - 1;
    char host[128] = "";
    const char *colon, *end;
    char pid_text[24];
    int64_t pid;

    if (!strncmp(holder, SCHED_CLI_PREFIX, cli_len))
        holder += cli_len;
    gethostname(host, sizeof(host) - 1);
    colon = strchr(holder, ':');
    if (!colon || (size_t)(colon - holder) != strlen(host) || strncmp(holder, host, strlen(host)))
        return false;
    end = strchr(colon + 1, ':');
    if (!end || (size_t)(end - colon - 1) >= sizeof(pid_text))
        return false;
    memcpy(pid_text, colon + 1, (size_t)(end - colon - 1));
    pid_text[end - colon - 1] = '\0';
    if (parse_int64(pid_text, 1, INT32_MAX, &pid) || pid == (int64_t)getpid())
        return false;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/*
 * Hold the lease of the backfill until `until_ms`: claimed, renewed, or
 * taken over from a process of this host that died. CK_EBUSY with the
 * holder in `err` when a live process holds it.
 */
static int hold_lease(struct store *st, const char *name, const char *instance, int64_t now_ms,
                      int64_t until_ms, struct strbuf *err)
{
    struct lease_info *v = NULL;
    size_t n = 0, mark = err->len;
    int rc = store_lease_claim(st, name, instance, now_ms, until_ms, err);

    if (rc != CK_EBUSY)
        return rc;
    strbuf_setlen(err, mark);
    rc = store_lease_list(st, name, now_ms, &v, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        if (strcmp(v[i].name, name))
            continue;
        if (holder_dead(v[i].holder)) {
            log_info("backfill: taking over '%s' from '%s', which is gone", name, v[i].holder);
            rc = store_lease_release(st, name, v[i].holder, err);
            if (!rc)
                rc = store_lease_claim(st, name, instance, now_ms, until_ms, err);
        } else {
            strbuf_addf(err, "'%s' is carrying it forward", v[i].holder);
            rc = CK_EBUSY;
        }
        break;
    }
    lease_infos_free(v, n);
    if (!rc)
        return 0;
    if (rc == CK_EBUSY && err->len == mark)
        strbuf_addstr(err, "another process is carrying it forward");
    return rc;
}

/* What one run keeps while it pages. */
struct run {
    struct feed *feed;
    const struct backfill_opts *o;
    struct backfill_report *out;
    struct backfill_row *row;
    struct source *src;
    const struct source_kind *kind;
    struct strbuf lease;
    int64_t period;
    int64_t start_ms;
    int64_t start_pos;
    int64_t budget_left;
    int64_t lease_ms;
};

static int64_t run_now_ms(const struct run *r)
{
    return r->o->env.clock->now_ms(r->o->env.clock->arg);
}

/* The last open time the backfill wants at `now`: its end, or the newest final candle. */
static int64_t run_end(const struct run *r, int64_t now)
{
    int64_t newest = timeframe_floor(r->row->tf, now) - r->period;

    if (r->row->until && r->row->until - r->period < newest)
        return timeframe_floor(r->row->tf, r->row->until - 1);
    return newest;
}

static void report_progress(struct run *r, int64_t end, const char *waiting)
{
    struct backfill_progress p = {
        .row = r->row,
        .end = end,
        .start = r->start_pos,
        .candles = r->out->candles,
        .requests = r->out->requests,
        .elapsed_ms = run_now_ms(r) - r->start_ms,
        .budget_left = r->budget_left,
        .budget_window = feed_budget(r->feed)->per_window,
        .eta_s = -1,
        .waiting = waiting,
    };
    int64_t done = r->row->position - r->start_pos, left = end - r->row->position;

    r->out->elapsed_ms = p.elapsed_ms;
    if (done > 0 && left >= 0)
        p.eta_s = (int64_t)((double)left * (double)p.elapsed_ms / (double)done / 1000.0);
    if (r->o->progress)
        r->o->progress(r->o->progress_arg, &p);
}

/*
 * May the backfill send a request now? Not while a ban is in force or no
 * more than the reserve of the window's or the day's tokens is left.
 * False with the reason in `why` and the time to look again in `*retry_ms`.
 */
static int budget_allows(struct run *r, int64_t now_ms, bool *ok, int64_t *retry_ms,
                         struct strbuf *why, struct strbuf *err)
{
    const struct rate_budget *b = feed_budget(r->feed);
    int64_t reserve = (b->per_window * r->o->reserve_pct + 99) / 100;
    int64_t day_reserve = (b->per_day * r->o->reserve_pct + 99) / 100;
    struct rate_state rs;
    int rc = store_rate_peek(r->o->env.store, b, now_ms, &rs, err);

    *ok = true;
    if (rc)
        return rc;
    r->budget_left = b->per_window - rs.window_used;
    if (rs.refusal != RATE_FREE) {
        *ok = false;
        *retry_ms = rs.retry_at_ms > now_ms ? rs.retry_at_ms : now_ms + BACKFILL_POLL_MS;
        strbuf_addf(why, "the budget refuses (%s)", rate_refusal_name(rs.refusal));
        if (rs.banned_until_ms)
            strbuf_addf(why, ": %s", rs.ban_reason);
    } else if (r->budget_left <= reserve && reserve > 0) {
        int64_t step = b->window_ms / (b->per_window > 0 ? b->per_window : 1);
        *ok = false;
        *retry_ms = now_ms + (step < 100 ? 100 : step > BACKFILL_POLL_MS ? BACKFILL_POLL_MS : step);
        strbuf_addf(why, "%lld of %lld requests of the window left, the reserve is %lld%%",
                    (long long)r->budget_left, (long long)b->per_window,
                    (long long)r->o->reserve_pct);
    } else if (b->per_day && b->per_day - rs.day_used <= day_reserve && day_reserve > 0) {
        *ok = false;
        *retry_ms = (timeframe_floor(TF_D1, now_ms / 1000) + 86400) * 1000;
        strbuf_addf(why, "%lld of the day's %lld requests left, the reserve is %lld%%",
                    (long long)(b->per_day - rs.day_used), (long long)b->per_day,
                    (long long)r->o->reserve_pct);
    }
    return 0;
}

/*
 * Wait until `until_ms` when the caller wants waits and the deadline
 * allows; false when the run must defer instead.
 */
static bool wait_until(struct run *r, int64_t until_ms)
{
    const struct feed_env *env = &r->o->env;
    int64_t now_ms = run_now_ms(r), ms = until_ms - now_ms;

    if (!r->o->wait || (env->deadline_ms && until_ms > env->deadline_ms))
        return false;
    if (r->o->should_stop && r->o->should_stop(r->o->stop_arg))
        return false;
    if (ms > BACKFILL_POLL_MS)
        ms = BACKFILL_POLL_MS;
    return ms <= 0 || env->clock->sleep_ms(env->clock->arg, ms);
}

static void set_note(struct backfill_row *row, const struct strbuf *note)
{
    free(row->note);
    row->note = xstrdup(note->buf);
}

/*
 * The venue's first candle of the range is `first`: a `beyond_history`
 * note when the calendar expected candles between `since` and it.
 */
static void note_first(struct run *r, int64_t first)
{
    struct gap_range *g = NULL;
    size_t n = 0, alloc = 0;
    struct strbuf note = STRBUF_INIT;
    char a[TIME_BUFSZ], b[TIME_BUFSZ];

    r->row->first = first;
    /* A venue that does not serve the older candles has said why it starts later. */
    if (!*r->row->note && first > r->row->since &&
        gaps_find(feed_calendar(r->feed), r->row->tf, r->row->since, first, NULL, 0, &g, &n,
                  &alloc)) {
        time_format_iso8601(first, a);
        time_format_iso8601(r->row->since, b);
        strbuf_addf(&note,
                    "beyond_history: the venue's first %s candle is at %s; it has none "
                    "from %s to then",
                    timeframe_name(r->row->tf), a, b);
        set_note(r->row, &note);
    }
    free(g);
    strbuf_release(&note);
}

/* A recent_only venue keeps only its latest max_rows candles: note what it cannot give. */
static void note_recent_only(struct run *r, int64_t now)
{
    int64_t oldest = timeframe_floor(r->row->tf, now) - (int64_t)r->kind->max_rows * r->period;
    struct strbuf note = STRBUF_INIT;
    char a[TIME_BUFSZ];

    if (!r->kind->recent_only || r->row->position + r->period >= oldest)
        return;
    time_format_iso8601(oldest, a);
    strbuf_addf(&note,
                "not_served: %s serves only its latest %d %s candles; nothing before %s "
                "can be fetched from it",
                r->kind->title, r->kind->max_rows, timeframe_name(r->row->tf), a);
    set_note(r->row, &note);
    r->row->position = oldest - r->period;
    strbuf_release(&note);
}

/* Store one page and the position after it, in one transaction. */
static int store_progress(struct run *r, struct fetch_result *res, int64_t end, int64_t now,
                          int sent, struct strbuf *err)
{
    struct series_key key = {.source = r->row->source, .symbol = r->row->symbol, .tf = r->row->tf};
    struct ingest_ctx ic = {
        .store = r->o->env.store, .source = r->src, .source_name = r->row->source};
    struct ingest_stats st = {0};
    struct backfill_row next = *r->row;
    bool past_end = res->candles.n && res->candles.v[res->candles.n - 1].open_time > end;
    size_t keep = 0;
    int rc;

    for (size_t i = 0; i < res->candles.n; i++)
        if (res->candles.v[i].open_time > r->row->position && res->candles.v[i].open_time <= end)
            res->candles.v[keep++] = res->candles.v[i];
    res->candles.n = keep;

    if (past_end) {
        /*
         * The answer (the oldest candles after the position) reaches past
         * the end: every candle up to the end was in it.
         */
        next.position = end;
    } else if (keep) {
        next.position = res->candles.v[keep - 1].open_time;
    } else if (res->more) {
        /*
         * The venue answered a window of its own that held nothing. A
         * window holds at most max_rows periods after the position; the
         * next request starts inside its last period whichever way the
         * venue counts its end, so no candle is stepped over.
         */
        next.position = r->row->position + (int64_t)(r->kind->max_rows - 1) * r->period;
    } else {
        next.position = end;
    }
    if (next.position > end)
        next.position = end;
    next.requests += sent;
    next.updated_at = now;

    rc = store_begin(r->o->env.store, err);
    if (rc)
        return rc;
    rc = ingest_store_page(&ic, &key, res, now, &st, err);
    if (!rc) {
        next.candles += (int64_t)st.stored;
        rc = store_backfill_update(r->o->env.store, &next, err);
    }
    if (!rc)
        rc = store_commit(r->o->env.store, err);
    if (rc) {
        struct strbuf ignored = STRBUF_INIT;
        store_rollback(r->o->env.store, &ignored);
        strbuf_release(&ignored);
        return rc;
    }
    if (keep && !r->row->first)
        note_first(r, res->candles.v[0].open_time);
    r->row->position = next.position;
    r->row->candles = next.candles;
    r->row->requests = next.requests;
    r->row->updated_at = now;
    r->out->candles += (int64_t)st.stored;
    r->out->requests += sent;
    return 0;
}

/* Record the row as it stands (state, note, error). */
static int save(struct run *r, struct strbuf *err)
{
    r->row->updated_at = run_now_ms(r) / 1000;
    return store_backfill_update(r->o->env.store, r->row, err);
}

/* The end of the range is reached, or the venue has nothing after the position. */
static void finish_done(struct run *r, int64_t end)
{
    char a[TIME_BUFSZ], b[TIME_BUFSZ];

    r->out->outcome = BACKFILL_RUN_DONE;
    r->row->state = BACKFILL_DONE;
    if (!r->row->first && !*r->row->note) {
        struct strbuf note = STRBUF_INIT;
        time_format_iso8601(r->row->since, a);
        time_format_iso8601(end, b);
        strbuf_addf(&note, "beyond_history: the venue has no %s candles from %s to %s",
                    timeframe_name(r->row->tf), a, b);
        set_note(r->row, &note);
        strbuf_release(&note);
    }
}

static void defer(struct run *r, const char *why)
{
    r->out->outcome = BACKFILL_RUN_DEFERRED;
    r->row->state = BACKFILL_DEFERRED;
    strbuf_reset(&r->out->message);
    strbuf_addstr(&r->out->message, why);
}

/*
 * One step: look at the budget, send one request, store its page. Returns
 * 0 to go on (`*stop` false) or with the outcome set (`*stop` true), or a
 * negative CK_E* when the database failed.
 */
static int step(struct run *r, bool *stop, struct strbuf *err)
{
    const struct backfill_opts *o = r->o;
    int64_t now_ms = run_now_ms(r), now = now_ms / 1000, end = run_end(r, now), retry_ms = 0;
    struct fetch_result res = FETCH_RESULT_INIT;
    struct strbuf why = STRBUF_INIT, ferr = STRBUF_INIT;
    struct feed_env env = o->env;
    struct guard_report rep = {0};
    bool ok;
    int rc;

    *stop = true;
    if (r->row->position >= end) {
        finish_done(r, end);
        return 0;
    }
    if (o->should_stop && o->should_stop(o->stop_arg)) {
        defer(r, "stopped before its end (deadline or shutdown)");
        return 0;
    }
    rc = budget_allows(r, now_ms, &ok, &retry_ms, &why, err);
    if (rc)
        goto out;
    if (!ok) {
        report_progress(r, end, why.buf);
        if (wait_until(r, retry_ms))
            *stop = false;
        else
            defer(r, why.buf);
        goto out;
    }
    if (now_ms + BACKFILL_LEASE_MS / 2 > r->lease_ms) {
        r->lease_ms = now_ms + BACKFILL_LEASE_MS + feed_config(r->feed)->source.timeout_ms;
        rc = hold_lease(o->env.store, r->lease.buf, o->env.instance, now_ms, r->lease_ms, err);
        if (rc == CK_EBUSY) {
            r->out->outcome = BACKFILL_RUN_BUSY;
            strbuf_addbuf(&r->out->message, err);
            strbuf_reset(err);
            rc = 0;
            goto out;
        }
        if (rc)
            goto out;
    }

    struct fetch_request req = {
        .symbol = r->row->symbol,
        .tf = r->row->tf,
        .has_since = true,
        .since = r->row->position,
        .count = r->kind->max_rows,
        .now = now,
    };
    env.no_budget_wait = true;
    rc = feed_fetch(r->feed, r->src, &env, &req, &res, &rep, &ferr);
    redact_message(&ferr);
    if (rc) {
        rc = 0;
        switch (rep.outcome) {
        case GUARD_STORE:
            strbuf_addbuf(err, &ferr);
            rc = CK_EIO;
            break;
        case GUARD_DEFERRED:
        case GUARD_REJECTED:
        case GUARD_STOPPED:
            r->out->requests += rep.sent;
            r->row->requests += rep.sent;
            report_progress(r, end, ferr.buf);
            if (rep.outcome != GUARD_STOPPED && rep.retry_at_ms && wait_until(r, rep.retry_at_ms))
                *stop = false;
            else
                defer(r, ferr.buf);
            break;
        default:
            r->out->requests += rep.sent;
            r->row->requests += rep.sent;
            r->out->outcome = BACKFILL_RUN_FAILED;
            r->row->state = BACKFILL_FAILED;
            free(r->row->error);
            r->row->error = xstrdup(ferr.buf);
            strbuf_addbuf(&r->out->message, &ferr);
            break;
        }
        goto out;
    }
    rc = store_progress(r, &res, end, now, rep.sent, err);
    if (rc)
        goto out;
    /* An answer that does not move forward is the venue's last. */
    if (!res.candles.n && !res.more) {
        finish_done(r, end);
        goto out;
    }
    report_progress(r, end, NULL);
    *stop = false;
out:
    fetch_result_release(&res);
    strbuf_release(&why);
    strbuf_release(&ferr);
    return rc;
}

int backfill_run(struct feed *f, int64_t id, const struct backfill_opts *o,
                 struct backfill_report *out, struct strbuf *err)
{
    struct run r = {.feed = f, .o = o, .out = out, .lease = STRBUF_INIT, .budget_left = -1};
    struct source *own = NULL;
    bool stop = false;
    int rc;

    if (!o->env.instance)
        BUG("backfill_run without an instance");
    r.start_ms = run_now_ms(&r);
    rc = store_backfill_get(o->env.store, id, &out->row, err);
    if (rc)
        return rc;
    r.row = &out->row;
    r.period = timeframe_seconds(r.row->tf);
    r.start_pos = r.row->position;
    if (r.row->state == BACKFILL_DONE) {
        out->outcome = BACKFILL_RUN_DONE;
        return 0;
    }
    if (strcmp(r.row->source, feed_name(f)))
        BUG("backfill %lld of '%s' run on feed '%s'", (long long)id, r.row->source, feed_name(f));
    strbuf_addf(&r.lease, "backfill:%lld", (long long)id);
    r.lease_ms = r.start_ms + BACKFILL_LEASE_MS + feed_config(f)->source.timeout_ms;
    rc = hold_lease(o->env.store, r.lease.buf, o->env.instance, r.start_ms, r.lease_ms, err);
    if (rc == CK_EBUSY) {
        out->outcome = BACKFILL_RUN_BUSY;
        strbuf_addbuf(&out->message, err);
        strbuf_reset(err);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    rc = o->source ? 0 : feed_source_open(f, &own, err);
    r.src = o->source ? o->source : own;
    if (rc) {
        out->outcome = BACKFILL_RUN_FAILED;
        r.row->state = BACKFILL_FAILED;
        free(r.row->error);
        r.row->error = xstrdup(err->buf);
        strbuf_addbuf(&out->message, err);
        strbuf_reset(err);
        rc = save(&r, err);
        goto release;
    }
    r.kind = source_kind_of(r.src);
    note_recent_only(&r, r.start_ms / 1000);
    r.row->state = BACKFILL_RUNNING;
    free(r.row->error);
    r.row->error = xstrdup("");
    rc = save(&r, err);
    while (!rc && !stop)
        rc = step(&r, &stop, err);
    if (!rc && out->outcome != BACKFILL_RUN_BUSY)
        rc = save(&r, err);
    report_progress(&r, run_end(&r, run_now_ms(&r) / 1000), NULL);
release:
    if (out->outcome != BACKFILL_RUN_BUSY) {
        struct strbuf ignored = STRBUF_INIT;
        store_lease_release(o->env.store, r.lease.buf, o->env.instance, &ignored);
        strbuf_release(&ignored);
    }
out:
    source_free(own);
    strbuf_release(&r.lease);
    return rc;
}
