/* SPDX-License-Identifier: MIT */
#ifndef CK_CK_SETTINGS_H
#define CK_CK_SETTINGS_H

#include "alert/alert.h"
#include "alert/notify.h"
#include "backup/backup.h"
#include "export/export.h"
#include "maint/maint.h"
#include "report/report.h"
#include "market/calendar.h"
#include "signal/deliver.h"
#include "signal/signal.h"
#include "source/source_settings.h"
#include "market/timeframe.h"
#include "resilience/retry.h"
#include "util/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The whole configuration of candlekeep, parsed and validated: one struct
 * per section, filled from each subsystem's option table (settings.c), with
 * defaults for everything so that no file at all is a valid configuration
 * (SQLite in the current directory, the API on 127.0.0.1:8080, Twelve Data
 * XAU/USD M15 H1 H4 D1 on the metals calendar).
 *
 * Environment variables that override the file: DATABASE_URL, MAX_RETRIES,
 * RETRY_DELAY_SECONDS, ALERT_COOLDOWN_MINUTES, OPS_TELEGRAM_BOT_TOKEN,
 * OPS_TELEGRAM_CHAT_ID, CANDLEKEEP_API_TOKEN, LOG_LEVEL, MAX_CONCURRENT_TASKS
 * ([scheduler] workers), TASK_TIMEOUT_MINUTES ([maintenance] task_timeout),
 * and the key variable of each source kind (TWELVE_DATA_API_KEY).
 *
 * Loading checks each [source.NAME]'s kind against the adapters' table
 * (source/source.h): an unknown kind is a problem like any bad value. A
 * missing API key is recorded with the source (key_problem) rather than
 * reported, so commands that only read stored data work without the
 * provider's key; the daemon, `fetch` and `config check` report it through
 * source_settings_check_key().
 */

struct storage_settings {
    char *url;
};

struct api_settings {
    char *listen;
    char *token;
    int64_t max_connections;            /* open at once, below the file limit's share */
    int64_t max_connections_per_client; /* open at once from one address */
    int64_t request_timeout;            /* seconds for a whole request to arrive */
};

struct log_settings {
    char *level;
    char *format;
    char *file;
    int64_t max_size; /* bytes: rotate `file` when it reaches this; 0: never on size */
    int64_t keep;     /* rotated files kept */
    char *compress;   /* "gzip" or "none" */
};

struct scheduler_settings {
    int64_t workers;
    int64_t history_keep; /* seconds of job history to keep */
};

struct retention_settings {
    int64_t keep[TF_COUNT]; /* seconds; 0 = forever */
    int64_t backtests;      /* seconds; 0 = forever */
    int64_t alert_messages; /* seconds; sent or failed alert messages; 0 = forever */
    int64_t batch;          /* rows deleted per transaction */
};

struct ingest_settings {
    int64_t gap_window;      /* seconds scanned for gaps after each refresh */
    int64_t repair_attempts; /* empty answers before a gap is unfillable */
    int64_t repair_min_age;  /* seconds those answers span at least */
    /*
     * backfill_reserve = 25%: the share of a budget's window (and day)
     * that a backfill leaves to the refresh jobs; the percentage is
     * derived from the raw text.
     */
    char *backfill_reserve_raw;
    int64_t backfill_reserve; /* percent, 0..90 */
};

struct digest_settings {
    char *schedule;
};

/* [jobs]: schedule overrides; refresh_candles_<TF> = cron, timeouts. */
struct jobs_settings {
    char *refresh_cron[TF_COUNT];
    int64_t refresh_timeout; /* seconds; 0 = one period of the schedule */
    char *retention_cron;    /* [jobs] retention */
    char *outcomes_cron;     /* [jobs] detect_outcomes */
    char *watch_cron;        /* watch_alerts: the alert conditions polled */
    char *backup_cron;       /* [jobs] backup */
    char *repair_cron;       /* [jobs] repair_gaps */
    char *scan_history_cron; /* [jobs] scan_history */
    char *backfill_cron;     /* [jobs] backfill: queued backfills carried forward */
};

/* [signals] */
struct signals_settings {
    bool notify_outcomes; /* tell the operators' channels of each outcome */
};

struct heartbeat_settings {
    char *url;
    int64_t interval;
};

struct settings {
    char *path; /* the file read, or NULL */
    struct storage_settings storage;
    struct api_settings api;
    struct log_settings log;
    struct scheduler_settings scheduler;
    struct retry_settings retry;
    struct retention_settings retention;
    struct ingest_settings ingest;
    struct alerts_settings alerts;
    struct telegram_settings telegram;
    struct alert_webhook_settings alert_webhook;
    struct email_settings alert_email;
    struct digest_settings digest;
    struct heartbeat_settings heartbeat;
    struct jobs_settings jobs;
    struct maint_settings maintenance;
    struct signals_settings signals;
    struct deliver_settings deliver;
    struct backup_settings backup;
    struct report_settings report;
    struct export_settings export_;
    struct source_settings *sources;
    size_t nsources;
    struct receiver_settings *receivers;
    size_t nreceivers;
};

/*
 * Load the configuration. `path` NULL means: $CANDLEKEEP_CONFIG, else
 * ./candlekeep.ini if it exists, else defaults only. An explicit path that
 * does not exist is an error. Every problem is added to `rep` as
 * `file:line: key 'x': reason`; the return is 0 when rep->count is 0,
 * CK_ECONFIG otherwise. On any return the settings must be released.
 */
int settings_load(struct settings *s, const char *path, struct config_report *rep);
void settings_release(struct settings *s);

/* Find a source by name; NULL if none. */
struct source_settings *settings_source(struct settings *s, const char *name);
/* The first enabled source that lists `symbol` (NULL: the first enabled source). */
struct source_settings *settings_source_for_symbol(struct settings *s, const char *symbol);

/*
 * Add the key problem of `src` (see key_problem) to `rep`. Returns true
 * when there was one: the source cannot run.
 */
bool source_settings_check_key(const struct source_settings *src, struct config_report *rep);

/*
 * Call `fn` for every key of every section the settings hold, in file
 * order of sections ([storage], [api], ... then each [source.NAME] and
 * [webhook.NAME]) with its effective value as it would be written in the
 * file, secrets masked (keys, tokens and webhook secrets as "***", URLs
 * through redact_url(), ping and incoming-webhook URLs without their path)
 * and its type. `section` and `value` are borrowed for the call only.
 */
typedef void settings_show_fn(const char *section, const char *key, enum config_type type,
                              const char *value, void *arg);
void settings_show(const struct settings *s, settings_show_fn *fn, void *arg);

/* What signals are checked against and delivered to: `s`'s sources and receivers (borrowed). */
struct signal_config settings_signal_config(const struct settings *s);

/* Register every secret of `s` with the redactor (util/redact.h). */
void settings_register_secrets(const struct settings *s);

#endif
