/* SPDX-License-Identifier: MIT */
/*
 * The Kraken spot adapter: GET {base_url}/0/public/OHLC?pair=&interval=
 * [&since=], keyless, one pair and one interval per request.
 *
 * Request. Pairs take Kraken's names (XBTUSD for BTC/USD, see
 * source_venue_symbol()); the interval is in minutes. Kraken wants a
 * User-Agent on every request: the HTTP client always sends one
 * ("candlekeep/VERSION"). An incremental fetch passes the latest stored
 * open time as `since`; a first fetch passes none and keeps the latest
 * `count` rows.
 *
 * Response. {"error":[...],"result":{"<PAIR>":[rows],"last":N}}. Errors
 * come in the `error` array with HTTP 200 (throttling too: not a 429), as
 * "<severity><category>:<text>"; entries starting with W are warnings and
 * do not fail the answer. The pair key is Kraken's internal name (XXBTZUSD
 * for XBTUSD), so the single key that is not `last` is taken. A row is
 * [time, open, high, low, close, vwap, volume, count]: time and count
 * integers, the rest decimal strings, parsed exactly. Rows come oldest
 * first, and the last one is always the period still forming, whatever
 * `since` says: it is dropped here. Kraken may start at the period
 * containing `since`, so rows at or before it are filtered out.
 *
 * History. Kraken serves only its 720 most recent rows, whatever `since`
 * asks: when the rows right after `since` are no longer there, the answer
 * still succeeds with what there is, and `res->note` says which candles
 * are lost (the caller logs it; the gap scan records the hole).
 *
 * Weeks. W1 is not served: Kraken does not document the weekday its
 * 10080-minute candles start on, and candlekeep's weeks start on Monday;
 * a week starting on another day would be refused as unaligned. Until a
 * recorded answer shows Monday starts, configuring W1 for Kraken is a
 * configuration error naming the venue.
 *
 * The answer is all or nothing, as in every adapter: one row that does
 * not parse rejects the body. OHLC relationships are left to the ingest
 * job.
 */
#include "source/source_internal.h"

#include "market/price.h"
#include "net/http.h"
#include "util/error.h"
#include "util/jsonutil.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define KR_DEFAULT_BASE_URL "https://api.kraken.com"
/* Rows one answer holds at most, the forming one included. */
#define KR_MAX_ROWS 720
/*
 * Seconds to wait after a throttling error. Kraken sends no Retry-After
 * and no usage headers for public calls; its documentation says a
 * throttled caller is "restricted for a few seconds (or possibly longer
 * if calls continue)". Five seconds outwaits "a few", and the budget of
 * one call a second keeps the calls from continuing.
 */
#define KR_RATE_WAIT 5
#define KR_QUOTE_MAX 200
#define KR_VALUE_MAX 40

/* Minutes per interval; 0: not served (W1, see the top of the file). */
static const int kr_minutes[TF_COUNT] = {
    [TF_M1] = 1,  [TF_M5] = 5,   [TF_M15] = 15,  [TF_M30] = 30,
    [TF_H1] = 60, [TF_H4] = 240, [TF_D1] = 1440, [TF_W1] = 0,
};

/* A body that is not a JSON object: an HTML page from the CDN, a truncated document, nothing. */
static int non_json(const char *body, size_t len, long status, const json_error_t *jerr,
                    const struct fetch_request *req, const char *source_name,
                    struct fetch_result *res, struct strbuf *err)
{
    size_t skip = 0;
    enum source_error e = SRC_ERR_MALFORMED;
    int code = CK_EPARSE;

    while (skip < len && isspace((unsigned char)body[skip]))
        skip++;
    source_msg_prefix(err, source_name, req);
    if (status >= 500) {
        e = SRC_ERR_SERVER;
        code = CK_EUPSTREAM;
        strbuf_addf(err, "provider failure (HTTP %ld)", status);
    } else if (status == 429) {
        e = SRC_ERR_RATE_MINUTE;
        code = CK_ELIMIT;
        res->retry_after = KR_RATE_WAIT;
        snprintf(res->wait_reason, sizeof(res->wait_reason), "Kraken answered HTTP 429");
        strbuf_addf(err, "rate limited (HTTP %ld)", status);
    } else if (status == 401 || status == 403) {
        e = SRC_ERR_PLAN;
        code = CK_EAUTH;
        strbuf_addf(err, "access refused (HTTP %ld)", status);
    } else if (!jerr) {
        strbuf_addf(err, "HTTP %ld: body is not a JSON object", status);
    } else {
        strbuf_addf(err, "HTTP %ld: body is not JSON (%s)", status,
                    len == skip ? "empty body" : jerr->text);
    }
    if (len > skip) {
        strbuf_addstr(err, ": '");
        strbuf_add_excerpt(err, body + skip, len - skip, 80, body[skip] == '<');
        strbuf_addch(err, '\'');
    }
    return source_fail(res, e, code);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* One entry of the `error` array ("EQuery:Unknown asset pair"): classify it. */
static int error_entry(const char *msg, size_t msglen, long status, const struct fetch_request *req,
                       const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    const char *what;
    enum source_error e;
    int rc;

    if (has_prefix(msg, "EGeneral:Too many requests") || has_prefix(msg, "EAPI:Rate limit") ||
        has_prefix(msg, "EGeneral:Temporary lockout")) {
        e = SRC_ERR_RATE_MINUTE, rc = CK_ELIMIT, what = "rate limited";
        res->retry_after = KR_RATE_WAIT;
        snprintf(res->wait_reason, sizeof(res->wait_reason), "Kraken throttled the calls (%.*s)",
                 (int)(msglen < 48 ? msglen : 48), msg);
    } else if (has_prefix(msg, "EQuery:Unknown asset pair")) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown asset pair";
    } else if (has_prefix(msg, "EService:") || has_prefix(msg, "EGeneral:Internal error")) {
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    } else if (has_prefix(msg, "EGeneral:") || has_prefix(msg, "EQuery:")) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else {
        /* Anything undocumented: the provider's side, worth retrying. */
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider error";
    }
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err, "%s (HTTP %ld): '", what, status);
    strbuf_add_excerpt(err, msg, msglen, KR_QUOTE_MAX, false);
    strbuf_addch(err, '\'');
    return source_fail(res, e, rc);
}

/* Start "row <datetime>: " (or "row #<n>: " before the time is known). */
static void add_row(struct strbuf *err, const char *source_name, const struct fetch_request *req,
                    size_t idx, bool has_time, int64_t t)
{
    source_msg_prefix(err, source_name, req);
    if (has_time) {
        char buf[TIME_BUFSZ];
        time_format_datetime(t, buf);
        strbuf_addf(err, "row %s: ", buf);
    } else {
        strbuf_addf(err, "row #%zu: ", idx + 1);
    }
}

/* Row field `idx`, named `name`, a decimal string: parse it into *out, or say why not in `why`. */
static int parse_field(json_t *row, size_t idx, const char *name, bool is_volume, int64_t *out,
                       struct strbuf *why)
{
    json_t *v = json_array_get(row, idx);

    if (!json_is_string(v)) {
        strbuf_addf(why, "%s is %s, not a string", name, json_type_name(v));
        return CK_EPARSE;
    }
    strbuf_addf(why, "%s '", name);
    strbuf_add_excerpt(why, json_string_value(v), json_string_length(v), KR_VALUE_MAX, false);
    strbuf_addstr(why, "' ");
    return source_parse_decimal(json_string_value(v), json_string_length(v), is_volume, out, why);
}

/* Parse row `i` into *c; on failure the message, naming the row, is in `err`. */
static int parse_row(json_t *row, size_t i, const struct fetch_request *req,
                     const char *source_name, struct candle *c, struct strbuf *err)
{
    static const char *const names[] = {"open", "high", "low", "close"};
    int64_t *prices[] = {&c->open, &c->high, &c->low, &c->close};
    struct strbuf why = STRBUF_INIT;
    json_t *jt;
    int ret = CK_EPARSE;

    if (!json_is_array(row) || json_array_size(row) != 8) {
        jt = json_array_get(row, 0);
        add_row(err, source_name, req, i, json_is_integer(jt),
                json_is_integer(jt) ? (int64_t)json_integer_value(jt) : 0);
        if (json_is_array(row))
            strbuf_addf(err, "has %zu fields, not 8", json_array_size(row));
        else
            strbuf_addf(err, "is %s, not an array", json_type_name(row));
        return CK_EPARSE;
    }
    jt = json_array_get(row, 0);
    if (!json_is_integer(jt) || json_integer_value(jt) < 0) {
        add_row(err, source_name, req, i, false, 0);
        strbuf_addf(err, "time is %s, not a Unix time", json_type_name(jt));
        return CK_EPARSE;
    }
    c->open_time = (int64_t)json_integer_value(jt);
    if (!timeframe_is_aligned(req->tf, c->open_time)) {
        add_row(err, source_name, req, i, true, c->open_time);
        strbuf_addf(err, "time is not aligned to %s", timeframe_name(req->tf));
        return CK_EPARSE;
    }
    for (size_t f = 0; f < ARRAY_SIZE(names); f++) {
        strbuf_reset(&why);
        if (parse_field(row, 1 + f, names[f], false, prices[f], &why))
            goto bad;
    }
    strbuf_reset(&why);
    if (!json_is_string(json_array_get(row, 5))) {
        strbuf_addf(&why, "vwap is %s, not a string", json_type_name(json_array_get(row, 5)));
        goto bad;
    }
    if (parse_field(row, 6, "volume", true, &c->volume, &why))
        goto bad;
    c->has_volume = true;
    if (!json_is_integer(json_array_get(row, 7))) {
        strbuf_addf(&why, "count is %s, not an integer", json_type_name(json_array_get(row, 7)));
        goto bad;
    }
    ret = 0;
    goto out;
bad:
    add_row(err, source_name, req, i, true, c->open_time);
    strbuf_addbuf(err, &why);
out:
    strbuf_release(&why);
    return ret;
}

/* Drop the candles before index `from`. */
static void drop_front(struct candle_vec *v, size_t from)
{
    if (!from)
        return;
    memmove(v->v, v->v + from, (v->n - from) * sizeof(*v->v));
    v->n -= from;
}

static int parse_rows(json_t *rows, const struct fetch_request *req, const char *source_name,
                      struct fetch_result *res, struct strbuf *err)
{
    const int64_t period = timeframe_seconds(req->tf);
    size_t i, n = json_array_size(rows), keep;
    json_t *row;

    json_array_foreach(rows, i, row)
    {
        struct candle c = {0};

        if (parse_row(row, i, req, source_name, &c, err))
            return CK_EPARSE;
        if (res->candles.n && c.open_time <= res->candles.v[res->candles.n - 1].open_time) {
            add_row(err, source_name, req, i, true, c.open_time);
            strbuf_addstr(err, "rows are not in ascending time order");
            return CK_EPARSE;
        }
        candle_vec_push(&res->candles, &c);
    }
    if (!n)
        return 0;

    if (req->has_since && n >= KR_MAX_ROWS && res->candles.v[0].open_time > req->since + period) {
        char from[TIME_BUFSZ], to[TIME_BUFSZ];
        time_format_iso8601(req->since + period, from);
        time_format_iso8601(res->candles.v[0].open_time - period, to);
        snprintf(res->note, sizeof(res->note),
                 "Kraken serves only its %d most recent rows: candles %s to %s are no longer "
                 "available",
                 KR_MAX_ROWS, from, to);
    }
    /* The last row is the period still forming, always. */
    res->candles.n--;
    if (req->has_since) {
        for (keep = 0; keep < res->candles.n && res->candles.v[keep].open_time <= req->since;)
            keep++;
        drop_front(&res->candles, keep);
    } else if (req->count > 0 && res->candles.n > (size_t)req->count) {
        drop_front(&res->candles, res->candles.n - (size_t)req->count);
    }
    return 0;
}

/* `last`: the integer id of the next poll, or its decimal string (both are seen). */
static bool last_ok(json_t *last)
{
    int64_t v;

    if (!last || json_is_integer(last))
        return true;
    return json_is_string(last) && !parse_int64(json_string_value(last), 0, INT64_MAX, &v);
}

int kraken_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                 const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_error_t jerr;
    json_t *root, *jerror, *result, *rows = NULL, *v, *msg;
    const char *key, *pair = NULL;
    size_t i;
    int ret;

    res->note[0] = '\0';
    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        ret = non_json(body, len, status, root ? NULL : &jerr, req, source_name, res, err);
        json_decref(root);
        return ret;
    }
    jerror = json_object_get(root, "error");
    if (!json_is_array(jerror)) {
        if (status != 200) {
            ret = non_json(body, len, status, NULL, req, source_name, res, err);
            goto out;
        }
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: response has no \"error\" array", status);
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    json_array_foreach(jerror, i, msg)
    {
        if (!json_is_string(msg)) {
            source_msg_prefix(err, source_name, req);
            strbuf_addf(err, "HTTP %ld: error entry is %s, not a string", status,
                        json_type_name(msg));
            ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
            goto out;
        }
        /* W...: a warning; the answer stands. */
        if (json_string_value(msg)[0] != 'W') {
            ret = error_entry(json_string_value(msg), json_string_length(msg), status, req,
                              source_name, res, err);
            goto out;
        }
    }
    if (status != 200) {
        /* An envelope without errors and a failing status: judge by the status. */
        ret = non_json("", 0, status, NULL, req, source_name, res, err);
        goto out;
    }
    result = json_object_get(root, "result");
    if (!json_is_object(result)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: response has no \"result\" object", status);
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    json_object_foreach(result, key, v)
    {
        if (!strcmp(key, "last"))
            continue;
        if (pair) {
            source_msg_prefix(err, source_name, req);
            strbuf_addstr(err, "result names more than one pair ('");
            strbuf_add_excerpt(err, pair, strlen(pair), KR_VALUE_MAX, false);
            strbuf_addstr(err, "', '");
            strbuf_add_excerpt(err, key, strlen(key), KR_VALUE_MAX, false);
            strbuf_addstr(err, "')");
            ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
            goto out;
        }
        pair = key;
        rows = v;
    }
    if (!json_is_array(rows) || !last_ok(json_object_get(result, "last"))) {
        source_msg_prefix(err, source_name, req);
        strbuf_addstr(err, !pair                  ? "result holds no pair's rows"
                           : !json_is_array(rows) ? "the pair's rows are not an array"
                                                  : "\"last\" is not a Unix time");
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    ret = parse_rows(rows, req, source_name, res, err);
    if (ret)
        ret = source_fail(res, SRC_ERR_MALFORMED, ret);
    else
        res->error = SRC_OK;
out:
    json_decref(root);
    return ret;
}

static int kr_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                    struct strbuf *err)
{
    const char *name = source_name(src);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header hdrs[] = {{"Accept", "application/json"}};
    int ret;

    if (!kr_minutes[req->tf])
        BUG("kraken asked for timeframe %s, which it does not serve", timeframe_name(req->tf));
    strbuf_addf(&url, "%s/0/public/OHLC?pair=", src->base_url);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "&interval=%d", kr_minutes[req->tf]);
    if (req->has_since)
        strbuf_addf(&url, "&since=%lld", (long long)req->since);

    ret = source_http_get(src, url.buf, hdrs, ARRAY_SIZE(hdrs), req, &resp, res, &msg);
    if (ret)
        goto out;
    ret = kraken_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    /* A Retry-After (from a proxy or the CDN) outranks the documented wait. */
    if (ret && resp.retry_after >= 0 &&
        (res->error == SRC_ERR_RATE_MINUTE || res->error == SRC_ERR_SERVER))
        res->retry_after = resp.retry_after;
out:
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&url);
    http_response_release(&resp);
    return ret;
}

static const struct source_kind kr_kind = {
    .name = "kraken",
    .title = "Kraken",
    .base_url = KR_DEFAULT_BASE_URL,
    .url_env = "CANDLEKEEP_KRAKEN_URL",
    .needs_key = false,
    .timeframes = SOURCE_TF(TF_M1) | SOURCE_TF(TF_M5) | SOURCE_TF(TF_M15) | SOURCE_TF(TF_M30) |
                  SOURCE_TF(TF_H1) | SOURCE_TF(TF_H4) | SOURCE_TF(TF_D1),
    .max_rows = KR_MAX_ROWS,
    .recent_only = true,
    .symbol_style = SYMBOL_KRAKEN,
    /* Public calls are limited per IP and pair; one a second stays within them. */
    .rate_window_ms = 1000,
    .rate_per_window = 1,
    .daily_quota = 0,
    .calendar = "crypto",
    .symbols = "BTC/USD",
};

const struct source_ops source_kraken_ops = {
    .kind = &kr_kind,
    .fetch = kr_fetch,
};
