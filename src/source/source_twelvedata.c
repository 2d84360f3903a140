/* SPDX-License-Identifier: MIT */
/*
 * The Twelve Data adapter: GET {base_url}/time_series, one symbol and one
 * interval per request, answered as JSON.
 *
 * Request. The API key travels only in the `Authorization: apikey KEY`
 * header, never in the URL, so it cannot reach a log line through a URL.
 * Times are always asked for in UTC (the provider's default for metals and
 * forex is New York time) and in ascending order. A first fetch asks for
 * the latest `count` rows; an incremental one asks for rows from the period
 * after the latest stored candle (start_date, with the maximum outputsize)
 * up to end_date: max_rows periods later, or the end of the window a repair
 * asked for.
 *
 * Response. Twelve Data reports errors in the body, often with HTTP 200, as
 * {"code":...,"message":...,"status":"error"}; the body decides, whatever the
 * HTTP status. "No data is available on the specified dates" is not a
 * failure but an empty answer. Prices arrive as JSON strings and are parsed
 * as exact decimals. The response is all or nothing: one row that does not
 * parse (a price that is not a positive decimal, a missing field, a time
 * that is not aligned to the timeframe, a repeated time) rejects the whole
 * body, because a partial series would be stored as if it were complete.
 * Rows are sorted here; the requested order is not trusted. OHLC
 * relationships and forming bars are left to the ingest job (source.h).
 *
 * Messages name the source, symbol and timeframe, quote offending values
 * in a short sanitised form, and never contain the API key: it is not in
 * the URL, an echo of it in the response body is masked before parsing,
 * and the finished message is checked once more before it leaves this file.
 */
#include "source/source_internal.h"

#include "market/price.h"
#include "net/http.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/jsonutil.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define TD_DEFAULT_BASE_URL "https://api.twelvedata.com"
#define TD_MAX_OUTPUTSIZE   5000
/* Longest provider text or value quoted in a message. */
#define TD_QUOTE_MAX 200
#define TD_VALUE_MAX 40

struct twelvedata {
    struct source base; /* first: struct source * and struct twelvedata * convert */
    char *auth;         /* "apikey KEY", or NULL without a key */
};

static const char *const td_intervals[TF_COUNT] = {
    [TF_M1] = "1min", [TF_M5] = "5min", [TF_M15] = "15min", [TF_M30] = "30min",
    [TF_H1] = "1h",   [TF_H4] = "4h",   [TF_D1] = "1day",   [TF_W1] = "1week",
};

static struct twelvedata *td_downcast(struct source *src)
{
    if (src->ops != &source_twelvedata_ops)
        BUG("source '%s' is not a twelvedata source", src->ops->kind->name);
    return (struct twelvedata *)src;
}

static int td_open(struct source **out, const struct source_config *cfg, struct strbuf *err)
{
    const char *name = cfg->name && *cfg->name ? cfg->name : "twelvedata";
    struct twelvedata *td;

    if (cfg->api_key) {
        for (const char *p = cfg->api_key; *p; p++) {
            if (iscntrl((unsigned char)*p) || *p == ' ') {
                strbuf_addf(err, "source '%s': api_key contains spaces or control characters",
                            name);
                return CK_ECONFIG;
            }
        }
    }
    td = xcalloc(1, sizeof(*td));
    if (cfg->api_key && *cfg->api_key) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "apikey %s", cfg->api_key);
        td->auth = strbuf_detach(&sb, NULL);
    }
    *out = &td->base;
    return 0;
}

static void td_free(struct source *src)
{
    struct twelvedata *td;

    if (!src)
        return;
    td = td_downcast(src);
    free(td->auth);
    free(td);
}

/* Seconds from `now` to the start of the next minute / UTC day. */
static int64_t until_next(int64_t now, int64_t unit)
{
    int64_t r = now % unit;
    if (r < 0)
        r += unit;
    return unit - r;
}

/* A body that is not JSON: an HTML error page, a truncated document, nothing. */
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
        res->retry_after = until_next(req->now, 60);
        strbuf_addf(err, "rate limited (HTTP %ld)", status);
    } else if (status == 401 || status == 403) {
        e = status == 401 ? SRC_ERR_AUTH : SRC_ERR_PLAN;
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

/* {"code":...,"message":...,"status":"error"}: classify by code, whatever the HTTP status. */
static int error_body(json_t *root, long status, const struct fetch_request *req,
                      const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_t *jcode = json_object_get(root, "code");
    json_t *jmsg = json_object_get(root, "message");
    const char *msg = json_is_string(jmsg) ? json_string_value(jmsg) : "";
    size_t msglen = json_is_string(jmsg) ? json_string_length(jmsg) : 0;
    long code = 0;
    const char *what;
    enum source_error e;
    int rc;

    if (json_is_integer(jcode))
        code = (long)json_integer_value(jcode);
    else if (json_is_string(jcode)) {
        int64_t v;
        if (!parse_int64(json_string_value(jcode), 0, 999, &v))
            code = (long)v;
    }
    if (code <= 0)
        code = status;

    if (code == 400 && strcasestr(msg, "No data is available")) {
        /* Nothing in the window: newer candles do not exist yet, or none at all. */
        candle_vec_release(&res->candles);
        res->error = SRC_OK;
        return 0;
    }
    if (code == 401) {
        e = SRC_ERR_AUTH, rc = CK_EAUTH, what = "API key refused";
    } else if (code == 403) {
        e = SRC_ERR_PLAN, rc = CK_EAUTH, what = "not covered by the API key's plan";
    } else if (code == 404) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown symbol";
    } else if (code == 429) {
        rc = CK_ELIMIT;
        if (strcasestr(msg, "for the day") ||
            (!strcasestr(msg, "minute") && strcasestr(msg, "day"))) {
            e = SRC_ERR_RATE_DAY, what = "daily API credits exhausted";
            res->retry_after = until_next(req->now, 86400);
        } else {
            e = SRC_ERR_RATE_MINUTE, what = "per-minute API credits exhausted";
            res->retry_after = until_next(req->now, 60);
        }
    } else if (code >= 400 && code < 500) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else {
        /* 5xx and anything undocumented: the provider's side, worth retrying. */
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    }
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err, "%s (code %ld, HTTP %ld)", what, code, status);
    if (msglen) {
        strbuf_addstr(err, ": ");
        strbuf_add_excerpt(err, msg, msglen, TD_QUOTE_MAX, false);
    }
    return source_fail(res, e, rc);
}

/* Start "row <datetime>: " (or "row #<n>: " before the datetime is known). */
static void add_row(struct strbuf *err, const char *source_name, const struct fetch_request *req,
                    size_t idx, const char *dt, size_t dtlen)
{
    source_msg_prefix(err, source_name, req);
    if (dt) {
        strbuf_addstr(err, "row ");
        strbuf_add_excerpt(err, dt, dtlen, TD_VALUE_MAX, false);
    } else {
        strbuf_addf(err, "row #%zu", idx + 1);
    }
    strbuf_addstr(err, ": ");
}

/*
 * Parse row field `field` into *out. Prices must be positive; volume (with
 * `is_volume`) may be zero and may carry more than 8 decimals, which are
 * dropped (a volume is a measure, not a price that must round-trip).
 * Returns 0, or appends the reason after the row label and returns CK_EPARSE.
 */
static int parse_field(json_t *row, const char *field, bool is_volume, int64_t *out,
                       struct strbuf *why)
{
    json_t *v = json_object_get(row, field);
    const char *s;
    size_t len;
    int rc;

    if (!v) {
        strbuf_addf(why, "%s is missing", field);
        return CK_EPARSE;
    }
    if (!json_is_string(v)) {
        strbuf_addf(why, "%s is %s, not a string", field, json_type_name(v));
        return CK_EPARSE;
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (is_volume) {
        const char *dot = memchr(s, '.', len);
        if (dot && (size_t)(s + len - dot - 1) > PRICE_DECIMALS) {
            bool digits = true;
            for (const char *q = dot + 1; q < s + len; q++)
                digits = digits && isdigit((unsigned char)*q);
            if (digits)
                len = (size_t)(dot - s) + 1 + PRICE_DECIMALS;
        }
    }
    rc = price_parse(s, len, out);
    if (!rc && (is_volume ? *out < 0 : *out <= 0))
        rc = 1;
    if (rc) {
        strbuf_addf(why, "%s '", field);
        strbuf_add_excerpt(why, s, json_string_length(v), TD_VALUE_MAX, false);
        strbuf_addf(why, "' %s",
                    rc == CK_ELIMIT ? "is out of range"
                    : rc == 1       ? (is_volume ? "is negative" : "is not positive")
                                    : "is not a decimal");
        return CK_EPARSE;
    }
    return 0;
}

static int cmp_open_time(const void *a, const void *b)
{
    const struct candle *x = a, *y = b;
    return (x->open_time > y->open_time) - (x->open_time < y->open_time);
}

/* Looks like "YYYY-MM-DD" or "YYYY-MM-DD HH:MM:SS" (time_parse_n() also takes Unix digits). */
static bool datetime_shape_ok(const char *s, size_t len)
{
    return (len == 10 || len >= 16) && s[4] == '-' && s[7] == '-';
}

static int parse_values(json_t *values, const struct fetch_request *req, const char *source_name,
                        struct fetch_result *res, struct strbuf *err)
{
    static const char *const price_fields[] = {"open", "high", "low", "close"};
    struct strbuf why = STRBUF_INIT;
    size_t i;
    json_t *row;
    int ret = 0;

    json_array_foreach(values, i, row)
    {
        struct candle c = {0};
        int64_t *prices[] = {&c.open, &c.high, &c.low, &c.close};
        json_t *jdt, *jvol;
        const char *dt;
        size_t dtlen;

        if (!json_is_object(row)) {
            add_row(err, source_name, req, i, NULL, 0);
            strbuf_addf(err, "is %s, not an object", json_type_name(row));
            ret = CK_EPARSE;
            goto out;
        }
        jdt = json_object_get(row, "datetime");
        if (!json_is_string(jdt)) {
            add_row(err, source_name, req, i, NULL, 0);
            strbuf_addstr(err, jdt ? "datetime is not a string" : "datetime is missing");
            ret = CK_EPARSE;
            goto out;
        }
        dt = json_string_value(jdt);
        dtlen = json_string_length(jdt);
        if (!datetime_shape_ok(dt, dtlen) || time_parse_n(dt, dtlen, &c.open_time)) {
            add_row(err, source_name, req, i, NULL, 0);
            strbuf_addstr(err, "datetime '");
            strbuf_add_excerpt(err, dt, dtlen, TD_VALUE_MAX, false);
            strbuf_addstr(err, "' is not a date and time");
            ret = CK_EPARSE;
            goto out;
        }
        if (!timeframe_is_aligned(req->tf, c.open_time)) {
            add_row(err, source_name, req, i, dt, dtlen);
            strbuf_addf(err, "datetime is not aligned to %s", timeframe_name(req->tf));
            ret = CK_EPARSE;
            goto out;
        }
        for (size_t f = 0; f < ARRAY_SIZE(price_fields); f++) {
            strbuf_reset(&why);
            if (parse_field(row, price_fields[f], false, prices[f], &why)) {
                add_row(err, source_name, req, i, dt, dtlen);
                strbuf_addbuf(err, &why);
                ret = CK_EPARSE;
                goto out;
            }
        }
        jvol = json_object_get(row, "volume");
        if (jvol && !json_is_null(jvol)) {
            strbuf_reset(&why);
            if (parse_field(row, "volume", true, &c.volume, &why)) {
                add_row(err, source_name, req, i, dt, dtlen);
                strbuf_addbuf(err, &why);
                ret = CK_EPARSE;
                goto out;
            }
            c.has_volume = true;
        }
        candle_vec_push(&res->candles, &c);
    }

    if (res->candles.n > 1)
        qsort(res->candles.v, res->candles.n, sizeof(*res->candles.v), cmp_open_time);
    for (i = 1; i < res->candles.n; i++) {
        if (res->candles.v[i].open_time == res->candles.v[i - 1].open_time) {
            char t[TIME_BUFSZ];
            time_format_datetime(res->candles.v[i].open_time, t);
            source_msg_prefix(err, source_name, req);
            strbuf_addf(err, "row %s: datetime appears twice", t);
            ret = CK_EPARSE;
            goto out;
        }
    }
out:
    strbuf_release(&why);
    return ret;
}

int twelvedata_parse(const char *body, size_t len, long status, const struct fetch_request *req,
                     const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_error_t jerr;
    json_t *root, *jstatus, *values;
    int ret;

    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        ret = non_json(body, len, status, root ? NULL : &jerr, req, source_name, res, err);
        json_decref(root);
        return ret;
    }
    jstatus = json_object_get(root, "status");
    values = json_object_get(root, "values");
    if ((json_is_string(jstatus) && !strcmp(json_string_value(jstatus), "error")) ||
        (!values && json_object_get(root, "code"))) {
        ret = error_body(root, status, req, source_name, res, err);
        goto out;
    }
    if (!json_is_array(values)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: response has no \"values\" array", status);
        ret = status >= 500 ? source_fail(res, SRC_ERR_SERVER, CK_EUPSTREAM)
                            : source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    ret = parse_values(values, req, source_name, res, err);
    if (ret)
        ret = source_fail(res, SRC_ERR_MALFORMED, ret);
    else
        res->error = SRC_OK;
out:
    json_decref(root);
    return ret;
}

static void read_credits(const struct http_response *resp, const char *name, int64_t *out)
{
    struct strbuf v = STRBUF_INIT;
    int64_t n;

    if (!http_response_header(resp, name, &v) && !parse_int64(v.buf, 0, INT64_MAX, &n))
        *out = n;
    strbuf_release(&v);
}

static int td_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                    struct strbuf *err)
{
    struct twelvedata *td = td_downcast(src);
    const struct source_config *cfg = src->cfg;
    const char *name = source_name(src);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_header hdrs[2] = {{"Accept", "application/json"}};
    size_t nhdrs = 1;
    int ret;

    if (td->auth)
        hdrs[nhdrs++] = (struct http_header){"Authorization", td->auth};

    strbuf_addf(&url, "%s/time_series?symbol=", src->base_url);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "&interval=%s&timezone=UTC&order=asc&format=JSON", td_intervals[req->tf]);
    if (req->has_since) {
        const int64_t period = timeframe_seconds(req->tf);
        /*
         * The window is bounded: a window holding more rows than
         * outputsize is answered with its LATEST rows, which would skip
         * the oldest candles after `since`. Whether end_date is exclusive
         * (the fake, and the safe reading: the documentation does not say)
         * or inclusive, (since, since + max_rows periods] holds at most
         * max_rows rows; when it ends before the present, later candles
         * may follow (res->more), and paging goes on past it even when a
         * closed market left it empty (res->window_end).
         */
        int64_t end = req->since + (int64_t)TD_MAX_OUTPUTSIZE * period;
        char t[TIME_BUFSZ];
        if (req->until > req->since && req->until + period < end)
            end = req->until + period;
        else
            res->more = end <= req->now;
        if (res->more)
            res->window_end = end - period;
        time_format_datetime(req->since + period, t);
        strbuf_addstr(&url, "&start_date=");
        http_url_encode(&url, t);
        time_format_datetime(end, t);
        strbuf_addstr(&url, "&end_date=");
        http_url_encode(&url, t);
        strbuf_addf(&url, "&outputsize=%d", TD_MAX_OUTPUTSIZE);
    } else {
        strbuf_addf(&url, "&outputsize=%d", req->count);
    }

    ret = source_http_get(src, url.buf, hdrs, nhdrs, req, &resp, res, &msg);
    if (ret)
        goto out;
    read_credits(&resp, "api-credits-used", &res->credits_used);
    read_credits(&resp, "api-credits-left", &res->credits_left);
    /*
     * Mask a key the provider echoes before any of the body can be quoted:
     * masking only the finished message would miss a key cut in half by
     * the length limit of a quote.
     */
    redact_value_fill(&resp.body, cfg->api_key);
    ret = twelvedata_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    /* An explicit Retry-After from the provider outranks the computed wait. */
    if (ret && resp.retry_after >= 0 &&
        (res->error == SRC_ERR_RATE_MINUTE || res->error == SRC_ERR_RATE_DAY ||
         res->error == SRC_ERR_SERVER))
        res->retry_after = resp.retry_after;
out:
    redact_value(&msg, cfg->api_key);
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&url);
    http_response_release(&resp);
    return ret;
}

static const struct source_kind td_kind = {
    .name = "twelvedata",
    .title = "Twelve Data",
    .base_url = "https://api.twelvedata.com",
    .url_env = "CANDLEKEEP_TWELVEDATA_URL",
    .needs_key = true,
    .key_env = "TWELVE_DATA_API_KEY",
    .key_help = "a free key is available at https://twelvedata.com/pricing",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = TD_MAX_OUTPUTSIZE,
    .symbol_style = SYMBOL_AS_IS,
    /* The free (Basic) plan: 8 credits a minute, 800 a day; time_series costs 1. */
    .rate_window_ms = 60000,
    .rate_per_window = 8,
    .daily_quota = 800,
    .calendar = "metals",
    .symbols = "XAU/USD",
};

const struct source_ops source_twelvedata_ops = {
    .kind = &td_kind,
    .open = td_open,
    .free = td_free,
    .fetch = td_fetch,
};
