/* SPDX-License-Identifier: MIT */
/*
 * The health report (health.h): collected in one pass, each fact from one
 * place.
 *
 *  - Jobs: the job table (or, in the daemon, the scheduler it was
 *    registered with, which also knows which runs are going on), merged
 *    with the database's rows (paused flag, failure streak, newest fire
 *    handled), then the rows the table does not know, by id. Next run and
 *    overdue follow from the schedule and the newest fire by the rules of
 *    rules.h, so the daemon and a command reading the same database say
 *    the same; the newest fire is the later of the scheduler's and the
 *    database's.
 *  - Series: the configured ones (every enabled source's symbols and
 *    timeframes, one index probe each, so a report costs the same on a
 *    million candles as on ten), or every stored series without settings;
 *    age and missing periods by rules.h, open gaps from the ledger.
 *  - Providers: the enabled sources; the circuit breaker where this
 *    process has one that has seen traffic (the daemon), else the circuit
 *    its holder last recorded in the database (so that the command line
 *    reports what the daemon sees), else this process's fresh breaker;
 *    and from the database (so the same for every instance and for the
 *    command line) the rate budget, a ban in force and the state of their
 *    series.
 *  - Daemons: the holders of a current instance lease.
 *
 *  - Database: reachable when the caller has a connection and, when the
 *    caller asks (/health, status), it takes a write: a database that
 *    answers reads but fails every job's write is not doing its job.
 *
 * Nothing here keeps state or takes a lock of its own; the scheduler and
 * the breakers lock themselves. `st` is the caller's connection.
 */
#include "health/health.h"

#include "backup/backup.h"

#include "health/rules.h"
#include "resilience/ratelimit.h"
#include "sched/sched.h"
#include "source/source_settings.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

void health_report_release(struct health_report *r)
{
    host_summary_release(&r->host);
    free(r->db_error);
    for (size_t i = 0; i < r->ndaemons; i++)
        free(r->daemons[i]);
    free(r->daemons);
    for (size_t i = 0; i < r->njobs; i++) {
        free(r->jobs[i].id);
        free(r->jobs[i].name);
        free(r->jobs[i].cron);
        free(r->jobs[i].pause_reason);
    }
    free(r->jobs);
    for (size_t i = 0; i < r->nseries; i++) {
        free(r->series[i].source);
        free(r->series[i].symbol);
    }
    free(r->series);
    for (size_t i = 0; i < r->nproviders; i++) {
        free(r->providers[i].source);
        free(r->providers[i].budget_key);
        free(r->providers[i].series);
    }
    free(r->providers);
    series_states_free(r->states, r->nstates);
    memset(r, 0, sizeof(*r));
}

/* --- jobs ----------------------------------------------------------------- */

static struct health_job *add_job(struct health_report *r, size_t *alloc, const char *id,
                                  const char *name, const char *cron)
{
    struct health_job *j;
    ALLOC_GROW(r->jobs, r->njobs + 1, *alloc);
    j = &r->jobs[r->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = xstrdup(id);
    j->name = xstrdup(name ? name : id);
    j->cron = cron ? xstrdup(cron) : NULL;
    j->configured = cron != NULL;
    return j;
}

static int collect_jobs(const struct health_config *cfg, struct store *st, struct health_report *r,
                        struct strbuf *err)
{
    struct sched_job_info *infos = NULL;
    struct job_state *rows = NULL;
    size_t ninfos = 0, nrows = 0, alloc = 0;
    int rc = 0;

    if (cfg->sched) {
        ninfos = sched_jobs(cfg->sched, NULL, 0);
        infos = xcalloc(ninfos ? ninfos : 1, sizeof(*infos));
        ninfos = sched_jobs(cfg->sched, infos, ninfos);
        for (size_t i = 0; i < ninfos; i++) {
            struct health_job *j = add_job(r, &alloc, infos[i].id, infos[i].name, infos[i].cron);
            j->running = infos[i].running;
            j->last_fire = infos[i].last_fire;
        }
    } else {
        for (size_t i = 0; i < cfg->njobs; i++)
            add_job(r, &alloc, cfg->jobs[i].id, cfg->jobs[i].name, cfg->jobs[i].cron);
    }
    free(infos);

    if (st)
        rc = store_job_list(st, &rows, &nrows, err);
    size_t nconfigured = r->njobs;
    for (size_t k = 0; k < nrows; k++) {
        const struct job_state *row = &rows[k];
        struct health_job *j = NULL;
        for (size_t i = 0; i < nconfigured && !j; i++)
            if (!strcmp(r->jobs[i].id, row->job_id))
                j = &r->jobs[i];
        if (!j)
            j = add_job(r, &alloc, row->job_id, NULL, NULL);
        j->has_row = true;
        j->paused = job_state_paused(row, r->now);
        if (j->paused) {
            j->paused_until = row->paused_until;
            free(j->pause_reason);
            j->pause_reason =
                row->pause_reason && *row->pause_reason ? xstrdup(row->pause_reason) : NULL;
        }
        j->streak = row->streak;
        if (row->last_fire > j->last_fire)
            j->last_fire = row->last_fire;
    }
    job_states_free(rows, nrows);

    for (size_t i = 0; i < r->njobs; i++) {
        struct health_job *j = &r->jobs[i];
        j->next_run = j->cron ? health_job_next_run(j->cron, j->last_fire, r->now) : -1;
        j->period = j->cron ? health_job_period(j->cron, r->now) : 0;
        j->overdue = health_job_overdue(j->next_run, j->period, j->paused, r->now);
        r->paused += j->paused;
        r->failing += j->streak > 0;
        r->overdue += j->overdue;
    }
    return rc;
}

/* --- series --------------------------------------------------------------- */

static struct health_series *add_series(struct health_report *r, size_t *alloc, const char *source,
                                        const char *symbol, enum timeframe tf)
{
    struct health_series *e;
    ALLOC_GROW(r->series, r->nseries + 1, *alloc);
    e = &r->series[r->nseries++];
    memset(e, 0, sizeof(*e));
    e->source = xstrdup(source);
    e->symbol = xstrdup(symbol);
    e->tf = tf;
    e->missing = -1;
    return e;
}

static void set_latest(struct health_series *e, const struct calendar *cal, int64_t latest,
                       int64_t now)
{
    e->has_latest = true;
    e->latest = latest;
    e->age = health_series_age(e->tf, latest, now);
    if (cal)
        e->missing = health_missing_periods(cal, e->tf, latest, now, 100000);
}

static int collect_series(const struct health_config *cfg, struct store *st,
                          struct health_report *r, struct strbuf *err)
{
    struct gap_query q = {.has_state = true, .state = GAP_OPEN};
    struct gap_record *gaps = NULL;
    size_t ngaps = 0, alloc = 0, mark = err->len;
    int rc = 0;

    if (!cfg->sources) {
        struct series_info *v = NULL;
        size_t n = 0;
        rc = store_list_series(st, &v, &n, err);
        for (size_t i = 0; !rc && i < n; i++) {
            struct health_series *e = add_series(r, &alloc, v[i].source, v[i].symbol, v[i].tf);
            if (v[i].count > 0)
                set_latest(e, NULL, v[i].last_time, r->now);
        }
        series_info_free(v, n);
    }
    for (size_t i = 0; cfg->sources && !rc && i < cfg->nsources; i++) {
        const struct source_settings *src = &cfg->sources[i];
        if (!src->enabled)
            continue;
        for (size_t y = 0; !rc && y < src->nsymbols; y++) {
            for (size_t t = 0; !rc && t < src->ntimeframes; t++) {
                struct series_key k = {src->name, src->symbols[y], src->timeframes[t]};
                int64_t latest = 0;
                rc = store_latest_time(st, &k, &latest, err);
                struct health_series *e = add_series(r, &alloc, k.source, k.symbol, k.tf);
                if (!rc)
                    set_latest(e, cfg->calendars ? cfg->calendars[i] : NULL, latest, r->now);
                if (rc == CK_ENOTFOUND) {
                    strbuf_setlen(err, mark);
                    rc = 0;
                }
            }
        }
    }
    if (rc)
        return rc;

    rc = store_list_gaps(st, &q, &gaps, &ngaps, err);
    r->open_gaps = (int64_t)ngaps;
    for (size_t i = 0; !rc && i < r->nseries; i++) {
        struct health_series *e = &r->series[i];
        for (size_t g = 0; g < ngaps; g++)
            e->open_gaps += !strcmp(gaps[g].source, e->source) &&
                            !strcmp(gaps[g].symbol, e->symbol) && gaps[g].tf == e->tf;
    }
    gap_records_free(gaps, ngaps);
    return rc;
}

/* --- providers ------------------------------------------------------------ */

/* Is (symbol, tf) one of the series `src` is configured for? */
static bool configured(const struct source_settings *src, const char *symbol, enum timeframe tf)
{
    bool tf_ok = false;
    for (size_t i = 0; i < src->ntimeframes; i++)
        tf_ok = tf_ok || src->timeframes[i] == tf;
    return tf_ok && source_settings_has_symbol(src, symbol);
}

bool health_series_skipped(const struct health_provider *p, const struct series_state *s)
{
    return p->skip_after > 0 && s->streak >= p->skip_after;
}

bool health_circuit_of_row(const struct breaker_row *row, int64_t now_ms, struct breaker_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!breaker_state_parse(row->state, &out->state))
        return false;
    out->failures = row->failures > INT32_MAX ? INT32_MAX : (int)row->failures;
    out->opened_at_ms = row->opened_at_ms;
    out->active = true;
    if (row->opened_at_ms && row->retry_at_ms > row->opened_at_ms)
        out->recovery_ms = row->retry_at_ms - row->opened_at_ms;
    if (out->state == BREAKER_OPEN) {
        out->next_probe_ms = row->retry_at_ms;
        if (now_ms >= out->next_probe_ms)
            out->state = BREAKER_HALF_OPEN;
    }
    return true;
}

/*
 * The circuit of provider `p` (source `i`): the live breaker when it has
 * seen traffic, else the recorded row, else the fresh live breaker.
 */
static void set_circuit(const struct health_config *cfg, size_t i, const struct breaker_row *rows,
                        size_t nrows, struct health_report *r, struct health_provider *p)
{
    struct breaker *b = cfg->breakers ? cfg->breakers[i] : NULL;

    if (b) {
        breaker_info(b, r->now_ms, &p->circuit);
        p->circuit_known = true;
        if (p->circuit.active)
            return;
    }
    for (size_t k = 0; k < nrows; k++) {
        struct breaker_info bi;
        if (strcmp(rows[k].source, p->source) || !health_circuit_of_row(&rows[k], r->now_ms, &bi))
            continue;
        /* A closed breaker is back at its configured recovery time, live or recorded. */
        if (bi.state == BREAKER_CLOSED)
            bi.recovery_ms = cfg->sources[i].breaker_recovery * 1000;
        p->circuit = bi;
        p->circuit_known = true;
        p->circuit_stored = true;
        return;
    }
}

static int collect_providers(const struct health_config *cfg, struct store *st,
                             struct health_report *r, struct strbuf *err)
{
    struct breaker_row *rows = NULL;
    size_t nrows = 0;
    int rc = 0;

    if (!cfg->sources)
        return 0;
    if (st)
        rc = store_breaker_list(st, &rows, &nrows, err);
    r->providers = xcalloc(cfg->nsources ? cfg->nsources : 1, sizeof(*r->providers));
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct source_settings *src = &cfg->sources[i];
        struct health_provider *p;
        if (!src->enabled)
            continue;
        p = &r->providers[r->nproviders++];
        p->source = xstrdup(src->name);
        p->skip_after = src->symbol_skip_after;
        set_circuit(cfg, i, rows, nrows, r, p);
        if (src->rate_per_window)
            ratelimit_budget_window(&p->budget, src->budget_key ? src->budget_key : src->name,
                                    src->rate_window_ms, src->rate_per_window, src->daily_quota);
        else
            ratelimit_budget(&p->budget, src->name, src->rate_per_minute, src->daily_quota);
        /* The budget borrows the key: point it at the report's copy. */
        p->budget_key = xstrdup(p->budget.source);
        p->budget.source = p->budget_key;
        if (st && !rc) {
            rc = store_rate_peek(st, &p->budget, r->now_ms, &p->rate, err);
            p->has_budget = !rc;
        }
    }
    breaker_rows_free(rows, nrows);
    if (!st || rc)
        return rc;
    rc = store_series_state_list(st, NULL, &r->states, &r->nstates, err);
    for (size_t i = 0, pi = 0; !rc && i < cfg->nsources; i++) {
        const struct source_settings *src = &cfg->sources[i];
        struct health_provider *p;
        size_t alloc = 0;
        if (!src->enabled)
            continue;
        p = &r->providers[pi++];
        for (size_t j = 0; j < r->nstates; j++) {
            struct series_state *ss = &r->states[j];
            if (strcmp(ss->source, src->name) || !configured(src, ss->symbol, ss->tf))
                continue;
            ALLOC_GROW(p->series, p->nseries + 1, alloc);
            p->series[p->nseries++] = ss;
        }
    }
    return rc;
}

/* --- the report ----------------------------------------------------------- */

static int collect_daemons(struct store *st, struct health_report *r, struct strbuf *err)
{
    struct lease_info *leases = NULL;
    size_t n = 0;
    int rc = store_lease_list(st, SCHED_INSTANCE_LEASE, r->now_ms, &leases, &n, err);
    r->daemons = xcalloc(n ? n : 1, sizeof(*r->daemons));
    for (size_t i = 0; !rc && i < n; i++)
        r->daemons[r->ndaemons++] = xstrdup(leases[i].holder);
    lease_infos_free(leases, n);
    return rc;
}

/* Keep the first error of the parts; the later ones are dropped from `err`. */
static void part(int rc, int *first, struct strbuf *err, size_t before)
{
    if (rc && !*first)
        *first = rc;
    else if (rc)
        strbuf_setlen(err, before);
}

/* The newest assessment of the host: the details of the newest health_check run that has one. */
static int collect_host(struct store *st, struct health_report *r, struct strbuf *err)
{
    struct job_run *runs = NULL;
    size_t n = 0;
    int rc = store_job_runs_list(st, HOST_CHECK_JOB, 5, &runs, &n, err);

    for (size_t i = 0; !rc && i < n && !r->host.known; i++)
        if (runs[i].status == JOB_OK || runs[i].status == JOB_FAILED)
            host_summary_parse(runs[i].details, runs[i].started / 1000, &r->host);
    job_runs_free(runs, n);
    return rc;
}

/* The backups' part: read from the backup directory, so it answers while the database is down. */
static int collect_backups(const struct health_config *cfg, struct health_report *r,
                           struct strbuf *err)
{
    struct health_backups *b = &r->backups;
    struct backup_info *v = NULL;
    size_t n = 0;
    char *dir;
    int rc;

    if (!cfg->backup)
        return 0;
    dir = backup_dir(cfg->backup, cfg->store_url);
    rc = backup_list(dir, &v, &n, err);
    if (!rc) {
        b->known = true;
        b->count = n;
        b->max_age = cfg->backup->max_age;
        if (n) {
            b->last = v[0].created;
            b->last_verified_ok = v[0].verified && v[0].verify_ok;
        }
        for (size_t i = 0; i < n && !b->last_verified; i++)
            if (v[i].verified && v[i].verify_ok)
                b->last_verified = v[i].created;
        b->stale = backup_is_stale(b->last_verified, b->max_age, r->now);
    }
    backup_infos_free(v, n);
    free(dir);
    return rc;
}

int health_collect(const struct health_config *cfg, struct store *st, const char *db_error,
                   int64_t now, int64_t now_ms, struct health_report *out, struct strbuf *err)
{
    int first = 0;

    memset(out, 0, sizeof(*out));
    out->now = now;
    out->now_ms = now_ms;
    if (st && cfg->check_write) {
        struct strbuf why = STRBUF_INIT;
        if (store_check_writable(st, &why)) {
            redact_message(&why);
            out->backend = store_backend_name(st);
            out->db_error = strbuf_detach(&why, NULL);
            st = NULL;
        }
        strbuf_release(&why);
    }
    out->reachable = st != NULL;
    if (st) {
        out->backend = store_backend_name(st);
    } else if (!out->db_error) {
        out->backend = cfg->store_url ? store_url_backend(cfg->store_url) : "unknown";
        out->db_error = xstrdup(db_error ? db_error : "");
    }
    /* Each part is collected even when another failed: one failing query hides only its part. */
    size_t before = err->len;
    if (st)
        part(collect_daemons(st, out, err), &first, err, before);
    before = err->len;
    part(collect_jobs(cfg, st, out, err), &first, err, before);
    before = err->len;
    if (st)
        part(collect_series(cfg, st, out, err), &first, err, before);
    before = err->len;
    part(collect_providers(cfg, st, out, err), &first, err, before);
    before = err->len;
    if (st)
        part(collect_host(st, out, err), &first, err, before);
    before = err->len;
    part(collect_backups(cfg, out, err), &first, err, before);
    return first;
}

bool health_degraded(const struct health_report *r)
{
    if (r->overdue || r->failing)
        return true;
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct health_provider *p = &r->providers[i];
        if (p->circuit_known && p->circuit.state != BREAKER_CLOSED)
            return true;
        if (p->has_budget && p->rate.banned_until_ms > r->now_ms)
            return true;
        for (size_t j = 0; j < p->nseries; j++)
            if (health_series_skipped(p, p->series[j]))
                return true;
    }
    return false;
}
