/* SPDX-License-Identifier: MIT */
/*
 * The Coinbase Exchange adapter: GET {base_url}/products/{id}/candles
 * ?granularity=&start=&end=, keyless, one product and one granularity per
 * request.
 *
 * Request. Products are dashed ("BTC-USD"); the granularity is in seconds
 * and only 60, 300, 900, 3600, 21600 and 86400 exist, so M30, H4 and W1
 * are not served (configuring them is a configuration error naming the
 * venue). A window implying more than 300 buckets is rejected, not
 * truncated, so every request names one that holds at most 300: with
 * `since`, the periods (since, since + 300 periods]; without it, the
 * latest `count` periods up to now. Times are sent as ISO 8601 UTC.
 *
 * Response. A JSON array of rows [time, low, high, open, close, volume]
 * (note the order), newest first, sorted here. The values are JSON
 * numbers, which must stay exact decimals: jansson (2.14) would turn them
 * into doubles, so the rows are read by the small scanner below, which
 * keeps each number's text and accepts nothing but the row arrays (an
 * exponent form, "1.5e-05", is written out as a plain decimal from its
 * digits, never through a double). Buckets without trades are absent,
 * not zero-filled; the gap scan records them, and `res->window_end` tells
 * the caller the window was answered, so that a window without a single
 * trade does not stop the paging there. Coinbase may answer a
 * bucket just before `start`: rows at or before `since` are filtered out.
 * Errors are HTTP 4xx/5xx with {"message": ...}: 429 is the rate limit
 * ("Public rate limit exceeded"), 404 an unknown product ("NotFound"), 400
 * a rejected request.
 *
 * All or nothing, as in every adapter: one row that does not parse
 * rejects the body. Forming bars and OHLC relationships are left to the
 * ingest job (Coinbase does not say whether the current bucket is sent).
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

#define CB_DEFAULT_BASE_URL "https://api.exchange.coinbase.com"
/* Buckets one request may span. */
#define CB_MAX_ROWS 300
/*
 * Seconds to wait after a 429 without Retry-After: public calls draw from
 * a token bucket of 10 a second (bursts of 15) that fills lazily, so a
 * second later there is room again.
 */
#define CB_RATE_WAIT 1
/* Exponents beyond this make a number no price or volume can be. */
#define CB_MAX_EXPONENT 40
#define CB_QUOTE_MAX    200
#define CB_VALUE_MAX    40

/* ------------------------------------------------------------ the row scanner */

struct scan {
    const char *p, *end;
};

/* JSON's whitespace (RFC 8259), not isspace()'s, which also takes \v and \f. */
static bool json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && json_ws(*s->p))
        s->p++;
}

static bool at(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

static size_t scan_digits(struct scan *s)
{
    const char *start = s->p;
    while (s->p < s->end && isdigit((unsigned char)*s->p))
        s->p++;
    return (size_t)(s->p - start);
}

/* A JSON number at the cursor (RFC 8259 grammar): its text in *tok, *len. */
static bool scan_number(struct scan *s, const char **tok, size_t *len)
{
    const char *start, *first;
    size_t nint;

    skip_ws(s);
    start = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    first = s->p;
    nint = scan_digits(s);
    if (!nint || (nint > 1 && *first == '0'))
        goto bad;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!scan_digits(s))
            goto bad;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!scan_digits(s))
            goto bad;
    }
    *tok = start;
    *len = (size_t)(s->p - start);
    return true;
bad:
    s->p = start;
    return false;
}

/* Quote what stands at the cursor (up to the next separator) after "is not a number: ". */
static void quote_here(struct strbuf *err, const struct scan *s)
{
    const char *q = s->p;

    while (q < s->end && *q != ',' && *q != ']' && q - s->p < CB_VALUE_MAX)
        q++;
    if (q == s->p)
        strbuf_addstr(err, s->p < s->end ? "a separator" : "the end of the body");
    else {
        strbuf_addch(err, '\'');
        strbuf_add_excerpt(err, s->p, (size_t)(q - s->p), CB_VALUE_MAX, false);
        strbuf_addch(err, '\'');
    }
}

/*
 * The number text `tok` as a plain decimal in `out` ("1.5e-05" ->
 * "0.000015"), digit by digit. 0, or CK_ELIMIT for an exponent too large
 * for any price or volume.
 */
static int plain_decimal(const char *tok, size_t len, struct strbuf *out)
{
    struct strbuf digits = STRBUF_INIT, etext = STRBUF_INIT;
    const char *p = tok, *end = tok + len;
    int64_t exp = 0, point;
    bool neg = false;
    int bad;

    strbuf_reset(out);
    if (p < end && *p == '-')
        neg = true, p++;
    while (p < end && isdigit((unsigned char)*p))
        strbuf_addch(&digits, *p++);
    point = (int64_t)digits.len;
    if (p < end && *p == '.')
        for (p++; p < end && isdigit((unsigned char)*p); p++)
            strbuf_addch(&digits, *p);
    if (p == end) {
        strbuf_add(out, tok, len);
        strbuf_release(&digits);
        return 0;
    }
    /* An exponent ("e-05"): its grammar was checked by scan_number(). */
    p++;
    if (*p == '+')
        p++;
    strbuf_add(&etext, p, (size_t)(end - p));
    bad = parse_int64(etext.buf, -CB_MAX_EXPONENT, CB_MAX_EXPONENT, &exp);
    strbuf_release(&etext);
    if (bad) {
        strbuf_release(&digits);
        return CK_ELIMIT;
    }
    point += exp;
    if (neg)
        strbuf_addch(out, '-');
    if (point <= 0) {
        strbuf_addstr(out, "0.");
        for (int64_t i = point; i < 0; i++)
            strbuf_addch(out, '0');
        strbuf_addbuf(out, &digits);
    } else if ((size_t)point >= digits.len) {
        strbuf_addbuf(out, &digits);
        for (size_t i = digits.len; i < (size_t)point; i++)
            strbuf_addch(out, '0');
    } else {
        strbuf_add(out, digits.buf, (size_t)point);
        strbuf_addch(out, '.');
        strbuf_addstr(out, digits.buf + point);
    }
    strbuf_release(&digits);
    return 0;
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

/* One row at the cursor, "[time, low, high, open, close, volume]", into *c. */
static int scan_row(struct scan *s, size_t idx, const struct fetch_request *req,
                    const char *source_name, struct candle *c, struct strbuf *err)
{
    static const char *const names[] = {"time", "low", "high", "open", "close", "volume"};
    int64_t *values[] = {NULL, &c->low, &c->high, &c->open, &c->close, &c->volume};
    struct strbuf plain = STRBUF_INIT, why = STRBUF_INIT;
    bool has_time = false;
    const char *tok;
    size_t len;
    int ret = CK_EPARSE;

    if (!at(s, '[')) {
        add_row(err, source_name, req, idx, false, 0);
        strbuf_addstr(err, "is not an array: ");
        quote_here(err, s);
        goto out;
    }
    for (size_t f = 0; f < ARRAY_SIZE(names); f++) {
        if (f && !at(s, ',')) {
            add_row(err, source_name, req, idx, has_time, c->open_time);
            if (s->p == s->end)
                strbuf_addstr(err, "the body ends inside the row (cut short)");
            else
                strbuf_addf(err, "has %zu fields, not 6", f);
            goto out;
        }
        if (!scan_number(s, &tok, &len)) {
            add_row(err, source_name, req, idx, has_time, c->open_time);
            strbuf_addf(err, "%s is not a number: ", names[f]);
            quote_here(err, s);
            goto out;
        }
        if (!f) {
            struct strbuf t = STRBUF_INIT;
            int bad;
            strbuf_add(&t, tok, len);
            bad = parse_int64(t.buf, 0, INT64_MAX / 2, &c->open_time);
            if (bad) {
                add_row(err, source_name, req, idx, false, 0);
                strbuf_addstr(err, "time '");
                strbuf_add_excerpt(err, tok, len, CB_VALUE_MAX, false);
                strbuf_addstr(err, "' is not a Unix time");
            }
            strbuf_release(&t);
            if (bad)
                goto out;
            has_time = true;
            if (!timeframe_is_aligned(req->tf, c->open_time)) {
                add_row(err, source_name, req, idx, true, c->open_time);
                strbuf_addf(err, "time is not aligned to %s", timeframe_name(req->tf));
                goto out;
            }
            continue;
        }
        strbuf_reset(&why);
        strbuf_addf(&why, "%s '", names[f]);
        strbuf_add_excerpt(&why, tok, len, CB_VALUE_MAX, false);
        strbuf_addstr(&why, "' ");
        if (plain_decimal(tok, len, &plain)) {
            strbuf_addstr(&why, "is out of range");
        } else if (!source_parse_decimal(plain.buf, plain.len, f == 5, values[f], &why)) {
            continue;
        }
        add_row(err, source_name, req, idx, true, c->open_time);
        strbuf_addbuf(err, &why);
        goto out;
    }
    if (!at(s, ']')) {
        add_row(err, source_name, req, idx, true, c->open_time);
        strbuf_addstr(err, s->p == s->end ? "the body ends inside the row (cut short)"
                                          : "has more than 6 fields");
        goto out;
    }
    c->has_volume = true;
    ret = 0;
out:
    strbuf_release(&plain);
    strbuf_release(&why);
    return ret;
}

static int cmp_open_time(const void *a, const void *b)
{
    const struct candle *x = a, *y = b;
    return (x->open_time > y->open_time) - (x->open_time < y->open_time);
}

/* The body's rows, "[[...], ...]", all of them or none. */
static int scan_rows(const char *body, size_t len, const struct fetch_request *req,
                     const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    struct scan s = {.p = body, .end = body + len};
    size_t idx = 0;

    if (!at(&s, '['))
        BUG("scan_rows() called on a body that is not an array");
    if (!at(&s, ']')) {
        do {
            struct candle c = {0};
            if (scan_row(&s, idx++, req, source_name, &c, err))
                return CK_EPARSE;
            candle_vec_push(&res->candles, &c);
        } while (at(&s, ','));
        if (!at(&s, ']')) {
            source_msg_prefix(err, source_name, req);
            strbuf_addf(err, "after row #%zu the body is not ',' or ']': ", idx);
            quote_here(err, &s);
            return CK_EPARSE;
        }
    }
    skip_ws(&s);
    if (s.p != s.end) {
        source_msg_prefix(err, source_name, req);
        strbuf_addstr(err, "text after the rows: ");
        quote_here(err, &s);
        return CK_EPARSE;
    }

    if (res->candles.n > 1)
        qsort(res->candles.v, res->candles.n, sizeof(*res->candles.v), cmp_open_time);
    for (size_t i = 1; i < res->candles.n; i++) {
        if (res->candles.v[i].open_time == res->candles.v[i - 1].open_time) {
            add_row(err, source_name, req, i, true, res->candles.v[i].open_time);
            strbuf_addstr(err, "time appears twice");
            return CK_EPARSE;
        }
    }
    return 0;
}

/* Keep what the request asked for: after `since`, or the latest `count`. */
static void trim(const struct fetch_request *req, struct candle_vec *v)
{
    size_t from = 0;

    if (req->has_since) {
        while (from < v->n && v->v[from].open_time <= req->since)
            from++;
    } else if (req->count > 0 && v->n > (size_t)req->count) {
        from = v->n - (size_t)req->count;
    }
    if (!from)
        return;
    memmove(v->v, v->v + from, (v->n - from) * sizeof(*v->v));
    v->n -= from;
}

/* ------------------------------------------------------------ errors */

/* A failing HTTP status: classified by the status, the body's "message" quoted. */
static int error_status(const char *body, size_t len, long status, const struct fetch_request *req,
                        const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    json_t *jmsg = json_is_object(root) ? json_object_get(root, "message") : NULL;
    size_t skip = 0;
    const char *what;
    enum source_error e;
    int rc;

    if (status == 429) {
        e = SRC_ERR_RATE_MINUTE, rc = CK_ELIMIT, what = "rate limited";
        res->retry_after = CB_RATE_WAIT;
        snprintf(res->wait_reason, sizeof(res->wait_reason),
                 "Coinbase's public rate limit (HTTP 429)");
    } else if (status == 404) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown product";
    } else if (status == 401 || status == 403) {
        e = SRC_ERR_PLAN, rc = CK_EAUTH, what = "access refused";
    } else if (status >= 400 && status < 500) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else if (status >= 500) {
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    } else {
        e = SRC_ERR_MALFORMED, rc = CK_EPARSE, what = "unexpected answer";
    }
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err, "%s (HTTP %ld)", what, status);
    if (json_is_string(jmsg)) {
        strbuf_addstr(err, ": ");
        strbuf_add_excerpt(err, json_string_value(jmsg), json_string_length(jmsg), CB_QUOTE_MAX,
                           false);
    } else {
        while (skip < len && isspace((unsigned char)body[skip]))
            skip++;
        if (len > skip) {
            strbuf_addstr(err, ": '");
            strbuf_add_excerpt(err, body + skip, len - skip, 80, body[skip] == '<');
            strbuf_addch(err, '\'');
        }
    }
    json_decref(root);
    return source_fail(res, e, rc);
}

int coinbase_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                   const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    size_t skip = 0;
    int ret;

    if (!body)
        body = "", len = 0;
    if (status != 200)
        return error_status(body, len, status, req, source_name, res, err);
    while (skip < len && json_ws(body[skip]))
        skip++;
    if (skip == len || body[skip] != '[') {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: body is not an array of rows", status);
        if (len > skip) {
            strbuf_addstr(err, ": '");
            strbuf_add_excerpt(err, body + skip, len - skip, 80, body[skip] == '<');
            strbuf_addch(err, '\'');
        } else {
            strbuf_addstr(err, " (empty body)");
        }
        return source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
    }
    ret = scan_rows(body, len, req, source_name, res, err);
    if (ret)
        return source_fail(res, SRC_ERR_MALFORMED, ret);
    trim(req, &res->candles);
    res->error = SRC_OK;
    return 0;
}

/* ------------------------------------------------------------ the request */

static void add_time(struct strbuf *url, const char *name, int64_t t)
{
    char buf[TIME_BUFSZ];

    time_format_iso8601(t, buf);
    strbuf_addf(url, "&%s=", name);
    http_url_encode(url, buf);
}

static int cb_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                    struct strbuf *err)
{
    const char *name = source_name(src);
    const int64_t period = timeframe_seconds(req->tf);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header hdrs[] = {{"Accept", "application/json"}};
    int64_t start, end;
    int ret;

    if (req->has_since) {
        start = req->since + period;
        end = req->since + CB_MAX_ROWS * period;
    } else {
        int count = req->count < 1 ? 1 : req->count > CB_MAX_ROWS ? CB_MAX_ROWS : req->count;
        start = timeframe_floor(req->tf, req->now) - (count - 1) * period;
        end = req->now;
    }
    strbuf_addf(&url, "%s/products/", src->base_url);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "/candles?granularity=%lld", (long long)period);
    add_time(&url, "start", start);
    add_time(&url, "end", end);

    ret = source_http_get(src, url.buf, hdrs, ARRAY_SIZE(hdrs), req, &resp, res, &msg);
    if (ret)
        goto out;
    ret = coinbase_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    /* Buckets without trades have no row: the window is covered all the same. */
    if (!ret && req->has_since)
        res->window_end = end;
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

static const struct source_kind cb_kind = {
    .name = "coinbase",
    .title = "Coinbase Exchange",
    .base_url = CB_DEFAULT_BASE_URL,
    .url_env = "CANDLEKEEP_COINBASE_URL",
    .needs_key = false,
    /* Granularities 60, 300, 900, 3600, 21600 and 86400 s: no M30, H4 or W1. */
    .timeframes = SOURCE_TF(TF_M1) | SOURCE_TF(TF_M5) | SOURCE_TF(TF_M15) | SOURCE_TF(TF_H1) |
                  SOURCE_TF(TF_D1),
    .max_rows = CB_MAX_ROWS,
    .recent_only = false,
    .symbol_style = SYMBOL_DASHED,
    /* Public calls: 10 a second per IP (bursts of 15). */
    .rate_window_ms = 1000,
    .rate_per_window = 10,
    .daily_quota = 0,
    .calendar = "crypto",
    .symbols = "BTC/USD",
};

const struct source_ops source_coinbase_ops = {
    .kind = &cb_kind,
    .fetch = cb_fetch,
};
