/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client: URL encoding, Retry-After and header parsing, and
 * http_do() against a canned server that lives in this file. The canned
 * server is a thread that accepts one connection on 127.0.0.1, records the
 * request, writes prepared bytes (or nothing, to provoke a timeout) and
 * closes; writing raw bytes is what lets a test send an interim 100
 * response, a redirect or an oversized chunked body exactly.
 */
#include "testutil.h"

#include "net/http.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------- pure helpers */

static void test_url_encode(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"XAU/USD", "XAU%2FUSD"},
        {"2024-01-02 15:00:00", "2024-01-02%2015%3A00%3A00"},
        {"AZaz09-._~", "AZaz09-._~"},
        {"a+b&c=d?e#f", "a%2Bb%26c%3Dd%3Fe%23f"},
        {"%", "%25"},
        {"\xc3\xa9", "%C3%A9"},
        {"", ""},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_addstr(&sb, "x=");
        http_url_encode(&sb, cases[i].in);
        assert_string_equal(sb.buf + 2, cases[i].out);
        strbuf_release(&sb);
    }
}

static void test_retry_after_parse(void **state)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT */
    const int64_t t = 1445412480;
    static const struct {
        const char *in;
        int64_t now_offset, want;
    } cases[] = {
        {"120", 0, 120},
        {"0", 0, 0},
        {"  7 ", 0, 7},
        {"7\r\n", 0, 7},
        {"99999999999999999999999", 0, 7 * 86400}, /* clamped, not overflowed */
        {"Wed, 21 Oct 2015 07:28:00 GMT", -100, 100},
        {"Wed, 21 Oct 2015 07:28:00 GMT", 0, 0},
        {"Wed, 21 Oct 2015 07:28:00 GMT", 3600, 0}, /* in the past */
        {"Wednesday, 21-Oct-15 07:28:00 GMT", -60, 60},
        {"", 0, -1},
        {"   ", 0, -1},
        {"-5", 0, -1},
        {"1.5", 0, -1},
        {"12abc", 0, -1},
        {"soon", 0, -1},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t got = http_retry_after_parse(cases[i].in, t + cases[i].now_offset);
        if (got != cases[i].want)
            fail_msg("'%s': got %lld, want %lld", cases[i].in, (long long)got,
                     (long long)cases[i].want);
    }
    assert_int_equal(http_retry_after_parse(NULL, t), -1);
}

static void test_response_header(void **state)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf v = STRBUF_INIT;

    (void)state;
    strbuf_addstr(&resp.headers, "HTTP/1.1 200 OK\r\n"
                                 "Content-Type: application/json\r\n"
                                 "api-credits-used:  3 \r\n"
                                 "API-Credits-Left:\t5\r\n"
                                 "X-Empty:\r\n"
                                 "X-Twice: first\r\n"
                                 "X-Twice: second\r\n"
                                 "\r\n");
    assert_int_equal(http_response_header(&resp, "content-type", &v), 0);
    assert_string_equal(v.buf, "application/json");
    assert_int_equal(http_response_header(&resp, "Api-Credits-Used", &v), 0);
    assert_string_equal(v.buf, "3");
    assert_int_equal(http_response_header(&resp, "api-credits-left", &v), 0);
    assert_string_equal(v.buf, "5");
    assert_int_equal(http_response_header(&resp, "X-Empty", &v), 0);
    assert_string_equal(v.buf, "");
    assert_int_equal(http_response_header(&resp, "X-Twice", &v), 0);
    assert_string_equal(v.buf, "first");
    /* A prefix of a name is not the name; the status line is not a header. */
    assert_int_equal(http_response_header(&resp, "Content", &v), CK_ENOTFOUND);
    assert_int_equal(http_response_header(&resp, "HTTP/1.1 200 OK", &v), CK_ENOTFOUND);
    assert_int_equal(http_response_header(&resp, "Retry-After", &v), CK_ENOTFOUND);
    strbuf_release(&v);
    http_response_release(&resp);
    assert_int_equal(resp.headers.len, 0);
    assert_int_equal(resp.retry_after, -1);
}

/* ------------------------------------------------------------- canned server */

struct canned {
    int fd, port;
    pthread_t th;
    const char *response; /* NULL: read the request, never answer */
    size_t response_len;
    struct strbuf request; /* what the client sent (headers and body) */
};

static bool wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void *canned_run(void *arg)
{
    struct canned *cs = arg;
    char buf[4096];
    size_t need = 0;
    ssize_t n;
    int c;

    if (!wait_readable(cs->fd, 10000))
        return NULL;
    c = accept(cs->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    /* Headers, then Content-Length bytes of body. */
    while (wait_readable(c, 10000) && (n = read(c, buf, sizeof(buf))) > 0) {
        char *eoh;
        strbuf_add(&cs->request, buf, (size_t)n);
        eoh = strstr(cs->request.buf, "\r\n\r\n");
        if (eoh) {
            const char *cl = strcasestr(cs->request.buf, "\r\nContent-Length:");
            size_t hlen = (size_t)(eoh + 4 - cs->request.buf);
            need = hlen + (cl && cl < eoh ? strtoul(cl + 17, NULL, 10) : 0);
            if (cs->request.len >= need)
                break;
        }
    }
    if (cs->response) {
        size_t off = 0;
        while (off < cs->response_len) {
            n = send(c, cs->response + off, cs->response_len - off, MSG_NOSIGNAL);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
    } else {
        /* Hold the connection until the client gives up. */
        while (wait_readable(c, 10000) && read(c, buf, sizeof(buf)) > 0)
            ;
    }
    close(c);
    return NULL;
}

static void canned_start(struct canned *cs, const char *response)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);

    memset(cs, 0, sizeof(*cs));
    strbuf_init(&cs->request, 0);
    cs->response = response;
    cs->response_len = response ? strlen(response) : 0;
    cs->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(cs->fd >= 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(cs->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(cs->fd, 4), 0);
    assert_int_equal(getsockname(cs->fd, (struct sockaddr *)&a, &alen), 0);
    cs->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&cs->th, NULL, canned_run, cs), 0);
}

/* Wait for the server thread; the request it saw is appended to `request` (may be NULL). */
static void canned_finish(struct canned *cs, struct strbuf *request)
{
    pthread_join(cs->th, NULL);
    close(cs->fd);
    if (request)
        strbuf_addbuf(request, &cs->request);
    strbuf_release(&cs->request);
}

/* http_do() of `req` with url "http://127.0.0.1:<port><path>". */
static int do_canned(struct http_client *hc, struct canned *cs, struct http_request *req,
                     const char *path, struct http_response *resp, struct strbuf *err)
{
    struct strbuf url = STRBUF_INIT;
    int rc;

    strbuf_addf(&url, "http://127.0.0.1:%d%s", cs->port, path);
    req->url = url.buf;
    rc = http_do(hc, req, resp, err);
    req->url = NULL;
    strbuf_release(&url);
    return rc;
}

static void test_do_interim_and_retry_after(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT;
    struct http_request req = {0};
    struct canned cs;

    (void)state;
    canned_start(&cs, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                      "HTTP/1.1 429 Too Many Requests\r\n"
                      "Retry-After: 3\r\n"
                      "Content-Length: 2\r\n"
                      "Connection: close\r\n\r\nno");
    assert_int_equal(do_canned(hc, &cs, &req, "/x", &resp, &err), 0);
    canned_finish(&cs, NULL);
    assert_int_equal(resp.status, 429);
    assert_string_equal(resp.body.buf, "no");
    assert_int_equal(resp.retry_after, 3);
    /* Only the final response's headers. */
    assert_true(strbuf_starts_with(&resp.headers, "HTTP/1.1 429"));
    assert_null(strstr(resp.headers.buf, "X-Interim"));
    assert_int_equal(err.len, 0);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

/* An HTTP-date Retry-After is measured against the server's Date, not the local clock. */
static void test_do_retry_after_date(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT;
    struct http_request req = {0};
    struct canned cs;

    (void)state;
    canned_start(&cs, "HTTP/1.1 503 Service Unavailable\r\n"
                      "Date: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
                      "Retry-After: Wed, 21 Oct 2015 07:30:00 GMT\r\n"
                      "Content-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), 0);
    canned_finish(&cs, NULL);
    assert_int_equal(resp.status, 503);
    assert_int_equal(resp.retry_after, 120);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

static void test_do_redirect_not_followed(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT, v = STRBUF_INIT;
    struct http_request req = {0};
    struct canned cs;

    (void)state;
    canned_start(&cs, "HTTP/1.1 302 Found\r\n"
                      "Location: http://127.0.0.1:1/elsewhere\r\n"
                      "Content-Length: 0\r\n"
                      "Connection: close\r\n\r\n");
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), 0);
    canned_finish(&cs, NULL);
    assert_int_equal(resp.status, 302);
    assert_int_equal(http_response_header(&resp, "Location", &v), 0);
    assert_string_equal(v.buf, "http://127.0.0.1:1/elsewhere");
    assert_int_equal(resp.retry_after, -1);
    strbuf_release(&v);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

static void test_do_request_shape(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT;
    const struct http_header h[] = {{"X-Test", "yes"}, {"Content-Type", "application/json"}};
    const char *body = "{\"a\":1}";
    struct http_request req = {.method = "POST", .headers = h, .nheaders = 2, .body = body};
    struct strbuf seen = STRBUF_INIT;
    struct canned cs;

    (void)state;
    req.body_len = strlen(body);
    canned_start(&cs, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    assert_int_equal(do_canned(hc, &cs, &req, "/hook?x=1", &resp, &err), 0);
    canned_finish(&cs, &seen);
    assert_int_equal(resp.status, 204);
    assert_int_equal(resp.body.len, 0);
    print_message("%s\n", seen.buf);
    assert_true(strbuf_starts_with(&seen, "POST /hook?x=1 HTTP/1.1\r\n"));
    assert_non_null(strstr(seen.buf, "\r\nUser-Agent: candlekeep/" CK_VERSION "\r\n"));
    assert_non_null(strstr(seen.buf, "\r\nX-Test: yes\r\n"));
    assert_null(strcasestr(seen.buf, "Expect:"));
    assert_non_null(strstr(seen.buf, "\r\n\r\n{\"a\":1}"));
    strbuf_release(&seen);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

static void test_do_body_cap(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT, big = STRBUF_INIT, chunked = STRBUF_INIT;
    struct http_request req = {.max_body = 100};
    struct canned cs;

    (void)state;
    /* Exactly at the cap is fine. */
    strbuf_addstr(&big, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 100; i++)
        strbuf_addch(&big, 'a');
    canned_start(&cs, big.buf);
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), 0);
    canned_finish(&cs, NULL);
    assert_int_equal(resp.body.len, 100);

    /* One byte over, announced by Content-Length. */
    strbuf_reset(&big);
    strbuf_addstr(&big, "HTTP/1.1 200 OK\r\nContent-Length: 101\r\nConnection: close\r\n\r\n");
    for (int i = 0; i < 101; i++)
        strbuf_addch(&big, 'a');
    canned_start(&cs, big.buf);
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), CK_ELIMIT);
    canned_finish(&cs, NULL);
    assert_string_equal(err.buf, "127.0.0.1: response body exceeds 100 bytes");
    strbuf_reset(&err);

    /* Over, without a length: the write callback stops it. */
    strbuf_addstr(&chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                            "Connection: close\r\n\r\n");
    for (int i = 0; i < 5; i++)
        strbuf_addstr(&chunked, "28\r\n0123456789012345678901234567890123456789\r\n");
    strbuf_addstr(&chunked, "0\r\n\r\n");
    canned_start(&cs, chunked.buf);
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), CK_ELIMIT);
    canned_finish(&cs, NULL);
    assert_string_equal(err.buf, "127.0.0.1: response body exceeds 100 bytes");
    assert_true(resp.body.len <= 100);

    strbuf_release(&big);
    strbuf_release(&chunked);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

/* Secrets in the path, query and userinfo never reach a message; the host does. */
static void test_do_errors_hide_url_secrets(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
    struct http_request req = {.timeout_ms = 300};
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    struct canned cs;
    int64_t t0;

    (void)state;
    /* Refused: a bound socket that does not listen. */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    port = ntohs(a.sin_port);
    strbuf_addf(&url, "http://user:PASSWORD9@127.0.0.1:%d/botTOKEN123/sendMessage?key=QUERYKEY",
                port);
    req.url = url.buf;
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_EUPSTREAM);
    print_message("refused: %s\n", err.buf);
    assert_true(strbuf_starts_with(&err, "127.0.0.1: "));
    assert_int_equal(resp.status, 0);
    close(fd);

    /* Timed out: a server that never answers. */
    strbuf_addstr(&err, "\n");
    canned_start(&cs, NULL);
    strbuf_reset(&url);
    strbuf_addf(&url, "http://user:PASSWORD9@127.0.0.1:%d/botTOKEN123/sendMessage?key=QUERYKEY",
                cs.port);
    req.url = url.buf;
    t0 = time_mono_ms();
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_ETIMEDOUT);
    assert_true(time_mono_ms() - t0 < 5000);
    canned_finish(&cs, NULL);
    print_message("timeout: %s\n", err.buf);
    assert_non_null(strstr(err.buf, "\n127.0.0.1: timed out after 300 ms"));

    /* A URL libcurl cannot parse is not quoted either. */
    strbuf_addstr(&err, "\n");
    req.url = "http://exa mple.com/botTOKEN123?key=QUERYKEY";
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_EINVAL);
    print_message("malformed: %s\n", err.buf);

    assert_null(strstr(err.buf, "PASSWORD9"));
    assert_null(strstr(err.buf, "TOKEN123"));
    assert_null(strstr(err.buf, "QUERYKEY"));
    assert_null(strstr(err.buf, "user"));
    strbuf_release(&url);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

static void test_do_rejects_bad_input(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT;
    const struct http_header bad[] = {{"X-Evil", "a\r\nInjected: yes"}};
    struct http_request req = {.url = "ftp://127.0.0.1/file"};

    (void)state;
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "unsupported URL scheme 'ftp'"));
    strbuf_reset(&err);
    req.url = "";
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_EINVAL);
    strbuf_reset(&err);
    req.url = "http://127.0.0.1:1/";
    req.headers = bad;
    req.nheaders = 1;
    assert_int_equal(http_do(hc, &req, &resp, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "X-Evil"));
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

/* One client, several requests: a failure leaves nothing behind for the next one. */
static void test_do_reuse_after_failure(void **state)
{
    struct http_client *hc = http_client_new();
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct strbuf err = STRBUF_INIT;
    struct http_request req = {.timeout_ms = 200};
    struct strbuf seen = STRBUF_INIT;
    struct canned cs;

    (void)state;
    /* The server closes without a word. */
    canned_start(&cs, "");
    assert_int_equal(do_canned(hc, &cs, &req, "/", &resp, &err), CK_EUPSTREAM);
    canned_finish(&cs, NULL);
    print_message("empty reply: %s\n", err.buf);
    assert_true(strbuf_starts_with(&err, "127.0.0.1: "));
    strbuf_reset(&err);

    canned_start(&cs, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    req.timeout_ms = 0;
    assert_int_equal(do_canned(hc, &cs, &req, "/again", &resp, &err), 0);
    canned_finish(&cs, &seen);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.body.buf, "hello");
    assert_true(strbuf_starts_with(&seen, "GET /again HTTP/1.1\r\n"));
    strbuf_release(&seen);
    assert_int_equal(err.len, 0);
    http_response_release(&resp);
    strbuf_release(&err);
    http_client_free(hc);
}

int main(void)
{
    struct strbuf err = STRBUF_INIT;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_encode),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_response_header),
        cmocka_unit_test(test_do_interim_and_retry_after),
        cmocka_unit_test(test_do_retry_after_date),
        cmocka_unit_test(test_do_redirect_not_followed),
        cmocka_unit_test(test_do_request_shape),
        cmocka_unit_test(test_do_body_cap),
        cmocka_unit_test(test_do_errors_hide_url_secrets),
        cmocka_unit_test(test_do_rejects_bad_input),
        cmocka_unit_test(test_do_reuse_after_failure),
    };

    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
