/* SPDX-License-Identifier: MIT */
#ifndef CK_MARKET_OUTCOME_H
#define CK_MARKET_OUTCOME_H

#include "market/candle.h"
#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * The outcome of a trading signal, decided from candles: did price reach
 * the take-profit or the stop-loss first, or neither before the signal
 * expired? Pure: the caller hands in the candles (and a function that
 * reads the candles of lower timeframes); nothing here reads a clock or a
 * database.
 *
 * Touches. A long signal is won by a candle whose high >= take_profit and
 * lost by one whose low <= stop_loss; a short one is won by low <=
 * take_profit and lost by high >= stop_loss. The first candle that touches
 * a level decides. Prices are the scaled integers of market/price.h. The
 * entry price plays no part: the signal is taken as entered when it is
 * created.
 *
 * A candle that touches both levels cannot say which came first. It is
 * settled on a lower timeframe: the candles of the highest lower timeframe
 * that is stored inside its period, in order, the first one that touches
 * deciding; a lower candle that itself touches both is settled the same
 * way on the timeframes below it. When no lower timeframe decides (none is
 * stored, or its candles inside the period are missing or touch nothing),
 * the signal is lost at the stop-loss and marked ambiguous: the cautious
 * reading.
 *
 * Which candles count (the rule, with its reason). Only price moves after
 * the signal was created may decide it. A candle whose open time is at or
 * after created_ms (that is, created_ms rounded up to the timeframe) counts
 * whole. The candle that contains created_ms but opened before it (the
 * creation candle) may have made its high or low before the signal
 * existed, so it never decides by itself: it is examined on the lower
 * timeframes, from created_ms on, by the same rule one level down (the
 * lower candles opening at or after created_ms count whole, the lower one
 * containing created_ms goes lower again); when no lower timeframe
 * decides, the creation candle is ignored and the next candles decide. A
 * signal created exactly on a period boundary therefore counts the candle
 * opening then.
 *
 * Expiry. Candles that open at or after expires_ms do not count (a candle
 * that opens before it counts whole). With nothing touched, the signal
 * expires, decided at expires_ms, once now_ms >= expires_ms and either the
 * last candle opening before expires_ms is among the candles (so nothing
 * that could still decide is missing) or now_ms >= expires_ms +
 * expiry_wait_ms (the last candle never came).
 *
 * Missing candles. Candles that are not there (gaps, closed markets) are
 * taken as not having touched anything: the resolver decides on the
 * record as it stands, in time order; filling holes is the gap ledger's
 * business.
 */

enum outcome_side {
    OUTCOME_LONG,
    OUTCOME_SHORT,
};

enum outcome_touch {
    OUTCOME_TOUCH_NONE,
    OUTCOME_TOUCH_TP,
    OUTCOME_TOUCH_SL,
    OUTCOME_TOUCH_BOTH,
};

/* What candle `c` touches of a signal on `side` with these levels. */
enum outcome_touch outcome_touch(enum outcome_side side, int64_t stop_loss, int64_t take_profit,
                                 const struct candle *c);

struct outcome_signal {
    enum outcome_side side;
    int64_t stop_loss, take_profit; /* long: stop_loss < take_profit; short: the reverse */
    enum timeframe tf;
    int64_t created_ms; /* Unix ms */
    int64_t expires_ms; /* Unix ms; 0: never */
};

/*
 * Read the candles of timeframe `tf` with from <= open_time < to (Unix s),
 * in ascending order, appending them to `out`. 0, or a negative CK_E* with
 * the reason in `err` (the resolver then fails with it).
 */
typedef int outcome_candles_fn(void *arg, enum timeframe tf, int64_t from, int64_t to,
                               struct candle_vec *out, struct strbuf *err);

struct outcome_input {
    const struct outcome_signal *sig;
    /*
     * Candles of sig->tf, ascending by open time, from the creation candle
     * (or any earlier one: those are skipped) to the newest stored.
     */
    const struct candle *candles;
    size_t ncandles;
    int64_t now_ms;
    int64_t expiry_wait_ms; /* see "Expiry" above */
    /*
     * The lower timeframes stored for the series, strictly descending and
     * each shorter than sig->tf, and the function that reads their
     * candles. nlower 0 (fetch may then be NULL): no lower timeframe.
     */
    const enum timeframe *lower;
    size_t nlower;
    outcome_candles_fn *fetch;
    void *fetch_arg;
};

enum outcome_result {
    OUTCOME_PENDING, /* nothing decided yet */
    OUTCOME_WON,
    OUTCOME_LOST,
    OUTCOME_EXPIRED,
};
/* "pending", "won", "lost", "expired". */
const char *outcome_result_name(enum outcome_result r);

struct outcome_verdict {
    enum outcome_result result;
    bool has_price;
    int64_t price; /* won: take_profit; lost: stop_loss */
    /*
     * When it was decided (Unix ms): the close of the deciding candle, but
     * never later than expires_ms; expires_ms for an expired signal.
     */
    int64_t decided_ms;
    bool has_candle;     /* won or lost: the deciding candle, at the lowest timeframe used */
    enum timeframe tf;   /* its timeframe */
    int64_t candle_time; /* its open time, Unix s */
    bool ambiguous;      /* lost because a candle touched both and nothing lower settled it */
};

/*
 * Decide the outcome of in->sig from the candles. `*out` is always set
 * (OUTCOME_PENDING when nothing is decided yet). Returns 0, CK_EINVAL for
 * levels on the wrong side of each other or lower timeframes that are not
 * strictly descending and shorter than the signal's (message in `err`), or
 * the error of in->fetch.
 */
int outcome_resolve(const struct outcome_input *in, struct outcome_verdict *out,
                    struct strbuf *err);

#endif
