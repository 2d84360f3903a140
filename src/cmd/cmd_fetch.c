/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep fetch [--symbol S] [--timeframe TF] [--source NAME]`: one
 * incremental fetch of each selected series (by default every configured
 * symbol and timeframe), printing what was fetched, stored, rejected and
 * which gaps are open. Exit 0 when every series succeeded, 1 otherwise;
 * one failing series does not stop the others.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "jobs/ingest.h"
#include "market/calendar.h"
#include "net/http.h"
#include "source/source.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep fetch [--symbol SYMBOL] [--timeframe TF] [--source NAME]\n"
            "                        [--config FILE]\n\n"
            "Fetch the candles newer than the latest stored one (the first time: `backfill`\n"
            "of them) for each configured series, store them and scan for gaps.\n\n"
            "  --symbol S      only this symbol (e.g. XAU/USD)\n"
            "  --timeframe TF  only this timeframe (%s)\n"
            "  --source NAME   only this [source.NAME]\n"
            "  --refetch       ask again for the latest `backfill` candles, so values the\n"
            "                  provider corrected replace the stored ones (no duplicates)\n"
            "  --config FILE   configuration file (default ./candlekeep.ini)\n",
            timeframe_all_names());
}

static int fetch_source(struct store *st, struct source_settings *src, int64_t gap_window,
                        bool refetch, const char *symbol, const enum timeframe *only_tf,
                        int *failures)
{
    struct source_config scfg = {
        .name = src->name,
        .kind = src->kind,
        .api_key = src->api_key,
        .base_url = src->base_url,
        .connect_timeout_ms = (long)src->connect_timeout * 1000,
        .timeout_ms = (long)src->timeout * 1000,
        .max_body = (size_t)src->max_body,
    };
    struct strbuf err = STRBUF_INIT;
    struct calendar *cal = NULL;
    struct source *source = NULL;
    int rc;

    rc = calendar_open(&cal, src->calendar, src->holidays, src->nholidays, NULL, &err);
    if (!rc)
        rc = source_open(&source, &scfg, &err);
    if (rc) {
        fprintf(stderr, "candlekeep fetch: source '%s': %s\n", src->name, err.buf);
        (*failures)++;
        goto out;
    }

    struct ingest_ctx ctx = {
        .store = st,
        .source = source,
        .source_name = src->name,
        .cal = cal,
        .backfill = (int)src->backfill,
        .gap_window = gap_window,
        .refetch = refetch,
    };
    for (size_t i = 0; i < src->nsymbols; i++) {
        if (symbol && strcmp(symbol, src->symbols[i]))
            continue;
        for (size_t j = 0; j < src->ntimeframes; j++) {
            enum timeframe tf = src->timeframes[j];
            struct ingest_stats stats;
            if (only_tf && *only_tf != tf)
                continue;
            strbuf_reset(&err);
            rc = ingest_series(&ctx, src->symbols[i], tf, time_now(), &stats, &err);
            if (rc) {
                log_redact(&err);
                fprintf(stderr, "candlekeep fetch: %s\n", err.buf);
                (*failures)++;
                continue;
            }
            printf("%s %s %s: fetched %zu, stored %zu, rejected %zu, forming dropped %zu, "
                   "open gaps %zu (new %zu, filled %zu)\n",
                   src->name, src->symbols[i], timeframe_name(tf), stats.fetched, stats.stored,
                   stats.rejected, stats.forming, stats.gaps_open, stats.gaps_opened,
                   stats.gaps_filled);
        }
    }
out:
    source_free(source);
    calendar_free(cal);
    strbuf_release(&err);
    return 0;
}

int cmd_fetch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'},
        {"source", required_argument, NULL, 'S'},
        {"refetch", no_argument, NULL, 'R'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cmd_common cc = CMD_COMMON_INIT("fetch", usage);
    const char *symbol = NULL, *source = NULL;
    enum timeframe tf;
    bool has_tf = false, refetch = false;
    struct settings s;
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    int c, rc, failures = 0, matched = 0;

    while ((c = getopt_long(argc, argv, "s:t:S:Rc:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            symbol = optarg;
            break;
        case 't':
            if (cmd_parse_timeframe("fetch", optarg, &tf))
                return CMD_USAGE;
            has_tf = true;
            break;
        case 'S':
            source = optarg;
            break;
        case 'R':
            refetch = true;
            break;
        default:
            if ((rc = cmd_common_option(&cc, c, optarg)) != CMD_CONTINUE)
                return rc;
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep fetch: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }

    rc = cmd_setup(&s, cc.config, "fetch");
    if (rc)
        goto out;

    /* Which sources take part, and do they have what they need? */
    for (size_t i = 0; i < s.nsources; i++) {
        struct source_settings *src = &s.sources[i];
        if (!src->enabled || (source && strcmp(source, src->name)) ||
            (symbol && !source_settings_has_symbol(src, symbol)))
            continue;
        if (has_tf) {
            bool listed = false;
            for (size_t j = 0; j < src->ntimeframes; j++)
                listed = listed || src->timeframes[j] == tf;
            if (!listed)
                continue;
        }
        matched++;
        if (!source_kind_known(src->kind)) {
            fprintf(stderr, "candlekeep fetch: source '%s' has unknown kind '%s'\n", src->name,
                    src->kind);
            rc = CMD_USAGE;
            goto out;
        }
        rc = cmd_check_credentials(src, "fetch");
        if (rc)
            goto out;
    }
    if (!matched) {
        fprintf(stderr, "candlekeep fetch: no configured series matches%s%s%s%s%s%s\n",
                symbol ? " symbol " : "", symbol ? symbol : "", has_tf ? " timeframe " : "",
                has_tf ? timeframe_name(tf) : "", source ? " source " : "", source ? source : "");
        rc = CMD_USAGE;
        goto out;
    }

    if (http_global_init(&err) || store_open(&st, s.storage.url, &err)) {
        log_redact(&err);
        fprintf(stderr, "candlekeep fetch: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    for (size_t i = 0; i < s.nsources; i++) {
        struct source_settings *src = &s.sources[i];
        if (!src->enabled || (source && strcmp(source, src->name)) ||
            (symbol && !source_settings_has_symbol(src, symbol)))
            continue;
        fetch_source(st, src, s.ingest.gap_window, refetch, symbol, has_tf ? &tf : NULL, &failures);
    }
    rc = failures ? CMD_FAIL : CMD_OK;
out:
    store_close(st);
    strbuf_release(&err);
    settings_release(&s);
    return rc;
}
