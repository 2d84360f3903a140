/* SPDX-License-Identifier: MIT */
/*
 * The web dashboard's files:
 *
 *   GET /                      the page (index.html)
 *   GET /dashboard             the same page
 *   GET /dashboard/{file}      its script and style sheet
 *
 * The files are compiled into the binary (api_assets.h), so the page works
 * with no network and no files next to the daemon. It is a static page:
 * everything it shows it fetches from the JSON endpoints of this API
 * (/health, /jobs, /alerts, /candles/..., /deliveries, and /backups and
 * /maintenance/status where they exist), the same ones any client reads,
 * and it holds no secret: the API token is typed into the page and kept in
 * the browser's session storage. Like every other read-only endpoint these
 * need no token.
 *
 * Each file is answered with a Content-Security-Policy that allows only
 * scripts, styles and requests of this origin, so no inline script and no
 * third-party resource can run in it, and the page cannot be framed.
 */
#include "api/api_internal.h"

#include "api/api_assets.h"
#include "util/xalloc.h"

#include <string.h>

#include "util/banned.h"

#define DASHBOARD_CSP                                                                              \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct api_asset *asset_find(const char *name)
{
    for (size_t i = 0; i < api_nassets; i++)
        if (!strcmp(api_assets[i].name, name))
            return &api_assets[i];
    return NULL;
}

static void reply_asset(struct api_request *req, const struct api_asset *a)
{
    char *copy = xmalloc(a->len ? a->len : 1);
    memcpy(copy, a->data, a->len);
    req->csp = DASHBOARD_CSP;
    api_reply_text(req, MHD_HTTP_OK, copy, a->len, a->type);
}

void api_dashboard_page(struct api_request *req)
{
    const struct api_asset *a = asset_find("index.html");
    if (!a)
        BUG("api: the dashboard page was not embedded at build time");
    reply_asset(req, a);
}

void api_dashboard_asset(struct api_request *req)
{
    const struct api_asset *a = asset_find(req->args[0]);
    char ebuf[80];
    /* The page itself is served at / and /dashboard only. */
    if (!a || !strcmp(a->name, "index.html")) {
        api_echo(ebuf, sizeof(ebuf), req->args[0]);
        api_reply_error(req, MHD_HTTP_NOT_FOUND, NULL, "no dashboard file '%s'", ebuf);
        return;
    }
    reply_asset(req, a);
}
