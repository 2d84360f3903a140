/* SPDX-License-Identifier: MIT */
/*
 * The email channel (alert/email.c).
 *
 * The MIME pieces are checked on their own (addresses, RFC 2047 headers,
 * the rendering), and whole messages are parsed by Python's `email`
 * package as the oracle. Everything that goes over the wire takes the
 * real libcurl path to the local SMTP server (tests/helpers/fake_smtp.py,
 * started once for the group, with AUTH), which plays 451 and 550 when
 * asked. Pacing runs on a fake clock. Every error is checked for the
 * password.
 */
#include "testutil.h"

#include "alert/notify.h"
#include "alert/notify_internal.h"
#include "net/http.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define PASSWORD "smtp-SECRET-pw-31337"
#define T0       1704207600 /* 2024-01-02T15:00:00Z */
#define HOUR_MS  (3600 * 1000LL)

static struct test_fake smtp; /* the SMTP server: url is http://127.0.0.1:PORT */
static struct test_fake ctl;  /* its control endpoint (pid -1: stopped with smtp) */
static char smtp_url[64];

/* ------------------------------------------------------------------ the fake clock */

static int64_t fake_ms;

static int64_t fake_now(void *arg)
{
    (void)arg;
    return fake_ms;
}

static bool fake_sleep(void *arg, int64_t ms)
{
    (void)arg;
    fake_ms += ms;
    return true;
}

static const struct retry_clock fake_clock = {.now_ms = fake_now, .sleep_ms = fake_sleep};

/* ------------------------------------------------------------------ helpers */

static struct email_config base_config(void)
{
    return (struct email_config){
        .smtp_url = smtp_url,
        .tls_off = true,
        .username = "ops",
        .password = PASSWORD,
        .from = "Candlekeep <alerts@ck.example>",
        .to = "ops@example.org, oncall@example.org",
        .min_severity = NOTIFY_WARNING,
        .timeout_ms = 10000,
        .clock = &fake_clock,
    };
}

static struct notify_channel *new_channel(const struct email_config *cfg)
{
    struct strbuf err = STRBUF_INIT;
    struct notify_channel *ch = NULL;
    CHECK_OK(notify_email_new(cfg, &ch, &err), &err);
    strbuf_release(&err);
    return ch;
}

/* A send whose error, if any, must not hold the password. */
static int send_checked(struct notify_channel *ch, const struct notify_msg *m,
                        struct notify_result *res, struct strbuf *err)
{
    int rc;
    strbuf_reset(err);
    rc = notify_send(ch, m, res, err);
    if (strstr(err->buf, PASSWORD))
        fail_msg("the password is in an error: %s", err->buf);
    assert_int_equal(rc != 0, err->len != 0);
    return rc;
}

/*
 * Run the Python program `prog` with the file `path` as argv[1] (and `arg`
 * as argv[2]); it fails the test when it exits non-zero.
 */
static void python_check(const char *prog, const char *path, const char *arg)
{
    struct strbuf cmd = STRBUF_INIT;
    char *script = test_tmpfile(".py");
    FILE *fp = fopen(script, "w");
    int status;

    assert_non_null(fp);
    fputs(prog, fp);
    fclose(fp);
    strbuf_addf(&cmd, "python3 '%s' '%s' '%s'", script, path, arg ? arg : "");
    status = system(cmd.buf);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status))
        fail_msg("python check failed (%d): %s", status, prog);
    strbuf_release(&cmd);
    free(script);
}

/* The messages the server took, written to a file for python_check(). */
static char *messages_file(void)
{
    json_t *m = test_fake_get_json(&ctl, "/__messages");
    char *path = test_tmpfile(".json");
    assert_int_equal(json_dump_file(m, path, 0), 0);
    json_decref(m);
    return path;
}

static size_t messages_count(void)
{
    json_t *m = test_fake_get_json(&ctl, "/__messages");
    size_t n = json_array_size(m);
    json_decref(m);
    return n;
}

static void control(const char *stage, const char *reply, int times)
{
    test_fake_post(&ctl, "/__control",
                   json_pack("{s:s, s:s, s:i}", "stage", stage, "reply", reply, "times", times));
}

/* ------------------------------------------------------------------ group */

static int setup(void **state)
{
    char *ctlfile = test_tmpfile(".ctl");
    const char *const args[] = {"--control-file", ctlfile,  "--user", "ops",
                                "--password",     PASSWORD, NULL};
    struct strbuf err = STRBUF_INIT;
    FILE *fp;
    int rc;

    (void)state;
    if (http_global_init(&err)) {
        fprintf(stderr, "%s\n", err.buf);
        return -1;
    }
    strbuf_release(&err);
    rc = test_fake_start(&smtp, "fake_smtp.py", args);
    if (rc)
        return rc;
    /* The control URL is written before the SMTP port. */
    fp = fopen(ctlfile, "r");
    ctl.pid = -1;
    if (!fp || !fgets(ctl.url, sizeof(ctl.url), fp)) {
        fprintf(stderr, "fake_smtp.py wrote no control URL\n");
        return -1;
    }
    fclose(fp);
    snprintf(smtp_url, sizeof(smtp_url), "smtp://%s", smtp.url + strlen("http://"));
    free(ctlfile);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_fake_stop(&smtp);
    return 0;
}

static int each(void **state)
{
    (void)state;
    test_fake_post(&ctl, "/__reset", NULL);
    fake_ms = 1000 * HOUR_MS;
    return 0;
}

/* ------------------------------------------------------------------ addresses and headers */

static void test_addresses(void **state)
{
    static const struct {
        const char *in, *want; /* want NULL: refused */
    } cases[] = {
        {"ops@example.org", "ops@example.org"},
        {"  ops@example.org ", "ops@example.org"},
        {"Candlekeep <alerts@ck.example>", "alerts@ck.example"},
        {"\"Ops, Team\" <a.b+c@x.example>", "a.b+c@x.example"},
        {"<x@y.z>", "x@y.z"},
        {"not-an-address", NULL},
        {"@example.org", NULL},
        {"ops@", NULL},
        {"a@b@c", NULL},
        {"ops example@x.org", NULL},
        {"Name <ops@x.org", NULL},
        {"Name <ops@x.org> trailing", NULL},
        {"ops@x.org\r\nBcc: evil@x.org", NULL},
        {"\xC3\xA9@x.org", NULL},
        {"", NULL},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = NULL;
        int rc = notify_email_address(cases[i].in, &out);
        if (cases[i].want) {
            if (rc)
                fail_msg("'%s' refused", cases[i].in);
            assert_string_equal(out, cases[i].want);
        } else if (!rc) {
            fail_msg("'%s' taken as '%s'", cases[i].in, out);
        }
        free(out);
    }
}

static void test_header_encoding(void **state)
{
    struct strbuf h = STRBUF_INIT, long_title = STRBUF_INIT;
    char *path;
    FILE *fp;

    (void)state;
    notify_email_add_header(&h, "Subject", "[candlekeep] FIRING [critical] plain");
    assert_string_equal(h.buf, "Subject: [candlekeep] FIRING [critical] plain\r\n");
    strbuf_reset(&h);
    /* Control characters never make a header line of their own. */
    notify_email_add_header(&h, "Subject", "a\r\nBcc: x@y.z\tb");
    assert_string_equal(h.buf, "Subject: a Bcc: x@y.z b\r\n");
    strbuf_reset(&h);

    /* Not ASCII: encoded words, lines under 78, each word whole characters. */
    for (int i = 0; i < 12; i++)
        strbuf_addstr(&long_title, "Zürich 東京 \xF0\x9F\x94\xB4 ");
    notify_email_add_header(&h, "Subject", long_title.buf);
    for (const char *line = h.buf; *line;) {
        const char *end = strstr(line, "\r\n");
        assert_non_null(end);
        if (end - line > 78)
            fail_msg("a header line of %d characters: %.*s", (int)(end - line), (int)(end - line),
                     line);
        line = end + 2;
    }
    assert_non_null(strstr(h.buf, "=?UTF-8?B?"));
    path = test_tmpfile(".hdr");
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(h.buf, fp);
    fclose(fp);
    python_check("import sys, email.header\n"
                 "raw = open(sys.argv[1], newline='').read()\n"
                 "value = raw.split(':', 1)[1].replace('\\r\\n', '').strip()\n"
                 "parts = email.header.decode_header(value)\n"
                 "for b, cs in parts: b.decode(cs)  # each word is whole UTF-8 on its own\n"
                 "got = str(email.header.make_header(parts))\n"
                 "want = sys.argv[2].strip()\n"
                 "assert got.strip() == want, (got, want)\n",
                 path, long_title.buf);
    free(path);
    strbuf_release(&h);
    strbuf_release(&long_title);
}

/* ------------------------------------------------------------------ rendering and MIME */

static void test_compose_parses(void **state)
{
    const char *const to[] = {"ops@example.org", "oncall@example.org"};
    struct notify_msg m = {
        .key = "job:refresh_candles_M15",
        .severity = NOTIFY_CRITICAL,
        .state = "firing",
        .title = "Bougie rafraîchie <b>échouée</b>",
        .details = "\n\nline one & <two>\nline \"three\"\x01\n\n",
        .time = T0,
    };
    struct strbuf subject = STRBUF_INIT, text = STRBUF_INIT, html = STRBUF_INIT, out = STRBUF_INIT;
    struct email_message em = {
        .from = "Équipe Ops <alerts@ck.example>",
        .to = to,
        .nto = 2,
        .message_id = "<1.2.candlekeep@ck.example>",
        .references = "<alert.1.candlekeep@ck.example>",
        .alert_key = m.key,
        .kind = m.state,
        .date = T0,
    };
    char *path;
    FILE *fp;

    (void)state;
    notify_email_render(&m, &subject, &text, &html);
    assert_string_equal(subject.buf,
                        "[candlekeep] FIRING [critical] Bougie rafraîchie <b>échouée</b>");
    assert_null(strstr(html.buf, "<b>échouée"));
    assert_non_null(strstr(html.buf, "&lt;b&gt;échouée&lt;/b&gt;"));
    assert_non_null(strstr(html.buf, "line one &amp; &lt;two&gt;"));
    assert_non_null(strstr(text.buf, "line one & <two>\nline \"three\"\xEF\xBF\xBD\n"));
    em.subject = subject.buf;
    em.text = text.buf;
    em.html = html.buf;
    notify_email_compose(&em, &out);
    /* Every line ends CRLF, and none is longer than 78. */
    for (size_t i = 0; i < out.len; i++)
        if (out.buf[i] == '\n' && (i == 0 || out.buf[i - 1] != '\r'))
            fail_msg("a bare LF at %zu", i);
    path = test_tmpfile(".eml");
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(out.buf, 1, out.len, fp);
    fclose(fp);
    python_check(
        "import sys, email\n"
        "from email import policy\n"
        "raw = open(sys.argv[1], 'rb').read()\n"
        "assert max(len(l) for l in raw.split(b'\\r\\n')) <= 78, 'long line'\n"
        "m = email.message_from_bytes(raw, policy=policy.default)\n"
        "assert not m.defects, m.defects\n"
        "assert m['Subject'] == '[candlekeep] FIRING [critical] Bougie rafraîchie <b>échouée</b>', "
        "m['Subject']\n"
        "assert m['From'].addresses[0].display_name == 'Équipe Ops', m['From']\n"
        "assert m['From'].addresses[0].addr_spec == 'alerts@ck.example'\n"
        "assert [a.addr_spec for a in m['To'].addresses] == ['ops@example.org', "
        "'oncall@example.org']\n"
        "assert m['Date'].datetime.timestamp() == 1704207600, m['Date']\n"
        "assert m['Message-ID'] == '<1.2.candlekeep@ck.example>'\n"
        "assert m['References'] == '<alert.1.candlekeep@ck.example>'\n"
        "assert m['X-Candlekeep-Alert'] == 'job:refresh_candles_M15'\n"
        "assert m['Auto-Submitted'] == 'auto-generated'\n"
        "assert m.get_content_type() == 'multipart/alternative'\n"
        "parts = list(m.iter_parts())\n"
        "assert [p.get_content_type() for p in parts] == ['text/plain', 'text/html']\n"
        "assert all(p.get_content_charset() == 'utf-8' and not p.defects for p in parts)\n"
        "text, html = [p.get_content().replace('\\r\\n', '\\n') for p in parts]\n"
        "assert text.startswith('FIRING [critical] Bougie rafraîchie <b>échouée</b>\\n'), text\n"
        "assert 'key:  job:refresh_candles_M15' in text and '2024-01-02T15:00:00Z' in text\n"
        "assert '&lt;b&gt;échouée' in html and '<pre' in html, html\n",
        path, NULL);
    free(path);
    strbuf_release(&subject);
    strbuf_release(&text);
    strbuf_release(&html);
    strbuf_release(&out);
}

static void test_render_resolved(void **state)
{
    struct notify_msg m = {.key = "k",
                           .severity = NOTIFY_WARNING,
                           .state = "resolved",
                           .title = "Gap closed",
                           .details = "",
                           .time = T0};
    struct strbuf subject = STRBUF_INIT, text = STRBUF_INIT, html = STRBUF_INIT;

    (void)state;
    notify_email_render(&m, &subject, &text, &html);
    /* A resolved message does not repeat the severity, as in the other channels. */
    assert_string_equal(subject.buf, "[candlekeep] RESOLVED Gap closed");
    assert_non_null(strstr(html.buf, "#1b7f3b"));
    strbuf_release(&subject);
    strbuf_release(&text);
    strbuf_release(&html);
}

/* ------------------------------------------------------------------ configuration */

static void test_config_errors(void **state)
{
    static const struct {
        const char *url, *from, *to;
        bool tls_off;
        const char *want;
    } cases[] = {
        {"http://x.example", "a@b.c", "c@d.e", false, "not an smtp:// or smtps:// URL"},
        {"smtp://u:" PASSWORD "@x.example", "a@b.c", "c@d.e", false, "must not hold credentials"},
        {"smtps://x.example:465", "a@b.c", "c@d.e", true, "contradicts an smtps://"},
        {"smtp://mail.example:25", "a@b.c", "c@d.e", true, "only for a relay on the loopback"},
        {"smtp://127.0.0.1:25", "nobody", "c@d.e", true, "from: 'nobody' is not an address"},
        {"smtp://127.0.0.1:25", "a@b.c", "c@d.e, x", true, "to: 'x' is not an email address"},
        {"smtp://127.0.0.1:25", "a@b.c", " , ", true, "to is empty"},
    };
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct email_config cfg = base_config();
        struct notify_channel *ch = NULL;
        struct strbuf err = STRBUF_INIT;
        cfg.smtp_url = cases[i].url;
        cfg.from = cases[i].from;
        cfg.to = cases[i].to;
        cfg.tls_off = cases[i].tls_off;
        assert_int_equal(notify_email_new(&cfg, &ch, &err), CK_ECONFIG);
        assert_null(ch);
        if (!strstr(err.buf, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.buf, cases[i].want);
        assert_null(strstr(err.buf, PASSWORD));
        strbuf_release(&err);
    }
}

static void test_accepts(void **state)
{
    struct email_config cfg = base_config();
    struct notify_channel *ch;

    (void)state;
    cfg.min_severity = NOTIFY_CRITICAL;
    ch = new_channel(&cfg);
    assert_true(notify_accepts(ch, "firing", NOTIFY_CRITICAL));
    assert_true(notify_accepts(ch, "resolved", NOTIFY_CRITICAL));
    assert_false(notify_accepts(ch, "firing", NOTIFY_WARNING));
    assert_false(notify_accepts(ch, "reminder", NOTIFY_CRITICAL));
    assert_false(notify_accepts(ch, "signal", NOTIFY_INFO));
    assert_false(notify_accepts(ch, "digest", NOTIFY_INFO));
    assert_true(notify_accepts(ch, "test", NOTIFY_INFO));
    assert_false(notify_email_wants_reports(ch));
    ch->ops->free(ch);

    cfg.min_severity = NOTIFY_INFO;
    cfg.digest = cfg.reports = true;
    ch = new_channel(&cfg);
    assert_true(notify_accepts(ch, "firing", NOTIFY_INFO));
    assert_true(notify_accepts(ch, "digest", NOTIFY_INFO));
    assert_true(notify_email_wants_reports(ch));
    ch->ops->free(ch);
}

/* ------------------------------------------------------------------ over the wire */

static void test_send_and_answers(void **state)
{
    struct email_config cfg = base_config();
    struct notify_channel *ch = new_channel(&cfg);
    struct notify_msg m = {.key = "breaker:td",
                           .severity = NOTIFY_CRITICAL,
                           .state = "firing",
                           .title = "Circuit open",
                           .details = "5 failures",
                           .time = T0};
    struct notify_result res;
    struct strbuf err = STRBUF_INIT;
    char *path;

    (void)state;
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    assert_int_equal(res.parts_done, 1);
    path = messages_file();
    python_check("import sys, json, email\n"
                 "from email import policy\n"
                 "(r,) = json.load(open(sys.argv[1]))\n"
                 "assert r['auth_user'] == 'ops', r\n"
                 "assert r['mail_from'].startswith('<alerts@ck.example>'), r\n"
                 "assert r['rcpt_to'] == ['<ops@example.org>', '<oncall@example.org>'], r\n"
                 "m = email.message_from_string(r['data'], policy=policy.default)\n"
                 "assert m['Subject'] == '[candlekeep] FIRING [critical] Circuit open'\n"
                 "assert m['Message-ID'].endswith('.candlekeep@ck.example>')\n",
                 path, NULL);
    free(path);

    /* An earlier attempt delivered it: nothing is sent again. */
    m.parts_done = 1;
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    assert_int_equal(messages_count(), 1);
    m.parts_done = 0;

    /* 4xx: temporary. */
    control("end", "451 4.3.0 try later", 1);
    assert_int_not_equal(send_checked(ch, &m, &res, &err), 0);
    assert_true(res.retryable);
    assert_int_equal(res.status, 451);
    assert_non_null(strstr(err.buf, "temporary failure (SMTP 451)"));
    control("mail", "421 4.7.0 closing", 1);
    assert_int_not_equal(send_checked(ch, &m, &res, &err), 0);
    assert_true(res.retryable);

    /* 5xx: permanent. */
    control("rcpt", "550 5.1.1 no such mailbox", 1);
    assert_int_not_equal(send_checked(ch, &m, &res, &err), 0);
    assert_false(res.retryable);
    assert_int_equal(res.status, 550);
    assert_non_null(strstr(err.buf, "permanent failure (SMTP 550)"));
    assert_int_equal(messages_count(), 1);
    ch->ops->free(ch);

    /* A wrong password: refused, not retried, and not quoted. */
    cfg.password = "wrong-" PASSWORD;
    ch = new_channel(&cfg);
    assert_int_equal(send_checked(ch, &m, &res, &err), CK_EAUTH);
    assert_false(res.retryable);
    assert_null(strstr(err.buf, "wrong-"));
    ch->ops->free(ch);

    /* tls = required against a server without STARTTLS: refused, never sent in clear. */
    cfg = base_config();
    cfg.tls_off = false;
    ch = new_channel(&cfg);
    assert_int_equal(send_checked(ch, &m, &res, &err), CK_ECONFIG);
    assert_false(res.retryable);
    assert_non_null(strstr(err.buf, "does not offer STARTTLS"));
    assert_int_equal(messages_count(), 1);
    ch->ops->free(ch);

    /* Nobody listening: temporary. */
    cfg = base_config();
    cfg.smtp_url = "smtp://127.0.0.1:1";
    ch = new_channel(&cfg);
    assert_int_not_equal(send_checked(ch, &m, &res, &err), 0);
    assert_true(res.retryable);
    ch->ops->free(ch);
    strbuf_release(&err);
}

static void test_pacing(void **state)
{
    struct email_config cfg = base_config();
    struct notify_msg m = {.key = "flappy",
                           .severity = NOTIFY_CRITICAL,
                           .state = "firing",
                           .title = "Flapping",
                           .details = "",
                           .time = T0};
    struct notify_channel *ch;
    struct notify_result res;
    struct strbuf err = STRBUF_INIT;

    (void)state;
    cfg.per_key_per_hour = 2;
    cfg.per_hour = 3;
    ch = new_channel(&cfg);
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    fake_ms += 10 * 60 * 1000;
    m.state = "resolved";
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    fake_ms += 60 * 1000;
    m.state = "firing";
    /* The third about the key within the hour waits for the first to be an hour old. */
    assert_int_equal(send_checked(ch, &m, &res, &err), CK_ELIMIT);
    assert_true(res.retryable);
    assert_int_equal(res.retry_after_ms, HOUR_MS - 11 * 60 * 1000);
    assert_non_null(strstr(err.buf, "paced"));
    /* A failed attempt does not count: another key still goes. */
    m.key = "other";
    control("end", "451 4.3.0 later", 1);
    assert_int_not_equal(send_checked(ch, &m, &res, &err), 0);
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    /* Three in the hour in all: a fourth key waits too. */
    m.key = "third";
    assert_int_equal(send_checked(ch, &m, &res, &err), CK_ELIMIT);
    assert_int_equal(res.retry_after_ms, HOUR_MS - 11 * 60 * 1000);
    /* An hour after the first, the slot is free again. */
    fake_ms += res.retry_after_ms;
    m.key = "flappy";
    assert_int_equal(send_checked(ch, &m, &res, &err), 0);
    assert_int_equal(messages_count(), 4);
    ch->ops->free(ch);
    strbuf_release(&err);
}

static void test_send_html_report(void **state)
{
    struct email_config cfg = base_config();
    struct notify_channel *ch, *others[2];
    struct notify_result res;
    struct strbuf err = STRBUF_INIT;
    char *path;

    (void)state;
    cfg.reports = true;
    ch = new_channel(&cfg);
    others[0] = ch;
    others[1] = NULL;
    assert_ptr_equal(notify_channels_find(others, 1, "email"), ch);
    assert_null(notify_channels_find(others, 1, "telegram"));
    assert_true(notify_email_wants_reports(ch));
    assert_int_equal(notify_email_send_html(ch, "Weekly report — semaine 1",
                                            "<html><body><h1>Report</h1><p>ok é</p></body></html>",
                                            "Report\nok é\n", &res, &err),
                     0);
    assert_int_equal(res.parts_done, 1);
    path = messages_file();
    python_check("import sys, json, email\n"
                 "from email import policy\n"
                 "(r,) = json.load(open(sys.argv[1]))\n"
                 "m = email.message_from_string(r['data'], policy=policy.default)\n"
                 "assert m['Subject'] == 'Weekly report — semaine 1', m['Subject']\n"
                 "assert m['X-Candlekeep-State'] == 'report'\n"
                 "assert m['X-Candlekeep-Alert'] is None and m['References'] is None\n"
                 "text, html = [p.get_content() for p in m.iter_parts()]\n"
                 "assert html.replace('\\r\\n', '\\n') == "
                 "'<html><body><h1>Report</h1><p>ok é</p></body></html>', html\n"
                 "assert text.replace('\\r\\n', '\\n') == 'Report\\nok é\\n', text\n",
                 path, NULL);
    free(path);

    /* Refused like any message: 550 is permanent. */
    control("rcpt", "550 5.1.1 no such mailbox", 1);
    strbuf_reset(&err);
    assert_int_not_equal(notify_email_send_html(ch, "r", "<p>x</p>", NULL, &res, &err), 0);
    assert_false(res.retryable);
    assert_null(strstr(err.buf, PASSWORD));
    /* Not an email channel, or no subject: refused without a send. */
    strbuf_reset(&err);
    assert_int_equal(notify_email_send_html(ch, "", "<p>x</p>", NULL, &res, &err), CK_EINVAL);
    ch->ops->free(ch);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_addresses, each),
        cmocka_unit_test_setup(test_header_encoding, each),
        cmocka_unit_test_setup(test_compose_parses, each),
        cmocka_unit_test_setup(test_render_resolved, each),
        cmocka_unit_test_setup(test_config_errors, each),
        cmocka_unit_test_setup(test_accepts, each),
        cmocka_unit_test_setup(test_send_and_answers, each),
        cmocka_unit_test_setup(test_pacing, each),
        cmocka_unit_test_setup(test_send_html_report, each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
