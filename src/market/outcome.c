/* SPDX-License-Identifier: MIT */
/*
 * The outcome resolver (see outcome.h for the rules).
 *
 * One routine, scan(), walks the candles of one timeframe through a window
 * of time [start_ms, end_ms): the top level walks the signal's own candles
 * from created_ms to expiry; a lower level walks the candles of a lower
 * timeframe inside the period of one higher candle. A candle that touches
 * one level decides. A candle that cannot decide by itself (it touches
 * both, or it opened before the window started) is handed to settle(),
 * which scans the lower timeframes inside that candle, highest first,
 * until one decides. Each level down only looks at timeframes below the
 * one it came from, so the recursion is at most TF_COUNT deep, and every
 * candle read from a lower timeframe lies inside the period of the candle
 * it settles.
 */
#include "market/outcome.h"

#include "util/error.h"
#include "util/strbuf.h"

#include <stdlib.h>

#include "util/banned.h"

enum outcome_touch outcome_touch(enum outcome_side side, int64_t stop_loss, int64_t take_profit,
                                 const struct candle *c)
{
    bool tp, sl;
    if (side == OUTCOME_LONG) {
        tp = c->high >= take_profit;
        sl = c->low <= stop_loss;
    } else {
        tp = c->low <= take_profit;
        sl = c->high >= stop_loss;
    }
    if (tp && sl)
        return OUTCOME_TOUCH_BOTH;
    return tp ? OUTCOME_TOUCH_TP : sl ? OUTCOME_TOUCH_SL : OUTCOME_TOUCH_NONE;
}

const char *outcome_result_name(enum outcome_result r)
{
    switch (r) {
    case OUTCOME_PENDING:
        return "pending";
    case OUTCOME_WON:
        return "won";
    case OUTCOME_LOST:
        return "lost";
    case OUTCOME_EXPIRED:
        return "expired";
    }
    return "unknown";
}

/* Close of candle `c` of `tf`, in ms. */
static int64_t close_ms(enum timeframe tf, const struct candle *c)
{
    return (c->open_time + timeframe_seconds(tf)) * 1000;
}

static void decide(const struct outcome_input *in, enum timeframe tf, const struct candle *c,
                   enum outcome_touch t, struct outcome_verdict *out)
{
    const struct outcome_signal *sig = in->sig;
    int64_t at = close_ms(tf, c);

    if (sig->expires_ms && at > sig->expires_ms)
        at = sig->expires_ms;
    *out = (struct outcome_verdict){
        .result = t == OUTCOME_TOUCH_TP ? OUTCOME_WON : OUTCOME_LOST,
        .has_price = true,
        .price = t == OUTCOME_TOUCH_TP ? sig->take_profit : sig->stop_loss,
        .decided_ms = at,
        .has_candle = true,
        .tf = tf,
        .candle_time = c->open_time,
        .ambiguous = t == OUTCOME_TOUCH_BOTH,
    };
}

static int settle(const struct outcome_input *in, enum timeframe tf, const struct candle *c,
                  int64_t start_ms, size_t lower_from, struct outcome_verdict *out,
                  struct strbuf *err);

/*
 * Walk v[0..n) (timeframe `tf`, ascending) through [start_ms, end_ms).
 * Returns 1 when a candle decided (*out set), 0 when none did, or an error.
 */
static int scan(const struct outcome_input *in, enum timeframe tf, const struct candle *v, size_t n,
                int64_t start_ms, int64_t end_ms, size_t lower_from, struct outcome_verdict *out,
                struct strbuf *err)
{
    const struct outcome_signal *sig = in->sig;

    for (size_t i = 0; i < n; i++) {
        const struct candle *c = &v[i];
        int64_t open_ms = c->open_time * 1000;
        enum outcome_touch t;
        int rc;

        if (open_ms >= end_ms)
            break;
        if (close_ms(tf, c) <= start_ms)
            continue;
        t = outcome_touch(sig->side, sig->stop_loss, sig->take_profit, c);
        if (t == OUTCOME_TOUCH_NONE)
            continue;
        if (open_ms < start_ms) {
            /*
             * It opened before the window: its touch may be older than
             * the signal. Only a lower timeframe can tell; if none does,
             * the candle is passed over.
             */
            rc = settle(in, tf, c, start_ms, lower_from, out, err);
            if (rc)
                return rc;
            continue;
        }
        if (t == OUTCOME_TOUCH_BOTH) {
            rc = settle(in, tf, c, open_ms, lower_from, out, err);
            if (rc)
                return rc;
        }
        /* One level touched, or both with nothing lower to settle it: ambiguous loss. */
        decide(in, tf, c, t, out);
        return 1;
    }
    return 0;
}

/*
 * Settle candle `c` of `tf` from start_ms to its close on the lower
 * timeframes in->lower[lower_from..], highest first. 1 when one decided,
 * 0 when none did, or an error.
 */
static int settle(const struct outcome_input *in, enum timeframe tf, const struct candle *c,
                  int64_t start_ms, size_t lower_from, struct outcome_verdict *out,
                  struct strbuf *err)
{
    /* The candle counts whole (it opened before expiry), and so do the lower ones inside it. */
    int64_t end_ms = close_ms(tf, c);
    int64_t start_s = start_ms / 1000; /* times are after 1970: division floors */

    for (size_t k = lower_from; k < in->nlower; k++) {
        enum timeframe lt = in->lower[k];
        struct candle_vec cv = CANDLE_VEC_INIT;
        int64_t from = timeframe_floor(lt, start_s);
        int rc;

        if (from < c->open_time)
            from = c->open_time;
        rc = in->fetch(in->fetch_arg, lt, from, c->open_time + timeframe_seconds(tf), &cv, err);
        if (!rc)
            rc = scan(in, lt, cv.v, cv.n, start_ms, end_ms, k + 1, out, err);
        candle_vec_release(&cv);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_input(const struct outcome_input *in, struct strbuf *err)
{
    const struct outcome_signal *sig = in->sig;

    if (sig->side == OUTCOME_LONG ? sig->stop_loss >= sig->take_profit
                                  : sig->stop_loss <= sig->take_profit) {
        strbuf_addf(err, "outcome: a %s signal needs its stop-loss %s its take-profit",
                    sig->side == OUTCOME_LONG ? "long" : "short",
                    sig->side == OUTCOME_LONG ? "below" : "above");
        return CK_EINVAL;
    }
    for (size_t k = 0; k < in->nlower; k++) {
        int64_t above = timeframe_seconds(k ? in->lower[k - 1] : sig->tf);
        if (timeframe_seconds(in->lower[k]) >= above) {
            strbuf_addf(err,
                        "outcome: lower timeframe %s must be shorter than %s (lower timeframes "
                        "go from the highest down)",
                        timeframe_name(in->lower[k]),
                        timeframe_name(k ? in->lower[k - 1] : sig->tf));
            return CK_EINVAL;
        }
    }
    if (in->nlower && !in->fetch) {
        strbuf_addstr(err, "outcome: lower timeframes given without a way to read them");
        return CK_EINVAL;
    }
    return 0;
}

int outcome_resolve(const struct outcome_input *in, struct outcome_verdict *out, struct strbuf *err)
{
    const struct outcome_signal *sig = in->sig;
    int64_t end_ms = sig->expires_ms ? sig->expires_ms : INT64_MAX;
    int rc;

    *out = (struct outcome_verdict){.result = OUTCOME_PENDING};
    rc = check_input(in, err);
    if (rc)
        return rc;
    rc = scan(in, sig->tf, in->candles, in->ncandles, sig->created_ms, end_ms, 0, out, err);
    if (rc < 0) {
        *out = (struct outcome_verdict){.result = OUTCOME_PENDING};
        return rc;
    }
    if (rc == 1)
        return 0;

    if (sig->expires_ms && in->now_ms >= sig->expires_ms) {
        /* The last period that opened before expiry: is its candle in? */
        int64_t last_open = timeframe_floor(sig->tf, (sig->expires_ms - 1) / 1000);
        bool complete = in->now_ms >= sig->expires_ms + in->expiry_wait_ms;
        for (size_t i = in->ncandles; i-- > 0 && !complete;) {
            if (in->candles[i].open_time >= last_open && in->candles[i].open_time * 1000 < end_ms)
                complete = true;
            if (in->candles[i].open_time < last_open)
                break;
        }
        if (complete)
            *out = (struct outcome_verdict){
                .result = OUTCOME_EXPIRED,
                .decided_ms = sig->expires_ms,
            };
    }
    return 0;
}
