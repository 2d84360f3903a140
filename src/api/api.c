/* SPDX-License-Identifier: MIT */
/*
 * The HTTP server: libmicrohttpd glue, request dispatch, authorization,
 * per-thread store connections, and the helpers the resource handlers
 * share (query parameters, JSON replies, error mapping).
 *
 * Threads. libmicrohttpd runs an internal thread pool (one thread per CPU,
 * epoll where available); a connection stays on the thread that accepted
 * it, and the access handler runs there. Handlers share nothing mutable
 * but the metrics registry (thread-safe) and the scheduler (whose query
 * functions are thread-safe). Each server thread owns one store
 * connection, kept in a pthread key: opened on the thread's first request,
 * reused for every later one (so a request pays no connection set-up and
 * the backend's statement caches stay warm), closed and reopened after a
 * database error, and closed by the key's destructor when libmicrohttpd
 * joins its threads in api_stop(). The thread's response memo
 * (api_cache.c) lives next to it. After a failed open the
 * thread waits a second before trying again, so a dead database does not
 * turn every request into a connection attempt.
 *
 * A request. libmicrohttpd calls the access handler once with the headers,
 * then once per chunk of body, then once more; the reply is queued on that
 * last call (a reply queued earlier makes libmicrohttpd close the
 * connection, losing keep-alive). The body is collected into the
 * request's state (handlers that take one, such as POST /signals, read
 * req->body); a request announcing more than API_MAX_BODY is refused with
 * 413 on the first call, one sending more on the last (what was sent past
 * the cap is counted, not kept). Only requests with a body get a state of
 * their own (a malloc). Dispatch is a
 * walk of the route table (api_routes.c): an unknown path is 404, a known
 * path with the wrong method 405 with Allow; a route marked needs_auth is
 * authorized here before its handler runs. The handler leaves exactly one
 * reply in the request; this file serializes it (JSON bodies are dumped by
 * jansson straight into a heap buffer that libmicrohttpd frees after
 * sending, MHD_RESPMEM_MUST_FREE), counts it in
 * http_requests_total{route,code} and its duration in
 * http_request_duration_seconds{route}, and logs it at debug
 * level (method, path, status, milliseconds; never headers, so never the
 * token).
 *
 * Connections. A client address may hold max_connections_per_client
 * connections, and the server max_connections in all, lowered at start so
 * that a quarter of the open-file limit (at least API_FD_RESERVE) stays
 * with the rest of the daemon: a flood of clients takes no descriptor the
 * scheduler's jobs or the store need. Every connection is in api->conns
 * (libmicrohttpd's socket context) from its opening to its closing; a
 * request must arrive whole within request_timeout_ms of the opening or
 * of the previous reply, which a background service enforces
 * (deadline_pass()). A request is answered whatever it is: 414 for more
 * than MAX_QUERY_ARGS query arguments (cut_long_query()), 501 for an
 * unknown method or transfer coding; libmicrohttpd answers the errors of
 * HTTP's framing itself (400, 413, 414, 431, 505).
 *
 * Ownership. api_start() copies the strings of its config; the settings,
 * scheduler and metrics registry are borrowed and must outlive the server.
 */
#include "api/api_internal.h"

#include "market/price.h"
#include "sched/service.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define REQUESTS_METRIC "http_requests_total"
#define DURATION_METRIC "http_request_duration_seconds"
#define TIMEOUTS_METRIC "http_request_timeouts_total"
/* After a failed store open, the thread waits this long before trying again. */
#define REOPEN_DELAY_MS 1000
/* Query arguments a request may carry; a request with more gets 414. */
#define MAX_QUERY_ARGS 64
/* Defaults of the connection limits (struct api_config). */
#define DEFAULT_MAX_CONNECTIONS 1000
#define DEFAULT_MAX_PER_CLIENT  32
#define DEFAULT_REQUEST_TIMEOUT 10
/* libmicrohttpd's messages logged at most, per window (see mhd_log()). */
#define MHD_LOG_PER_WINDOW 10
#define MHD_LOG_WINDOW_MS  10000
/* The deadline service checks at most this often; a cut may come this much late. */
#define DEADLINE_SLACK_MS 50

/* One server thread's private state (the value of api->thread_key). */
struct api_thread {
    struct store *st;
    struct api_cache *cache; /* NULL until the first cached response */
    struct api_stamp_reads stamps;
    /* The metric labels of the last request answered here: most are like the one before. */
    const char *label_route;
    unsigned label_status;
    char labels_counted[160], labels_timed[128];
    bool broken;          /* close st before the next use */
    int64_t failed_at_ms; /* monotonic time of the last failed open; 0 none */
    struct strbuf open_err;
};

static struct api_thread *this_thread(struct api *a);

/* Per-request state, allocated only for requests that carry a body. */
struct conn_state {
    size_t body; /* bytes received */
    bool too_big;
    struct strbuf data; /* the body, while it is within API_MAX_BODY */
};

/* The state of every request without a body; never written. */
static struct conn_state bodyless;
/* The state of a request whose query string was cut (too many arguments); never written. */
static struct conn_state long_query;

/*
 * One open connection (libmicrohttpd's socket context): in api->conns
 * from its opening until libmicrohttpd closes it. Every field is guarded
 * by api->conn_lock.
 */
struct api_conn {
    struct api_conn *prev, *next;
    int fd;
    int64_t since_ms; /* monotonic: when opened, or when the previous reply was sent */
    bool in_request;  /* a request line has arrived since */
    bool answering;   /* the request is whole: its handler runs or its reply is on its way */
    bool cut;         /* the deadline service has shut the socket down */
    struct api_stamp_wait wait; /* only its server thread's (api_stamp.c): no lock */
};

/* Why a request is answered without its handler. */
enum refusal {
    REFUSE_NONE,
    REFUSE_BODY_TOO_BIG,
    REFUSE_LONG_QUERY,
    REFUSE_CODING,
};

static void thread_release(void *p)
{
    struct api_thread *t = p;
    store_close(t->st);
    api_cache_free(t->cache);
    strbuf_release(&t->open_err);
    free(t);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
    return mono_ns() / 1000000;
}

/* ---- listen addresses ---- */

/*
 * Split "host:port" / "[v6]:port" into its parts. `host` gets a copy of
 * the host (no brackets). Returns 0 or CK_ECONFIG with the reason.
 */
static int split_listen(const char *listen, char **host, char **port, struct strbuf *err)
{
    const char *colon;
    *host = *port = NULL;
    if (!listen || !*listen) {
        strbuf_addstr(err, "api: empty listen address (api.listen)");
        return CK_ECONFIG;
    }
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') {
            strbuf_addf(err, "api: listen address '%s' is not [IPv6]:PORT", listen);
            return CK_ECONFIG;
        }
        *host = xstrndup(listen + 1, (size_t)(close - listen - 1));
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen))) {
            strbuf_addf(err, "api: listen address '%s' is not HOST:PORT (write IPv6 as [::1]:8080)",
                        listen);
            return CK_ECONFIG;
        }
        *host = xstrndup(listen, (size_t)(colon - listen));
    }
    if (!**host) {
        strbuf_addf(err, "api: listen address '%s' has no host (0.0.0.0:PORT is every interface)",
                    listen);
        goto fail;
    }
    int64_t p;
    if (parse_int64(colon + 1, 0, 65535, &p)) {
        strbuf_addf(err, "api: listen address '%s': port is not a number from 0 to 65535", listen);
        goto fail;
    }
    *port = xstrdup(colon + 1);
    return 0;
fail:
    free(*host);
    *host = NULL;
    return CK_ECONFIG;
}

static int resolve_listen(const char *listen, struct addrinfo **out, struct strbuf *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char *host, *port;
    int rc = split_listen(listen, &host, &port, err), gai;
    if (rc)
        return rc;
    gai = getaddrinfo(host, port, &hints, out);
    if (gai) {
        strbuf_addf(err, "api: cannot resolve listen address '%s': %s", listen, gai_strerror(gai));
        rc = CK_ECONFIG;
    }
    free(host);
    free(port);
    return rc;
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        /* ::ffff:127.x.y.z */
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
    }
    return false;
}

bool api_listen_is_loopback(const char *listen)
{
    struct strbuf err = STRBUF_INIT;
    struct addrinfo *res = NULL;
    bool all = false;
    if (!resolve_listen(listen, &res, &err)) {
        all = res != NULL;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
            if (!sockaddr_is_loopback(ai->ai_addr))
                all = false;
        freeaddrinfo(res);
    }
    strbuf_release(&err);
    return all;
}

/* ---- libmicrohttpd callbacks ---- */

/*
 * Start a new window of libmicrohttpd's log budget when the last one is
 * over; returns how many messages that one dropped. log_lock held.
 */
static unsigned log_window_roll(struct api *a, int64_t now)
{
    unsigned dropped = 0;
    if (now - a->log_window_ms >= MHD_LOG_WINDOW_MS) {
        dropped = a->log_dropped;
        a->log_window_ms = now;
        a->log_in_window = 0;
        a->log_dropped = 0;
    }
    return dropped;
}

static void log_dropped(unsigned n)
{
    if (n)
        log_warn("api: %u more messages from the HTTP server in %d s were not logged", n,
                 MHD_LOG_WINDOW_MS / 1000);
}

/*
 * libmicrohttpd's printf-style format, passed on as it came, at most
 * MHD_LOG_PER_WINDOW messages every MHD_LOG_WINDOW_MS: a flood of clients
 * makes one message per connection ("Server reached connection limit"),
 * and the log must not fill the disk with them. The number left out is
 * logged when the window is over (by the next message or the deadline
 * service).
 */
__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct api *a = cls;
    unsigned dropped = 0;
    bool emit = false;
    char buf[512];
    size_t len;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    /* While starting, the first message becomes api_start()'s error instead. */
    pthread_mutex_lock(&a->log_lock);
    bool starting = a->starting;
    if (starting && !a->start_log)
        a->start_log = xstrdup(buf);
    if (!starting) {
        dropped = log_window_roll(a, mono_ms());
        emit = a->log_in_window < MHD_LOG_PER_WINDOW;
        if (emit)
            a->log_in_window++;
        else
            a->log_dropped++;
    }
    pthread_mutex_unlock(&a->log_lock);
    log_dropped(dropped);
    if (emit)
        log_warn("api: %s", buf);
}

/* ---- connections ---- */

static struct api_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

struct api_stamp_wait *api_conn_wait(struct api_request *req)
{
    struct api_conn *c = conn_of(req->conn);
    return c ? &c->wait : NULL;
}

/* A connection opens (tracked from now on) or closes (before its socket is closed). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct api *a = cls;
    struct api_conn *c = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = xcalloc(1, sizeof(*c));
        c->fd = ci ? ci->connect_fd : -1;
        c->since_ms = mono_ms();
        pthread_mutex_lock(&a->conn_lock);
        c->next = a->conns;
        if (a->conns)
            a->conns->prev = c;
        a->conns = c;
        pthread_mutex_unlock(&a->conn_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    pthread_mutex_lock(&a->conn_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&a->conn_lock);
    free(c);
    *socket_context = NULL;
}

/*
 * Does `uri` carry more than MAX_QUERY_ARGS query arguments? Then its
 * query string is cut off here, before libmicrohttpd parses it.
 * libmicrohttpd 0.9.75 keeps every argument in the connection's memory
 * pool; when the pool runs out it logs a 431 it has no memory left to
 * send, and the client waits for the timeout. The URI is libmicrohttpd's
 * own copy of the request line, which it splits in place itself right
 * after this callback; emptying the query string there leaves it nothing
 * to store, and the request is answered 414 (see on_request).
 */
static bool cut_long_query(const char *uri)
{
    char *q = uri ? strchr(uri, '?') : NULL;
    size_t n = 1;
    if (!q || !q[1])
        return false;
    for (const char *p = q + 1; *p; p++)
        if (*p == '&' && ++n > MAX_QUERY_ARGS) {
            q[1] = '\0';
            return true;
        }
    return false;
}

/* A request line has arrived; what is returned becomes the request's state. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api *a = cls;
    struct api_conn *c = conn_of(conn);
    if (c) {
        pthread_mutex_lock(&a->conn_lock);
        c->in_request = true;
        pthread_mutex_unlock(&a->conn_lock);
    }
    return cut_long_query(uri) ? &long_query : NULL;
}

/*
 * The request is whole: from now on its handler runs and its reply goes
 * out, and the deadline no longer applies. False when the deadline
 * service cut the connection first.
 */
static bool begin_answer(struct api *a, struct MHD_Connection *conn)
{
    struct api_conn *c = conn_of(conn);
    bool ok = true;
    if (!c)
        return true;
    pthread_mutex_lock(&a->conn_lock);
    if (c->cut)
        ok = false;
    else
        c->answering = true;
    pthread_mutex_unlock(&a->conn_lock);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api *a = cls;
    struct api_conn *c = conn_of(conn);
    (void)toe;
    if (*con_cls && *con_cls != &bodyless && *con_cls != &long_query) {
        struct conn_state *cs = *con_cls;
        strbuf_release(&cs->data);
        free(cs);
    }
    *con_cls = NULL;
    /* The next request on this connection has its own time. */
    if (c) {
        /* A request that asked for the stamp and was not answered is not the next one. */
        c->wait.tick = 0;
        pthread_mutex_lock(&a->conn_lock);
        c->since_ms = mono_ms();
        c->in_request = false;
        c->answering = false;
        pthread_mutex_unlock(&a->conn_lock);
    }
}

/*
 * The deadline service's pass: cut every connection whose request has not
 * arrived whole within request_timeout_ms of the connection's opening or
 * its previous reply. libmicrohttpd's own timeout cannot do it: it
 * restarts on every byte, so a client sending a header line every few
 * seconds would keep its connection for ever. A client part-way through a
 * request gets a 408 written straight to the socket (nothing else writes
 * to it before the request is whole); an idle keep-alive connection is
 * just closed. Shutting the socket down wakes its server thread, which
 * reads the end of the stream and closes the connection as if the client
 * had. The socket stays open while the connection is in the list
 * (libmicrohttpd reports the closing before it closes it, and that waits
 * for conn_lock), so the descriptor cannot have been reused.
 */
static int64_t deadline_pass(struct service *svc, void *arg)
{
    struct api *a = arg;
    int64_t now = mono_ms(), wait = a->request_timeout_ms;
    unsigned cut = 0;
    (void)svc;

    pthread_mutex_lock(&a->conn_lock);
    for (struct api_conn *c = a->conns; c; c = c->next) {
        int64_t left = c->since_ms + a->request_timeout_ms - now;
        if (c->answering || c->cut || c->fd < 0)
            continue;
        if (left > 0) {
            if (left < wait)
                wait = left;
            continue;
        }
        if (c->in_request) {
            (void)send(c->fd, a->timeout_reply, a->timeout_reply_len, MSG_NOSIGNAL | MSG_DONTWAIT);
            cut++;
        }
        shutdown(c->fd, SHUT_RDWR);
        c->cut = true;
    }
    pthread_mutex_unlock(&a->conn_lock);
    pthread_mutex_lock(&a->log_lock);
    unsigned dropped = log_window_roll(a, now);
    pthread_mutex_unlock(&a->log_lock);
    log_dropped(dropped);
    if (cut) {
        metrics_add(a->metrics, TIMEOUTS_METRIC, NULL, cut);
        log_debug("api: %u request(s) not received whole within %lld ms: 408", cut,
                  (long long)a->request_timeout_ms);
    }
    return wait < DEADLINE_SLACK_MS ? DEADLINE_SLACK_MS : wait;
}

/* Compare without an early exit, so the time taken says nothing about where they differ. */
static bool token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned char diff = glen != wlen;
    for (size_t i = 0; i < wlen; i++)
        diff |= (unsigned char)((i < glen ? given[i] : 0) ^ want[i]);
    return diff == 0;
}

static bool authorize(struct api_request *req)
{
    struct api *a = req->api;
    const char *h, *tok;
    size_t len;

    if (!a->token) {
        if (a->loopback)
            return true;
        api_reply_error(req, MHD_HTTP_FORBIDDEN, NULL,
                        "mutating endpoints are disabled: set api.token (CANDLEKEEP_API_TOKEN) "
                        "or listen on loopback");
        return false;
    }
    h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        req->www_authenticate = "Bearer realm=\"candlekeep\"";
        api_reply_error(req, MHD_HTTP_UNAUTHORIZED, NULL,
                        h ? "the Authorization header is not a bearer token"
                          : "this endpoint needs 'Authorization: Bearer <api.token>'");
        return false;
    }
    tok = h + 7;
    while (*tok == ' ')
        tok++;
    len = strlen(tok);
    while (len && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
        len--;
    if (!token_equal(tok, len, a->token, a->token_len)) {
        req->www_authenticate = "Bearer realm=\"candlekeep\", error=\"invalid_token\"";
        api_reply_error(req, MHD_HTTP_UNAUTHORIZED, NULL, "invalid bearer token");
        return false;
    }
    return true;
}

/* Make a printable, bounded copy of request input for an error message. */
static void echo(char *out, size_t outsz, const char *s)
{
    size_t i = 0;
    for (; *s && i + 4 < outsz; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    strbuf_add(data, buf, size);
    return 0;
}

char *api_json_dump(const json_t *j, size_t *out_len)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_grow(&sb, 4096);
    json_dump_callback(j, dump_cb, &sb, JSON_COMPACT);
    strbuf_addch(&sb, '\n');
    return strbuf_detach(&sb, out_len);
}

struct MHD_Response *api_response_new(char *body, size_t len, const char *content_type)
{
    /* The buffer is malloc'd (strbuf, or the handler's text); libmicrohttpd frees it. */
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);

    if (!resp) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return resp;
}

static enum MHD_Result send_reply(struct api_request *req)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *ctype;
    char *body;
    size_t len;

    if (req->resp) {
        ret = MHD_queue_response(req->conn, req->status, req->resp);
        if (req->resp_owned)
            MHD_destroy_response(req->resp);
        req->resp = NULL;
        return ret;
    }
    if (req->json) {
        body = api_json_dump(req->json, &len);
        json_decref(req->json);
        req->json = NULL;
        ctype = "application/json";
    } else {
        body = req->text;
        len = req->text_len;
        req->text = NULL;
        ctype = req->content_type ? req->content_type : "text/plain; charset=utf-8";
    }
    resp = api_response_new(body, len, ctype);
    if (!resp)
        return MHD_NO;
    if (req->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
    if (req->www_authenticate)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, req->www_authenticate);
    if (req->csp) {
        MHD_add_response_header(resp, "Content-Security-Policy", req->csp);
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    }
    ret = MHD_queue_response(req->conn, req->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* The methods of HTTP (RFC 9110 and PATCH); any other gets 501. */
static bool method_is_known(const char *method)
{
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(method, known[i]))
            return true;
    return false;
}

/* Answer a request that refusal `why` (not REFUSE_NONE) keeps from its handler. */
static void refuse(struct api_request *req, enum refusal why)
{
    const char *te;
    char ebuf[80];

    switch (why) {
    case REFUSE_BODY_TOO_BIG:
        api_reply_error(req, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "request body larger than %d bytes",
                        API_MAX_BODY);
        return;
    case REFUSE_LONG_QUERY:
        api_reply_error(req, MHD_HTTP_URI_TOO_LONG, NULL,
                        "more than %d query parameters in the request", MAX_QUERY_ARGS);
        return;
    case REFUSE_CODING:
        te = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_TRANSFER_ENCODING);
        echo(ebuf, sizeof(ebuf), te ? te : "");
        api_reply_error(req, MHD_HTTP_NOT_IMPLEMENTED, NULL,
                        "transfer coding '%s' is not supported: send the body with Content-Length "
                        "or 'Transfer-Encoding: chunked'",
                        ebuf);
        return;
    case REFUSE_NONE:
        break;
    }
    BUG("api: refusal %d", (int)why);
}

static enum MHD_Result handle(struct api *a, struct MHD_Connection *conn, const char *url,
                              const char *method, enum refusal why, const struct strbuf *body)
{
    struct api_request req = {.api = a, .conn = conn, .method = method, .path = url};
    const struct api_route *route = NULL;
    int64_t t0 = mono_ns();
    char ebuf[80];
    enum MHD_Result ret;

    if (!begin_answer(a, conn))
        return MHD_NO;
    if (body) {
        req.body = body->buf;
        req.body_len = body->len;
    }
    if (why != REFUSE_NONE) {
        refuse(&req, why);
    } else if (!method_is_known(method)) {
        echo(ebuf, sizeof(ebuf), method);
        api_reply_error(&req, MHD_HTTP_NOT_IMPLEMENTED, NULL, "unknown method '%s'", ebuf);
    } else {
        route = api_route_match(&req, method, url);
        if (!route && req.allow) {
            echo(ebuf, sizeof(ebuf), method);
            api_reply_error(&req, MHD_HTTP_METHOD_NOT_ALLOWED, NULL,
                            "method %s is not allowed here; allowed: %s", ebuf, req.allow);
        } else if (!route) {
            echo(ebuf, sizeof(ebuf), url);
            api_reply_error(&req, MHD_HTTP_NOT_FOUND, NULL, "no such resource '%s'", ebuf);
        } else if (!route->needs_auth || authorize(&req)) {
            route->handler(&req);
        }
    }
    if (req.deferred && !req.status)
        return MHD_YES; /* called again on the thread's next pass */
    if (!req.status)
        BUG("api: the handler of %s %s left no reply", method, route ? route->pattern : url);

    ret = send_reply(&req);

    double secs = (double)(mono_ns() - t0) / 1e9;
    const char *label = route ? route->pattern : "unmatched";
    struct api_thread *t = this_thread(a);
    if (t->label_route != label || t->label_status != req.status) {
        snprintf(t->labels_counted, sizeof(t->labels_counted), "route=\"%s\",code=\"%u\"", label,
                 req.status);
        snprintf(t->labels_timed, sizeof(t->labels_timed), "route=\"%s\"", label);
        t->label_route = label;
        t->label_status = req.status;
    }
    metrics_add(a->metrics, REQUESTS_METRIC, t->labels_counted, 1);
    metrics_observe(a->metrics, DURATION_METRIC, t->labels_timed, secs);
    if (log_level_current <= LOG_DEBUG) {
        echo(ebuf, sizeof(ebuf), url);
        log_debug("api: %s %s %u %.3fms", method, ebuf, req.status, secs * 1000);
    }
    return ret;
}

/*
 * Does the request announce a body (a non-zero Content-Length or a
 * Transfer-Encoding)? `out_coded` is set for a transfer coding other than
 * chunked (gzip, "gzip, chunked"): libmicrohttpd would read such a body to
 * the end of the connection, so it is refused (501) at once.
 */
static bool has_body(struct MHD_Connection *conn, uint64_t *out_len, bool *out_coded)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int64_t n = 0;
    *out_len = 0;
    *out_coded = te && strcasecmp(te, "chunked") != 0;
    if (cl && !parse_int64(cl, 0, INT64_MAX, &n))
        *out_len = (uint64_t)n;
    return n > 0 || te != NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api *a = cls;
    struct conn_state *cs = *con_cls;
    (void)version;

    /* Refused at once (first call), the connection is closed after the reply. */
    if (cs == &long_query)
        return handle(a, conn, url, method, REFUSE_LONG_QUERY, NULL);
    if (!cs) {
        uint64_t clen;
        bool coded;
        if (!has_body(conn, &clen, &coded)) {
            *con_cls = &bodyless;
            return MHD_YES;
        }
        if (coded)
            return handle(a, conn, url, method, REFUSE_CODING, NULL);
        if (clen > API_MAX_BODY)
            return handle(a, conn, url, method, REFUSE_BODY_TOO_BIG, NULL);
        cs = xcalloc(1, sizeof(*cs));
        strbuf_init(&cs->data, clen ? (size_t)clen : 0);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (cs != &bodyless) {
            cs->body += *upload_data_size;
            if (cs->body > API_MAX_BODY)
                cs->too_big = true;
            else
                strbuf_add(&cs->data, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return handle(a, conn, url, method,
                  cs != &bodyless && cs->too_big ? REFUSE_BODY_TOO_BIG : REFUSE_NONE,
                  cs != &bodyless ? &cs->data : NULL);
}

/* ---- helpers for handlers ---- */

const char *api_query(struct api_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

void api_reply_json(struct api_request *req, unsigned status, json_t *body)
{
    if (req->status)
        BUG("api: two replies to %s %s", req->method, req->path);
    if (!body)
        BUG("api: no JSON body for %s %s (a json_pack format error)", req->method, req->path);
    req->status = status;
    req->json = body;
}

void api_reply_text(struct api_request *req, unsigned status, char *text, size_t len,
                    const char *content_type)
{
    if (req->status)
        BUG("api: two replies to %s %s", req->method, req->path);
    req->status = status;
    req->text = text;
    req->text_len = len;
    req->content_type = content_type;
}

void api_reply_response(struct api_request *req, unsigned status, struct MHD_Response *resp,
                        bool owned)
{
    if (req->status)
        BUG("api: two replies to %s %s", req->method, req->path);
    req->status = status;
    req->resp = resp;
    req->resp_owned = owned;
}

void api_reply_error(struct api_request *req, unsigned status, const char *detail, const char *fmt,
                     ...)
{
    struct strbuf msg = STRBUF_INIT;
    json_t *o = json_object();
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);
    /*
     * The message is ours (request input in it went through echo(), so it
     * is ASCII); the detail carries text from elsewhere (database errors)
     * and is redacted like a log line.
     */
    json_object_set_new(o, "error", json_stringn_nocheck(msg.buf, msg.len));
    if (detail && *detail) {
        struct strbuf d = STRBUF_INIT;
        strbuf_addstr(&d, detail);
        redact_message(&d);
        json_t *dj = json_stringn(d.buf, d.len);
        json_object_set_new(o, "detail", dj ? dj : json_string("(not valid UTF-8)"));
        strbuf_release(&d);
    }
    strbuf_release(&msg);
    api_reply_json(req, status, o);
}

static struct api_thread *this_thread(struct api *a)
{
    struct api_thread *t = pthread_getspecific(a->thread_key);
    if (!t) {
        t = xcalloc(1, sizeof(*t));
        strbuf_init(&t->open_err, 0);
        pthread_setspecific(a->thread_key, t);
    }
    return t;
}

struct api_cache *api_thread_cache(struct api_request *req)
{
    struct api_thread *t = this_thread(req->api);
    if (!t->cache)
        t->cache = api_cache_new();
    return t->cache;
}

struct api_stamp_reads *api_thread_stamps(struct api_request *req)
{
    return &this_thread(req->api)->stamps;
}

struct store *api_store(struct api_request *req, struct strbuf *err)
{
    struct api *a = req->api;
    struct api_thread *t = this_thread(a);

    if (t->st && t->broken) {
        store_close(t->st);
        t->st = NULL;
    }
    t->broken = false;
    if (t->st)
        return t->st;
    if (t->failed_at_ms && mono_ns() / 1000000 - t->failed_at_ms < REOPEN_DELAY_MS) {
        strbuf_addbuf(err, &t->open_err);
        return NULL;
    }
    strbuf_reset(&t->open_err);
    if (store_open(&t->st, a->store_url, &t->open_err)) {
        t->st = NULL;
        t->failed_at_ms = mono_ns() / 1000000;
        if (!t->failed_at_ms)
            t->failed_at_ms = 1;
        strbuf_addbuf(err, &t->open_err);
        return NULL;
    }
    t->failed_at_ms = 0;
    return t->st;
}

void api_store_reset(struct api_request *req)
{
    struct api_thread *t = this_thread(req->api);
    store_close(t->st);
    t->st = NULL;
    t->broken = false;
    t->failed_at_ms = 0;
}

void api_store_unavailable(struct api_request *req, const struct strbuf *err)
{
    log_warn("api: %s %s: database unavailable: %s", req->method, req->path, err->buf);
    api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, err->buf, "database unavailable");
}

void api_store_error(struct api_request *req, int rc, const char *what, const struct strbuf *err)
{
    switch (rc) {
    case CK_EINVAL:
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, err->buf, "bad request while %s", what);
        return;
    case CK_ENOTFOUND:
        api_reply_error(req, MHD_HTTP_NOT_FOUND, err->buf, "not found while %s", what);
        return;
    case CK_ECONFLICT:
        api_reply_error(req, MHD_HTTP_CONFLICT, err->buf, "conflict while %s", what);
        return;
    default:
        this_thread(req->api)->broken = true;
        log_warn("api: %s %s: %s failed: %s", req->method, req->path, what, err->buf);
        api_reply_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, err->buf,
                        "database unavailable while %s", what);
    }
}

int api_param_int(struct api_request *req, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *v = api_query(req, name);
    char ebuf[80];
    if (!v) {
        *out = def;
        return 0;
    }
    if (parse_int64(v, min, max, out)) {
        echo(ebuf, sizeof(ebuf), v);
        api_reply_error(req, MHD_HTTP_BAD_REQUEST, NULL,
                        "parameter '%s' must be an integer from %lld to %lld (got '%s')", name,
                        (long long)min, (long long)max, ebuf);
        return -1;
    }
    return 0;
}

void api_echo(char *out, size_t outsz, const char *s)
{
    echo(out, outsz, s);
}

json_t *api_json_time(int64_t t)
{
    char buf[TIME_BUFSZ];
    time_format_iso8601(t, buf);
    return json_string_nocheck(buf);
}

json_t *api_json_time_or_null(int64_t t)
{
    return t > 0 ? api_json_time(t) : json_null();
}

json_t *api_json_str(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

json_t *api_json_price(int64_t v)
{
    char buf[PRICE_BUFSZ];
    size_t n = price_format(v, buf);
    return json_stringn_nocheck(buf, n);
}

/* ---- lifecycle ---- */

static unsigned pool_size(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    return (unsigned)n;
}

/*
 * The connections the server may hold: `wanted`, or fewer so that the
 * rest of the process (the scheduler's jobs, the store, the deliverer,
 * the log) keeps a quarter of the file limit, and at least API_FD_RESERVE
 * descriptors, however many clients come.
 */
static unsigned connection_limit(unsigned wanted)
{
    struct rlimit rl;
    rlim_t reserve, room;

    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY)
        return wanted;
    reserve = rl.rlim_cur / 4 > API_FD_RESERVE ? rl.rlim_cur / 4 : API_FD_RESERVE;
    room = rl.rlim_cur > reserve + 8 ? rl.rlim_cur - reserve : 8;
    if (room < wanted) {
        log_info("api: at most %u connections, not %u, to keep %llu of the %llu file "
                 "descriptors allowed (RLIMIT_NOFILE) for the rest of the daemon",
                 (unsigned)room, wanted, (unsigned long long)reserve,
                 (unsigned long long)rl.rlim_cur);
        return (unsigned)room;
    }
    return wanted;
}

/* The 408 the deadline service writes, whole (a heap string; its length in `out_len`). */
static char *timeout_reply(int64_t secs, size_t *out_len)
{
    struct strbuf body = STRBUF_INIT, sb = STRBUF_INIT;
    strbuf_addf(&body, "{\"error\":\"the request did not arrive whole within %lld s\"}\n",
                (long long)secs);
    strbuf_addf(&sb,
                "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                "Content-Type: application/json\r\nCache-Control: no-store\r\n"
                "Content-Length: %zu\r\n\r\n",
                body.len);
    strbuf_addbuf(&sb, &body);
    strbuf_release(&body);
    return strbuf_detach(&sb, out_len);
}

/* A new server from `cfg`, not listening yet (resolved address `ai`). */
static struct api *api_new(const struct api_config *cfg, const struct addrinfo *ai)
{
    struct api *a = xcalloc(1, sizeof(*a));

    a->loopback = sockaddr_is_loopback(ai->ai_addr);
    if (cfg->token && *cfg->token) {
        a->token = xstrdup(cfg->token);
        a->token_len = strlen(a->token);
        redact_add_secret(a->token);
    }
    a->store_url = xstrdup(cfg->store_url);
    a->instance = xstrdup(cfg->instance ? cfg->instance : "");
    a->settings = cfg->settings;
    a->breakers = cfg->breakers;
    a->calendars = cfg->calendars;
    a->sched = cfg->sched;
    a->on_signal = cfg->on_signal;
    a->on_signal_arg = cfg->on_signal_arg;
    a->started_ms = cfg->started_ms ? cfg->started_ms : time_wall_ms();
    a->metrics = cfg->metrics;
    if (!a->metrics)
        a->metrics = a->own_metrics = metrics_new();
    metrics_declare(a->metrics, REQUESTS_METRIC, METRIC_COUNTER,
                    "HTTP requests answered, by route and status code.");
    metrics_declare(a->metrics, DURATION_METRIC, METRIC_HISTOGRAM,
                    "Time to compute an HTTP response, by route.");
    metrics_declare(a->metrics, TIMEOUTS_METRIC, METRIC_COUNTER,
                    "Requests cut off with 408: not received whole within api.request_timeout.");
    a->max_connections =
        connection_limit(cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNECTIONS);
    a->max_connections_per_client =
        cfg->max_connections_per_client ? cfg->max_connections_per_client : DEFAULT_MAX_PER_CLIENT;
    a->request_timeout_ms =
        1000LL * (cfg->request_timeout ? cfg->request_timeout : DEFAULT_REQUEST_TIMEOUT);
    a->timeout_reply = timeout_reply(a->request_timeout_ms / 1000, &a->timeout_reply_len);
    pthread_mutex_init(&a->log_lock, NULL);
    pthread_mutex_init(&a->conn_lock, NULL);
    return a;
}

/* Free a server api_new() made (its HTTP server stopped or never started). */
static void api_free(struct api *a)
{
    pthread_mutex_destroy(&a->log_lock);
    pthread_mutex_destroy(&a->conn_lock);
    free(a->timeout_reply);
    metrics_free(a->own_metrics);
    free(a->start_log);
    free(a->token);
    free(a->store_url);
    free(a->instance);
    free(a);
}

/* Start libmicrohttpd on `ai`; its first log message, if it fails, is in a->start_log. */
static void listen_on(struct api *a, const struct addrinfo *ai, unsigned threads)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->starting = true;
    /*
     * The connection timeout is libmicrohttpd's idle timeout (it restarts
     * on every byte); it still ends a reply a client stopped reading. The
     * deadline of a request's arrival is deadline_pass()'s.
     */
    a->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, a,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_CONNECTION_LIMIT,
        a->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, a->max_connections_per_client,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)511, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(16 * 1024), MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, a, MHD_OPTION_URI_LOG_CALLBACK,
        on_request_line, a, MHD_OPTION_END);
    pthread_mutex_lock(&a->log_lock);
    a->starting = false;
    pthread_mutex_unlock(&a->log_lock);
}

int api_start(struct api **out, const struct api_config *cfg, struct strbuf *err)
{
    struct addrinfo *res = NULL;
    unsigned threads = pool_size();
    struct api *a;
    int rc;

    *out = NULL;
    rc = resolve_listen(cfg->listen, &res, err);
    if (rc)
        return rc;
    if (!cfg->store_url || !*cfg->store_url) {
        freeaddrinfo(res);
        strbuf_addstr(err, "api: no database URL configured (storage.url)");
        return CK_ECONFIG;
    }
    a = api_new(cfg, res);
    if (pthread_key_create(&a->thread_key, thread_release)) {
        strbuf_addstr(err, "api: cannot create thread-local storage");
        freeaddrinfo(res);
        api_free(a);
        return CK_EIO;
    }
    listen_on(a, res, threads);
    freeaddrinfo(res);
    if (!a->mhd) {
        strbuf_addf(err, "api: cannot listen on '%s': %s", cfg->listen,
                    a->start_log ? a->start_log : "the HTTP server failed to start");
        pthread_key_delete(a->thread_key);
        api_free(a);
        return CK_EIO;
    }
    struct service_config scfg = {.name = "api deadline", .pass = deadline_pass, .arg = a};
    if ((rc = service_start(&a->deadline, &scfg, err))) {
        MHD_stop_daemon(a->mhd);
        pthread_key_delete(a->thread_key);
        api_free(a);
        return rc;
    }
    a->port = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    log_info("api: listening on %s (port %d, %u threads, at most %u connections, %u per client, "
             "requests within %lld s%s)",
             cfg->listen, a->port, threads, a->max_connections, a->max_connections_per_client,
             (long long)a->request_timeout_ms / 1000,
             a->token ? ", token required for changes"
                      : (a->loopback ? ", changes allowed from loopback without a token"
                                     : ", changes disabled: no api.token"));
    *out = a;
    return 0;
}

int api_port(const struct api *a)
{
    return a->port;
}

void api_stop(struct api *a)
{
    if (!a)
        return;
    service_stop(a->deadline);
    /* Joins the server threads, whose key destructors close their stores. */
    MHD_stop_daemon(a->mhd);
    pthread_key_delete(a->thread_key);
    api_free(a);
}
