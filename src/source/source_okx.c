/* SPDX-License-Identifier: MIT */
/*
 * The OKX adapter: GET {base_url}/api/v5/market/candles and
 * /api/v5/market/history-candles, spot candles, no key.
 *
 * Two endpoints. market/candles serves only the latest 1,440 bars, up to
 * 300 a request, at 40 requests per 2 s; market/history-candles serves
 * years, up to 100 a request, at 20 per 2 s. One fetch is one request of
 * at most max_rows candles, the same number whichever endpoint answers,
 * so max_rows is 100 (history-candles' most): a backfill then pages at the
 * same stride through old and recent history, and the budget's default is
 * the stricter endpoint's 20 per 2 s. A fetch of the latest candles, and
 * one whose window starts within the latest 1,000 bars (well inside the
 * 1,440 that market/candles keeps), goes to market/candles, the lighter
 * endpoint; an older window goes to market/history-candles.
 *
 * Request. instId is the dashed symbol ("BTC-USDT"); bar is 1m 5m 15m 30m
 * 1H 4H 1Dutc 1Wutc: OKX's plain 1D and 1W open at 00:00 Hong Kong time
 * (16:00 UTC), the "utc" variants at 00:00 UTC as candlekeep's days do.
 * OKX's weeks are read as starting on Monday, as candlekeep's W1 does;
 * should 1Wutc weeks start on another day, every row fails the alignment
 * check and the answer is rejected, never stored. Paging: `after=ts` gives
 * the `limit` newest rows older than ts, so the OLDEST `limit` rows after
 * `since` are those older than since + (limit + 1) periods.
 *
 * Response. {"code":"0","msg":"","data":[[ts, o, h, l, c, vol, volCcy,
 * volCcyQuote, confirm], ...]}, strings, newest first (sorted here).
 * confirm "0" marks a candle OKX has not closed (the forming one): it is
 * left out here, whatever the clock says, and fetched again once final.
 * Rows at or before `since` are left out too.
 * Errors: `code` other than "0", with HTTP 200 (51001 "Instrument ID does
 * not exist") or an error status (50011 "Rate limit reached" with HTTP
 * 429, 50014 parameter errors with HTTP 400); the code decides.
 *
 * The answer is all or nothing, as for every adapter (source.h).
 */
#include "source/source_internal.h"

#include "net/http.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* history-candles' most rows a request; market/candles takes up to 300. */
#define OKX_MAX_LIMIT 100
/* A window starting within this many bars of now is asked of market/candles (it keeps 1,440). */
#define OKX_RECENT_BARS 1000
/* Values of a row: ts, open, high, low, close, vol, volCcy, volCcyQuote, confirm. */
#define OKX_ROW_FIELDS 9
#define OKX_CONFIRM    8
/* OKX's rate windows are 2 s: a limit reached frees within one. */
#define OKX_WINDOW_SECONDS 2
#define OKX_QUOTE_MAX      200

static const char *const okx_bars[TF_COUNT] = {
    [TF_M1] = "1m", [TF_M5] = "5m", [TF_M15] = "15m",  [TF_M30] = "30m",
    [TF_H1] = "1H", [TF_H4] = "4H", [TF_D1] = "1Dutc", [TF_W1] = "1Wutc",
};

static void add_quote(struct strbuf *err, const char *s, size_t len)
{
    size_t skip = 0;

    while (skip < len && isspace((unsigned char)s[skip]))
        skip++;
    if (len > skip) {
        strbuf_addstr(err, ": '");
        strbuf_add_excerpt(err, s + skip, len - skip, OKX_QUOTE_MAX, s[skip] == '<');
        strbuf_addch(err, '\'');
    }
}

/* A body that is not a JSON object: an HTML error page, a truncated document, nothing. */
static int non_json(const char *body, size_t len, long status, const json_error_t *jerr,
                    const struct fetch_request *req, const char *source_name,
                    struct fetch_result *res, struct strbuf *err)
{
    enum source_error e = SRC_ERR_MALFORMED;
    int code = CK_EPARSE;
    size_t skip = 0;

    while (skip < len && isspace((unsigned char)body[skip]))
        skip++;
    source_msg_prefix(err, source_name, req);
    if (status >= 500) {
        e = SRC_ERR_SERVER, code = CK_EUPSTREAM;
        strbuf_addf(err, "provider failure (HTTP %ld)", status);
    } else if (status == 429) {
        e = SRC_ERR_RATE_MINUTE, code = CK_ELIMIT;
        res->retry_after = OKX_WINDOW_SECONDS;
        strbuf_addf(err, "rate limited (HTTP %ld)", status);
    } else if (!jerr) {
        strbuf_addf(err, "HTTP %ld: body is not a JSON object", status);
    } else {
        strbuf_addf(err, "HTTP %ld: body is not JSON (%s)", status,
                    len == skip ? "empty body" : jerr->text);
    }
    add_quote(err, body, len);
    return source_fail(res, e, code);
}

/* `code` as a number: OKX sends a string ("51001"); its gateway's 404 an integer. */
static bool read_code(json_t *jcode, long *out)
{
    int64_t v;

    if (json_is_integer(jcode)) {
        *out = (long)json_integer_value(jcode);
        return true;
    }
    if (json_is_string(jcode) && !parse_int64(json_string_value(jcode), 0, 99999999, &v)) {
        *out = (long)v;
        return true;
    }
    return false;
}

/* code != 0: classify by code, then by HTTP status. */
static int error_body(long code, json_t *root, long status, const struct fetch_request *req,
                      const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    json_t *jmsg = json_object_get(root, "msg");
    const char *msg = json_is_string(jmsg) ? json_string_value(jmsg) : "";
    size_t msglen = json_is_string(jmsg) ? json_string_length(jmsg) : 0;
    enum source_error e;
    const char *what;
    int rc;

    if (code == 51001) {
        e = SRC_ERR_BAD_SYMBOL, rc = CK_ENOTFOUND, what = "unknown instrument";
    } else if (code == 50011 || code == 50061 || status == 429) {
        e = SRC_ERR_RATE_MINUTE, rc = CK_ELIMIT, what = "rate limited";
        res->retry_after = OKX_WINDOW_SECONDS;
        snprintf(res->wait_reason, sizeof(res->wait_reason), "OKX's rate limit (code %ld)", code);
    } else if (code == 50001 || code == 50004 || code == 50013 || code == 50026 || status >= 500) {
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    } else if ((code >= 51000 && code <= 51999) || code == 50014 ||
               (status >= 400 && status < 500)) {
        e = SRC_ERR_BAD_REQUEST, rc = CK_EINVAL, what = "request rejected";
    } else {
        /* Undocumented with HTTP 200: OKX's side, worth retrying. */
        e = SRC_ERR_SERVER, rc = CK_EUPSTREAM, what = "provider failure";
    }
    source_msg_prefix(err, source_name, req);
    strbuf_addf(err, "%s (code %ld, HTTP %ld)", what, code, status);
    if (msglen) {
        strbuf_addstr(err, ": ");
        strbuf_add_excerpt(err, msg, msglen, OKX_QUOTE_MAX, false);
    }
    return source_fail(res, e, rc);
}

/* confirm: "1" a closed candle, "0" one still forming; anything else rejects the answer. */
static int read_confirm(json_t *row, const struct candle *c, bool *final, struct strbuf *why)
{
    json_t *v = json_array_get(row, OKX_CONFIRM);
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    char t[TIME_BUFSZ];

    if (s && (!strcmp(s, "0") || !strcmp(s, "1"))) {
        *final = s[0] == '1';
        return 0;
    }
    time_format_iso8601(c->open_time, t);
    strbuf_addf(why, "row %s: confirm ", t);
    if (s) {
        strbuf_addch(why, '\'');
        strbuf_add_excerpt(why, s, json_string_length(v), 40, false);
        strbuf_addstr(why, "' is not \"0\" or \"1\"");
    } else {
        strbuf_addstr(why, "is not a string");
    }
    return CK_EPARSE;
}

int okx_parse(const char *body, size_t len, long status, const struct fetch_request *req,
              const char *source_name, struct fetch_result *res, struct strbuf *err)
{
    struct strbuf why = STRBUF_INIT;
    json_error_t jerr;
    json_t *root, *data, *row;
    long code;
    size_t i;
    int ret;

    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        ret = non_json(body ? body : "", len, status, root ? NULL : &jerr, req, source_name, res,
                       err);
        json_decref(root);
        return ret;
    }
    if (!read_code(json_object_get(root, "code"), &code)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld: response has no \"code\"", status);
        add_quote(err, body, len);
        if (status == 429) {
            res->retry_after = OKX_WINDOW_SECONDS;
            ret = source_fail(res, SRC_ERR_RATE_MINUTE, CK_ELIMIT);
        } else {
            ret = status >= 500 ? source_fail(res, SRC_ERR_SERVER, CK_EUPSTREAM)
                                : source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        }
        goto out;
    }
    if (code != 0) {
        ret = error_body(code, root, status, req, source_name, res, err);
        goto out;
    }
    if (status != 200) {
        source_msg_prefix(err, source_name, req);
        strbuf_addf(err, "HTTP %ld with code \"0\"", status);
        ret = status >= 500 ? source_fail(res, SRC_ERR_SERVER, CK_EUPSTREAM)
                            : source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    data = json_object_get(root, "data");
    if (!json_is_array(data)) {
        source_msg_prefix(err, source_name, req);
        strbuf_addstr(err, "response has no \"data\" array");
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    ret = 0;
    json_array_foreach(data, i, row)
    {
        struct candle c;
        bool final = false;

        ret = source_row_parse(row, i, OKX_ROW_FIELDS, req->tf, &c, &why);
        if (!ret)
            ret = read_confirm(row, &c, &final, &why);
        if (ret)
            break;
        /*
         * A window reaching past now holds rows from before `since` too
         * (`after` bounds it from above only): they are not asked for.
         */
        if (final && (!req->has_since || c.open_time > req->since))
            candle_vec_push(&res->candles, &c);
    }
    if (!ret)
        ret = source_rows_sort(&res->candles, &why);
    if (ret) {
        source_msg_prefix(err, source_name, req);
        strbuf_addbuf(err, &why);
        ret = source_fail(res, SRC_ERR_MALFORMED, CK_EPARSE);
        goto out;
    }
    res->error = SRC_OK;
out:
    strbuf_release(&why);
    json_decref(root);
    return ret;
}

static int okx_fetch(struct source *src, const struct fetch_request *req, struct fetch_result *res,
                     struct strbuf *err)
{
    const char *name = source_name(src);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header hdrs[] = {{"Accept", "application/json"}};
    int limit = req->count >= 1 && req->count <= OKX_MAX_LIMIT ? req->count : OKX_MAX_LIMIT;
    int64_t period = timeframe_seconds(req->tf);
    const char *endpoint = "candles";
    int ret;

    if (req->has_since &&
        timeframe_floor(req->tf, req->now) - (req->since + period) >= OKX_RECENT_BARS * period)
        endpoint = "history-candles";
    strbuf_addf(&url, "%s/api/v5/market/%s?instId=", src->base_url, endpoint);
    http_url_encode(&url, req->venue_symbol);
    strbuf_addf(&url, "&bar=%s&limit=%d", okx_bars[req->tf], limit);
    if (req->has_since) {
        strbuf_addf(&url, "&after=%lld",
                    (long long)((req->since + (int64_t)(limit + 1) * period) * 1000));
        res->window_end = req->since + (int64_t)limit * period;
    }

    ret = source_http_get(src, url.buf, hdrs, ARRAY_SIZE(hdrs), req, &resp, res, &msg);
    if (ret)
        goto out;
    ret = okx_parse(resp.body.buf, resp.body.len, resp.status, req, name, res, &msg);
    /* An explicit Retry-After outranks OKX's window. */
    if (ret && res->error == SRC_ERR_RATE_MINUTE && resp.retry_after >= 0)
        res->retry_after = resp.retry_after;
out:
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&url);
    http_response_release(&resp);
    return ret;
}

static const struct source_kind okx_kind = {
    .name = "okx",
    .title = "OKX",
    .base_url = "https://www.okx.com",
    .url_env = "CANDLEKEEP_OKX_URL",
    .timeframes = SOURCE_TF_ALL,
    .max_rows = OKX_MAX_LIMIT,
    .symbol_style = SYMBOL_DASHED,
    /*
     * Per IP address: history-candles allows 20 requests in 2 s (candles
     * 40); the budget is one per venue, so it takes the stricter.
     */
    .rate_window_ms = 2000,
    .rate_per_window = 20,
    .calendar = "crypto",
    .symbols = "BTC/USDT",
};

const struct source_ops source_okx_ops = {
    .kind = &okx_kind,
    .fetch = okx_fetch,
};
