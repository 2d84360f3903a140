/* SPDX-License-Identifier: MIT */
/*
 * The database watch (see dbwatch.h for what it does and why the alert
 * goes around the outbox).
 *
 A background service (sched/service.h) whose pass is one look. Its
 * thread owns everything but `ok`: the service's store connection
 * (reopened after a failure), its own notify channels (a channel holds an
 * HTTP handle and is not shared with the alert sender's thread), and the
 * episode: when the database went away, which channels have taken the
 * firing message, when to try the others again. `lock` guards `ok` (read
 * by the heartbeat's health check).
 *
 * The episode lives in memory only. A daemon stopped during an outage
 * forgets it; the next one starts with a clean slate and, if the database
 * is still down, reports it afresh.
 */
#include "daemon/dbwatch.h"

#include "alert/alert.h"
#include "alert/notify.h"
#include "ck/settings.h"
#include "sched/sched.h"
#include "sched/service.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

#define DEFAULT_INTERVAL_MS 5000
/* Backoff of the direct sends: from one interval, doubling, up to a minute. */
#define SEND_BACKOFF_MAX_MS 60000

struct dbwatch {
    const struct settings *settings;
    struct sched *sched;
    struct alert_manager *am;
    int64_t interval_ms;
    struct service *svc;
    pthread_mutex_t lock;
    bool ok; /* (lock) */

    /* The service thread's own. */
    struct notify_channel **channels;
    size_t nchannels;
    bool *sent;            /* per channel: took the firing message */
    int64_t failures;      /* consecutive failed looks */
    int64_t down_since_ms; /* the first of them */
    bool fired;            /* the episode is reported (or being reported) */
    int64_t first_sent_ms; /* when a channel first took it; 0 none */
    int64_t next_send_ms;
    int64_t send_backoff_ms;
    struct strbuf error; /* the last failure, redacted */
};

static void set_ok(struct dbwatch *w, bool ok)
{
    pthread_mutex_lock(&w->lock);
    w->ok = ok;
    pthread_mutex_unlock(&w->lock);
}

bool dbwatch_db_ok(struct dbwatch *w)
{
    bool ok;
    pthread_mutex_lock(&w->lock);
    ok = w->ok;
    pthread_mutex_unlock(&w->lock);
    return ok;
}

/* One look: 0 when the database is fine; the reason in w->error otherwise. */
static int look(struct dbwatch *w)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = service_store(w->svc, &err);
    int rc = st ? store_check_writable(st, &err) : CK_EIO;

    /* A fresh connection next time: this one may be the broken part. */
    if (rc)
        service_store_drop(w->svc);
    if (!rc && w->sched) {
        struct sched_health h;
        sched_health(w->sched, &h);
        /*
         * The timer thread reaches the database every 3 seconds or so
         * (its heartbeat): one failed contact is a blip, so only a run of
         * them counts.
         */
        if (h.store_failures >= DBWATCH_DOWN_AFTER) {
            strbuf_addf(&err, "the scheduler cannot reach it: %s", h.store_error);
            rc = CK_EIO;
        }
    }
    if (rc) {
        redact_message(&err);
        strbuf_reset(&w->error);
        strbuf_addbuf(&w->error, &err);
    }
    strbuf_release(&err);
    return rc;
}

static void add_duration(struct strbuf *sb, int64_t ms)
{
    int64_t s = ms / 1000;
    if (s < 120)
        strbuf_addf(sb, "%" PRId64 " s", s);
    else if (s < 7200)
        strbuf_addf(sb, "%" PRId64 " min", s / 60);
    else
        strbuf_addf(sb, "%" PRId64 " h %02" PRId64 " min", s / 3600, s / 60 % 60);
}

/* Send the firing message to every channel that has not taken it yet. */
static void send_direct(struct dbwatch *w, int64_t now)
{
    struct strbuf details = STRBUF_INIT, err = STRBUF_INIT;
    char since[TIME_BUFSZ];
    size_t left = 0;

    if (now < w->next_send_ms)
        return;
    time_format_iso8601(w->down_since_ms / 1000, since);
    strbuf_addf(&details,
                "the %s database has been unreachable since %s: %s\n"
                "Jobs skip their cycles until it answers. (Sent directly: the alert outbox "
                "is in that database.)",
                store_url_backend(w->settings->storage.url)
                    ? store_url_backend(w->settings->storage.url)
                    : "configured",
                since, w->error.buf);
    struct notify_msg m = {
        .key = "database",
        .severity = NOTIFY_CRITICAL,
        .state = "firing",
        .title = "Database unreachable",
        .details = details.buf,
        .time = w->down_since_ms / 1000,
    };
    for (size_t i = 0; i < w->nchannels; i++) {
        struct notify_result res = {0};
        if (w->sent[i])
            continue;
        strbuf_reset(&err);
        m.parts_done = 0;
        if (notify_send(w->channels[i], &m, &res, &err)) {
            left++;
            log_warn("dbwatch: cannot send the database alert through %s: %s",
                     notify_channel_name(w->channels[i]), err.buf);
            continue;
        }
        w->sent[i] = true;
        if (!w->first_sent_ms)
            w->first_sent_ms = now;
        log_info("dbwatch: the database alert went out through %s",
                 notify_channel_name(w->channels[i]));
    }
    if (left) {
        w->send_backoff_ms = w->send_backoff_ms ? w->send_backoff_ms * 2 : w->interval_ms;
        if (w->send_backoff_ms > SEND_BACKOFF_MAX_MS)
            w->send_backoff_ms = SEND_BACKOFF_MAX_MS;
        w->next_send_ms = now + w->send_backoff_ms;
    }
    strbuf_release(&details);
    strbuf_release(&err);
}

/* The database answers again: write the episode down (see dbwatch.h). */
static void recovered(struct dbwatch *w, int64_t now)
{
    struct strbuf details = STRBUF_INIT, err = STRBUF_INIT;
    char from[TIME_BUFSZ], to[TIME_BUFSZ], told[TIME_BUFSZ];
    struct store *st;
    int rc;

    time_format_iso8601(w->down_since_ms / 1000, from);
    time_format_iso8601(now / 1000, to);
    strbuf_addf(&details, "the database was unreachable from %s to %s (", from, to);
    add_duration(&details, now - w->down_since_ms);
    strbuf_addstr(&details, ")");
    st = w->am ? service_store(w->svc, &err) : NULL;
    if (!w->am) {
        rc = 0;
    } else if (!st) {
        rc = CK_EIO;
    } else if (w->first_sent_ms) {
        time_format_iso8601(w->first_sent_ms / 1000, told);
        strbuf_addf(&details, "; reported directly at %s (alert key database)", told);
        rc = alert_notice(w->am, st, NOTIFY_CRITICAL, "resolved", "Database reachable again",
                          details.buf, now, &err);
    } else {
        struct strbuf fire = STRBUF_INIT;
        strbuf_addf(&fire, "the database was unreachable from %s: %s", from, w->error.buf);
        struct alert_event ev = {
            .key = "database",
            .severity = NOTIFY_CRITICAL,
            .title = "Database unreachable",
            .details = fire.buf,
            .now_ms = w->down_since_ms,
        };
        rc = alert_fire(w->am, st, &ev, &err);
        if (!rc)
            rc = alert_clear(w->am, st, "database", details.buf, now, &err);
        strbuf_release(&fire);
    }
    if (rc) {
        /* Still worth saying in the log; the next outage starts a new episode. */
        redact_message(&err);
        log_error("dbwatch: cannot record the database outage: %s", err.buf);
    }
    log_info("dbwatch: %s", details.buf);
    strbuf_release(&details);
    strbuf_release(&err);
}

/* One pass: a look, and what it means for the episode. */
static int64_t dbwatch_pass(struct service *svc, void *arg)
{
    struct dbwatch *w = arg;
    int64_t now = time_wall_ms();

    (void)svc;
    if (!look(w)) {
        if (w->fired)
            recovered(w, now);
        else if (w->failures)
            log_info("dbwatch: the database answers again");
        w->failures = 0;
        w->fired = false;
        w->first_sent_ms = 0;
        w->next_send_ms = 0;
        w->send_backoff_ms = 0;
        memset(w->sent, 0, w->nchannels * sizeof(*w->sent));
        set_ok(w, true);
        return w->interval_ms;
    }
    if (!w->failures++)
        w->down_since_ms = now;
    if (w->failures < DBWATCH_DOWN_AFTER) {
        log_warn("dbwatch: the database does not answer: %s", w->error.buf);
        return w->interval_ms;
    }
    set_ok(w, false);
    if (!w->fired) {
        w->fired = true;
        log_error("dbwatch: the database has been unreachable for %" PRId64 " looks: %s",
                  w->failures, w->error.buf);
    }
    if (w->am)
        send_direct(w, now);
    return w->interval_ms;
}

int dbwatch_start(struct dbwatch **out, const struct dbwatch_config *cfg, struct strbuf *err)
{
    struct dbwatch *w = xcalloc(1, sizeof(*w));
    int rc = 0;

    *out = NULL;
    w->settings = cfg->settings;
    w->sched = cfg->sched;
    w->am = cfg->am;
    w->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : DEFAULT_INTERVAL_MS;
    w->ok = true;
    strbuf_init(&w->error, 0);
    if (w->am)
        rc = notify_channels_new(&cfg->settings->telegram, &cfg->settings->alert_webhook,
                                 &cfg->settings->alert_email, NULL, &w->channels, &w->nchannels,
                                 err);
    if (rc) {
        strbuf_release(&w->error);
        free(w);
        return rc;
    }
    w->sent = xcalloc(w->nchannels ? w->nchannels : 1, sizeof(*w->sent));
    pthread_mutex_init(&w->lock, NULL);
    struct service_config sc = {
        .name = "dbwatch",
        .pass = dbwatch_pass,
        .arg = w,
        .store_url = w->settings->storage.url,
    };
    rc = service_start(&w->svc, &sc, err);
    if (rc) {
        pthread_mutex_destroy(&w->lock);
        notify_channels_free(w->channels, w->nchannels);
        free(w->sent);
        strbuf_release(&w->error);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void dbwatch_stop(struct dbwatch *w)
{
    if (!w)
        return;
    service_stop(w->svc);
    pthread_mutex_destroy(&w->lock);
    notify_channels_free(w->channels, w->nchannels);
    free(w->sent);
    strbuf_release(&w->error);
    free(w);
}
