/* SPDX-License-Identifier: MIT */
/*
 * Reports (jobs/reports.h) over HTTP.
 *
 *   POST /maintenance/reports/generate   {"report_type": "daily" | "weekly",
 *                                         "format_type": "html" | "json" | "csv"}
 *       (token as the other POSTs) makes the report of the period ending now,
 *       writes it to the report directory and answers 201
 *       {"id", "report_type", "format_type", "from", "to", "url"}: the url
 *       is where GET serves it in format_type (json when not given).
 *   GET /reports        the reports in the directory, newest period first:
 *       {"dir", "count", "reports": [{"id", "type", "from", "formats", "bytes"}]}
 *   GET /reports/{id}   one report's file: ?format=json (default), html or csv,
 *       with its media type; 404 when there is none.
 *
 * The listing and the files are read from the directory, not the
 * database, like GET /backups.
 */
#include "api/api_internal.h"

#include "ck/settings.h"
#include "jobs/reports.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static char *dir_of(struct api_request *req)
{
    const struct settings *s = req->api->settings;
    return report_dir(s ? &s->report : NULL, req->api->store_url);
}

/* A member of the body that must be one of the names `parse` takes. */
static int body_name(struct api_request *req, json_t *body, const char *key, const char *def,
                     const char *want, const char **out)
{
    json_t *v = json_object_get(body, key);

    if (!v && def) {
        *out = def;
        return 0;
    }
    if (!json_is_string(v)) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL, "'%s' must be one of %s", key, want);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

void api_reports_generate(struct api_request *req)
{
    const struct settings *s = req->api->settings;
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
    json_t *body = NULL;
    const char *type_name, *format_name;
    enum report_type type;
    enum report_format fmt;
    struct store *st;
    struct report r;
    int64_t now = time_now();
    char echo[80];
    int rc;

    if (!s) {
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "this server has no settings");
        goto out;
    }
    body = json_loadb(req->body ? req->body : "{}", req->body_len ? req->body_len : 2, 0, NULL);
    if (!json_is_object(body)) {
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "the body must be a JSON object {\"report_type\", \"format_type\"}");
        goto out;
    }
    if (body_name(req, body, "report_type", NULL, "\"daily\" or \"weekly\"", &type_name) ||
        body_name(req, body, "format_type", "json", "\"html\", \"json\" or \"csv\"", &format_name))
        goto out;
    if (report_type_parse(type_name, &type)) {
        api_echo(echo, sizeof(echo), type_name);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "'report_type' must be \"daily\" or \"weekly\", not '%s'", echo);
        goto out;
    }
    if (report_format_parse(format_name, &fmt)) {
        api_echo(echo, sizeof(echo), format_name);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "'format_type' must be \"html\", \"json\" or \"csv\", not '%s'", echo);
        goto out;
    }
    st = api_store(req, &err);
    if (!st) {
        api_store_unavailable(req, &err);
        goto out;
    }
    /* The period ends after the current second: what happened in it is in. */
    rc = reports_generate(s, st, type, now + 1, now, &r, &err);
    if (rc) {
        api_store_error(req, rc, "making the report", &err);
        goto out;
    }
    strbuf_addf(&url, "/reports/%s?format=%s", r.id, report_format_name(fmt));
    {
        char from[TIME_BUFSZ], to[TIME_BUFSZ];
        time_format_iso8601(r.from, from);
        time_format_iso8601(r.to, to);
        api_reply_json(req, MHD_HTTP_CREATED,
                       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", r.id, "report_type",
                                 report_type_name(type), "format_type", report_format_name(fmt),
                                 "from", from, "to", to, "url", url.buf));
    }
    report_release(&r);
out:
    json_decref(body);
    strbuf_release(&err);
    strbuf_release(&url);
}

void api_reports_list(struct api_request *req)
{
    char *dir = dir_of(req);
    struct strbuf err = STRBUF_INIT;
    struct report_file *v = NULL;
    size_t n = 0;
    json_t *arr;

    if (report_list(dir, &v, &n, &err)) {
        api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot list reports: %s",
                        err.buf);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char from[TIME_BUFSZ];
        json_t *formats = json_array();
        for (int f = REPORT_HTML; f <= REPORT_CSV; f++)
            if (v[i].formats & (1u << f))
                json_array_append_new(formats, json_string(report_format_name(f)));
        time_format_iso8601(v[i].from, from);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:I}", "id", v[i].id, "type",
                                             report_type_name(v[i].type), "from", from, "formats",
                                             formats, "bytes", (json_int_t)v[i].bytes));
    }
    api_reply_json(
        req, MHD_HTTP_OK,
        json_pack("{s:s, s:I, s:o}", "dir", dir, "count", (json_int_t)n, "reports", arr));
out:
    free(v);
    free(dir);
    strbuf_release(&err);
}

void api_report_get(struct api_request *req)
{
    const char *format_name = api_query(req, "format");
    char *dir = dir_of(req);
    struct strbuf err = STRBUF_INIT, body = STRBUF_INIT;
    enum report_format fmt = REPORT_JSON;
    char echo[80];
    size_t len;
    int rc;

    if (format_name && report_format_parse(format_name, &fmt)) {
        api_echo(echo, sizeof(echo), format_name);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "format must be html, json or csv, not '%s'", echo);
        goto out;
    }
    rc = report_read(dir, req->args[0], fmt, &body, &err);
    if (rc == CK_EINVAL || rc == CK_ENOTFOUND) {
        api_echo(echo, sizeof(echo), req->args[0]);
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no %s report '%s'", report_format_name(fmt),
                        echo);
        goto out;
    }
    if (rc) {
        api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s", err.buf);
        goto out;
    }
    len = body.len;
    api_reply_text(req, MHD_HTTP_OK, strbuf_detach(&body, NULL), len, report_format_mime(fmt));
out:
    free(dir);
    strbuf_release(&err);
    strbuf_release(&body);
}
