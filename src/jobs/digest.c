/* SPDX-License-Identifier: MIT */
/*
 * The daily health digest (see digest.h): collect, format, queue.
 *
 * Collecting reads only the database and the configuration: signal counts
 * (store_signal_counts), the last finished run of the retention job and
 * its details; from the health report (health/health.h, so the digest
 * says what /health and `candlekeep status` say) the daemons, the jobs
 * (paused, streak, overdue), the newest candle and age of every configured
 * series, the open gaps and the rate budgets' day counts; the database's
 * size and, for SQLite, the free space of its file system.
 *
 * Formatting is a pure function of the report, so a test can pin the text
 * without a database. The text is plain; the channels escape it (the
 * Telegram channel shows a multi-line text in monospace, which is why the
 * columns are padded).
 */
#include "jobs/digest.h"

#include "alert/alert.h"
#include "ck/ck.h"
#include "health/health.h"
#include "jobs/table.h"
#include "jobs/retention.h"
#include "sched/sched.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "util/banned.h"

void digest_report_release(struct digest_report *r)
{
    free(r->host);
    free(r->backups);
    free(r->retention_status);
    free(r->retention_message);
    for (size_t i = 0; i < r->ndeleted; i++)
        free(r->deleted[i].name);
    free(r->deleted);
    for (size_t i = 0; i < r->njobs; i++)
        free(r->jobs[i].id);
    free(r->jobs);
    for (size_t i = 0; i < r->nseries; i++) {
        free(r->series[i].source);
        free(r->series[i].symbol);
    }
    free(r->series);
    for (size_t i = 0; i < r->nproviders; i++)
        free(r->providers[i].source);
    free(r->providers);
    memset(r, 0, sizeof(*r));
}

/* --- the retention run ---------------------------------------------------- */

static void add_count(struct digest_count **out, size_t *n, const char *name, int64_t v)
{
    *out = xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[*n].name = xstrdup(name);
    (*out)[*n].n = v;
    (*n)++;
}

void digest_parse_deleted(const char *details, struct digest_count **out, size_t *n)
{
    json_t *root = json_loads(details ? details : "", 0, NULL), *obj, *v;
    const char *k;
    bool prefixed = false;

    if (!json_is_object(root))
        goto out;
    obj = json_object_get(root, "deleted");
    if (json_is_object(obj)) {
        json_object_foreach(obj, k, v)
        {
            if (json_is_integer(v))
                add_count(out, n, k, json_integer_value(v));
        }
        goto out;
    }
    json_object_foreach(root, k, v)
    {
        if (json_is_integer(v) && !strncmp(k, "deleted_", 8) && k[8])
            prefixed = true;
    }
    json_object_foreach(root, k, v)
    {
        if (!json_is_integer(v))
            continue;
        if (!prefixed)
            add_count(out, n, k, json_integer_value(v));
        else if (!strncmp(k, "deleted_", 8) && k[8])
            add_count(out, n, k + 8, json_integer_value(v));
    }
out:
    json_decref(root);
}

static int collect_retention(struct store *st, struct digest_report *r, struct strbuf *err)
{
    struct job_run *run = NULL;
    size_t mark = err->len;
    int rc = retention_last_run(st, &run, err);

    if (rc == CK_ENOTFOUND) {
        strbuf_setlen(err, mark);
        return 0;
    }
    if (!rc) {
        r->has_retention = true;
        r->retention_finished = (run->finished ? run->finished : run->started) / 1000;
        r->retention_status = xstrdup(job_status_name(run->status));
        r->retention_message = xstrdup(run->message ? run->message : "");
        digest_parse_deleted(run->details, &r->deleted, &r->ndeleted);
        job_runs_free(run, 1);
    }
    return rc;
}

/* --- jobs, series, gaps, providers: the health report ---------------------- */

/* The host line: the score, then each part that is not ok, and a forecast. */
static char *host_line(const struct host_summary *h)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "score %d", h->score);
    for (size_t i = 0; i < h->nparts; i++) {
        const struct host_part *p = &h->parts[i];
        if (p->level == HOST_OK)
            continue;
        strbuf_addf(&sb, "; %s ", p->name);
        if (p->known)
            strbuf_addf(&sb, "%.1f%% ", p->value);
        strbuf_addstr(&sb, host_level_name(p->level));
    }
    if (h->forecast)
        strbuf_addf(&sb, "; '%s' full in about %.1f h", h->forecast_path, h->forecast_hours);
    return strbuf_detach(&sb, NULL);
}

/* The backups line: the last one, the last a restore proved, and whether that is too old. */
static char *backups_line(const struct health_backups *b)
{
    struct strbuf sb = STRBUF_INIT;
    char t[TIME_BUFSZ];

    if (!b->count) {
        strbuf_addstr(&sb, "none yet");
    } else {
        time_format_iso8601(b->last, t);
        strbuf_addf(&sb, "last %s (%s)", t,
                    b->last_verified_ok ? "restore verified" : "restore NOT verified");
        if (b->last_verified && !b->last_verified_ok) {
            time_format_iso8601(b->last_verified, t);
            strbuf_addf(&sb, ", last verified %s", t);
        }
    }
    if (b->stale)
        strbuf_addstr(&sb, "; no verified backup within max_age");
    return strbuf_detach(&sb, NULL);
}

static void from_health(const struct health_report *h, struct digest_report *r)
{
    r->host = h->host.known ? host_line(&h->host) : NULL;
    r->backups = h->backups.known ? backups_line(&h->backups) : NULL;
    r->daemons = h->ndaemons;
    r->jobs = xcalloc(h->njobs ? h->njobs : 1, sizeof(*r->jobs));
    for (size_t i = 0; i < h->njobs; i++) {
        const struct health_job *hj = &h->jobs[i];
        if (!hj->configured)
            continue;
        r->jobs[r->njobs++] = (struct digest_job){.id = xstrdup(hj->id),
                                                  .paused = hj->paused,
                                                  .overdue = hj->overdue,
                                                  .streak = hj->streak};
    }
    r->series = xcalloc(h->nseries ? h->nseries : 1, sizeof(*r->series));
    for (size_t i = 0; i < h->nseries; i++) {
        const struct health_series *hs = &h->series[i];
        r->series[r->nseries++] = (struct digest_series){.source = xstrdup(hs->source),
                                                         .symbol = xstrdup(hs->symbol),
                                                         .tf = hs->tf,
                                                         .has_latest = hs->has_latest,
                                                         .latest = hs->latest,
                                                         .age = hs->age,
                                                         .open_gaps = hs->open_gaps};
    }
    r->open_gaps = h->open_gaps;
    r->providers = xcalloc(h->nproviders ? h->nproviders : 1, sizeof(*r->providers));
    for (size_t i = 0; i < h->nproviders; i++) {
        const struct health_provider *p = &h->providers[i];
        r->providers[r->nproviders++] = (struct digest_provider){.source = xstrdup(p->source),
                                                                 .day_used = p->rate.day_used,
                                                                 .per_day = p->budget.per_day};
    }
}

/*
 * The health report the digest reads: the jobs of `s` (the daemon's
 * scheduler) or of the job table, with the daemon's breakers when `s` runs.
 */
static int collect_health(const struct ck *app, struct sched *s, struct store *st, int64_t now_ms,
                          struct digest_report *r, struct strbuf *err)
{
    struct job_table table = {0};
    struct health_report h;
    struct health_config cfg = {
        .sources = app->settings.sources,
        .nsources = app->settings.nsources,
        .sched = s,
        .breakers = s ? app->breakers : NULL,
        .store_url = app->settings.storage.url,
        .backup = &app->settings.backup,
    };
    int rc;

    if (!s) {
        job_table_build(&app->settings, NULL, &table);
        cfg.jobs = job_table_specs(&table);
        cfg.njobs = table.n;
    }
    rc = health_collect(&cfg, st, NULL, now_ms / 1000, now_ms, &h, err);
    if (!rc)
        from_health(&h, r);
    health_report_release(&h);
    free((void *)cfg.jobs);
    job_table_release(&table);
    return rc;
}

static void collect_disk(const char *url, struct digest_report *r)
{
    const char *file = store_sqlite_file(url);
    struct statvfs vfs;
    char *copy;
    if (!file)
        return;
    copy = xstrdup(file);
    /* dirname() may modify its argument and return a pointer into it. */
    if (!statvfs(dirname(copy), &vfs)) {
        r->has_disk = true;
        r->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        r->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    }
    free(copy);
}

int digest_collect(const struct ck *app, struct sched *s, struct store *st, int64_t now_ms,
                   struct digest_report *out, struct strbuf *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    out->now = now_ms / 1000;
    out->day_start = out->now - out->now % 86400;
    out->backend = store_backend_name(st);
    rc = store_signal_counts(st, out->day_start * 1000, now_ms + 1, &out->signals, err);
    if (!rc)
        rc = collect_retention(st, out, err);
    if (!rc)
        rc = collect_health(app, s, st, now_ms, out, err);
    if (!rc)
        rc = store_database_size(st, &out->db_size, err);
    if (!rc)
        collect_disk(app->settings.storage.url, out);
    return rc;
}

/* --- formatting ----------------------------------------------------------- */

static void add_age(struct strbuf *sb, int64_t secs)
{
    if (secs < 3600)
        strbuf_addf(sb, "%" PRId64 "m", secs / 60);
    else if (secs < 2 * 86400)
        strbuf_addf(sb, "%" PRId64 "h %02" PRId64 "m", secs / 3600, secs / 60 % 60);
    else
        strbuf_addf(sb, "%" PRId64 "d %02" PRId64 "h", secs / 86400, secs / 3600 % 24);
}

static void add_size(struct strbuf *sb, uint64_t bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;
    if (bytes < 1024) {
        strbuf_addf(sb, "%" PRIu64 " B", bytes);
        return;
    }
    v /= 1024;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    strbuf_addf(sb, "%.1f %s", v, units[u]);
}

/* "2024-03-15 06:00 UTC" */
static void add_minute(struct strbuf *sb, int64_t t)
{
    char buf[TIME_BUFSZ];
    time_format_datetime(t, buf);
    /* "YYYY-MM-DD HH:MM:SS" -> to the minute. */
    strbuf_add(sb, buf, 16);
    strbuf_addstr(sb, " UTC");
}

void digest_title(const struct digest_report *r, struct strbuf *out)
{
    strbuf_addstr(out, "Health digest ");
    add_minute(out, r->now);
}

static size_t width(const char *s)
{
    return strlen(s);
}

void digest_format(const struct digest_report *r, struct strbuf *out)
{
    size_t paused = 0, failing = 0, overdue = 0, wsrc = 0, wsym = 0;

    strbuf_addf(out,
                "Signals: %" PRId64 " active, %" PRId64 " new today\n"
                "Outcomes today: %" PRId64 " won, %" PRId64 " lost, %" PRId64 " expired\n",
                r->signals.active, r->signals.created, r->signals.won, r->signals.lost,
                r->signals.expired);

    strbuf_addstr(out, "Retention: ");
    if (!r->has_retention) {
        strbuf_addstr(out, "not run yet\n");
    } else {
        strbuf_addstr(out, "last run ");
        add_minute(out, r->retention_finished);
        strbuf_addf(out, ", %s", r->retention_status);
        if (r->ndeleted) {
            strbuf_addstr(out, "; deleted ");
            for (size_t i = 0; i < r->ndeleted; i++)
                strbuf_addf(out, "%s%s %" PRId64, i ? ", " : "", r->deleted[i].name,
                            r->deleted[i].n);
        } else if (r->retention_message && *r->retention_message) {
            strbuf_addf(out, ": %s", r->retention_message);
        }
        strbuf_addch(out, '\n');
    }

    for (size_t i = 0; i < r->njobs; i++) {
        paused += r->jobs[i].paused;
        failing += r->jobs[i].streak > 0;
        overdue += r->jobs[i].overdue;
    }
    if (r->daemons)
        strbuf_addf(out, "Scheduler: running (%zu daemon%s)", r->daemons,
                    r->daemons == 1 ? "" : "s");
    else
        strbuf_addstr(out, "Scheduler: no daemon running");
    strbuf_addf(out, "; %zu jobs, %zu paused, %zu failing, %zu overdue\n", r->njobs, paused,
                failing, overdue);
    for (size_t i = 0; i < r->njobs; i++) {
        const struct digest_job *j = &r->jobs[i];
        if (j->streak > 0)
            strbuf_addf(out, "  failing: %s (%" PRId64 " in a row)\n", j->id, j->streak);
        if (j->overdue)
            strbuf_addf(out, "  overdue: %s\n", j->id);
        if (j->paused)
            strbuf_addf(out, "  paused: %s\n", j->id);
    }

    for (size_t i = 0; i < r->nseries; i++) {
        if (width(r->series[i].source) > wsrc)
            wsrc = width(r->series[i].source);
        if (width(r->series[i].symbol) > wsym)
            wsym = width(r->series[i].symbol);
    }
    strbuf_addstr(out, "Latest candles:\n");
    if (!r->nseries)
        strbuf_addstr(out, "  (no series configured)\n");
    for (size_t i = 0; i < r->nseries; i++) {
        const struct digest_series *e = &r->series[i];
        strbuf_addf(out, "  %-*s %-*s %-3s  ", (int)wsrc, e->source, (int)wsym, e->symbol,
                    timeframe_name(e->tf));
        if (!e->has_latest) {
            strbuf_addstr(out, "none yet\n");
            continue;
        }
        add_minute(out, e->latest);
        strbuf_addstr(out, "  age ");
        add_age(out, e->age);
        strbuf_addch(out, '\n');
    }

    strbuf_addf(out, "Open gaps: %" PRId64 "\n", r->open_gaps);
    for (size_t i = 0; i < r->nseries; i++) {
        const struct digest_series *e = &r->series[i];
        if (e->open_gaps)
            strbuf_addf(out, "  %-*s %-*s %-3s  %" PRId64 "\n", (int)wsrc, e->source, (int)wsym,
                        e->symbol, timeframe_name(e->tf), e->open_gaps);
    }

    strbuf_addstr(out, "API credits today:\n");
    if (!r->nproviders)
        strbuf_addstr(out, "  (no provider enabled)\n");
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct digest_provider *p = &r->providers[i];
        strbuf_addf(out, "  %-*s %" PRId64, (int)wsrc, p->source, p->day_used);
        if (p->per_day > 0)
            strbuf_addf(out, " of %" PRId64, p->per_day);
        strbuf_addch(out, '\n');
    }

    if (r->host)
        strbuf_addf(out, "Host: %s\n", r->host);
    if (r->backups)
        strbuf_addf(out, "Backups: %s\n", r->backups);
    strbuf_addf(out, "Database: %s, ", r->backend ? r->backend : "?");
    add_size(out, (uint64_t)r->db_size);
    strbuf_addf(out, " (%" PRId64 " bytes); free disk ", r->db_size);
    if (r->has_disk) {
        add_size(out, r->disk_free);
        strbuf_addstr(out, " of ");
        add_size(out, r->disk_total);
    } else {
        strbuf_addstr(out, "n/a");
    }
    strbuf_addch(out, '\n');
}

/* --- the job -------------------------------------------------------------- */

int digest_job_run(struct job_ctx *ctx, void *arg)
{
    struct ck *app = arg;
    struct digest_report r;
    struct strbuf err = STRBUF_INIT, title = STRBUF_INIT, text = STRBUF_INIT;
    int64_t now_ms = job_now_ms(ctx);
    int rc;

    if (!app->alerts) {
        strbuf_addstr(&ctx->message, "alerts are not set up in this process; no digest sent");
        return CK_ECONFIG;
    }
    rc = digest_collect(app, app->sched, ctx->store, now_ms, &r, &err);
    if (rc) {
        redact_message(&err);
        strbuf_addf(&ctx->message, "cannot collect the digest: %s", err.buf);
        digest_report_release(&r);
        goto out;
    }
    digest_title(&r, &title);
    digest_format(&r, &text);
    rc = alert_notice(app->alerts, ctx->store, NOTIFY_INFO, "digest", title.buf, text.buf, now_ms,
                      &err);
    if (rc) {
        redact_message(&err);
        strbuf_addf(&ctx->message, "cannot queue the digest: %s", err.buf);
    } else {
        strbuf_addf(&ctx->message, "digest queued: %zu series, %" PRId64 " open gaps", r.nseries,
                    r.open_gaps);
    }
    digest_report_release(&r);
out:
    strbuf_release(&err);
    strbuf_release(&title);
    strbuf_release(&text);
    return rc;
}
