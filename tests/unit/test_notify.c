/* SPDX-License-Identifier: MIT */
/*
 * The operator channels (alert/notify.c, telegram.c, webhook.c).
 *
 * Rendering and splitting are checked on their own; everything that goes
 * over the wire takes the real libcurl path to the fake Bot API
 * (tests/helpers/fake_telegram.py, started once for the group), which
 * refuses what Telegram refuses (HTML it cannot parse, a text over 4096
 * characters after parsing, a wrong token) and plays the failures asked of
 * it. Pacing runs on a fake clock that records every sleep; the fake Bot
 * API keeps the same time and applies Telegram's flood control to it, so a
 * sender that paced wrongly would be answered 429. Every error message is
 * checked for the bot token and the webhook URL's secrets.
 */
#include "testutil.h"

#include "alert/notify.h"
#include "alert/notify_internal.h"
#include "ck/settings.h"
#include "net/http.h"
#include "resilience/retry.h"
#include "util/config.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN       "424242:AAE-fake_SECRET-token"
#define WRONG_TOKEN "999:WRONG-bot-token"
#define HOOK_SECRET "s3cr3t-hook-value"
#define HOOK_SEG    "T0KENSEGMENT99"
#define T0          1704207600 /* 2024-01-02T15:00:00Z */

#define RED    "\xF0\x9F\x94\xB4"
#define ORANGE "\xF0\x9F\x9F\xA0"
#define BLUE   "\xF0\x9F\x94\xB5"
#define CHECK  "\xE2\x9C\x85"
#define REPEAT "\xF0\x9F\x94\x81"
#define TUBE   "\xF0\x9F\xA7\xAA"

static struct test_fake fake = {.pid = -1};

/* ------------------------------------------------------------------ helpers */

/*
 * A clock that only moves when slept on, and remembers each sleep. Each
 * reading is passed on to the fake Bot API, whose flood control then sees
 * the times the sender paced by.
 */
struct fake_clock {
    int64_t now;
    int64_t sleeps[64];
    size_t nsleeps;
    bool stop;
};

static int64_t fc_now(void *arg)
{
    int64_t now = ((struct fake_clock *)arg)->now;

    test_fake_post(&fake, "/__control", json_pack("{s:f}", "now", (double)now / 1000));
    return now;
}

static bool fc_sleep(void *arg, int64_t ms)
{
    struct fake_clock *c = arg;
    if (c->stop)
        return false;
    if (c->nsleeps < ARRAY_SIZE(c->sleeps))
        c->sleeps[c->nsleeps++] = ms;
    c->now += ms;
    return true;
}

#define FAKE_CLOCK(fc)                                                                             \
    {                                                                                              \
        .now_ms = fc_now, .sleep_ms = fc_sleep, .arg = (fc)                                        \
    }

static void no_secrets(const char *s)
{
    static const char *const secrets[] = {TOKEN,       "fake_SECRET", WRONG_TOKEN,
                                          "WRONG-bot", HOOK_SECRET,   HOOK_SEG};
    for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
        if (strstr(s, secrets[i]))
            fail_msg("a secret (%s) leaked into a message: %s", secrets[i], s);
}

static struct notify_channel *telegram_at(const char *token, const char *chat,
                                          const struct retry_clock *clock, long timeout_ms)
{
    struct telegram_config cfg = {
        .bot_token = token,
        .chat_id = chat,
        .base_url = fake.url,
        .clock = clock,
        .timeout_ms = timeout_ms ? timeout_ms : 10000,
    };
    struct strbuf err = STRBUF_INIT;
    struct notify_channel *ch = NULL;

    if (notify_telegram_new(&cfg, &ch, &err))
        fail_msg("notify_telegram_new: %s", err.buf);
    strbuf_release(&err);
    return ch;
}

static struct notify_channel *webhook_at(const char *url, long timeout_ms)
{
    struct webhook_config cfg = {.url = url, .timeout_ms = timeout_ms ? timeout_ms : 10000};
    struct strbuf err = STRBUF_INIT;
    struct notify_channel *ch = NULL;

    if (notify_webhook_new(&cfg, &ch, &err))
        fail_msg("notify_webhook_new: %s", err.buf);
    strbuf_release(&err);
    return ch;
}

/* Channels made one at a time are freed one at a time (notify_channels_free() takes the array). */
static void channel_free(struct notify_channel *ch)
{
    ch->ops->free(ch);
}

/* notify_send() with the checks every send gets: no secret in `err`, a message iff it failed. */
static int send_msg(struct notify_channel *ch, const struct notify_msg *m,
                    struct notify_result *out, struct strbuf *err)
{
    int rc;

    strbuf_reset(err);
    rc = notify_send(ch, m, out, err);
    no_secrets(err->buf);
    if (rc)
        assert_true(err->len > 0);
    else
        assert_int_equal(err->len, 0);
    assert_true(out->parts_done <= out->parts_total);
    return rc;
}

static void control(const char *json)
{
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    if (!j)
        fail_msg("bad control JSON in the test: %s", jerr.text);
    test_fake_post(&fake, "/__control", j);
}

static void reset(void)
{
    test_fake_post(&fake, "/__reset", NULL);
}

static json_t *recorded(const char *what)
{
    return test_fake_get_json(&fake, what);
}

static size_t count_recorded(const char *what)
{
    json_t *j = recorded(what);
    size_t n = json_array_size(j);
    json_decref(j);
    return n;
}

static const char *field(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        fail_msg("field '%s' is missing or not a string", name);
    return json_string_value(v);
}

static void render(const struct notify_msg *m, struct strbuf *out)
{
    strbuf_reset(out);
    notify_telegram_render(m, out);
}

/*
 * Is `s` well-formed for Telegram: valid UTF-8, only the entities the
 * renderer writes, b/i/code/pre tags balanced and nested.
 */
static bool well_formed(const char *s)
{
    const char *names[16];
    size_t lens[16], n = 0, len = strlen(s);
    static const char *const entities[] = {"&lt;", "&gt;", "&amp;", "&quot;"};

    for (size_t i = 0; i < len;) {
        if (s[i] == '<') {
            const char *e = strchr(s + i, '>');
            bool closing = s[i + 1] == '/';
            const char *name = s + i + 1 + closing;
            size_t nlen;
            if (!e)
                return false;
            nlen = strcspn(name, " >");
            if (closing) {
                if (!n || lens[n - 1] != nlen || memcmp(names[n - 1], name, nlen))
                    return false;
                n--;
            } else {
                if (n == ARRAY_SIZE(names))
                    return false;
                if (!((nlen == 1 && (*name == 'b' || *name == 'i')) ||
                      (nlen == 4 && !memcmp(name, "code", 4)) ||
                      (nlen == 3 && !memcmp(name, "pre", 3))))
                    return false;
                names[n] = name, lens[n++] = nlen;
            }
            i = (size_t)(e - s) + 1;
        } else if (s[i] == '&') {
            size_t k = 0;
            while (k < ARRAY_SIZE(entities) && strncmp(s + i, entities[k], strlen(entities[k])))
                k++;
            if (k == ARRAY_SIZE(entities))
                return false;
            i += strlen(entities[k]);
        } else if (s[i] == '>') {
            return false; /* the renderer escapes every '>' */
        } else {
            uint32_t cp;
            size_t k = notify_utf8_next(s + i, len - i, &cp);
            if (cp == 0xFFFD && k == 1)
                return false;
            i += k;
        }
    }
    return n == 0;
}

/* `s` without tags and line breaks (entities left as they are). */
static void add_stripped(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') {
            s = strchr(s, '>');
            continue;
        }
        if (*s != '\n')
            strbuf_addch(sb, *s);
    }
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0, nl = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += nl)
        n++;
    return n;
}

/* ------------------------------------------------------------------ group */

static int setup(void **state)
{
    static const char *const args[] = {"--token", TOKEN, NULL};
    struct strbuf err = STRBUF_INIT;

    (void)state;
    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return -1;
    }
    strbuf_release(&err);
    return test_fake_start(&fake, "fake_telegram.py", args);
}

static int teardown(void **state)
{
    (void)state;
    test_fake_stop(&fake);
    return 0;
}

static int each(void **state)
{
    (void)state;
    reset();
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_severity(void **state)
{
    enum notify_severity s;

    (void)state;
    assert_string_equal(notify_severity_name(NOTIFY_INFO), "info");
    assert_string_equal(notify_severity_name(NOTIFY_WARNING), "warning");
    assert_string_equal(notify_severity_name(NOTIFY_CRITICAL), "critical");
    for (int i = NOTIFY_INFO; i <= NOTIFY_CRITICAL; i++) {
        assert_int_equal(notify_severity_parse(notify_severity_name((enum notify_severity)i), &s),
                         0);
        assert_int_equal(s, i);
    }
    assert_int_equal(notify_severity_parse("CRITICAL", &s), 0);
    assert_int_equal(s, NOTIFY_CRITICAL);
    assert_int_equal(notify_severity_parse("warn", &s), 0);
    assert_int_equal(s, NOTIFY_WARNING);
    assert_int_equal(notify_severity_parse("fatal", &s), CK_EINVAL);
    assert_int_equal(notify_severity_parse("", &s), CK_EINVAL);
    assert_int_equal(notify_severity_parse(NULL, &s), CK_EINVAL);
}

/* `<b>&"x"</b>` in the title, the details and the key: escaped, and read back as typed. */
static void test_render_escapes(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct notify_msg m = {.key = "job:<x>&y",
                           .severity = NOTIFY_CRITICAL,
                           .state = "firing",
                           .title = "<b>&\"x\"</b>",
                           .details = "<b>&\"x\"</b>",
                           .time = T0};
    struct notify_result res;
    struct strbuf html = STRBUF_INIT, err = STRBUF_INIT;
    json_t *msgs, *msg;

    (void)state;
    render(&m, &html);
    assert_string_equal(html.buf, RED " <b>FIRING</b> [critical] "
                                      "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;\n"
                                      "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;\n"
                                      "<i>key</i> <code>job:&lt;x&gt;&amp;y</code>\n"
                                      "<i>time</i> 2024-01-02T15:00:00Z");
    assert_true(well_formed(html.buf));

    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.parts_done, 1);
    assert_int_equal(res.parts_total, 1);
    msgs = recorded("/__messages");
    assert_int_equal(json_array_size(msgs), 1);
    msg = json_array_get(msgs, 0);
    assert_string_equal(field(msg, "text"), html.buf);
    assert_string_equal(field(msg, "parse_mode"), "HTML");
    /* Link previews off, by the parameter Bot API 7.0 has for it. */
    assert_true(
        json_is_true(json_object_get(json_object_get(msg, "link_preview_options"), "is_disabled")));
    assert_string_equal(field(msg, "preview_parameter"), "link_preview_options");
    assert_int_equal(json_integer_value(json_object_get(msg, "chat_id")), 12345);
    assert_string_equal(field(msg, "plain"), RED " FIRING [critical] <b>&\"x\"</b>\n"
                                                 "<b>&\"x\"</b>\n"
                                                 "key job:<x>&y\n"
                                                 "time 2024-01-02T15:00:00Z");
    json_decref(msgs);
    channel_free(ch);
    strbuf_release(&html);
    strbuf_release(&err);
}

struct render_case {
    const char *state;
    enum notify_severity sev;
    const char *title, *details, *key;
    int64_t time;
    const char *expect;
};

static void test_render_states(void **state)
{
    static const struct render_case cases[] = {
        {"resolved", NOTIFY_CRITICAL, "Ingest works again", "", "job:a", T0,
         CHECK " <b>RESOLVED</b> Ingest works again\n<i>key</i> <code>job:a</code>\n"
               "<i>time</i> 2024-01-02T15:00:00Z"},
        {"reminder", NOTIFY_WARNING, "Still failing", NULL, "", 0,
         REPEAT " <b>STILL FIRING</b> [warning] Still failing"},
        {"test", NOTIFY_INFO, "Hello", "one line", "", 0,
         TUBE " <b>TEST</b> [info] Hello\none line"},
        {"firing", NOTIFY_WARNING, "Slow", "\n\n  first\n  second\n\n", "", 0,
         ORANGE " <b>FIRING</b> [warning] Slow\n<pre>  first\n  second</pre>"},
        {"we<ird", NOTIFY_INFO, "t", "", "", 0, BLUE " <b>WE&lt;IRD</b> [info] t"},
        {"", NOTIFY_INFO, "", "", "", 0, BLUE " <b>NOTICE</b> [info]"},
        /* Invalid UTF-8 and control characters: U+FFFD; CR dropped; tabs kept. */
        {"firing", NOTIFY_CRITICAL, "bad \xff byte", "a\r\nb\x01\tc", "", 0,
         RED " <b>FIRING</b> [critical] bad \xEF\xBF\xBD byte\n<pre>a\nb\xEF\xBF\xBD\tc</pre>"},
    };
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct strbuf html = STRBUF_INIT, err = STRBUF_INIT;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        const struct render_case *c = &cases[i];
        struct notify_msg m = {.key = c->key,
                               .severity = c->sev,
                               .state = c->state,
                               .title = c->title,
                               .details = c->details,
                               .time = c->time};
        struct notify_result res;
        render(&m, &html);
        if (strcmp(html.buf, c->expect))
            fail_msg("case %zu: rendered\n%s\nexpected\n%s", i, html.buf, c->expect);
        assert_true(well_formed(html.buf));
        /* The fake parses it as Telegram would, or the send fails. */
        if (send_msg(ch, &m, &res, &err))
            fail_msg("case %zu: %s", i, err.buf);
    }
    assert_int_equal(count_recorded("/__messages"), ARRAY_SIZE(cases));
    channel_free(ch);
    strbuf_release(&html);
    strbuf_release(&err);
}

/* The splitter on its own, with a small limit: every part fits, is well-formed, nothing is lost. */
static void test_split(void **state)
{
    struct strbuf html = STRBUF_INIT, whole = STRBUF_INIT, joined = STRBUF_INIT;
    char **parts = NULL;
    size_t n;

    (void)state;
    strbuf_addstr(&html, RED " <b>FIRING</b> [critical] a title that is long enough\n<pre>");
    for (int i = 0; i < 12; i++)
        strbuf_addf(&html, "row %02d &lt;x&gt; &amp; " RED "\n", i);
    /* One line far over the limit: entities and 4-byte characters where a cut may fall. */
    for (int i = 0; i < 40; i++)
        strbuf_addstr(&html, "ab&amp;" RED "&quot;");
    strbuf_addstr(&html, "\nlast</pre>\n<i>key</i> <code>job:x</code>");

    for (size_t limit = 40; limit <= 90; limit += 7) {
        n = notify_telegram_split(html.buf, html.len, limit, &parts);
        assert_true(n >= 3);
        strbuf_reset(&whole);
        strbuf_reset(&joined);
        add_stripped(&whole, html.buf);
        for (size_t i = 0; i < n; i++) {
            size_t units = notify_utf16_len(parts[i], strlen(parts[i]));
            if (units > limit)
                fail_msg("limit %zu: part %zu has %zu units: %s", limit, i, units, parts[i]);
            if (!well_formed(parts[i]))
                fail_msg("limit %zu: part %zu is not well-formed: %s", limit, i, parts[i]);
            add_stripped(&joined, parts[i]);
            free(parts[i]);
        }
        free(parts);
        assert_string_equal(joined.buf, whole.buf);
    }

    /* A document that fits is one part, unchanged. */
    n = notify_telegram_split(html.buf, html.len, 100000, &parts);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0], html.buf);
    free(parts[0]);
    free(parts);

    /* Line breaks are preferred: "aaaa\nbbbb" in 6 units is two whole lines. */
    n = notify_telegram_split("<b>aaaa\nbbbb</b>", 16, 13, &parts);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0], "<b>aaaa</b>");
    assert_string_equal(parts[1], "<b>bbbb</b>");
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);

    /* Whitespace-only parts are left out. */
    n = notify_telegram_split("aaaa\n    \n    \nbbbb", 19, 5, &parts);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0], "aaaa");
    assert_string_equal(parts[1], "bbbb");
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    strbuf_release(&html);
    strbuf_release(&whole);
    strbuf_release(&joined);
}

/* About 10,000 characters of details in a <pre> block, with a line longer than a message. */
static void long_message(struct strbuf *details)
{
    strbuf_reset(details);
    for (int i = 0; i < 150; i++)
        strbuf_addf(details, "line %03d: <%d> & \"quoted\" " RED " ...................\n", i, i);
    for (int i = 0; i < 5000; i++)
        strbuf_addch(details, 'z');
    strbuf_addstr(details, "\nthe end\n");
}

static void test_long_message_split(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct strbuf details = STRBUF_INIT, err = STRBUF_INIT, plain = STRBUF_INIT;
    struct notify_msg m = {.key = "job:digest",
                           .severity = NOTIFY_INFO,
                           .state = "digest",
                           .title = "Daily digest",
                           .time = T0};
    struct notify_result res;
    json_t *msgs;
    size_t n, pos = 0, zs = 0;

    (void)state;
    long_message(&details);
    m.details = details.buf;
    assert_true(details.len > 10000);
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_true(res.parts_total >= 3);
    assert_int_equal(res.parts_done, res.parts_total);

    msgs = recorded("/__messages");
    n = json_array_size(msgs);
    assert_int_equal(n, (size_t)res.parts_total);
    for (size_t i = 0; i < n; i++) {
        const char *text = field(json_array_get(msgs, i), "text");
        const char *p = field(json_array_get(msgs, i), "plain");
        assert_true(notify_utf16_len(text, strlen(text)) <= TELEGRAM_MAX_TEXT);
        assert_true(well_formed(text));
        /* The <pre> block spans every part: closed at each cut, reopened after. */
        if (i > 0)
            assert_true(!strncmp(text, "<pre>", 5));
        if (i + 1 < n)
            assert_true(strlen(text) > 6 && !strcmp(text + strlen(text) - 6, "</pre>"));
        zs += count_of(p, "z");
        strbuf_addstr(&plain, p);
        strbuf_addch(&plain, '\n');
    }
    assert_true(!strncmp(field(json_array_get(msgs, 0), "plain"), "\xF0\x9F\x93\x8B DIGEST", 11));
    /* In order, each line once; the long line cut but complete. */
    for (int i = 0; i < 150; i++) {
        char want[64];
        const char *hit;
        snprintf(want, sizeof(want), "line %03d: <%d> & \"quoted\"", i, i);
        hit = strstr(plain.buf + pos, want);
        if (!hit)
            fail_msg("'%s' is missing or out of order", want);
        assert_int_equal(count_of(plain.buf, want), 1);
        pos = (size_t)(hit - plain.buf);
    }
    assert_int_equal(zs, 5000);
    assert_non_null(strstr(plain.buf, "the end\nkey job:digest\ntime 2024-01-02T15:00:00Z"));
    /* One message a second to the chat: a sleep of a second before each later part. */
    assert_int_equal(fc.nsleeps, n - 1);
    for (size_t i = 0; i < fc.nsleeps; i++)
        assert_int_equal(fc.sleeps[i], 1000);

    json_decref(msgs);
    channel_free(ch);
    strbuf_release(&details);
    strbuf_release(&err);
    strbuf_release(&plain);
}

/* A failure in the middle: parts_done says how far it got, and a retry sends only the rest. */
static void test_parts_done_retry(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct strbuf details = STRBUF_INIT, err = STRBUF_INIT, html = STRBUF_INIT;
    struct notify_msg m = {.key = "k", .severity = NOTIFY_INFO, .state = "digest", .title = "D"};
    struct notify_result res;
    char **parts;
    size_t n;
    json_t *msgs;

    (void)state;
    long_message(&details);
    m.details = details.buf;
    render(&m, &html);
    n = notify_telegram_split(html.buf, html.len, TELEGRAM_MAX_TEXT, &parts);
    assert_true(n >= 3);

    control("{\"fail\": [{\"kind\": \"error\", \"error_code\": 502, \"after\": 1}]}");
    assert_int_equal(send_msg(ch, &m, &res, &err), CK_EUPSTREAM);
    assert_true(res.retryable);
    assert_int_equal(res.status, 502);
    assert_int_equal(res.parts_done, 1);
    assert_int_equal(res.parts_total, (int)n);
    assert_non_null(strstr(err.buf, "part 2 of"));
    assert_int_equal(count_recorded("/__messages"), 1);

    m.parts_done = res.parts_done;
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_int_equal(res.parts_done, (int)n);
    msgs = recorded("/__messages");
    assert_int_equal(json_array_size(msgs), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(field(json_array_get(msgs, i), "text"), parts[i]);
    json_decref(msgs);

    /* Everything already delivered: nothing is sent. */
    m.parts_done = (int)n;
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_int_equal(res.parts_done, (int)n);
    assert_int_equal(count_recorded("/__messages"), n);

    for (size_t i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    channel_free(ch);
    strbuf_release(&details);
    strbuf_release(&err);
    strbuf_release(&html);
}

static const struct notify_msg simple = {
    .key = "job:refresh_candles_M15",
    .severity = NOTIFY_CRITICAL,
    .state = "firing",
    .title = "refresh_candles_M15 failed 3 times in a row",
    .details = "twelvedata XAU/USD M15: provider failure (HTTP 502)",
    .time = T0,
};

static void test_telegram_429(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    control("{\"fail\": [{\"kind\": \"429\", \"retry_after\": 5}]}");
    assert_int_equal(send_msg(ch, &simple, &res, &err), CK_ELIMIT);
    assert_true(res.retryable);
    assert_int_equal(res.status, 429);
    assert_int_equal(res.retry_after_ms, 5000);
    assert_int_equal(res.parts_done, 0);
    assert_int_equal(res.parts_total, 1);
    assert_non_null(strstr(err.buf, "Too Many Requests: retry after 5"));
    assert_int_equal(count_recorded("/__messages"), 0);
    /* The next attempt goes through. */
    assert_int_equal(send_msg(ch, &simple, &res, &err), 0);
    assert_int_equal(count_recorded("/__messages"), 1);
    channel_free(ch);
    strbuf_release(&err);
}

/*
 * Telegram's own flood control, not a queued failure: two channels to one
 * chat (two daemons) each pace themselves, but the chat sees both. The
 * second is answered 429 with retry_after; the result carries the wait,
 * and after it the message goes through.
 */
static void test_telegram_flood_control(void **state)
{
    struct fake_clock fc = {.now = 1000000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *a = telegram_at(TOKEN, "12345", &clock, 0);
    struct notify_channel *b = telegram_at(TOKEN, "12345", &clock, 0);
    struct notify_channel *ga = telegram_at(TOKEN, "-1001234567890", &clock, 0);
    struct notify_channel *gb = telegram_at(TOKEN, "-1001234567890", &clock, 0);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    assert_int_equal(send_msg(a, &simple, &res, &err), 0);
    fc.now += 300;
    assert_int_equal(send_msg(b, &simple, &res, &err), CK_ELIMIT);
    assert_true(res.retryable);
    assert_int_equal(res.status, 429);
    assert_int_equal(res.retry_after_ms, 1000);
    assert_int_equal(res.parts_done, 0);
    assert_non_null(strstr(err.buf, "Too Many Requests: retry after 1"));
    assert_int_equal(count_recorded("/__messages"), 1);
    fc.now += res.retry_after_ms;
    assert_int_equal(send_msg(b, &simple, &res, &err), 0);
    assert_int_equal(count_recorded("/__messages"), 2);

    /* A group: twenty a minute. Twenty from one channel, a second apart; the other's first,
     * a second after them, is the 21st in the minute and waits for the first to age out. */
    reset();
    fc.now += 100000;
    for (int i = 0; i < 20; i++)
        assert_int_equal(send_msg(ga, &simple, &res, &err), 0);
    fc.now += 1000;
    assert_int_equal(send_msg(gb, &simple, &res, &err), CK_ELIMIT);
    assert_true(res.retryable);
    assert_int_equal(res.status, 429);
    assert_int_equal(res.retry_after_ms, 40000);
    assert_int_equal(count_recorded("/__messages"), 20);
    fc.now += res.retry_after_ms;
    assert_int_equal(send_msg(gb, &simple, &res, &err), 0);
    assert_int_equal(count_recorded("/__messages"), 21);

    channel_free(a);
    channel_free(b);
    channel_free(ga);
    channel_free(gb);
    strbuf_release(&err);
}

/* Chats the bot may not post to, refused as Telegram refuses them: not retried. */
static void test_telegram_chat_refused(void **state)
{
    static const struct {
        const char *chat, *why;
        int rc;
        long status;
        const char *err_has;
    } cases[] = {
        {"-1001234567890", "kicked", CK_EAUTH, 403,
         "Forbidden: bot was kicked from the supergroup chat"},
        {"-4242", "kicked", CK_EAUTH, 403, "Forbidden: bot was kicked from the group chat"},
        {"12345", "blocked", CK_EAUTH, 403, "Forbidden: bot was blocked by the user"},
        {"@ck_alerts", "not_member", CK_EAUTH, 403,
         "Forbidden: bot is not a member of the channel chat"},
        {"777", "not_found", CK_EINVAL, 400, "Bad Request: chat not found"},
    };
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct notify_channel *ch = telegram_at(TOKEN, cases[i].chat, &clock, 0);
        reset();
        test_fake_post(&fake, "/__control",
                       json_pack("{s:{s:s}}", "chats", cases[i].chat, cases[i].why));
        assert_int_equal(send_msg(ch, &simple, &res, &err), cases[i].rc);
        assert_false(res.retryable);
        assert_int_equal(res.status, cases[i].status);
        assert_int_equal(res.retry_after_ms, -1);
        if (!strstr(err.buf, cases[i].err_has))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.buf, cases[i].err_has);
        assert_int_equal(count_recorded("/__messages"), 0);
        channel_free(ch);
        fc.now += 1000;
    }
    strbuf_release(&err);
}

static void test_telegram_5xx_and_network(void **state)
{
    static const struct {
        const char *control;
        long status;
        const char *err_has;
    } cases[] = {
        {"{\"fail\": [{\"kind\": \"error\", \"error_code\": 500}]}", 500, "Internal Server Error"},
        {"{\"fail\": [{\"kind\": \"html\", \"error_code\": 502}]}", 502, "502 Bad Gateway"},
        {"{\"fail\": [{\"kind\": \"error\", \"error_code\": 503, \"headers\": {\"Retry-After\": "
         "\"9\"}}]}",
         503, "Service Unavailable"},
        /* Three: libcurl tries a request again, once, when a reused connection dies unanswered. */
        {"{\"fail\": [{\"kind\": \"drop\", \"times\": 3}]}", 0, "127.0.0.1"},
        {"{\"down\": true}", 0, "127.0.0.1"},
    };
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        reset();
        control(cases[i].control);
        assert_int_equal(send_msg(ch, &simple, &res, &err), CK_EUPSTREAM);
        assert_true(res.retryable);
        assert_int_equal(res.status, cases[i].status);
        if (!strstr(err.buf, cases[i].err_has))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.buf, cases[i].err_has);
        assert_true(!strncmp(err.buf, "telegram: ", 10));
        assert_int_equal(res.retry_after_ms, i == 2 ? 9000 : -1);
    }
    control("{\"down\": false}");
    assert_int_equal(send_msg(ch, &simple, &res, &err), 0);
    channel_free(ch);
    strbuf_release(&err);
}

static void test_telegram_refusals(void **state)
{
    static const struct {
        const char *control;
        int rc;
        long status;
        const char *err_has;
    } cases[] = {
        {"{\"fail\": [{\"error_code\": 403}]}", CK_EAUTH, 403, "Forbidden: bot was blocked"},
        {"{\"fail\": [{\"error_code\": 404}]}", CK_EAUTH, 404, "bot token refused"},
        {"{\"fail\": [{\"error_code\": 400, \"description\": \"Bad Request: can't parse "
         "entities: Unsupported start tag \\\"x\\\" at byte offset 3\"}]}",
         CK_EINVAL, 400, "can't parse entities"},
        {"{\"fail\": [{\"error_code\": 400, \"description\": \"Bad Request: group chat was "
         "upgraded to a supergroup chat\", \"parameters\": {\"migrate_to_chat_id\": "
         "-1001234567890}}]}",
         CK_EINVAL, 400, "set chat_id to it"},
    };
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct notify_channel *wrong = telegram_at(WRONG_TOKEN, "12345", &clock, 0);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;
    json_t *reqs;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        reset();
        control(cases[i].control);
        assert_int_equal(send_msg(ch, &simple, &res, &err), cases[i].rc);
        assert_false(res.retryable);
        assert_int_equal(res.status, cases[i].status);
        assert_int_equal(res.retry_after_ms, -1);
        if (!strstr(err.buf, cases[i].err_has))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.buf, cases[i].err_has);
    }

    /* A wrong token: the fake answers as Telegram does, and the message does not repeat it. */
    reset();
    assert_int_equal(send_msg(wrong, &simple, &res, &err), CK_EAUTH);
    assert_false(res.retryable);
    assert_int_equal(res.status, 401);
    assert_non_null(strstr(err.buf, "bot token refused (HTTP 401): Unauthorized"));
    reqs = recorded("/__requests");
    assert_int_equal(json_array_size(reqs), 1);
    assert_string_equal(field(json_array_get(reqs, 0), "path"), "/bot<wrong>/sendMessage");
    json_decref(reqs);
    assert_int_equal(count_recorded("/__messages"), 0);

    channel_free(ch);
    channel_free(wrong);
    strbuf_release(&err);
}

static void test_telegram_timeout(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 300);
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    control("{\"fail\": [{\"kind\": \"hang\", \"seconds\": 3}]}");
    assert_int_equal(send_msg(ch, &simple, &res, &err), CK_ETIMEDOUT);
    assert_true(res.retryable);
    assert_int_equal(res.status, 0);
    assert_non_null(strstr(err.buf, "timed out"));
    channel_free(ch);
    strbuf_release(&err);
}

static void test_pacing(void **state)
{
    struct fake_clock fc = {.now = 1000000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *ch = telegram_at(TOKEN, "12345", &clock, 0);
    struct notify_channel *group = NULL;
    struct strbuf err = STRBUF_INIT;
    struct notify_result res;

    (void)state;
    /* Two sends within a second to one chat: the second waits the rest of the second. */
    assert_int_equal(send_msg(ch, &simple, &res, &err), 0);
    assert_int_equal(fc.nsleeps, 0);
    fc.now += 300;
    assert_int_equal(send_msg(ch, &simple, &res, &err), 0);
    assert_int_equal(fc.nsleeps, 1);
    assert_int_equal(fc.sleeps[0], 700);
    /* A send long after the last one does not wait. */
    fc.now += 5000;
    assert_int_equal(send_msg(ch, &simple, &res, &err), 0);
    assert_int_equal(fc.nsleeps, 1);

    /* When the clock says stop (shutdown), send gives up without sending, retryable. */
    fc.stop = true;
    assert_int_equal(send_msg(ch, &simple, &res, &err), CK_ELIMIT);
    assert_true(res.retryable);
    assert_int_equal(res.retry_after_ms, 1000);
    assert_int_equal(res.parts_done, 0);
    fc.stop = false;
    assert_int_equal(count_recorded("/__messages"), 3);
    channel_free(ch);

    /* A group: one a second, and the 21st message in a minute waits for the first to age out. */
    reset();
    fc.nsleeps = 0;
    fc.now += 100000;
    group = telegram_at(TOKEN, "-1001234567890", &clock, 0);
    for (int i = 0; i < 22; i++)
        assert_int_equal(send_msg(group, &simple, &res, &err), 0);
    assert_int_equal(fc.nsleeps, 21);
    for (size_t i = 0; i < 19; i++)
        assert_int_equal(fc.sleeps[i], 1000);
    assert_int_equal(fc.sleeps[19], 41000); /* sent at 0..19 s: the 21st at 60 s */
    assert_int_equal(fc.sleeps[20], 1000);  /* the 22nd: 61 s, a minute after the 2nd */
    assert_int_equal(count_recorded("/__messages"), 22);
    channel_free(group);
    strbuf_release(&err);
}

static void hook_url(struct strbuf *url)
{
    strbuf_reset(url);
    strbuf_addf(url, "%s/hook/%s?token=%s", fake.url, HOOK_SEG, HOOK_SECRET);
}

static void test_webhook_body(void **state)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct notify_channel *ch;
    struct notify_msg m = {.key = "job:<x>",
                           .severity = NOTIFY_CRITICAL,
                           .state = "firing",
                           .title = "<b>&\"x\"</b>",
                           .details = "first line\nsecond & <third>\n\n",
                           .time = T0};
    struct notify_result res;
    json_t *hooks, *hook, *body;

    (void)state;
    hook_url(&url);
    ch = webhook_at(url.buf, 0);
    assert_string_equal(notify_channel_name(ch), "webhook");
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.parts_done, 1);
    assert_int_equal(res.parts_total, 1);
    hooks = recorded("/__hooks");
    assert_int_equal(json_array_size(hooks), 1);
    hook = json_array_get(hooks, 0);
    assert_string_equal(field(hook, "path"), "/hook/" HOOK_SEG);
    assert_string_equal(field(hook, "content_type"), "application/json");
    body = json_object_get(hook, "body");
    assert_int_equal(json_object_size(body), 7);
    assert_string_equal(field(body, "text"),
                        RED " FIRING [critical] &lt;b&gt;&amp;\"x\"&lt;/b&gt;\n"
                            "first line\nsecond &amp; &lt;third&gt;");
    assert_string_equal(field(body, "key"), "job:<x>");
    assert_string_equal(field(body, "severity"), "critical");
    assert_string_equal(field(body, "state"), "firing");
    assert_string_equal(field(body, "title"), "<b>&\"x\"</b>");
    assert_string_equal(field(body, "details"), "first line\nsecond & <third>");
    assert_string_equal(field(body, "time"), "2024-01-02T15:00:00Z");
    json_decref(hooks);

    /* Delivered by an earlier attempt: nothing is sent again. */
    m.parts_done = 1;
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    assert_int_equal(res.parts_done, 1);
    assert_int_equal(count_recorded("/__hooks"), 1);

    /* A resolved notice and invalid UTF-8: still one valid JSON body. */
    m = (struct notify_msg){.key = "",
                            .severity = NOTIFY_WARNING,
                            .state = "resolved",
                            .title = "ok \xc3(",
                            .details = "",
                            .time = T0};
    assert_int_equal(send_msg(ch, &m, &res, &err), 0);
    hooks = recorded("/__hooks");
    body = json_object_get(json_array_get(hooks, 1), "body");
    assert_string_equal(field(body, "text"), CHECK " RESOLVED ok \xEF\xBF\xBD(");
    assert_string_equal(field(body, "state"), "resolved");
    assert_string_equal(field(body, "severity"), "warning");
    json_decref(hooks);
    channel_free(ch);
    strbuf_release(&url);
    strbuf_release(&err);
}

static void test_webhook_failures(void **state)
{
    static const struct {
        const char *control;
        int rc;
        bool retryable;
        long status;
        int64_t retry_after_ms;
    } cases[] = {
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 500}]}", CK_EUPSTREAM, true, 500, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 503, \"headers\": {\"Retry-After\": "
         "\"9\"}}]}",
         CK_EUPSTREAM, true, 503, 9000},
        {"{\"fail\": [{\"target\": \"hook\", \"kind\": \"429\", \"retry_after\": 7}]}", CK_ELIMIT,
         true, 429, 7000},
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 408}]}", CK_ETIMEDOUT, true, 408, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 404}]}", CK_EINVAL, false, 404, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 401}]}", CK_EAUTH, false, 401, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 301}]}", CK_EINVAL, false, 301, -1},
        /* A receiver that echoes the URL's secrets: masked in the message. */
        {"{\"fail\": [{\"target\": \"hook\", \"error_code\": 400, \"description\": \"bad token "
         "s3cr3t-hook-value for /hook/T0KENSEGMENT99\"}]}",
         CK_EINVAL, false, 400, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"kind\": \"drop\", \"times\": 3}]}", CK_EUPSTREAM,
         true, 0, -1},
        {"{\"fail\": [{\"target\": \"hook\", \"kind\": \"hang\", \"seconds\": 2}]}", CK_ETIMEDOUT,
         true, 0, -1},
    };
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct notify_channel *ch;
    struct notify_result res;

    (void)state;
    hook_url(&url);
    ch = webhook_at(url.buf, 300);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        reset();
        control(cases[i].control);
        if (send_msg(ch, &simple, &res, &err) != cases[i].rc)
            fail_msg("case %zu: %s", i, err.buf);
        assert_int_equal(res.retryable, cases[i].retryable);
        assert_int_equal(res.status, cases[i].status);
        assert_int_equal(res.retry_after_ms, cases[i].retry_after_ms);
        assert_int_equal(res.parts_done, 0);
        assert_true(!strncmp(err.buf, "webhook: ", 9));
        if (cases[i].status)
            assert_non_null(strstr(err.buf, "HTTP "));
    }
    assert_non_null(strstr(err.buf, "timed out"));
    /* The echo case again, to look at the masking itself. */
    reset();
    control(cases[7].control);
    assert_int_equal(send_msg(ch, &simple, &res, &err), CK_EINVAL);
    assert_non_null(strstr(err.buf, "bad token *** for ***"));
    channel_free(ch);
    strbuf_release(&url);
    strbuf_release(&err);
}

/* Write `text` to a new INI file and load it. */
static int load_settings(struct settings *s, const char *text, struct config_report *rep)
{
    char *path = test_tmpfile(".ini");
    FILE *f = fopen(path, "w");
    int rc;

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    rc = settings_load(s, path, rep);
    free(path);
    return rc;
}

/* A report goes out as a document (a multipart upload) and as JSON; refusals are reported. */
static void test_documents(void **state)
{
    struct fake_clock fc = {.now = 1000};
    struct retry_clock clock = FAKE_CLOCK(&fc);
    struct notify_channel *tg = telegram_at(TOKEN, "-100777", &clock, 0), *wh;
    static const char html[] = "<!DOCTYPE html><p>r&amp;d</p>\n";
    struct notify_document d = {.filename = "daily-20240315T1800Z.html",
                                .mime = "text/html",
                                .data = html,
                                .len = sizeof(html) - 1,
                                .caption = "candlekeep daily report"};
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
    struct notify_result res;
    json_t *docs, *doc, *hooks;

    (void)state;
    assert_true(notify_can_send_document(tg));
    assert_false(notify_can_send_json(tg));
    assert_int_equal(notify_send_document(tg, &d, &res, &err), 0);
    assert_int_equal(res.status, 200);
    docs = recorded("/__documents");
    assert_int_equal(json_array_size(docs), 1);
    doc = json_array_get(docs, 0);
    assert_string_equal(field(doc, "file_name"), d.filename);
    assert_string_equal(field(doc, "mime_type"), "text/html");
    assert_string_equal(field(doc, "content"), html);
    assert_string_equal(field(doc, "caption"), d.caption);
    assert_string_equal(field(doc, "chat_id"), "-100777");
    json_decref(docs);

    /* An empty file is refused (400, not retried), and the token is not in the message. */
    d.len = 0;
    assert_int_equal(notify_send_document(tg, &d, &res, &err), CK_EINVAL);
    assert_false(res.retryable);
    assert_non_null(strstr(err.buf, "file must be non-empty"));
    assert_null(strstr(err.buf, TOKEN));
    strbuf_reset(&err);

    hook_url(&url);
    wh = webhook_at(url.buf, 0);
    assert_true(notify_can_send_json(wh));
    assert_false(notify_can_send_document(wh));
    assert_int_equal(notify_send_json(wh, "{\"id\":\"r1\"}", 11, &res, &err), 0);
    hooks = recorded("/__hooks");
    assert_int_equal(json_array_size(hooks), 1);
    assert_string_equal(field(json_object_get(json_array_get(hooks, 0), "body"), "id"), "r1");
    json_decref(hooks);

    channel_free(tg);
    channel_free(wh);
    strbuf_release(&err);
    strbuf_release(&url);
}

static void test_channels_new(void **state)
{
    struct settings s;
    struct config_report rep = CONFIG_REPORT_INIT;
    struct strbuf err = STRBUF_INIT, ini = STRBUF_INIT, sb = STRBUF_INIT;
    struct notify_channel **v;
    size_t n;

    (void)state;
    unsetenv("OPS_TELEGRAM_BOT_TOKEN");
    unsetenv("OPS_TELEGRAM_CHAT_ID");

    /* Nothing configured: no channel, no error. */
    assert_int_equal(load_settings(&s, "[alerts]\nfailure_threshold = 3\n", &rep), 0);
    assert_int_equal(notify_channels_new(&s.telegram, &s.alert_webhook, NULL, NULL, &v, &n, &err),
                     0);
    assert_int_equal(n, 0);
    notify_channels_free(v, n);
    settings_release(&s);

    /* Both channels. */
    strbuf_addf(&ini,
                "[alerts.telegram]\nbot_token = %s\nchat_id = -100123\nbase_url = %s\n"
                "[alerts.webhook]\nurl = %s/hook?token=%s\n",
                TOKEN, fake.url, fake.url, HOOK_SECRET);
    assert_int_equal(load_settings(&s, ini.buf, &rep), 0);
    assert_int_equal(notify_channels_new(&s.telegram, &s.alert_webhook, NULL, NULL, &v, &n, &err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(notify_channel_name(v[0]), "telegram");
    assert_string_equal(notify_channel_name(v[1]), "webhook");
    notify_channels_free(v, n);
    /* The bot token is one of the secrets the log masks. */
    settings_register_secrets(&s);
    strbuf_addstr(&sb, "said " TOKEN " once");
    redact_message(&sb);
    assert_null(strstr(sb.buf, TOKEN));
    redact_clear_secrets();
    settings_release(&s);

    /* Half a Telegram configuration is an error that names the missing key. */
    strbuf_reset(&ini);
    strbuf_addf(&ini, "[alerts.telegram]\nbot_token = %s\n", TOKEN);
    assert_int_equal(load_settings(&s, ini.buf, &rep), CK_ECONFIG);
    assert_int_equal(rep.count, 1);
    assert_non_null(strstr(rep.text.buf, ":2: [alerts.telegram] chat_id is missing"));
    no_secrets(rep.text.buf);
    strbuf_reset(&err);
    assert_int_equal(notify_channels_new(&s.telegram, &s.alert_webhook, NULL, NULL, &v, &n, &err),
                     CK_ECONFIG);
    assert_non_null(strstr(err.buf, "chat_id is missing"));
    no_secrets(err.buf);
    assert_null(v);
    assert_int_equal(n, 0);
    settings_release(&s);
    config_report_release(&rep);

    assert_int_equal(load_settings(&s, "[alerts.telegram]\nchat_id = 42\n", &rep), CK_ECONFIG);
    assert_non_null(strstr(rep.text.buf, "bot_token is missing"));
    settings_release(&s);
    config_report_release(&rep);

    /* A token that could not be one, and a webhook URL that is not http: neither is quoted. */
    assert_int_equal(load_settings(&s,
                                   "[alerts.telegram]\nbot_token = 999:WRONG-bot/x?y\n"
                                   "chat_id = nobody\n"
                                   "[alerts.webhook]\nurl = ftp://u:" HOOK_SECRET "@h/\n",
                                   &rep),
                     CK_ECONFIG);
    assert_int_equal(rep.count, 3);
    assert_non_null(strstr(rep.text.buf, "key 'bot_token': may contain only letters"));
    assert_non_null(strstr(rep.text.buf, "key 'chat_id': 'nobody' is neither"));
    assert_non_null(strstr(rep.text.buf, "key 'url': is not an http:// or https:// URL"));
    no_secrets(rep.text.buf);
    settings_release(&s);
    config_report_release(&rep);

    /* The constructor checks too, for settings built by hand. */
    {
        struct telegram_config cfg = {.bot_token = "12:ab/c", .chat_id = "1"};
        struct notify_channel *ch = NULL;
        strbuf_reset(&err);
        assert_int_equal(notify_telegram_new(&cfg, &ch, &err), CK_ECONFIG);
        assert_null(strstr(err.buf, "ab/c"));
        cfg = (struct telegram_config){.bot_token = TOKEN, .chat_id = "@x"};
        assert_int_equal(notify_telegram_new(&cfg, &ch, &err), CK_ECONFIG);
        cfg.chat_id = "@candlekeep_ops";
        assert_int_equal(notify_telegram_new(&cfg, &ch, &err), 0);
        channel_free(ch);
    }
    strbuf_release(&err);
    strbuf_release(&ini);
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_split),
        cmocka_unit_test_setup(test_render_escapes, each),
        cmocka_unit_test_setup(test_render_states, each),
        cmocka_unit_test_setup(test_long_message_split, each),
        cmocka_unit_test_setup(test_parts_done_retry, each),
        cmocka_unit_test_setup(test_telegram_429, each),
        cmocka_unit_test_setup(test_telegram_flood_control, each),
        cmocka_unit_test_setup(test_telegram_chat_refused, each),
        cmocka_unit_test_setup(test_telegram_5xx_and_network, each),
        cmocka_unit_test_setup(test_telegram_refusals, each),
        cmocka_unit_test_setup(test_telegram_timeout, each),
        cmocka_unit_test_setup(test_pacing, each),
        cmocka_unit_test_setup(test_webhook_body, each),
        cmocka_unit_test_setup(test_webhook_failures, each),
        cmocka_unit_test_setup(test_documents, each),
        cmocka_unit_test_setup(test_channels_new, each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
