/* SPDX-License-Identifier: MIT */
/*
 * The candle resources:
 *
 *   GET /candles/{timeframe}?symbol=&source=&limit=100&start=&end=
 *   GET /candles/{timeframe}/gaps?symbol=&source=&days=7&state=&limit=1000
 *
 * Candles come newest first, at most `limit` (1..5000), with open times in
 * [start, end] when given (ISO 8601 UTC or YYYY-MM-DD, which means that
 * day's midnight); each is the object DESIGN.md fixes, {"source",
 * "symbol", "timeframe", "time", "open", "high", "low", "close",
 * "volume"}, prices as strings exactly as stored and volume null when the
 * instrument has none. Gaps come from the gap ledger, newest first, those
 * whose last missing candle is within the last `days` days.
 *
 * Which series: `symbol` defaults to the first symbol of the first enabled
 * source, `source` to the first enabled source that lists the symbol; when
 * no enabled source does, disabled ones are tried (disabled means "do not
 * fetch", and what was fetched before is still served). Both may name a
 * series that is not configured at all, as long as both are given.
 *
 * Cost. A request whose answer was made before, on this thread, while
 * nothing was written to the store since, is one read of the store's
 * stamp of the series (no candle row) and the kept response sent again
 * without a copy (api_cache.c); after a write it is one range query,
 * and an encoding only when the rows differ from the ones the kept
 * response was made from, which for a client polling the newest candles
 * happens once per candle period. When encoding, the three
 * strings every candle repeats (source, symbol, timeframe) are made once
 * and shared by reference, and keys are set without jansson's UTF-8
 * re-check (they are literals).
 */
#include "api/api_internal.h"

#include "ck/settings.h"
#include "market/timeframe.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <string.h>

#include "util/banned.h"

/* Longest source or symbol name accepted in a query. */
#define NAME_MAX_LEN 64

static int parse_timeframe(struct api_request *req, enum timeframe *out)
{
    char ebuf[80];
    if (!timeframe_parse(req->args[0], out))
        return 0;
    api_echo(ebuf, sizeof(ebuf), req->args[0]);
    api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                    "timeframe '%s' is not valid; valid timeframes: %s", ebuf,
                    timeframe_all_names());
    return -1;
}

static int check_name(struct api_request *req, const char *param, const char *v)
{
    json_t *probe;
    char ebuf[80];
    if (!*v || strlen(v) > NAME_MAX_LEN) {
        api_echo(ebuf, sizeof(ebuf), v);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter '%s' must be 1 to %d bytes long (got '%s')", param, NAME_MAX_LEN,
                        ebuf);
        return -1;
    }
    probe = json_string(v); /* NULL unless valid UTF-8 */
    if (!probe) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "parameter '%s' is not valid UTF-8",
                        param);
        return -1;
    }
    json_decref(probe);
    return 0;
}

/* Fill source and symbol of `key` from the query and the configuration; replies on error. */
static int resolve_series(struct api_request *req, struct series_key *key)
{
    const struct settings *s = req->api->settings;
    const char *source = api_query(req, "source");
    const char *symbol = api_query(req, "symbol");
    char ebuf[80];

    if ((source && check_name(req, "source", source)) ||
        (symbol && check_name(req, "symbol", symbol)))
        return -1;
    if (!source) {
        /* Enabled sources first; then disabled ones, whose history is still stored. */
        for (int pass = 0; pass < 2 && !source; pass++) {
            for (size_t i = 0; s && i < s->nsources && !source; i++) {
                const struct source_settings *src = &s->sources[i];
                if (src->enabled != (pass == 0) || !src->nsymbols)
                    continue;
                if (!symbol)
                    symbol = src->symbols[0];
                if (source_settings_has_symbol(src, symbol))
                    source = src->name;
            }
        }
        if (!source && symbol) {
            api_echo(ebuf, sizeof(ebuf), symbol);
            api_reply_error(req, MHD_HTTP_NOT_FOUND,
                            "pass source= to read a series that is not configured",
                            "no configured source lists symbol '%s'", ebuf);
            return -1;
        }
    } else if (!symbol) {
        for (size_t i = 0; s && i < s->nsources && !symbol; i++)
            if (!strcmp(s->sources[i].name, source) && s->sources[i].nsymbols)
                symbol = s->sources[i].symbols[0];
    }
    if (!symbol || !source) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter 'symbol' is required (no default symbol is configured%s)",
                        source ? " for this source" : "");
        return -1;
    }
    key->source = source;
    key->symbol = symbol;
    return 0;
}

static int parse_time_param(struct api_request *req, const char *name, bool *has, int64_t *out)
{
    const char *v = api_query(req, name);
    char ebuf[80];
    *has = false;
    if (!v)
        return 0;
    if (!time_parse(v, out)) {
        *has = true;
        return 0;
    }
    api_echo(ebuf, sizeof(ebuf), v);
    api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                    "parameter '%s' must be an ISO 8601 UTC time (2024-01-02T15:00:00Z) or a "
                    "date (2024-01-02) (got '%s')",
                    name, ebuf);
    return -1;
}

/* The byte image of a candle that api_cache compares: every field, no padding. */
static void pack_candle(struct strbuf *sb, const struct candle *c)
{
    int64_t v[7] = {c->open_time, c->open, c->high, c->low, c->close, c->volume, c->has_volume};
    strbuf_add(sb, v, sizeof(v));
}

static json_t *candles_json(const struct series_key *k, const struct candle_vec *rows)
{
    json_t *src = json_string(k->source), *sym = json_string(k->symbol);
    json_t *tfj = json_string_nocheck(timeframe_name(k->tf));
    json_t *arr = json_array(), *body = json_object();

    for (size_t i = 0; i < rows->n; i++) {
        const struct candle *c = &rows->v[i];
        json_t *o = json_object();
        json_object_set_nocheck(o, "source", src);
        json_object_set_nocheck(o, "symbol", sym);
        json_object_set_nocheck(o, "timeframe", tfj);
        json_object_set_new_nocheck(o, "time", api_json_time(c->open_time));
        json_object_set_new_nocheck(o, "open", api_json_price(c->open));
        json_object_set_new_nocheck(o, "high", api_json_price(c->high));
        json_object_set_new_nocheck(o, "low", api_json_price(c->low));
        json_object_set_new_nocheck(o, "close", api_json_price(c->close));
        json_object_set_new_nocheck(o, "volume",
                                    c->has_volume ? api_json_price(c->volume) : json_null());
        json_array_append_new(arr, o);
    }
    json_object_set_new_nocheck(body, "source", src);
    json_object_set_new_nocheck(body, "symbol", sym);
    json_object_set_new_nocheck(body, "timeframe", tfj);
    json_object_set_new_nocheck(body, "count", json_integer((json_int_t)rows->n));
    json_object_set_new_nocheck(body, "candles", arr);
    return body;
}

/* The cache key of query `q`: the resource and every parameter that shapes the body. */
static void candles_key(struct strbuf *key, const struct candle_query *q)
{
    strbuf_addf(key, "candles %s %zu:%s %zu:%s %zu %d:%lld %d:%lld", timeframe_name(q->series.tf),
                strlen(q->series.source), q->series.source, strlen(q->series.symbol),
                q->series.symbol, q->limit, q->has_start, (long long)q->start, q->has_end,
                (long long)q->end);
}

/*
 * Answer query `q` from the store. The response is kept per thread
 * (api_cache.c) under the query and the store's stamp of the series: a
 * request that finds the stamp unchanged is answered without reading a
 * candle; otherwise the rows are read and the kept response is used if
 * they are the rows it was made from, else a new one is made.
 */
static void reply_candles(struct api_request *req, struct store *st, const struct candle_query *q)
{
    struct strbuf err = STRBUF_INIT, key = STRBUF_INIT, image = STRBUF_INIT;
    struct candle_vec rows = CANDLE_VEC_INIT;
    struct api_cache *cache = api_thread_cache(req);
    struct candle_iter *it = NULL;
    struct MHD_Response *resp;
    struct store_stamp stamp;
    struct candle c;
    char *body;
    size_t len;
    int rc;

    rc = api_candle_stamp(req, st, &stamp, &err);
    if (rc == API_DEFERRED)
        goto out; /* called again for the stamp */
    if (rc) {
        api_store_error(req, rc, "reading the data version", &err);
        goto out;
    }
    candles_key(&key, q);
    resp = api_cache_fresh(cache, key.buf, &stamp);
    if (resp) {
        api_reply_response(req, MHD_HTTP_OK, resp, false);
        goto out;
    }

    rc = store_query_candles(st, q, &it, &err);
    if (rc) {
        api_store_error(req, rc, "querying candles", &err);
        goto out;
    }
    strbuf_grow(&image, q->limit * 7 * sizeof(int64_t));
    while ((rc = candle_iter_next(it, &c, &err)) == ITER_OK) {
        candle_vec_push(&rows, &c);
        pack_candle(&image, &c);
    }
    candle_iter_free(it);
    if (rc != ITER_DONE) {
        api_store_error(req, rc, "reading candles", &err);
        goto out;
    }
    resp = api_cache_same(cache, key.buf, &stamp, image.buf, image.len);
    if (resp) {
        api_reply_response(req, MHD_HTTP_OK, resp, false);
        goto out;
    }

    json_t *j = candles_json(&q->series, &rows);
    body = api_json_dump(j, &len);
    json_decref(j);
    resp = api_response_new(body, len, "application/json");
    if (!resp) {
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "out of memory");
        goto out;
    }
    api_reply_response(req, MHD_HTTP_OK, resp,
                       !api_cache_put(cache, key.buf, &stamp, image.buf, image.len, resp, len));
out:
    candle_vec_release(&rows);
    strbuf_release(&image);
    strbuf_release(&key);
    strbuf_release(&err);
}

void api_candles_get(struct api_request *req)
{
    struct candle_query q = {.order = STORE_DESC};
    struct strbuf err = STRBUF_INIT;
    struct store *st;
    int64_t limit;

    /* On PostgreSQL the answer waits for the thread's next stamp read: ask before the work. */
    st = api_store(req, &err);
    if (st && api_candle_stamp_ask(req, st))
        goto out;
    if (parse_timeframe(req, &q.series.tf) || resolve_series(req, &q.series) ||
        api_param_int(req, "limit", 100, 1, 5000, &limit) ||
        parse_time_param(req, "start", &q.has_start, &q.start) ||
        parse_time_param(req, "end", &q.has_end, &q.end))
        goto out;
    if (q.has_start && q.has_end && q.start > q.end) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter 'start' is after parameter 'end'");
        goto out;
    }
    q.limit = (size_t)limit;

    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    reply_candles(req, st, &q);
out:
    strbuf_release(&err);
}

/* The body of GET /candles/{tf}/gaps: the series, the window and its gaps. */
static json_t *gaps_json(const struct series_key *key, int64_t days, const struct gap_record *gaps,
                         size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct gap_record *g = &gaps[i];
        json_t *o = json_object();
        json_object_set_new_nocheck(o, "id", json_integer(g->id));
        json_object_set_new_nocheck(o, "first", api_json_time(g->first));
        json_object_set_new_nocheck(o, "last", api_json_time(g->last));
        json_object_set_new_nocheck(o, "count", json_integer(g->count));
        json_object_set_new_nocheck(o, "state", json_string_nocheck(gap_state_name(g->state)));
        json_t *reason = g->reason ? json_string(g->reason) : NULL;
        json_object_set_new_nocheck(o, "reason", reason ? reason : json_null());
        json_object_set_new_nocheck(o, "first_seen", api_json_time_or_null(g->first_seen));
        json_object_set_new_nocheck(o, "last_checked", api_json_time_or_null(g->last_checked));
        json_array_append_new(arr, o);
    }
    json_t *body = json_object();
    json_object_set_new_nocheck(body, "source", json_string(key->source));
    json_object_set_new_nocheck(body, "symbol", json_string(key->symbol));
    json_object_set_new_nocheck(body, "timeframe", json_string_nocheck(timeframe_name(key->tf)));
    json_object_set_new_nocheck(body, "days", json_integer(days));
    json_object_set_new_nocheck(body, "count", json_integer((json_int_t)n));
    json_object_set_new_nocheck(body, "gaps", arr);
    return body;
}

void api_gaps_get(struct api_request *req)
{
    struct gap_query q = {.has_tf = true, .has_since = true};
    struct strbuf err = STRBUF_INIT;
    struct gap_record *gaps = NULL;
    struct series_key key;
    struct store *st;
    const char *state;
    int64_t days, limit;
    size_t n = 0;
    int rc;

    if (parse_timeframe(req, &key.tf) || resolve_series(req, &key) ||
        api_param_int(req, "days", 7, 1, 36500, &days) ||
        api_param_int(req, "limit", 1000, 1, 5000, &limit))
        goto out;
    state = api_query(req, "state");
    if (state && gap_state_parse(state, &q.state)) {
        char ebuf[80];
        api_echo(ebuf, sizeof(ebuf), state);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter 'state' must be open, repairing, filled or unfillable "
                        "(got '%s')",
                        ebuf);
        goto out;
    }
    q.has_state = state != NULL;
    q.source = key.source;
    q.symbol = key.symbol;
    q.tf = key.tf;
    q.since = time_now() - days * 86400;
    q.limit = (size_t)limit;

    st = api_store(req, &err);
    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    rc = store_list_gaps(st, &q, &gaps, &n, &err);
    if (rc) {
        api_store_error(req, rc, "listing gaps", &err);
        goto out;
    }

    api_reply_json(req, MHD_HTTP_OK, gaps_json(&key, days, gaps, n));
out:
    gap_records_free(gaps, n);
    strbuf_release(&err);
}
