/* SPDX-License-Identifier: MIT */
/*
 * The configuration of candlekeep as option tables, one per section. Each
 * table lists the keys DESIGN.md fixes (and a few more), their defaults,
 * bounds and environment overrides; util/config.c does the reading and the
 * reporting. Sections with a name suffix ([source.NAME], [webhook.NAME])
 * apply their table once per name.
 *
 * Derived values (symbol lists, timeframes, calendars, holidays) are parsed
 * here after the tables are applied, and problems are reported against the
 * line of the key they came from.
 */
#include "ck/settings.h"

#include "health/host.h"

#include "sched/cron.h"
#include "source/source.h"
#include "signal/whsig.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

static int check_log_level(const char *v, struct strbuf *why)
{
    enum log_level l;
    if (log_level_parse(v, &l)) {
        strbuf_addf(why, "'%s' is not a log level (debug, info, warn, error)", v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_log_format(const char *v, struct strbuf *why)
{
    enum log_format f;
    if (log_format_parse(v, &f)) {
        strbuf_addf(why, "'%s' is not a log format (logfmt, json)", v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_log_compress(const char *v, struct strbuf *why)
{
    if (strcmp(v, "gzip") && strcmp(v, "none")) {
        strbuf_addf(why, "'%s' is not a compression (gzip, none)", v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_thresholds(const char *v, struct strbuf *why)
{
    struct host_thresholds t;
    return host_thresholds_parse(v, &t, why);
}

static int check_listen(const char *v, struct strbuf *why)
{
    const char *colon = strrchr(v, ':');
    int64_t port;
    if (!colon || colon == v || parse_int64(colon + 1, 0, 65535, &port)) {
        strbuf_addf(why, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8080)", v);
        return CK_EINVAL;
    }
    return 0;
}

/* The value is quoted with its password masked. */
static int check_url(const char *v, struct strbuf *why)
{
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
        char *red = redact_url(v, 0);
        strbuf_addf(why, "'%s' is not an http:// or https:// URL", red);
        free(red);
        return CK_EINVAL;
    }
    return 0;
}

/* As check_url(), for URLs that may carry a secret: the value is not quoted. */
static int check_secret_url(const char *v, struct strbuf *why)
{
    if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
        strbuf_addstr(why, "is not an http:// or https:// URL (the value is not shown: it may "
                           "hold a secret)");
        return CK_EINVAL;
    }
    return 0;
}

/* [alerts.email] smtp_url: the value is quoted with any password masked. */
static int check_smtp_url(const char *v, struct strbuf *why)
{
    if (*v && strncmp(v, "smtp://", 7) && strncmp(v, "smtps://", 8)) {
        char *red = redact_url(v, 0);
        strbuf_addf(why,
                    "'%s' is not an smtp:// (STARTTLS, usually port 587) or smtps:// (TLS, "
                    "usually port 465) URL",
                    red);
        free(red);
        return CK_EINVAL;
    }
    return 0;
}

static int check_email_tls(const char *v, struct strbuf *why)
{
    if (strcmp(v, "required") && strcmp(v, "off")) {
        strbuf_addf(why,
                    "'%s' is neither 'required' nor 'off' (off only for a relay on the "
                    "loopback)",
                    v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_severity(const char *v, struct strbuf *why)
{
    enum notify_severity sev;
    if (notify_severity_parse(v, &sev)) {
        strbuf_addf(why, "'%s' is not a severity (info, warning, critical)", v);
        return CK_EINVAL;
    }
    return 0;
}

/* A Telegram bot token goes into a URL path: letters, digits, ':', '-' and '_' only. */
static int check_bot_token(const char *v, struct strbuf *why)
{
    for (const char *p = v; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != ':' && *p != '-' && *p != '_') {
            strbuf_addstr(why, "may contain only letters, digits, ':', '-' and '_' (as BotFather "
                               "gives it; the value is not shown)");
            return CK_EINVAL;
        }
    }
    return 0;
}

/* A chat number (negative for groups) or an @channel name. */
static int check_chat_id(const char *v, struct strbuf *why)
{
    int64_t n;
    size_t len = strlen(v);
    bool ok = !parse_int64(v, INT64_MIN, INT64_MAX, &n);

    if (!ok && v[0] == '@' && isalpha((unsigned char)v[1]) && len >= 5 && len <= 33) {
        ok = true;
        for (const char *p = v + 1; *p; p++)
            ok = ok && (isalnum((unsigned char)*p) || *p == '_');
    }
    if (!ok) {
        strbuf_addf(why, "'%s' is neither a chat number (negative for a group) nor an @channel", v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_storage_url(const char *v, struct strbuf *why)
{
    size_t len = strlen(v);
    if (!strncmp(v, "sqlite:", 7) || !strncmp(v, "postgresql://", 13) ||
        !strncmp(v, "postgres://", 11) || (len > 3 && !strcmp(v + len - 3, ".db")))
        return 0;
    strbuf_addstr(why, "expected sqlite:PATH or postgresql://USER@HOST:PORT/DB");
    return CK_EINVAL;
}

static int add_tf(const char *w, size_t len, void *arg)
{
    struct strbuf *why = arg;
    char name[8];
    enum timeframe tf;
    if (len >= sizeof(name)) {
        strbuf_addf(why, "'%.*s' is not a timeframe (%s)", (int)len, w, timeframe_all_names());
        return CK_EINVAL;
    }
    memcpy(name, w, len);
    name[len] = '\0';
    if (timeframe_parse(name, &tf)) {
        strbuf_addf(why, "'%s' is not a timeframe (%s)", name, timeframe_all_names());
        return CK_EINVAL;
    }
    return 0;
}

static int check_symbol_map(const char *v, struct strbuf *why)
{
    return source_symbol_map_check(v, why);
}

/* "N/DURATION": N requests in any window of DURATION ("8/1m", "1/1s", "600/5s"). */
static int parse_rate_limit(const char *v, int64_t *count, int64_t *window_s)
{
    const char *slash = strchr(v, '/');
    char num[24];

    if (!slash || slash == v || (size_t)(slash - v) >= sizeof(num))
        return CK_EINVAL;
    memcpy(num, v, (size_t)(slash - v));
    num[slash - v] = '\0';
    if (parse_int64(num, 1, 100000000, count) || parse_duration(slash + 1, window_s) ||
        *window_s < 1 || *window_s > 86400)
        return CK_EINVAL;
    return 0;
}

static int check_rate_limit(const char *v, struct strbuf *why)
{
    int64_t n, w;
    if (parse_rate_limit(v, &n, &w)) {
        strbuf_addf(why,
                    "'%s' is not REQUESTS/DURATION (e.g. 8/1m, 1/1s, 600/5s; a window of 1s to "
                    "1d)",
                    v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_timeframes(const char *v, struct strbuf *why)
{
    return parse_words(v, add_tf, why);
}

static int check_calendar(const char *v, struct strbuf *why)
{
    enum calendar_kind k;
    if (calendar_kind_parse(v, &k)) {
        strbuf_addf(why, "'%s' is not a calendar (crypto, forex, metals)", v);
        return CK_EINVAL;
    }
    return 0;
}

static int check_date_word(const char *w, size_t len, void *arg)
{
    struct strbuf *why = arg;
    int64_t t;
    if (len != 10 || time_parse_n(w, len, &t)) {
        strbuf_addf(why, "'%.*s' is not a date (YYYY-MM-DD)", (int)len, w);
        return CK_EINVAL;
    }
    return 0;
}

static int check_holidays(const char *v, struct strbuf *why)
{
    return parse_words(v, check_date_word, why);
}

/* "25%" or "25": a whole percentage the backfill leaves to the refresh jobs (0..90). */
static int parse_reserve(const char *v, int64_t *out)
{
    char num[16];
    size_t len = strlen(v);

    if (len && v[len - 1] == '%')
        len--;
    if (!len || len >= sizeof(num))
        return CK_EINVAL;
    memcpy(num, v, len);
    num[len] = '\0';
    return parse_int64(num, 0, 90, out);
}

static int check_reserve(const char *v, struct strbuf *why)
{
    int64_t pct;

    if (parse_reserve(v, &pct)) {
        strbuf_addf(why, "'%s' is not a percentage from 0%% to 90%% (e.g. 25%%)", v);
        return -1;
    }
    return 0;
}

static int check_cron5(const char *v, struct strbuf *why)
{
    struct cron_expr ce;
    struct strbuf err = STRBUF_INIT;
    int rc = cron_parse(&ce, v, &err);
    if (rc)
        strbuf_addbuf(why, &err);
    strbuf_release(&err);
    return rc;
}

#define OPT(st, k, t, f, d)                                                                        \
    {                                                                                              \
        .key = (k), .type = (t), .offset = offsetof(st, f), .def = (d)                             \
    }

static const struct config_option storage_options[] = {
    {.key = "url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct storage_settings, url),
     .def = "sqlite:candlekeep.db",
     .env = "DATABASE_URL",
     .check = check_storage_url,
     .show = CONFIG_SHOW_URL},
    {0},
};

static const struct config_option api_options[] = {
    {.key = "listen",
     .type = CONFIG_STRING,
     .offset = offsetof(struct api_settings, listen),
     .def = "127.0.0.1:8080",
     .env = "CANDLEKEEP_LISTEN",
     .check = check_listen},
    {.key = "token",
     .type = CONFIG_STRING,
     .offset = offsetof(struct api_settings, token),
     .def = "",
     .env = "CANDLEKEEP_API_TOKEN",
     .show = CONFIG_SHOW_SECRET},
    {.key = "max_connections",
     .type = CONFIG_INT,
     .offset = offsetof(struct api_settings, max_connections),
     .def = "1000",
     .min = 1,
     .max = 1000000},
    {.key = "max_connections_per_client",
     .type = CONFIG_INT,
     .offset = offsetof(struct api_settings, max_connections_per_client),
     .def = "32",
     .min = 1,
     .max = 1000000},
    {.key = "request_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct api_settings, request_timeout),
     .def = "10s",
     .min = 1,
     .max = 600},
    {0},
};

static const struct config_option log_options[] = {
    {.key = "level",
     .type = CONFIG_STRING,
     .offset = offsetof(struct log_settings, level),
     .def = "info",
     .env = "LOG_LEVEL",
     .check = check_log_level},
    {.key = "format",
     .type = CONFIG_STRING,
     .offset = offsetof(struct log_settings, format),
     .def = "logfmt",
     .check = check_log_format},
    OPT(struct log_settings, "file", CONFIG_STRING, file, ""),
    /* Rotation of `file` in the process (util/log.h); max_size 0: only the daily task. */
    {.key = "max_size",
     .type = CONFIG_SIZE,
     .offset = offsetof(struct log_settings, max_size),
     .def = "100MB",
     .min = 0,
     .max = 1LL << 40},
    {.key = "keep",
     .type = CONFIG_INT,
     .offset = offsetof(struct log_settings, keep),
     .def = "5",
     .min = 1,
     .max = 1000},
    {.key = "compress",
     .type = CONFIG_STRING,
     .offset = offsetof(struct log_settings, compress),
     .def = "gzip",
     .check = check_log_compress},
    {0},
};

static const struct config_option scheduler_options[] = {
    {.key = "workers",
     .type = CONFIG_INT,
     .offset = offsetof(struct scheduler_settings, workers),
     .def = "4",
     .min = 1,
     .max = 64,
     .env = "MAX_CONCURRENT_TASKS"},
    {.key = "history_keep",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct scheduler_settings, history_keep),
     .def = "30d",
     .min = 3600,
     .max = 3650 * 86400LL},
    {0},
};

static const struct config_option retry_options[] = {
    {.key = "max_retries",
     .type = CONFIG_INT,
     .offset = offsetof(struct retry_settings, max_retries),
     .def = "5",
     .min = 0,
     .max = 100,
     .env = "MAX_RETRIES"},
    {.key = "base_delay",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct retry_settings, base_delay),
     .def = "5s",
     .min = 0,
     .max = 3600,
     .env = "RETRY_DELAY_SECONDS",
     .env_unit = 1},
    {.key = "max_delay",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct retry_settings, max_delay),
     .def = "120s",
     .min = 0,
     .max = 86400},
    {0},
};

#define RETENTION(tf, d)                                                                           \
    {                                                                                              \
        .key = #tf, .type = CONFIG_DURATION,                                                       \
        .offset = offsetof(struct retention_settings, keep) + TF_##tf * sizeof(int64_t),           \
        .def = (d), .min = 0, .max = 100 * 366 * 86400LL                                           \
    }
static const struct config_option retention_options[] = {
    RETENTION(M1, "0"),
    RETENTION(M5, "0"),
    RETENTION(M15, "90d"),
    RETENTION(M30, "0"),
    RETENTION(H1, "365d"),
    RETENTION(H4, "0"),
    RETENTION(D1, "0"),
    RETENTION(W1, "0"),
    {.key = "backtests",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct retention_settings, backtests),
     .def = "180d",
     .min = 0,
     .max = 100 * 366 * 86400LL},
    {.key = "alert_messages",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct retention_settings, alert_messages),
     .def = "30d",
     .min = 0,
     .max = 100 * 366 * 86400LL},
    {.key = "batch",
     .type = CONFIG_INT,
     .offset = offsetof(struct retention_settings, batch),
     .def = "10000",
     .min = 1,
     .max = 10000000},
    {0},
};

static const struct config_option ingest_options[] = {
    {.key = "gap_window",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct ingest_settings, gap_window),
     .def = "7d",
     .min = 3600,
     .max = 366 * 86400LL},
    {.key = "repair_attempts",
     .type = CONFIG_INT,
     .offset = offsetof(struct ingest_settings, repair_attempts),
     .def = "3",
     .min = 1,
     .max = 1000},
    {.key = "repair_min_age",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct ingest_settings, repair_min_age),
     .def = "1d",
     .min = 0,
     .max = 366 * 86400LL},
    {.key = "backfill_reserve",
     .type = CONFIG_STRING,
     .offset = offsetof(struct ingest_settings, backfill_reserve_raw),
     .def = "25%",
     .check = check_reserve},
    {0},
};

static const struct config_option alerts_options[] = {
    {.key = "failure_threshold",
     .type = CONFIG_INT,
     .offset = offsetof(struct alerts_settings, failure_threshold),
     .def = "3",
     .min = 1,
     .max = 1000},
    {.key = "cooldown",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct alerts_settings, cooldown),
     .def = "15m",
     .min = 0,
     .max = 7 * 86400,
     .env = "ALERT_COOLDOWN_MINUTES",
     .env_unit = 60},
    {.key = "repeat_interval",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct alerts_settings, repeat_interval),
     .def = "4h",
     .min = 0,
     .max = 30 * 86400},
    {0},
};

static const struct config_option telegram_options[] = {
    {.key = "bot_token",
     .type = CONFIG_STRING,
     .offset = offsetof(struct telegram_settings, bot_token),
     .def = "",
     .env = "OPS_TELEGRAM_BOT_TOKEN",
     .check = check_bot_token,
     .show = CONFIG_SHOW_SECRET},
    {.key = "chat_id",
     .type = CONFIG_STRING,
     .offset = offsetof(struct telegram_settings, chat_id),
     .def = "",
     .env = "OPS_TELEGRAM_CHAT_ID",
     .check = check_chat_id},
    {.key = "base_url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct telegram_settings, base_url),
     .def = "https://api.telegram.org",
     .check = check_url,
     .show = CONFIG_SHOW_URL},
    OPT(struct telegram_settings, "commands", CONFIG_BOOL, commands, "false"),
    {.key = "poll_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct telegram_settings, poll_timeout),
     .def = "10s",
     .min = 1,
     .max = 50},
    {0},
};

static const struct config_option alert_webhook_options[] = {
    {.key = "url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct alert_webhook_settings, url),
     .def = "",
     .check = check_secret_url,
     .show = CONFIG_SHOW_URL_PATH},
    {0},
};

static const struct config_option alert_email_options[] = {
    {.key = "enabled",
     .type = CONFIG_BOOL,
     .offset = offsetof(struct email_settings, enabled),
     .def = "true",
     .env = "ALERT_EMAIL_ENABLED"},
    {.key = "smtp_url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, smtp_url),
     .def = "",
     .check = check_smtp_url,
     .show = CONFIG_SHOW_URL},
    {.key = "tls",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, tls),
     .def = "required",
     .check = check_email_tls},
    {.key = "ca_file",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, ca_file),
     .def = ""},
    {.key = "username",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, username),
     .def = ""},
    {.key = "password",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, password),
     .def = "",
     .show = CONFIG_SHOW_SECRET},
    {.key = "from",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, from),
     .def = ""},
    {.key = "to",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, to),
     .def = "",
     .env = "ALERT_EMAIL_TO"},
    {.key = "min_severity",
     .type = CONFIG_STRING,
     .offset = offsetof(struct email_settings, min_severity),
     .def = "critical",
     .check = check_severity},
    {.key = "digest",
     .type = CONFIG_BOOL,
     .offset = offsetof(struct email_settings, digest),
     .def = "false"},
    {.key = "reports",
     .type = CONFIG_BOOL,
     .offset = offsetof(struct email_settings, reports),
     .def = "false"},
    {0},
};

static const struct config_option digest_options[] = {
    {.key = "schedule",
     .type = CONFIG_STRING,
     .offset = offsetof(struct digest_settings, schedule),
     .def = "0 6 * * *",
     .check = check_cron5},
    {0},
};

/* [report]: the daily and weekly reports (report/report.h). */
static const struct config_option report_options[] = {
    OPT(struct report_settings, "dir", CONFIG_STRING, dir, ""),
    {.key = "daily",
     .type = CONFIG_STRING,
     .offset = offsetof(struct report_settings, daily),
     .def = "0 18 * * *",
     .check = check_cron5},
    {.key = "weekly",
     .type = CONFIG_STRING,
     .offset = offsetof(struct report_settings, weekly),
     .def = "0 6 * * 0",
     .check = check_cron5},
    {.key = "keep",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct report_settings, keep),
     .def = "90d",
     .min = 0,
     .max = 10 * 365 * 86400LL},
    {.key = "duration_target",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct report_settings, duration_target),
     .def = "60s",
     .min = 1,
     .max = 86400},
    {0},
};

/* [export]: exports and the TradeNote job (export/export.h). */
static const struct config_option export_options[] = {
    OPT(struct export_settings, "dir", CONFIG_STRING, dir, ""),
    {.key = "tradenote",
     .type = CONFIG_STRING,
     .offset = offsetof(struct export_settings, tradenote),
     .def = "0 18 * * *",
     .check = check_cron5},
    {.key = "tradenote_qty",
     .type = CONFIG_INT,
     .offset = offsetof(struct export_settings, tradenote_qty),
     .def = "1",
     .min = 1,
     .max = 1000000000},
    {0},
};

static const struct config_option heartbeat_options[] = {
    {.key = "url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct heartbeat_settings, url),
     .def = "",
     .check = check_secret_url, /* a ping URL carries its secret in the path */
     .show = CONFIG_SHOW_URL_PATH},
    {.key = "interval",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct heartbeat_settings, interval),
     .def = "5m",
     .min = 10,
     .max = 86400},
    {0},
};

#define REFRESH_CRON(tf, d)                                                                        \
    {                                                                                              \
        .key = "refresh_candles_" #tf, .type = CONFIG_STRING,                                      \
        .offset = offsetof(struct jobs_settings, refresh_cron) + TF_##tf * sizeof(char *),         \
        .def = (d), .check = check_cron5                                                           \
    }
/* One minute after each candle closes (UTC), as DESIGN.md fixes for M15 H1 H4 D1. */
static const struct config_option jobs_options[] = {
    REFRESH_CRON(M1, "* * * * *"),
    REFRESH_CRON(M5, "1-59/5 * * * *"),
    REFRESH_CRON(M15, "1,16,31,46 * * * *"),
    REFRESH_CRON(M30, "1,31 * * * *"),
    REFRESH_CRON(H1, "1 * * * *"),
    REFRESH_CRON(H4, "1 0,4,8,12,16,20 * * *"),
    REFRESH_CRON(D1, "1 0 * * *"),
    REFRESH_CRON(W1, "1 0 * * 1"),
    {.key = "refresh_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct jobs_settings, refresh_timeout),
     .def = "0",
     .min = 0,
     .max = 86400},
    {.key = "retention",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, retention_cron),
     .def = "0 3 * * *",
     .check = check_cron5},
    {.key = "detect_outcomes",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, outcomes_cron),
     .def = "*/5 * * * *",
     .check = check_cron5},
    {.key = "watch_alerts",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, watch_cron),
     .def = "* * * * *",
     .check = check_cron5},
    {.key = "backup",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, backup_cron),
     .def = "30 1 * * *",
     .check = check_cron5},
    {.key = "repair_gaps",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, repair_cron),
     .def = "*/15 * * * *",
     .check = check_cron5},
    {.key = "scan_history",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, scan_history_cron),
     .def = "30 5 * * 0",
     .check = check_cron5},
    {.key = "backfill",
     .type = CONFIG_STRING,
     .offset = offsetof(struct jobs_settings, backfill_cron),
     .def = "* * * * *",
     .check = check_cron5},
    {0},
};

#define MAINT_CRON(field, d)                                                                       \
    {                                                                                              \
        .key = #field, .type = CONFIG_STRING, .offset = offsetof(struct maint_settings, field),    \
        .def = (d), .check = check_cron5                                                           \
    }
/* The maintenance tasks' schedules (maint/maint.h), UTC, by task id. */
static const struct config_option maint_options[] = {
    MAINT_CRON(health_check, "*/5 * * * *"),
    MAINT_CRON(data_cleanup, "0 2 * * *"),
    MAINT_CRON(log_rotation, "30 2 * * *"),
    MAINT_CRON(db_quick_check, "0 1 * * 1-6"),
    MAINT_CRON(db_maintenance, "0 1 * * 0"),
    MAINT_CRON(security_audit, "0 4 * * 0"),
    {.key = "task_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct maint_settings, task_timeout),
     .def = "0",
     .min = 0,
     .max = 86400,
     .env = "TASK_TIMEOUT_MINUTES",
     .env_unit = 60},
    {.key = "vacuum_min_free",
     .type = CONFIG_SIZE,
     .offset = offsetof(struct maint_settings, vacuum_min_free),
     .def = "64MB",
     .min = 0,
     .max = 1LL << 40},
    {.key = "proc_root",
     .type = CONFIG_STRING,
     .offset = offsetof(struct maint_settings, proc_root),
     .def = "/proc",
     .env = "CANDLEKEEP_PROC_ROOT"},
#define THRESHOLDS(k, field, d)                                                                    \
    {                                                                                              \
        .key = k, .type = CONFIG_STRING, .offset = offsetof(struct maint_settings, field),         \
        .def = (d), .check = check_thresholds                                                      \
    }
    THRESHOLDS("cpu_thresholds", cpu_thresholds, "80 85 90"),
    THRESHOLDS("memory_thresholds", memory_thresholds, "80 85 90"),
    THRESHOLDS("disk_thresholds", disk_thresholds, "80 85 90"),
    /* A load of one runnable task per CPU is a busy machine, not one in trouble. */
    THRESHOLDS("load_thresholds", load_thresholds, "100 150 200"),
    THRESHOLDS("files_thresholds", files_thresholds, "80 85 90"),
#undef THRESHOLDS
    {.key = "forecast_window",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct maint_settings, forecast_window),
     .def = "6h",
     .min = 1800,
     .max = 7 * 86400},
    {.key = "forecast_warn",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct maint_settings, forecast_warn),
     .def = "24h",
     .min = 0,
     .max = 30 * 86400},
    {.key = "forecast_critical",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct maint_settings, forecast_critical),
     .def = "6h",
     .min = 0,
     .max = 30 * 86400},
    {.key = "emergency_score",
     .type = CONFIG_INT,
     .offset = offsetof(struct maint_settings, emergency_score),
     .def = "30",
     .min = 0,
     .max = 100},
    {.key = "tmp_max_age",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct maint_settings, tmp_max_age),
     .def = "1d",
     .min = 60,
     .max = 365 * 86400LL},
    {0},
};

static const struct config_option signals_options[] = {
    OPT(struct signals_settings, "notify_outcomes", CONFIG_BOOL, notify_outcomes, "true"),
    {0},
};

static const struct config_option deliver_options[] = {
    {.key = "attempts",
     .type = CONFIG_INT,
     .offset = offsetof(struct deliver_settings, attempts),
     .def = "5",
     .min = 1,
     .max = 100},
    {.key = "base_delay",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct deliver_settings, base_delay),
     .def = NULL,
     .min = 0,
     .max = 3600},
    {.key = "max_delay",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct deliver_settings, max_delay),
     .def = NULL,
     .min = 0,
     .max = 86400},
    {.key = "lease",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct deliver_settings, lease),
     .def = "60s",
     .min = 2,
     .max = 3600},
    {.key = "connect_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct deliver_settings, connect_timeout),
     .def = "5s",
     .min = 1,
     .max = 300},
    {.key = "timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct deliver_settings, timeout),
     .def = "10s",
     .min = 1,
     .max = 600},
    OPT(struct deliver_settings, "telegram", CONFIG_BOOL, telegram, "true"),
    {0},
};

static int check_compress(const char *v, struct strbuf *why)
{
    enum backup_compress c;
    if (backup_compress_parse(v, &c)) {
        strbuf_addf(why, "'%s' is not a compression (zstd, gzip, none)", v);
        return CK_EINVAL;
    }
    return 0;
}

#define KEEP(k, f, d)                                                                              \
    {                                                                                              \
        .key = (k), .type = CONFIG_INT, .offset = offsetof(struct backup_settings, f), .def = (d), \
        .min = 0, .max = 10000                                                                     \
    }
static const struct config_option backup_options[] = {
    OPT(struct backup_settings, "dir", CONFIG_STRING, dir, ""),
    {.key = "compress",
     .type = CONFIG_STRING,
     .offset = offsetof(struct backup_settings, compress),
     .def = "zstd",
     .check = check_compress},
    OPT(struct backup_settings, "encrypt_key_file", CONFIG_STRING, encrypt_key_file, ""),
    KEEP("keep_daily", keep_daily, "7"),
    KEEP("keep_weekly", keep_weekly, "4"),
    KEEP("keep_monthly", keep_monthly, "6"),
    OPT(struct backup_settings, "copy_to", CONFIG_STRING, copy_to, ""),
    {.key = "copy_keep",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct backup_settings, copy_keep),
     .def = "30d",
     .min = 86400,
     .max = 3650 * 86400LL},
    {.key = "max_age",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct backup_settings, max_age),
     .def = "2d",
     .min = 3600,
     .max = 366 * 86400LL},
    {0},
};

/*
 * Keys of [source.NAME]. `api_key` has no env here: the variable that
 * overrides it depends on the kind (struct source_kind), as does the
 * default base_url.
 */
static const struct config_option source_options[] = {
    OPT(struct source_settings, "kind", CONFIG_STRING, kind, NULL),
    {.key = "api_key",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, api_key),
     .def = "",
     .show = CONFIG_SHOW_SECRET},
    {.key = "base_url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, base_url),
     .def = NULL,
     .check = check_url,
     .show = CONFIG_SHOW_URL},
    OPT(struct source_settings, "symbols", CONFIG_STRING, symbols_raw, NULL), /* the kind's */
    {.key = "symbol_map",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, symbol_map),
     .def = "",
     .check = check_symbol_map},
    {.key = "timeframes",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, timeframes_raw),
     .def = "M15 H1 H4 D1",
     .check = check_timeframes},
    {.key = "derive",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, derive_raw),
     .def = "",
     .check = check_timeframes},
    {.key = "calendar",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, calendar_raw),
     .def = NULL, /* the kind's */
     .check = check_calendar},
    {.key = "holidays",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, holidays_raw),
     .def = "",
     .check = check_holidays},
    /* The budget's defaults are the kind's documented free limits. */
    {.key = "rate_limit",
     .type = CONFIG_STRING,
     .offset = offsetof(struct source_settings, rate_limit),
     .def = NULL,
     .check = check_rate_limit},
    {.key = "rate_per_minute", /* rate_limit = N/1m */
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, rate_per_minute),
     .def = NULL,
     .min = 1,
     .max = 100000},
    {.key = "daily_quota",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, daily_quota),
     .def = NULL,
     .min = 0,
     .max = 100000000},
    {.key = "backfill",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, backfill),
     .def = "5000",
     .min = 1,
     .max = 10000000},
    {.key = "connect_timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct source_settings, connect_timeout),
     .def = "10s",
     .min = 1,
     .max = 300},
    {.key = "timeout",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct source_settings, timeout),
     .def = "30s",
     .min = 1,
     .max = 600},
    {.key = "max_body",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, max_body),
     .def = "16777216",
     .min = 1024,
     .max = 1LL << 30},
    {.key = "breaker_failures",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, breaker_failures),
     .def = "5",
     .min = 1,
     .max = 1000},
    {.key = "breaker_recovery",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct source_settings, breaker_recovery),
     .def = "60s",
     .min = 1,
     .max = 86400},
    {.key = "breaker_max_recovery",
     .type = CONFIG_DURATION,
     .offset = offsetof(struct source_settings, breaker_max_recovery),
     .def = "30m",
     .min = 1,
     .max = 7 * 86400},
    {.key = "symbol_skip_after",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, symbol_skip_after),
     .def = "10",
     .min = 0,
     .max = 100000},
    {.key = "symbol_probe_every",
     .type = CONFIG_INT,
     .offset = offsetof(struct source_settings, symbol_probe_every),
     .def = "10",
     .min = 1,
     .max = 100000},
    OPT(struct source_settings, "enabled", CONFIG_BOOL, enabled, "true"),
    {0},
};

static const struct config_option receiver_options[] = {
    {.key = "url",
     .type = CONFIG_STRING,
     .offset = offsetof(struct receiver_settings, url),
     .def = "",
     .check = check_url,
     .show = CONFIG_SHOW_URL},
    {.key = "secret",
     .type = CONFIG_STRING,
     .offset = offsetof(struct receiver_settings, secret),
     .def = "",
     .show = CONFIG_SHOW_SECRET},
    {0},
};

/* The fixed sections and where their settings live. */
struct section_table {
    const char *name;
    const struct config_option *opts;
    size_t offset;
};

static const struct section_table sections[] = {
    {"storage", storage_options, offsetof(struct settings, storage)},
    {"api", api_options, offsetof(struct settings, api)},
    {"log", log_options, offsetof(struct settings, log)},
    {"scheduler", scheduler_options, offsetof(struct settings, scheduler)},
    {"retry", retry_options, offsetof(struct settings, retry)},
    {"retention", retention_options, offsetof(struct settings, retention)},
    {"ingest", ingest_options, offsetof(struct settings, ingest)},
    {"alerts", alerts_options, offsetof(struct settings, alerts)},
    {"alerts.telegram", telegram_options, offsetof(struct settings, telegram)},
    {"alerts.webhook", alert_webhook_options, offsetof(struct settings, alert_webhook)},
    {"alerts.email", alert_email_options, offsetof(struct settings, alert_email)},
    {"digest", digest_options, offsetof(struct settings, digest)},
    {"heartbeat", heartbeat_options, offsetof(struct settings, heartbeat)},
    {"jobs", jobs_options, offsetof(struct settings, jobs)},
    {"maintenance", maint_options, offsetof(struct settings, maintenance)},
    {"signals", signals_options, offsetof(struct settings, signals)},
    {"deliver", deliver_options, offsetof(struct settings, deliver)},
    {"backup", backup_options, offsetof(struct settings, backup)},
    {"report", report_options, offsetof(struct settings, report)},
    {"export", export_options, offsetof(struct settings, export_)},
};

/* The line of key `key` in section `sec`, for messages about derived values. */
static int line_of(const struct config_file *cf, const char *sec, const char *key)
{
    for (size_t i = 0; i < cf->n; i++)
        if (!strcmp(cf->entries[i].section, sec) && !strcmp(cf->entries[i].key, key))
            return cf->entries[i].line;
    return 0;
}

static void report_at(struct config_report *rep, const struct config_file *cf, const char *sec,
                      const char *key, const char *reason)
{
    int line = line_of(cf, sec, key);
    if (cf->path && line)
        config_report_add(rep, "%s:%d: key '%s': %s", cf->path, line, key, reason);
    else
        config_report_add(rep, "[%s] %s: %s", sec, key, reason);
}

struct word_vec {
    char **v;
    size_t n, alloc;
};

static int push_word(const char *w, size_t len, void *arg)
{
    struct word_vec *wv = arg;
    for (size_t i = 0; i < wv->n; i++)
        if (strlen(wv->v[i]) == len && !memcmp(wv->v[i], w, len))
            return 0; /* listed twice: once is enough */
    ALLOC_GROW(wv->v, wv->n + 1, wv->alloc);
    wv->v[wv->n++] = xstrndup(w, len);
    return 0;
}

static int push_tf(const char *w, size_t len, void *arg)
{
    struct source_settings *src = arg;
    char name[8];
    enum timeframe tf;
    if (len >= sizeof(name))
        return CK_EINVAL;
    memcpy(name, w, len);
    name[len] = '\0';
    if (timeframe_parse(name, &tf))
        return CK_EINVAL;
    for (size_t i = 0; i < src->ntimeframes; i++)
        if (src->timeframes[i] == tf)
            return 0;
    src->timeframes[src->ntimeframes++] = tf;
    return 0;
}

struct day_vec {
    int64_t *v;
    size_t n, alloc;
};

static int push_day(const char *w, size_t len, void *arg)
{
    struct day_vec *dv = arg;
    int64_t t;
    if (time_parse_n(w, len, &t))
        return CK_EINVAL;
    ALLOC_GROW(dv->v, dv->n + 1, dv->alloc);
    dv->v[dv->n++] = t / 86400;
    return 0;
}

/*
 * Where a message about key `key` of section `sec` points: the key's line,
 * else the section's header, else (no file, or a section the file lacks)
 * the section by name.
 */
static void add_where(struct strbuf *out, const struct config_file *cf, const char *sec,
                      const char *key)
{
    int line = line_of(cf, sec, key);
    if (!line)
        line = config_section_line(cf, sec);
    if (cf->path && line)
        strbuf_addf(out, "%s:%d: key '%s': ", cf->path, line, key);
    else
        strbuf_addf(out, "[%s] key '%s': ", sec, key);
}

/*
 * The kind of a source: a known adapter, whose table entry supplies the
 * default base_url and the environment variable of the key. Returns NULL
 * (reported) for an unknown kind.
 */
static const struct source_kind *derive_kind(struct source_settings *src,
                                             const struct config_file *cf, const char *sec,
                                             struct config_report *rep)
{
    const struct source_kind *kind;
    bool named = src->kind && *src->kind;
    struct strbuf msg = STRBUF_INIT;

    if (!named) {
        free(src->kind);
        src->kind = xstrdup(src->name);
    }
    kind = source_kind_find(src->kind);
    if (!kind) {
        add_where(&msg, cf, sec, "kind");
        strbuf_addf(&msg, "unknown kind '%s'%s (known kinds: ", src->kind,
                    named ? "" : ", taken from the section name as no kind is set");
        source_kind_names(&msg);
        strbuf_addch(&msg, ')');
        config_report_add(rep, "%s", msg.buf);
        strbuf_release(&msg);
        return NULL;
    }
    if (!src->base_url || !*src->base_url) {
        const char *env = kind->url_env ? getenv(kind->url_env) : NULL;
        free(src->base_url);
        src->base_url = xstrdup(env && *env ? env : kind->base_url ? kind->base_url : "");
    }
    if (kind->key_env) {
        const char *env = getenv(kind->key_env);
        if (env && *env) {
            free(src->api_key);
            src->api_key = xstrdup(env);
        }
    }
    return kind;
}

/* An enabled source whose kind needs a key it lacks: say which key and where to set it. */
static void derive_key_problem(struct source_settings *src, const struct source_kind *kind,
                               const struct config_file *cf, const char *sec)
{
    struct strbuf msg = STRBUF_INIT;

    if (!kind || !kind->needs_key || !src->enabled || (src->api_key && *src->api_key))
        return;
    add_where(&msg, cf, sec, "api_key");
    strbuf_addf(&msg, "source '%s' needs a %s API key: set ", src->name, kind->title);
    if (kind->key_env)
        strbuf_addf(&msg, "%s in the environment (or api_key in [%s], ", kind->key_env, sec);
    else
        strbuf_addf(&msg, "api_key in [%s] (", sec);
    strbuf_addstr(&msg, "or enabled = false to skip it)");
    if (kind->key_help)
        strbuf_addf(&msg, "; %s", kind->key_help);
    src->key_problem = strbuf_detach(&msg, NULL);
}

/*
 * What the file leaves to the kind: symbols, calendar and the rate budget
 * (the documented free limits), then the budget's identity (one per key,
 * or per IP for a keyless venue) and the timeframes the venue serves.
 */
static void derive_venue(struct source_settings *src, const struct source_kind *kind,
                         const struct config_file *cf, const char *sec, struct config_report *rep)
{
    struct strbuf sb = STRBUF_INIT;
    int64_t n, w;

    if (!src->symbols_raw)
        src->symbols_raw = xstrdup(kind ? kind->symbols : "");
    if (!src->calendar_raw)
        src->calendar_raw = xstrdup(kind && kind->calendar ? kind->calendar : "crypto");
    src->rate_window_ms = kind ? kind->rate_window_ms : 60000;
    src->rate_per_window = kind ? kind->rate_per_window : 1;
    if (line_of(cf, sec, "rate_limit") && line_of(cf, sec, "rate_per_minute"))
        report_at(rep, cf, sec, "rate_per_minute",
                  "rate_limit is set too: keep one of them (rate_per_minute = N is "
                  "rate_limit = N/1m)");
    if (src->rate_limit && !parse_rate_limit(src->rate_limit, &n, &w)) {
        src->rate_per_window = n;
        src->rate_window_ms = w * 1000;
    } else if (line_of(cf, sec, "rate_per_minute")) {
        src->rate_per_window = src->rate_per_minute;
        src->rate_window_ms = 60000;
    }
    if (!line_of(cf, sec, "daily_quota"))
        src->daily_quota = kind ? kind->daily_quota : 0;
    /* Show what is in force. */
    if (!src->rate_limit) {
        strbuf_addf(&sb, "%lld/", (long long)src->rate_per_window);
        config_format_duration(src->rate_window_ms / 1000, &sb);
        src->rate_limit = strbuf_detach(&sb, NULL);
    }
    if (!line_of(cf, sec, "rate_per_minute"))
        src->rate_per_minute = src->rate_window_ms == 60000 ? src->rate_per_window : 0;
    if (!kind)
        return;
    source_budget_key(kind, src->api_key, src->base_url, &sb);
    src->budget_key = strbuf_detach(&sb, NULL);
    src->venue = kind;
}

/* Timeframes the venue does not serve are an error naming the venue. */
static void check_venue_timeframes(const struct source_settings *src, const struct config_file *cf,
                                   const char *sec, struct config_report *rep)
{
    struct strbuf msg = STRBUF_INIT;

    if (!src->venue)
        return;
    for (size_t i = 0; i < src->ntimeframes; i++) {
        /* A derived timeframe is built here and never asked of the venue. */
        if (source_kind_serves(src->venue, src->timeframes[i]) ||
            src->derive.derived[src->timeframes[i]])
            continue;
        strbuf_reset(&msg);
        strbuf_addf(&msg,
                    "%s does not serve %s candles (source '%s'; it serves:", src->venue->title,
                    timeframe_name(src->timeframes[i]), src->name);
        for (int tf = 0; tf < TF_COUNT; tf++)
            if (source_kind_serves(src->venue, (enum timeframe)tf))
                strbuf_addf(&msg, " %s", timeframe_name((enum timeframe)tf));
        strbuf_addch(&msg, ')');
        report_at(rep, cf, sec, "timeframes", msg.buf);
    }
    strbuf_release(&msg);
}

/* The `derive` timeframes: each needs a fetched timeframe of the source that builds it. */
static void derive_plan(struct source_settings *src, const struct config_file *cf, const char *sec,
                        struct config_report *rep)
{
    struct source_settings tmp = {0};
    struct strbuf why = STRBUF_INIT;

    /* push_tf() fills a timeframe list without duplicates; borrow it. */
    if (parse_words(src->derive_raw, push_tf, &tmp))
        return; /* already reported by the table check */
    if (resample_plan_init(&src->derive, src->calendar, src->timeframes, src->ntimeframes,
                           tmp.timeframes, tmp.ntimeframes, &why))
        report_at(rep, cf, sec, "derive", why.buf);
    strbuf_release(&why);
}

static void derive_source(struct source_settings *src, const struct config_file *cf,
                          struct config_report *rep)
{
    struct strbuf sec = STRBUF_INIT;
    struct word_vec wv = {0};
    struct day_vec dv = {0};
    const struct source_kind *kind;

    strbuf_addf(&sec, "source.%s", src->name);
    kind = derive_kind(src, cf, sec.buf, rep);
    derive_key_problem(src, kind, cf, sec.buf);
    derive_venue(src, kind, cf, sec.buf, rep);
    parse_words(src->symbols_raw, push_word, &wv);
    src->symbols = wv.v;
    src->nsymbols = wv.n;
    if (!src->nsymbols && kind)
        report_at(rep, cf, sec.buf, "symbols", "no symbols listed");
    if (parse_words(src->timeframes_raw, push_tf, src) || !src->ntimeframes)
        report_at(rep, cf, sec.buf, "timeframes", "no valid timeframes listed");
    if (calendar_kind_parse(src->calendar_raw, &src->calendar))
        src->calendar = CAL_CRYPTO; /* already reported by the table check */
    derive_plan(src, cf, sec.buf, rep);
    check_venue_timeframes(src, cf, sec.buf, rep);
    parse_words(src->holidays_raw, push_day, &dv);
    src->holidays = dv.v;
    src->nholidays = dv.n;
    if (src->breaker_max_recovery < src->breaker_recovery)
        report_at(rep, cf, sec.buf, "breaker_max_recovery",
                  "is shorter than breaker_recovery (the recovery time only grows)");
    strbuf_release(&sec);
}

/*
 * Telegram alerts need both bot_token and chat_id; one without the other is
 * a mistake (an operator who set a token expects messages), not "off".
 */
static void check_telegram(const struct settings *s, const struct config_file *cf,
                           struct config_report *rep)
{
    bool token = s->telegram.bot_token && *s->telegram.bot_token;
    bool chat = s->telegram.chat_id && *s->telegram.chat_id;
    const char *have = token ? "bot_token" : "chat_id", *missing = token ? "chat_id" : "bot_token";
    const char *env = token ? "OPS_TELEGRAM_CHAT_ID" : "OPS_TELEGRAM_BOT_TOKEN";
    int line = line_of(cf, "alerts.telegram", have);
    struct strbuf where = STRBUF_INIT;

    if (token == chat)
        return;
    if (cf->path && line)
        strbuf_addf(&where, "%s:%d: ", cf->path, line);
    config_report_add(rep,
                      "%s[alerts.telegram] %s is missing: %s is set, and Telegram alerts need "
                      "both (set %s or %s; or neither, to turn them off)",
                      where.buf, missing, have, missing, env);
    strbuf_release(&where);
}

/*
 * [alerts.email]: a channel that is asked for (enabled = true in the file
 * or ALERT_EMAIL_ENABLED=true) needs an smtp_url; one with an smtp_url
 * must make a channel (from, to, the TLS choice), checked by building it
 * the way the daemon will.
 */
static void check_email(const struct settings *s, const struct config_file *cf,
                        struct config_report *rep)
{
    const struct email_settings *em = &s->alert_email;
    const char *env = getenv("ALERT_EMAIL_ENABLED");
    bool asked = line_of(cf, "alerts.email", "enabled") != 0, on = false;
    struct telegram_settings no_tg = {0};
    struct alert_webhook_settings no_wh = {0};
    struct notify_channel **v = NULL;
    struct strbuf why = STRBUF_INIT;
    size_t n = 0;

    if (env && *env && !parse_bool(env, &on) && on)
        asked = true;
    if (!em->enabled)
        return;
    if (!*em->smtp_url) {
        if (asked)
            report_at(rep, cf, "alerts.email", "smtp_url",
                      "email alerts are enabled (enabled or ALERT_EMAIL_ENABLED) but no "
                      "smtp_url is set");
        return;
    }
    if (notify_channels_new(&no_tg, &no_wh, em, NULL, &v, &n, &why)) {
        const char *msg = why.buf;
        const char *key = strstr(msg, "] to") ? "to" : strstr(msg, "] from") ? "from" : "smtp_url";
        /* The channel's messages name the section; the report names file, line and key. */
        if (!strncmp(msg, "[alerts.email] ", 15))
            msg += 15;
        if (!strncmp(msg, key, strlen(key)) && msg[strlen(key)] == ':')
            msg += strlen(key) + 1 + (msg[strlen(key) + 1] == ' ');
        report_at(rep, cf, "alerts.email", key, msg);
    }
    notify_channels_free(v, n);
    strbuf_release(&why);
}

static void release_source(struct source_settings *src)
{
    config_release(source_options, src);
    for (size_t i = 0; i < src->nsymbols; i++)
        free(src->symbols[i]);
    free(src->symbols);
    free(src->holidays);
    free(src->key_problem);
    free(src->budget_key);
    free(src->name);
}

/* The delays [deliver] does not set are [retry]'s; a lease must outlast a request. */
static void derive_deliver(struct settings *s, const struct config_file *cf,
                           struct config_report *rep)
{
    struct deliver_settings *d = &s->deliver;
    if (!line_of(cf, "deliver", "base_delay"))
        d->base_delay = s->retry.base_delay;
    if (!line_of(cf, "deliver", "max_delay"))
        d->max_delay = s->retry.max_delay;
    if (d->lease <= d->timeout)
        report_at(rep, cf, "deliver", "lease",
                  "must be longer than timeout (a lease that lapses mid-request lets another "
                  "deliverer send the same delivery)");
}

/* A receiver's url and secret: both needed, the secret readable as a key. */
static void check_receiver(const struct receiver_settings *r, const struct config_file *cf,
                           const char *sec, struct config_report *rep)
{
    struct whsig_key key;
    struct strbuf why = STRBUF_INIT;
    if (!*r->url)
        report_at(rep, cf, sec, "url", "a signal receiver needs a url");
    if (!*r->secret) {
        report_at(rep, cf, sec, "secret",
                  "a signal receiver needs a secret (whsec_<base64>, or any text used as is)");
    } else if (whsig_key_parse(r->secret, &key, &why)) {
        struct strbuf msg = STRBUF_INIT;
        strbuf_addf(&msg, "secret of receiver '%s': %s", r->name, why.buf);
        report_at(rep, cf, sec, "secret", msg.buf);
        strbuf_release(&msg);
    }
    memset(&key, 0, sizeof(key));
    strbuf_release(&why);
}

static bool is_known_section(const char *sec)
{
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
        if (!strcmp(sec, sections[i].name))
            return true;
    return (!strncmp(sec, "source.", 7) && sec[7]) || (!strncmp(sec, "webhook.", 8) && sec[8]);
}

/* One message per unknown section (at its header) instead of one per key in it. */
static void report_unknown_sections(struct config_file *cf, struct config_report *rep)
{
    for (size_t i = 0; i < cf->nsections; i++) {
        const struct config_section *sec = &cf->sections[i];
        bool dup = false;
        if (is_known_section(sec->name))
            continue;
        for (size_t j = 0; j < i; j++)
            dup = dup || !strcmp(cf->sections[j].name, sec->name);
        if (!dup)
            config_report_add(rep, "%s:%d: section [%s]: unknown section", cf->path, sec->line,
                              sec->name);
    }
    for (size_t i = 0; i < cf->n; i++)
        if (!is_known_section(cf->entries[i].section))
            cf->entries[i].used = true;
}

int settings_load(struct settings *s, const char *path, struct config_report *rep)
{
    struct config_file cf = CONFIG_FILE_INIT;
    const char **names = NULL;
    size_t nnames;

    memset(s, 0, sizeof(*s));
    if (!path) {
        const char *env = getenv("CANDLEKEEP_CONFIG");
        if (env && *env)
            path = env;
        else if (!access("candlekeep.ini", F_OK))
            path = "candlekeep.ini";
    }
    if (path) {
        if (config_file_load(&cf, path, rep)) {
            config_file_release(&cf);
            return CK_ECONFIG;
        }
        s->path = xstrdup(path);
    }

    for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
        config_apply(&cf, sections[i].name, sections[i].opts, (char *)s + sections[i].offset, rep);
    if (!s->ingest.backfill_reserve_raw ||
        parse_reserve(s->ingest.backfill_reserve_raw, &s->ingest.backfill_reserve))
        s->ingest.backfill_reserve = 25; /* reported by check_reserve() */

    check_telegram(s, &cf, rep);
    check_email(s, &cf, rep);

    nnames = config_subsections(&cf, "source.", &names);
    if (!nnames) {
        /*
         * No source configured: a keyless venue, so that the daemon runs
         * out of the box, and Twelve Data's gold when its key is set.
         */
        const char *key = getenv("TWELVE_DATA_API_KEY");
        static const char *const defaults[] = {"binance", "twelvedata"};
        size_t n = key && *key ? 2 : 1;

        s->sources = xcalloc(n, sizeof(*s->sources));
        for (size_t i = 0; i < n; i++) {
            struct strbuf sec = STRBUF_INIT;
            strbuf_addf(&sec, "source.%s", defaults[i]);
            s->sources[i].name = xstrdup(defaults[i]);
            config_apply(&cf, sec.buf, source_options, &s->sources[i], rep);
            derive_source(&s->sources[i], &cf, rep);
            s->nsources++;
            strbuf_release(&sec);
        }
    } else {
        s->sources = xcalloc(nnames, sizeof(*s->sources));
        for (size_t i = 0; i < nnames; i++) {
            struct strbuf sec = STRBUF_INIT;
            struct source_settings *src = &s->sources[i];
            strbuf_addf(&sec, "source.%s", names[i]);
            src->name = xstrdup(names[i]);
            config_apply(&cf, sec.buf, source_options, src, rep);
            derive_source(src, &cf, rep);
            strbuf_release(&sec);
            s->nsources++;
        }
    }
    free(names);

    nnames = config_subsections(&cf, "webhook.", &names);
    s->receivers = xcalloc(nnames ? nnames : 1, sizeof(*s->receivers));
    for (size_t i = 0; i < nnames; i++) {
        struct strbuf sec = STRBUF_INIT;
        struct receiver_settings *r = &s->receivers[i];
        strbuf_addf(&sec, "webhook.%s", names[i]);
        r->name = xstrdup(names[i]);
        config_apply(&cf, sec.buf, receiver_options, r, rep);
        check_receiver(r, &cf, sec.buf, rep);
        s->nreceivers++;
        strbuf_release(&sec);
    }
    free(names);
    derive_deliver(s, &cf, rep);

    report_unknown_sections(&cf, rep);
    config_report_unused(&cf, rep);
    config_file_release(&cf);
    return rep->count ? CK_ECONFIG : 0;
}

void settings_release(struct settings *s)
{
    for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
        config_release(sections[i].opts, (char *)s + sections[i].offset);
    for (size_t i = 0; i < s->nsources; i++)
        release_source(&s->sources[i]);
    free(s->sources);
    for (size_t i = 0; i < s->nreceivers; i++) {
        config_release(receiver_options, &s->receivers[i]);
        free(s->receivers[i].name);
    }
    free(s->receivers);
    free(s->path);
    memset(s, 0, sizeof(*s));
}

struct source_settings *settings_source(struct settings *s, const char *name)
{
    for (size_t i = 0; i < s->nsources; i++)
        if (!strcmp(s->sources[i].name, name))
            return &s->sources[i];
    return NULL;
}

struct signal_config settings_signal_config(const struct settings *s)
{
    return (struct signal_config){
        .sources = s->sources,
        .nsources = s->nsources,
        .receivers = s->receivers,
        .nreceivers = s->nreceivers,
    };
}

struct source_settings *settings_source_for_symbol(struct settings *s, const char *symbol)
{
    for (size_t i = 0; i < s->nsources; i++) {
        struct source_settings *src = &s->sources[i];
        if (src->enabled && (!symbol || source_settings_has_symbol(src, symbol)))
            return src;
    }
    return NULL;
}

bool source_settings_check_key(const struct source_settings *src, struct config_report *rep)
{
    if (!src->key_problem)
        return false;
    config_report_add(rep, "%s", src->key_problem);
    return true;
}

/* Every key of `opts` for `src`, under `section`. */
static void show_section(const char *section, const struct config_option *opts, const void *src,
                         settings_show_fn *fn, void *arg)
{
    struct strbuf value = STRBUF_INIT;

    for (const struct config_option *o = opts; o->key; o++) {
        strbuf_reset(&value);
        config_format_value(o, src, &value);
        fn(section, o->key, o->type, value.buf, arg);
    }
    strbuf_release(&value);
}

void settings_show(const struct settings *s, settings_show_fn *fn, void *arg)
{
    struct strbuf sec = STRBUF_INIT;

    for (size_t i = 0; i < ARRAY_SIZE(sections); i++)
        show_section(sections[i].name, sections[i].opts, (const char *)s + sections[i].offset, fn,
                     arg);
    for (size_t i = 0; i < s->nsources; i++) {
        strbuf_reset(&sec);
        strbuf_addf(&sec, "source.%s", s->sources[i].name);
        show_section(sec.buf, source_options, &s->sources[i], fn, arg);
    }
    for (size_t i = 0; i < s->nreceivers; i++) {
        strbuf_reset(&sec);
        strbuf_addf(&sec, "webhook.%s", s->receivers[i].name);
        show_section(sec.buf, receiver_options, &s->receivers[i], fn, arg);
    }
    strbuf_release(&sec);
}

void settings_register_secrets(const struct settings *s)
{
    redact_add_secret(s->api.token);
    redact_add_secret(s->telegram.bot_token);
    redact_add_secret(s->alert_email.password);
    redact_add_url_secrets(s->alert_email.smtp_url, 0);
    for (size_t i = 0; i < s->nsources; i++) {
        redact_add_secret(s->sources[i].api_key);
        redact_add_url_secrets(s->sources[i].base_url, 0);
    }
    for (size_t i = 0; i < s->nreceivers; i++) {
        redact_add_secret(s->receivers[i].secret);
        redact_add_url_secrets(s->receivers[i].url, 0);
    }
    /* Passwords in URLs; ping and incoming-webhook URLs are secret as a whole. */
    redact_add_url_secrets(s->storage.url, 0);
    redact_add_url_secrets(s->telegram.base_url, 0);
    redact_add_url_secrets(s->heartbeat.url, REDACT_URL_PATH);
    redact_add_url_secrets(s->alert_webhook.url, REDACT_URL_PATH);
}
