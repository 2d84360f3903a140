/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep backtests ...`: backtest results, the same rows as POST and
 * GET /backtests.
 *
 *   backtests add --name N --params JSON --metrics JSON
 *   backtests list [--since ISO] [--limit N] [--format table|json|csv]
 *
 * params and metrics are JSON objects, stored as written. Results older
 * than [retention] backtests (180 days by default) are deleted by the
 * daemon's retention job.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "signal/signal.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_backtests_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep backtests add --name N --params JSON --metrics JSON\n"
                "       candlekeep backtests list [--since ISO] [--limit N] "
                "[--format table|json|csv]\n"
                "Both take --config FILE.\n\n"
                "Backtest results: a name, the parameters and the metrics as JSON objects\n"
                "(stored as written), newest first.\n");
}

static int do_add(struct store *st, const char *name, const char *params, const char *metrics,
                  enum out_format fmt)
{
    struct strbuf err = STRBUF_INIT;
    struct backtest b;
    int rc;

    if (backtest_from_text(name, params, metrics, "--params", "--metrics", &b, &err)) {
        /* "name: ..." is the option --name. */
        fprintf(stderr, "candlekeep backtests add: %s%s\n",
                strncmp(err.buf, "name:", 5) ? "" : "--", err.buf);
        strbuf_release(&err);
        return CMD_USAGE;
    }
    b.created_ms = time_now_ms();
    rc = store_backtest_add(st, &b, &err);
    if (rc) {
        fprintf(stderr, "candlekeep backtests add: %s\n", err.buf);
        rc = CMD_FAIL;
    } else if (fmt == OUT_JSON) {
        json_t *j = backtest_json(&b);
        char *text = signal_dump_json(j, true, NULL);
        fputs(text, stdout);
        free(text);
        json_decref(j);
        rc = CMD_OK;
    } else {
        printf("backtest %" PRId64 " stored: %s\n", b.id, b.name);
        rc = CMD_OK;
    }
    free(b.name);
    free(b.params);
    free(b.metrics);
    strbuf_release(&err);
    return rc;
}

static int do_list(struct store *st, const char *since, int64_t limit, enum out_format fmt)
{
    static const char *const cols[] = {"id", "created_at", "name", "params", "metrics"};
    struct strbuf err = STRBUF_INIT;
    struct backtest *v = NULL;
    size_t n = 0;
    int64_t since_ms = 0;

    if (since) {
        int64_t t;
        if (cmd_parse_time("backtests list", "--since", since, &t))
            return CMD_USAGE;
        since_ms = t * 1000;
    }
    if (store_backtest_list(st, since_ms, (size_t)limit, &v, &n, &err)) {
        fprintf(stderr, "candlekeep backtests list: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    if (fmt == OUT_JSON) {
        /* The objects of GET /backtests. */
        json_t *arr = json_array();
        char *text;
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, backtest_json(&v[i]));
        text = signal_dump_json(arr, true, NULL);
        fputs(text, stdout);
        free(text);
        json_decref(arr);
    } else {
        struct out_table *t = out_table_new(fmt, cols, ARRAY_SIZE(cols));
        out_table_numeric(t, 0);
        for (size_t i = 0; i < n; i++) {
            char id[24], created[TIME_BUFSZ];
            snprintf(id, sizeof(id), "%" PRId64, v[i].id);
            time_format_iso8601(v[i].created_ms / 1000, created);
            const char *row[] = {id, created, v[i].name, v[i].params, v[i].metrics};
            out_table_row(t, row);
        }
        out_table_flush(t);
    }
    backtests_free(v, n);
    strbuf_release(&err);
    return CMD_OK;
}

/* The options of both actions, and which action's were given. */
struct args {
    const char *name, *params, *metrics, *since;
    int64_t limit;
    bool add_opts, list_opts;
};

/* Take the options into `a`; CMD_OK, or CMD_USAGE (printed). */
static int parse_options(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'N'},    {"params", required_argument, NULL, 'p'},
        {"metrics", required_argument, NULL, 'm'}, {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'},   {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'N':
            a->name = optarg;
            a->add_opts = true;
            break;
        case 'p':
            a->params = optarg;
            a->add_opts = true;
            break;
        case 'm':
            a->metrics = optarg;
            a->add_opts = true;
            break;
        case 's':
            a->since = optarg;
            a->list_opts = true;
            break;
        case 'n':
            if (cmd_parse_int("backtests", "--limit", optarg, 1, 100000, &a->limit))
                return CMD_USAGE;
            a->list_opts = true;
            break;
        default:
            cmd_backtests_usage(stderr);
            return CMD_USAGE;
        }
    }
    return CMD_OK;
}

/* The action after the options, checked against them; NULL after a usage error (printed). */
static const char *parse_action(int argc, char **argv, const struct args *a)
{
    const char *action;

    if (optind >= argc) {
        fprintf(stderr, "candlekeep backtests: an action is needed (add, list)\n");
        cmd_backtests_usage(stderr);
        return NULL;
    }
    action = argv[optind++];
    if (strcmp(action, "add") && strcmp(action, "list")) {
        fprintf(stderr, "candlekeep backtests: unknown action '%s'\n", action);
        cmd_backtests_usage(stderr);
        return NULL;
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep backtests %s: unexpected argument '%s'\n", action,
                argv[optind]);
        return NULL;
    }
    if ((!strcmp(action, "add") && a->list_opts) || (!strcmp(action, "list") && a->add_opts)) {
        fprintf(stderr, "candlekeep backtests %s: %s\n", action,
                a->list_opts && a->add_opts
                    ? "--name/--params/--metrics are for add, --since/--limit for list"
                : a->add_opts ? "--name, --params and --metrics are for add"
                              : "--since and --limit are for list");
        return NULL;
    }
    return action;
}

int cmd_backtests(int argc, char **argv, struct ck *ck)
{
    struct args a = {.limit = 50};
    const char *action;
    int rc;

    if (parse_options(argc, argv, &a))
        return CMD_USAGE;
    action = parse_action(argc, argv, &a);
    if (!action)
        return CMD_USAGE;
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    if (!strcmp(action, "add"))
        return do_add(ck->store, a.name, a.params, a.metrics, ck->format);
    return do_list(ck->store, a.since, a.limit, ck->format);
}
