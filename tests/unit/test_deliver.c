/* SPDX-License-Identifier: MIT */
/*
 * The rules of a delivery attempt: which answers deliver, which are tried
 * again (and when: the backoff, its jitter and cap, a later Retry-After)
 * and which dead-letter at once or after the last attempt; and the JSON
 * body sent for a signal, byte for byte.
 */
#include "testutil.h"

#include "signal/deliver.h"
#include "signal/whsig.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static const struct deliver_policy policy = {.attempts = 5, .base_ms = 5000, .max_ms = 120000};
#define NOW 1700000000000LL

static enum delivery_status decide(int64_t attempt, int rc, long status, int64_t retry_after,
                                   int64_t *next)
{
    *next = -1;
    return deliver_decide(&policy, attempt, rc, status, retry_after, NOW, 0, next);
}

static void test_answers(void **state)
{
    static const struct {
        int rc;
        long status;
        enum delivery_status want;
    } cases[] = {
        {0, 200, DELIVERY_DELIVERED},
        {0, 201, DELIVERY_DELIVERED},
        {0, 204, DELIVERY_DELIVERED},
        {0, 299, DELIVERY_DELIVERED},
        /* The receiver said 2xx; the rest of its answer does not matter. */
        {CK_ELIMIT, 200, DELIVERY_DELIVERED},
        {CK_EUPSTREAM, 202, DELIVERY_DELIVERED},
        /* No answer, or an answer worth another try. */
        {CK_ETIMEDOUT, 0, DELIVERY_PENDING},
        {CK_EUPSTREAM, 0, DELIVERY_PENDING},
        {0, 301, DELIVERY_PENDING},
        {0, 408, DELIVERY_PENDING},
        {0, 429, DELIVERY_PENDING},
        {0, 500, DELIVERY_PENDING},
        {0, 502, DELIVERY_PENDING},
        {0, 503, DELIVERY_PENDING},
        {0, 504, DELIVERY_PENDING},
        /* Refused for good. */
        {0, 400, DELIVERY_DEAD},
        {0, 401, DELIVERY_DEAD},
        {0, 404, DELIVERY_DEAD},
        {0, 410, DELIVERY_DEAD},
        {0, 422, DELIVERY_DEAD},
        {CK_ELIMIT, 413, DELIVERY_DEAD},
        {CK_EINVAL, 0, DELIVERY_DEAD}, /* a URL curl cannot use */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t next;
        enum delivery_status got = decide(1, cases[i].rc, cases[i].status, -1, &next);
        if (got != cases[i].want)
            fail_msg("rc %d status %ld: %s, want %s", cases[i].rc, cases[i].status,
                     delivery_status_name(got), delivery_status_name(cases[i].want));
        if (got == DELIVERY_PENDING)
            assert_int_equal(next, NOW + 5000);
        else
            assert_int_equal(next, -1);
    }
}

static void test_attempts_and_backoff(void **state)
{
    int64_t next;
    (void)state;
    /* 5 attempts in all: 4 waits of 5, 10, 20, 40 s, then dead. */
    static const int64_t waits[] = {5000, 10000, 20000, 40000};
    for (int a = 1; a <= 4; a++) {
        assert_int_equal(decide(a, 0, 503, -1, &next), DELIVERY_PENDING);
        assert_int_equal(next - NOW, waits[a - 1]);
    }
    assert_int_equal(decide(5, 0, 503, -1, &next), DELIVERY_DEAD);
    assert_int_equal(decide(9, CK_ETIMEDOUT, 0, -1, &next), DELIVERY_DEAD);
    /* Even the last attempt succeeds when the receiver says so. */
    assert_int_equal(decide(5, 0, 200, -1, &next), DELIVERY_DELIVERED);

    /* The cap, and the jitter: up to 10% on top, never below the computed wait. */
    {
        const struct deliver_policy many = {.attempts = 20, .base_ms = 5000, .max_ms = 120000};
        int64_t lo = -1, hi = -1;
        assert_int_equal(deliver_decide(&many, 10, 0, 500, -1, NOW, 0, &lo), DELIVERY_PENDING);
        assert_int_equal(lo - NOW, 120000);
        for (uint64_t r = 0; r < 5000; r += 7) {
            assert_int_equal(deliver_decide(&many, 10, 0, 500, -1, NOW, r * 2654435761u, &hi),
                             DELIVERY_PENDING);
            assert_true(hi - NOW >= 120000 && hi - NOW <= 132000);
        }
    }
    /* A single attempt allowed: any failure is final. */
    {
        const struct deliver_policy one = {.attempts = 1, .base_ms = 5000, .max_ms = 120000};
        assert_int_equal(deliver_decide(&one, 1, 0, 503, -1, NOW, 0, &next), DELIVERY_DEAD);
    }
}

static void test_retry_after(void **state)
{
    int64_t next;
    (void)state;
    /* Obeyed when it asks for longer than the backoff ... */
    assert_int_equal(decide(1, 0, 429, 30, &next), DELIVERY_PENDING);
    assert_int_equal(next - NOW, 30000);
    assert_int_equal(decide(2, 0, 503, 600, &next), DELIVERY_PENDING);
    assert_int_equal(next - NOW, 600000);
    /* ... not when it is shorter (the backoff still spaces the attempts). */
    assert_int_equal(decide(3, 0, 503, 1, &next), DELIVERY_PENDING);
    assert_int_equal(next - NOW, 20000);
    assert_int_equal(decide(1, 0, 503, 0, &next), DELIVERY_PENDING);
    assert_int_equal(next - NOW, 5000);
    /* And it does not turn a refusal or the last attempt into a retry. */
    assert_int_equal(decide(1, 0, 400, 30, &next), DELIVERY_DEAD);
    assert_int_equal(decide(5, 0, 429, 30, &next), DELIVERY_DEAD);
}

static void test_signal_body(void **state)
{
    struct signal s;
    struct strbuf sb = STRBUF_INIT;
    (void)state;

    memset(&s, 0, sizeof(s));
    snprintf(s.id, sizeof(s.id), "%s", "sig_01HQ3Z8Y9X7W6V5T4S3R2Q1P0N");
    s.source = (char *)"twelvedata";
    s.symbol = (char *)"XAU/USD";
    s.tf = TF_H1;
    s.direction = SIGNAL_LONG;
    s.entry = 206341000000LL;       /* 2063.41 */
    s.stop_loss = 205000000000LL;   /* 2050 */
    s.take_profit = 208050000000LL; /* 2080.5 */
    s.created_ms = 1704207600123LL; /* 2024-01-02T15:00:00.123Z */
    s.updated_ms = s.created_ms;
    s.status = SIGNAL_ACTIVE;
    deliver_signal_body(&s, &sb);
    assert_string_equal(sb.buf,
                        "{\"id\":\"sig_01HQ3Z8Y9X7W6V5T4S3R2Q1P0N\",\"source\":\"twelvedata\","
                        "\"symbol\":\"XAU/USD\",\"timeframe\":\"H1\",\"direction\":\"long\","
                        "\"entry\":\"2063.41\",\"stop_loss\":\"2050\",\"take_profit\":\"2080.5\","
                        "\"status\":\"active\",\"created_at\":\"2024-01-02T15:00:00Z\","
                        "\"expires_at\":null,\"updated_at\":\"2024-01-02T15:00:00Z\",\"note\":\"\","
                        "\"idempotency_key\":null}");

    /* The example of docs/webhooks.md, signed with its secret. */
    {
        struct whsig_key key;
        struct strbuf sig = STRBUF_INIT, err = STRBUF_INIT;
        assert_int_equal(whsig_key_parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key, &err), 0);
        whsig_sign(&key, "sig_01HQ3Z8Y9X7W6V5T4S3R2Q1P0N.mybot", 1704207601, sb.buf, sb.len, &sig);
        assert_string_equal(sig.buf, "v1,Q7ZbMp54ZgbOSIO9pLzzsUcqdK7W1LLa9TJCzuwfGmU=");
        strbuf_release(&sig);
        strbuf_release(&err);
    }

    strbuf_reset(&sb);
    s.direction = SIGNAL_SHORT;
    s.entry = 1; /* 0.00000001 */
    s.expires_ms = 1704211200000LL;
    s.note = (char *)"breakout \"retest\"\nline 2 \xc3\xa9";
    s.status = SIGNAL_CANCELLED;
    deliver_signal_body(&s, &sb);
    assert_non_null(strstr(sb.buf, "\"direction\":\"short\""));
    assert_non_null(strstr(sb.buf, "\"entry\":\"0.00000001\""));
    assert_non_null(strstr(sb.buf, "\"expires_at\":\"2024-01-02T16:00:00Z\""));
    assert_non_null(strstr(sb.buf, "\"note\":\"breakout \\\"retest\\\"\\nline 2 \xc3\xa9\""));
    assert_non_null(strstr(sb.buf, "\"status\":\"cancelled\""));
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_attempts_and_backoff),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_signal_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
