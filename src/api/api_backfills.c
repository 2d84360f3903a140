/* SPDX-License-Identifier: MIT */
/*
 * Backfills over HTTP (ingest/backfill.h):
 *
 *   POST /backfills   queue one {"source", "symbol", "timeframe", "since", "until"?}
 *                     (times ISO 8601 UTC or dates); 201 with the backfill, or 200
 *                     with the one not done yet over the same series and range
 *   GET  /backfills   every backfill, oldest first, with where it stands
 *
 * The daemon's `backfill` job carries a queued backfill forward; nothing
 * here calls a provider. Changing anything needs the bearer token, as
 * every other POST.
 */
#include "api/api_internal.h"

#include "ck/settings.h"
#include "ingest/backfill.h"
#include "source/source_settings.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Percent of the range behind the position, as of `now` for an open-ended backfill. */
static double percent_done(const struct backfill_row *b, int64_t now)
{
    int64_t period = timeframe_seconds(b->tf), from = b->since - period;
    int64_t end = b->until ? b->until - period : timeframe_floor(b->tf, now) - period;
    double p;

    if (b->state == BACKFILL_DONE || end <= from)
        return 100.0;
    p = 100.0 * (double)(b->position - from) / (double)(end - from);
    return p < 0 ? 0 : p > 100 ? 100 : p;
}

static json_t *backfill_json(const struct backfill_row *b, int64_t now)
{
    json_t *o =
        json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:s, s:o, s:I, s:I, s:f, s:o, s:o, "
                  "s:o, s:o, s:o}",
                  "id", (json_int_t)b->id, "source", api_json_str(b->source), "symbol",
                  api_json_str(b->symbol), "timeframe", timeframe_name(b->tf), "since",
                  api_json_time(b->since), "until", api_json_time_or_null(b->until), "state",
                  backfill_state_name(b->state), "next",
                  api_json_time(b->position + timeframe_seconds(b->tf)), "candles",
                  (json_int_t)b->candles, "requests", (json_int_t)b->requests, "percent",
                  percent_done(b, now), "first_candle", api_json_time_or_null(b->first), "note",
                  api_json_str(b->note), "error", api_json_str(b->error), "created_at",
                  api_json_time(b->created_at), "updated_at", api_json_time(b->updated_at));
    return o;
}

/* The configured source called `name`; NULL when none. */
static const struct source_settings *find_source(const struct settings *s, const char *name)
{
    for (size_t i = 0; i < s->nsources; i++)
        if (!strcmp(s->sources[i].name, name))
            return &s->sources[i];
    return NULL;
}

/* Parse the body into `spec` and the source; replies 400 itself and returns false. */
static bool parse_body(struct api_request *req, struct backfill_spec *spec,
                       const struct source_settings **src, json_t **root)
{
    const char *source, *tf, *since, *until = NULL;
    json_error_t jerr;
    char echo[64];

    *root = json_loadb(req->body ? req->body : "", req->body_len, 0, &jerr);
    if (!*root || json_unpack_ex(*root, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s:s, s?:s}", "source",
                                 &source, "symbol", &spec->symbol, "timeframe", &tf, "since",
                                 &since, "until", &until)) {
        api_echo(echo, sizeof(echo), jerr.text);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "the body must be {\"source\", \"symbol\", \"timeframe\", \"since\", "
                        "\"until\"?} (strings): %s",
                        echo);
        return false;
    }
    if (!(*src = find_source(req->api->settings, source))) {
        api_echo(echo, sizeof(echo), source);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "source: no [source.%s] is configured",
                        echo);
        return false;
    }
    if (timeframe_parse(tf, &spec->tf)) {
        api_echo(echo, sizeof(echo), tf);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "timeframe: '%s' is not one of %s", echo,
                        timeframe_all_names());
        return false;
    }
    if (time_parse(since, &spec->since)) {
        api_echo(echo, sizeof(echo), since);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "since: '%s' is not an ISO 8601 UTC time or a date", echo);
        return false;
    }
    if (until && time_parse(until, &spec->until)) {
        api_echo(echo, sizeof(echo), until);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "until: '%s' is not an ISO 8601 UTC time or a date", echo);
        return false;
    }
    return true;
}

void api_backfills_create(struct api_request *req)
{
    struct backfill_spec spec = {0};
    const struct source_settings *src;
    struct strbuf err = STRBUF_INIT;
    struct backfill_row row;
    json_t *root = NULL;
    struct store *st;
    bool resumed;
    int rc;

    if (!parse_body(req, &spec, &src, &root))
        goto out;
    if (!(st = api_store(req, &err))) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = backfill_open(st, src, &spec, time_now(), &row, &resumed, &err);
    if (rc == CK_EINVAL) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "%s", err.buf);
    } else if (rc) {
        api_store_error(req, rc, "queueing the backfill", &err);
    } else {
        api_reply_json(req, resumed ? MHD_HTTP_OK : MHD_HTTP_CREATED,
                       backfill_json(&row, time_now()));
        backfill_row_release(&row);
    }
out:
    json_decref(root);
    strbuf_release(&err);
}

void api_backfills_list(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct backfill_row *v = NULL;
    size_t n = 0;
    struct store *st;
    json_t *arr;
    int rc;

    if (!(st = api_store(req, &err))) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = store_backfill_list(st, false, &v, &n, &err);
    if (rc) {
        api_store_error(req, rc, "listing backfills", &err);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, backfill_json(&v[i], time_now()));
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:I, s:o}", "count", (json_int_t)n, "backfills", arr));
out:
    backfill_rows_free(v, n);
    strbuf_release(&err);
}
