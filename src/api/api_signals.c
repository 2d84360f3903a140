/* SPDX-License-Identifier: MIT */
/*
 * Signals and backtest results over HTTP.
 *
 *   POST /signals                 create (Idempotency-Key header optional)
 *   GET  /signals                 ?status=&since=&limit=50, newest first
 *   GET  /signals/{id}            with deliveries (each with its attempts) and outcome
 *   POST /signals/{id}/cancel     active -> cancelled
 *   POST /signals/{id}/redeliver  re-queue dead deliveries (?receiver=)
 *   POST /backtests               store a result {name, params, metrics}
 *   GET  /backtests               ?since=&limit=50, newest first
 *
 * Status codes of a body: 400 when it is not a JSON object (the message
 * gives line, column and byte) or the Idempotency-Key header is malformed,
 * 422 when it is JSON but a field is missing, unknown, of the wrong type
 * or breaks a rule (the message starts with the field's name), 413 over
 * 64 KiB (api.c). Validation happens before the store is touched, so a
 * refused request stores nothing. A repeat of a request with the same
 * Idempotency-Key and the same canonical body answers 200 with the stored
 * signal; the same key with another body 409.
 *
 * The signal is committed with its deliveries (one per [webhook.NAME])
 * before the reply is made; the configured on_signal hook is then called
 * so that the deliverer can wake at once (also after a redeliver that
 * re-queued something). Responses are dumped by signal_dump_json(), so
 * backtest metrics read back as the client wrote them.
 */
#include "api/api_internal.h"

#include "ck/settings.h"

#include "signal/signal.h"
#include "store/signals.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define HTTP_UNPROCESSABLE 422
#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX     1000

/* Reply with `j` (taken) dumped so that reals read back exactly. */
static void reply(struct api_request *req, unsigned status, json_t *j)
{
    size_t len;
    char *text = signal_dump_json(j, false, &len);
    json_decref(j);
    api_reply_text(req, status, text, len, "application/json");
}

static struct store *store_or_reply(struct api_request *req, struct strbuf *err)
{
    struct store *st = api_store(req, err);
    if (!st)
        api_store_unavailable(req, err);
    return st;
}

/* A signal id from the path; answers 404 itself for one that cannot exist. */
static const char *signal_id_arg(struct api_request *req)
{
    const char *id = req->args[0];
    char ebuf[80];
    bool ok = strlen(id) < SIGNAL_ID_MAX;
    for (const char *p = id; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '-';
    if (ok)
        return id;
    api_echo(ebuf, sizeof(ebuf), id);
    api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no signal '%s'", ebuf);
    return NULL;
}

/* 400 for a body that is not JSON, 422 for a field; `err` says which. */
static void reply_invalid(struct api_request *req, int rc, const struct strbuf *err)
{
    api_reply_error(req, rc == CK_EPARSE ? MHD_HTTP_BAD_REQUEST : HTTP_UNPROCESSABLE, NULL, "%s",
                    err->buf);
}

/* Parse "since" (ISO 8601) into ms; 0 when absent. Replies 400 and returns -1 when bad. */
static int param_since(struct api_request *req, int64_t *out)
{
    const char *v = api_query(req, "since");
    char ebuf[80];
    int64_t t;

    *out = 0;
    if (!v)
        return 0;
    if (time_parse(v, &t) || t < 0 || t > INT64_MAX / 1000) {
        api_echo(ebuf, sizeof(ebuf), v);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter 'since' must be an ISO 8601 UTC time such as "
                        "2024-01-02T15:00:00Z (got '%s')",
                        ebuf);
        return -1;
    }
    *out = t * 1000;
    return 0;
}

static void notify(struct api_request *req, const char *id)
{
    if (req->api->on_signal)
        req->api->on_signal(req->api->on_signal_arg, id);
}

void api_signals_create(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *key;
    struct signal s = {0};
    struct store *st;
    json_t *body = NULL;
    bool existed = false;
    int64_t now_ms = time_wall_ms();
    int rc;

    key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (key && signal_check_key(key, "header Idempotency-Key", &err)) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "%s", err.buf);
        goto out;
    }
    if (!req->body || !req->body_len) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "the request needs a JSON body (a signal: symbol, timeframe, direction, "
                        "entry, stop_loss, take_profit)");
        goto out;
    }
    struct signal_config sc = settings_signal_config(req->api->settings);
    rc = signal_parse_request(req->body, req->body_len, &sc, now_ms, &s, &err);
    if (rc) {
        reply_invalid(req, rc, &err);
        goto out;
    }
    if (!(st = store_or_reply(req, &err)))
        goto out;
    rc = signal_create(st, &sc, &s, key, now_ms, &existed, &err);
    if (rc == CK_ECONFLICT && key) {
        api_reply_error(req, MHD_HTTP_CONFLICT, NULL, "%s", err.buf);
        goto out;
    }
    if (rc) {
        api_store_error(req, rc, "creating the signal", &err);
        goto out;
    }
    if (!existed) {
        log_info("api: signal %s created: %s %s %s %s", s.id, s.source, s.symbol,
                 timeframe_name(s.tf), signal_direction_name(s.direction));
        notify(req, s.id);
    }
    rc = signal_detail_json(st, s.id, &body, &err);
    if (rc) {
        api_store_error(req, rc, "reading the new signal", &err);
        goto out;
    }
    reply(req, existed ? MHD_HTTP_OK : MHD_HTTP_CREATED, body);
out:
    signal_release(&s);
    strbuf_release(&err);
}

void api_signals_list(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct signal *v = NULL;
    size_t n = 0;
    struct signal_query q = {0};
    enum signal_status status;
    const char *sv = api_query(req, "status");
    struct store *st;
    int64_t limit;
    json_t *arr;
    char ebuf[80];
    int rc;

    if (sv) {
        if (signal_status_parse(sv, &status)) {
            api_echo(ebuf, sizeof(ebuf), sv);
            api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                            "parameter 'status' must be one of active, won, lost, expired, "
                            "cancelled (got '%s')",
                            ebuf);
            goto out;
        }
        q.status = &status;
    }
    if (param_since(req, &q.since_ms) ||
        api_param_int(req, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX, &limit))
        goto out;
    q.limit = (size_t)limit;
    if (!(st = store_or_reply(req, &err)))
        goto out;
    rc = store_signal_list(st, &q, &v, &n, &err);
    if (rc) {
        api_store_error(req, rc, "listing signals", &err);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, signal_json(&v[i]));
    reply(req, MHD_HTTP_OK, json_pack("{s:I, s:o}", "count", (json_int_t)n, "signals", arr));
out:
    signals_free(v, n);
    strbuf_release(&err);
}

void api_signal_get(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *id = signal_id_arg(req);
    struct store *st;
    json_t *body = NULL;
    int rc;

    if (!id || !(st = store_or_reply(req, &err)))
        goto out;
    rc = signal_detail_json(st, id, &body, &err);
    if (rc == CK_ENOTFOUND)
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no signal '%s'", id);
    else if (rc)
        api_store_error(req, rc, "reading the signal", &err);
    else
        reply(req, MHD_HTTP_OK, body);
out:
    strbuf_release(&err);
}

void api_signal_cancel(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *id = signal_id_arg(req);
    struct store *st;
    json_t *body = NULL;
    int rc;

    if (!id || !(st = store_or_reply(req, &err)))
        goto out;
    rc = store_signal_set_status(st, id, SIGNAL_ACTIVE, SIGNAL_CANCELLED, time_wall_ms(), &err);
    if (rc == CK_ENOTFOUND) {
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no signal '%s'", id);
        goto out;
    }
    if (rc == CK_ECONFLICT) {
        api_reply_error(req, MHD_HTTP_CONFLICT, NULL, "%s: only an active signal can be cancelled",
                        err.buf);
        goto out;
    }
    if (rc) {
        api_store_error(req, rc, "cancelling the signal", &err);
        goto out;
    }
    log_info("api: signal %s cancelled", id);
    rc = signal_detail_json(st, id, &body, &err);
    if (rc)
        api_store_error(req, rc, "reading the signal", &err);
    else
        reply(req, MHD_HTTP_OK, body);
out:
    strbuf_release(&err);
}

void api_signal_redeliver(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    const char *id = signal_id_arg(req);
    const char *receiver = api_query(req, "receiver");
    struct signal s = {0};
    struct store *st;
    size_t requeued = 0;
    int rc;

    if (!id || !(st = store_or_reply(req, &err)))
        goto out;
    rc = store_signal_get(st, id, &s, &err);
    if (rc == CK_ENOTFOUND) {
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no signal '%s'", id);
        goto out;
    }
    if (!rc)
        rc = store_delivery_requeue(st, id, receiver && *receiver ? receiver : NULL, time_wall_ms(),
                                    &requeued, &err);
    if (rc) {
        api_store_error(req, rc, "re-queueing deliveries", &err);
        goto out;
    }
    if (requeued) {
        log_info("api: signal %s: %zu dead deliveries re-queued", id, requeued);
        notify(req, id);
    }
    reply(req, MHD_HTTP_OK, json_pack("{s:s, s:I}", "id", id, "requeued", (json_int_t)requeued));
out:
    signal_release(&s);
    strbuf_release(&err);
}

void api_backtests_create(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct backtest b = {0};
    struct store *st;
    int rc;

    if (!req->body || !req->body_len) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "the request needs a JSON body {\"name\", \"params\", \"metrics\"}");
        goto out;
    }
    rc = backtest_parse_request(req->body, req->body_len, &b, &err);
    if (rc) {
        reply_invalid(req, rc, &err);
        goto out;
    }
    if (!(st = store_or_reply(req, &err)))
        goto out;
    b.created_ms = time_wall_ms();
    rc = store_backtest_add(st, &b, &err);
    if (rc) {
        api_store_error(req, rc, "storing the backtest result", &err);
        goto out;
    }
    reply(req, MHD_HTTP_CREATED, backtest_json(&b));
out:
    free(b.name);
    free(b.params);
    free(b.metrics);
    strbuf_release(&err);
}

void api_backtests_list(struct api_request *req)
{
    struct strbuf err = STRBUF_INIT;
    struct backtest *v = NULL;
    size_t n = 0;
    struct store *st;
    int64_t since, limit;
    json_t *arr;
    int rc;

    if (param_since(req, &since) ||
        api_param_int(req, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX, &limit))
        goto out;
    if (!(st = store_or_reply(req, &err)))
        goto out;
    rc = store_backtest_list(st, since, (size_t)limit, &v, &n, &err);
    if (rc) {
        api_store_error(req, rc, "listing backtest results", &err);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, backtest_json(&v[i]));
    reply(req, MHD_HTTP_OK, json_pack("{s:I, s:o}", "count", (json_int_t)n, "backtests", arr));
out:
    backtests_free(v, n);
    strbuf_release(&err);
}
