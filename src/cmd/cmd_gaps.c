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
#include "market/calendar.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
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

static int rescan(struct settings *s, struct store *st, const char *source, const char *symbol,
                  enum timeframe tf, int64_t days)
{
    struct source_settings *src = settings_source(s, source);
    struct strbuf err = STRBUF_INIT;
    struct calendar *cal = NULL;
    struct ingest_stats stats;
    int rc;

    rc = calendar_open(&cal, src ? src->calendar : CAL_CRYPTO, src ? src->holidays : NULL,
                       src ? src->nholidays : 0, NULL, &err);
    if (!rc) {
        struct ingest_ctx ctx = {
            .store = st,
            .source_name = source,
            .cal = cal,
            .gap_window = days * 86400,
        };
        memset(&stats, 0, sizeof(stats));
        rc = ingest_scan_gaps(&ctx, symbol, tf, time_now(), &stats, &err);
    }
    if (rc)
        fprintf(stderr, "candlekeep gaps: rescan of %s %s %s failed: %s\n", source, symbol,
                timeframe_name(tf), err.buf);
    else
        fprintf(stderr, "rescanned %s %s %s over %lld days: %zu open, %zu new, %zu filled\n",
                source, symbol, timeframe_name(tf), (long long)days, stats.gaps_open,
                stats.gaps_opened, stats.gaps_filled);
    calendar_free(cal);
    strbuf_release(&err);
    return rc ? CMD_FAIL : CMD_OK;
}

int cmd_gaps(int argc, char **argv)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"days", required_argument, NULL, 'd'},
        {"state", required_argument, NULL, 'x'},
        {"rescan", no_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cmd_common cc = CMD_COMMON_INIT("gaps", usage);
    static const char *const cols[] = {"id",     "source",     "symbol",      "timeframe",
                                       "first",  "last",       "count",       "state",
                                       "reason", "first_seen", "last_checked"};
    const char *symbol = NULL, *source = NULL;
    struct gap_query q = {.has_tf = true, .has_since = true};
    struct strbuf err = STRBUF_INIT;
    struct gap_record *recs = NULL;
    size_t nrecs = 0;
    struct store *st = NULL;
    bool do_rescan = false;
    int64_t days = 7;
    struct settings s;
    int c, rc;

    while ((c = getopt_long(argc, argv, "s:S:d:x:rf:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            symbol = optarg;
            break;
        case 'S':
            source = optarg;
            break;
        case 'd':
            if (cmd_parse_int("gaps", "--days", optarg, 1, 36600, &days))
                return CMD_USAGE;
            break;
        case 'x':
            if (gap_state_parse(optarg, &q.state)) {
                fprintf(stderr,
                        "candlekeep gaps: --state '%s' is not open, repairing, filled or "
                        "unfillable\n",
                        optarg);
                return CMD_USAGE;
            }
            q.has_state = true;
            break;
        case 'r':
            do_rescan = true;
            break;
        default:
            if ((rc = cmd_common_option(&cc, c, optarg)) != CMD_CONTINUE)
                return rc;
            break;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "candlekeep gaps: %s\n",
                optind >= argc ? "a timeframe is required" : "too many arguments");
        usage(stderr);
        return CMD_USAGE;
    }
    if (cmd_parse_timeframe("gaps", argv[optind], &q.tf))
        return CMD_USAGE;

    rc = cmd_setup(&s, cc.config, "gaps");
    if (!rc)
        rc = cmd_resolve_series(&s, "gaps", source, symbol, &q.source, &q.symbol);
    if (!rc)
        rc = cmd_open_store(&s, "gaps", &st);
    if (!rc && do_rescan)
        rc = rescan(&s, st, q.source, q.symbol, q.tf, days);
    if (rc)
        goto out;

    q.since = time_now() - days * 86400;
    if (store_list_gaps(st, &q, &recs, &nrecs, &err)) {
        fprintf(stderr, "candlekeep gaps: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    struct out_table *t = out_table_new(cc.format, cols, 11);
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
    rc = CMD_OK;
out:
    gap_records_free(recs, nrecs);
    store_close(st);
    strbuf_release(&err);
    settings_release(&s);
    return rc;
}
