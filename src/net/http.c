/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client every outbound request goes through (providers, alert
 * channels, webhooks), over one libcurl easy handle per client.
 *
 * Design:
 *  - The easy handle lives as long as the client and is curl_easy_reset()
 *    before each request: options never leak from one request into the
 *    next, while the handle keeps its connection, DNS and TLS session caches,
 *    so a client that polls one provider reuses one connection.
 *  - Every body is capped. The write callback refuses the byte that would
 *    cross `max_body` (libcurl then stops with CURLE_WRITE_ERROR), and
 *    CURLOPT_MAXFILESIZE stops early when Content-Length already says so;
 *    both become CK_ELIMIT. The header block has a fixed cap of its own.
 *  - Only the final response's headers are kept: the header callback
 *    starts over at each status line, so interim responses (100 Continue)
 *    and, were they ever followed, redirects do not mix into the result.
 *  - Redirects are not followed and only http/https are allowed; TLS peer
 *    and host verification are always on.
 *  - URLs routinely carry secrets (an API key in the query, a bot token in
 *    the path, a password in the userinfo). Error messages therefore name
 *    the host only, and libcurl's own detail text is used only when it
 *    repeats none of those parts of the URL.
 *
 * A client is not thread-safe; signals are never used (CURLOPT_NOSIGNAL),
 * so clients may be used on worker threads, one per thread.
 */
#include "net/http.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

#define HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define HTTP_DEFAULT_TIMEOUT_MS         30000L
#define HTTP_DEFAULT_MAX_BODY           ((size_t)8 << 20)
/* libcurl refuses single header lines over 100 KiB; this bounds the block. */
#define HTTP_MAX_HEADER_BLOCK ((size_t)256 << 10)

struct http_client {
    CURL *curl;
};

/* State shared with the libcurl callbacks during one transfer. */
struct transfer {
    struct http_response *resp;
    size_t max_body;
    bool body_too_big;
    bool headers_too_big;
};

/*
 * libcurl's global state: its TLS library with that library's configuration
 * and providers, about 2 MB of resident memory. A daemon that never sends a
 * request (no provider enabled, no alert channel) need not pay for it, so it
 * is set up once, by the first request (or by http_global_init() where
 * libcurl cannot do that safely on a worker thread).
 */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int global_ready(struct strbuf *err)
{
    pthread_once(&global_once, global_init_once);
    if (global_rc != CURLE_OK) {
        strbuf_addf(err, "http: cannot initialise libcurl: %s", curl_easy_strerror(global_rc));
        return CK_EIO;
    }
    return 0;
}

int http_global_init(struct strbuf *err)
{
    /*
     * libcurl 7.84 and later set themselves up safely on any thread; the
     * version is the one built against (asking the library at run time,
     * curl_version_info(), would itself touch most of the libraries it links).
     */
#if LIBCURL_VERSION_NUM >= 0x075400
    (void)err;
    return 0;
#else
    return global_ready(err);
#endif
}

struct http_client *http_client_new(void)
{
    /* The easy handle is made by the first request: making it would set libcurl up. */
    return xcalloc(1, sizeof(struct http_client));
}

void http_client_free(struct http_client *hc)
{
    if (!hc)
        return;
    curl_easy_cleanup(hc->curl);
    free(hc);
}

void http_response_release(struct http_response *resp)
{
    if (!resp)
        return;
    strbuf_release(&resp->body);
    strbuf_release(&resp->headers);
    resp->status = 0;
    resp->retry_after = -1;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t n = size * nmemb;

    if (n > t->max_body - t->resp->body.len) {
        t->body_too_big = true;
        return 0; /* short write: libcurl aborts with CURLE_WRITE_ERROR */
    }
    strbuf_add(&t->resp->body, data, n);
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct transfer *t = userp;
    size_t n = size * nmemb;

    /* A status line starts a new response (100 Continue, a redirect): keep only the last. */
    if (n >= 5 && !memcmp(data, "HTTP/", 5))
        strbuf_reset(&t->resp->headers);
    if (n > HTTP_MAX_HEADER_BLOCK - t->resp->headers.len) {
        t->headers_too_big = true;
        return 0;
    }
    strbuf_add(&t->resp->headers, data, n);
    return n;
}

/*
 * The parts of a URL that may carry secrets, and its host for messages.
 * Each string is libcurl's (curl_free) or NULL.
 */
struct url_parts {
    char *host, *path, *query, *user, *password, *scheme;
};

static void url_parts_release(struct url_parts *p)
{
    curl_free(p->host);
    curl_free(p->path);
    curl_free(p->query);
    curl_free(p->user);
    curl_free(p->password);
    curl_free(p->scheme);
    memset(p, 0, sizeof(*p));
}

static int url_split(const char *url, struct url_parts *out, struct strbuf *err)
{
    CURLU *u = curl_url();
    CURLUcode uc;
    int ret = 0;

    memset(out, 0, sizeof(*out));
    if (!u)
        BUG("curl_url failed");
    uc = curl_url_set(u, CURLUPART_URL, url ? url : "", 0);
    if (uc != CURLUE_OK) {
        /* The URL itself is not quoted: it may hold a key. */
        strbuf_addf(err, "http: malformed URL: %s", curl_url_strerror(uc));
        ret = CK_EINVAL;
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &out->scheme, 0);
    curl_url_get(u, CURLUPART_HOST, &out->host, 0);
    curl_url_get(u, CURLUPART_PATH, &out->path, 0);
    curl_url_get(u, CURLUPART_QUERY, &out->query, 0);
    curl_url_get(u, CURLUPART_USER, &out->user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &out->password, 0);
    if (!out->scheme || (strcasecmp(out->scheme, "http") && strcasecmp(out->scheme, "https"))) {
        strbuf_addf(err, "http: unsupported URL scheme '%s' (http or https only)",
                    out->scheme ? out->scheme : "");
        ret = CK_EINVAL;
        goto out;
    }
    if (!out->host || !*out->host) {
        strbuf_addstr(err, "http: URL has no host");
        ret = CK_EINVAL;
        goto out;
    }
out:
    curl_url_cleanup(u);
    if (ret)
        url_parts_release(out);
    return ret;
}

/* Does `text` contain `part` (a non-trivial piece of the URL)? */
static bool leaks(const char *text, const char *part)
{
    return part && strlen(part) > 1 && strstr(text, part);
}

/* libcurl's detail message, or its generic text when the detail repeats part of the URL. */
static const char *curl_detail(const char *errbuf, CURLcode rc, const struct url_parts *p)
{
    if (!*errbuf || leaks(errbuf, p->path) || leaks(errbuf, p->query) || leaks(errbuf, p->user) ||
        leaks(errbuf, p->password))
        return curl_easy_strerror(rc);
    return errbuf;
}

static int map_curl_error(CURL *c, CURLcode rc, const struct transfer *t, const char *errbuf,
                          const struct url_parts *p, long connect_ms, long total_ms,
                          struct strbuf *err)
{
    curl_off_t connected_us = 0;

    switch (rc) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected_us);
        if (connected_us)
            strbuf_addf(err, "%s: timed out after %ld ms", p->host, total_ms);
        else
            strbuf_addf(err, "%s: timed out connecting (limit %ld ms)", p->host,
                        connect_ms < total_ms ? connect_ms : total_ms);
        return CK_ETIMEDOUT;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        strbuf_addf(err, "%s: malformed URL: %s", p->host, curl_easy_strerror(rc));
        return CK_EINVAL;
    case CURLE_FILESIZE_EXCEEDED:
        strbuf_addf(err, "%s: response body exceeds %zu bytes", p->host, t->max_body);
        return CK_ELIMIT;
    case CURLE_WRITE_ERROR:
        if (t->body_too_big) {
            strbuf_addf(err, "%s: response body exceeds %zu bytes", p->host, t->max_body);
            return CK_ELIMIT;
        }
        if (t->headers_too_big) {
            strbuf_addf(err, "%s: response headers exceed %zu bytes", p->host,
                        HTTP_MAX_HEADER_BLOCK);
            return CK_ELIMIT;
        }
        break;
    default:
        break;
    }
    /* Connection refused, DNS, TLS, reset, empty reply, protocol errors. */
    strbuf_addf(err, "%s: %s", p->host, curl_detail(errbuf, rc, p));
    return CK_EUPSTREAM;
}

/* Time of the response's Date header, else the local clock. */
static int64_t response_now(const struct http_response *resp)
{
    struct strbuf v = STRBUF_INIT;
    int64_t now = time_now();

    if (!http_response_header(resp, "Date", &v)) {
        time_t t = curl_getdate(v.buf, NULL);
        if (t != -1)
            now = (int64_t)t;
    }
    strbuf_release(&v);
    return now;
}

int http_do(struct http_client *hc, const struct http_request *req, struct http_response *resp,
            struct strbuf *err)
{
    struct url_parts parts;
    struct curl_slist *hdrs = NULL;
    curl_mime *mime = NULL;
    struct transfer t = {.resp = resp};
    char errbuf[CURL_ERROR_SIZE];
    struct strbuf line = STRBUF_INIT;
    long connect_ms =
        req->connect_timeout_ms > 0 ? req->connect_timeout_ms : HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
    long total_ms = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
    const char *method = req->method && *req->method ? req->method : "GET";
    bool is_post = !strcmp(method, "POST");
    bool has_expect = false;
    CURL *c;
    CURLcode rc;
    int ret;

    strbuf_reset(&resp->body);
    strbuf_reset(&resp->headers);
    resp->status = 0;
    resp->retry_after = -1;
    t.max_body = req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY;

    ret = url_split(req->url, &parts, err);
    if (ret)
        return ret;
    if (!hc->curl) {
        ret = global_ready(err);
        if (ret)
            goto out;
        hc->curl = curl_easy_init();
        /* curl_easy_init() only fails when out of memory, which aborts everywhere else too. */
        if (!hc->curl)
            BUG("curl_easy_init failed");
    }
    c = hc->curl;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        /* A CR or LF would let a value start a header of its own. */
        if (strpbrk(h->name, "\r\n:") || strpbrk(h->value, "\r\n")) {
            strbuf_addf(err, "%s: invalid header '%s' (a line break, or a colon in the name)",
                        parts.host, h->name);
            ret = CK_EINVAL;
            goto out;
        }
        if (!strcasecmp(h->name, "Expect"))
            has_expect = true;
        strbuf_setf(&line, "%s: %s", h->name, h->value);
        hdrs = curl_slist_append(hdrs, line.buf);
        if (!hdrs)
            BUG("curl_slist_append failed");
    }
    /* Webhooks POST small bodies: the 100-continue round trip only adds latency. */
    if (is_post && !has_expect) {
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (!hdrs)
            BUG("curl_slist_append failed");
    }

    errbuf[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "candlekeep/" CK_VERSION);
    /* Decompressed bytes pass through write_cb, so the cap holds for gzip too. */
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    if (t.max_body <= (size_t)INT64_MAX)
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t.max_body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    if (hdrs)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (is_post && req->nparts) {
        /* libcurl writes the boundary and Content-Type; data is copied in. */
        mime = curl_mime_init(c);
        for (size_t i = 0; i < req->nparts; i++) {
            const struct http_part *p = &req->parts[i];
            curl_mimepart *part = curl_mime_addpart(mime);
            if (!part)
                BUG("curl_mime_addpart failed");
            curl_mime_name(part, p->name);
            curl_mime_data(part, p->data, p->len);
            if (p->filename)
                curl_mime_filename(part, p->filename);
            if (p->type)
                curl_mime_type(part, p->type);
        }
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (is_post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    } else if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (req->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }

    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    ret = map_curl_error(c, rc, &t, errbuf, &parts, connect_ms, total_ms, err);
    if (!ret) {
        struct strbuf v = STRBUF_INIT;
        if (!http_response_header(resp, "Retry-After", &v))
            resp->retry_after = http_retry_after_parse(v.buf, response_now(resp));
        strbuf_release(&v);
    }
    /* The request's buffers are the caller's; do not leave pointers to them behind. */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
out:
    curl_mime_free(mime);
    curl_slist_free_all(hdrs);
    strbuf_release(&line);
    url_parts_release(&parts);
    return ret;
}

int http_response_header(const struct http_response *resp, const char *name, struct strbuf *out)
{
    size_t nlen = strlen(name);
    const char *p = resp->headers.buf, *end = p + resp->headers.len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *le = eol ? eol : end;

        if (le > p && le[-1] == '\r')
            le--;
        if ((size_t)(le - p) > nlen && p[nlen] == ':' && !strncasecmp(p, name, nlen)) {
            const char *v = p + nlen + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            while (le > v && (le[-1] == ' ' || le[-1] == '\t'))
                le--;
            strbuf_reset(out);
            strbuf_add(out, v, (size_t)(le - v));
            return 0;
        }
        p = next;
    }
    return CK_ENOTFOUND;
}

void http_url_encode(struct strbuf *sb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            strbuf_addch(sb, c);
        } else {
            strbuf_addch(sb, '%');
            strbuf_addch(sb, hex[c >> 4]);
            strbuf_addch(sb, hex[c & 15]);
        }
    }
}

int64_t http_retry_after_parse(const char *value, int64_t now)
{
    const char *p = value, *end;
    int64_t v = 0;
    size_t n;

    if (!value)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    n = (size_t)(end - p);
    if (!n)
        return -1;
    if (isdigit((unsigned char)*p)) {
        for (const char *q = p; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return -1;
            /* A week is more than any provider means; clamp rather than overflow. */
            if (v < 7 * 86400)
                v = v * 10 + (*q - '0');
        }
        return v < 7 * 86400 ? v : 7 * 86400;
    }
    {
        char *date = xstrndup(p, n);
        time_t t = curl_getdate(date, NULL);
        free(date);
        if (t == -1)
            return -1;
        return (int64_t)t > now ? (int64_t)t - now : 0;
    }
}
