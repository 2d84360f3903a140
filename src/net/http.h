/* SPDX-License-Identifier: MIT */
#ifndef CK_NET_HTTP_H
#define CK_NET_HTTP_H

#include "util/strbuf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A small HTTP client over libcurl for providers, alert channels and
 * webhooks. One `struct http_client` wraps one reusable curl easy handle
 * (connection reuse) and is not thread-safe; use one per thread.
 *
 * Every response body is capped (`max_body`): a larger body aborts the
 * transfer with CK_ELIMIT. TLS verification is always on.
 * http_global_init() must be called once at program start, before threads
 * start. With libcurl 7.84 or later (whose set-up is thread-safe) it does
 * nothing: libcurl's global state (curl_global_init: the TLS library and
 * its configuration) is set up by the first request, so a process that
 * sends none never loads it. With an older libcurl it is set up there.
 */
struct http_client;

struct http_header {
    const char *name;
    const char *value;
};

/* One part of a multipart/form-data body. Borrowed for the call. */
struct http_part {
    const char *name;
    const char *data;
    size_t len;
    const char *filename; /* NULL: a plain field; else a file upload of that name */
    const char *type;     /* the part's Content-Type; NULL: none (a field) */
};

struct http_request {
    const char *method; /* "GET" (default when NULL), "POST", or PUT/DELETE/HEAD */
    const char *url;
    const struct http_header *headers; /* extra headers */
    size_t nheaders;
    const char *body; /* request body for POST, may be NULL */
    size_t body_len;
    /* POST only: a multipart/form-data body of these parts instead of `body`. */
    const struct http_part *parts;
    size_t nparts;
    long connect_timeout_ms; /* 0: 10,000 */
    long timeout_ms;         /* 0: 30,000 (total) */
    size_t max_body;         /* 0: 8 MiB */
};

struct http_response {
    long status;           /* HTTP status, 0 when no response arrived */
    struct strbuf body;    /* response body */
    struct strbuf headers; /* raw header block of the final response */
    int64_t retry_after;   /* seconds from Retry-After (delta or HTTP date), -1 if absent */
};
#define HTTP_RESPONSE_INIT                                                                         \
    {                                                                                              \
        .body = STRBUF_INIT, .headers = STRBUF_INIT, .retry_after = -1                             \
    }
void http_response_release(struct http_response *resp);

int http_global_init(struct strbuf *err);
struct http_client *http_client_new(void);
void http_client_free(struct http_client *hc);

/*
 * Perform `req`. Returns 0 when an HTTP response arrived (whatever its
 * status), or CK_ETIMEDOUT, CK_EUPSTREAM (connection failed, TLS, reset),
 * CK_ELIMIT (body over the cap) or CK_EINVAL (bad URL) with the reason in
 * `err`. The message never contains the URL's query string or userinfo
 * (secrets may be there); it names the host.
 */
int http_do(struct http_client *hc, const struct http_request *req, struct http_response *resp,
            struct strbuf *err);

/* Value of header `name` (case-insensitive) in `resp->headers`, copied into `out`; 0 or
 * CK_ENOTFOUND. */
int http_response_header(const struct http_response *resp, const char *name, struct strbuf *out);

/* Append `s` percent-encoded (RFC 3986 unreserved kept) to `sb`. */
void http_url_encode(struct strbuf *sb, const char *s);

/*
 * Seconds to wait according to a Retry-After value: delta-seconds ("120")
 * or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT") taken relative to `now`
 * (Unix seconds; a date in the past gives 0). Surrounding whitespace is
 * ignored; values beyond 7 days are clamped to 7 days. Returns -1 when
 * `value` is neither. http_do() measures a date against the response's
 * Date header when there is one, so a skewed local clock does not matter.
 */
int64_t http_retry_after_parse(const char *value, int64_t now);

#endif
