/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep fetch [--symbol S] [--timeframe TF] [--source NAME]`: one
 * incremental fetch of each selected series (by default every configured
 * symbol and timeframe), printing what was fetched, stored, rejected and
 * which gaps are open. Every request goes through the source's feed
 * (ingest/feed.h), as the daemon's do: the circuit breaker, the rate
 * budget shared with the daemon through the database, the retry policy,
 * and the bans a provider asked for. Exit 0 when every series succeeded,
 * 1 otherwise (a series deferred for want of budget included); one
 * failing series does not stop the others.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/refresh.h"
#include "resilience/retry.h"
#include "sched/sched.h"
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
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

/*
 * How long fetch may spend on retries and on waits a provider asks for,
 * when [jobs] refresh_timeout does not say.
 */
#define FETCH_DEFAULT_WAIT 300

void cmd_fetch_usage(FILE *fp)
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
            "  --config FILE   configuration file (default ./candlekeep.ini)\n\n"
            "Requests share the source's rate budget with the daemon and every other\n"
            "command (through the database) and respect its bans. fetch does not wait for\n"
            "the budget: a series with no token free now, or whose provider asked to wait\n"
            "longer than [jobs] refresh_timeout (5 minutes when unset), is reported as\n"
            "deferred with the time a request may go again, and nothing is sent for it.\n"
            "Failed requests are retried as [retry] says, within that time.\n\n"
            "Exit status: 0 when every series was fetched; 1 when any failed or was\n"
            "deferred; 2 for a usage or configuration error.\n",
            timeframe_all_names());
}

/*
 * The clock of a fetch: the wall clock (or CANDLEKEEP_NOW, for replays
 * and tests) when the command started, advancing in real time, so that
 * retries and bans are measured on the time the command works in.
 */
static int64_t clock_base_ms, clock_mono0_ms;

static int64_t fetch_now_ms(void *arg)
{
    (void)arg;
    return clock_base_ms + (time_mono_ms() - clock_mono0_ms);
}

static bool fetch_sleep_ms(void *arg, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    (void)arg;
    nanosleep(&ts, NULL);
    return true;
}

/* Is everything selected usable? Prints why not and returns the exit status. */
static int check_selection(const struct settings *s, const struct fetch_selection *sel)
{
    int matched = 0, rc;

    for (size_t i = 0; i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        bool listed = !sel->has_tf;

        if (!src->enabled || (sel->source && strcmp(sel->source, src->name)) ||
            (sel->symbol && !source_settings_has_symbol(src, sel->symbol)))
            continue;
        for (size_t j = 0; j < src->ntimeframes; j++)
            listed = listed || src->timeframes[j] == sel->tf;
        if (!listed)
            continue;
        matched++;
        if ((rc = cmd_check_credentials(src, "fetch")))
            return rc;
    }
    if (!matched) {
        fprintf(stderr, "candlekeep fetch: no configured series matches%s%s%s%s%s%s\n",
                sel->symbol ? " symbol " : "", sel->symbol ? sel->symbol : "",
                sel->has_tf ? " timeframe " : "", sel->has_tf ? timeframe_name(sel->tf) : "",
                sel->source ? " source " : "", sel->source ? sel->source : "");
        return CMD_USAGE;
    }
    return CMD_OK;
}

/* Print one series' outcome; false when it was not fetched. */
static bool print_series(const struct series_run *r)
{
    const struct ingest_stats *st = &r->stats;
    char at[TIME_BUFSZ];

    switch (r->outcome) {
    case SERIES_RUN_OK:
        printf("%s %s %s: fetched %zu, stored %zu, rejected %zu, forming dropped %zu, "
               "open gaps %zu (new %zu, filled %zu)\n",
               r->source, r->symbol, timeframe_name(r->tf), st->fetched, st->stored, st->rejected,
               st->forming, st->gaps_open, st->gaps_opened, st->gaps_filled);
        return true;
    case SERIES_RUN_DEFERRED:
        time_format_iso8601(r->retry_at_ms / 1000, at);
        fprintf(stderr,
                "candlekeep fetch: %s %s %s: deferred, nothing sent (next request %s%s): %s\n",
                r->source, r->symbol, timeframe_name(r->tf), r->retry_at_ms ? "at " : "unknown",
                r->retry_at_ms ? at : "", r->message.buf);
        return false;
    default:
        fprintf(stderr, "candlekeep fetch: %s\n", r->message.buf);
        return false;
    }
}

/* Fetch the selected series through the feeds; the exit status. */
static int run_fetch(struct ck *ck, const struct fetch_selection *sel, bool refetch)
{
    const struct settings *s = &ck->settings;
    const struct retry_policy policy = {
        .max_retries = (int)s->retry.max_retries,
        .base_ms = s->retry.base_delay * 1000,
        .max_ms = s->retry.max_delay * 1000,
    };
    const struct retry_clock clock = {.now_ms = fetch_now_ms, .sleep_ms = fetch_sleep_ms};
    int64_t wait = s->jobs.refresh_timeout ? s->jobs.refresh_timeout : FETCH_DEFAULT_WAIT;
    struct refresh_result res = REFRESH_RESULT_INIT;
    int failures = 0;

    /* Who recorded a transition of a breaker, as the daemon's are named. */
    if (!ck->instance)
        ck->instance = sched_make_instance_id();
    clock_base_ms = time_now() * 1000;
    clock_mono0_ms = time_mono_ms();
    struct refresh_opts o = {
        .now = time_now(),
        .gap_window = s->ingest.gap_window,
        .refetch = refetch,
        .env = {.store = ck->store,
                .policy = &policy,
                .clock = &clock,
                .deadline_ms = clock_base_ms + wait * 1000,
                .no_budget_wait = true,
                .metrics = ck->metrics,
                .instance = ck->instance},
    };
    ingest_fetch(ck->feeds, s->nsources, sel, &o, &res);
    for (size_t i = 0; i < res.n; i++)
        failures += !print_series(&res.v[i]);
    if (res.db_failed) {
        fprintf(stderr, "candlekeep fetch: database: %s\n", res.db_error.buf);
        failures++;
    }
    refresh_result_release(&res);
    return failures ? CMD_FAIL : CMD_OK;
}

int cmd_fetch(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'},
        {"source", required_argument, NULL, 'S'},
        {"refetch", no_argument, NULL, 'R'},
        {0},
    };
    struct fetch_selection sel = {0};
    bool refetch = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "s:t:S:R", opts, NULL)) != -1) {
        if (c == 's') {
            sel.symbol = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("fetch", optarg, &sel.tf))
                return CMD_USAGE;
            sel.has_tf = true;
        } else if (c == 'S') {
            sel.source = optarg;
        } else if (c == 'R') {
            refetch = true;
        } else {
            cmd_fetch_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep fetch: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    /* Only the selected sources need their keys: the settings first, then the rest. */
    rc = cmd_need(ck, CK_NEEDS_CONFIG);
    if (!rc)
        rc = check_selection(&ck->settings, &sel);
    if (!rc)
        rc = cmd_ready(ck);
    if (!rc)
        rc = run_fetch(ck, &sel, refetch);
    return rc;
}
