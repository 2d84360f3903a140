/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep backfill --source NAME --symbol S --timeframe TF --since DATE
 * [--until DATE]`: fetch a series' history from a date, forwards, page by
 * page (ingest/backfill.h), and `candlekeep backfill --list`: every
 * backfill with where it stands.
 *
 * The backfill's position is in the database: the same command run again
 * continues the backfill it left (killed, stopped, or failed), and the
 * daemon's `backfill` job carries on one this command did not finish.
 * Requests share the source's rate budget with the daemon and leave it
 * the reserve ([ingest] backfill_reserve); this command waits for the
 * budget rather than giving up. A progress bar on a terminal, a plain line
 * a second otherwise. Exit 0 when the backfill is done, 1 when it failed,
 * was stopped (SIGINT, SIGTERM) or another process is carrying it forward.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "ingest/backfill.h"
#include "resilience/retry.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

void cmd_backfill_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: candlekeep backfill --source NAME --symbol S --timeframe TF --since DATE\n"
        "                           [--until DATE] [--config FILE]\n"
        "       candlekeep backfill --list [--format table|json|csv]\n\n"
        "Fetch the candles of one series from DATE (open times from it; an ISO 8601 time\n"
        "or a date, UTC) up to --until (exclusive) or the present, forwards, one request\n"
        "per page within the venue's limits, each page stored as it arrives.\n\n"
        "The backfill's position is kept in the database: run the same command again\n"
        "after it was killed or stopped and it continues where it was; the daemon's\n"
        "`backfill` job carries on one left unfinished. Requests share the source's\n"
        "rate budget with the daemon and leave it [ingest] backfill_reserve (25%% by\n"
        "default) of each window, waiting when only that is left. Where the venue's\n"
        "history starts later than DATE, or a venue serves only its latest candles,\n"
        "the backfill says so in a note and is done.\n\n"
        "  --list   every backfill: state, next open time asked for, candles, requests, note\n\n"
        "Exit status: 0 done; 1 failed, stopped, or carried forward by another process;\n"
        "2 for a usage or configuration error.\n");
}

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static bool should_stop(void *arg)
{
    (void)arg;
    return stop_flag != 0;
}

/* The command's clock: the wall clock when it started, advancing in real time. */
static int64_t clock_base_ms, clock_mono0_ms;

static int64_t bf_now_ms(void *arg)
{
    (void)arg;
    return clock_base_ms + (time_mono_ms() - clock_mono0_ms);
}

static bool bf_sleep_ms(void *arg, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    (void)arg;
    nanosleep(&ts, NULL);
    return !stop_flag;
}

/* How progress is shown: a bar redrawn on a terminal, else a line a second. */
struct view {
    bool tty;
    int64_t last_ms;
};

static void format_eta(int64_t s, char *buf, size_t size)
{
    if (s < 0)
        snprintf(buf, size, "?");
    else
        snprintf(buf, size, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                 (long long)(s % 60));
}

static void show_progress(void *arg, const struct backfill_progress *p)
{
    struct view *v = arg;
    const struct backfill_row *b = p->row;
    int64_t period = timeframe_seconds(b->tf), from = b->since - period;
    double frac = p->end > from ? (double)(b->position - from) / (double)(p->end - from) : 1.0;
    double rate = p->elapsed_ms > 0 ? (double)p->candles * 1000.0 / (double)p->elapsed_ms : 0;
    char eta[32], at[TIME_BUFSZ], budget[48] = "?";
    int64_t now = time_mono_ms();

    if (!v->tty && now - v->last_ms < 1000)
        return;
    v->last_ms = now;
    frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
    format_eta(p->eta_s, eta, sizeof(eta));
    time_format_iso8601(b->position > from ? b->position : b->since, at);
    if (p->budget_left >= 0)
        snprintf(budget, sizeof(budget), "%lld/%lld", (long long)p->budget_left,
                 (long long)p->budget_window);
    if (v->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '-';
        bar[30] = '\0';
        printf("\r[%s] %3d%% %lld candles %.0f/s %lld req budget %s ETA %s%s\033[K", bar,
               (int)(frac * 100), (long long)b->candles, rate, (long long)b->requests, budget, eta,
               p->waiting ? " (waiting for the budget)" : "");
    } else {
        printf("backfill %lld: at %s (%d%%): %lld candles, %.0f candles/s, %lld requests, "
               "budget left %s, ETA %s%s%s\n",
               (long long)b->id, at, (int)(frac * 100), (long long)b->candles, rate,
               (long long)b->requests, budget, eta, p->waiting ? "; waiting: " : "",
               p->waiting ? p->waiting : "");
    }
    fflush(stdout);
}

/* Print how the run ended; the exit status. */
static int print_report(const struct backfill_report *r, bool tty)
{
    const struct backfill_row *b = &r->row;
    double secs = (double)r->elapsed_ms / 1000.0;

    if (tty)
        printf("\n");
    printf("backfill %lld: %s %s %s: %s: %lld candles stored in %lld requests; this run %lld "
           "candles in %lld requests, %.1f s, %.0f candles/s\n",
           (long long)b->id, b->source, b->symbol, timeframe_name(b->tf),
           backfill_outcome_name(r->outcome), (long long)b->candles, (long long)b->requests,
           (long long)r->candles, (long long)r->requests, secs,
           secs > 0 ? (double)r->candles / secs : 0.0);
    if (*b->note)
        printf("backfill %lld: note: %s\n", (long long)b->id, b->note);
    if (r->outcome == BACKFILL_RUN_DONE)
        return CMD_OK;
    fprintf(stderr, "candlekeep backfill: backfill %lld %s: %s%s\n", (long long)b->id,
            backfill_outcome_name(r->outcome), r->message.buf,
            r->outcome == BACKFILL_RUN_BUSY     ? ""
            : r->outcome == BACKFILL_RUN_FAILED ? " (the same command retries it)"
                                                : " (run the command again to continue)");
    return CMD_FAIL;
}

/* The index of source `name` in the settings; nsources when none. */
static size_t find_source(const struct settings *s, const char *name)
{
    for (size_t i = 0; i < s->nsources; i++)
        if (!strcmp(s->sources[i].name, name))
            return i;
    return s->nsources;
}

static int run_backfill(struct ck *ck, size_t i, const struct backfill_spec *spec)
{
    const struct settings *s = &ck->settings;
    const struct retry_policy policy = {.max_retries = (int)s->retry.max_retries,
                                        .base_ms = s->retry.base_delay * 1000,
                                        .max_ms = s->retry.max_delay * 1000};
    const struct retry_clock clock = {.now_ms = bf_now_ms, .sleep_ms = bf_sleep_ms};
    struct view view = {.tty = isatty(STDOUT_FILENO) == 1};
    struct strbuf err = STRBUF_INIT, inst = STRBUF_INIT;
    struct backfill_report rep;
    struct backfill_row row;
    char *id = sched_make_instance_id();
    bool resumed;
    int rc;

    clock_base_ms = time_wall_ms();
    clock_mono0_ms = time_mono_ms();
    strbuf_addf(&inst, SCHED_CLI_PREFIX "%s", id);
    free(id);
    backfill_report_init(&rep);
    rc = backfill_open(ck->store, &s->sources[i], spec, time_now(), &row, &resumed, &err);
    if (rc) {
        fprintf(stderr, "candlekeep backfill: %s\n", err.buf);
        rc = rc == CK_EINVAL ? CMD_USAGE : CMD_FAIL;
        goto out;
    }
    printf("backfill %lld: %s %s %s: %s\n", (long long)row.id, row.source, row.symbol,
           timeframe_name(row.tf), resumed ? "resuming" : "started");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct backfill_opts o = {
        .env = {.store = ck->store,
                .policy = &policy,
                .clock = &clock,
                .metrics = ck->metrics,
                .instance = inst.buf},
        .reserve_pct = s->ingest.backfill_reserve,
        .wait = true,
        .should_stop = should_stop,
        .progress = show_progress,
        .progress_arg = &view,
    };
    rc = backfill_run(ck->feeds[i], row.id, &o, &rep, &err);
    if (rc) {
        fprintf(stderr, "candlekeep backfill: backfill %lld: %s\n", (long long)row.id, err.buf);
        rc = CMD_FAIL;
    } else {
        rc = print_report(&rep, view.tty);
    }
    backfill_row_release(&row);
out:
    backfill_report_release(&rep);
    strbuf_release(&err);
    strbuf_release(&inst);
    return rc;
}

static int list_backfills(struct ck *ck)
{
    static const char *const cols[] = {"id",    "source", "symbol", "timeframe", "since",
                                       "until", "state",  "next",   "candles",   "requests",
                                       "first", "note",   "error"};
    struct strbuf err = STRBUF_INIT;
    struct backfill_row *v = NULL;
    size_t n = 0;
    int rc = store_backfill_list(ck->store, false, &v, &n, &err);

    if (rc) {
        fprintf(stderr, "candlekeep backfill: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    struct out_table *t = out_table_new(ck->format, cols, ARRAY_SIZE(cols));
    out_table_numeric(t, 0);
    out_table_numeric(t, 8);
    out_table_numeric(t, 9);
    for (size_t i = 0; i < n; i++) {
        char id[24], c[24], r[24], since[TIME_BUFSZ], until[TIME_BUFSZ], pos[TIME_BUFSZ],
            first[TIME_BUFSZ];
        snprintf(id, sizeof(id), "%lld", (long long)v[i].id);
        snprintf(c, sizeof(c), "%lld", (long long)v[i].candles);
        snprintf(r, sizeof(r), "%lld", (long long)v[i].requests);
        time_format_iso8601(v[i].since, since);
        time_format_iso8601(v[i].until, until);
        time_format_iso8601(v[i].position + timeframe_seconds(v[i].tf), pos);
        time_format_iso8601(v[i].first, first);
        const char *row[] = {id,
                             v[i].source,
                             v[i].symbol,
                             timeframe_name(v[i].tf),
                             since,
                             v[i].until ? until : NULL,
                             backfill_state_name(v[i].state),
                             pos,
                             c,
                             r,
                             v[i].first ? first : NULL,
                             v[i].note,
                             v[i].error};
        out_table_row(t, row);
    }
    out_table_flush(t);
    backfill_rows_free(v, n);
    strbuf_release(&err);
    return CMD_OK;
}

/* What the command line asks for. */
struct args {
    const char *source;
    struct backfill_spec spec;
    bool list, has_tf, has_since;
};

/* Parse the options into `a`; CMD_OK, or CMD_USAGE (said). */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"source", required_argument, NULL, 'S'},
        {"symbol", required_argument, NULL, 's'},
        {"timeframe", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},
        {"list", no_argument, NULL, 'l'},
        {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "S:s:t:f:u:l", opts, NULL)) != -1) {
        if (c == 'S') {
            a->source = optarg;
        } else if (c == 's') {
            a->spec.symbol = optarg;
        } else if (c == 't') {
            if (cmd_parse_timeframe("backfill", optarg, &a->spec.tf))
                return CMD_USAGE;
            a->has_tf = true;
        } else if (c == 'f') {
            if (cmd_parse_time("backfill", "--since", optarg, &a->spec.since))
                return CMD_USAGE;
            a->has_since = true;
        } else if (c == 'u') {
            if (cmd_parse_time("backfill", "--until", optarg, &a->spec.until))
                return CMD_USAGE;
        } else if (c == 'l') {
            a->list = true;
        } else {
            cmd_backfill_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep backfill: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    if (!a->list && (!a->source || !a->spec.symbol || !a->has_tf || !a->has_since)) {
        fprintf(stderr, "candlekeep backfill: --source, --symbol, --timeframe and --since are "
                        "required (see --help)\n");
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_backfill(int argc, char **argv, struct ck *ck)
{
    struct args a = {0};
    size_t i;
    int rc = parse_args(argc, argv, &a);

    if (rc)
        return rc;
    if (a.list)
        return (rc = cmd_need(ck, CK_NEEDS_CONFIG | CK_NEEDS_STORE)) ? rc : list_backfills(ck);
    rc = cmd_need(ck, CK_NEEDS_CONFIG);
    if (rc)
        return rc;
    i = find_source(&ck->settings, a.source);
    if (i == ck->settings.nsources) {
        fprintf(stderr, "candlekeep backfill: no [source.%s] is configured\n", a.source);
        return CMD_USAGE;
    }
    if ((rc = cmd_check_credentials(&ck->settings.sources[i], "backfill")))
        return rc;
    if ((rc = cmd_ready(ck)))
        return rc;
    return run_backfill(ck, i, &a.spec);
}
