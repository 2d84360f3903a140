/* SPDX-License-Identifier: MIT */
/*
 * The conditions behind candlekeep's alerts (the keys are listed in
 * watch.h), evaluated at two moments:
 *
 *  - when a run ends (watch_on_run_end, the scheduler's completion hook,
 *    on the thread and connection that recorded the run): the job's
 *    failure streak, its timeout, its recovery; and the circuit breakers
 *    of the providers a refresh job called: before a failure is recorded,
 *    so that a breaker that just opened is firing when the job alert it
 *    holds back names it, and after a success, so that the job alert is
 *    cleared before the breaker's clear would let it go;
 *  - every minute in the watch_alerts job: breakers, overdue jobs, stale
 *    series, open and unfillable gaps, daily quotas.
 *
 * The alert manager does the rest (one message per episode, cooldown,
 * reminders, inhibition): this file only says, each time it looks, what
 * is firing and what is not. A polled condition is fired every time it is
 * seen (the manager keeps the message count at one) and cleared when a
 * look finds it gone; the job compares what it found with the alerts
 * firing in the database under the polled prefixes, so a key whose
 * subject disappeared (a gap filled, a series no longer configured) is
 * cleared too.
 *
 * Everything runs on a worker or the timer thread with that thread's own
 * store connection; nothing here keeps state between calls, so several
 * daemons sharing a database agree on what is firing. The exception is a
 * circuit breaker, which lives in each process: with several daemons the
 * breaker alert follows the breaker of whichever daemon looked last.
 */
#include "jobs/watch.h"

#include "alert/alert.h"
#include "ck/ck.h"
#include "health/health.h"
#include "jobs/table.h"
#include "market/calendar.h"
#include "resilience/breaker.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* --- recording ------------------------------------------------------------ */

/* What a look found: the keys firing now (to tell the rest from them), and failures. */
struct look {
    struct alert_manager *am;
    struct store *st;
    int64_t now_ms;
    char **firing;
    size_t nfiring, alloc;
    size_t failures;
    struct strbuf first_error;
};

static void look_failed(struct look *lk, const char *key, const struct strbuf *err)
{
    if (!lk->failures++)
        strbuf_addf(&lk->first_error, "alert '%s': %s", key, err->buf);
}

static void fire(struct look *lk, const char *key, enum notify_severity sev, const char *title,
                 const char *details, const char *inhibited_by)
{
    struct strbuf err = STRBUF_INIT;
    struct alert_event ev = {
        .key = key,
        .severity = sev,
        .title = title,
        .details = details,
        .inhibited_by = inhibited_by,
        .now_ms = lk->now_ms,
    };
    ALLOC_GROW(lk->firing, lk->nfiring + 1, lk->alloc);
    lk->firing[lk->nfiring++] = xstrdup(key);
    if (alert_fire(lk->am, lk->st, &ev, &err)) {
        redact_message(&err);
        look_failed(lk, key, &err);
    }
    strbuf_release(&err);
}

static void clear(struct look *lk, const char *key, const char *details)
{
    struct strbuf err = STRBUF_INIT;
    if (alert_clear(lk->am, lk->st, key, details, lk->now_ms, &err)) {
        redact_message(&err);
        look_failed(lk, key, &err);
    }
    strbuf_release(&err);
}

static bool is_firing_now(const struct look *lk, const char *key)
{
    for (size_t i = 0; i < lk->nfiring; i++)
        if (!strcmp(lk->firing[i], key))
            return true;
    return false;
}

static void look_release(struct look *lk)
{
    for (size_t i = 0; i < lk->nfiring; i++)
        free(lk->firing[i]);
    free(lk->firing);
    strbuf_release(&lk->first_error);
}

static bool has_prefix(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

static void key_of_breaker(struct strbuf *sb, const char *source)
{
    strbuf_reset(sb);
    strbuf_addf(sb, "breaker:%s", source);
}

/* --- circuit breakers ----------------------------------------------------- */

/* Fire or clear breaker:<source> for source `i` as its breaker is now. */
static void look_breaker(struct look *lk, const struct ck *app, size_t i)
{
    const struct source_settings *src = &app->settings.sources[i];
    struct breaker *b = ck_breaker(app, i);
    struct strbuf key = STRBUF_INIT, details = STRBUF_INIT, title = STRBUF_INIT;
    struct breaker_info bi;

    if (!b || !src->enabled)
        return;
    breaker_info(b, lk->now_ms, &bi);
    key_of_breaker(&key, src->name);
    if (bi.state == BREAKER_CLOSED) {
        strbuf_addf(&details, "calls to %s go through again", src->name);
        clear(lk, key.buf, details.buf);
    } else {
        char at[TIME_BUFSZ];
        time_format_iso8601(bi.next_probe_ms / 1000, at);
        strbuf_addf(&title, "Provider %s unreachable", src->name);
        strbuf_addf(&details,
                    "the circuit breaker of %s is %s after %d consecutive failed calls; "
                    "no request is sent until a probe at %s succeeds",
                    src->name, breaker_state_name(bi.state), bi.failures,
                    bi.next_probe_ms ? at : "the next refresh");
        fire(lk, key.buf, NOTIFY_CRITICAL, title.buf, details.buf, NULL);
    }
    strbuf_release(&key);
    strbuf_release(&details);
    strbuf_release(&title);
}

/* Does source `src` fetch timeframe `tf`? */
static bool source_lists(const struct source_settings *src, enum timeframe tf)
{
    for (size_t i = 0; i < src->ntimeframes; i++)
        if (src->timeframes[i] == tf)
            return true;
    return false;
}

/* --- the completion hook -------------------------------------------------- */

/*
 * Fire or clear the breaker alerts of the sources a refresh of `tf` calls;
 * `inhibitor` gets the key of the first breaker that is not closed. Only
 * where the breakers are the scheduler's (the daemon).
 */
static void sync_breakers(struct look *lk, const struct ck *app, bool refresh, enum timeframe tf,
                          struct strbuf *inhibitor)
{
    if (!refresh || !app->sched || !sched_is_running(app->sched))
        return;
    for (size_t i = 0; i < app->settings.nsources; i++) {
        const struct source_settings *src = &app->settings.sources[i];
        struct breaker_info bi;
        if (!src->enabled || !source_lists(src, tf) || !ck_breaker(app, i))
            continue;
        look_breaker(lk, app, i);
        breaker_info(ck_breaker(app, i), lk->now_ms, &bi);
        if (!inhibitor->len && bi.state != BREAKER_CLOSED)
            key_of_breaker(inhibitor, src->name);
    }
}

static bool is_critical_job(const char *id)
{
    /* Undelivered signals or unpruned history cost more than a late candle. */
    return has_prefix(id, "deliver") || has_prefix(id, "retention");
}

void watch_on_run_end(void *arg, struct store *st, const struct sched_run_end *e)
{
    struct ck *app = arg;
    struct look lk = {.am = app->alerts, .st = st, .now_ms = e->now_ms, .first_error = STRBUF_INIT};
    struct strbuf key = STRBUF_INIT, tkey = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT,
                  what = STRBUF_INIT, inhibitor = STRBUF_INIT;
    enum timeframe tf = TF_M1;
    bool refresh = job_is_refresh(e->job_id, &tf);

    if (!app->alerts || !st)
        return;
    if (refresh)
        strbuf_addf(&what, "%s refresh", timeframe_name(tf));
    else
        strbuf_addstr(&what, e->job_name);
    strbuf_addf(&key, "job:%s", e->job_id);
    strbuf_addf(&tkey, "timeout:%s", e->job_id);

    /*
     * The breakers of the providers the refresh called, where they are the
     * scheduler's (the daemon): before the job's alert when it failed, so
     * that a breaker that just opened is firing when the alert names it as
     * its cause; after it when it succeeded, so that a job alert held back
     * by a breaker this run closed is cleared before the breaker lets it go.
     */
    if (e->status != JOB_OK)
        sync_breakers(&lk, app, refresh, tf, &inhibitor);
    if (e->status == JOB_OK) {
        strbuf_addf(&details, "%s succeeded again: %s", what.buf, e->message);
        clear(&lk, key.buf, details.buf);
        clear(&lk, tkey.buf, details.buf);
    } else {
        const char *inhibited_by = inhibitor.len ? inhibitor.buf : NULL;
        if (e->status == JOB_TIMED_OUT) {
            strbuf_reset(&title);
            strbuf_addf(&title, "%s timed out", refresh ? "Candle refresh" : e->job_name);
            strbuf_reset(&details);
            strbuf_addf(&details, "%s %s", what.buf, e->message);
            fire(&lk, tkey.buf, NOTIFY_WARNING, title.buf, details.buf, inhibited_by);
        }
        if (e->streak >= app->settings.alerts.failure_threshold) {
            strbuf_reset(&title);
            strbuf_addf(&title, "%s failing", refresh ? "Candle refresh" : e->job_name);
            strbuf_reset(&details);
            strbuf_addf(&details, "%s has failed %" PRId64 " consecutive time%s: %s", what.buf,
                        e->streak, e->streak == 1 ? "" : "s", e->message);
            fire(&lk, key.buf, is_critical_job(e->job_id) ? NOTIFY_CRITICAL : NOTIFY_WARNING,
                 title.buf, details.buf, inhibited_by);
        }
    }
    if (e->status == JOB_OK)
        sync_breakers(&lk, app, refresh, tf, &inhibitor);
    if (lk.failures)
        log_error("watch: job %s: cannot record %zu alert change%s: %s", e->job_id, lk.failures,
                  lk.failures == 1 ? "" : "s", lk.first_error.buf);
    look_release(&lk);
    strbuf_release(&key);
    strbuf_release(&tkey);
    strbuf_release(&title);
    strbuf_release(&details);
    strbuf_release(&what);
    strbuf_release(&inhibitor);
}

/* --- the polled conditions ------------------------------------------------ */

static void look_overdue(struct look *lk, const struct health_report *h)
{
    struct strbuf key = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT;

    for (size_t i = 0; i < h->njobs; i++) {
        const struct health_job *j = &h->jobs[i];
        char next[TIME_BUFSZ];
        if (!j->overdue)
            continue;
        strbuf_reset(&key);
        strbuf_reset(&title);
        strbuf_reset(&details);
        strbuf_addf(&key, "overdue:%s", j->id);
        strbuf_addf(&title, "%s overdue", j->name);
        time_format_iso8601(j->next_run, next);
        strbuf_addf(&details,
                    "%s (%s, schedule '%s') was due at %s and has not run for more than a "
                    "period",
                    j->name, j->id, j->cron, next);
        fire(lk, key.buf, NOTIFY_WARNING, title.buf, details.buf, NULL);
    }
    strbuf_release(&key);
    strbuf_release(&title);
    strbuf_release(&details);
}

static void format_age(struct strbuf *sb, int64_t secs)
{
    if (secs < 3600)
        strbuf_addf(sb, "%" PRId64 "m", secs / 60);
    else if (secs < 2 * 86400)
        strbuf_addf(sb, "%" PRId64 "h %02" PRId64 "m", secs / 3600, secs / 60 % 60);
    else
        strbuf_addf(sb, "%" PRId64 "d %02" PRId64 "h", secs / 86400, secs / 3600 % 24);
}

/* Stale series: WATCH_STALE_PERIODS or more periods missing by the calendar. */
static void look_stale(struct look *lk, const struct health_report *h)
{
    struct strbuf key = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT,
                  inhibitor = STRBUF_INIT;

    for (size_t i = 0; i < h->nseries; i++) {
        const struct health_series *e = &h->series[i];
        char at[TIME_BUFSZ];
        /* Nothing stored yet: nothing to be stale against. */
        if (!e->has_latest || e->missing < WATCH_STALE_PERIODS)
            continue;
        key_of_breaker(&inhibitor, e->source);
        strbuf_reset(&key);
        strbuf_reset(&title);
        strbuf_reset(&details);
        strbuf_addf(&key, "stale:%s:%s:%s", e->source, e->symbol, timeframe_name(e->tf));
        strbuf_addf(&title, "%s %s data stale", e->symbol, timeframe_name(e->tf));
        time_format_iso8601(e->latest, at);
        strbuf_addf(&details,
                    "%s %s %s: no new candle for %" PRId64 " periods the market was "
                    "open; the newest opened at %s (",
                    e->source, e->symbol, timeframe_name(e->tf), e->missing, at);
        format_age(&details, e->age);
        strbuf_addstr(&details, " ago)");
        fire(lk, key.buf, NOTIFY_WARNING, title.buf, details.buf, inhibitor.buf);
    }
    strbuf_release(&key);
    strbuf_release(&title);
    strbuf_release(&details);
    strbuf_release(&inhibitor);
}

static bool alert_exists(const struct alert_info *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].key, key))
            return true;
    return false;
}

/* Open gaps and unfillable ones; `all`/`nall` are every stored alert. */
static int look_gaps(struct look *lk, const struct alert_info *all, size_t nall, struct strbuf *err)
{
    struct strbuf key = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT,
                  inhibitor = STRBUF_INIT;
    static const enum gap_state states[] = {GAP_OPEN, GAP_UNFILLABLE};
    int rc = 0;

    for (size_t s = 0; s < 2 && !rc; s++) {
        struct gap_query q = {.has_state = true, .state = states[s]};
        struct gap_record *v = NULL;
        size_t n = 0;
        bool unfillable = states[s] == GAP_UNFILLABLE;
        rc = store_list_gaps(lk->st, &q, &v, &n, err);
        for (size_t i = 0; !rc && i < n; i++) {
            const struct gap_record *g = &v[i];
            char first[TIME_BUFSZ], last[TIME_BUFSZ];
            time_format_iso8601(g->first, first);
            time_format_iso8601(g->last, last);
            strbuf_reset(&key);
            strbuf_reset(&title);
            strbuf_reset(&details);
            strbuf_addf(&key, "%s:%s:%s:%s:%s", unfillable ? "gap-unfillable" : "gap", g->source,
                        g->symbol, timeframe_name(g->tf), first);
            if (unfillable && alert_exists(all, nall, key.buf)) {
                /* Raised once: its episode is recorded, whatever became of it. */
                ALLOC_GROW(lk->firing, lk->nfiring + 1, lk->alloc);
                lk->firing[lk->nfiring++] = xstrdup(key.buf);
                continue;
            }
            key_of_breaker(&inhibitor, g->source);
            strbuf_addf(&title, "%s %s %s", unfillable ? "Unfillable gap in" : "Gap in", g->symbol,
                        timeframe_name(g->tf));
            strbuf_addf(&details, "%s %s %s: %" PRId64 " missing candle%s from %s to %s", g->source,
                        g->symbol, timeframe_name(g->tf), g->count, g->count == 1 ? "" : "s", first,
                        last);
            if (g->reason && *g->reason)
                strbuf_addf(&details, " (%s)", g->reason);
            if (unfillable)
                strbuf_addstr(&details, "; the provider has no data for it and is not asked "
                                        "again");
            fire(lk, key.buf, unfillable ? NOTIFY_WARNING : NOTIFY_INFO, title.buf, details.buf,
                 inhibitor.buf);
        }
        gap_records_free(v, n);
    }
    strbuf_release(&key);
    strbuf_release(&title);
    strbuf_release(&details);
    strbuf_release(&inhibitor);
    return rc;
}

static void look_quota(struct look *lk, const struct health_report *h)
{
    struct strbuf key = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT;

    for (size_t i = 0; i < h->nproviders; i++) {
        const struct health_provider *p = &h->providers[i];
        int64_t quota = p->budget.per_day;
        if (!p->has_budget || quota <= 0 || p->rate.day_used * 100 < quota * WATCH_QUOTA_PERCENT)
            continue;
        strbuf_reset(&key);
        strbuf_reset(&title);
        strbuf_reset(&details);
        strbuf_addf(&key, "quota:%s", p->source);
        strbuf_addf(&title, "%s daily quota nearly used", p->source);
        strbuf_addf(&details,
                    "%s has used %" PRId64 " of its %" PRId64 " requests today (UTC); "
                    "refreshes are deferred once it is used up",
                    p->source, p->rate.day_used, quota);
        fire(lk, key.buf, NOTIFY_WARNING, title.buf, details.buf, NULL);
    }
    strbuf_release(&key);
    strbuf_release(&title);
    strbuf_release(&details);
}

/*
 * The health report the polled conditions read, at the look's time: the
 * jobs of the daemon's scheduler (only there is "overdue" looked at), the
 * configured series with their missing periods by the calendars, and the
 * providers' budgets.
 */
static int look_health(const struct look *lk, const struct ck *app, bool daemon,
                       struct health_report *out, struct strbuf *err)
{
    struct health_config cfg = {
        .sources = app->settings.sources,
        .nsources = app->settings.nsources,
        .sched = daemon ? app->sched : NULL,
        .calendars = app->calendars,
        .store_url = app->settings.storage.url,
    };
    return health_collect(&cfg, lk->st, NULL, lk->now_ms / 1000, lk->now_ms, out, err);
}

/*
 * The prefixes this job owns. "breaker:" and "overdue:" only when the
 * scheduler runs here: elsewhere they are not looked at, so not cleared.
 */
static bool polled_key(const char *key, bool daemon)
{
    static const char *const always[] = {"stale:", "gap:", "gap-unfillable:", "quota:"};
    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        if (has_prefix(key, always[i]))
            return true;
    return daemon && (has_prefix(key, "breaker:") || has_prefix(key, "overdue:"));
}

int watch_job_run(struct job_ctx *ctx, void *arg)
{
    struct ck *app = arg;
    struct look lk = {
        .am = app->alerts, .st = ctx->store, .now_ms = job_now_ms(ctx), .first_error = STRBUF_INIT};
    struct strbuf err = STRBUF_INIT;
    enum alert_state firing = ALERT_FIRING;
    struct alert_info *all = NULL, *on = NULL;
    size_t nall = 0, non = 0, cleared = 0;
    bool daemon = app->sched && sched_is_running(app->sched);
    struct health_report h = {0};
    int rc;

    if (!app->alerts) {
        strbuf_addstr(&ctx->message, "alerts are not set up in this process; nothing watched");
        return 0;
    }
    rc = alert_list(ctx->store, NULL, 0, &all, &nall, &err);
    if (!rc)
        rc = look_health(&lk, app, daemon, &h, &err);
    if (!rc && daemon) {
        for (size_t i = 0; i < app->settings.nsources; i++)
            look_breaker(&lk, app, i);
        look_overdue(&lk, &h);
    }
    if (!rc)
        look_stale(&lk, &h);
    if (!rc)
        rc = look_gaps(&lk, all, nall, &err);
    if (!rc)
        look_quota(&lk, &h);
    if (!rc)
        rc = alert_list(ctx->store, &firing, 0, &on, &non, &err);
    for (size_t i = 0; !rc && i < non; i++) {
        if (!polled_key(on[i].key, daemon) || is_firing_now(&lk, on[i].key))
            continue;
        clear(&lk, on[i].key, "no longer seen");
        cleared++;
    }
    if (rc) {
        redact_message(&err);
        strbuf_addf(&ctx->message, "cannot look at the alert conditions: %s", err.buf);
    } else if (lk.failures) {
        strbuf_addf(&ctx->message, "%zu alert change%s not recorded: %s", lk.failures,
                    lk.failures == 1 ? "" : "s", lk.first_error.buf);
        rc = CK_EIO;
    } else {
        strbuf_addf(&ctx->message, "%zu condition%s firing, %zu cleared", lk.nfiring,
                    lk.nfiring == 1 ? "" : "s", cleared);
        json_t *d = json_pack("{s:I, s:I}", "firing", (json_int_t)lk.nfiring, "cleared",
                              (json_int_t)cleared);
        char *text = json_dumps(d, JSON_COMPACT);
        strbuf_addstr(&ctx->details, text ? text : "{}");
        free(text);
        json_decref(d);
    }
    alert_infos_free(all, nall);
    alert_infos_free(on, non);
    health_report_release(&h);
    look_release(&lk);
    strbuf_release(&err);
    return rc;
}
