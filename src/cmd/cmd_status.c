/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep status [--format table|json]`: what GET /health says, read
 * from the database, so it works with or without a daemon: is the database
 * reachable, which daemons are alive (their heartbeat leases), the jobs
 * (paused, failing, overdue) and how fresh each series is. Exit 0 when the
 * database is reachable and a daemon is alive, 1 otherwise.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "app/app.h"
#include "sched/cron.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <jansson.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep status [--format table|json] [--config FILE]\n\n"
                "Database, daemons, jobs and series freshness, as GET /health reports them.\n"
                "Exit 0 when the database is reachable and a daemon is alive, 1 otherwise.\n");
}

/* The refresh job ids and schedules, as the daemon registers them. */
static json_t *jobs_json(const struct app *app, struct store *st, int64_t now, int *paused,
                         int *failing, int *overdue)
{
    const struct settings *s = &app->settings;
    struct strbuf err = STRBUF_INIT, id = STRBUF_INIT;
    json_t *list = json_array();
    bool used[TF_COUNT] = {false};

    for (size_t i = 0; i < s->nsources; i++)
        for (size_t j = 0; s->sources[i].enabled && j < s->sources[i].ntimeframes; j++)
            used[s->sources[i].timeframes[j]] = true;
    for (int tf = 0; tf < TF_COUNT; tf++) {
        struct cron_expr ce;
        struct job_state js;
        if (!used[tf])
            continue;
        strbuf_reset(&id);
        strbuf_addf(&id, "refresh_candles_%s", timeframe_name((enum timeframe)tf));
        cron_parse(&ce, s->jobs.refresh_cron[tf], &err);
        bool have = !store_job_get(st, id.buf, &js, &err);
        strbuf_reset(&err);
        int64_t period = cron_period_hint(&ce, now);
        int64_t next_after_last = have && js.last_fire ? cron_next(&ce, js.last_fire) : -1;
        bool is_paused = have && js.paused;
        bool is_overdue = !is_paused && next_after_last > 0 && now > next_after_last + period;
        int64_t streak = have ? js.streak : 0;
        char next[TIME_BUFSZ];
        time_format_iso8601(cron_next(&ce, now), next);
        *paused += is_paused;
        *failing += streak > 0;
        *overdue += is_overdue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:b, s:I, s:s}", "id", id.buf,
                                              "schedule", s->jobs.refresh_cron[tf], "paused",
                                              is_paused, "overdue", is_overdue, "streak",
                                              (json_int_t)streak, "next_run", next));
        if (have)
            job_state_release(&js);
    }
    strbuf_release(&err);
    strbuf_release(&id);
    return list;
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cmd_common cc = CMD_COMMON_INIT("status", usage);
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    struct app app;
    int c, rc;

    while ((c = getopt_long(argc, argv, "f:c:h", opts, NULL)) != -1) {
        switch (c) {
        default:
            if ((rc = cmd_common_option(&cc, c, optarg)) != CMD_CONTINUE)
                return rc;
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep status: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    memset(&app, 0, sizeof(app));
    rc = cmd_setup(&app.settings, cc.config, "status");
    if (rc)
        goto out;

    int64_t now = time_now();
    json_t *root = json_object();
    bool reachable = !store_open(&st, app.settings.storage.url, &err);
    json_object_set_new(root, "database",
                        json_pack("{s:b, s:s}", "reachable", reachable, "backend",
                                  reachable ? store_backend_name(st)
                                  : strncmp(app.settings.storage.url, "postgres", 8)
                                      ? "sqlite"
                                      : "postgresql"));
    if (!reachable) {
        redact_message(&err);
        json_object_set_new(json_object_get(root, "database"), "error", json_string(err.buf));
    }
    size_t ndaemons = 0;
    if (reachable) {
        struct lease_info *leases = NULL;
        size_t nl = 0;
        struct series_info *series = NULL;
        size_t ns = 0;
        int paused = 0, failing = 0, overdue = 0;
        json_t *daemons = json_array(), *sj = json_array();

        strbuf_reset(&err);
        if (!store_lease_list(st, SCHED_INSTANCE_LEASE, now * 1000, &leases, &nl, &err))
            for (size_t i = 0; i < nl; i++)
                json_array_append_new(daemons, json_string(leases[i].holder));
        ndaemons = nl;
        lease_infos_free(leases, nl);
        json_object_set_new(root, "daemons", daemons);

        json_t *jobs = jobs_json(&app, st, now, &paused, &failing, &overdue);
        json_object_set_new(root, "jobs",
                            json_pack("{s:I, s:i, s:i, s:i, s:o}", "count",
                                      (json_int_t)json_array_size(jobs), "paused", paused,
                                      "failing", failing, "overdue", overdue, "list", jobs));
        strbuf_reset(&err);
        if (!store_list_series(st, &series, &ns, &err)) {
            for (size_t i = 0; i < ns; i++) {
                char latest[TIME_BUFSZ];
                time_format_iso8601(series[i].last_time, latest);
                json_array_append_new(sj, json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "source",
                                                    series[i].source, "symbol", series[i].symbol,
                                                    "timeframe", timeframe_name(series[i].tf),
                                                    "latest", latest, "age_seconds",
                                                    (json_int_t)(now - series[i].last_time -
                                                                 timeframe_seconds(series[i].tf)),
                                                    "candles", (json_int_t)series[i].count));
            }
        }
        series_info_free(series, ns);
        json_object_set_new(root, "series", sj);
    }
    const char *status = !reachable ? "unavailable" : ndaemons ? "ok" : "no daemon running";
    json_object_set_new(root, "status", json_string(status));

    if (cc.format == OUT_JSON) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
    } else {
        json_t *db = json_object_get(root, "database"), *jobs = json_object_get(root, "jobs");
        printf("status:    %s\n", status);
        printf("database:  %s (%s)%s%s\n", reachable ? "reachable" : "unreachable",
               json_string_value(json_object_get(db, "backend")), reachable ? "" : ": ",
               reachable ? "" : err.buf);
        if (reachable) {
            size_t i;
            json_t *v;
            printf("daemons:   %zu", ndaemons);
            json_array_foreach(json_object_get(root, "daemons"), i, v)
                printf("%s%s", i ? ", " : " (", json_string_value(v));
            printf("%s\n", ndaemons ? ")" : "");
            printf("jobs:      %" JSON_INTEGER_FORMAT " (paused %d, failing %d, overdue %d)\n",
                   json_integer_value(json_object_get(jobs, "count")),
                   (int)json_integer_value(json_object_get(jobs, "paused")),
                   (int)json_integer_value(json_object_get(jobs, "failing")),
                   (int)json_integer_value(json_object_get(jobs, "overdue")));
            static const char *const cols[] = {"source", "symbol",      "timeframe",
                                               "latest", "age_seconds", "candles"};
            struct out_table *t = out_table_new(OUT_TABLE, cols, 6);
            out_table_numeric(t, 4);
            out_table_numeric(t, 5);
            json_array_foreach(json_object_get(root, "series"), i, v)
            {
                char age[24], cnt[24];
                snprintf(age, sizeof(age), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(v, "age_seconds")));
                snprintf(cnt, sizeof(cnt), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(v, "candles")));
                const char *row[] = {json_string_value(json_object_get(v, "source")),
                                     json_string_value(json_object_get(v, "symbol")),
                                     json_string_value(json_object_get(v, "timeframe")),
                                     json_string_value(json_object_get(v, "latest")),
                                     age,
                                     cnt};
                out_table_row(t, row);
            }
            printf("\n");
            out_table_flush(t);
        }
    }
    json_decref(root);
    rc = reachable && ndaemons ? CMD_OK : CMD_FAIL;
out:
    store_close(st);
    app_release(&app);
    strbuf_release(&err);
    return rc;
}
