/* SPDX-License-Identifier: MIT */
/*
 * The rules of one delivery attempt, apart from the threads that apply
 * them: the body sent for a signal, and what an answer leads to (delivered,
 * another attempt later, or dead). Pure functions: no clock, no I/O.
 */
#include "signal/deliver.h"

#include "resilience/retry.h"
#include "signal/signal.h"
#include "util/error.h"
#include "util/strbuf.h"
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

void deliver_signal_body(const struct signal *s, struct strbuf *out)
{
    /* The API's object, so a receiver and a client of GET /signals/{id} read the same thing. */
    json_t *o = signal_json(s);
    char *text = json_dumps(o, JSON_COMPACT);
    if (!text)
        BUG("deliver: cannot serialise the JSON of signal '%s'", s->id);
    strbuf_addstr(out, text);
    free(text);
    json_decref(o);
}
