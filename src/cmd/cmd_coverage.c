/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep coverage [--source NAME] [--symbol S] [--timeframe TF]
 * [--format table|json|csv]`: the coverage map of the configured series
 * (health/coverage.h): first and last candle, expected and stored candles
 * by the calendar, percentage complete, candles not fetched yet, open and
 * unfillable gaps of the ledger, and the retention horizon.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "health/coverage.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/banned.h"

void cmd_coverage_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep coverage [--source NAME] [--symbol S] [--timeframe TF]\n"
            "                           [--format table|json|csv] [--config FILE]\n\n"
            "How complete the stored history of each configured series is: first and last\n"
            "candle, candles the calendar expects between them and those stored, %% complete,\n"
            "candles after the last not fetched yet (behind), open and unfillable gaps of the\n"
            "gap ledger, and the retention horizon (older candles are pruned).\n\n"
            "  --source NAME   only this source\n"
            "  --symbol S      only this symbol\n"
            "  --timeframe TF  only this timeframe (%s)\n"
            "  --format F      table (default), json or csv\n",
            timeframe_all_names());
}

static void print_rows(const struct coverage *cov, enum out_format fmt)
{
    static const char *const cols[] = {"source",   "symbol",     "timeframe", "first",  "last",
                                       "expected", "stored",     "complete%", "behind", "open_gaps",
                                       "missing",  "unfillable", "retention", "horizon"};
    struct out_table *t = out_table_new(fmt, cols, 14);

    for (size_t i = 5; i <= 11; i++)
        out_table_numeric(t, i);
    for (size_t i = 0; i < cov->n; i++) {
        const struct coverage_row *r = &cov->v[i];
        char a[TIME_BUFSZ] = "", b[TIME_BUFSZ] = "", h[TIME_BUFSZ] = "", n[7][24], pct[32];
        char tf[16], keep[32];
        snprintf(tf, sizeof(tf), "%s%s", timeframe_name(r->tf), r->derived ? "*" : "");
        if (r->stored) {
            time_format_iso8601(r->first, a);
            time_format_iso8601(r->last, b);
        }
        if (r->keep)
            time_format_iso8601(r->horizon, h);
        coverage_format_percent(r->complete_bp, pct, sizeof(pct));
        coverage_format_retention(r->keep, keep, sizeof(keep));
        snprintf(n[0], sizeof(n[0]), "%" PRId64, r->expected);
        snprintf(n[1], sizeof(n[1]), "%" PRId64, r->stored);
        snprintf(n[2], sizeof(n[2]), "%" PRId64, r->behind);
        snprintf(n[3], sizeof(n[3]), "%" PRId64, r->open_gaps);
        snprintf(n[4], sizeof(n[4]), "%" PRId64, r->open_missing);
        snprintf(n[5], sizeof(n[5]), "%" PRId64, r->unfillable_gaps);
        const char *row[] = {r->source,
                             r->symbol,
                             tf,
                             r->stored ? a : NULL,
                             r->stored ? b : NULL,
                             n[0],
                             n[1],
                             r->stored ? pct : NULL,
                             n[2],
                             n[3],
                             n[4],
                             n[5],
                             keep,
                             r->keep ? h : NULL};
        out_table_row(t, row);
    }
    out_table_flush(t);
}

int cmd_coverage(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 'S'},
        {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'},
        {0},
    };
    struct coverage_filter f = {0};
    struct coverage cov = {0};
    struct strbuf err = STRBUF_INIT;
    int64_t now = time_now();
    int c, rc;

    while ((c = getopt_long(argc, argv, "S:s:t:", opts, NULL)) != -1) {
        if (c == 'S') {
            f.source = optarg;
        } else if (c == 's') {
            f.symbol = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("coverage", optarg, &f.tf))
                return CMD_USAGE;
            f.has_tf = true;
        } else {
            cmd_coverage_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "candlekeep coverage: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    if (f.source && !settings_source(&ck->settings, f.source)) {
        fprintf(stderr, "candlekeep coverage: --source '%s' is not configured\n", f.source);
        return CMD_USAGE;
    }
    if (coverage_build(ck->store, ck->settings.sources, ck->settings.nsources, ck->calendars,
                       ck->settings.retention.keep, &f, now, &cov, &err)) {
        fprintf(stderr, "candlekeep coverage: %s\n", err.buf);
        rc = CMD_FAIL;
    } else if (ck->format == OUT_JSON) {
        json_t *j = coverage_json(&cov, now);
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
        json_decref(j);
    } else {
        print_rows(&cov, ck->format);
    }
    coverage_release(&cov);
    strbuf_release(&err);
    return rc;
}
