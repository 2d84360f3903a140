/* SPDX-License-Identifier: MIT */
/*
 * Candle validation and the candle vector. Validation is the gate between a
 * provider's response and the store: an invalid candle is rejected with a
 * reason the ingest job logs and counts, and never stored.
 */
#include "market/candle.h"

#include "market/price.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>

#include "util/banned.h"

static void add_price(struct strbuf *sb, int64_t v)
{
    char buf[PRICE_BUFSZ];
    price_format(v, buf);
    strbuf_addstr(sb, buf);
}

static bool reject(struct strbuf *why, const char *a_name, int64_t a, const char *rel,
                   const char *b_name, int64_t b)
{
    if (why) {
        strbuf_addf(why, "%s ", a_name);
        add_price(why, a);
        strbuf_addf(why, " is %s %s ", rel, b_name);
        add_price(why, b);
    }
    return false;
}

bool candle_validate(const struct candle *c, enum timeframe tf, struct strbuf *why)
{
    static const char *const names[] = {"open", "high", "low", "close"};
    const int64_t prices[] = {c->open, c->high, c->low, c->close};

    if (!timeframe_is_aligned(tf, c->open_time)) {
        if (why) {
            char t[TIME_BUFSZ];
            time_format_iso8601(c->open_time, t);
            strbuf_addf(why, "open time %s is not aligned to %s", t, timeframe_name(tf));
        }
        return false;
    }
    for (size_t i = 0; i < 4; i++) {
        if (prices[i] <= 0) {
            if (why) {
                strbuf_addf(why, "%s ", names[i]);
                add_price(why, prices[i]);
                strbuf_addstr(why, " is not positive");
            }
            return false;
        }
    }
    if (c->high < c->low)
        return reject(why, "high", c->high, "below", "low", c->low);
    if (c->high < c->open)
        return reject(why, "high", c->high, "below", "open", c->open);
    if (c->high < c->close)
        return reject(why, "high", c->high, "below", "close", c->close);
    if (c->low > c->open)
        return reject(why, "low", c->low, "above", "open", c->open);
    if (c->low > c->close)
        return reject(why, "low", c->low, "above", "close", c->close);
    if (c->has_volume && c->volume < 0) {
        if (why) {
            strbuf_addstr(why, "volume ");
            add_price(why, c->volume);
            strbuf_addstr(why, " is negative");
        }
        return false;
    }
    return true;
}

bool candle_is_final(const struct candle *c, enum timeframe tf, int64_t now)
{
    return c->open_time + timeframe_seconds(tf) <= now;
}

void candle_vec_push(struct candle_vec *cv, const struct candle *c)
{
    ALLOC_GROW(cv->v, cv->n + 1, cv->alloc);
    cv->v[cv->n++] = *c;
}

void candle_vec_release(struct candle_vec *cv)
{
    free(cv->v);
    cv->v = NULL;
    cv->n = cv->alloc = 0;
}
