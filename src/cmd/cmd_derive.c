/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep derive --to TF [--from TF] [--source NAME] [--symbol S]
 * [--since DATE]`: build the candles of a higher timeframe from the
 * stored candles of a lower one (ingest/derive.h) and store them. A
 * candle is built only when its period has closed and every lower candle
 * the calendar expects in it is stored; the others are counted as
 * incomplete.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/derive.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>

#include "util/banned.h"

void cmd_derive_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep derive --to TF [--from TF] [--source NAME] [--symbol S]\n"
            "                         [--since DATE] [--config FILE]\n\n"
            "Build the candles of a higher timeframe from the stored candles of a lower one\n"
            "and store them: open of the first, close of the last, highest high, lowest low,\n"
            "sum of volumes. A candle is built only once its period has closed and every\n"
            "lower candle the source's calendar expects in it is stored.\n\n"
            "  --to TF        the timeframe to build (%s)\n"
            "  --from TF      the stored one to build it from (default: the source's\n"
            "                 `derive` plan)\n"
            "  --source NAME  source (default: the one configured for the symbol)\n"
            "  --symbol S     symbol (default: the first configured)\n"
            "  --since DATE   only from the period holding DATE on (default: all)\n",
            timeframe_all_names());
}

/* Fill the request from the options; prints what is wrong. */
static int resolve(struct ck *ck, const char *source, const char *symbol, bool has_from,
                   struct derive_request *rq, const struct calendar **cal)
{
    const struct source_settings *src;
    int rc = cmd_resolve_series(&ck->settings, "derive", source, symbol, &rq->source, &rq->symbol);

    if (rc)
        return rc;
    src = settings_source(&ck->settings, rq->source);
    if (!src) {
        fprintf(stderr, "candlekeep derive: no [source.%s] is configured\n", rq->source);
        return CMD_USAGE;
    }
    if (!has_from) {
        if (!src->derive.derived[rq->upper]) {
            fprintf(stderr,
                    "candlekeep derive: source '%s' does not derive %s; name the timeframe to "
                    "build it from with --from\n",
                    src->name, timeframe_name(rq->upper));
            return CMD_USAGE;
        }
        rq->lower = src->derive.from[rq->upper];
    }
    *cal = ck_calendar(ck, (size_t)(src - ck->settings.sources));
    return CMD_OK;
}

/* The options given. */
struct derive_args {
    const char *source, *symbol;
    bool has_from;
};

/* Parse the options into `rq` and `a`; the exit code. */
static int parse(int argc, char **argv, struct derive_request *rq, struct derive_args *a)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 'S'}, {"symbol", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},   {"to", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 'a'},  {0},
    };
    bool has_to = false;
    int c;

    while ((c = getopt_long(argc, argv, "S:s:f:t:a:", opts, NULL)) != -1) {
        if (c == 'S') {
            a->source = optarg;
        } else if (c == 's') {
            a->symbol = optarg;
        } else if (c == 'f') {
            if (cmd_parse_timeframe("derive", optarg, &rq->lower))
                return CMD_USAGE;
            a->has_from = true;
        } else if (c == 't') {
            if (cmd_parse_timeframe("derive", optarg, &rq->upper))
                return CMD_USAGE;
            has_to = true;
        } else if (c == 'a') {
            if (cmd_parse_time("derive", "--since", optarg, &rq->since))
                return CMD_USAGE;
            rq->has_since = true;
        } else {
            cmd_derive_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (!has_to || optind != argc) {
        fprintf(stderr, "candlekeep derive: %s\n",
                has_to ? "unexpected argument" : "--to TF is required");
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_derive(int argc, char **argv, struct ck *ck)
{
    struct derive_request rq = {.now = time_now()};
    struct derive_args a = {0};
    struct strbuf err = STRBUF_INIT;
    const struct calendar *cal;
    struct derive_stats st;
    int rc = parse(argc, argv, &rq, &a);

    if (!rc)
        rc = cmd_ready(ck);
    if (!rc)
        rc = resolve(ck, a.source, a.symbol, a.has_from, &rq, &cal);
    if (rc)
        return rc;
    rc = derive_series(ck->store, cal, &rq, &st, &err);
    if (rc) {
        fprintf(stderr, "candlekeep derive: %s\n", err.buf);
        strbuf_release(&err);
        /* A pair of timeframes that cannot build one another is a usage error. */
        return rc == CK_EINVAL ? CMD_USAGE : CMD_FAIL;
    }
    printf("%s %s: %zu %s candles built from %zu %s candles; periods left out for a missing "
           "lower candle: %zu\n",
           rq.source, rq.symbol, st.built, timeframe_name(rq.upper), st.lower,
           timeframe_name(rq.lower), st.incomplete);
    strbuf_release(&err);
    return CMD_OK;
}
