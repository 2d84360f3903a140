/* SPDX-License-Identifier: MIT */
/*
 * The route table: every endpoint of the API as one row {method, pattern,
 * handler, needs_auth}, and the matcher that dispatch uses.
 *
 * A pattern is a path whose segments are literals or "{name}"; a "{name}"
 * segment matches one non-empty path segment and is captured, in order,
 * into the request's args. Matching walks the whole table (it is short):
 * the first row whose pattern and method both match wins; rows whose
 * pattern matches with another method make up the Allow list of a 405.
 * HEAD is served by GET rows (libmicrohttpd omits the body). The patterns
 * double as the `route` label of the request metrics, so the label's
 * values are bounded by this table whatever clients send.
 */
#include "api/api_internal.h"

#include <string.h>

#include "util/banned.h"

const struct api_route api_routes[] = {
    {.method = "GET", .pattern = "/health", .handler = api_health_get},
    {.method = "GET", .pattern = "/metrics", .handler = api_metrics_get},
    {.method = "GET", .pattern = "/candles/{timeframe}", .handler = api_candles_get},
    {.method = "GET", .pattern = "/candles/{timeframe}/gaps", .handler = api_gaps_get},
    {.method = "GET", .pattern = "/coverage", .handler = api_coverage_get},
    {.method = "GET", .pattern = "/jobs", .handler = api_jobs_list},
    {.method = "GET", .pattern = "/jobs/{id}", .handler = api_job_get},
    {.method = "GET", .pattern = "/jobs/{id}/runs", .handler = api_job_runs},
    {.method = "POST", .pattern = "/jobs/{id}/run", .handler = api_job_run, .needs_auth = true},
    {.method = "POST", .pattern = "/jobs/{id}/pause", .handler = api_job_pause, .needs_auth = true},
    {.method = "POST",
     .pattern = "/jobs/{id}/resume",
     .handler = api_job_resume,
     .needs_auth = true},
    {.method = "GET", .pattern = "/maintenance/status", .handler = api_maint_status},
    {.method = "GET", .pattern = "/maintenance/tasks", .handler = api_maint_tasks},
    {.method = "POST",
     .pattern = "/maintenance/tasks/{task}/run",
     .handler = api_maint_task_run,
     .needs_auth = true},
    {.method = "POST",
     .pattern = "/maintenance/run-all",
     .handler = api_maint_run_all,
     .needs_auth = true},
    {.method = "GET", .pattern = "/maintenance/history", .handler = api_maint_history},
    {.method = "GET", .pattern = "/maintenance/schedule", .handler = api_maint_schedule},
    {.method = "POST",
     .pattern = "/maintenance/schedule/{task}/pause",
     .handler = api_maint_pause,
     .needs_auth = true},
    {.method = "POST",
     .pattern = "/maintenance/schedule/{task}/resume",
     .handler = api_maint_resume,
     .needs_auth = true},
    {.method = "POST",
     .pattern = "/maintenance/emergency",
     .handler = api_maint_emergency,
     .needs_auth = true},
    {.method = "GET", .pattern = "/maintenance/metrics", .handler = api_maint_metrics},
    {.method = "GET", .pattern = "/alerts", .handler = api_alerts_list},
    {.method = "POST", .pattern = "/signals", .handler = api_signals_create, .needs_auth = true},
    {.method = "GET", .pattern = "/signals", .handler = api_signals_list},
    {.method = "GET", .pattern = "/signals/{id}", .handler = api_signal_get},
    {.method = "POST",
     .pattern = "/signals/{id}/cancel",
     .handler = api_signal_cancel,
     .needs_auth = true},
    {.method = "POST",
     .pattern = "/signals/{id}/redeliver",
     .handler = api_signal_redeliver,
     .needs_auth = true},
    {.method = "POST",
     .pattern = "/backtests",
     .handler = api_backtests_create,
     .needs_auth = true},
    {.method = "GET", .pattern = "/backtests", .handler = api_backtests_list},
    {.method = "GET", .pattern = "/deliveries", .handler = api_deliveries_get},
    {.method = "GET", .pattern = "/", .handler = api_dashboard_page},
    {.method = "GET", .pattern = "/dashboard", .handler = api_dashboard_page},
    {.method = "GET", .pattern = "/dashboard/{file}", .handler = api_dashboard_asset},
    {.method = "GET", .pattern = "/backups", .handler = api_backups_list},
    {.method = "POST",
     .pattern = "/backfills",
     .handler = api_backfills_create,
     .needs_auth = true},
    {.method = "GET", .pattern = "/backfills", .handler = api_backfills_list},
    {.method = "POST",
     .pattern = "/maintenance/reports/generate",
     .handler = api_reports_generate,
     .needs_auth = true},
    {.method = "GET", .pattern = "/reports", .handler = api_reports_list},
    {.method = "GET", .pattern = "/reports/{id}", .handler = api_report_get},
};
const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

/*
 * Does `path` match `pattern`? Captures go to `args` (pointers into
 * `buf`). False also when the captures do not fit.
 */
static bool pattern_match(const char *pattern, const char *path, const char **args, size_t *nargs,
                          char *buf, size_t bufsz)
{
    size_t used = 0;
    *nargs = 0;
    for (;;) {
        if (*pattern != '/' || *path != '/')
            return *pattern == '\0' && *path == '\0';
        pattern++;
        path++;
        size_t plen = strcspn(pattern, "/");
        size_t slen = strcspn(path, "/");
        if (plen >= 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
            if (slen == 0 || *nargs == API_MAX_ARGS || used + slen + 1 > bufsz)
                return false;
            memcpy(buf + used, path, slen);
            buf[used + slen] = '\0';
            args[(*nargs)++] = buf + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return false;
        }
        pattern += plen;
        path += slen;
    }
}

static void allow_add(struct api_request *req, const char *method)
{
    size_t len = strlen(req->allowbuf);
    const char *add = !strcmp(method, "GET") ? "GET, HEAD" : method;
    if (strstr(req->allowbuf, add))
        return;
    if (len + strlen(add) + 3 > sizeof(req->allowbuf))
        return;
    if (len) {
        memcpy(req->allowbuf + len, ", ", 2);
        len += 2;
    }
    memcpy(req->allowbuf + len, add, strlen(add) + 1);
}

const struct api_route *api_route_match(struct api_request *req, const char *method,
                                        const char *path)
{
    const char *args[API_MAX_ARGS];
    char buf[sizeof(req->argbuf)];
    size_t nargs;
    bool head = !strcmp(method, "HEAD");

    req->allow = NULL;
    req->allowbuf[0] = '\0';
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct api_route *r = &api_routes[i];
        if (!pattern_match(r->pattern, path, args, &nargs, buf, sizeof(buf)))
            continue;
        if (!strcmp(r->method, method) || (head && !strcmp(r->method, "GET"))) {
            memcpy(req->argbuf, buf, sizeof(buf));
            for (size_t k = 0; k < nargs; k++)
                req->args[k] = req->argbuf + (args[k] - buf);
            req->nargs = nargs;
            return r;
        }
        allow_add(req, r->method);
    }
    if (req->allowbuf[0])
        req->allow = req->allowbuf;
    return NULL;
}
