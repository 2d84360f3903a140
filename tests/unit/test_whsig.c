/* SPDX-License-Identifier: MIT */
/*
 * Standard Webhooks signatures: the test vector the specification's
 * reference libraries publish, a raw (unprefixed) secret and binary key
 * bytes checked against Python's hmac, the base64 vectors of RFC 4648,
 * secrets that are refused (and never quoted back), and verification of
 * multi-signature headers, tampered bodies, ids and timestamps.
 */
#include "testutil.h"

#include "signal/whsig.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <string.h>

#include "util/banned.h"

/* From the standard-webhooks reference libraries' tests (libraries/go/webhook_test.go). */
#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID     "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS     1614265330
#define SPEC_BODY   "{\"test\": 2432232314}"
#define SPEC_SIG    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void test_spec_vector(void **state)
{
    struct whsig_key key;
    struct strbuf err = STRBUF_INIT, sig = STRBUF_INIT;
    (void)state;

    assert_int_equal(whsig_key_parse(SPEC_SECRET, &key, &err), 0);
    assert_int_equal(key.len, 24); /* 32 base64 characters */
    whsig_sign(&key, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), &sig);
    assert_string_equal(sig.buf, SPEC_SIG);
    assert_true(whsig_verify(&key, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY), SPEC_SIG));
    strbuf_release(&sig);
    strbuf_release(&err);
}

/* Expected values computed with Python: base64.b64encode(hmac.new(key, msg, sha256).digest()). */
static void test_raw_secret_and_binary_key(void **state)
{
    struct whsig_key key;
    struct strbuf err = STRBUF_INIT, sig = STRBUF_INIT;
    const char *body = "{\"a\":\"b\"}";
    (void)state;

    /* Without the prefix the secret's bytes are the key. */
    assert_int_equal(whsig_key_parse("my plain secret", &key, &err), 0);
    assert_int_equal(key.len, strlen("my plain secret"));
    whsig_sign(&key, "sig_01", 1700000000, body, strlen(body), &sig);
    assert_string_equal(sig.buf, "v1,VAK+w5a83qnCXCkpN/K9tz8jj17U9q7Ic2+K96JtrgI=");

    /* whsec_/wAB is the three bytes ff 00 01, a NUL among them. */
    assert_int_equal(whsig_key_parse("whsec_/wAB", &key, &err), 0);
    assert_int_equal(key.len, 3);
    assert_memory_equal(key.bytes, "\xff\x00\x01", 3);
    strbuf_reset(&sig);
    whsig_sign(&key, "x", 0, "", 0, &sig);
    assert_string_equal(sig.buf, "v1,q4Hvy+q8fsqfcjLkLEB8HtuwgO38KtN4oQ31CKfSgcs=");
    strbuf_release(&sig);
    strbuf_release(&err);
}

static void test_base64_rfc4648(void **state)
{
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct strbuf sb = STRBUF_INIT;
        unsigned char out[16];
        size_t n = 99;
        whsig_base64_encode((const unsigned char *)v[i].plain, strlen(v[i].plain), &sb);
        assert_string_equal(sb.buf, v[i].enc);
        assert_int_equal(whsig_base64_decode(v[i].enc, strlen(v[i].enc), out, sizeof(out), &n), 0);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(out, v[i].plain, n);
        strbuf_release(&sb);
    }
}

static void test_base64_rejects(void **state)
{
    static const char *const bad[] = {
        "Zg=",       /* padding that does not complete a quantum */
        "Zg===",     /* too much padding */
        "Z",         /* a lone sextet is no byte */
        "Zh==",      /* non-zero bits after the last byte */
        "Zm9v YmFy", /* whitespace */
        "Zm9v\n",    /* a newline */
        "Zm9v-_",    /* the URL-safe alphabet */
        "Zm=v",      /* padding in the middle */
        "Zm9vYmFy=", /* padding after a full quantum */
    };
    unsigned char out[16];
    size_t n;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(whsig_base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         CK_EPARSE);
    /* Unpadded input is accepted. */
    assert_int_equal(whsig_base64_decode("Zg", 2, out, sizeof(out), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(whsig_base64_decode("Zm9vYmFy", 8, out, 5, &n), CK_ELIMIT);
}

static void test_bad_secrets(void **state)
{
    static const char *const bad[] = {
        "",
        "whsec_",
        "whsec_not base64!",
        "whsec_c2VjcmV0c2VjcmV0c2VjcmV0cw=",
        "whsec_s3cr3t-with-dash",
    };
    struct whsig_key key;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct strbuf err = STRBUF_INIT;
        assert_int_equal(whsig_key_parse(bad[i], &key, &err), CK_EINVAL);
        assert_true(err.len > 0);
        /* The reason never repeats the secret. */
        if (strlen(bad[i]) > 6)
            assert_null(strstr(err.buf, bad[i] + 6));
        assert_int_equal(key.len, 0);
        strbuf_release(&err);
    }
    {
        struct strbuf err = STRBUF_INIT;
        assert_int_equal(whsig_key_parse(NULL, &key, &err), CK_EINVAL);
        strbuf_release(&err);
    }

    /* A key over the maximum, as text and as base64. */
    {
        char big[WHSIG_KEY_MAX + 2];
        struct strbuf err = STRBUF_INIT, enc = STRBUF_INIT;
        unsigned char raw[WHSIG_KEY_MAX + 1];
        memset(big, 'k', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(whsig_key_parse(big, &key, &err), CK_EINVAL);
        memset(raw, 7, sizeof(raw));
        strbuf_addstr(&enc, "whsec_");
        whsig_base64_encode(raw, sizeof(raw), &enc);
        strbuf_reset(&err);
        assert_int_equal(whsig_key_parse(enc.buf, &key, &err), CK_EINVAL);
        assert_non_null(strstr(err.buf, "more than"));
        strbuf_release(&enc);
        strbuf_release(&err);
    }
}

static void test_verify(void **state)
{
    struct whsig_key key, other;
    struct strbuf err = STRBUF_INIT, hdr = STRBUF_INIT;
    const char *body = SPEC_BODY;
    size_t len = strlen(body);
    (void)state;

    assert_int_equal(whsig_key_parse(SPEC_SECRET, &key, &err), 0);
    assert_int_equal(whsig_key_parse("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", &other, &err), 0);

    /* A rotated secret: the receiver finds the one signature it can check among several. */
    strbuf_addstr(&hdr, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ");
    strbuf_addstr(&hdr, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= ");
    strbuf_addstr(&hdr, SPEC_SIG);
    strbuf_addstr(&hdr, " v1a,abcd");
    assert_true(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len, hdr.buf));

    /* Anything changed is refused. */
    assert_false(whsig_verify(&other, SPEC_ID, SPEC_TS, body, len, SPEC_SIG));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS + 1, body, len, SPEC_SIG));
    assert_false(whsig_verify(&key, "msg_p5jXN8AQM9LWM0D4loKWxJeK", SPEC_TS, body, len, SPEC_SIG));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, "{\"test\": 2432232315}", len, SPEC_SIG));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len - 1, SPEC_SIG));
    /* The right signature under another version, truncated, or absent. */
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len,
                              "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len,
                              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O"));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len, ""));
    assert_false(whsig_verify(&key, SPEC_ID, SPEC_TS, body, len, "v1,"));
    strbuf_release(&hdr);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vector),    cmocka_unit_test(test_raw_secret_and_binary_key),
        cmocka_unit_test(test_base64_rfc4648), cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_bad_secrets),    cmocka_unit_test(test_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
