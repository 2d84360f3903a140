/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep import FILE --source NAME --symbol S --timeframe TF
 * [--format auto|binance|generic] [--dry-run]`: store the candles of a CSV
 * file (Binance's kline files or a generic time,open,high,low,close file)
 * as series (NAME, S, TF), all or nothing, and scan its gaps with the
 * source's calendar (ingest/import.h does the work). A progress bar goes to
 * stderr when stderr is a terminal.
 *
 * --format is this command's own option (the format of the file), not the
 * record format of the commands that print records (main.c hands it over).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/import.h"
#include "source/csv_import.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

#define BAR_WIDTH 30

void cmd_import_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: candlekeep import FILE --source NAME --symbol S --timeframe TF\n"
        "                         [--format auto|binance|generic] [--dry-run] [--config FILE]\n\n"
        "Store the candles of a CSV file as the series (NAME, S, TF), then scan the\n"
        "series for gaps over the imported range with the source's trading calendar.\n\n"
        "  FILE            the CSV file ('-' or /dev/stdin: standard input)\n"
        "  --source NAME   a configured [source.NAME] (its calendar finds the gaps)\n"
        "  --symbol S      the symbol the candles are of (e.g. BTC/USDT)\n"
        "  --timeframe TF  their timeframe (%s)\n"
        "  --format F      binance: Binance's public kline files (12 columns, with or\n"
        "                  without a header; open times in milliseconds or microseconds);\n"
        "                  generic: a header naming time, open, high, low, close and\n"
        "                  optionally volume, times in ISO 8601 or Unix seconds or\n"
        "                  milliseconds; auto (default): told from the first line\n"
        "  --dry-run       read and validate the file, store nothing\n\n"
        "Every line is validated as provider data is (exact decimal prices, OHLC\n"
        "consistent, open times aligned to TF, no time twice); a candle whose period\n"
        "has not closed yet is refused. One bad line stores nothing: the error names\n"
        "the file, line, column and value. Importing a file again changes nothing.\n\n"
        "Exit status: 0 imported (or valid, with --dry-run); 1 a bad file or a\n"
        "database failure (nothing stored); 2 a usage or configuration error.\n",
        timeframe_all_names());
}

/* The progress bar: redrawn when the percentage changes, erased at the end. */
struct bar {
    int shown; /* percent last drawn; -1: none */
    enum import_phase phase;
};

static void on_progress(void *arg, enum import_phase phase, size_t done, size_t total)
{
    static const char *const names[] = {"reading", "storing", "gaps"};
    struct bar *b = arg;
    int pct = total ? (int)((double)done * 100.0 / (double)total) : 100;
    char fill[BAR_WIDTH + 1];

    if (pct == b->shown && phase == b->phase)
        return;
    b->shown = pct;
    b->phase = phase;
    memset(fill, ' ', BAR_WIDTH);
    memset(fill, '#', (size_t)(pct * BAR_WIDTH / 100));
    fill[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r%-8s [%s] %3d%%", names[phase], fill, pct);
    fflush(stderr);
}

static void bar_erase(const struct bar *b)
{
    if (b->shown >= 0)
        fprintf(stderr, "\r\033[K");
}

static void print_result(const struct import_request *rq, const struct import_stats *st)
{
    char a[TIME_BUFSZ], b[TIME_BUFSZ];

    time_format_iso8601(st->first, a);
    time_format_iso8601(st->last, b);
    if (rq->dry_run) {
        printf("%s: %zu valid candles of %s %s %s from %s to %s (%s%s), %zu lines; "
               "dry run: nothing stored\n",
               rq->path, st->candles, rq->source, rq->symbol, timeframe_name(rq->tf), a, b,
               csv_format_name(st->format), st->header ? ", header" : "", st->lines);
        return;
    }
    printf("%s: imported %zu candles of %s %s %s from %s to %s (%s%s)\n", rq->path, st->candles,
           rq->source, rq->symbol, timeframe_name(rq->tf), a, b, csv_format_name(st->format),
           st->header ? ", header" : "");
    time_format_iso8601(st->scan_from, a);
    time_format_iso8601(st->scan_to, b);
    printf("gaps from %s to %s: %zu open (%zu new, %zu filled)\n", a, b, st->gaps_open,
           st->gaps_opened, st->gaps_filled);
}

/* Run the import; the exit status. */
static int run_import(struct ck *ck, struct import_request *rq)
{
    const struct source_settings *src = settings_source(&ck->settings, rq->source);
    struct strbuf err = STRBUF_INIT;
    struct bar bar = {.shown = -1};
    struct import_stats st;
    int rc;

    if (!src) {
        fprintf(stderr,
                "candlekeep import: no source '%s' is configured (add a [source.%s] "
                "section: its calendar is needed to find gaps)\n",
                rq->source, rq->source);
        return CMD_USAGE;
    }
    if (!rq->dry_run) {
        if ((rc = cmd_need(ck, CK_NEEDS_STORE | CK_NEEDS_FEEDS)))
            return rc;
        rq->store = ck->store;
        rq->cal = ck_calendar(ck, (size_t)(src - ck->settings.sources));
    }
    if (!source_settings_has_symbol(src, rq->symbol))
        fprintf(stderr,
                "candlekeep import: note: source '%s' does not list %s, so it is not "
                "refreshed\n",
                rq->source, rq->symbol);
    if (isatty(STDERR_FILENO)) {
        rq->progress = on_progress;
        rq->progress_arg = &bar;
    }
    rq->now = time_now_ms() / 1000;
    rc = import_csv(rq, &st, NULL, &err);
    bar_erase(&bar);
    if (rc) {
        if (st.stored)
            fprintf(stderr,
                    "candlekeep import: %zu candles stored, but the gap scan failed: %s (run "
                    "'candlekeep gaps %s --rescan')\n",
                    st.candles, err.buf, timeframe_name(rq->tf));
        else
            fprintf(stderr, "candlekeep import: %s; nothing stored\n", err.buf);
    } else {
        print_result(rq, &st);
    }
    strbuf_release(&err);
    return rc ? CMD_FAIL : CMD_OK;
}

int cmd_import(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 'S'},    {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'}, {"format", required_argument, NULL, 'F'},
        {"dry-run", no_argument, NULL, 'n'},         {0},
    };
    struct import_request rq = {.format = CSV_AUTO};
    bool has_tf = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "S:s:t:F:n", opts, NULL)) != -1) {
        if (c == 'S') {
            rq.source = optarg;
        } else if (c == 's') {
            rq.symbol = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("import", optarg, &rq.tf))
                return CMD_USAGE;
            has_tf = true;
        } else if (c == 'F') {
            if (csv_format_parse(optarg, &rq.format)) {
                fprintf(stderr,
                        "candlekeep import: --format '%s' is not auto, binance or generic\n",
                        optarg);
                return CMD_USAGE;
            }
        } else if (c == 'n') {
            rq.dry_run = true;
        } else {
            cmd_import_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc - 1 || !rq.source || !rq.symbol || !has_tf) {
        fprintf(stderr, "candlekeep import: %s\n",
                optind >= argc      ? "a FILE is required"
                : optind < argc - 1 ? "one FILE at a time"
                : !rq.source        ? "--source is required"
                : !rq.symbol        ? "--symbol is required"
                                    : "--timeframe is required");
        cmd_import_usage(stderr);
        return CMD_USAGE;
    }
    rq.path = strcmp(argv[optind], "-") ? argv[optind] : "/dev/stdin";
    rc = cmd_ready(ck);
    if (!rc)
        rc = run_import(ck, &rq);
    return rc;
}
