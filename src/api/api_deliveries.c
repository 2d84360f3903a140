/* SPDX-License-Identifier: MIT */
/*
 * The signal delivery outbox at a glance:
 *
 *   GET /deliveries
 *
 *   {"pending", "delivered", "dead",          deliveries by status
 *    "oldest_pending", "oldest_pending_age_seconds",
 *                                              the oldest pending delivery's
 *                                              creation, null when none
 *    "next_due"}                               when the deliverer next sends, null when none
 *
 * A pending delivery that grows old means the receiver has been failing
 * for that long; dead ones wait for `signals redeliver`. The per-signal
 * detail (each attempt) is GET /signals/{id}.
 */
#include "api/api_internal.h"

#include "store/signals.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include "util/banned.h"

void api_deliveries_get(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = api_store(req, &err);
    int64_t counts[3], oldest = 0, due = 0, now_ms = time_wall_ms();
    int rc;

    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = store_delivery_counts(st, counts, &err);
    if (!rc)
        rc = store_delivery_oldest_pending(st, &oldest, &err);
    if (rc == CK_ENOTFOUND) {
        oldest = 0;
        rc = 0;
    }
    if (!rc && oldest && (rc = store_delivery_next_due(st, &due, &err)) == CK_ENOTFOUND) {
        due = 0; /* delivered between the two queries */
        rc = 0;
    }
    if (rc) {
        api_store_error(req, rc, "counting deliveries", &err);
        goto out;
    }
    int64_t age = oldest && now_ms > oldest ? (now_ms - oldest) / 1000 : 0;
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "pending", (json_int_t)counts[0],
                             "delivered", (json_int_t)counts[1], "dead", (json_int_t)counts[2],
                             "oldest_pending", api_json_time_or_null(oldest / 1000),
                             "oldest_pending_age_seconds", oldest ? json_integer(age) : json_null(),
                             "next_due", api_json_time_or_null(due / 1000)));
out:
    strbuf_release(&err);
}
