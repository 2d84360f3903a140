/* SPDX-License-Identifier: MIT */
/* The configuration loader and candlekeep's option tables. */
#include "testutil.h"

#include "ck/settings.h"
#include "source/source.h"
#include "util/config.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_ini(const char *text)
{
    char *path = test_tmpfile(".ini");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void clear_env(void)
{
    static const char *const vars[] = {"DATABASE_URL",
                                       "MAX_RETRIES",
                                       "RETRY_DELAY_SECONDS",
                                       "ALERT_COOLDOWN_MINUTES",
                                       "TWELVE_DATA_API_KEY",
                                       "OPS_TELEGRAM_BOT_TOKEN",
                                       "OPS_TELEGRAM_CHAT_ID",
                                       "CANDLEKEEP_API_TOKEN",
                                       "CANDLEKEEP_CONFIG",
                                       "CK_TEST_VAR",
                                       "ALERT_EMAIL_ENABLED",
                                       "ALERT_EMAIL_TO",
                                       "CK_SMTP_PW"};
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
        unsetenv(vars[i]);
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    /* Run where no candlekeep.ini can be picked up by accident. */
    return chdir(test_tmpdir());
}

static void test_defaults_without_file(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    (void)state;
    assert_int_equal(settings_load(&s, NULL, &rep), 0);
    assert_int_equal(rep.count, 0);
    assert_null(s.path);
    assert_string_equal(s.storage.url, "sqlite:candlekeep.db");
    assert_string_equal(s.api.listen, "127.0.0.1:8080");
    assert_string_equal(s.log.level, "info");
    assert_string_equal(s.log.format, "logfmt");
    assert_int_equal(s.scheduler.workers, 4);
    assert_int_equal(s.retry.max_retries, 5);
    assert_int_equal(s.retry.base_delay, 5);
    assert_int_equal(s.retry.max_delay, 120);
    assert_int_equal(s.retention.keep[TF_M15], 90 * 86400);
    assert_int_equal(s.retention.keep[TF_H1], 365 * 86400);
    assert_int_equal(s.retention.keep[TF_H4], 0);
    assert_int_equal(s.retention.backtests, 180 * 86400);
    assert_int_equal(s.alerts.failure_threshold, 3);
    assert_int_equal(s.alerts.cooldown, 15 * 60);
    assert_string_equal(s.digest.schedule, "0 6 * * *");
    /* No source configured and no key: Binance's BTC/USDT, which needs none. */
    assert_int_equal(s.nsources, 1);
    assert_string_equal(s.sources[0].name, "binance");
    assert_string_equal(s.sources[0].kind, "binance");
    assert_string_equal(s.sources[0].base_url, "https://data-api.binance.vision");
    assert_null(s.sources[0].key_problem);
    assert_int_equal(s.sources[0].nsymbols, 1);
    assert_string_equal(s.sources[0].symbols[0], "BTC/USDT");
    assert_int_equal(s.sources[0].ntimeframes, 4);
    assert_int_equal(s.sources[0].timeframes[0], TF_M15);
    assert_int_equal(s.sources[0].timeframes[3], TF_D1);
    assert_int_equal(s.sources[0].calendar, CAL_CRYPTO);
    assert_string_equal(s.sources[0].rate_limit, "3000/1m");
    assert_int_equal(s.sources[0].daily_quota, 0);
    assert_string_equal(s.sources[0].budget_key, "binance:ip");
    assert_int_equal(s.sources[0].backfill, 5000);
    assert_int_equal(s.sources[0].breaker_failures, 5);
    assert_int_equal(s.sources[0].breaker_recovery, 60);
    assert_int_equal(s.sources[0].breaker_max_recovery, 30 * 60);
    assert_int_equal(s.sources[0].symbol_skip_after, 10);
    assert_int_equal(s.sources[0].symbol_probe_every, 10);
    settings_release(&s);
    config_report_release(&rep);

    /* With Twelve Data's key in the environment, its gold too, with its free limits. */
    setenv("TWELVE_DATA_API_KEY", "td-key-0123", 1);
    assert_int_equal(settings_load(&s, NULL, &rep), 0);
    unsetenv("TWELVE_DATA_API_KEY");
    assert_int_equal(rep.count, 0);
    assert_int_equal(s.nsources, 2);
    assert_string_equal(s.sources[1].name, "twelvedata");
    assert_string_equal(s.sources[1].base_url, "https://api.twelvedata.com");
    assert_string_equal(s.sources[1].symbols[0], "XAU/USD");
    assert_int_equal(s.sources[1].calendar, CAL_METALS);
    assert_int_equal(s.sources[1].rate_per_minute, 8);
    assert_string_equal(s.sources[1].rate_limit, "8/1m");
    assert_int_equal(s.sources[1].daily_quota, 800);
    assert_true(!strncmp(s.sources[1].budget_key, "twelvedata:key:", 15));
    assert_null(strstr(s.sources[1].budget_key, "td-key"));
    settings_release(&s);
    config_report_release(&rep);
}

/* The resilience keys of [source.NAME]: read, bounded, and the recovery times consistent. */
static void test_resilience_keys(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[source.a]\n"
                           "breaker_failures = 3\n"
                           "breaker_recovery = 2m\n"
                           "breaker_max_recovery = 1h\n"
                           "symbol_skip_after = 0\n"
                           "symbol_probe_every = 4\n"
                           "kind = twelvedata\n"
                           "[source.b]\n"
                           "breaker_failures = 0\n"
                           "breaker_recovery = 10m\n"
                           "breaker_max_recovery = 5m\n"
                           "symbol_probe_every = 0\n"
                           "kind = twelvedata\n");
    struct strbuf want = STRBUF_INIT;
    (void)state;
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.nsources, 2);
    assert_int_equal(s.sources[0].breaker_failures, 3);
    assert_int_equal(s.sources[0].breaker_recovery, 120);
    assert_int_equal(s.sources[0].breaker_max_recovery, 3600);
    assert_int_equal(s.sources[0].symbol_skip_after, 0);
    assert_int_equal(s.sources[0].symbol_probe_every, 4);
    static const char *const expected[] = {
        ":9: key 'breaker_failures': 0 is out of range (1 to 1000)",
        ":11: key 'breaker_max_recovery': is shorter than breaker_recovery",
        ":12: key 'symbol_probe_every': 0 is out of range (1 to 100000)",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        strbuf_reset(&want);
        strbuf_addf(&want, "%s%s", path, expected[i]);
        if (!strstr(rep.text.buf, want.buf))
            fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    }
    assert_int_equal(rep.count, (int)ARRAY_SIZE(expected));
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

/* [ingest] backfill_reserve: a percentage with or without '%', 25% by default; [jobs] backfill. */
static void test_backfill_keys(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[source.a]\nkind = twelvedata\napi_key = k\n"
                           "[ingest]\nbackfill_reserve = 40%\n[jobs]\nbackfill = */5 * * * *\n");
    struct strbuf want = STRBUF_INIT;
    (void)state;

    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.ingest.backfill_reserve, 40);
    assert_string_equal(s.jobs.backfill_cron, "*/5 * * * *");
    settings_release(&s);
    free(path);

    path = write_ini("[source.a]\nkind = twelvedata\napi_key = k\n");
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.ingest.backfill_reserve, 25);
    assert_string_equal(s.jobs.backfill_cron, "* * * * *");
    settings_release(&s);
    free(path);

    path = write_ini("[source.a]\nkind = twelvedata\napi_key = k\n"
                     "[ingest]\nbackfill_reserve = 95%\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    strbuf_addf(&want, "%s:5: key 'backfill_reserve': '95%%' is not a percentage from 0%% to 90%%",
                path);
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

/* Retention per timeframe, its batch, the schedules of retention and outcomes, [signals]. */
static void test_retention_and_outcome_keys(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    (void)state;

    /* Defaults: only M15 and H1 are pruned; every other timeframe is kept for ever. */
    assert_int_equal(settings_load(&s, NULL, &rep), 0);
    for (int tf = 0; tf < TF_COUNT; tf++)
        if (tf != TF_M15 && tf != TF_H1)
            assert_int_equal(s.retention.keep[tf], 0);
    assert_int_equal(s.retention.batch, 10000);
    assert_string_equal(s.jobs.retention_cron, "0 3 * * *");
    assert_string_equal(s.jobs.outcomes_cron, "*/5 * * * *");
    assert_true(s.signals.notify_outcomes);
    settings_release(&s);

    char *path = write_ini("[retention]\n"
                           "M1 = 30d\n"
                           "H1 = 0\n"
                           "batch = 500\n"
                           "[jobs]\n"
                           "retention = 30 2 * * *\n"
                           "detect_outcomes = * * * * *\n"
                           "[signals]\n"
                           "notify_outcomes = false\n");
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.retention.keep[TF_M1], 30 * 86400);
    assert_int_equal(s.retention.keep[TF_M15], 90 * 86400);
    assert_int_equal(s.retention.keep[TF_H1], 0);
    assert_int_equal(s.retention.keep[TF_D1], 0);
    assert_int_equal(s.retention.batch, 500);
    assert_string_equal(s.jobs.retention_cron, "30 2 * * *");
    assert_string_equal(s.jobs.outcomes_cron, "* * * * *");
    assert_false(s.signals.notify_outcomes);
    settings_release(&s);
    free(path);

    path = write_ini("[retention]\n"
                     "batch = 0\n"
                     "[jobs]\n"
                     "retention = 61 3 * * *\n"
                     "[signals]\n"
                     "notify_outcomes = perhaps\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(rep.count, 3);
    assert_non_null(strstr(rep.text.buf, ":2: key 'batch': 0 is out of range"));
    assert_non_null(strstr(rep.text.buf, ":4: key 'retention'"));
    assert_non_null(strstr(rep.text.buf, ":6: key 'notify_outcomes'"));
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

/* [deliver] and the receivers' secrets: defaults, [retry] inherited, bad secrets named by receiver.
 */
static void test_deliver_and_receivers(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[retry]\n"
                           "base_delay = 7s\n"
                           "max_delay = 1m\n"
                           "[webhook.good]\n"
                           "url = http://127.0.0.1:9/a\n"
                           "secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                           "[webhook.plain]\n"
                           "url = http://127.0.0.1:9/b\n"
                           "secret = just some text\n");
    struct strbuf want = STRBUF_INIT;
    (void)state;
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.deliver.attempts, 5);
    assert_int_equal(s.deliver.base_delay, 7);
    assert_int_equal(s.deliver.max_delay, 60);
    assert_int_equal(s.deliver.lease, 60);
    assert_int_equal(s.deliver.connect_timeout, 5);
    assert_int_equal(s.deliver.timeout, 10);
    assert_true(s.deliver.telegram);
    assert_int_equal(s.nreceivers, 2);
    settings_release(&s);
    free(path);

    path = write_ini("[deliver]\n"
                     "attempts = 3\n"
                     "base_delay = 1s\n"
                     "max_delay = 2s\n"
                     "lease = 10s\n"
                     "timeout = 10s\n"
                     "telegram = false\n"
                     "[webhook.bad]\n"
                     "url = http://127.0.0.1:9/a\n"
                     "secret = whsec_Zm9v!YmFy\n"
                     "[webhook.nosecret]\n"
                     "url = http://127.0.0.1:9/b\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(s.deliver.attempts, 3);
    assert_int_equal(s.deliver.base_delay, 1);
    assert_int_equal(s.deliver.max_delay, 2);
    assert_false(s.deliver.telegram);
    static const char *const expected[] = {
        ":5: key 'lease': must be longer than timeout",
        ":10: key 'secret': secret of receiver 'bad': the text after 'whsec_' is not valid base64",
        "[webhook.nosecret] secret: a signal receiver needs a secret",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        strbuf_reset(&want);
        strbuf_addf(&want, "%s%s", expected[i][0] == ':' ? path : "", expected[i]);
        if (!strstr(rep.text.buf, want.buf))
            fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    }
    assert_int_equal(rep.count, (int)ARRAY_SIZE(expected));
    /* The secret itself is never repeated. */
    assert_null(strstr(rep.text.buf, "Zm9v!YmFy"));
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

/*
 * [alerts.email]: the defaults, ${ENV} in the password, ALERT_EMAIL_TO and
 * ALERT_EMAIL_ENABLED, and each mistake reported at its key's line.
 */
static void test_alert_email(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    struct strbuf want = STRBUF_INIT;
    char *path = write_ini("[alerts.email]\n"
                           "smtp_url = smtps://smtp.example.org:465\n"
                           "username = ck\n"
                           "password = ${CK_SMTP_PW}\n"
                           "from = ck@example.org\n"
                           "to = a@example.org\n");
    (void)state;
    setenv("CK_SMTP_PW", "pw-from-env-77", 1);
    setenv("ALERT_EMAIL_TO", "b@example.org, c@example.org", 1);
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_true(s.alert_email.enabled);
    assert_string_equal(s.alert_email.tls, "required");
    assert_string_equal(s.alert_email.min_severity, "critical");
    assert_string_equal(s.alert_email.password, "pw-from-env-77");
    assert_string_equal(s.alert_email.to, "b@example.org, c@example.org");
    assert_false(s.alert_email.digest);
    assert_false(s.alert_email.reports);
    settings_release(&s);
    free(path);
    unsetenv("ALERT_EMAIL_TO");

    path = write_ini("[alerts.email]\n"
                     "smtp_url = smtp://mail.example.org:25\n"
                     "tls = off\n"
                     "from = nobody\n"
                     "to = a@example.org\n"
                     "min_severity = loud\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    static const char *const expected[] = {
        ":6: key 'min_severity': 'loud' is not a severity (info, warning, critical)",
        ":2: key 'smtp_url': tls = off is only for a relay on the loopback",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        strbuf_reset(&want);
        strbuf_addf(&want, "%s%s", path, expected[i]);
        if (!strstr(rep.text.buf, want.buf))
            fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    }
    settings_release(&s);
    config_report_release(&rep);
    free(path);

    path = write_ini("[alerts.email]\nsmtp_url = smtp://127.0.0.1:25\ntls = off\n"
                     "from = Ops <ops@example.org>\nto = ops@example.org, nope\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    strbuf_reset(&want);
    strbuf_addf(&want, "%s:5: key 'to': 'nope' is not an email address", path);
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    settings_release(&s);
    config_report_release(&rep);
    free(path);

    /* Asked for without a server: an error; turned off: nothing to check. */
    path = write_ini("[storage]\nurl = sqlite:x.db\n");
    setenv("ALERT_EMAIL_ENABLED", "true", 1);
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    assert_non_null(strstr(rep.text.buf, "[alerts.email] smtp_url: email alerts are enabled"));
    settings_release(&s);
    config_report_release(&rep);
    setenv("ALERT_EMAIL_ENABLED", "false", 1);
    free(path);
    path = write_ini("[alerts.email]\nsmtp_url = smtp://mail.example.org:25\ntls = off\n");
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_false(s.alert_email.enabled);
    settings_release(&s);
    unsetenv("ALERT_EMAIL_ENABLED");
    unsetenv("CK_SMTP_PW");
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

static void test_file_env_expansion_and_overrides(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[storage]\n"
                           "url = sqlite:/tmp/x.db ; inline comment\n"
                           "[api]\n"
                           "token = ${CK_TEST_VAR}\n"
                           "listen = 0.0.0.0:9090\n"
                           "[retry]\n"
                           "max_retries = 7\n"
                           "base_delay = 2s\n"
                           "[alerts]\n"
                           "cooldown = 30m\n"
                           "[source.crypto]\n"
                           "kind = twelvedata\n"
                           "symbols = BTC/USD, ETH/USD BTC/USD\n"
                           "timeframes = M1 H1\n"
                           "calendar = crypto\n"
                           "holidays = 2024-12-25 2025-01-01\n"
                           "api_key = ${MISSING_VAR:-fallback-key}\n");
    (void)state;
    setenv("CK_TEST_VAR", "tok-from-env", 1);
    setenv("MAX_RETRIES", "9", 1);
    setenv("ALERT_COOLDOWN_MINUTES", "5", 1);
    setenv("DATABASE_URL", "postgresql://u@127.0.0.1:5432/db", 1);
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_string_equal(rep.text.buf, "");
    assert_string_equal(s.path, path);
    assert_string_equal(s.storage.url, "postgresql://u@127.0.0.1:5432/db");
    assert_string_equal(s.api.token, "tok-from-env");
    assert_string_equal(s.api.listen, "0.0.0.0:9090");
    assert_int_equal(s.retry.max_retries, 9); /* environment wins over the file */
    assert_int_equal(s.retry.base_delay, 2);
    assert_int_equal(s.alerts.cooldown, 5 * 60);
    assert_int_equal(s.nsources, 1);
    struct source_settings *src = settings_source(&s, "crypto");
    assert_non_null(src);
    assert_string_equal(src->kind, "twelvedata");
    assert_int_equal(src->nsymbols, 2);
    assert_string_equal(src->symbols[1], "ETH/USD");
    assert_int_equal(src->ntimeframes, 2);
    assert_int_equal(src->timeframes[0], TF_M1);
    assert_int_equal(src->calendar, CAL_CRYPTO);
    assert_int_equal(src->nholidays, 2);
    assert_int_equal(src->holidays[0], 20082); /* 2024-12-25 */
    assert_string_equal(src->api_key, "fallback-key");
    assert_ptr_equal(settings_source_for_symbol(&s, "ETH/USD"), src);
    assert_null(settings_source_for_symbol(&s, "XAU/USD"));
    settings_release(&s);
    config_report_release(&rep);

    /* TWELVE_DATA_API_KEY overrides the key of Twelve Data sources. */
    setenv("TWELVE_DATA_API_KEY", "env-key-1234", 1);
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_string_equal(settings_source(&s, "crypto")->api_key, "env-key-1234");
    settings_release(&s);
    config_report_release(&rep);
    clear_env();
    free(path);
}

static void test_every_problem_reported_with_line(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[storage]\n"
                           "url = mysql://nope\n"
                           "[scheduler]\n"
                           "workerz = 4\n"
                           "workers = many\n"
                           "[retry]\n"
                           "max_retries = -1\n"
                           "max_delay = soon\n"
                           "[log]\n"
                           "level = loud\n"
                           "[source.twelvedata]\n"
                           "timeframes = M15 H2\n"
                           "calendar = moon\n"
                           "holidays = 2024-13-01\n"
                           "[nosuchsection]\n"
                           "a = 1\n"
                           "b = 2\n"
                           "[api]\n"
                           "token = ${UNTERMINATED\n");
    struct strbuf want = STRBUF_INIT;
    (void)state;
    assert_int_not_equal(settings_load(&s, path, &rep), 0);

    static const char *const expected[] = {
        ":2: key 'url': expected sqlite:PATH or postgresql://",
        ":5: key 'workers': 'many' is not an integer",
        ":7: key 'max_retries': -1 is out of range (0 to 100)",
        ":8: key 'max_delay': 'soon' is not a duration",
        ":10: key 'level': 'loud' is not a log level",
        ":12: key 'timeframes': 'H2' is not a timeframe",
        ":13: key 'calendar': 'moon' is not a calendar",
        ":14: key 'holidays': '2024-13-01' is not a date",
        ":15: section [nosuchsection]: unknown section",
        ":4: key 'workerz': unknown key in section [scheduler]",
        ":19: key 'token': unterminated '${' in value",
    };
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        strbuf_reset(&want);
        strbuf_addf(&want, "%s%s", path, expected[i]);
        if (!strstr(rep.text.buf, want.buf))
            fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    }
    /* One message for the unknown section, not one per key. */
    assert_null(strstr(rep.text.buf, "key 'b'"));
    assert_int_equal(rep.count, (int)ARRAY_SIZE(expected));
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

static void test_missing_explicit_file(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    (void)state;
    assert_int_not_equal(settings_load(&s, "/nonexistent/candlekeep.ini", &rep), 0);
    assert_non_null(strstr(rep.text.buf, "/nonexistent/candlekeep.ini: cannot read"));
    settings_release(&s);
    config_report_release(&rep);
}

static void test_bad_environment_value(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    (void)state;
    setenv("RETRY_DELAY_SECONDS", "soon", 1);
    assert_int_not_equal(settings_load(&s, NULL, &rep), 0);
    assert_non_null(strstr(rep.text.buf, "environment: RETRY_DELAY_SECONDS"));
    settings_release(&s);
    config_report_release(&rep);
    clear_env();
}

static void test_expand_env(void **state)
{
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    (void)state;
    setenv("CK_TEST_VAR", "v", 1);
    assert_int_equal(config_expand_env("a${CK_TEST_VAR}b${NOPE_X}c${NOPE_X:-d}", &out, &why), 0);
    assert_string_equal(out.buf, "avbcd");
    strbuf_reset(&out);
    assert_int_not_equal(config_expand_env("${bad name}", &out, &why), 0);
    assert_non_null(strstr(why.buf, "bad variable name"));
    strbuf_release(&out);
    strbuf_release(&why);
    clear_env();
}

/* Kinds come from the adapters' table; an unknown one is reported at its line. */
static void test_source_kinds(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    struct strbuf want = STRBUF_INIT;
    char *path = write_ini("[source.gold]\n"
                           "kind = twelvedata\n"
                           "api_key = k-1234\n"
                           "[source.venue]\n"
                           "kind = nosuchvenue\n"
                           "[source.binancex]\n"
                           "symbols = BTC/USDT\n");
    (void)state;
    assert_int_equal(settings_load(&s, path, &rep), CK_ECONFIG);
    assert_int_equal(rep.count, 2);
    strbuf_addf(&want, "%s:5: key 'kind': unknown kind 'nosuchvenue' (known kinds: ", path);
    source_kind_names(&want);
    strbuf_addstr(&want, ")\n");
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    /* Without `kind` the section name is the kind; the message points at the header. */
    strbuf_reset(&want);
    strbuf_addf(&want, "%s:6: key 'kind': unknown kind 'binancex', taken from the section name",
                path);
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    /* A known kind supplies the default base_url. */
    assert_string_equal(settings_source(&s, "gold")->base_url, "https://api.twelvedata.com");
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

/* `derive`: timeframes built here need not be served; each needs a fetched one to build it. */
static void test_source_derive(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    const struct source_settings *cb;
    char *path = write_ini("[source.cb]\n"
                           "kind = coinbase\n"
                           "timeframes = H1 H4 D1\n"
                           "derive = H4 W1\n"
                           "[source.cbx]\n"
                           "kind = coinbase\n"
                           "timeframes = H1 H4\n"
                           "[source.gold]\n"
                           "kind = twelvedata\n"
                           "api_key = k-1234\n"
                           "calendar = metals\n"
                           "timeframes = H4 D1\n"
                           "derive = W1\n");
    (void)state;
    assert_int_equal(settings_load(&s, path, &rep), CK_ECONFIG);
    /* Coinbase's H4 is refused where it is not derived, and only there. */
    assert_int_equal(rep.count, 2);
    assert_non_null(strstr(rep.text.buf, ":7: key 'timeframes': Coinbase Exchange does not serve "
                                         "H4 candles (source 'cbx'"));
    assert_non_null(strstr(rep.text.buf, ":13: key 'derive': W1 cannot be derived: no timeframe "
                                         "fetched from the venue builds it"));
    cb = settings_source(&s, "cb");
    assert_true(cb->derive.derived[TF_H4]);
    assert_int_equal(cb->derive.from[TF_H4], TF_H1);
    assert_true(cb->derive.derived[TF_W1]);
    assert_int_equal(cb->derive.from[TF_W1], TF_D1);
    assert_false(cb->derive.derived[TF_H1]);
    assert_false(settings_source(&s, "cbx")->derive.derived[TF_H4]);
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

/* A venue's budget: its free limit, rate_limit, rate_per_minute; symbol_map is checked. */
static void test_source_budget_keys(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char *path = write_ini("[source.by]\n"
                           "kind = bybit\n"
                           "[source.by2]\n"
                           "kind = bybit\n"
                           "rate_limit = 100/5s\n"
                           "symbol_map = BTC/USDT:BTCUSDT ETH/USDT:ETHUSDT\n"
                           "[source.td]\n"
                           "kind = twelvedata\n"
                           "api_key = k-1\n"
                           "rate_per_minute = 55\n");
    (void)state;
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_int_equal(settings_source(&s, "by")->rate_per_window, 600);
    assert_int_equal(settings_source(&s, "by")->rate_window_ms, 5000);
    assert_string_equal(settings_source(&s, "by")->rate_limit, "600/5s");
    assert_int_equal(settings_source(&s, "by2")->rate_per_window, 100);
    /* Two sections of one keyless venue: one budget, the IP's. */
    assert_string_equal(settings_source(&s, "by")->budget_key, "bybit:ip");
    assert_string_equal(settings_source(&s, "by2")->budget_key, "bybit:ip");
    assert_int_equal(settings_source(&s, "td")->rate_per_window, 55);
    assert_int_equal(settings_source(&s, "td")->rate_window_ms, 60000);
    assert_int_equal(settings_source(&s, "td")->daily_quota, 800);
    settings_release(&s);
    config_report_release(&rep);
    free(path);

    path = write_ini("[source.by]\n"
                     "kind = bybit\n"
                     "rate_limit = 5 per second\n"
                     "symbol_map = BTC/USDT\n"
                     "rate_per_minute = 3\n");
    assert_int_equal(settings_load(&s, path, &rep), CK_ECONFIG);
    if (!strstr(rep.text.buf, ":3: key 'rate_limit': '5 per second' is not REQUESTS/DURATION") ||
        !strstr(rep.text.buf, ":4: key 'symbol_map': 'BTC/USDT' is not CANONICAL:VENUE") ||
        !strstr(rep.text.buf, ":5: key 'rate_per_minute': rate_limit is set too"))
        fail_msg("unexpected report:\n%s", rep.text.buf);
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

/* An enabled source whose kind needs a key it lacks: recorded, and reported on request. */
static void test_source_key_problem(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    struct strbuf want = STRBUF_INIT;
    char *path = write_ini("[source.gold]\n"
                           "kind = twelvedata\n"
                           "[source.silver]\n"
                           "kind = twelvedata\n"
                           "api_key =\n"
                           "[source.off]\n"
                           "kind = twelvedata\n"
                           "enabled = false\n");
    (void)state;
    /* Loading succeeds: commands that read stored data need no key. */
    assert_int_equal(settings_load(&s, path, &rep), 0);
    assert_true(source_settings_check_key(settings_source(&s, "gold"), &rep));
    assert_true(source_settings_check_key(settings_source(&s, "silver"), &rep));
    assert_false(source_settings_check_key(settings_source(&s, "off"), &rep));
    assert_int_equal(rep.count, 2);
    /* At the section's header when no api_key is written, else at the key's line. */
    strbuf_addf(&want,
                "%s:1: key 'api_key': source 'gold' needs a Twelve Data API key: set "
                "TWELVE_DATA_API_KEY in the environment (or api_key in [source.gold], or "
                "enabled = false to skip it)",
                path);
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    strbuf_reset(&want);
    strbuf_addf(&want, "%s:5: key 'api_key': source 'silver'", path);
    if (!strstr(rep.text.buf, want.buf))
        fail_msg("missing '%s' in:\n%s", want.buf, rep.text.buf);
    settings_release(&s);
    config_report_release(&rep);

    /* The kind's variable supplies the key. */
    setenv("TWELVE_DATA_API_KEY", "env-key-5678", 1);
    assert_int_equal(settings_load(&s, path, &rep), 0);
    for (size_t i = 0; i < s.nsources; i++)
        assert_false(source_settings_check_key(&s.sources[i], &rep));
    assert_string_equal(settings_source(&s, "gold")->api_key, "env-key-5678");
    unsetenv("TWELVE_DATA_API_KEY");
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&want);
    free(path);
}

struct shown {
    struct strbuf text;
    int sections;
    struct strbuf last;
};

static void collect(const char *section, const char *key, enum config_type type, const char *value,
                    void *arg)
{
    struct shown *sh = arg;
    (void)type;
    if (strcmp(sh->last.buf, section)) {
        sh->sections++;
        strbuf_reset(&sh->last);
        strbuf_addstr(&sh->last, section);
        strbuf_addf(&sh->text, "[%s]\n", section);
    }
    strbuf_addf(&sh->text, "%s = %s\n", key, value);
}

/* settings_show(): every section, every key, secrets masked, public values as they are. */
static void test_show_masks_secrets(void **state)
{
    static const char *const secrets[] = {"PgPw-q1",   "ApiTok-q2",   "BotTok-q3", "HookPath-q4",
                                          "HookQ-q5",  "PingPath-q6", "TdKey-q7",  "WhSec-q8",
                                          "RecvPw-q9", "SmtpPw-q10"};
    static const char *const shown[] = {
        "[storage]\nurl = postgresql://ck:***@db:5432/ck\n",
        "token = ***\n",
        "bot_token = ***\nchat_id = -100123\n",
        "[alerts.webhook]\nurl = https://hooks.example/***\n",
        "[heartbeat]\nurl = https://hc-ping.com/***\ninterval = 5m\n",
        "api_key = ***\n",
        "[webhook.bot]\nurl = https://u:***@bot.example/in\nsecret = ***\n",
        "[deliver]\nattempts = 5\n",
        "[jobs]\n",
        "[ingest]\ngap_window = 7d\n",
        "[digest]\nschedule = 0 6 * * *\n",
        "[report]\ndir = \ndaily = 0 18 * * *\nweekly = 0 6 * * 0\nkeep = 90d\n",
        "[export]\ndir = \ntradenote = 0 18 * * *\ntradenote_qty = 1\n",
        "[signals]\nnotify_outcomes = true\n",
        "[alerts]\nfailure_threshold = 3\n",
        "[alerts.email]\nenabled = true\nsmtp_url = smtps://smtp.example:465\n",
        "username = ops\npassword = ***\n",
        "max_size = 100MB\nkeep = 5\ncompress = gzip\n",
        "[maintenance]\nhealth_check = */5 * * * *\n",
    };
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    struct shown sh = {STRBUF_INIT, 0, STRBUF_INIT};
    char *path = write_ini("[storage]\nurl = postgresql://ck:PgPw-q1@db:5432/ck\n"
                           "[api]\ntoken = ApiTok-q2\n"
                           "[alerts.telegram]\nbot_token = 123:BotTok-q3\nchat_id = -100123\n"
                           "[alerts.webhook]\nurl = https://hooks.example/HookPath-q4?t=HookQ-q5\n"
                           "[heartbeat]\nurl = https://hc-ping.com/PingPath-q6\n"
                           "[source.twelvedata]\napi_key = TdKey-q7\n"
                           "[webhook.bot]\nurl = https://u:RecvPw-q9@bot.example/in\n"
                           "secret = WhSec-q8\n"
                           "[alerts.email]\nsmtp_url = smtps://smtp.example:465\nusername = ops\n"
                           "password = SmtpPw-q10\nfrom = ck@ops.example\nto = me@ops.example\n");
    (void)state;
    assert_int_equal(settings_load(&s, path, &rep), 0);
    settings_show(&s, collect, &sh);
    /* 20 fixed sections, one source, one receiver. */
    assert_int_equal(sh.sections, 22);
    for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
        if (strstr(sh.text.buf, secrets[i]))
            fail_msg("'%s' shown in:\n%s", secrets[i], sh.text.buf);
    for (size_t i = 0; i < ARRAY_SIZE(shown); i++)
        if (!strstr(sh.text.buf, shown[i]))
            fail_msg("missing '%s' in:\n%s", shown[i], sh.text.buf);
    settings_release(&s);
    config_report_release(&rep);
    strbuf_release(&sh.text);
    strbuf_release(&sh.last);
    free(path);
}

static void test_format_duration(void **state)
{
    static const struct {
        int64_t s;
        const char *want;
    } cases[] = {{0, "0"},     {45, "45s"},         {120, "2m"},
                 {3600, "1h"}, {90 * 86400, "90d"}, {86400 + 1, "86401s"}};
    struct strbuf sb = STRBUF_INIT;
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        strbuf_reset(&sb);
        config_format_duration(cases[i].s, &sb);
        assert_string_equal(sb.buf, cases[i].want);
    }
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_without_file),
        cmocka_unit_test(test_resilience_keys),
        cmocka_unit_test(test_backfill_keys),
        cmocka_unit_test(test_retention_and_outcome_keys),
        cmocka_unit_test(test_deliver_and_receivers),
        cmocka_unit_test(test_alert_email),
        cmocka_unit_test(test_file_env_expansion_and_overrides),
        cmocka_unit_test(test_every_problem_reported_with_line),
        cmocka_unit_test(test_missing_explicit_file),
        cmocka_unit_test(test_bad_environment_value),
        cmocka_unit_test(test_expand_env),
        cmocka_unit_test(test_source_kinds),
        cmocka_unit_test(test_source_derive),
        cmocka_unit_test(test_source_key_problem),
        cmocka_unit_test(test_source_budget_keys),
        cmocka_unit_test(test_show_masks_secrets),
        cmocka_unit_test(test_format_duration),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
