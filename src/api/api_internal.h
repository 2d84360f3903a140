/* SPDX-License-Identifier: MIT */
#ifndef CK_API_API_INTERNAL_H
#define CK_API_API_INTERNAL_H

/*
 * For the files of src/api only: the server's state, the request a handler
 * works on, the route table and the helpers handlers share. This is the one
 * header that includes microhttpd.h and jansson.h; nothing outside src/api
 * sees them.
 */
#include "api/api.h"
#include "market/timeframe.h"
#include "resilience/breaker.h"
#include "sched/sched.h"
#include "store/store.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api_conn;
struct service;
struct source_settings;
struct store;
struct strbuf;

/* Largest request body accepted; larger ones get 413. */
#define API_MAX_BODY (64 * 1024)
/* Path parameters a route may capture ({timeframe}, {id}). */
#define API_MAX_ARGS 2

/* A request's place among its server thread's stamp reads (api_stamp.c); one per connection. */
struct api_stamp_wait {
    uint64_t tick; /* the thread's tick when the request asked; 0: it has not */
};

/* One server thread's reads of a shared stamp (api_stamp.c). */
struct api_stamp_reads {
    uint64_t tick;            /* advanced by every request that asks and by every read */
    uint64_t read_tick;       /* the tick of the last good read: it serves smaller ticks; 0 none */
    struct store_stamp stamp; /* what that read gave */
};

struct api {
    struct MHD_Daemon *mhd;
    int port;
    bool loopback; /* the listener is bound to a loopback address */
    char *token;   /* NULL when none is configured */
    size_t token_len;
    char *store_url;
    char *instance;
    const struct settings *settings;
    struct breaker *const *breakers;         /* aligned with settings->sources; may be NULL */
    const struct calendar *const *calendars; /* the same; may be NULL */
    struct sched *sched;
    struct metrics *metrics;  /* cfg->metrics or own_metrics; never NULL */
    api_signal_fn *on_signal; /* may be NULL */
    void *on_signal_arg;
    struct metrics *own_metrics; /* created when cfg->metrics is NULL */
    int64_t started_ms;
    /* Each server thread's store connection (struct api_thread *). */
    pthread_key_t thread_key;
    /* Guards start_log (messages from libmicrohttpd while starting) and the log budget. */
    pthread_mutex_t log_lock;
    bool starting;
    char *start_log;
    /* libmicrohttpd's messages logged in the window that began at log_window_ms. */
    int64_t log_window_ms;
    unsigned log_in_window;
    unsigned log_dropped; /* those over the budget in that window */
    /* Connection limits in force (api.c, "Connections"). */
    unsigned max_connections;
    unsigned max_connections_per_client;
    int64_t request_timeout_ms;
    char *timeout_reply; /* the whole 408 response, written by the deadline service */
    size_t timeout_reply_len;
    /* Cuts off requests that take longer than request_timeout_ms to arrive. */
    struct service *deadline;
    /* Guards conns and the fields of every struct api_conn in it. */
    pthread_mutex_t conn_lock;
    struct api_conn *conns; /* every open connection */
};

/*
 * A request as a handler sees it, and the response it leaves behind. A
 * handler sets exactly one reply with api_reply_*(); the glue in api.c
 * turns it into the HTTP response, adds the Allow / WWW-Authenticate
 * headers when set, and counts it.
 */
struct api_request {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    /* The request body (NUL-terminated, not necessarily text); NULL when none was sent. */
    const char *body;
    size_t body_len;
    /* Path parameters in pattern order, NUL-terminated copies in argbuf. */
    const char *args[API_MAX_ARGS];
    size_t nargs;
    char argbuf[256];

    unsigned status;
    json_t *json; /* the body when JSON (owned) */
    char *text;   /* the body when not JSON (owned, malloc'd) */
    size_t text_len;
    const char *content_type; /* for text */
    const char *allow;        /* Allow header (405); points into allowbuf */
    char allowbuf[64];
    const char *www_authenticate; /* static */
    const char *csp;              /* Content-Security-Policy header (static); NULL none */
    struct MHD_Response *resp;    /* a ready response (api_reply_response) */
    bool resp_owned;              /* destroy it once queued */
    bool deferred;                /* no reply yet: called again on the next pass (api_stamp.c) */
};

typedef void api_handler_fn(struct api_request *req);

/* One row of the route table: "{name}" in a pattern matches one non-empty segment. */
struct api_route {
    const char *method;
    const char *pattern;
    api_handler_fn *handler;
    bool needs_auth;
};

/* api_routes.c */
extern const struct api_route api_routes[];
extern const size_t api_nroutes;

/*
 * Match `path` against the route table. Returns the route for `method`
 * (HEAD matches GET routes) and fills `req->args`; NULL when none. When the
 * path exists with other methods only, `req->allow` gets their list
 * ("GET, HEAD", "POST") for a 405; otherwise it stays NULL (404).
 */
const struct api_route *api_route_match(struct api_request *req, const char *method,
                                        const char *path);

/* Handlers, one file per resource. */
void api_health_get(struct api_request *req);
void api_metrics_get(struct api_request *req);
void api_candles_get(struct api_request *req);
void api_gaps_get(struct api_request *req);
void api_backups_list(struct api_request *req);
void api_coverage_get(struct api_request *req);
/* api_reports.c */
void api_reports_generate(struct api_request *req);
void api_reports_list(struct api_request *req);
void api_report_get(struct api_request *req);
void api_jobs_list(struct api_request *req);
void api_job_get(struct api_request *req);
void api_job_runs(struct api_request *req);
void api_job_run(struct api_request *req);
void api_job_pause(struct api_request *req);
void api_job_resume(struct api_request *req);
void api_alerts_list(struct api_request *req);
void api_signals_create(struct api_request *req);
void api_signals_list(struct api_request *req);
void api_signal_get(struct api_request *req);
void api_signal_cancel(struct api_request *req);
void api_signal_redeliver(struct api_request *req);
void api_backtests_create(struct api_request *req);
void api_backtests_list(struct api_request *req);
void api_deliveries_get(struct api_request *req);
void api_dashboard_page(struct api_request *req);
void api_dashboard_asset(struct api_request *req);
void api_backfills_create(struct api_request *req);
void api_backfills_list(struct api_request *req);

/*
 * What the API knows of one job: the scheduler's live view (when the job
 * is registered with a running daemon's scheduler) merged with its
 * database row (paused flag, failure streak). Strings are borrowed from
 * the scheduler or from `struct api_jobs`.
 */
struct api_job {
    const char *id;
    bool scheduled; /* known to cfg->sched; `info` is valid */
    struct sched_job_info info;
    bool has_row; /* has a database row; the fields below come from it */
    bool paused;  /* job_state_paused() now */
    int64_t paused_until;
    const char *pause_reason; /* borrowed from the row */
    const char *paused_by;    /* borrowed from the row */
    int64_t streak;
    int64_t last_fire;
};

struct api_jobs {
    struct api_job *v;
    size_t n;
    struct job_state *rows; /* owned: the database rows `v` borrows from */
    size_t nrows;
};

/*
 * Every job: the scheduler's in registration order, then database rows
 * the scheduler does not know, by id. Returns 0 or the store's error.
 * Release with api_jobs_release() in any case. (api_jobs.c)
 */
int api_jobs_collect(struct api_request *req, struct store *st, struct api_jobs *out,
                     struct strbuf *err);
void api_jobs_release(struct api_jobs *jobs);
/* A job as GET /jobs/{id} shows it, with its newest run `last` (may be NULL). */
json_t *api_job_json(const struct api_job *j, const struct job_run *last);
/* A run as GET /jobs/{id}/runs shows it. */
json_t *api_run_json(const struct job_run *r);
/*
 * Run job `id` now and answer as POST /jobs/{id}/run (202, 404, 409, 503);
 * `trigger` is the run's reason (sched_run_now_as()).
 */
void api_job_start(struct api_request *req, const char *id, const char *trigger);
/* Set or clear the paused flag of job `id` and answer as POST /jobs/{id}/pause (200, 404, 503). */
void api_job_set_paused(struct api_request *req, const char *id, bool paused);

/* The maintenance resources (api_maintenance.c). */
void api_maint_status(struct api_request *req);
void api_maint_tasks(struct api_request *req);
void api_maint_task_run(struct api_request *req);
void api_maint_run_all(struct api_request *req);
void api_maint_history(struct api_request *req);
void api_maint_schedule(struct api_request *req);
void api_maint_pause(struct api_request *req);
void api_maint_resume(struct api_request *req);
void api_maint_emergency(struct api_request *req);
void api_maint_metrics(struct api_request *req);

/*
 * A per-thread memo of ready responses, validated by the store's stamp of
 * the data and, when that moved, byte for byte against the data they were
 * made from (api_cache.c explains). Bounded in entries and bytes; not
 * thread-safe: use only the calling thread's, from api_thread_cache().
 * The responses returned are borrowed (api_reply_response(..., false))
 * until the next call on `c`.
 */
struct api_cache;
struct api_cache *api_cache_new(void);
void api_cache_free(struct api_cache *c);
/* api_candle_stamp(): the request is answered on its thread's next pass. */
#define API_DEFERRED 1
/*
 * store_candle_stamp() on this thread's store `st`, read after the
 * request arrived. On PostgreSQL the first call returns API_DEFERRED: the
 * handler must then return at once without a reply, and is called again
 * on the server thread's next pass, when this gives the thread's read
 * made for it and the requests that arrived with it (api_stamp.c).
 */
int api_candle_stamp(struct api_request *req, struct store *st, struct store_stamp *out,
                     struct strbuf *err);
/*
 * The first step of api_candle_stamp() on its own, for a handler that
 * knows it will need the stamp before it has done anything else: true
 * when the request was deferred (return at once without a reply).
 */
bool api_candle_stamp_ask(struct api_request *req, struct store *st);
/* The stamp wait of the request's connection; NULL when it has none. */
struct api_stamp_wait *api_conn_wait(struct api_request *req);
/* This server thread's stamp reads. */
struct api_stamp_reads *api_thread_stamps(struct api_request *req);
/* The response kept under `key` if it was made under `stamp`; NULL otherwise. */
struct MHD_Response *api_cache_fresh(struct api_cache *c, const char *key,
                                     const struct store_stamp *stamp);
/*
 * The response kept under `key` if it was made from exactly `validator`
 * (`vlen` bytes), which from now on counts as made under `stamp`; NULL
 * otherwise (an entry under `key` made from other data is dropped).
 */
struct MHD_Response *api_cache_same(struct api_cache *c, const char *key,
                                    const struct store_stamp *stamp, const void *validator,
                                    size_t vlen);
/*
 * Keep `resp` (whose body is `len` bytes) under `key`, made from
 * `validator` under `stamp`. True: the cache took the caller's reference;
 * false: too large to keep, the reference is still the caller's.
 */
bool api_cache_put(struct api_cache *c, const char *key, const struct store_stamp *stamp,
                   const void *validator, size_t vlen, struct MHD_Response *resp, size_t len);

/*
 * The health report (health/health.h) as this server sees it: the
 * configured series and providers, its scheduler's jobs (or, without one,
 * the job table's), its circuit breakers. `st` NULL: the database cannot
 * be reached (`db_error` says why). Release `out` in any case. (api_health.c)
 */
struct health_report;
int api_health_collect(struct api_request *req, struct store *st, const char *db_error,
                       struct health_report *out, struct strbuf *err);

/* ---- helpers (api.c) ---- */

/* The value of query parameter `name`, decoded; NULL when absent. Borrowed from MHD. */
const char *api_query(struct api_request *req, const char *name);

/* Reply with a JSON body; takes ownership of `body`. */
void api_reply_json(struct api_request *req, unsigned status, json_t *body);
/* Dump `j` compactly, with a final newline, into a malloc'd buffer (the caller's). */
char *api_json_dump(const json_t *j, size_t *out_len);
/* This server thread's response memo. */
struct api_cache *api_thread_cache(struct api_request *req);
/*
 * A response of `len` bytes of `body` (malloc'd; the response frees it)
 * with the headers every reply of this server has (Content-Type
 * `content_type`, Cache-Control). NULL when out of memory (`body` freed).
 */
struct MHD_Response *api_response_new(char *body, size_t len, const char *content_type);
/*
 * Reply with a ready response. `owned`: the request's reference, dropped
 * once queued; otherwise borrowed from somewhere that outlives the call
 * (api_cache).
 */
void api_reply_response(struct api_request *req, unsigned status, struct MHD_Response *resp,
                        bool owned);
/* Reply with a text body; takes ownership of `text` (malloc'd). */
void api_reply_text(struct api_request *req, unsigned status, char *text, size_t len,
                    const char *content_type);
/*
 * Reply {"error": <fmt...>} (and "detail": `detail` when not NULL or
 * empty). The detail is passed through redact_message(); request input in the
 * message must go through api_echo().
 */
void api_reply_error(struct api_request *req, unsigned status, const char *detail, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/*
 * This thread's store connection, opened on first use. NULL when it
 * cannot be opened, with the reason in `err`.
 */
struct store *api_store(struct api_request *req, struct strbuf *err);
/*
 * Report a failed store operation: CK_EIO, CK_EBUSY and other database
 * failures close this thread's connection (the next request reopens it),
 * are logged and answered 503; CK_EINVAL is answered 400, CK_ENOTFOUND 404
 * and CK_ECONFLICT 409.
 * `what` says what was being done ("listing candles").
 */
void api_store_error(struct api_request *req, int rc, const char *what, const struct strbuf *err);
/*
 * Close this thread's connection now (the next api_store() reopens it). No
 * iterator of it may be open.
 */
void api_store_reset(struct api_request *req);
/* Answer 503 for a store that could not be opened, and log it. */
void api_store_unavailable(struct api_request *req, const struct strbuf *err);

/*
 * Parse integer query parameter `name` within [min, max]; absent: `def`.
 * On a bad value replies 400 naming the parameter and returns -1.
 */
int api_param_int(struct api_request *req, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out);

/*
 * Copy request input into `out` for an error message: at most `outsz` - 1
 * bytes, non-printable and non-ASCII bytes as '?', "..." when cut.
 */
void api_echo(char *out, size_t outsz, const char *s);

/* JSON values in the API's conventions. */
json_t *api_json_time(int64_t t);         /* "2024-01-02T15:00:00Z" */
json_t *api_json_time_or_null(int64_t t); /* null when t <= 0 */
json_t *api_json_price(int64_t v);        /* "2063.41" */
json_t *api_json_str(const char *s);      /* null for NULL or text that is not UTF-8 */

#endif
