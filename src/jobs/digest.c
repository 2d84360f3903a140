/* SPDX-License-Identifier: MIT */
/*
 * The daily health digest (see digest.h): collect, format, queue.
 *
 * Collecting reads only the database and the configuration: signal counts
 * (store_signal_counts), the last finished run of the retention job and
 * its details, the daemons whose instance lease is current, the jobs'
 * rows (paused, streak, last fire; overdue is worked out from the last
 * fire and the schedule as `candlekeep status` does), the newest candle of
 * every configured series, the open gaps, the rate budgets' day counts,
 * the database's size and, for SQLite, the free space of its file system.
 *
 * Formatting is a pure function of the report, so a test can pin the text
 * without a database. The text is plain; the channels escape it (the
 * Telegram channel shows a multi-line text in monospace, which is why the
 * columns are padded).
 */
#include "jobs/digest.h"

#include "alert/alert.h"
#include "app/app.h"
#include "jobs/retention.h"
#include "resilience/ratelimit.h"
#include "sched/cron.h"
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

/* --- the jobs ------------------------------------------------------------- */

static int collect_jobs(struct sched *s, struct store *st, struct digest_report *r,
                        struct strbuf *err)
{
    size_t n = s ? sched_jobs(s, NULL, 0) : 0, nstates = 0;
    struct sched_job_info *v = xcalloc(n ? n : 1, sizeof(*v));
    struct job_state *states = NULL;
    int rc;

    if (s)
        n = sched_jobs(s, v, n);
    rc = store_job_list(st, &states, &nstates, err);
    r->jobs = xcalloc(n ? n : 1, sizeof(*r->jobs));
    for (size_t i = 0; !rc && i < n; i++) {
        struct digest_job *j = &r->jobs[r->njobs++];
        const struct job_state *js = NULL;
        struct cron_expr ce;
        struct strbuf ignored = STRBUF_INIT;
        j->id = xstrdup(v[i].id);
        for (size_t k = 0; k < nstates && !js; k++)
            if (!strcmp(states[k].job_id, v[i].id))
                js = &states[k];
        if (!js)
            continue;
        j->paused = js->paused;
        j->streak = js->streak;
        /* As `candlekeep status` says it: the fire after the last one handled is a period late. */
        if (!j->paused && js->last_fire > 0 && !cron_parse(&ce, v[i].cron, &ignored)) {
            int64_t next = cron_next(&ce, js->last_fire);
            j->overdue = next > 0 && r->now > next + v[i].period;
        }
        strbuf_release(&ignored);
    }
    job_states_free(states, nstates);
    free(v);
    return rc;
}

/* --- series, gaps, providers --------------------------------------------- */

static int collect_series(const struct app *app, struct store *st, struct digest_report *r,
                          struct strbuf *err)
{
    const struct settings *s = &app->settings;
    struct gap_query q = {.has_state = true, .state = GAP_OPEN};
    struct gap_record *gaps = NULL;
    size_t ngaps = 0, alloc = 0;
    int rc = store_list_gaps(st, &q, &gaps, &ngaps, err);

    r->open_gaps = (int64_t)ngaps;
    for (size_t i = 0; !rc && i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        if (!src->enabled)
            continue;
        for (size_t y = 0; !rc && y < src->nsymbols; y++) {
            for (size_t t = 0; !rc && t < src->ntimeframes; t++) {
                struct series_key k = {src->name, src->symbols[y], src->timeframes[t]};
                struct digest_series *e;
                int64_t latest = 0;
                rc = store_latest_time(st, &k, &latest, err);
                if (rc && rc != CK_ENOTFOUND)
                    break;
                ALLOC_GROW(r->series, r->nseries + 1, alloc);
                e = &r->series[r->nseries++];
                memset(e, 0, sizeof(*e));
                e->source = xstrdup(k.source);
                e->symbol = xstrdup(k.symbol);
                e->tf = k.tf;
                e->has_latest = rc == 0;
                if (e->has_latest) {
                    e->latest = latest;
                    e->age = r->now - (latest + timeframe_seconds(k.tf));
                    if (e->age < 0)
                        e->age = 0;
                }
                for (size_t g = 0; g < ngaps; g++)
                    e->open_gaps += !strcmp(gaps[g].source, k.source) &&
                                    !strcmp(gaps[g].symbol, k.symbol) && gaps[g].tf == k.tf;
                strbuf_reset(err);
                rc = 0;
            }
        }
    }
    gap_records_free(gaps, ngaps);
    if (rc)
        return rc;

    r->providers = xcalloc(s->nsources ? s->nsources : 1, sizeof(*r->providers));
    for (size_t i = 0; !rc && i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        struct rate_budget b;
        struct rate_state rs;
        if (!src->enabled)
            continue;
        ratelimit_budget(&b, src->name, src->rate_per_minute, src->daily_quota);
        rc = store_rate_peek(st, &b, r->now * 1000, &rs, err);
        if (rc)
            break;
        r->providers[r->nproviders++] = (struct digest_provider){
            .source = xstrdup(src->name), .day_used = rs.day_used, .per_day = src->daily_quota};
    }
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

int digest_collect(const struct app *app, struct sched *s, struct store *st, int64_t now_ms,
                   struct digest_report *out, struct strbuf *err)
{
    struct lease_info *leases = NULL;
    size_t nleases = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    out->now = now_ms / 1000;
    out->day_start = out->now - out->now % 86400;
    out->backend = store_backend_name(st);
    rc = store_signal_counts(st, out->day_start * 1000, now_ms + 1, &out->signals, err);
    if (!rc)
        rc = collect_retention(st, out, err);
    if (!rc)
        rc = store_lease_list(st, SCHED_INSTANCE_LEASE, now_ms, &leases, &nleases, err);
    out->daemons = nleases;
    lease_infos_free(leases, nleases);
    if (!rc)
        rc = collect_jobs(s, st, out, err);
    if (!rc)
        rc = collect_series(app, st, out, err);
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
    struct app *app = arg;
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
