/* SPDX-License-Identifier: MIT */
#ifndef CK_API_API_H
#define CK_API_API_H

#include <stdbool.h>
#include <stdint.h>

struct breaker;
struct calendar;
struct metrics;
struct sched;
struct settings;
struct strbuf;

/*
 * The HTTP API of the daemon (libmicrohttpd): read-only resources for
 * candles, gaps, jobs, health and Prometheus metrics, mutating endpoints
 * on jobs (run, pause, resume), and signals and backtest results.
 *
 *   GET  /health                      200 ok/degraded, 503 unavailable
 *   GET  /metrics                     Prometheus text format 0.0.4
 *   GET  /candles/{timeframe}         ?symbol=&source=&limit=100&start=&end=
 *   GET  /candles/{timeframe}/gaps    ?symbol=&source=&days=7&state=
 *   GET  /jobs
 *   GET  /jobs/{id}
 *   GET  /jobs/{id}/runs              ?limit=20
 *   POST /jobs/{id}/run               202, 409 when running, 503 without scheduler
 *   POST /jobs/{id}/pause             200 (the flag is written to the database)
 *   POST /jobs/{id}/resume            200
 *   POST /signals                     201 created, 200 idempotent repeat, 409, 413, 400, 422
 *   GET  /signals                     ?status=&since=&limit=50
 *   GET  /signals/{id}                with deliveries, their attempts, the outcome
 *   POST /signals/{id}/cancel         200, 409 unless active
 *   POST /signals/{id}/redeliver      200 with the count re-queued (?receiver=)
 *   POST /backtests                   201
 *   GET  /backtests                   ?since=&limit=50
 *   GET  /deliveries                  the signal outbox: counts, oldest pending, next due
 *   GET  /  and  /dashboard           the web dashboard (?source=&symbol=&tf=&refresh=)
 *   GET  /dashboard/{file}            its script and style sheet, built into the binary
 *
 * Every response body is JSON except /metrics and the dashboard's files
 * (which carry a Content-Security-Policy of their own origin only); errors are
 * {"error": "...", "detail": "..."} ("detail" when there is more to say)
 * with 400 (bad parameter, named; a body that is not JSON), 401, 403,
 * 404, 405 (with Allow), 409, 413 (request body over 64 KiB), 422 (a JSON
 * body with a bad field, named) or 503 (database or scheduler
 * unavailable). Times are ISO 8601 UTC, prices JSON strings exactly as
 * stored, an absent volume null.
 *
 * The mutation rule: when a token is configured, POSTs need
 * `Authorization: Bearer <token>` (401 otherwise). When none is configured
 * they are allowed only if the listener is bound to a loopback address
 * (127.0.0.0/8 or ::1), and refused with 403 otherwise, so that an API
 * opened to the network is never writable by anyone who can reach it.
 *
 * Threads: requests are served by a pool of one thread per CPU; each
 * thread opens its own store connection on first use and keeps it (a
 * store is not thread-safe), reopening it after a database error.
 *
 * /metrics renders `metrics` (the daemon's registry) followed by families
 * computed at scrape time, whose names are therefore reserved for the API:
 * candlekeep_up, candlekeep_build_info, database_up,
 * latest_candle_age_seconds, circuit_state, circuit_next_probe_seconds,
 * provider_credits_used, provider_credits_left, provider_ban_seconds,
 * series_failure_streak, series_skipped, series_deferred and
 * process_{start_time_seconds,
 * cpu_seconds_total, resident_memory_bytes, virtual_memory_bytes,
 * open_fds, max_fds}. The API itself
 * counts http_requests_total{route,code} and observes
 * http_request_duration_seconds{route} in `metrics`.
 */

/*
 * Called once a new signal is committed (not for an idempotent repeat),
 * on the server thread that created it, with the signal's id (borrowed for
 * the call): the deliverer uses it to wake at once. Must not block.
 */
typedef void api_signal_fn(void *arg, const char *signal_id);

struct api_config {
    /* "127.0.0.1:8080", "[::1]:8080", "localhost:8080", "0.0.0.0:0" (port 0: any free port). */
    const char *listen;
    /* Bearer token for the mutating endpoints; NULL or "" for none (see the rule above). */
    const char *token;
    /* Each server thread opens its own connection to this URL. */
    const char *store_url;
    /* This process's instance id, reported by /health. */
    const char *instance;
    /* Configured sources and symbols: defaults for symbol= and source=. May be NULL. */
    const struct settings *settings;
    /*
     * The circuit breaker of each configured source, in the order of
     * settings->sources (/health and /metrics show their state). NULL when
     * there are none (tests).
     */
    struct breaker *const *breakers;
    /* Aligned with settings->sources; NULL: missing periods unknown on /health. */
    const struct calendar *const *calendars;
    /* The running scheduler; NULL when there is none (tests): /jobs then lists the
     * database's job rows only, POST .../run answers 503 and /health reports the
     * scheduler stopped (503). */
    struct sched *sched;
    /* The daemon's registry; NULL: the API keeps a registry of its own. */
    struct metrics *metrics;
    /* When the process started, Unix milliseconds (uptime, process_start_time_seconds). */
    int64_t started_ms;
    /* Told of every new signal; NULL: nobody is. */
    api_signal_fn *on_signal;
    void *on_signal_arg;
    /*
     * Connections open at once; 0: 1,000. The server lowers it further to
     * keep a share of the process's file limit (RLIMIT_NOFILE) for the
     * scheduler and the store: at most the limit less a quarter of it (at
     * least API_FD_RESERVE descriptors).
     */
    unsigned max_connections;
    /* Connections open at once from one client address; 0: 32. */
    unsigned max_connections_per_client;
    /*
     * Seconds a request has to arrive whole (request line, headers and
     * body), counted from the connection's opening or its previous
     * reply; 0: 10. A client still sending then gets 408 and is
     * disconnected; an idle keep-alive connection is closed.
     */
    unsigned request_timeout;
};

/* File descriptors the server leaves, at the least, to the rest of the process. */
#define API_FD_RESERVE 128

struct api;

/*
 * Bind the listener and start serving. Every pointer in `cfg` is borrowed
 * and must outlive the server except the strings, which are copied. On
 * failure (a bad listen address, the port in use) returns CK_ECONFIG or
 * CK_EIO with the reason in `err`, and there is nothing to release.
 */
int api_start(struct api **out, const struct api_config *cfg, struct strbuf *err);

/* The port actually bound (useful with port 0). */
int api_port(const struct api *a);

/*
 * Stop accepting, finish the requests in flight, join the threads, close
 * their store connections and free everything. Takes NULL.
 */
void api_stop(struct api *a);

/*
 * Does `listen` ("host:port") name only loopback addresses (127.0.0.0/8,
 * ::1, or a host name all of whose addresses are loopback)? False for a
 * malformed address and for wildcard ones (0.0.0.0, ::).
 */
bool api_listen_is_loopback(const char *listen);

#endif
