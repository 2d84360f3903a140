/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep export candles|signals|outcomes|backtests|jobs [--since T]
 * [--until T] [--source S] [--symbol S] [--timeframe TF]
 * --format csv|json|tradenote [--out FILE|DIR] [--gzip]`: what the
 * database holds, for other tools (export/export.h). Candles stream, so
 * any history exports in constant memory.
 *
 * With --format tradenote and --out naming a directory, the TradeNote
 * files of the finished days not exported there yet are written, one per
 * day, as the tradenote_export job does (TradeNote imports a date once);
 * otherwise every execution in the range goes to one file.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "export/export.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/banned.h"

void cmd_export_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep export candles|signals|outcomes|backtests|jobs\n"
                "                         [--since T] [--until T] [--source S] [--symbol S]\n"
                "                         [--timeframe TF] --format csv|json|tradenote\n"
                "                         [--out FILE|DIR] [--gzip] [--config FILE]\n\n"
                "Write stored records out, oldest first: candles, trading signals, their\n"
                "outcomes, backtest results or job runs, as CSV or JSON (one array), or the\n"
                "settled signals as executions in TradeNote's import template.\n\n"
                "  --since T, --until T  the range [since, until) (ISO 8601 or YYYY-MM-DD, UTC)\n"
                "  --source, --symbol, --timeframe   one series (candles, signals, outcomes)\n"
                "  --format F   csv, json or tradenote (signals and outcomes only)\n"
                "  --out PATH   a file (default stdout); with tradenote, a directory: one\n"
                "               file per finished day not exported there before\n"
                "  --gzip       compress the output\n\n"
                "The daemon writes the TradeNote files into [export] dir by itself at\n"
                "[export] tradenote.\n");
}

/* A --since/--until value; CMD_OK or CMD_USAGE. */
static int parse_time_opt(const char *name, const char *arg, int64_t *out)
{
    if (time_parse(arg, out)) {
        fprintf(stderr, "candlekeep export: --%s '%s' is not a time (ISO 8601 or YYYY-MM-DD)\n",
                name, arg);
        return CMD_USAGE;
    }
    return CMD_OK;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return path && !stat(path, &sb) && S_ISDIR(sb.st_mode);
}

static int run_export(struct ck *ck, const struct export_query *q, enum export_format f,
                      const char *out, bool gzip)
{
    struct strbuf err = STRBUF_INIT;
    struct export_out *o = NULL;
    int64_t rows = 0;
    int rc;

    if (f == EXPORT_TRADENOTE && is_dir(out)) {
        size_t days = 0;
        rc = export_tradenote_days(ck->store, q, out, time_now(), &days, &err);
        if (!rc)
            printf("%zu day%s exported to %s\n", days, days == 1 ? "" : "s", out);
        goto out;
    }
    rc = export_open(&o, out, gzip, &err);
    if (!rc)
        rc = export_write(ck->store, q, f, o, &rows, &err);
    if (export_close(o, &err) && !rc)
        rc = CK_EIO;
    if (!rc && out)
        printf("%" PRId64 " %s exported to %s\n", rows, export_kind_name(q->kind), out);
out:
    if (rc) {
        redact_message(&err);
        fprintf(stderr, "candlekeep export: %s\n", err.buf);
    }
    strbuf_release(&err);
    return rc ? (rc == CK_EINVAL ? CMD_USAGE : CMD_FAIL) : CMD_OK;
}

int cmd_export(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},
        {"source", required_argument, NULL, 'S'},
        {"symbol", required_argument, NULL, 'y'},
        {"timeframe", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {"gzip", no_argument, NULL, 'z'},
        {0},
    };
    struct export_query q = {0};
    const char *format = NULL, *out = NULL;
    enum export_format f;
    bool gzip = false;
    int c, rc = CMD_OK;

    while (rc == CMD_OK && (c = getopt_long(argc, argv, "s:u:S:y:t:f:o:z", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            rc = parse_time_opt("since", optarg, &q.since);
            break;
        case 'u':
            rc = parse_time_opt("until", optarg, &q.until);
            break;
        case 'S':
            q.source = optarg;
            break;
        case 'y':
            q.symbol = optarg;
            break;
        case 't':
            if (timeframe_parse(optarg, &q.tf)) {
                fprintf(stderr, "candlekeep export: --timeframe '%s' is not a timeframe\n", optarg);
                rc = CMD_USAGE;
            }
            q.has_tf = true;
            break;
        case 'f':
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'z':
            gzip = true;
            break;
        default:
            cmd_export_usage(stderr);
            rc = CMD_USAGE;
        }
    }
    if (rc)
        return rc;
    if (optind + 1 != argc || export_kind_parse(argv[optind], &q.kind)) {
        fprintf(stderr, "candlekeep export: say what to export: candles, signals, outcomes, "
                        "backtests or jobs\n");
        return CMD_USAGE;
    }
    if (!format || export_format_parse(format, &f)) {
        fprintf(stderr, "candlekeep export: --format %s%s%s: want csv, json or tradenote\n",
                format ? "'" : "", format ? format : "is missing", format ? "'" : "");
        return CMD_USAGE;
    }
    if (f == EXPORT_TRADENOTE && q.kind != EXPORT_SIGNALS && q.kind != EXPORT_OUTCOMES) {
        fprintf(stderr, "candlekeep export: --format tradenote is of signals and outcomes\n");
        return CMD_USAGE;
    }
    if (q.since && q.until && q.since >= q.until) {
        fprintf(stderr, "candlekeep export: --since is not before --until\n");
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (!rc) {
        q.tradenote_qty = ck->settings.export_.tradenote_qty;
        rc = run_export(ck, &q, f, out, gzip);
    }
    return rc;
}
