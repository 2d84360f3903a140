/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep verify --timeframe TF --from LOWER [--source NAME]
 * [--symbol S] [--since DATE] [--format table|json|csv]`: cross-check
 * the stored candles of TF (as the venue sent them) against candles
 * derived from the stored LOWER ones (ingest/derive.h), and list every
 * field that differs, with the difference (stored minus derived). Exit 1
 * when anything differs.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/derive.h"
#include "market/price.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>

#include "util/banned.h"

void cmd_verify_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep verify --timeframe TF --from LOWER [--source NAME] [--symbol S]\n"
            "                         [--since DATE] [--format table|json|csv] [--config FILE]\n\n"
            "Compare the stored TF candles with candles derived from the stored LOWER ones\n"
            "and list each field that differs (open, high, low, close, volume) with the\n"
            "difference, stored minus derived. Periods whose lower candles are not all\n"
            "stored are not compared. Exit 1 when a candle differs.\n\n"
            "  --timeframe TF  the stored timeframe to check (%s)\n"
            "  --from LOWER    the stored timeframe to derive it from\n"
            "  --source NAME   source (default: the one configured for the symbol)\n"
            "  --symbol S      symbol (default: the first configured)\n"
            "  --since DATE    only from the period holding DATE on (default: all)\n",
            timeframe_all_names());
}

static void value(bool null, int64_t v, char buf[PRICE_BUFSZ])
{
    if (null)
        buf[0] = '\0';
    else
        price_format(v, buf);
}

static void print_mismatches(const struct verify_result *r, enum out_format fmt)
{
    static const char *const cols[] = {"time", "field", "stored", "derived", "difference"};
    struct out_table *t = out_table_new(fmt, cols, 5);

    for (size_t i = 0; i < r->n; i++) {
        const struct derive_mismatch *m = &r->v[i];
        char when[TIME_BUFSZ], s[PRICE_BUFSZ], d[PRICE_BUFSZ], diff[PRICE_BUFSZ];
        bool both = !m->stored_null && !m->derived_null;
        int64_t delta;

        time_format_iso8601(m->open_time, when);
        value(m->stored_null, m->stored, s);
        value(m->derived_null, m->derived, d);
        /* Stored prices are within +-92 billion, so only a volume can overflow here. */
        both = both && !__builtin_sub_overflow(m->stored, m->derived, &delta);
        value(!both, both ? delta : 0, diff);
        const char *row[] = {when, m->field, m->stored_null ? NULL : s, m->derived_null ? NULL : d,
                             both ? diff : NULL};
        out_table_row(t, row);
    }
    out_table_flush(t);
}

/* Parse the options into `rq`; the exit code. */
static int parse(int argc, char **argv, struct derive_request *rq, const char **source,
                 const char **symbol)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 'S'},    {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'}, {"from", required_argument, NULL, 'f'},
        {"since", required_argument, NULL, 'a'},     {0},
    };
    bool has_from = false, has_tf = false;
    int c;

    while ((c = getopt_long(argc, argv, "S:s:t:f:a:", opts, NULL)) != -1) {
        if (c == 'S') {
            *source = optarg;
        } else if (c == 's') {
            *symbol = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("verify", optarg, &rq->upper))
                return CMD_USAGE;
            has_tf = true;
        } else if (c == 'f') {
            if (cmd_parse_timeframe("verify", optarg, &rq->lower))
                return CMD_USAGE;
            has_from = true;
        } else if (c == 'a') {
            if (cmd_parse_time("verify", "--since", optarg, &rq->since))
                return CMD_USAGE;
            rq->has_since = true;
        } else {
            cmd_verify_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (!has_tf || !has_from || optind != argc) {
        fprintf(stderr, "candlekeep verify: %s\n",
                optind != argc ? "unexpected argument"
                               : "--timeframe TF and --from LOWER are required");
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_verify(int argc, char **argv, struct ck *ck)
{
    struct derive_request rq = {.now = time_now()};
    const char *source = NULL, *symbol = NULL;
    struct verify_result res = {0};
    struct strbuf err = STRBUF_INIT;
    const struct source_settings *src;
    int rc = parse(argc, argv, &rq, &source, &symbol);

    if (!rc)
        rc = cmd_ready(ck);
    if (!rc)
        rc = cmd_resolve_series(&ck->settings, "verify", source, symbol, &rq.source, &rq.symbol);
    if (rc)
        return rc;
    src = settings_source(&ck->settings, rq.source);
    if (!src) {
        fprintf(stderr, "candlekeep verify: no [source.%s] is configured\n", rq.source);
        return CMD_USAGE;
    }
    rc = derive_verify(ck->store, ck_calendar(ck, (size_t)(src - ck->settings.sources)), &rq, &res,
                       &err);
    if (rc) {
        fprintf(stderr, "candlekeep verify: %s\n", err.buf);
        strbuf_release(&err);
        return rc == CK_EINVAL ? CMD_USAGE : CMD_FAIL;
    }
    print_mismatches(&res, ck->format);
    fprintf(stderr,
            "%s %s %s against %s: %zu candles compared, %zu differ; %zu not compared (lower "
            "candles missing), %zu derived but not stored\n",
            rq.source, rq.symbol, timeframe_name(rq.upper), timeframe_name(rq.lower), res.compared,
            res.bad, res.unchecked, res.unstored);
    rc = res.bad ? CMD_FAIL : CMD_OK;
    verify_result_release(&res);
    strbuf_release(&err);
    return rc;
}
