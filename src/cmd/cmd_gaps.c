/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep gaps TF [--symbol S] [--source NAME] [--days N] [--state S]
 * [--rescan] [--format table|json|csv]`: list the gap ledger of a series
 * (gaps whose last missing candle lies within the last N days, default 7).
 * With --rescan, the stored candles are first scanned against the trading
 * calendar over that window and the ledger reconciled.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ingest/ingest.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

void cmd_gaps_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep gaps TF [--symbol S] [--source NAME] [--days N] [--state STATE]\n"
            "                       [--rescan] [--format table|json|csv] [--config FILE]\n\n"
            "List missing candles of one series from the gap ledger.\n\n"
            "  TF             timeframe (%s)\n"
            "  --symbol S     symbol (default: the first configured)\n"
            "  --source NAME  source (default: the one configured for the symbol)\n"
            "  --days N       gaps ending within the last N days (default 7)\n"
            "  --state STATE  only open, repairing, filled or unfillable gaps\n"
            "  --rescan       scan the stored candles first and update the ledger\n"
            "  --format F     table (default), json or csv\n",
            timeframe_all_names());
}

/* Scan the stored candles of the series against its source's calendar. */
static int rescan(struct ck *ck, const char *source, const char *symbol, enum timeframe tf,
                  int64_t days)
{
    const struct source_settings *src = settings_source(&ck->settings, source);
    struct strbuf err = STRBUF_INIT;
    struct ingest_stats stats;
    int rc;

    if (!src)
        BUG("gaps: source '%s' is not configured", source);
    struct ingest_ctx ctx = {
        .store = ck->store,
        .source_name = source,
        .cal = ck_calendar(ck, (size_t)(src - ck->settings.sources)),
        .gap_window = days * 86400,
    };
    memset(&stats, 0, sizeof(stats));
    rc = ingest_scan_gaps(&ctx, symbol, tf, time_now(), &stats, &err);
    if (rc)
        fprintf(stderr, "candlekeep gaps: rescan of %s %s %s failed: %s\n", source, symbol,
                timeframe_name(tf), err.buf);
    else
        fprintf(stderr, "rescanned %s %s %s over %lld days: %zu open, %zu new, %zu filled\n",
                source, symbol, timeframe_name(tf), (long long)days, stats.gaps_open,
                stats.gaps_opened, stats.gaps_filled);
    strbuf_release(&err);
    return rc ? CMD_FAIL : CMD_OK;
}

/* Print the gaps `q` selects; the exit status. */
static int list_gaps(struct ck *ck, const struct gap_query *q)
{
    static const char *const cols[] = {"id",     "source",     "symbol",      "timeframe",
                                       "first",  "last",       "count",       "state",
                                       "reason", "first_seen", "last_checked"};
    struct strbuf err = STRBUF_INIT;
    struct gap_record *recs = NULL;
    size_t nrecs = 0;

    if (store_list_gaps(ck->store, q, &recs, &nrecs, &err)) {
        fprintf(stderr, "candlekeep gaps: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    struct out_table *t = out_table_new(ck->format, cols, 11);
    out_table_numeric(t, 0);
    out_table_numeric(t, 6);
    for (size_t i = 0; i < nrecs; i++) {
        const struct gap_record *g = &recs[i];
        char id[24], cnt[24], a[TIME_BUFSZ], b[TIME_BUFSZ], fs[TIME_BUFSZ], lc[TIME_BUFSZ];
        snprintf(id, sizeof(id), "%" PRId64, g->id);
        snprintf(cnt, sizeof(cnt), "%" PRId64, g->count);
        time_format_iso8601(g->first, a);
        time_format_iso8601(g->last, b);
        time_format_iso8601(g->first_seen, fs);
        time_format_iso8601(g->last_checked, lc);
        const char *row[] = {id,        g->source, g->symbol, timeframe_name(g->tf),
                             a,         b,         cnt,       gap_state_name(g->state),
                             g->reason, fs,        lc};
        out_table_row(t, row);
    }
    out_table_flush(t);
    gap_records_free(recs, nrecs);
    strbuf_release(&err);
    return CMD_OK;
}

int cmd_gaps(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'}, {"source", required_argument, NULL, 'S'},
        {"days", required_argument, NULL, 'd'},   {"state", required_argument, NULL, 'x'},
        {"rescan", no_argument, NULL, 'r'},       {0},
    };
    const char *symbol = NULL, *source = NULL;
    struct gap_query q = {.has_tf = true, .has_since = true};
    bool do_rescan = false;
    int64_t days = 7;
    int c, rc;

    while ((c = getopt_long(argc, argv, "s:S:d:x:r", opts, NULL)) != -1) {
        if (c == 's') {
            symbol = optarg;
        } else if (c == 'S') {
            source = optarg;
        } else if (c == 'd') {
            if (cmd_parse_int("gaps", "--days", optarg, 1, 36600, &days))
                return CMD_USAGE;
        } else if (c == 'x') {
            if (gap_state_parse(optarg, &q.state)) {
                fprintf(stderr,
                        "candlekeep gaps: --state '%s' is not open, repairing, filled or "
                        "unfillable\n",
                        optarg);
                return CMD_USAGE;
            }
            q.has_state = true;
        } else if (c == 'r') {
            do_rescan = true;
        } else {
            cmd_gaps_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "candlekeep gaps: %s\n",
                optind >= argc ? "a timeframe is required" : "too many arguments");
        cmd_gaps_usage(stderr);
        return CMD_USAGE;
    }
    if (cmd_parse_timeframe("gaps", argv[optind], &q.tf))
        return CMD_USAGE;

    rc = cmd_ready(ck);
    if (!rc)
        rc = cmd_resolve_series(&ck->settings, "gaps", source, symbol, &q.source, &q.symbol);
    /* Only a rescan reads the calendars. */
    if (!rc && do_rescan && !(rc = cmd_need(ck, CK_NEEDS_FEEDS)))
        rc = rescan(ck, q.source, q.symbol, q.tf, days);
    if (rc)
        return rc;
    q.since = time_now() - days * 86400;
    return list_gaps(ck, &q);
}
