/* SPDX-License-Identifier: MIT */
/* The secret redactor: values, sets, URLs, the registry and the shapes of credentials. */
#include "testutil.h"

#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

static void redacts(const char *in, const char *want)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, in);
    redact_message(&sb);
    assert_string_equal(sb.buf, want);
    strbuf_release(&sb);
}

static void test_shapes(void **state)
{
    (void)state;
    redact_clear_secrets();
    redacts("GET https://api.twelvedata.com/time_series?symbol=XAU%2FUSD&apikey=abc123def",
            "GET https://api.twelvedata.com/time_series?symbol=XAU%2FUSD&apikey=***");
    redacts("Authorization: apikey abc123def", "Authorization: apikey ***");
    redacts("Authorization: Bearer s3cr3t-token", "Authorization: Bearer ***");
    redacts("url https://api.telegram.org/bot123456:AAE-xyz/sendMessage failed",
            "url https://api.telegram.org/bot***/sendMessage failed");
    redacts("store: cannot open 'postgresql://ck:hunter22@db:5432/ck'",
            "store: cannot open 'postgresql://ck:***@db:5432/ck'");
    redacts("token=\"abcd\" other=1", "token=\"***\" other=1");
    redacts("{\"secret\": \"whsec_abc\"}", "{\"secret\": \"***\"}");
    /* Words that merely contain a key name are left alone. */
    redacts("tokens=5 mytoken=1 apikeys: none", "tokens=5 mytoken=1 apikeys: none");
    redacts("nothing secret here", "nothing secret here");
    /* Redacting twice changes nothing more. */
    redacts("apikey=*** and postgresql://ck:***@db/ck", "apikey=*** and postgresql://ck:***@db/ck");
}

static void test_registry(void **state)
{
    (void)state;
    redact_clear_secrets();
    redact_add_secret("sup3rs3cr3tkey");
    redact_add_secret("abc"); /* too short to mask safely: ignored */
    redact_add_secret(NULL);
    redacts("provider said: key sup3rs3cr3tkey is invalid", "provider said: key *** is invalid");
    redacts("abc is fine", "abc is fine");
    /* Longest first: a secret that contains another is masked whole. */
    redact_add_secret("sup3rs3cr3tkey-and-more");
    redacts("echo sup3rs3cr3tkey-and-more", "echo ***");
    /* The password of a URL, as written and percent-decoded. */
    redact_add_url_secrets("postgresql://ck:p%40ssw0rd@db/ck", 0);
    redacts("auth failed for p@ssw0rd and p%40ssw0rd", "auth failed for *** and ***");
    redact_clear_secrets();
    redacts("provider said: key sup3rs3cr3tkey is invalid",
            "provider said: key sup3rs3cr3tkey is invalid");
}

static void test_url(void **state)
{
    static const struct {
        const char *in;
        unsigned flags;
        const char *want;
    } cases[] = {
        {"postgresql://ck:s3cret@db.example:5432/candles", 0,
         "postgresql://ck:***@db.example:5432/candles"},
        {"postgres://ck:p%40ss@localhost/ck", 0, "postgres://ck:***@localhost/ck"},
        {"postgresql://ck@localhost/ck?password=hunter2&sslmode=require", 0,
         "postgresql://ck@localhost/ck?password=***&sslmode=require"},
        {"postgresql://ck@localhost/ck", 0, "postgresql://ck@localhost/ck"},
        /* An unencoded '@' in the password: masked up to the last '@'. */
        {"postgresql://ck:pa@ss@db/ck", 0, "postgresql://ck:***@db/ck"},
        {"sqlite:/var/lib/candlekeep/ck.db", 0, "sqlite:/var/lib/candlekeep/ck.db"},
        {"https://api.twelvedata.com", 0, "https://api.twelvedata.com"},
        {"https://user:pw1234@hooks.example/x?token=abc", 0,
         "https://user:***@hooks.example/x?token=***"},
        /* Ping URLs and incoming webhooks: the path and query are the secret. */
        {"https://hc-ping.com/0f1e2d3c-uuid-path", REDACT_URL_PATH, "https://hc-ping.com/***"},
        {"https://hooks.slack.com/services/T0/B0/XyZ", REDACT_URL_PATH,
         "https://hooks.slack.com/***"},
        {"https://u:pw9999@ping.example:8443/p?k=v", REDACT_URL_PATH,
         "https://u:***@ping.example:8443/***"},
        {"https://ping.example/", REDACT_URL_PATH, "https://ping.example/"},
        {"https://ping.example", REDACT_URL_PATH, "https://ping.example"},
        {"", 0, ""},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *r = redact_url(cases[i].in, cases[i].flags);
        if (strcmp(r, cases[i].want))
            fail_msg("case %zu: '%s' gave '%s', want '%s'", i, cases[i].in, r, cases[i].want);
        free(r);
    }
    char *r = redact_url(NULL, 0);
    assert_string_equal(r, "");
    free(r);
}

static bool set_has(const struct redact_set *set, const char *v)
{
    for (size_t i = 0; i < set->n; i++)
        if (!strcmp(set->v[i], v))
            return true;
    return false;
}

static void test_set(void **state)
{
    struct redact_set set = REDACT_SET_INIT;
    struct strbuf sb = STRBUF_INIT;
    (void)state;

    /* A database URL: only the passwords, never the host or the database. */
    redact_set_add_url(&set, "postgresql://ck:p%40ss@db/ck?password=qq7&sslmode=require", 0);
    assert_true(set_has(&set, "p%40ss"));
    assert_true(set_has(&set, "p@ss"));
    assert_true(set_has(&set, "qq7"));
    assert_false(set_has(&set, "db"));
    assert_false(set_has(&set, "ck"));
    redact_set_release(&set);
    assert_int_equal(set.n, 0);

    /* A malformed URL: the password up to the last '@' and its pieces. */
    redact_set_add_url(&set, "postgresql://ck:abc@defg@db/ck", 0);
    assert_true(set_has(&set, "abc"));
    assert_true(set_has(&set, "abc@defg"));
    assert_true(set_has(&set, "defg"));
    redact_set_release(&set);

    /* An incoming webhook: the URL, its path, long segments, query and values. */
    redact_set_add_url(&set, "https://hooks.example/services/T0KENSEGMENT99/x?token=s3cr3t-hook",
                       REDACT_URL_PATH);
    assert_true(set_has(&set, "T0KENSEGMENT99"));
    assert_true(set_has(&set, "s3cr3t-hook"));
    assert_true(set_has(&set, "token=s3cr3t-hook"));
    assert_true(set_has(&set, "/services/T0KENSEGMENT99/x"));
    assert_false(set_has(&set, "x"));
    /* Longest first. */
    for (size_t i = 1; i < set.n; i++)
        assert_true(strlen(set.v[i - 1]) >= strlen(set.v[i]));
    strbuf_addstr(&sb, "bad token s3cr3t-hook for /hook/T0KENSEGMENT99");
    redact_set_apply(&set, &sb);
    assert_string_equal(sb.buf, "bad token *** for /hook/***");
    redact_set_release(&set);
    strbuf_release(&sb);
}

static void test_value(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    (void)state;

    strbuf_addstr(&sb, "k=KEY1 again KEY1.");
    redact_value(&sb, "KEY1");
    assert_string_equal(sb.buf, "k=*** again ***.");
    redact_value(&sb, NULL);
    redact_value(&sb, "");
    assert_string_equal(sb.buf, "k=*** again ***.");

    /* Fill keeps the length, so excerpts taken later cannot cut a key in half. */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "{\"message\": \"bad key KEY1\"}");
    redact_value_fill(&sb, "KEY1");
    assert_string_equal(sb.buf, "{\"message\": \"bad key ****\"}");
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes), cmocka_unit_test(test_registry), cmocka_unit_test(test_url),
        cmocka_unit_test(test_set),    cmocka_unit_test(test_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
