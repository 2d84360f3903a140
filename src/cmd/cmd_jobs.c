/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep jobs ...`: the schedule and its history, over the same
 * database rows the daemon uses, whether or not a daemon runs.
 *
 *   jobs [list]              every configured job: schedule, next run, paused, streak, last run
 *   jobs runs ID [--limit N] the run history of one job, newest first
 *   jobs pause ID | resume ID
 *   jobs run ID              run the job now in this process, under the same
 *                            no-overlap lease and history as the daemon
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "health/health.h"
#include "jobs/table.h"
#include "jobs/watch.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_jobs_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep jobs [list] [--format table|json|csv] [--config FILE]\n"
                "       candlekeep jobs runs ID [--limit N] [--format table|json|csv]\n"
                "       candlekeep jobs pause ID\n"
                "       candlekeep jobs resume ID\n"
                "       candlekeep jobs run ID\n\n"
                "The scheduled jobs and their history, from the database the daemon uses.\n"
                "pause/resume survive restarts; run executes the job now in this process\n"
                "(refused while it runs elsewhere) and records it like a scheduled run.\n");
}

/*
 * A scheduler that runs only what it is told, with the job table bound to
 * `ck` (whose alert manager is built first), as the daemon's: `jobs run`.
 */
static struct sched *run_sched(struct ck *ck, struct strbuf *err)
{
    struct sched_config cfg = {
        .store_url = ck->settings.storage.url,
        .workers = 1,
        .metrics = ck->metrics,
        .manual_only = true,
        .history_keep = ck->settings.scheduler.history_keep,
        /* A run here counts in the streaks and alerts as a run of the daemon does. */
        .on_run_end = ck->alerts ? watch_on_run_end : NULL,
        .on_run_end_arg = ck,
    };
    char *inst = sched_make_instance_id();
    struct strbuf id = STRBUF_INIT;
    strbuf_addf(&id, SCHED_CLI_PREFIX "%s", inst);
    cfg.instance = id.buf;
    struct sched *s = sched_new(&cfg, err);
    free(inst);
    strbuf_release(&id);
    if (s && jobs_register(ck, s, err)) {
        sched_free(s);
        s = NULL;
    }
    return s;
}

static int unknown_job(const struct job_table *t, const char *id)
{
    fprintf(stderr, "candlekeep jobs: no job '%s'; configured:", id);
    for (size_t i = 0; i < t->n; i++)
        fprintf(stderr, " %s", t->v[i].id);
    fprintf(stderr, "\n");
    return CMD_USAGE;
}

static void fmt_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    if (ms <= 0) {
        buf[0] = '\0';
        return;
    }
    time_format_iso8601(ms / 1000, buf);
}

/* The jobs of the table with their state, from the health report (no scheduler). */
static int do_list(struct store *st, const struct settings *set, const struct job_table *t,
                   enum out_format fmt)
{
    static const char *const cols[] = {"id",     "schedule",    "next_run", "paused",
                                       "streak", "last_status", "last_run", "last_message"};
    struct strbuf err = STRBUF_INIT;
    struct out_table *tab = out_table_new(fmt, cols, 8);
    struct health_report r;
    struct health_config cfg = {
        .sources = set->sources,
        .nsources = set->nsources,
        .jobs = job_table_specs(t),
        .njobs = t->n,
        .store_url = set->storage.url,
    };
    health_collect(&cfg, st, NULL, time_now(), time_wall_ms(), &r, &err);
    out_table_numeric(tab, 4);
    for (size_t i = 0; i < r.njobs; i++) {
        const struct health_job *j = &r.jobs[i];
        struct job_run *runs = NULL;
        size_t nr = 0;
        char next[TIME_BUFSZ] = "", last[TIME_BUFSZ], streak[24];
        if (!j->configured)
            continue;
        strbuf_reset(&err);
        store_job_runs_list(st, j->id, 1, &runs, &nr, &err);
        if (j->next_run > 0)
            time_format_iso8601(j->next_run, next);
        fmt_ms(nr ? runs[0].started : 0, last);
        snprintf(streak, sizeof(streak), "%" PRId64, j->streak);
        const char *row[] = {j->id,
                             j->cron,
                             *next ? next : NULL,
                             j->paused ? "true" : "false",
                             streak,
                             nr ? job_status_name(runs[0].status) : NULL,
                             nr ? last : NULL,
                             nr ? runs[0].message : NULL};
        out_table_row(tab, row);
        job_runs_free(runs, nr);
    }
    out_table_flush(tab);
    health_report_release(&r);
    free((void *)cfg.jobs);
    strbuf_release(&err);
    return CMD_OK;
}

static int do_runs(struct store *st, const char *id, size_t limit, enum out_format fmt)
{
    static const char *const cols[] = {"id",      "job",      "status",      "scheduled",
                                       "started", "finished", "duration_ms", "instance",
                                       "message", "details"};
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs = NULL;
    size_t n = 0;
    if (store_job_runs_list(st, id, limit, &runs, &n, &err)) {
        fprintf(stderr, "candlekeep jobs runs: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    struct out_table *t = out_table_new(fmt, cols, 10);
    out_table_numeric(t, 0);
    out_table_numeric(t, 6);
    out_table_numeric(t, 9); /* details are a JSON object */
    for (size_t i = 0; i < n; i++) {
        char rid[24], sch[TIME_BUFSZ], sta[TIME_BUFSZ], fin[TIME_BUFSZ], dur[24];
        snprintf(rid, sizeof(rid), "%" PRId64, runs[i].id);
        time_format_iso8601(runs[i].scheduled, sch);
        fmt_ms(runs[i].started, sta);
        fmt_ms(runs[i].finished, fin);
        snprintf(dur, sizeof(dur), "%" PRId64,
                 runs[i].finished ? runs[i].finished - runs[i].started : 0);
        const char *row[] = {rid,
                             runs[i].job_id,
                             job_status_name(runs[i].status),
                             sch,
                             sta,
                             runs[i].finished ? fin : NULL,
                             runs[i].finished ? dur : NULL,
                             runs[i].instance,
                             runs[i].message,
                             fmt == OUT_TABLE ? NULL : runs[i].details};
        out_table_row(t, row);
    }
    out_table_flush(t);
    job_runs_free(runs, n);
    strbuf_release(&err);
    return CMD_OK;
}

static int do_run(struct ck *ck, const char *id)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs = NULL;
    size_t n = 0;
    int rc;
    struct sched *s = run_sched(ck, &err);

    if (!s || sched_start_workers(s, &err) || sched_run_now(s, id, &err)) {
        sched_free(s);
        fprintf(stderr, "candlekeep jobs run: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    sched_tick(s, time_now() * 1000);
    sched_wait_idle(s);
    sched_free(s);
    rc = store_job_runs_list(ck->store, id, 1, &runs, &n, &err);
    if (rc || !n) {
        fprintf(stderr, "candlekeep jobs run: %s: the run left no record%s%s\n", id,
                err.len ? ": " : "", err.buf);
        rc = CMD_FAIL;
    } else {
        printf("%s %s: %s\n", id, job_status_name(runs[0].status), runs[0].message);
        rc = runs[0].status == JOB_OK ? CMD_OK : CMD_FAIL;
    }
    job_runs_free(runs, n);
    strbuf_release(&err);
    return rc;
}

/* The words of `jobs`: the action, its job id and --limit. */
struct jobs_args {
    const char *action;
    const char *id;
    int64_t limit;
};

/* Parse the command line into `a`; CMD_OK, or CMD_USAGE after printing why. */
static int parse_args(int argc, char **argv, struct jobs_args *a)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        if (c != 'n') {
            cmd_jobs_usage(stderr);
            return CMD_USAGE;
        }
        if (cmd_parse_int("jobs", "--limit", optarg, 1, 100000, &a->limit))
            return CMD_USAGE;
    }
    if (optind < argc)
        a->action = argv[optind++];
    if (strcmp(a->action, "list")) {
        if (strcmp(a->action, "runs") && strcmp(a->action, "pause") &&
            strcmp(a->action, "resume") && strcmp(a->action, "run")) {
            fprintf(stderr, "candlekeep jobs: unknown action '%s'\n", a->action);
            cmd_jobs_usage(stderr);
            return CMD_USAGE;
        }
        if (optind >= argc) {
            fprintf(stderr, "candlekeep jobs %s: a job id is required\n", a->action);
            return CMD_USAGE;
        }
        a->id = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep jobs: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    return CMD_OK;
}

static int do_pause(struct store *st, const char *action, const char *id)
{
    struct strbuf err = STRBUF_INIT;
    bool pause = !strcmp(action, "pause");
    int rc = CMD_OK;

    if (store_job_set_paused(st, id, pause, time_now(), &err)) {
        fprintf(stderr, "candlekeep jobs %s: %s\n", action, err.buf);
        rc = CMD_FAIL;
    } else {
        printf("%s %s\n", id, pause ? "paused" : "resumed");
    }
    strbuf_release(&err);
    return rc;
}

static int do_action(struct ck *ck, const struct jobs_args *a, const struct job_table *table)
{
    if (!strcmp(a->action, "list"))
        return do_list(ck->store, &ck->settings, table, ck->format);
    if (!strcmp(a->action, "runs"))
        return do_runs(ck->store, a->id, (size_t)a->limit, ck->format);
    if (!strcmp(a->action, "run"))
        return do_run(ck, a->id);
    return do_pause(ck->store, a->action, a->id);
}

int cmd_jobs(int argc, char **argv, struct ck *ck)
{
    struct jobs_args a = {.action = "list", .limit = 20};
    struct job_table table = {0};
    bool run;
    int rc;

    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    run = !strcmp(a.action, "run");
    rc = cmd_need(ck, CK_NEEDS_CONFIG);
    /*
     * A run records its alerts (streaks, the watch job's conditions, the
     * digest) in the outbox, which a daemon's sender delivers.
     */
    if (!rc && run)
        rc = cmd_need(ck, CK_NEEDS_ALERTS | CK_NEEDS_HTTP | CK_NEEDS_FEEDS);
    if (rc)
        return rc;
    job_table_build(&ck->settings, NULL, &table);
    if (a.id && !job_table_find(&table, a.id) && strcmp(a.action, "runs"))
        rc = unknown_job(&table, a.id);
    else if (!(rc = cmd_ready(ck)))
        rc = do_action(ck, &a, &table);
    job_table_release(&table);
    return rc;
}
