/* SPDX-License-Identifier: MIT */
/*
 * The signal deliverer: the outbox of signals, sent.
 *
 * The database holds the truth. A signal and one pending delivery per
 * receiver are written in one transaction by whoever creates the signal
 * (API or CLI); this file only moves deliveries forward, one attempt at a
 * time, each attempt recorded with its time, duration and answer. Nothing
 * is kept in memory that a restart would lose: a delivery is pending
 * (with the time of its next attempt), delivered or dead.
 *
 Threads. The dispatcher and the workers are background services
 * (sched/service.h). The dispatcher reads when the next delivery is due
 * and sleeps until then, one second at most (another process may have
 * created a signal), or until deliver_wake(); when something is due it
 * wakes the workers. There is one worker per configured receiver: it
 * claims the due deliveries of its receiver only, one at a time, under a
 * lease of [deliver] lease seconds, sends, records and claims again until
 * nothing of its receiver is due, then waits. A receiver that hangs
 * therefore holds up only its own worker, for at most the HTTP timeout per
 * attempt. Each service owns its store connection (reopened after a
 * database error) and each worker its HTTP client.
 *
 * Leases. A claim sets holder and lease end in the database atomically;
 * the lease is longer than an attempt can take (settings_load() checks),
 * so it only lapses when its holder died or stalled. Another deliverer
 * then takes the delivery over and sends it again under the same
 * webhook-id; if the first holder comes back and tries to record its
 * attempt, store_delivery_record() refuses (CK_ECONFLICT) and the attempt
 * is dropped from the history, which says what the receiver was last told.
 *
 * Alerts. A dead delivery fires "delivery:<signal>:<receiver>" (critical)
 * once; its later success (after a redeliver) clears it. Attempts failing
 * [alerts] failure_threshold times in a row for one receiver fire
 * "job:deliver_signals", cleared when no receiver is failing any more.
 * The first receiver in name order also queues a short notice of each new
 * signal (unless [deliver] telegram = false) when it claims a delivery
 * that has never been attempted, so several daemons send one notice, not
 * one each; only a crash between the notice and the first recorded
 * attempt can repeat it.
 *
 Lock invariants: `mu` guards the failure streaks; no I/O is done while
 * holding it.
 */
#include "signal/deliver.h"

#include "alert/alert.h"
#include "market/price.h"
#include "market/timeframe.h"
#include "net/http.h"
#include "resilience/retry.h"
#include "sched/service.h"
#include "signal/signal.h"
#include "signal/whsig.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

/* How long the dispatcher sleeps at most: CLI-created signals leave within this. */
#define POLL_MS 1000
/* A worker's own look, in case a wake-up was missed. */
#define WORKER_IDLE_MS 5000
/* Waits between attempts to reopen a lost database connection. */
#define RECONNECT_MIN_MS 1000
#define RECONNECT_MAX_MS 30000
/* Bytes of a refusing receiver's answer kept in the error. */
#define ANSWER_EXCERPT 200
/* The cap on a receiver's answer; nothing in it is needed beyond the excerpt. */
#define ANSWER_MAX_BODY (64 * 1024)

#define STREAK_KEY "job:deliver_signals"

struct worker {
    struct deliverer *d;
    size_t index; /* in the receivers and d->streak */
    const struct receiver_settings *rcv;
    struct whsig_key key;
    bool announces; /* first receiver in name order: queues the new-signal notice */
    struct service *svc;

    /* The worker's service thread's own. */
    struct http_client *hc;
    struct strbuf who;  /* "receiver 'NAME'" */
    int64_t backoff_ms; /* while the database stays away */
};

struct deliverer {
    const struct deliver_settings *settings;
    char *store_url;
    char *instance;
    struct alert_manager *alerts;
    struct metrics *metrics;
    const struct retry_clock *clock;
    struct deliver_policy policy;
    int64_t lease_ms;
    long connect_timeout_ms, timeout_ms;
    int64_t failure_threshold;

    pthread_mutex_t mu;
    int64_t *streak;     /* (mu) failed attempts in a row, per receiver */
    bool streak_unclear; /* (mu) STREAK_KEY may be firing: clear it when no receiver fails */

    struct service *dispatcher;
    int64_t dispatcher_backoff_ms; /* the dispatcher's own */
    struct worker *workers;
    size_t nworkers;
};

static void iso_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    time_format_iso8601(ms / 1000, buf);
}

/* --- time and waiting ------------------------------------------------- */

static int64_t now_ms(const struct deliverer *d)
{
    return d->clock ? d->clock->now_ms(d->clock->arg) : time_wall_ms();
}

/* Something may be due: every worker looks now. */
static void wake_workers(struct deliverer *d)
{
    for (size_t i = 0; i < d->nworkers; i++)
        service_wake(d->workers[i].svc);
}

void deliver_wake(struct deliverer *d)
{
    if (d)
        service_wake(d->dispatcher);
}

/*
 * The store connection of a service, opened on first use and after an
 * error; `*backoff_ms` grows while the database stays away. Returns NULL
 * (after logging the first failure of an outage) when it cannot be opened.
 */
static struct store *open_store(struct service *svc, int64_t *backoff_ms, const char *who)
{
    struct strbuf err = STRBUF_INIT;
    struct store *st = service_store(svc, &err);
    if (!st) {
        if (!*backoff_ms)
            log_error("deliver: %s: cannot open the store: %s", who, err.buf);
        *backoff_ms = *backoff_ms ? *backoff_ms * 2 : RECONNECT_MIN_MS;
        if (*backoff_ms > RECONNECT_MAX_MS)
            *backoff_ms = RECONNECT_MAX_MS;
    } else if (*backoff_ms) {
        log_info("deliver: %s: the store is back", who);
        *backoff_ms = 0;
    }
    strbuf_release(&err);
    return st;
}

/* A database error: log it (redacted); the caller drops the connection. */
static void store_failed(const char *what, const char *who, struct strbuf *err)
{
    redact_message(err);
    log_error("deliver: %s: %s: %s", who, what, err->buf);
}

/* --- the dispatcher --------------------------------------------------- */

static int64_t dispatcher_pass(struct service *svc, void *arg)
{
    struct deliverer *d = arg;
    struct store *st = open_store(svc, &d->dispatcher_backoff_ms, "dispatcher");
    struct strbuf err = STRBUF_INIT;
    int64_t due, now, wait = POLL_MS;
    int rc;

    if (!st) {
        /* The workers poll by themselves meanwhile; keep them looking. */
        wake_workers(d);
        return d->dispatcher_backoff_ms;
    }
    rc = store_delivery_next_due(st, &due, &err);
    now = now_ms(d);
    if (!rc && due <= now) {
        wake_workers(d);
    } else if (!rc && due - now < wait) {
        wait = due - now;
    } else if (rc && rc != CK_ENOTFOUND) {
        store_failed("cannot read the next due delivery", "dispatcher", &err);
        service_store_drop(svc);
    }
    strbuf_release(&err);
    return wait;
}

/* --- one attempt ------------------------------------------------------ */

static void count(struct deliverer *d, const char *receiver, const char *result)
{
    struct strbuf labels = STRBUF_INIT;
    metrics_labels(&labels, "receiver", receiver, "result", result, NULL);
    metrics_add(d->metrics, "deliveries_total", labels.buf, 1);
    strbuf_release(&labels);
}

/* The short notice of a new signal to the operators. */
static void announce(struct worker *w, struct store *st, const struct signal *s, int64_t now)
{
    struct deliverer *d = w->d;
    struct strbuf title = STRBUF_INIT, details = STRBUF_INIT, err = STRBUF_INIT;
    char entry[PRICE_BUFSZ], sl[PRICE_BUFSZ], tp[PRICE_BUFSZ];

    price_format(s->entry, entry);
    price_format(s->stop_loss, sl);
    price_format(s->take_profit, tp);
    strbuf_addf(&title, "New signal: %s %s %s", s->symbol, timeframe_name(s->tf),
                signal_direction_name(s->direction));
    strbuf_addf(&details, "entry %s, stop loss %s, take profit %s", entry, sl, tp);
    if (s->expires_ms) {
        char exp[TIME_BUFSZ];
        iso_ms(s->expires_ms, exp);
        strbuf_addf(&details, ", expires %s", exp);
    }
    if (s->note && *s->note)
        strbuf_addf(&details, "\n%s", s->note);
    strbuf_addf(&details, "\n%s (%s)", s->id, s->source);
    if (alert_notice(d->alerts, st, NOTIFY_INFO, "signal", title.buf, details.buf, now, &err))
        log_warn("deliver: cannot queue the notice of signal '%s': %s", s->id, err.buf);
    strbuf_release(&title);
    strbuf_release(&details);
    strbuf_release(&err);
}

/* Has delivery `dl` never been attempted, not even before a redeliver? */
static bool never_attempted(struct store *st, const struct delivery *dl)
{
    struct delivery_attempt *a = NULL;
    struct strbuf err = STRBUF_INIT;
    size_t n = 0;
    bool never = dl->attempts == 0 && !store_delivery_attempts(st, dl->id, &a, &n, &err) && !n;
    delivery_attempts_free(a, n);
    strbuf_release(&err);
    return never;
}

/* The failure streak of this worker's receiver after an attempt. */
static void note_streak(struct worker *w, struct store *st, bool ok, const char *error, int64_t now)
{
    struct deliverer *d = w->d;
    struct strbuf err = STRBUF_INIT;
    int64_t streak;
    bool fire = false, clear = false;

    pthread_mutex_lock(&d->mu);
    if (ok) {
        d->streak[w->index] = 0;
        if (d->streak_unclear) {
            clear = true;
            for (size_t i = 0; i < d->nworkers; i++)
                clear = clear && d->streak[i] < d->failure_threshold;
            if (clear)
                d->streak_unclear = false;
        }
    } else {
        d->streak[w->index]++;
        if (d->streak[w->index] >= d->failure_threshold) {
            fire = true;
            d->streak_unclear = true;
        }
    }
    streak = d->streak[w->index];
    pthread_mutex_unlock(&d->mu);

    if (!d->alerts || (!fire && !clear))
        goto out;
    if (fire) {
        struct strbuf details = STRBUF_INIT;
        strbuf_addf(&details,
                    "signal delivery to receiver '%s' has failed %" PRId64 " consecutive times: %s",
                    w->rcv->name, streak, error);
        struct alert_event ev = {
            .key = STREAK_KEY,
            .severity = NOTIFY_WARNING,
            .title = "Signal delivery failing",
            .details = details.buf,
            .now_ms = now,
        };
        if (alert_fire(d->alerts, st, &ev, &err))
            log_warn("deliver: cannot raise alert '%s': %s", STREAK_KEY, err.buf);
        strbuf_release(&details);
    } else if (alert_clear(d->alerts, st, STREAK_KEY, "signal delivery works again", now, &err)) {
        log_warn("deliver: cannot clear alert '%s': %s", STREAK_KEY, err.buf);
        pthread_mutex_lock(&d->mu);
        d->streak_unclear = true;
        pthread_mutex_unlock(&d->mu);
    }
out:
    strbuf_release(&err);
}

static void dead_letter_alert(struct worker *w, struct store *st, const struct delivery *dl,
                              int64_t attempts, const char *error, int64_t now)
{
    struct deliverer *d = w->d;
    struct strbuf key = STRBUF_INIT, details = STRBUF_INIT, err = STRBUF_INIT;
    char when[TIME_BUFSZ];

    if (!d->alerts)
        return;
    iso_ms(now, when);
    strbuf_addf(&key, "delivery:%s:%s", dl->signal_id, w->rcv->name);
    strbuf_addf(&details,
                "signal delivery: signal %s to receiver '%s' failed after %" PRId64
                " attempt%s; last error at %s: %s. It is dead-lettered: "
                "candlekeep signals redeliver %s",
                dl->signal_id, w->rcv->name, attempts, attempts == 1 ? "" : "s", when, error,
                dl->signal_id);
    struct alert_event ev = {
        .key = key.buf,
        .severity = NOTIFY_CRITICAL,
        .title = "Signal delivery failed",
        .details = details.buf,
        .now_ms = now,
    };
    if (alert_fire(d->alerts, st, &ev, &err))
        log_error("deliver: cannot raise alert '%s': %s", key.buf, err.buf);
    strbuf_release(&key);
    strbuf_release(&details);
    strbuf_release(&err);
}

/* A dead-lettered delivery that went through after all: its alert is over. */
static void clear_dead_letter(struct worker *w, struct store *st, const struct delivery *dl,
                              int64_t now)
{
    struct deliverer *d = w->d;
    struct strbuf key = STRBUF_INIT, err = STRBUF_INIT;
    if (!d->alerts)
        return;
    strbuf_addf(&key, "delivery:%s:%s", dl->signal_id, w->rcv->name);
    if (alert_clear(d->alerts, st, key.buf, "delivered after a redeliver", now, &err))
        log_warn("deliver: cannot clear alert '%s': %s", key.buf, err.buf);
    strbuf_release(&key);
    strbuf_release(&err);
}

/* "HTTP 503: <first bytes of the answer, one line>" */
static void describe_answer(const struct http_response *resp, struct strbuf *out)
{
    size_t n = resp->body.len < ANSWER_EXCERPT ? resp->body.len : ANSWER_EXCERPT;
    strbuf_addf(out, "HTTP %ld", resp->status);
    if (!n)
        return;
    strbuf_addstr(out, ": ");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)resp->body.buf[i];
        strbuf_addch(out, c < 0x20 || c == 0x7f ? ' ' : c);
    }
    if (resp->body.len > n)
        strbuf_addstr(out, "...");
}

/*
 * Send delivery `dl` (leased to us) once and record the attempt. Returns
 * false when the store failed (the caller reopens it).
 */
static bool attempt(struct worker *w, struct store *st, struct http_client *hc,
                    const struct delivery *dl)
{
    struct deliverer *d = w->d;
    struct signal s;
    struct strbuf body = STRBUF_INIT, sig = STRBUF_INIT, err = STRBUF_INIT, error = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    char ts[32];
    int64_t started, t0, next = 0, attempt_no = dl->attempts + 1;
    enum delivery_status status;
    bool store_ok = true;
    int rc;

    memset(&s, 0, sizeof(s));
    rc = store_signal_get(st, dl->signal_id, &s, &err);
    started = now_ms(d);
    if (rc == CK_ENOTFOUND) {
        /* Cannot happen while signals are never deleted; if it does, say so for good. */
        strbuf_addstr(&error, "the signal no longer exists");
        status = DELIVERY_DEAD;
        t0 = time_mono_ms();
        goto record;
    } else if (rc) {
        store_failed("cannot read a signal", w->rcv->name, &err);
        store_ok = false;
        goto out;
    }
    if (w->announces && d->alerts && d->settings->telegram && never_attempted(st, dl))
        announce(w, st, &s, started);

    deliver_signal_body(&s, &body);
    snprintf(ts, sizeof(ts), "%" PRId64, started / 1000);
    whsig_sign(&w->key, dl->webhook_id, started / 1000, body.buf, body.len, &sig);
    const struct http_header headers[] = {
        {"Content-Type", "application/json"},
        {"webhook-id", dl->webhook_id},
        {"webhook-timestamp", ts},
        {"webhook-signature", sig.buf},
    };
    const struct http_request req = {
        .method = "POST",
        .url = w->rcv->url,
        .headers = headers,
        .nheaders = ARRAY_SIZE(headers),
        .body = body.buf,
        .body_len = body.len,
        .connect_timeout_ms = d->connect_timeout_ms,
        .timeout_ms = d->timeout_ms,
        .max_body = ANSWER_MAX_BODY,
    };
    t0 = time_mono_ms();
    strbuf_reset(&err);
    rc = http_do(hc, &req, &resp, &err);
    if (rc)
        strbuf_addbuf(&error, &err);
    else if (resp.status < 200 || resp.status > 299)
        describe_answer(&resp, &error);
    status = deliver_decide(&d->policy, attempt_no, rc, resp.status, resp.retry_after, now_ms(d),
                            retry_random(d->clock), &next);

record:;
    struct delivery_attempt a = {
        .attempt = attempt_no,
        .started_ms = started,
        .duration_ms = time_mono_ms() - t0,
        .http_status = resp.status,
        .error = error.buf,
        .instance = d->instance,
    };
    int64_t now = now_ms(d);
    strbuf_reset(&err);
    rc = store_delivery_record(st, dl->id, d->instance, &a, status, next, &err);
    if (rc == CK_ECONFLICT) {
        /* Our lease lapsed and another deliverer has it now: its attempt counts. */
        log_warn("deliver: signal '%s' to '%s': the lease lapsed during attempt %" PRId64
                 " (%" PRId64 " ms); another deliverer took it over",
                 dl->signal_id, w->rcv->name, attempt_no, a.duration_ms);
        goto out;
    } else if (rc) {
        /* The lease lapses and the attempt is made again: same webhook-id. */
        store_failed("cannot record a delivery attempt", w->rcv->name, &err);
        store_ok = false;
        goto out;
    }

    switch (status) {
    case DELIVERY_DELIVERED:
        count(d, w->rcv->name, "delivered");
        log_info("deliver: signal '%s' delivered to '%s' (attempt %" PRId64 ", HTTP %ld, %" PRId64
                 " ms)",
                 dl->signal_id, w->rcv->name, attempt_no, resp.status, a.duration_ms);
        note_streak(w, st, true, "", now);
        clear_dead_letter(w, st, dl, now);
        break;
    case DELIVERY_PENDING: {
        struct strbuf labels = STRBUF_INIT, op = STRBUF_INIT;
        count(d, w->rcv->name, "retry");
        strbuf_addf(&op, "deliver:%s", w->rcv->name);
        metrics_labels(&labels, "operation", op.buf, NULL);
        metrics_add(d->metrics, "retries_total", labels.buf, 1);
        log_warn("deliver: signal '%s' to '%s': attempt %" PRId64
                 " of %d failed: %s; next in %.1fs",
                 dl->signal_id, w->rcv->name, attempt_no, d->policy.attempts, error.buf,
                 (double)(next - now) / 1000.0);
        note_streak(w, st, false, error.buf, now);
        strbuf_release(&labels);
        strbuf_release(&op);
        break;
    }
    case DELIVERY_DEAD: {
        struct strbuf labels = STRBUF_INIT;
        count(d, w->rcv->name, "dead");
        metrics_labels(&labels, "receiver", w->rcv->name, NULL);
        metrics_add(d->metrics, "delivery_dead_total", labels.buf, 1);
        log_error("deliver: signal '%s' to '%s' is dead after %" PRId64 " attempt%s: %s",
                  dl->signal_id, w->rcv->name, attempt_no, attempt_no == 1 ? "" : "s", error.buf);
        note_streak(w, st, false, error.buf, now);
        dead_letter_alert(w, st, dl, attempt_no, error.buf, now);
        strbuf_release(&labels);
        break;
    }
    }
out:
    signal_release(&s);
    http_response_release(&resp);
    strbuf_release(&body);
    strbuf_release(&sig);
    strbuf_release(&err);
    strbuf_release(&error);
    return store_ok;
}

/* --- the workers ------------------------------------------------------ */

/* One pass of a worker: claim one due delivery of its receiver and attempt it. */
static int64_t worker_pass(struct service *svc, void *arg)
{
    struct worker *w = arg;
    struct deliverer *d = w->d;
    struct store *st = open_store(svc, &w->backoff_ms, w->who.buf);
    struct strbuf err = STRBUF_INIT;
    struct delivery *v = NULL;
    size_t n = 0;
    int64_t now, wait = WORKER_IDLE_MS;
    int rc;

    if (!st)
        return w->backoff_ms;
    now = now_ms(d);
    rc = store_delivery_claim(st, w->rcv->name, now, d->instance, now + d->lease_ms, 1, &v, &n,
                              &err);
    if (rc) {
        store_failed("cannot claim deliveries", w->who.buf, &err);
        service_store_drop(svc);
        wait = RECONNECT_MIN_MS;
    } else if (n) {
        /* Claim again at once: more of this receiver's deliveries may be due. */
        wait = 0;
        if (!attempt(w, st, w->hc, &v[0]))
            service_store_drop(svc);
    }
    deliveries_free(v, n);
    strbuf_release(&err);
    return wait;
}

/* --- life cycle ------------------------------------------------------- */

static void deliverer_free(struct deliverer *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->nworkers; i++) {
        OPENSSL_cleanse(&d->workers[i].key, sizeof(d->workers[i].key));
        http_client_free(d->workers[i].hc);
        strbuf_release(&d->workers[i].who);
    }
    free(d->workers);
    free(d->streak);
    free(d->store_url);
    free(d->instance);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static void declare_metrics(struct metrics *m)
{
    metrics_declare(m, "deliveries_total", METRIC_COUNTER,
                    "Signal delivery attempts by receiver and result (delivered, retry, dead).");
    metrics_declare(m, "delivery_dead_total", METRIC_COUNTER,
                    "Signal deliveries dead-lettered, by receiver.");
    metrics_declare(m, "retries_total", METRIC_COUNTER, "Retries of outbound calls, by operation.");
}

/* Every series of a receiver exists from the start, at 0, so rates and alerts see it. */
static void zero_series(struct metrics *m, const char *receiver)
{
    static const char *const results[] = {"delivered", "retry", "dead"};
    struct strbuf labels = STRBUF_INIT;
    for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
        strbuf_reset(&labels);
        metrics_labels(&labels, "receiver", receiver, "result", results[i], NULL);
        metrics_add(m, "deliveries_total", labels.buf, 0);
    }
    strbuf_reset(&labels);
    metrics_labels(&labels, "receiver", receiver, NULL);
    metrics_add(m, "delivery_dead_total", labels.buf, 0);
    strbuf_release(&labels);
}

int deliver_start(struct deliverer **out, const struct deliver_config *cfg, struct strbuf *err)
{
    const struct deliver_settings *s = cfg->deliver;
    struct deliverer *d = xcalloc(1, sizeof(*d));
    size_t first = 0;
    int rc = 0;

    *out = NULL;
    d->settings = s;
    d->store_url = xstrdup(cfg->store_url);
    d->instance = xstrdup(cfg->instance);
    d->alerts = cfg->alerts;
    d->metrics = cfg->metrics;
    d->clock = cfg->clock;
    d->policy = (struct deliver_policy){
        .attempts = (int)s->attempts,
        .base_ms = s->base_delay * 1000,
        .max_ms = s->max_delay * 1000,
    };
    d->lease_ms = s->lease * 1000;
    d->connect_timeout_ms = (long)s->connect_timeout * 1000;
    d->timeout_ms = (long)s->timeout * 1000;
    d->failure_threshold = cfg->failure_threshold > 0 ? cfg->failure_threshold : 3;
    /* A streak alert left firing by an earlier run is cleared by the first success. */
    d->streak_unclear = true;
    pthread_mutex_init(&d->mu, NULL);
    declare_metrics(d->metrics);

    d->nworkers = cfg->nreceivers;
    d->workers = xcalloc(d->nworkers ? d->nworkers : 1, sizeof(*d->workers));
    d->streak = xcalloc(d->nworkers ? d->nworkers : 1, sizeof(*d->streak));
    for (size_t i = 1; i < cfg->nreceivers; i++)
        if (strcmp(cfg->receivers[i].name, cfg->receivers[first].name) < 0)
            first = i;
    for (size_t i = 0; i < d->nworkers; i++) {
        struct worker *w = &d->workers[i];
        struct strbuf why = STRBUF_INIT;
        zero_series(d->metrics, cfg->receivers[i].name);
        w->d = d;
        w->index = i;
        w->rcv = &cfg->receivers[i];
        w->announces = i == first;
        strbuf_init(&w->who, 0);
        strbuf_addf(&w->who, "receiver '%s'", w->rcv->name);
        if (whsig_key_parse(w->rcv->secret, &w->key, &why)) {
            /* settings_load() refuses such a secret; this is a second line of defence. */
            strbuf_addf(err, "receiver '%s': %s", w->rcv->name, why.buf);
            strbuf_release(&why);
            deliverer_free(d);
            return CK_ECONFIG;
        }
        strbuf_release(&why);
    }
    if (!d->nworkers) {
        *out = d;
        return 0;
    }

    /* Fail fast on a database that cannot be reached, before any thread starts. */
    {
        struct store *probe = NULL;
        rc = store_open(&probe, d->store_url, err);
        store_close(probe);
        if (rc) {
            deliverer_free(d);
            return rc;
        }
    }
    for (size_t i = 0; i < d->nworkers && !rc; i++) {
        struct worker *w = &d->workers[i];
        struct service_config sc = {
            .name = "deliver worker",
            .pass = worker_pass,
            .arg = w,
            .store_url = d->store_url,
        };
        w->hc = http_client_new();
        rc = service_start(&w->svc, &sc, err);
    }
    if (!rc) {
        struct service_config sc = {
            .name = "deliver dispatcher",
            .pass = dispatcher_pass,
            .arg = d,
            .store_url = d->store_url,
        };
        rc = service_start(&d->dispatcher, &sc, err);
    }
    if (rc) {
        deliver_stop(d);
        return rc;
    }
    log_info("deliver: delivering signals to %zu receiver%s (%d attempts, lease %" PRId64 "s)",
             d->nworkers, d->nworkers == 1 ? "" : "s", d->policy.attempts, s->lease);
    *out = d;
    return 0;
}

void deliver_stop(struct deliverer *d)
{
    if (!d)
        return;
    /* The dispatcher first: it wakes the workers. */
    service_stop(d->dispatcher);
    for (size_t i = 0; i < d->nworkers; i++)
        service_stop(d->workers[i].svc);
    deliverer_free(d);
}
