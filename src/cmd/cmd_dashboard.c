/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep dashboard [--refresh SECONDS] [--once]`: the terminal
 * dashboard. One screen of what the web dashboard shows: the health of
 * the house (database, daemons, jobs), the jobs and maintenance tasks with
 * their last run, each series' freshness and open gaps, the alerts firing
 * and resolved in the last 24 hours, the signal delivery outbox and the
 * providers' circuit, budget and ban. Backups and maintenance have no
 * engine in this build yet and say "not available".
 *
 * The data is the health read model (health/health.h) over the job table,
 * as `candlekeep status` reads it, plus the store's job history, alerts
 * and outbox; it comes from the database, so the dashboard works whether a
 * daemon runs or not (a database that cannot be reached is shown as such,
 * and tried again at the next refresh).
 *
 * On a terminal the screen is redrawn in place every SECONDS (5) on the
 * alternate screen, each line cut to the terminal's width and the frame to
 * its height (re-read at each redraw, and a resize redraws at once); `q`
 * quits, `r` refreshes now. The terminal is put back as it was on the way
 * out, also after Ctrl-C or SIGTERM. When stdout is not a terminal, or
 * with --once, one frame is printed as plain text and the command exits:
 * 0 when the database was reachable, 1 otherwise.
 *
 * The signal handlers only record which signal came (the one mutable
 * global STYLE.md allows); the loop reads it when poll() returns.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "alert/alert.h"
#include "ck/ck.h"
#include "health/health.h"
#include "jobs/table.h"
#include "store/jobs.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/redact.h"
#include "resilience/ratelimit.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "util/banned.h"

#define REFRESH_DEFAULT 5
#define REFRESH_MAX     3600
#define ALERTS_SHOWN    8
#define DAY_MS          (86400 * (int64_t)1000)

/* Colours of the states; empty on plain output. */
#define C_OK    "\x1b[32m"
#define C_WARN  "\x1b[33m"
#define C_BAD   "\x1b[31m"
#define C_HEAD  "\x1b[1m"
#define C_DIM   "\x1b[2m"
#define C_RESET "\x1b[0m"

/* The last signal that came (SIGWINCH is overridden by a quitting one). */
static volatile sig_atomic_t dash_signal;

void cmd_dashboard_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep dashboard [--refresh SECONDS] [--once] [--config FILE]\n\n"
            "A full-screen view of the house: health, jobs and their last run, series\n"
            "freshness and open gaps, alerts, signal delivery and providers, read from\n"
            "the database (with or without a running daemon) and redrawn every SECONDS\n"
            "(default %d). Keys: q quits, r refreshes now.\n\n"
            "  --refresh N   redraw every N seconds (1 to %d)\n"
            "  --once        print one frame as plain text and exit (also when stdout\n"
            "                is not a terminal); exit 1 when the database is unreachable\n",
            REFRESH_DEFAULT, REFRESH_MAX);
}

/* ---- the data of one frame ---- */

struct dash {
    int64_t now, now_ms;
    struct health_report report;
    struct job_run **last; /* aligned with report.jobs: the newest run, or NULL */
    struct alert_info *firing, *resolved;
    size_t nfiring, nresolved;
    bool has_outbox;
    int64_t outbox[3]; /* by enum delivery_status */
    int64_t oldest_pending_ms;
};

/* The store to read: the context's, or one this command opens when that failed. */
struct dash_store {
    struct store *own;
    struct strbuf err;
};

static struct store *dash_store(struct ck *ck, struct dash_store *ds)
{
    if (ck->store)
        return ck->store;
    if (ds->own)
        return ds->own;
    strbuf_reset(&ds->err);
    if (store_open(&ds->own, ck->settings.storage.url, &ds->err)) {
        ds->own = NULL;
        redact_message(&ds->err);
    }
    return ds->own;
}

static void collect_health(struct ck *ck, struct store *st, const char *db_error, struct dash *d)
{
    const struct settings *s = &ck->settings;
    struct strbuf err = STRBUF_INIT;
    struct job_table table;
    job_table_build(s, NULL, &table);
    struct health_config cfg = {
        .sources = s->sources,
        .nsources = s->nsources,
        .jobs = job_table_specs(&table),
        .njobs = table.n,
        .calendars = ck->calendars,
        .store_url = s->storage.url,
        .backup = &s->backup,
        .check_write = true,
    };
    /* A failing query hides only its part, as on /health. */
    health_collect(&cfg, st, db_error, d->now, d->now_ms, &d->report, &err);
    free((void *)cfg.jobs);
    job_table_release(&table);
    strbuf_release(&err);
}

/* Job history, alerts and outbox; a part the database fails to give is left out. */
static void collect_store(struct store *st, struct dash *d)
{
    struct strbuf err = STRBUF_INIT;
    enum alert_state firing = ALERT_FIRING, resolved = ALERT_RESOLVED;

    d->last = xcalloc(d->report.njobs ? d->report.njobs : 1, sizeof(*d->last));
    for (size_t i = 0; i < d->report.njobs; i++) {
        struct job_run *runs = NULL;
        size_t n = 0;
        if (!store_job_runs_list(st, d->report.jobs[i].id, 1, &runs, &n, &err) && n)
            d->last[i] = runs;
        else
            job_runs_free(runs, n);
    }
    if (alert_list(st, &firing, ALERTS_SHOWN, &d->firing, &d->nfiring, &err))
        d->nfiring = 0;
    if (alert_list(st, &resolved, 100, &d->resolved, &d->nresolved, &err))
        d->nresolved = 0;
    d->has_outbox = !store_delivery_counts(st, d->outbox, &err);
    if (store_delivery_oldest_pending(st, &d->oldest_pending_ms, &err))
        d->oldest_pending_ms = 0;
    strbuf_release(&err);
}

static void dash_collect(struct ck *ck, struct dash_store *ds, struct dash *d)
{
    struct store *st;
    memset(d, 0, sizeof(*d));
    d->now = time_now();
    d->now_ms = time_wall_ms();
    st = dash_store(ck, ds);
    collect_health(ck, st, ds->err.buf, d);
    if (st && d->report.reachable)
        collect_store(st, d);
}

static void dash_release(struct dash *d)
{
    for (size_t i = 0; d->last && i < d->report.njobs; i++)
        job_runs_free(d->last[i], d->last[i] ? 1 : 0);
    free(d->last);
    alert_infos_free(d->firing, d->nfiring);
    alert_infos_free(d->resolved, d->nresolved);
    health_report_release(&d->report);
}

/* ---- drawing ---- */

/*
 * A frame being drawn: lines of text, cut to `width` visible columns (0:
 * no limit) and at most `height` lines (0: no limit), with colours when
 * `ansi`.
 */
struct frame {
    struct strbuf out;
    struct strbuf line;
    int width, height, lines;
    bool ansi;
};

static const char *paint(const struct frame *f, const char *colour)
{
    return f->ansi ? colour : "";
}

/* Append text to the current line. */
__attribute__((format(printf, 2, 3))) static void put(struct frame *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&f->line, fmt, ap);
    va_end(ap);
}

/* End the current line: cut it to the width (escapes take no column) and emit it. */
static void endline(struct frame *f)
{
    const char *p = f->line.buf;
    int cols = 0;
    size_t keep = f->line.len;

    if (f->height && f->lines >= f->height) {
        strbuf_reset(&f->line);
        return;
    }
    for (size_t i = 0; f->width && i < f->line.len; i++) {
        if (p[i] == '\x1b') {
            while (i < f->line.len && p[i] != 'm')
                i++;
            continue;
        }
        /* UTF-8 continuation bytes take no column of their own. */
        if (((unsigned char)p[i] & 0xC0) != 0x80 && ++cols > f->width) {
            keep = i;
            break;
        }
    }
    strbuf_add(&f->out, p, keep);
    if (f->ansi)
        strbuf_addstr(&f->out, C_RESET "\x1b[K");
    strbuf_addch(&f->out, '\n');
    f->lines++;
    strbuf_reset(&f->line);
}

static void fmt_age(int64_t s, char *buf, size_t size)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, size, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
}

static void fmt_time(int64_t t, char buf[TIME_BUFSZ])
{
    if (t > 0)
        time_format_iso8601(t, buf);
    else
        memcpy(buf, "-", 2);
}

static void draw_header(struct frame *f, const struct dash *d, int64_t refresh)
{
    const struct health_report *r = &d->report;
    const char *status = !r->reachable        ? "unavailable"
                         : !r->ndaemons       ? "no daemon running"
                         : health_degraded(r) ? "degraded"
                                              : "ok";
    const char *colour = !strcmp(status, "ok") ? C_OK : !r->reachable ? C_BAD : C_WARN;
    char now[TIME_BUFSZ];

    time_format_iso8601(d->now, now);
    put(f, "%scandlekeep dashboard%s  status %s%s%s  %s", paint(f, C_HEAD), paint(f, C_RESET),
        paint(f, colour), status, paint(f, C_RESET), now);
    if (refresh)
        put(f, "%s  (q quit, r refresh, every %" PRId64 " s)%s", paint(f, C_DIM), refresh,
            paint(f, C_RESET));
    endline(f);
    put(f, "database %s (%s)", r->reachable ? "reachable" : "unreachable", r->backend);
    if (!r->reachable)
        put(f, ": %s", r->db_error ? r->db_error : "");
    endline(f);
    if (!r->reachable)
        return;
    put(f, "daemons %zu", r->ndaemons);
    for (size_t i = 0; i < r->ndaemons; i++)
        put(f, "%s%s", i ? ", " : " (", r->daemons[i]);
    put(f, "%s   jobs %zu (paused %zu, failing %zu, late %zu)   open gaps %" PRId64,
        r->ndaemons ? ")" : "", r->njobs, r->paused, r->failing, r->overdue, r->open_gaps);
    endline(f);
}

static const char *job_state(const struct health_job *j, const char **colour)
{
    *colour = C_OK;
    if (j->running)
        return "running";
    *colour = C_WARN;
    if (j->paused)
        return "paused";
    if (j->overdue)
        return "late";
    *colour = C_BAD;
    if (j->streak > 0)
        return "failing";
    *colour = C_OK;
    return "ok";
}

static void draw_jobs(struct frame *f, const struct dash *d)
{
    put(f, "%sJOBS%s", paint(f, C_HEAD), paint(f, C_RESET));
    endline(f);
    put(f, "  %-22s %-14s %-8s %-6s %-21s %9s %-21s %6s", "JOB", "SCHEDULE", "STATE", "LAST",
        "STARTED", "DURATION", "NEXT RUN", "STREAK");
    endline(f);
    for (size_t i = 0; i < d->report.njobs; i++) {
        const struct health_job *j = &d->report.jobs[i];
        const struct job_run *last = d->last ? d->last[i] : NULL;
        const char *colour, *state = job_state(j, &colour);
        char started[TIME_BUFSZ], next[TIME_BUFSZ], dur[24] = "-";
        fmt_time(last ? last->started / 1000 : 0, started);
        fmt_time(j->paused ? 0 : j->next_run, next);
        if (last && last->finished)
            snprintf(dur, sizeof(dur), "%.1f s", (double)(last->finished - last->started) / 1000);
        put(f, "  %-22s %-14s %s%-8s%s %-6s %-21s %9s %-21s %6" PRId64, j->id, j->cron,
            paint(f, colour), state, paint(f, C_RESET),
            last ? job_status_name(last->status) : "never", started, dur, next, j->streak);
        endline(f);
    }
}

static void draw_series(struct frame *f, const struct dash *d)
{
    put(f, "%sSERIES%s", paint(f, C_HEAD), paint(f, C_RESET));
    endline(f);
    put(f, "  %-32s %-21s %10s %8s %9s", "SERIES", "LATEST", "AGE", "MISSING", "OPEN GAPS");
    endline(f);
    for (size_t i = 0; i < d->report.nseries; i++) {
        const struct health_series *s = &d->report.series[i];
        char name[96], latest[TIME_BUFSZ], age[24] = "-", missing[24] = "-";
        snprintf(name, sizeof(name), "%s %s %s", s->source, s->symbol, timeframe_name(s->tf));
        fmt_time(s->has_latest ? s->latest : 0, latest);
        if (s->has_latest)
            fmt_age(s->age, age, sizeof(age));
        if (s->missing >= 0)
            snprintf(missing, sizeof(missing), "%" PRId64, s->missing);
        put(f, "  %-32s %-21s %10s %8s %s%9" PRId64 "%s", name, latest, age, missing,
            paint(f, s->open_gaps ? C_BAD : ""), s->open_gaps, paint(f, C_RESET));
        endline(f);
    }
}

static void draw_alert(struct frame *f, const struct alert_info *a, int64_t t)
{
    char when[TIME_BUFSZ];
    const char *sev = alert_severity_name(a->severity);
    fmt_time(t / 1000, when);
    put(f, "  %s%-8s%s %-21s %s (%s)", paint(f, a->state == ALERT_FIRING ? C_BAD : C_OK), sev,
        paint(f, C_RESET), when, a->title, a->key);
    endline(f);
}

static void draw_alerts(struct frame *f, const struct dash *d)
{
    size_t recent = 0;
    for (size_t i = 0; i < d->nresolved; i++)
        recent += d->resolved[i].resolved_ms >= d->now_ms - DAY_MS;
    put(f, "%sALERTS%s  firing %zu%s, resolved in the last 24 h %zu", paint(f, C_HEAD),
        paint(f, C_RESET), d->nfiring, d->nfiring == ALERTS_SHOWN ? "+" : "", recent);
    endline(f);
    for (size_t i = 0; i < d->nfiring; i++)
        draw_alert(f, &d->firing[i], d->firing[i].first_seen_ms);
    for (size_t i = 0, shown = 0; i < d->nresolved && shown < ALERTS_SHOWN; i++) {
        if (d->resolved[i].resolved_ms < d->now_ms - DAY_MS)
            continue;
        draw_alert(f, &d->resolved[i], d->resolved[i].resolved_ms);
        shown++;
    }
}

static void draw_outbox(struct frame *f, const struct dash *d)
{
    char oldest[24] = "none";
    put(f, "%sSIGNAL DELIVERY%s  ", paint(f, C_HEAD), paint(f, C_RESET));
    if (!d->has_outbox) {
        put(f, "unknown (the database did not answer)");
        endline(f);
        return;
    }
    if (d->oldest_pending_ms)
        fmt_age((d->now_ms - d->oldest_pending_ms) / 1000, oldest, sizeof(oldest));
    put(f, "pending %" PRId64 " (oldest %s)   %sdead letters %" PRId64 "%s   delivered %" PRId64,
        d->outbox[DELIVERY_PENDING], oldest, paint(f, d->outbox[DELIVERY_DEAD] ? C_BAD : ""),
        d->outbox[DELIVERY_DEAD], paint(f, C_RESET), d->outbox[DELIVERY_DELIVERED]);
    endline(f);
}

static void draw_provider(struct frame *f, const struct health_provider *p, int64_t now_ms)
{
    size_t deferred = 0, skipped = 0;
    const char *circuit =
        p->circuit_known ? breaker_state_name(p->circuit.state) : "unknown (none recorded)";
    put(f, "  %-16s circuit %s%s%s", p->source,
        paint(f, p->circuit_known && p->circuit.state != BREAKER_CLOSED ? C_BAD : ""), circuit,
        paint(f, C_RESET));
    if (p->has_budget) {
        struct strbuf window = STRBUF_INIT;
        ratelimit_window_name(&p->budget, &window);
        put(f, "   %s %" PRId64 "/%" PRId64, window.buf, p->rate.window_used, p->budget.per_window);
        strbuf_release(&window);
        if (p->budget.per_day > 0)
            put(f, "   day %" PRId64 "/%" PRId64, p->rate.day_used, p->budget.per_day);
        else
            put(f, "   day %" PRId64, p->rate.day_used);
        if (p->rate.banned_until_ms > now_ms)
            put(f, "   %sbanned %" PRId64 " s (%s)%s", paint(f, C_BAD),
                (p->rate.banned_until_ms - now_ms + 999) / 1000, p->rate.ban_reason,
                paint(f, C_RESET));
        else
            put(f, "   ban none");
    }
    for (size_t j = 0; j < p->nseries; j++) {
        deferred += p->series[j]->deferred_since != 0;
        skipped += health_series_skipped(p, p->series[j]);
    }
    put(f, "   deferred %zu   skipped %zu", deferred, skipped);
    endline(f);
}

static void draw_frame(struct frame *f, const struct dash *d, int64_t refresh)
{
    draw_header(f, d, refresh);
    if (d->report.reachable) {
        endline(f);
        draw_jobs(f, d);
        endline(f);
        draw_series(f, d);
        endline(f);
        draw_alerts(f, d);
        endline(f);
        draw_outbox(f, d);
        endline(f);
        put(f, "%sPROVIDERS%s", paint(f, C_HEAD), paint(f, C_RESET));
        endline(f);
        for (size_t i = 0; i < d->report.nproviders; i++)
            draw_provider(f, &d->report.providers[i], d->report.now_ms);
    }
    endline(f);
    put(f, "%sBACKUPS%s      %snot available (no backup engine in this build)%s", paint(f, C_HEAD),
        paint(f, C_RESET), paint(f, C_DIM), paint(f, C_RESET));
    endline(f);
    put(f, "%sMAINTENANCE%s  %snot available (no maintenance engine in this build)%s",
        paint(f, C_HEAD), paint(f, C_RESET), paint(f, C_DIM), paint(f, C_RESET));
    endline(f);
}

/* ---- the terminal ---- */

struct term {
    bool keys; /* stdin is a terminal in non-canonical mode */
    struct termios saved;
};

static void on_signal(int sig)
{
    if (sig != SIGWINCH || !dash_signal)
        dash_signal = sig;
}

static void term_enter(struct term *t)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll() returns */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    t->keys = isatty(STDIN_FILENO) && !tcgetattr(STDIN_FILENO, &t->saved);
    if (t->keys) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    /* The alternate screen, the cursor hidden. */
    fputs("\x1b[?1049h\x1b[?25l", stdout);
    fflush(stdout);
}

static void term_leave(struct term *t)
{
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    if (t->keys)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

static void term_size(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80;
    *rows = 24;
    if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col && ws.ws_row) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

/*
 * Wait up to `ms` for a key. Returns the key, 0 when the time is up, -1
 * when a signal came (dash_signal says which).
 */
static int wait_key(const struct term *t, int64_t ms)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = poll(&p, t->keys ? 1 : 0, ms < 0 ? 0 : (int)ms);
    unsigned char c;
    if (dash_signal)
        return -1;
    if (n < 0)
        return errno == EINTR ? -1 : 0;
    if (n == 0)
        return 0;
    if (read(STDIN_FILENO, &c, 1) != 1)
        return 'q'; /* the terminal went away */
    return c;
}

/* Collect and draw one frame; was the database reachable? */
static bool show(struct ck *ck, struct dash_store *ds, int64_t refresh, bool live)
{
    struct frame f = {.out = STRBUF_INIT, .line = STRBUF_INIT, .ansi = live};
    struct dash d;
    bool reachable;
    if (live) {
        term_size(&f.width, &f.height);
        /* A newline on the last row would scroll the screen. */
        f.height = f.height > 1 ? f.height - 1 : 1;
    }
    dash_collect(ck, ds, &d);
    reachable = d.report.reachable;
    draw_frame(&f, &d, live ? refresh : 0);
    if (live)
        fputs("\x1b[H", stdout);
    fwrite(f.out.buf, 1, f.out.len, stdout);
    if (live)
        fputs("\x1b[J", stdout);
    fflush(stdout);
    dash_release(&d);
    strbuf_release(&f.out);
    strbuf_release(&f.line);
    return reachable;
}

static int run_live(struct ck *ck, struct dash_store *ds, int64_t refresh)
{
    struct term t;
    int64_t due = 0;

    term_enter(&t);
    for (;;) {
        if (time_mono_ms() >= due) {
            show(ck, ds, refresh, true);
            due = time_mono_ms() + refresh * 1000;
        }
        int key = wait_key(&t, due - time_mono_ms());
        if (key == 'q' || key == 'Q' || (key < 0 && dash_signal != SIGWINCH))
            break;
        if (key == 'r' || key == 'R' || key < 0) {
            dash_signal = 0;
            due = 0;
        }
    }
    term_leave(&t);
    return CMD_OK;
}

int cmd_dashboard(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"refresh", required_argument, NULL, 'n'}, {"once", no_argument, NULL, '1'}, {0}};
    struct dash_store ds = {.err = STRBUF_INIT};
    int64_t refresh = REFRESH_DEFAULT;
    bool once = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cmd_parse_int("dashboard", "--refresh", optarg, 1, REFRESH_MAX, &refresh))
                return CMD_USAGE;
            break;
        case '1':
            once = true;
            break;
        default:
            cmd_dashboard_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep dashboard: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    /* An unreachable database is part of the picture, not an error. */
    if (ck_require(ck, CK_NEEDS_STORE, &ds.err))
        redact_message(&ds.err);
    if (once || !isatty(STDOUT_FILENO))
        rc = show(ck, &ds, 0, false) ? CMD_OK : CMD_FAIL;
    else
        rc = run_live(ck, &ds, refresh);
    store_close(ds.own);
    strbuf_release(&ds.err);
    return rc;
}
