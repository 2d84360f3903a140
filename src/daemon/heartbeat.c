/* SPDX-License-Identifier: MIT */
/*
 * The outbound heartbeat (see heartbeat.h).
 *
 Thread and lock. The heartbeat is a background service (sched/service.h)
 * whose pass is one ping; everything but the counters belongs to that
 * thread, and `lock` guards the counters. The wait between pings is
 * measured on the monotonic clock, so a wall clock step neither floods nor
 * starves the monitor.
 *
 * What is logged is chosen so that a monitor that stays down does not
 * fill the log: the first failure after a success (or at start) is a
 * warning, later ones are debug lines, and the first success after a
 * failure says it is back. The same holds for "not healthy, not pinging".
 */
#include "daemon/heartbeat.h"

#include "net/http.h"
#include "sched/service.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

#define DEFAULT_TIMEOUT_MS 10000
/* A monitor's answer is a word ("OK"); anything long is not read. */
#define MAX_BODY 4096

struct heartbeat {
    char *url;
    int64_t interval_ms, timeout_ms;
    heartbeat_healthy_fn *healthy;
    void *arg;
    struct service *svc;
    pthread_mutex_t lock;
    int64_t sent, ok; /* (lock) */

    /* The service thread's own. */
    struct strbuf where; /* the URL as logged: no secret in it */
    bool failing, holding;
};

void heartbeat_describe_url(const char *url, struct strbuf *out)
{
    const char *p = strstr(url, "://"), *host, *end, *at;
    if (!p) {
        strbuf_addstr(out, "(malformed URL)");
        return;
    }
    strbuf_add(out, url, (size_t)(p - url) + 3);
    host = p + 3;
    end = host + strcspn(host, "/?#");
    /* userinfo@host: the part before the last '@' of the authority is a secret. */
    for (at = end; at > host && at[-1] != '@'; at--)
        ;
    if (at > host)
        host = at;
    strbuf_add(out, host, (size_t)(end - host));
}

int heartbeat_ping(const char *url, int64_t timeout_ms, long *status, struct strbuf *err)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_request req = {
        .method = "GET",
        .url = url,
        .connect_timeout_ms = timeout_ms,
        .timeout_ms = timeout_ms,
        .max_body = MAX_BODY,
    };
    int rc = http_do(hc, &req, &resp, err);
    *status = resp.status;
    if (rc == CK_ELIMIT) {
        /* It answered, at length: an answer all the same. */
        strbuf_reset(err);
        rc = resp.status ? 0 : CK_EUPSTREAM;
    }
    if (!rc && (resp.status < 200 || resp.status > 299)) {
        strbuf_addf(err, "answered HTTP %ld", resp.status);
        rc = CK_EUPSTREAM;
    }
    http_response_release(&resp);
    http_client_free(hc);
    return rc;
}

/* One pass: a ping, unless the daemon is not healthy. */
static int64_t heartbeat_pass(struct service *svc, void *arg)
{
    struct heartbeat *hb = arg;
    struct strbuf why = STRBUF_INIT, err = STRBUF_INIT;
    long status = 0;
    int rc;

    (void)svc;
    if (hb->healthy && !hb->healthy(hb->arg, &why)) {
        if (!hb->holding)
            log_warn("heartbeat: not pinging %s while unhealthy: %s", hb->where.buf, why.buf);
        hb->holding = true;
        goto out;
    }
    if (hb->holding)
        log_info("heartbeat: healthy again, pinging %s", hb->where.buf);
    hb->holding = false;
    rc = heartbeat_ping(hb->url, hb->timeout_ms, &status, &err);
    redact_message(&err);
    pthread_mutex_lock(&hb->lock);
    hb->sent++;
    hb->ok += rc == 0;
    pthread_mutex_unlock(&hb->lock);
    if (rc && !hb->failing)
        log_warn("heartbeat: ping to %s failed: %s", hb->where.buf, err.buf);
    else if (rc)
        log_debug("heartbeat: ping to %s failed again: %s", hb->where.buf, err.buf);
    else if (hb->failing)
        log_info("heartbeat: ping to %s works again", hb->where.buf);
    else
        log_debug("heartbeat: pinged %s", hb->where.buf);
    hb->failing = rc != 0;
out:
    strbuf_release(&why);
    strbuf_release(&err);
    return hb->interval_ms;
}

int heartbeat_start(struct heartbeat **out, const struct heartbeat_config *cfg, struct strbuf *err)
{
    struct heartbeat *hb;
    int rc;

    *out = NULL;
    if (!cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8))) {
        strbuf_addstr(err, "heartbeat: the url must start with http:// or https://");
        return CK_EINVAL;
    }
    if (cfg->interval_ms < 1000) {
        strbuf_addstr(err, "heartbeat: the interval must be at least a second");
        return CK_EINVAL;
    }
    hb = xcalloc(1, sizeof(*hb));
    hb->url = xstrdup(cfg->url);
    hb->interval_ms = cfg->interval_ms;
    hb->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    /* A ping must not outlast the interval it belongs to. */
    if (hb->timeout_ms > hb->interval_ms)
        hb->timeout_ms = hb->interval_ms;
    hb->healthy = cfg->healthy;
    hb->arg = cfg->arg;
    strbuf_init(&hb->where, 0);
    heartbeat_describe_url(hb->url, &hb->where);
    pthread_mutex_init(&hb->lock, NULL);
    struct service_config sc = {.name = "heartbeat", .pass = heartbeat_pass, .arg = hb};
    rc = service_start(&hb->svc, &sc, err);
    if (rc) {
        pthread_mutex_destroy(&hb->lock);
        strbuf_release(&hb->where);
        free(hb->url);
        free(hb);
        return rc;
    }
    *out = hb;
    return 0;
}

void heartbeat_counts(struct heartbeat *hb, int64_t *sent, int64_t *ok)
{
    pthread_mutex_lock(&hb->lock);
    *sent = hb->sent;
    *ok = hb->ok;
    pthread_mutex_unlock(&hb->lock);
}

void heartbeat_stop(struct heartbeat *hb)
{
    if (!hb)
        return;
    service_stop(hb->svc);
    pthread_mutex_destroy(&hb->lock);
    strbuf_release(&hb->where);
    free(hb->url);
    free(hb);
}
