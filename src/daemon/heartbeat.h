/* SPDX-License-Identifier: MIT */
#ifndef CK_DAEMON_HEARTBEAT_H
#define CK_DAEMON_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

struct strbuf;

/*
 * The outbound heartbeat ([heartbeat] url): a GET to a dead man's switch
 * (healthchecks.io, Uptime Kuma's push monitor, Cronitor...) every
 * interval while candlekeep is healthy, so that an operator learns when
 * it died, hung or lost its database, which no alert of its own can say.
 *
 * One thread. It pings at start and then every interval, but only when
 * the `healthy` callback says so; an unhealthy daemon simply stops
 * pinging and the monitor raises the alarm. A failed ping is logged (a
 * warning, then nothing more until it works again, which is logged too)
 * and never stops anything. Logs name the URL's scheme and host only:
 * the path and query of such a URL are often its secret.
 */

/* Is the daemon fit to say it is alive? When not, `why` gets a short reason. */
typedef bool heartbeat_healthy_fn(void *arg, struct strbuf *why);

struct heartbeat_config {
    const char *url;     /* http:// or https:// (copied) */
    int64_t interval_ms; /* between pings, >= 1000 */
    int64_t timeout_ms;  /* per ping; 0: 10,000 */
    heartbeat_healthy_fn *healthy;
    void *arg; /* borrowed; must outlive the heartbeat */
};

struct heartbeat;

/* Start the thread. 0, or CK_EINVAL (a bad config) / CK_EIO with the reason in `err`. */
int heartbeat_start(struct heartbeat **out, const struct heartbeat_config *cfg, struct strbuf *err);
/* Stop the thread (waits for a ping in flight) and free. Takes NULL. */
void heartbeat_stop(struct heartbeat *hb);

/* Pings sent, and of those answered 2xx, so far (for tests and /metrics). */
void heartbeat_counts(struct heartbeat *hb, int64_t *sent, int64_t *ok);

/*
 * One ping: GET `url`, 0 when it was answered 2xx; otherwise CK_EUPSTREAM
 * (another status, `*status` set), CK_ETIMEDOUT or CK_EUPSTREAM (no
 * answer, `*status` 0) with the reason in `err`, which names the host but
 * never the path, query or userinfo.
 */
int heartbeat_ping(const char *url, int64_t timeout_ms, long *status, struct strbuf *err);

/* Append what of `url` may be logged: "scheme://host[:port]". */
void heartbeat_describe_url(const char *url, struct strbuf *out);

#endif
