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
#include "cmd/jobview.h"

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

static int do_runs(struct store *st, const char *id, size_t limit, enum out_format fmt)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs = NULL;
    size_t n = 0;
    if (store_job_runs_list(st, id, limit, &runs, &n, &err)) {
        fprintf(stderr, "candlekeep jobs runs: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    jobview_print_runs(runs, n, fmt);
    job_runs_free(runs, n);
    strbuf_release(&err);
    return CMD_OK;
}

static int do_action(struct ck *ck, const struct jobs_args *a, const struct job_table *table)
{
    if (!strcmp(a->action, "list"))
        return jobview_list(ck, table, NULL, false);
    if (!strcmp(a->action, "runs"))
        return do_runs(ck->store, a->id, (size_t)a->limit, ck->format);
    if (!strcmp(a->action, "run"))
        return jobview_run(ck, "jobs run", &a->id, 1);
    if (!strcmp(a->action, "pause"))
        return jobview_pause(ck->store, "jobs", a->id, &(struct job_pause){.paused = true});
    return jobview_resume(ck->store, "jobs", a->id);
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
        rc = jobview_unknown("jobs", &table, NULL, a.id);
    else if (!(rc = cmd_ready(ck)))
        rc = do_action(ck, &a, &table);
    job_table_release(&table);
    return rc;
}
