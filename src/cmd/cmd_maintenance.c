/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep maintenance ...`: the maintenance tasks, which are jobs of
 * kind "maintenance" of the one job table, through the same machinery as
 * `candlekeep jobs` (cmd/jobview.h), whether or not a daemon runs.
 *
 *   maintenance [list]                     the tasks: schedule, next run, paused, last run
 *   maintenance run TASK                   run it now in this process (exit 1 unless ok)
 *   maintenance run-all                    every task, one after the other
 *   maintenance history [--task T] [--limit N]
 *   maintenance schedule                   the schedules and pauses
 *   maintenance pause TASK [--for 2h | --until TIME] [--reason TEXT]
 *   maintenance resume TASK                a run skipped while paused is made once
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "cmd/jobview.h"

#include "ck/ck.h"
#include "jobs/maintenance.h"
#include "jobs/table.h"
#include "store/store.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_maintenance_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep maintenance [list] [--format table|json|csv]\n"
                "       candlekeep maintenance run TASK\n"
                "       candlekeep maintenance run-all\n"
                "       candlekeep maintenance history [--task TASK] [--limit N]\n"
                "       candlekeep maintenance schedule\n"
                "       candlekeep maintenance pause TASK [--for DURATION | --until TIME]"
                " [--reason TEXT]\n"
                "       candlekeep maintenance resume TASK\n\n"
                "The maintenance tasks (health_check, data_cleanup, log_rotation, ...), which\n"
                "are scheduled jobs of kind 'maintenance'. run and run-all execute tasks now in\n"
                "this process (refused while one runs elsewhere) and exit 1 unless every run\n"
                "ended ok; schedules are set in [maintenance]. A pause ends by itself at\n"
                "--until (or after --for); on resume, a run skipped while paused is made\n"
                "once by the daemon, never once per skipped run.\n");
}

struct maint_args {
    const char *action;
    const char *task; /* run, pause, resume: the task; history: --task */
    int64_t limit;
    int64_t pause_for;  /* --for, seconds; 0: none */
    int64_t until;      /* --until, Unix s; 0: none */
    const char *reason; /* --reason */
};

/* Does `action` take a TASK operand? */
static bool takes_task(const char *action)
{
    return !strcmp(action, "run") || !strcmp(action, "pause") || !strcmp(action, "resume");
}

/* One option of the command line into `a`; CMD_OK, or CMD_USAGE after printing why. */
static int parse_option(int c, const char *arg, struct maint_args *a)
{
    switch (c) {
    case 'n':
        if (cmd_parse_int("maintenance", "--limit", arg, 1, 100000, &a->limit))
            return CMD_USAGE;
        return CMD_OK;
    case 't':
        a->task = arg;
        return CMD_OK;
    case 'f':
        if (parse_duration(arg, &a->pause_for) || a->pause_for <= 0) {
            fprintf(stderr,
                    "candlekeep maintenance: --for: '%s' is not a duration above 0 "
                    "(e.g. 30m, 2h, 1d)\n",
                    arg);
            return CMD_USAGE;
        }
        return CMD_OK;
    case 'u':
        if (cmd_parse_time("maintenance", "--until", arg, &a->until))
            return CMD_USAGE;
        return CMD_OK;
    case 'r':
        a->reason = arg;
        return CMD_OK;
    default:
        cmd_maintenance_usage(stderr);
        return CMD_USAGE;
    }
}

/* The options given fit the action; else prints why and returns CMD_USAGE. */
static int check_options(const struct maint_args *a)
{
    if (a->task && strcmp(a->action, "history")) {
        fprintf(stderr, "candlekeep maintenance %s: --task is for history\n", a->action);
        return CMD_USAGE;
    }
    if ((a->pause_for || a->until || a->reason) && strcmp(a->action, "pause")) {
        fprintf(stderr, "candlekeep maintenance %s: --for, --until and --reason are for pause\n",
                a->action);
        return CMD_USAGE;
    }
    if (a->pause_for && a->until) {
        fprintf(stderr, "candlekeep maintenance pause: --for or --until, not both\n");
        return CMD_USAGE;
    }
    return CMD_OK;
}

static int parse_args(int argc, char **argv, struct maint_args *a)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},  {"task", required_argument, NULL, 't'},
        {"for", required_argument, NULL, 'f'},    {"until", required_argument, NULL, 'u'},
        {"reason", required_argument, NULL, 'r'}, {0},
    };
    static const char *const actions[] = {"list",     "run",   "run-all", "history",
                                          "schedule", "pause", "resume"};
    bool known = false;
    int c;

    while ((c = getopt_long(argc, argv, "n:t:f:u:r:", opts, NULL)) != -1)
        if (parse_option(c, optarg, a))
            return CMD_USAGE;
    if (optind < argc)
        a->action = argv[optind++];
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        known |= !strcmp(a->action, actions[i]);
    if (!known) {
        fprintf(stderr, "candlekeep maintenance: unknown action '%s'\n", a->action);
        cmd_maintenance_usage(stderr);
        return CMD_USAGE;
    }
    if (check_options(a))
        return CMD_USAGE;
    if (takes_task(a->action)) {
        if (optind >= argc) {
            fprintf(stderr, "candlekeep maintenance %s: a task is required\n", a->action);
            return CMD_USAGE;
        }
        a->task = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep maintenance: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    return CMD_OK;
}

static int do_history(struct ck *ck, const struct job_table *t, const struct maint_args *a)
{
    struct strbuf err = STRBUF_INIT;
    struct job_run *runs;
    size_t n;
    int rc = CMD_OK;

    if (maint_history(ck->store, t, a->task, (size_t)a->limit, &runs, &n, &err)) {
        fprintf(stderr, "candlekeep maintenance history: %s\n", err.buf);
        rc = CMD_FAIL;
    } else {
        jobview_print_runs(runs, n, ck->format);
        job_runs_free(runs, n);
    }
    strbuf_release(&err);
    return rc;
}

static int do_run_all(struct ck *ck, const struct job_table *t)
{
    const char **ids = xcalloc(t->n ? t->n : 1, sizeof(*ids));
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if (job_entry_is(&t->v[i], JOB_KIND_MAINTENANCE))
            ids[n++] = t->v[i].id;
    rc = jobview_run(ck, "maintenance run-all", ids, n);
    free(ids);
    return rc;
}

static int do_action(struct ck *ck, const struct maint_args *a, const struct job_table *t)
{
    if (!strcmp(a->action, "list"))
        return jobview_list(ck, t, JOB_KIND_MAINTENANCE, false);
    if (!strcmp(a->action, "schedule"))
        return jobview_list(ck, t, JOB_KIND_MAINTENANCE, true);
    if (!strcmp(a->action, "history"))
        return do_history(ck, t, a);
    if (!strcmp(a->action, "run"))
        return jobview_run(ck, "maintenance run", &a->task, 1);
    if (!strcmp(a->action, "run-all"))
        return do_run_all(ck, t);
    if (!strcmp(a->action, "pause")) {
        struct job_pause p = {
            .paused = true,
            .until = a->pause_for ? time_now() + a->pause_for : a->until,
            .reason = a->reason,
        };
        return jobview_pause(ck->store, "maintenance", a->task, &p);
    }
    return jobview_resume(ck->store, "maintenance", a->task);
}

int cmd_maintenance(int argc, char **argv, struct ck *ck)
{
    struct maint_args a = {.action = "list", .limit = 20};
    struct job_table table = {0};
    const struct job_entry *e;
    bool run;
    int rc;

    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    run = !strcmp(a.action, "run") || !strcmp(a.action, "run-all");
    rc = cmd_need(ck, CK_NEEDS_CONFIG);
    /* A run records its alerts in the outbox, which a daemon's sender delivers. */
    if (!rc && run)
        rc = cmd_need(ck, CK_NEEDS_ALERTS | CK_NEEDS_HTTP | CK_NEEDS_FEEDS);
    if (rc)
        return rc;
    job_table_build(&ck->settings, NULL, &table);
    e = a.task ? job_table_find(&table, a.task) : NULL;
    if (a.task && !(e && job_entry_is(e, JOB_KIND_MAINTENANCE)))
        rc = jobview_unknown("maintenance", &table, JOB_KIND_MAINTENANCE, a.task);
    else if (!(rc = cmd_ready(ck)))
        rc = do_action(ck, &a, &table);
    job_table_release(&table);
    return rc;
}
