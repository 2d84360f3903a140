/* SPDX-License-Identifier: MIT */
#ifndef CK_MAINT_MAINT_H
#define CK_MAINT_MAINT_H

#include "alert/notify.h"
#include "health/host.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct job_ctx;
struct json_t;
struct store;

/*
 * Maintenance: the upkeep of candlekeep's own house. Each task is a job of
 * the one job table (jobs/table.h, kind "maintenance"), so its schedule,
 * history, leases, timeouts, failure streaks, pause and resume are the
 * scheduler's; this folder holds what the tasks do. A task fills a
 * `struct maint_result`: a one-line message and a JSON object of details
 * (files processed, bytes freed, findings...) that the job history keeps.
 *
 * The task ids are spelled here and nowhere else. Default schedules (UTC,
 * each overridable in [maintenance] by its id):
 *
 *   health_check     every 5 minutes        the host's CPU, memory, disks
 *   data_cleanup     daily 02:00            history, leases, stale *.tmp files
 *   log_rotation     daily 02:30            the log file (and on size, util/log.h)
 *   db_quick_check   daily 01:00 but Sunday a quick integrity check of the database
 *   db_maintenance   Sunday 01:00           full integrity check, statistics, checkpoint, vacuum
 *   security_audit   Sunday 04:00           secrets in logs, permissions, exposure
 */
#define MAINT_HEALTH_CHECK   HOST_CHECK_JOB
#define MAINT_DATA_CLEANUP   "data_cleanup"
#define MAINT_LOG_ROTATION   "log_rotation"
#define MAINT_DB_QUICK_CHECK "db_quick_check"
#define MAINT_DB_MAINTENANCE "db_maintenance"
#define MAINT_SECURITY_AUDIT "security_audit"

/* [maintenance] */
struct maint_settings {
    char *health_check; /* cron schedules, by task id */
    char *data_cleanup;
    char *log_rotation;
    char *db_quick_check;
    char *db_maintenance;
    char *security_audit;
    int64_t task_timeout;    /* seconds (TASK_TIMEOUT_MINUTES); 0: one period of the schedule */
    int64_t tmp_max_age;     /* seconds: a *.tmp file older than this is stale */
    int64_t vacuum_min_free; /* bytes free in the SQLite file before VACUUM is worth it */
    /* health_check */
    char *proc_root;      /* procfs (CANDLEKEEP_PROC_ROOT) */
    char *cpu_thresholds; /* "warn high critical", percent */
    char *memory_thresholds;
    char *disk_thresholds;
    char *load_thresholds;
    char *files_thresholds;
    int64_t forecast_window;   /* seconds */
    int64_t forecast_warn;     /* seconds */
    int64_t forecast_critical; /* seconds */
    int64_t emergency_score;   /* below it: an emergency cleanup */
};

/*
 * A condition a task found or saw gone, for the alert manager (the job
 * that runs the task tells it: alert_fire() or alert_clear()), so that
 * each is told once per episode as every alert.
 */
struct maint_alert {
    char *key; /* "db:integrity", "host:cpu", "host:disk:/var/lib/candlekeep" */
    bool firing;
    enum notify_severity severity;
    char *title;
    char *details;
};

/* What a task did. */
struct maint_result {
    struct strbuf message;  /* one line */
    struct json_t *details; /* a JSON object (jansson), owned */
    bool failed; /* the task found a problem (integrity, a high finding): the run fails */
    struct maint_alert *alerts;
    size_t nalerts, alerts_alloc;
};
void maint_result_init(struct maint_result *r);
void maint_result_release(struct maint_result *r);
/* Set details[key] to an integer, a string (copied). */
void maint_detail_int(struct maint_result *r, const char *key, int64_t v);
void maint_detail_str(struct maint_result *r, const char *key, const char *v);
/* Record condition `key` as firing (title and details copied). */
void maint_alert_fire(struct maint_result *r, const char *key, enum notify_severity severity,
                      const char *title, const char *details);
/* Record condition `key` as gone (`details` may be NULL). */
void maint_alert_clear(struct maint_result *r, const char *key, const char *details);
/* The details as compact JSON text, appended to `out`. */
void maint_details_text(const struct maint_result *r, struct strbuf *out);

/*
 * data_cleanup: job history and leases older than `history_keep`, and
 * stale temporary files (`*.tmp` not modified for `tmp_max_age`) directly
 * in each of `dirs` (candlekeep's own directories: the database's, the
 * log's...). Details: {"job_runs_deleted":N, "tmp_files_deleted":N,
 * "bytes_freed":N, "dirs":[...]}. A directory that cannot be read is
 * reported in the details ("errors") and does not fail the run; the
 * store's failure does (its CK_E*, reason in `err`).
 */
struct maint_cleanup {
    int64_t history_keep; /* seconds */
    int64_t tmp_max_age;  /* seconds */
    const char *const *dirs;
    size_t ndirs;
};
int maint_cleanup_run(struct store *st, const struct maint_cleanup *c, int64_t now,
                      struct maint_result *out, struct strbuf *err);

/*
 * log_rotation: rotate the log file now when it holds anything (util/log.h),
 * wait for the compressor and report the rotations kept. Details:
 * {"rotated":"<file>"|null, "files":N, "bytes":N, "bytes_freed":N}. With no
 * log file (stderr) there is nothing to do: ok with a message saying so.
 */
int maint_log_rotation_run(const char *log_file, struct maint_result *out, struct strbuf *err);

/*
 * db_quick_check (`full` false) and db_maintenance (`full` true): the
 * integrity check (quick, or full), and with `full` the upkeep of
 * store/upkeep.h (statistics, checkpoint, VACUUM over `vacuum_min_free`
 * bytes free; PostgreSQL's VACUUM (ANALYZE) and table report). A failed
 * check fails the run and fires the critical alert "db:integrity"; a good
 * one clears it. Details: {"check", "integrity": "ok"|"failed"|"not
 * checked", "problems", and for `full` "analyzed", "checkpointed",
 * "wal_frames", "vacuumed", "vacuum", "size_before", "size_after",
 * "bytes_freed", "free_bytes", "disk_free", "tables": [{name, rows,
 * dead_rows, table_bytes, index_bytes}]}.
 */
struct maint_db {
    bool full;
    int64_t vacuum_min_free; /* bytes */
};
int maint_db_run(struct store *st, const struct maint_db *c, struct maint_result *out,
                 struct strbuf *err);

/*
 * health_check: read the host through `probe` (health/host.h: its rules),
 * judge it against the previous runs' details, and write the assessment
 * into out->details; `*out_score` gets the score. Each component's alert
 * (host:cpu, host:memory, host:load, host:open_files, host:disk:<dir>,
 * host:disk_forecast) is fired at warn and above (critical at critical)
 * and cleared when back to ok. `ctx` (may be NULL) lends job_sleep() for
 * the second CPU reading when no recent run left counters.
 */
struct maint_host {
    const struct host_config *cfg;
    struct host_probe probe;
    const char *const *dirs;
    size_t ndirs;
    int64_t now; /* Unix s */
};
int maint_host_run(struct store *st, struct job_ctx *ctx, const struct maint_host *c,
                   struct maint_result *out, int *out_score, struct strbuf *err);

/*
 * security_audit: secrets in candlekeep's own logs (current and rotated,
 * compressed ones included), permissions of the configuration file (when
 * it holds secrets), the database, the logs and candlekeep's directories,
 * an API off loopback without a token, and plain http:// to hosts that are
 * not loopback. Details: {"findings": [{check, severity (low|medium|high),
 * subject, detail}], "high", "medium", "log_files", "log_lines"}. A high
 * finding fails the run (so `maintenance run security_audit` exits 1) and
 * fires MAINT_ALERT_SECURITY; none clears it. Strings borrowed.
 */
struct maint_audit_url {
    const char *what; /* "source 'twelvedata'", "receiver 'bot'" */
    const char *url;
};
struct maint_audit {
    const char *log_file;       /* "" or NULL: logging to stderr */
    const char *config_path;    /* NULL: no file */
    const char *const *secrets; /* the configured secret values: is one written in the file? */
    size_t nsecrets;
    const char *db_file; /* the SQLite file; NULL for PostgreSQL */
    const char *const *dirs;
    size_t ndirs;
    const char *api_listen;
    bool api_token_set;
    const struct maint_audit_url *urls;
    size_t nurls;
};
int maint_audit_run(const struct maint_audit *a, struct maint_result *out, struct strbuf *err);

/* The key of the security audit's alert. */
#define MAINT_ALERT_SECURITY "security:audit"

/* The key of the integrity alert. */
#define MAINT_ALERT_DB_INTEGRITY "db:integrity"

#endif
