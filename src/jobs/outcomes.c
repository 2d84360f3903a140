/* SPDX-License-Identifier: MIT */
/*
 * detect_outcomes: the store side of the outcome resolver.
 *
 * A pass lists the active signals (oldest first) and the stored series
 * once. For each signal it reads the candles of the signal's own series
 * from the period containing its creation up to its expiry (or the newest
 * stored), and hands the resolver the lower timeframes stored for the
 * same source and symbol, highest first, with a reader that queries them
 * one higher candle's period at a time: only a candle that touched both
 * levels, or the creation candle, ever causes such a read.
 *
 * Recording is one transaction per outcome: the outcome row, the signal's
 * new status and the operators' notice commit together. Several daemons
 * may run the job on one PostgreSQL at once (the scheduler keeps one run
 * per fire time, but a manual run can overlap): store_outcome_record()
 * refuses a signal that is no longer active with CK_ECONFLICT, which here
 * means another run recorded it first, and is counted, not failed.
 *
 * Times: signals are in Unix ms, candles in Unix s.
 */
#include "jobs/outcomes.h"

#include "alert/alert.h"
#include "ck/settings.h"
#include "market/outcome.h"
#include "market/price.h"
#include "sched/sched.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* The resolver's reader of lower timeframes: one series, ascending. */
struct lower_reader {
    struct store *st;
    const char *source, *symbol;
};

static int read_lower(void *arg, enum timeframe tf, int64_t from, int64_t to,
                      struct candle_vec *out, struct strbuf *err)
{
    struct lower_reader *lr = arg;
    struct candle_query q = {
        .series = {.source = lr->source, .symbol = lr->symbol, .tf = tf},
        .has_start = true,
        .has_end = true,
        .start = from,
        .end = to - 1,
        .order = STORE_ASC,
    };
    return store_query_candles_vec(lr->st, &q, out, err);
}

/* The timeframes with candles of (source, symbol) shorter than `tf`, highest first. */
static size_t lower_timeframes(const struct series_info *series, size_t nseries,
                               const struct signal *s, enum timeframe out[TF_COUNT])
{
    bool have[TF_COUNT] = {false};
    size_t n = 0;

    for (size_t i = 0; i < nseries; i++)
        if (series[i].count > 0 && !strcmp(series[i].source, s->source) &&
            !strcmp(series[i].symbol, s->symbol))
            have[series[i].tf] = true;
    for (int tf = TF_COUNT - 1; tf >= 0; tf--)
        if (have[tf] && timeframe_seconds((enum timeframe)tf) < timeframe_seconds(s->tf))
            out[n++] = (enum timeframe)tf;
    return n;
}

/*
 * How long after expiry to wait for the last candle before calling a
 * signal expired without it: a period of its timeframe, at least half an
 * hour (refreshes run a minute after each close, and may be deferred).
 */
static int64_t expiry_wait_ms(enum timeframe tf)
{
    int64_t w = timeframe_seconds(tf) * 1000;
    return w < 1800 * 1000 ? 1800 * 1000 : w;
}

static enum signal_status result_status(enum outcome_result r)
{
    switch (r) {
    case OUTCOME_WON:
        return SIGNAL_WON;
    case OUTCOME_LOST:
        return SIGNAL_LOST;
    case OUTCOME_EXPIRED:
        return SIGNAL_EXPIRED;
    case OUTCOME_PENDING:
        break;
    }
    BUG("no status for a pending outcome");
}

/* Resolve one signal; *decided tells whether `o` holds an outcome to record. */
static int resolve_signal(struct store *st, const struct signal *s,
                          const struct series_info *series, size_t nseries, int64_t now_ms,
                          struct outcome *o, bool *decided, struct strbuf *err)
{
    struct candle_vec cv = CANDLE_VEC_INIT;
    enum timeframe lower[TF_COUNT];
    struct lower_reader lr = {.st = st, .source = s->source, .symbol = s->symbol};
    struct outcome_signal sig = {
        .side = s->direction == SIGNAL_LONG ? OUTCOME_LONG : OUTCOME_SHORT,
        .stop_loss = s->stop_loss,
        .take_profit = s->take_profit,
        .tf = s->tf,
        .created_ms = s->created_ms,
        .expires_ms = s->expires_ms,
    };
    struct candle_query q = {
        .series = {.source = s->source, .symbol = s->symbol, .tf = s->tf},
        .has_start = true,
        .start = timeframe_floor(s->tf, s->created_ms / 1000),
        .order = STORE_ASC,
    };
    struct outcome_verdict v;
    int rc;

    *decided = false;
    if (s->expires_ms) {
        /* Candles opening at or after expiry do not count: do not read them. */
        q.has_end = true;
        q.end = (s->expires_ms - 1) / 1000;
    }
    rc = store_query_candles_vec(st, &q, &cv, err);
    if (!rc) {
        struct outcome_input in = {
            .sig = &sig,
            .candles = cv.v,
            .ncandles = cv.n,
            .now_ms = now_ms,
            .expiry_wait_ms = expiry_wait_ms(s->tf),
            .lower = lower,
            .nlower = lower_timeframes(series, nseries, s, lower),
            .fetch = read_lower,
            .fetch_arg = &lr,
        };
        rc = outcome_resolve(&in, &v, err);
    }
    candle_vec_release(&cv);
    if (rc || v.result == OUTCOME_PENDING)
        return rc;

    memset(o, 0, sizeof(*o));
    memcpy(o->signal_id, s->id, sizeof(o->signal_id));
    o->result = result_status(v.result);
    o->has_price = v.has_price;
    o->price = v.price;
    o->decided_ms = v.decided_ms;
    o->has_candle = v.has_candle;
    o->tf = v.tf;
    o->candle_time = v.candle_time;
    o->ambiguous = v.ambiguous;
    o->created_ms = now_ms;
    *decided = true;
    return 0;
}

/* Record `o` (and its notice) in one transaction. */
static int record(struct store *st, const struct outcomes_job *job, const struct signal *s,
                  const struct outcome *o, int64_t now_ms, struct strbuf *err)
{
    int rc = store_begin(st, err);
    if (rc)
        return rc;
    rc = store_outcome_record(st, o, err);
    if (!rc && job->notify && job->settings->signals.notify_outcomes)
        rc = job->notify(job->notify_arg, st, s, o, now_ms, err);
    if (rc) {
        /* The rollback's own failure says nothing more than `rc` already does. */
        struct strbuf ignored = STRBUF_INIT;
        (void)store_rollback(st, &ignored);
        strbuf_release(&ignored);
        return rc;
    }
    return store_commit(st, err);
}

/* Errors of the database itself stop the pass; others concern one signal. */
static bool is_database_error(int rc)
{
    return rc == CK_EIO || rc == CK_EBUSY || rc == CK_ETIMEDOUT;
}

int outcomes_detect(struct store *st, const struct outcomes_job *job, int64_t now_ms,
                    struct outcomes_stats *out, struct strbuf *failures, struct strbuf *err)
{
    static const enum signal_status active = SIGNAL_ACTIVE;
    struct signal_query sq = {.status = &active, .oldest_first = true};
    struct signal *sigs = NULL;
    struct series_info *series = NULL;
    size_t nsigs = 0, nseries = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store_signal_list(st, &sq, &sigs, &nsigs, err);
    if (!rc && nsigs)
        rc = store_list_series(st, &series, &nseries, err);
    for (size_t i = 0; !rc && i < nsigs; i++) {
        const struct signal *s = &sigs[i];
        struct strbuf why = STRBUF_INIT;
        struct outcome o;
        bool decided = false;
        int src;

        out->checked++;
        src = resolve_signal(st, s, series, nseries, now_ms, &o, &decided, &why);
        if (!src && decided) {
            src = record(st, job, s, &o, now_ms, &why);
            if (!src) {
                out->won += o.result == SIGNAL_WON;
                out->lost += o.result == SIGNAL_LOST;
                out->expired += o.result == SIGNAL_EXPIRED;
                out->ambiguous += o.ambiguous;
            } else if (src == CK_ECONFLICT) {
                out->conflicts++;
                src = 0;
            }
        }
        if (src && is_database_error(src)) {
            strbuf_addf(err, "signal %s: %s", s->id, why.buf);
            rc = src;
        } else if (src) {
            out->failed++;
            strbuf_addf(failures, "%s%s: %s", failures->len ? "; " : "", s->id, why.buf);
        }
        strbuf_release(&why);
    }
    signals_free(sigs, nsigs);
    series_info_free(series, nseries);
    return rc;
}

void outcomes_details_json(const struct outcomes_stats *st, struct strbuf *out)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "checked", (json_int_t)st->checked,
                          "won", (json_int_t)st->won, "lost", (json_int_t)st->lost, "expired",
                          (json_int_t)st->expired, "ambiguous", (json_int_t)st->ambiguous,
                          "conflicts", (json_int_t)st->conflicts, "failed", (json_int_t)st->failed);
    char *text = json_dumps(o, JSON_COMPACT);
    strbuf_addstr(out, text ? text : "{}");
    free(text);
    json_decref(o);
}

void outcomes_notice_text(const struct signal *s, const struct outcome *o, struct strbuf *title,
                          struct strbuf *details)
{
    char entry[PRICE_BUFSZ], sl[PRICE_BUFSZ], tp[PRICE_BUFSZ], when[TIME_BUFSZ];

    strbuf_addf(title, "Signal %s: %s %s %s %s", signal_status_name(o->result), s->symbol,
                timeframe_name(s->tf), signal_direction_name(s->direction),
                o->ambiguous ? "(ambiguous)" : "");
    strbuf_trim(title);
    price_format(s->entry, entry);
    price_format(s->stop_loss, sl);
    price_format(s->take_profit, tp);
    strbuf_addf(details, "%s %s %s, entry %s, stop-loss %s, take-profit %s\n", s->id, s->source,
                s->symbol, entry, sl, tp);
    if (o->result == SIGNAL_EXPIRED) {
        time_format_iso8601(o->decided_ms / 1000, when);
        strbuf_addf(details, "expired at %s with neither level touched", when);
        return;
    }
    time_format_iso8601(o->candle_time, when);
    if (o->ambiguous)
        strbuf_addf(details,
                    "the %s candle of %s touched both levels and no lower timeframe settled "
                    "which came first: counted as lost at the stop-loss",
                    timeframe_name(o->tf), when);
    else
        strbuf_addf(details, "%s touched in the %s candle of %s",
                    o->result == SIGNAL_WON ? "take-profit" : "stop-loss", timeframe_name(o->tf),
                    when);
}

int outcomes_notify_alert(void *arg, struct store *st, const struct signal *s,
                          const struct outcome *o, int64_t now_ms, struct strbuf *err)
{
    struct strbuf title = STRBUF_INIT, details = STRBUF_INIT;
    int rc;

    outcomes_notice_text(s, o, &title, &details);
    rc = alert_notice(arg, st, NOTIFY_INFO, "outcome", title.buf, details.buf, now_ms, err);
    strbuf_release(&title);
    strbuf_release(&details);
    return rc;
}

int outcomes_job_run(struct job_ctx *ctx, void *arg)
{
    const struct outcomes_job *job = arg;
    struct outcomes_stats st;
    struct strbuf failures = STRBUF_INIT, err = STRBUF_INIT;
    int rc = outcomes_detect(ctx->store, job, job_now_ms(ctx), &st, &failures, &err);

    outcomes_details_json(&st, &ctx->details);
    if (rc) {
        strbuf_addf(&ctx->message, "database failed after %zu signals: %s", st.checked, err.buf);
    } else {
        strbuf_addf(&ctx->message,
                    "%zu active signals: won %zu, lost %zu (%zu ambiguous), "
                    "expired %zu",
                    st.checked, st.won, st.lost, st.ambiguous, st.expired);
        if (st.conflicts)
            strbuf_addf(&ctx->message, ", %zu recorded by another instance", st.conflicts);
        if (st.failed) {
            strbuf_addf(&ctx->message, "; %zu could not be resolved: %s", st.failed, failures.buf);
            rc = CK_EINVAL;
        }
    }
    strbuf_release(&failures);
    strbuf_release(&err);
    return rc;
}
