/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep status [--format table|json]`: what GET /health says, read
 * from the database, so it works with or without a daemon: the health
 * report (health/health.h) over the job table: is the database reachable,
 * which daemons are alive (their instance leases), the jobs (paused,
 * failing, overdue), how fresh each series is and the providers (rate
 * budget, ban, deferred and skipped series, and the circuit its breaker's
 * holder last recorded; unknown when none was ever recorded). Exit 0 when
 * the database is reachable and takes a write (as on /health: one that
 * only answers reads fails every job) and a daemon is alive, 1 otherwise.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "health/health.h"
#include "jobs/table.h"
#include "store/store.h"
#include "util/log.h"
#include "util/redact.h"
#include "resilience/ratelimit.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_status_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep status [--format table|json] [--config FILE]\n\n"
                "Database, daemons, jobs, series freshness and providers, as GET /health\n"
                "reports them (a provider's circuit as the daemon last recorded it).\n"
                "Exit 0 when the database is reachable and a daemon is alive, 1 otherwise.\n");
}

static const char *json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "backups:   last 2024-03-15T01:30:00Z (restore verified), last verified ... (stale)" */
static void print_backups(const struct health_backups *b)
{
    char last[TIME_BUFSZ], verified[TIME_BUFSZ];

    if (!b->known)
        return;
    if (!b->count) {
        printf("backups:   none yet%s\n", b->stale ? " (no verified backup: a problem)" : "");
        return;
    }
    time_format_iso8601(b->last, last);
    if (b->last_verified)
        time_format_iso8601(b->last_verified, verified);
    printf("backups:   %zu, last %s (%s), last verified restore %s%s\n", b->count, last,
           b->last_verified_ok ? "restore verified" : "restore not verified",
           b->last_verified ? verified : "none",
           b->stale ? " (older than max_age: a problem)" : "");
}

/* "host:      score 92 (cpu 12.3%, memory 40.1% warn, ...)" from the newest health_check. */
static void print_host(const struct host_summary *h)
{
    if (!h->known) {
        printf("host:      not checked yet (health_check)\n");
        return;
    }
    printf("host:      score %d", h->score);
    for (size_t i = 0; i < h->nparts; i++) {
        const struct host_part *p = &h->parts[i];
        printf("%s%s ", i ? ", " : " (", p->name);
        if (p->known)
            printf("%.1f%%", p->value);
        if (p->level != HOST_OK)
            printf("%s%s", p->known ? " " : "", host_level_name(p->level));
    }
    printf("%s", h->nparts ? ")" : "");
    if (h->forecast)
        printf("; '%s' full in %.1f h", h->forecast_path, h->forecast_hours);
    printf("\n");
}

static void print_providers(const struct health_report *r)
{
    printf("providers: %zu\n", r->nproviders);
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct health_provider *p = &r->providers[i];
        size_t deferred = 0, skipped = 0;
        printf("  %s: circuit %s", p->source,
               p->circuit_known ? breaker_state_name(p->circuit.state) : "unknown (none recorded)");
        if (p->has_budget) {
            struct strbuf window = STRBUF_INIT;
            ratelimit_window_name(&p->budget, &window);
            printf(", %s %" PRId64 "/%" PRId64, window.buf, p->rate.window_used,
                   p->budget.per_window);
            strbuf_release(&window);
            if (p->budget.per_day > 0)
                printf(", day %" PRId64 "/%" PRId64, p->rate.day_used, p->budget.per_day);
            else
                printf(", day %" PRId64, p->rate.day_used);
            if (p->rate.banned_until_ms > r->now_ms)
                printf(", banned %" PRId64 "s (%s)",
                       (p->rate.banned_until_ms - r->now_ms + 999) / 1000, p->rate.ban_reason);
        }
        for (size_t j = 0; j < p->nseries; j++) {
            deferred += p->series[j]->deferred_since != 0;
            skipped += health_series_skipped(p, p->series[j]);
        }
        printf(", deferred %zu, skipped %zu\n", deferred, skipped);
    }
}

static void print_series(json_t *series)
{
    static const char *const cols[] = {"source",      "symbol",  "timeframe", "latest",
                                       "age_seconds", "missing", "open_gaps"};
    struct out_table *t = out_table_new(OUT_TABLE, cols, 7);
    size_t i;
    json_t *v;
    for (size_t c = 4; c < 7; c++)
        out_table_numeric(t, c);
    json_array_foreach(series, i, v)
    {
        char age[24] = "", miss[24] = "", gaps[24];
        json_t *a = json_object_get(v, "age_seconds"), *m = json_object_get(v, "missing_periods");
        if (json_is_integer(a))
            snprintf(age, sizeof(age), "%" JSON_INTEGER_FORMAT, json_integer_value(a));
        if (json_is_integer(m))
            snprintf(miss, sizeof(miss), "%" JSON_INTEGER_FORMAT, json_integer_value(m));
        snprintf(gaps, sizeof(gaps), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(v, "open_gaps")));
        const char *row[] = {json_str(v, "source"),
                             json_str(v, "symbol"),
                             json_str(v, "timeframe"),
                             json_is_string(json_object_get(v, "latest")) ? json_str(v, "latest")
                                                                          : NULL,
                             *age ? age : NULL,
                             *miss ? miss : NULL,
                             gaps};
        out_table_row(t, row);
    }
    printf("\n");
    out_table_flush(t);
}

static void print_table(const struct health_report *r, json_t *root, const char *status)
{
    size_t i;
    json_t *v;
    printf("status:    %s\n", status);
    printf("database:  %s (%s)%s%s\n", r->reachable ? "reachable" : "unreachable", r->backend,
           r->reachable ? "" : ": ", r->reachable ? "" : r->db_error);
    if (!r->reachable)
        return;
    printf("daemons:   %zu", r->ndaemons);
    json_array_foreach(json_object_get(root, "daemons"), i, v)
        printf("%s%s", i ? ", " : " (", json_string_value(v));
    printf("%s\n", r->ndaemons ? ")" : "");
    printf("jobs:      %zu (paused %zu, failing %zu, overdue %zu)\n", r->njobs, r->paused,
           r->failing, r->overdue);
    print_host(&r->host);
    print_backups(&r->backups);
    print_providers(r);
    print_series(json_object_get(root, "series"));
}

/*
 * The report over the job table, with the missing periods by the sources'
 * calendars; ck->store NULL: the database is unreachable. The circuits
 * are those recorded in the database (this process calls no provider).
 */
static void collect(const struct ck *ck, const char *db_error, struct health_report *r)
{
    const struct settings *s = &ck->settings;
    struct strbuf err = STRBUF_INIT;
    struct job_table table;
    job_table_build(s, NULL, &table);
    struct health_config cfg = {
        .sources = s->sources,
        .nsources = s->nsources,
        .jobs = job_table_specs(&table),
        .njobs = table.n,
        .calendars = ck->calendars,
        .store_url = s->storage.url,
        .backup = &s->backup,
        .check_write = true,
    };
    /* A failing query hides only its part, as on /health. */
    health_collect(&cfg, ck->store, db_error, time_now(), time_wall_ms(), r, &err);
    free((void *)cfg.jobs);
    job_table_release(&table);
    strbuf_release(&err);
}

/* Print the report as --format says; the exit status. */
static int print_report(const struct health_report *r, enum out_format format)
{
    const char *status = !r->reachable        ? "unavailable"
                         : !r->ndaemons       ? "no daemon running"
                         : health_degraded(r) ? "degraded"
                                              : "ok";
    json_t *root = json_pack("{s:s}", "status", status), *rep = health_report_json(r);
    json_object_update(root, rep);
    json_decref(rep);
    if (format == OUT_JSON) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
    } else {
        print_table(r, root, status);
    }
    json_decref(root);
    return r->reachable && r->ndaemons ? CMD_OK : CMD_FAIL;
}

int cmd_status(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {{0}};
    struct strbuf err = STRBUF_INIT;
    struct health_report r;
    int rc;

    if (getopt_long(argc, argv, "", opts, NULL) != -1) {
        cmd_status_usage(stderr);
        return CMD_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep status: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    /* An unreachable database is part of the report, not an error. */
    if (ck_require(ck, CK_NEEDS_STORE, &err))
        redact_message(&err);
    collect(ck, err.buf, &r);
    rc = print_report(&r, ck->format);
    health_report_release(&r);
    strbuf_release(&err);
    return rc;
}
