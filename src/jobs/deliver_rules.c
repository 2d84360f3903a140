/* SPDX-License-Identifier: MIT */
/*
 * The rules of one delivery attempt, apart from the threads that apply
 * them: the body sent for a signal, and what an answer leads to (delivered,
 * another attempt later, or dead). Pure functions: no clock, no I/O.
 */
#include "jobs/deliver.h"

#include "market/price.h"
#include "market/timeframe.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdlib.h>

#include "util/banned.h"

enum delivery_status deliver_decide(const struct deliver_policy *p, int64_t attempt, int rc,
                                    long http_status, int64_t retry_after_s, int64_t now_ms,
                                    uint64_t random, int64_t *out_next_ms)
{
    struct retry_policy rp = {
        .max_retries = p->attempts - 1, .base_ms = p->base_ms, .max_ms = p->max_ms};
    int64_t wait;

    /*
     * A 2xx status is the receiver's word that it took the message, even
     * when the rest of its answer was cut short (over the size cap, reset).
     */
    if (http_status >= 200 && http_status <= 299)
        return DELIVERY_DELIVERED;
    /*
     * An answer that is not 2xx is a failure of the remote side; only its
     * status says whether repeating may help (3xx and 5xx may, a 4xx
     * other than 408 and 429 will not). Without an answer the transport
     * error decides.
     */
    if (!rc || http_status)
        rc = CK_EUPSTREAM;
    if (!retry_is_retryable(rc, http_status) || attempt >= p->attempts)
        return DELIVERY_DEAD;
    wait = retry_delay_ms(&rp, (int)(attempt - 1), random);
    if (retry_after_s >= 0 && retry_after_s * 1000 > wait)
        wait = retry_after_s * 1000;
    *out_next_ms = now_ms + wait;
    return DELIVERY_PENDING;
}

static void iso_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    time_format_iso8601(ms / 1000, buf);
}

static json_t *price_json(int64_t v)
{
    char buf[PRICE_BUFSZ];
    price_format(v, buf);
    return json_string(buf);
}

void deliver_signal_body(const struct signal *s, struct strbuf *out)
{
    char created[TIME_BUFSZ], expires[TIME_BUFSZ];
    json_t *o;
    char *text;

    iso_ms(s->created_ms, created);
    if (s->expires_ms)
        iso_ms(s->expires_ms, expires);
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:s}", "id", s->id,
                  "source", s->source ? s->source : "", "symbol", s->symbol ? s->symbol : "",
                  "timeframe", timeframe_name(s->tf), "direction",
                  signal_direction_name(s->direction), "entry", price_json(s->entry), "stop_loss",
                  price_json(s->stop_loss), "take_profit", price_json(s->take_profit), "created_at",
                  created, "expires_at", s->expires_ms ? json_string(expires) : json_null(), "note",
                  s->note && *s->note ? json_string(s->note) : json_null(), "status",
                  signal_status_name(s->status));
    if (!o)
        BUG("deliver: cannot build the JSON of signal '%s'", s->id);
    text = json_dumps(o, JSON_COMPACT);
    if (!text)
        BUG("deliver: cannot serialise the JSON of signal '%s'", s->id);
    strbuf_addstr(out, text);
    free(text);
    json_decref(o);
}
