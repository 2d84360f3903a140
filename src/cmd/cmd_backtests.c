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
#include <time.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep backtests add --name N --params JSON --metrics JSON\n"
                "       candlekeep backtests list [--since ISO] [--limit N] "
                "[--format table|json|csv]\n"
                "Both take --config FILE.\n\n"
                "Backtest results: a name, the parameters and the metrics as JSON objects\n"
                "(stored as written), newest first.\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    if (getenv("CANDLEKEEP_NOW"))
        return time_now() * 1000;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    b.created_ms = now_ms();
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

int cmd_backtests(int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'N'},
        {"params", required_argument, NULL, 'p'},
        {"metrics", required_argument, NULL, 'm'},
        {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config = NULL, *name = NULL, *params = NULL, *metrics = NULL, *since = NULL;
    const char *action;
    bool add_opts = false, list_opts = false;
    enum out_format fmt = OUT_TABLE;
    int64_t limit = 50;
    struct settings cfg;
    struct store *st = NULL;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'N':
            name = optarg;
            add_opts = true;
            break;
        case 'p':
            params = optarg;
            add_opts = true;
            break;
        case 'm':
            metrics = optarg;
            add_opts = true;
            break;
        case 's':
            since = optarg;
            list_opts = true;
            break;
        case 'n':
            if (cmd_parse_int("backtests", "--limit", optarg, 1, 100000, &limit))
                return CMD_USAGE;
            list_opts = true;
            break;
        case 'f':
            if (cmd_parse_format("backtests", optarg, &fmt))
                return CMD_USAGE;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            usage(stdout);
            return CMD_OK;
        default:
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "candlekeep backtests: an action is needed (add, list)\n");
        usage(stderr);
        return CMD_USAGE;
    }
    action = argv[optind++];
    if (strcmp(action, "add") && strcmp(action, "list")) {
        fprintf(stderr, "candlekeep backtests: unknown action '%s'\n", action);
        usage(stderr);
        return CMD_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep backtests %s: unexpected argument '%s'\n", action,
                argv[optind]);
        return CMD_USAGE;
    }
    if ((!strcmp(action, "add") && list_opts) || (!strcmp(action, "list") && add_opts)) {
        fprintf(stderr, "candlekeep backtests %s: %s\n", action,
                list_opts && add_opts ? "--name/--params/--metrics are for add, --since/--limit "
                                        "for list"
                : add_opts            ? "--name, --params and --metrics are for add"
                                      : "--since and --limit are for list");
        return CMD_USAGE;
    }

    memset(&cfg, 0, sizeof(cfg));
    rc = cmd_setup(&cfg, config, "backtests");
    if (!rc)
        rc = cmd_open_store(&cfg, "backtests", &st);
    if (rc)
        goto out;
    if (!strcmp(action, "add"))
        rc = do_add(st, name, params, metrics, fmt);
    else
        rc = do_list(st, since, limit, fmt);
out:
    store_close(st);
    settings_release(&cfg);
    return rc;
}
