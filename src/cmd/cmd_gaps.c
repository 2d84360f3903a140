/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep gaps TF [--symbol S] [--source NAME] [--days N] [--state S]
 * [--rescan] [--format table|json|csv]`: list the gap ledger of a series
 * (gaps whose last missing candle lies within the last N days, default 7).
 * With --rescan, the stored candles are first scanned against the trading
 * calendar over that window and the ledger reconciled.
 *
 * `candlekeep gaps repair [--source NAME] [--symbol S] [--timeframe TF]`:
 * the repair_gaps job's work now, narrowed to the series named
 * (jobs/repair.h).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/ingest.h"
#include "ingest/repair.h"
#include "jobs/repair.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
            "  --format F     table (default), json or csv\n\n"
            "       candlekeep gaps repair [--source NAME] [--symbol S] [--timeframe TF]\n"
            "                       [--config FILE]\n\n"
            "Repair open gaps now: fetch exactly their windows from the provider (through\n"
            "the shared rate budget) and mark each filled, still open or unfillable.\n"
            "Exit status: 0 when no fetch failed; 1 otherwise.\n",
            timeframe_all_names());
}

/* The clock of a repair: CANDLEKEEP_NOW or the wall clock at the start, advancing. */
static int64_t clock_base_ms, clock_mono0_ms;

static int64_t repair_now_ms(void *arg)
{
    (void)arg;
    return clock_base_ms + (time_mono_ms() - clock_mono0_ms);
}

static bool repair_sleep_ms(void *arg, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    (void)arg;
    nanosleep(&ts, NULL);
    return true;
}

/* Seconds a repair waits for the budget at most, when [jobs] refresh_timeout is not set. */
#define REPAIR_DEFAULT_WAIT 300

static int run_repair(struct ck *ck, const struct repair_filter *f)
{
    const struct retry_clock clock = {.now_ms = repair_now_ms, .sleep_ms = repair_sleep_ms};
    int64_t wait = ck->settings.jobs.refresh_timeout;
    struct repair_result r = REPAIR_RESULT_INIT;
    int rc;

    if (!ck->instance)
        ck->instance = sched_make_instance_id();
    clock_base_ms = time_now() * 1000;
    clock_mono0_ms = time_mono_ms();
    repair_gaps_now(ck, ck->store, f, time_now(), &clock,
                    clock_base_ms + (wait ? wait : REPAIR_DEFAULT_WAIT) * 1000, NULL, NULL, &r);
    printf("%zu gaps: filled %zu, still open %zu, unfillable %zu, failed %zu, deferred %zu, "
           "not due %zu (%zu requests, %zu candles stored)\n",
           r.gaps, r.filled, r.open, r.unfillable, r.failed, r.deferred, r.not_due, r.requests,
           r.stored);
    if (r.db_failed || r.failed)
        fprintf(stderr, "candlekeep gaps repair: %s%s\n", r.db_failed ? "database: " : "",
                r.error.buf);
    rc = r.db_failed || r.failed ? CMD_FAIL : CMD_OK;
    repair_result_release(&r);
    return rc;
}

static int cmd_gaps_repair(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"timeframe", required_argument, NULL, 't'},
        {0},
    };
    struct repair_filter f = {0};
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:S:t:", opts, NULL)) != -1) {
        if (c == 's') {
            f.symbol = optarg;
        } else if (c == 'S') {
            f.source = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("gaps repair", optarg, &f.tf))
                return CMD_USAGE;
            f.has_tf = true;
        } else {
            cmd_gaps_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "candlekeep gaps repair: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    rc = cmd_need(ck, ck->needs | CK_NEEDS_HTTP | CK_NEEDS_FEEDS);
    if (rc)
        return rc;
    if (f.source && !settings_source(&ck->settings, f.source)) {
        fprintf(stderr, "candlekeep gaps repair: --source '%s' is not a configured source\n",
                f.source);
        return CMD_USAGE;
    }
    return run_repair(ck, &f);
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

    if (argc > 1 && !strcmp(argv[1], "repair"))
        return cmd_gaps_repair(argc - 1, argv + 1, ck);

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
