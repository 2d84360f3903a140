/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep retention [--dry-run] [--format table|json|csv]`: apply the
 * [retention] thresholds now, as the daily job does, and print per
 * category (a timeframe with a threshold, backtest results) the cutoff and
 * the rows that went; with --dry-run only count the rows that would go.
 * What is kept for ever (timeframes without a threshold, signals,
 * outcomes) is named on stderr. The run is not recorded in the job
 * history; `candlekeep jobs run retention` runs the job itself.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "jobs/retention.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

void cmd_retention_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep retention [--dry-run] [--format table|json|csv] [--config FILE]\n\n"
            "Delete what the [retention] thresholds say is old enough (candles per\n"
            "timeframe, backtest results), as the daily retention job does, and print\n"
            "per category the cutoff and the rows deleted. Signals and outcomes are never\n"
            "deleted.\n\n"
            "  --dry-run   delete nothing; print the rows that would be deleted\n"
            "  --format F  table (default), json or csv\n");
}

/* "90d", "36h", "1800s": the threshold as configured, in its largest whole unit. */
static void format_keep(int64_t seconds, char *buf, size_t size)
{
    if (seconds % 86400 == 0)
        snprintf(buf, size, "%" PRId64 "d", seconds / 86400);
    else if (seconds % 3600 == 0)
        snprintf(buf, size, "%" PRId64 "h", seconds / 3600);
    else
        snprintf(buf, size, "%" PRId64 "s", seconds);
}

static void print_result(const struct retention_result *r, const struct retention_settings *rs,
                         enum out_format fmt)
{
    const char *cols[] = {"category", "keep", "cutoff", r->dry_run ? "would_delete" : "deleted"};
    struct out_table *t = out_table_new(fmt, cols, 4);
    char keep[32], cutoff[TIME_BUFSZ], rows[24];

    out_table_numeric(t, 3);
    for (int i = 0; i < TF_COUNT; i++) {
        if (!r->prune[i])
            continue;
        format_keep(rs->keep[i], keep, sizeof(keep));
        time_format_iso8601(r->cutoff[i], cutoff);
        snprintf(rows, sizeof(rows), "%" PRId64, r->deleted[i]);
        const char *row[] = {timeframe_name((enum timeframe)i), keep, cutoff, rows};
        out_table_row(t, row);
    }
    if (r->prune_backtests) {
        format_keep(rs->backtests, keep, sizeof(keep));
        time_format_iso8601(r->backtest_cutoff_ms / 1000, cutoff);
        snprintf(rows, sizeof(rows), "%" PRId64, r->backtests);
        const char *row[] = {"backtests", keep, cutoff, rows};
        out_table_row(t, row);
    }
    if (r->prune_alert_messages) {
        format_keep(rs->alert_messages, keep, sizeof(keep));
        time_format_iso8601(r->alert_message_cutoff_ms / 1000, cutoff);
        snprintf(rows, sizeof(rows), "%" PRId64, r->alert_messages);
        const char *row[] = {"alert_messages", keep, cutoff, rows};
        out_table_row(t, row);
    }
    out_table_flush(t);
}

/* What the run keeps for ever, as "M1 backtests signals outcomes". */
static void list_kept(const struct retention_result *r, struct strbuf *out)
{
    for (int i = 0; i < TF_COUNT; i++)
        if (!r->prune[i])
            strbuf_addf(out, "%s ", timeframe_name((enum timeframe)i));
    if (!r->prune_backtests)
        strbuf_addstr(out, "backtests ");
    if (!r->prune_alert_messages)
        strbuf_addstr(out, "alert_messages ");
    strbuf_addstr(out, "signals outcomes");
}

int cmd_retention(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {0},
    };
    struct strbuf err = STRBUF_INIT, kept = STRBUF_INIT, sum = STRBUF_INIT;
    struct retention_result r;
    bool dry_run = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            dry_run = true;
            break;
        default:
            cmd_retention_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "candlekeep retention: unexpected argument '%s'\n", argv[optind]);
        cmd_retention_usage(stderr);
        return CMD_USAGE;
    }

    rc = cmd_ready(ck);
    if (rc)
        return rc;
    rc = retention_run(ck->store, &ck->settings.retention, time_now(), dry_run, NULL, NULL, &r,
                       &err);
    /* What went before a failure went: show it either way. */
    print_result(&r, &ck->settings.retention, ck->format);
    retention_summary(&r, &sum);
    list_kept(&r, &kept);
    if (rc) {
        fprintf(stderr, "candlekeep retention: %s (%s)\n", err.buf, sum.buf);
        rc = CMD_FAIL;
    } else {
        fprintf(stderr, "%s; kept for ever: %s\n", sum.buf, kept.buf);
        rc = CMD_OK;
    }
    strbuf_release(&err);
    strbuf_release(&kept);
    strbuf_release(&sum);
    return rc;
}
