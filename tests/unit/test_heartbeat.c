/* SPDX-License-Identifier: MIT */
/*
 * The outbound heartbeat against a local fake ping endpoint
 * (tests/helpers/fake_ping.py): the GET arrives with its path and query as
 * configured, pings stop while the daemon is unhealthy and resume after,
 * a failing endpoint is logged without the URL's path, query or userinfo,
 * and a stop returns promptly.
 */
#include "testutil.h"

#include "daemon/heartbeat.h"
#include "net/http.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct test_fake fake;

static int group_setup(void **state)
{
    struct strbuf err = STRBUF_INIT;
    (void)state;
    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return -1;
    }
    strbuf_release(&err);
    return test_fake_start(&fake, "fake_ping.py", NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    test_fake_stop(&fake);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    test_fake_post(&fake, "/__reset", NULL);
    return 0;
}

static size_t pings(void)
{
    json_t *v = test_fake_get_json(&fake, "/__requests");
    size_t n = json_array_size(v);
    json_decref(v);
    return n;
}

/* Wait (up to 10 s) until the fake has seen at least `n` pings. */
static size_t wait_pings(size_t n)
{
    size_t got = 0;
    for (int i = 0; i < 1000 && (got = pings()) < n; i++)
        usleep(10000);
    return got;
}

static void test_describe_url(void **state)
{
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"https://hc-ping.com/0b5d4c1e-secret-uuid", "https://hc-ping.com"},
        {"http://127.0.0.1:8000/ping?token=abc", "http://127.0.0.1:8000"},
        {"https://user:pass@example.com:8443/p#frag", "https://example.com:8443"},
        {"https://a@b@example.com/x", "https://example.com"},
        {"http://example.com", "http://example.com"},
        {"example.com/x", "(malformed URL)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf sb = STRBUF_INIT;
        heartbeat_describe_url(cases[i].url, &sb);
        assert_string_equal(sb.buf, cases[i].want);
        strbuf_release(&sb);
    }
}

static void test_ping(void **state)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    long status = 0;
    (void)state;

    strbuf_addf(&url, "%s/ping/0b5d-uuid?token=s3cret", fake.url);
    assert_int_equal(heartbeat_ping(url.buf, 5000, &status, &err), 0);
    assert_int_equal(status, 200);
    json_t *v = test_fake_get_json(&fake, "/__requests");
    assert_int_equal(json_array_size(v), 1);
    json_t *r = json_array_get(v, 0);
    assert_string_equal(json_string_value(json_object_get(r, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(r, "path")), "/ping/0b5d-uuid");
    assert_string_equal(json_string_value(json_object_get(r, "query")), "token=s3cret");
    json_decref(v);

    /* Refused: the status, and nothing of the path or query in the message. */
    test_fake_post(&fake, "/__control", json_pack("{s:i}", "status", 500));
    assert_int_equal(heartbeat_ping(url.buf, 5000, &status, &err), CK_EUPSTREAM);
    assert_int_equal(status, 500);
    assert_non_null(strstr(err.buf, "500"));
    assert_null(strstr(err.buf, "uuid"));
    assert_null(strstr(err.buf, "s3cret"));

    /* Nobody listening: no status. */
    strbuf_reset(&err);
    assert_int_not_equal(heartbeat_ping("http://127.0.0.1:1/x?token=s3cret", 2000, &status, &err),
                         0);
    assert_int_equal(status, 0);
    assert_null(strstr(err.buf, "s3cret"));
    strbuf_release(&url);
    strbuf_release(&err);
}

static atomic_bool healthy_flag;

/*
 * How often healthy() said no. The heartbeat asks before each ping, after
 * the previous ping was answered and counted, so a refusal also says that
 * no ping is under way.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n; /* under lock */
} refusals = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static bool healthy(void *arg, struct strbuf *why)
{
    (void)arg;
    if (atomic_load(&healthy_flag))
        return true;
    strbuf_addstr(why, "the scheduler is not ticking");
    pthread_mutex_lock(&refusals.lock);
    refusals.n++;
    pthread_cond_broadcast(&refusals.cond);
    pthread_mutex_unlock(&refusals.lock);
    return false;
}

static int refusals_now(void)
{
    int n;
    pthread_mutex_lock(&refusals.lock);
    n = refusals.n;
    pthread_mutex_unlock(&refusals.lock);
    return n;
}

/* Wait (up to 10 s) until healthy() has said no `n` times in all; the count reached. */
static int wait_refusals(int n)
{
    struct timespec deadline;
    int got;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&refusals.lock);
    while (refusals.n < n &&
           pthread_cond_timedwait(&refusals.cond, &refusals.lock, &deadline) != ETIMEDOUT)
        ;
    got = refusals.n;
    pthread_mutex_unlock(&refusals.lock);
    return got;
}

/*
 * Wait (up to 10 s) until the heartbeat has counted at least `n` pings as
 * sent. It counts a ping once the answer is in, after the fake logged it.
 */
static int64_t wait_sent(struct heartbeat *hb, int64_t n, int64_t *ok)
{
    int64_t sent = 0;
    for (int i = 0; i < 1000; i++) {
        heartbeat_counts(hb, &sent, ok);
        if (sent >= n)
            break;
        usleep(10000);
    }
    return sent;
}

static void test_thread_pings_while_healthy(void **state)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct heartbeat *hb = NULL;
    int64_t sent, ok;
    (void)state;

    atomic_store(&healthy_flag, true);
    strbuf_addf(&url, "%s/ping/abc", fake.url);
    struct heartbeat_config cfg = {
        .url = url.buf, .interval_ms = 1000, .healthy = healthy, .arg = NULL};
    assert_int_equal(heartbeat_start(&hb, &cfg, &err), 0);
    assert_true(wait_pings(2) >= 2); /* one at start, one an interval later */

    /*
     * Unhealthy: no more pings. Once the heartbeat has been told so, no
     * ping is under way; two refusals later it has let two intervals go.
     */
    int refused = refusals_now();
    atomic_store(&healthy_flag, false);
    assert_true(wait_refusals(refused + 1) >= refused + 1);
    size_t held = pings();
    assert_true(wait_refusals(refused + 3) >= refused + 3);
    assert_int_equal(pings(), held);

    atomic_store(&healthy_flag, true);
    assert_true(wait_pings(held + 1) >= held + 1);
    sent = wait_sent(hb, (int64_t)held + 1, &ok);
    assert_true(sent >= (int64_t)held + 1);
    assert_true(sent >= 3);
    assert_int_equal(sent, ok);
    heartbeat_stop(hb);
    strbuf_release(&url);
    strbuf_release(&err);
}

static void test_failures_are_logged_without_secrets(void **state)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT, log = STRBUF_INIT;
    struct heartbeat *hb = NULL;
    char *path = test_tmpfile(".log");
    char buf[4096];
    int64_t sent = 0, ok = 0;
    FILE *fp;
    size_t n;
    (void)state;

    assert_int_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, path, &err), 0);
    test_fake_post(&fake, "/__control", json_pack("{s:i}", "status", 503));
    atomic_store(&healthy_flag, true);
    /* Userinfo, a path and a query that are all secrets. */
    strbuf_addf(&url, "http://ops:pw-xyz@%s/ping/uuid-789?token=tok-456", fake.url + 7);
    struct heartbeat_config cfg = {.url = url.buf, .interval_ms = 1000, .healthy = healthy};
    assert_int_equal(heartbeat_start(&hb, &cfg, &err), 0);
    assert_true(wait_pings(2) >= 2);
    test_fake_post(&fake, "/__control", json_pack("{s:i}", "status", 200));
    for (int i = 0; i < 1000 && ok == 0; i++) {
        usleep(10000);
        heartbeat_counts(hb, &sent, &ok);
    }
    assert_true(ok > 0);
    heartbeat_stop(hb);
    log_shutdown();

    fp = fopen(path, "r");
    assert_non_null(fp);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&log, buf, n);
    fclose(fp);
    /* Said once that it fails, once that it works again; never how to reach it. */
    assert_non_null(strstr(log.buf, "heartbeat: ping to http://127.0.0.1:"));
    assert_non_null(strstr(log.buf, "503"));
    assert_non_null(strstr(log.buf, "works again"));
    assert_null(strstr(log.buf, "failed again")); /* repeats are debug lines */
    assert_null(strstr(log.buf, "pw-xyz"));
    assert_null(strstr(log.buf, "ops:"));
    assert_null(strstr(log.buf, "uuid-789"));
    assert_null(strstr(log.buf, "tok-456"));
    free(path);
    strbuf_release(&url);
    strbuf_release(&err);
    strbuf_release(&log);
}

static void test_bad_config(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct heartbeat *hb = (struct heartbeat *)&err;
    (void)state;
    struct heartbeat_config cfg = {.url = "ftp://example.com/x", .interval_ms = 1000};
    assert_int_equal(heartbeat_start(&hb, &cfg, &err), CK_EINVAL);
    assert_null(hb);
    assert_non_null(strstr(err.buf, "http://"));
    cfg.url = "https://example.com/x";
    cfg.interval_ms = 10;
    strbuf_reset(&err);
    assert_int_equal(heartbeat_start(&hb, &cfg, &err), CK_EINVAL);
    heartbeat_stop(NULL);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_describe_url),
        cmocka_unit_test_setup(test_ping, reset),
        cmocka_unit_test_setup(test_thread_pings_while_healthy, reset),
        cmocka_unit_test_setup(test_failures_are_logged_without_secrets, reset),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
