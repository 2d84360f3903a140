/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep candles TF [--symbol S] [--source NAME] [--start T] [--end T]
 * [--limit N] [--order asc|desc] [--format table|json|csv]`: print stored
 * candles, newest first by default. Prices print exactly as stored; JSON
 * objects have the shape of the API's (prices as strings, volume null when
 * absent).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "market/price.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

void cmd_candles_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: candlekeep candles TF [--symbol S] [--source NAME] [--start TIME] [--end TIME]\n"
        "                          [--limit N] [--order asc|desc] [--format table|json|csv]\n"
        "                          [--config FILE]\n\n"
        "Print stored candles of one series, newest first.\n\n"
        "  TF             timeframe (%s)\n"
        "  --symbol S     symbol (default: the first configured)\n"
        "  --source NAME  source (default: the one configured for the symbol)\n"
        "  --start TIME   first open time, ISO 8601 UTC or YYYY-MM-DD (inclusive)\n"
        "  --end TIME     last open time (inclusive)\n"
        "  --limit N      at most N candles (default 100, 0 = all)\n"
        "  --order O      asc or desc (default desc)\n"
        "  --format F     table (default), json or csv\n",
        timeframe_all_names());
}

/* The query, symbol and source the arguments ask for; CMD_OK or CMD_USAGE (printed). */
static int parse_args(int argc, char **argv, struct candle_query *q, const char **symbol,
                      const char **source)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"start", required_argument, NULL, 'a'},
        {"end", required_argument, NULL, 'b'},
        {"limit", required_argument, NULL, 'n'},
        {"order", required_argument, NULL, 'o'},
        {0},
    };
    int64_t n;
    int c;

    while ((c = getopt_long(argc, argv, "s:S:a:b:n:o:", opts, NULL)) != -1) {
        if (c == 's') {
            *symbol = optarg;
        } else if (c == 'S') {
            *source = optarg;
        } else if (c == 'a' || c == 'b') {
            int64_t *t = c == 'a' ? &q->start : &q->end;
            if (cmd_parse_time("candles", c == 'a' ? "--start" : "--end", optarg, t))
                return CMD_USAGE;
            *(c == 'a' ? &q->has_start : &q->has_end) = true;
        } else if (c == 'n') {
            if (cmd_parse_int("candles", "--limit", optarg, 0, 100000000, &n))
                return CMD_USAGE;
            q->limit = (size_t)n;
        } else if (c == 'o' && (!strcmp(optarg, "asc") || !strcmp(optarg, "desc"))) {
            q->order = !strcmp(optarg, "asc") ? STORE_ASC : STORE_DESC;
        } else if (c == 'o') {
            fprintf(stderr, "candlekeep candles: --order '%s' is not asc or desc\n", optarg);
            return CMD_USAGE;
        } else {
            cmd_candles_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "candlekeep candles: %s\n",
                optind >= argc ? "a timeframe is required" : "too many arguments");
        cmd_candles_usage(stderr);
        return CMD_USAGE;
    }
    if (cmd_parse_timeframe("candles", argv[optind], &q->series.tf))
        return CMD_USAGE;
    if (q->has_start && q->has_end && q->start > q->end) {
        fprintf(stderr, "candlekeep candles: --start is after --end\n");
        return CMD_USAGE;
    }
    return CMD_OK;
}

/* Print what `it` yields; CMD_OK, or CMD_FAIL (printed) when the store fails part way. */
static int print_candles(const struct candle_query *q, struct candle_iter *it,
                         enum out_format format)
{
    static const char *const cols[] = {"source", "symbol", "timeframe", "time",  "open",
                                       "high",   "low",    "close",     "volume"};
    struct out_table *t = out_table_new(format, cols, 9);
    struct strbuf err = STRBUF_INIT;
    struct candle cd;
    int rc;

    while ((rc = candle_iter_next(it, &cd, &err)) == ITER_OK) {
        char tbuf[TIME_BUFSZ], o[PRICE_BUFSZ], h[PRICE_BUFSZ], l[PRICE_BUFSZ], cl[PRICE_BUFSZ],
            v[PRICE_BUFSZ];
        time_format_iso8601(cd.open_time, tbuf);
        price_format(cd.open, o);
        price_format(cd.high, h);
        price_format(cd.low, l);
        price_format(cd.close, cl);
        if (cd.has_volume)
            price_format(cd.volume, v);
        const char *row[] = {q->series.source,
                             q->series.symbol,
                             timeframe_name(q->series.tf),
                             tbuf,
                             o,
                             h,
                             l,
                             cl,
                             cd.has_volume ? v : NULL};
        out_table_row(t, row);
    }
    out_table_flush(t);
    if (rc != ITER_DONE)
        fprintf(stderr, "candlekeep candles: %s\n", err.buf);
    strbuf_release(&err);
    return rc == ITER_DONE ? CMD_OK : CMD_FAIL;
}

int cmd_candles(int argc, char **argv, struct ck *ck)
{
    const char *symbol = NULL, *source = NULL;
    struct candle_query q = {.limit = 100, .order = STORE_DESC};
    struct strbuf err = STRBUF_INIT;
    struct candle_iter *it = NULL;
    int rc = parse_args(argc, argv, &q, &symbol, &source);

    if (!rc)
        rc = cmd_ready(ck);
    if (!rc)
        rc = cmd_resolve_series(&ck->settings, "candles", source, symbol, &q.series.source,
                                &q.series.symbol);
    if (!rc && store_query_candles(ck->store, &q, &it, &err)) {
        fprintf(stderr, "candlekeep candles: %s\n", err.buf);
        rc = CMD_FAIL;
    }
    if (!rc)
        rc = print_candles(&q, it, ck->format);
    candle_iter_free(it);
    strbuf_release(&err);
    return rc;
}
