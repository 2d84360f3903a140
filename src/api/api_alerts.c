/* SPDX-License-Identifier: MIT */
/*
 * The alert resource:
 *
 *   GET /alerts?state=firing|resolved&limit=100
 *
 * The alerts the alert manager keeps in the database, newest activity
 * first, at most `limit` (1..1000): {"count": N, "alerts": [...]}, each
 * {"key", "severity", "state", "title", "details", "inhibited_by",
 * "first_seen", "last_seen", "resolved_at", "last_notified",
 * "times_sent"} with ISO 8601 UTC times, null for a time that has not
 * come (resolved_at while firing, last_notified before any message) and
 * for inhibited_by when nothing holds the alert back. `candlekeep alerts
 * --format json` prints the same objects.
 */
#include "api/api_internal.h"

#include "alert/alert.h"
#include "store/store.h"
#include "util/strbuf.h"

#include "util/banned.h"

static json_t *time_ms_or_null(int64_t ms)
{
    return ms > 0 ? api_json_time(ms / 1000) : json_null();
}

static json_t *alert_json(const struct alert_info *a)
{
    json_t *o = json_object();
    json_object_set_new_nocheck(o, "key", api_json_str(a->key));
    json_object_set_new_nocheck(o, "severity",
                                json_string_nocheck(alert_severity_name(a->severity)));
    json_object_set_new_nocheck(o, "state", json_string_nocheck(alert_state_name(a->state)));
    json_object_set_new_nocheck(o, "title", api_json_str(a->title));
    json_object_set_new_nocheck(o, "details", api_json_str(a->details));
    json_object_set_new_nocheck(o, "inhibited_by",
                                *a->inhibited_by ? api_json_str(a->inhibited_by) : json_null());
    json_object_set_new_nocheck(o, "first_seen", time_ms_or_null(a->first_seen_ms));
    json_object_set_new_nocheck(o, "last_seen", time_ms_or_null(a->last_seen_ms));
    json_object_set_new_nocheck(o, "resolved_at", time_ms_or_null(a->resolved_ms));
    json_object_set_new_nocheck(o, "last_notified", time_ms_or_null(a->last_notified_ms));
    json_object_set_new_nocheck(o, "times_sent", json_integer(a->times_sent));
    return o;
}

void api_alerts_list(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct alert_info *v = NULL;
    enum alert_state state;
    const char *state_arg;
    struct store *st;
    int64_t limit;
    size_t n = 0;
    int rc;

    if (api_param_int(req, "limit", 100, 1, 1000, &limit))
        goto out;
    state_arg = api_query(req, "state");
    if (state_arg && alert_state_parse(state_arg, &state)) {
        char ebuf[80];
        api_echo(ebuf, sizeof(ebuf), state_arg);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter 'state' must be firing or resolved (got '%s')", ebuf);
        goto out;
    }
    st = api_store(req, &err);
    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = alert_list(st, state_arg ? &state : NULL, (size_t)limit, &v, &n, &err);
    if (rc) {
        api_store_error(req, rc, "listing alerts", &err);
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, alert_json(&v[i]));
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:I, s:o}", "count", (json_int_t)n, "alerts", arr));
out:
    alert_infos_free(v, n);
    strbuf_release(&err);
}
