/* SPDX-License-Identifier: MIT */
/*
 * The alert manager (see alert.h for what operators hear and when).
 *
 * State. Everything that decides whether a message goes out lives in the
 * alert's row (store/alerts.h): its state (firing or resolved), what
 * operators were last told (notified_state) and when (last_notified), and
 * the key of the alert holding it back (inhibited_by, "" when none). The
 * manager keeps nothing about alerts in memory, so several daemons sharing
 * one database, the CLI and a restarted daemon all decide alike.
 *
 * Decisions. One pure function, decide(), looks at a row and the time and
 * says which message, if any, is owed now:
 *
 *   firing, not held back, never told it fires  -> "firing", unless the
 *       last message (a resolved one) is younger than the cooldown: then
 *       it waits for the cooldown to end;
 *   firing, told it fires, repeat_interval since the last message
 *                                                -> "reminder";
 *   resolved, told it fires                      -> "resolved", once the
 *       cooldown since the last message has passed.
 *
 * A firing that comes back while its resolved message is still held is
 * therefore the same episode: operators were told it fires and were never
 * told otherwise, so nothing is owed. alert_fire() and alert_clear() run
 * decide() on the row they have just written, in the caller's transaction,
 * so the usual message is queued with the event itself; the sweep at the
 * start of every alert_outbox_run() runs it on the rows that may owe a
 * message later (held resolved messages, reminders, alerts whose cause
 * resolved). Every decision reads the row locked and writes it back in one
 * transaction, which is what keeps two sweeping daemons from queueing one
 * reminder twice.
 *
 * Delivery. A message is one outbox row per channel. The runner leases
 * rows (store_alert_outbox_claim), sends them, and records the outcome
 * only while it still holds the lease; a failure is retried with the
 * [retry] policy (or the channel's retry_after), and after max_retries, or
 * at once when the channel says retrying cannot help, the row is marked
 * failed and counted, and the other channels are told that a message was
 * lost (tell_others). A channel may decline messages it does not carry
 * (notify_accepts): no row is queued for it. A daemon that dies mid-send leaves a lease that
 * lapses, and the row is sent again: delivery is at least once, and twice
 * only when a process died (or its lease ran out) between sending and
 * recording.
 *
 * Threads. The manager's own state is immutable after alert_manager_new()
 * but for the sender's fields, which `lock` guards. Each caller brings its
 * own store connection; the sender thread opens its own.
 */
#include "alert/alert.h"

#include "resilience/retry.h"
#include "sched/service.h"
#include "store/alerts.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define SENT_METRIC    "alerts_sent_total"
#define FAILED_METRIC  "alerts_failed_total"
#define RETRIES_METRIC "retries_total"

/* Defaults when there are no settings: those of the [alerts] and [retry] sections. */
#define DEFAULT_COOLDOWN_MS (15 * 60 * 1000LL)
#define DEFAULT_REPEAT_MS   (4 * 3600 * 1000LL)

/*
 * How long a claimed message is ours. Longer than any send (a channel's
 * timeouts and Telegram's pacing of a long message), short enough that a
 * message claimed by a daemon that died is retried within minutes.
 */
#define LEASE_MS (5 * 60 * 1000LL)
/*
 * A channel that says when to come back (Telegram's flood control, a
 * Retry-After) is not failing: such waits do not use up [retry]
 * max_retries, up to this many attempts in all. Several daemons sharing
 * one chat each pace themselves, so together they are told to wait often.
 */
#define FLOOD_ATTEMPTS_MAX 60
/* Messages claimed per channel at once. */
#define CLAIM_BATCH 16
/* The sender runs at least this often, and sends this many per run. */
#define SENDER_TICK_MS 1000
#define SENDER_BATCH   64

struct alert_manager {
    struct notify_channel **channels; /* borrowed */
    size_t nchannels;
    struct metrics *metrics;
    struct retry_clock clock; /* the caller's, or the real one */
    char *instance;
    int64_t cooldown_ms;
    int64_t repeat_ms; /* 0: no reminders */
    struct retry_policy retry;

    /*
     * The sender, a background service (sched/service.h). `lock` guards
     * `sender`, which any thread may wake while start/stop (called by
     * the owner from one thread) set and clear it. `last_error` is the
     * sender thread's own.
     */
    pthread_mutex_t lock;
    struct service *sender;
    struct strbuf last_error;
};

/* --- names ------------------------------------------------------------- */

/*
 * The severity names of the schema. The manager converts with these
 * rather than notify.c's, so that it depends on the channels only through
 * their ops.
 */
static const char *const severity_names[] = {
    [NOTIFY_INFO] = "info",
    [NOTIFY_WARNING] = "warning",
    [NOTIFY_CRITICAL] = "critical",
};

const char *alert_severity_name(enum notify_severity s)
{
    if ((size_t)s >= ARRAY_SIZE(severity_names))
        BUG("alert: severity %d", (int)s);
    return severity_names[s];
}

static int severity_parse(const char *name, enum notify_severity *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(severity_names); i++) {
        if (!strcmp(name, severity_names[i])) {
            *out = (enum notify_severity)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

static const char *const state_names[] = {
    [ALERT_FIRING] = "firing",
    [ALERT_RESOLVED] = "resolved",
};

const char *alert_state_name(enum alert_state s)
{
    if ((size_t)s >= ARRAY_SIZE(state_names))
        BUG("alert: state %d", (int)s);
    return state_names[s];
}

int alert_state_parse(const char *name, enum alert_state *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(state_names); i++) {
        if (!strcmp(name, state_names[i])) {
            *out = (enum alert_state)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

/* --- the manager --------------------------------------------------------- */

static int64_t real_now_ms(void *arg)
{
    (void)arg;
    return time_wall_ms();
}

static bool real_sleep_ms(void *arg, int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    (void)arg;
    nanosleep(&ts, NULL);
    return true;
}

static char *default_instance(void)
{
    struct strbuf sb = STRBUF_INIT;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    strbuf_addf(&sb, "%s:%ld:alerts", host[0] ? host : "localhost", (long)getpid());
    return strbuf_detach(&sb, NULL);
}

struct alert_manager *alert_manager_new(const struct alerts_settings *alerts,
                                        const struct retry_settings *retry,
                                        struct notify_channel **channels, size_t nchannels,
                                        struct metrics *metrics, const struct retry_clock *clock,
                                        const char *instance)
{
    struct alert_manager *am = xcalloc(1, sizeof(*am));

    am->channels = channels;
    am->nchannels = nchannels;
    am->metrics = metrics;
    if (clock)
        am->clock = *clock;
    else
        am->clock = (struct retry_clock){.now_ms = real_now_ms, .sleep_ms = real_sleep_ms};
    am->instance = instance && *instance ? xstrdup(instance) : default_instance();
    am->cooldown_ms = alerts ? alerts->cooldown * 1000 : DEFAULT_COOLDOWN_MS;
    am->repeat_ms = alerts ? alerts->repeat_interval * 1000 : DEFAULT_REPEAT_MS;
    if (retry) {
        am->retry.max_retries = (int)retry->max_retries;
        am->retry.base_ms = retry->base_delay * 1000;
        am->retry.max_ms = retry->max_delay * 1000;
    } else {
        am->retry = (struct retry_policy){.max_retries = 5, .base_ms = 5000, .max_ms = 120000};
    }
    pthread_mutex_init(&am->lock, NULL);
    strbuf_init(&am->last_error, 0);

    metrics_declare(metrics, SENT_METRIC, METRIC_COUNTER,
                    "Alert messages delivered, by channel and severity.");
    metrics_declare(metrics, FAILED_METRIC, METRIC_COUNTER,
                    "Alert messages given up after the last retry, by channel.");
    metrics_declare(metrics, RETRIES_METRIC, METRIC_COUNTER,
                    "Retries of outbound calls, by operation.");
    return am;
}

void alert_manager_free(struct alert_manager *am)
{
    if (!am)
        return;
    alert_sender_stop(am);
    pthread_mutex_destroy(&am->lock);
    strbuf_release(&am->last_error);
    free(am->instance);
    free(am);
}

static int64_t am_now(const struct alert_manager *am)
{
    return am->clock.now_ms(am->clock.arg);
}

static void wake_sender(struct alert_manager *am)
{
    pthread_mutex_lock(&am->lock);
    service_wake(am->sender);
    pthread_mutex_unlock(&am->lock);
}

/* Drop what was appended to `err` since `mark` (an expected CK_ENOTFOUND). */
static void err_rewind(struct strbuf *err, size_t mark)
{
    strbuf_setlen(err, mark);
}

/*
 * The caller's transaction, or one of our own: writes about one event
 * (the alert's row, its outbox rows, the alerts it let go) commit
 * together.
 */
static int tx_begin(struct store *st, bool *owned, struct strbuf *err)
{
    *owned = !store_in_transaction(st);
    return *owned ? store_begin(st, err) : 0;
}

static int tx_end(struct store *st, bool owned, int rc, struct strbuf *err)
{
    if (!owned)
        return rc;
    if (rc) {
        struct strbuf ignored = STRBUF_INIT;
        store_rollback(st, &ignored);
        strbuf_release(&ignored);
        return rc;
    }
    return store_commit(st, err);
}

/* --- decisions ------------------------------------------------------------ */

enum owed {
    OWE_NOTHING,
    OWE_FIRING,
    OWE_REMINDER,
    OWE_RESOLVED,
};

static const char *const owed_kind[] = {
    [OWE_FIRING] = "firing",
    [OWE_REMINDER] = "reminder",
    [OWE_RESOLVED] = "resolved",
};

static bool told_firing(const struct alert_row *r)
{
    return !strcmp(r->notified_state, "firing");
}

/* The message row `r` owes at `now` (see the top of the file). */
static enum owed decide(const struct alert_manager *am, const struct alert_row *r, int64_t now)
{
    bool cooled = !r->last_notified_ms || now >= r->last_notified_ms + am->cooldown_ms;

    if (r->firing) {
        if (*r->inhibited_by)
            return OWE_NOTHING;
        if (!told_firing(r))
            return cooled ? OWE_FIRING : OWE_NOTHING;
        if (am->repeat_ms > 0 && now >= r->last_notified_ms + am->repeat_ms)
            return OWE_REMINDER;
        return OWE_NOTHING;
    }
    if (told_firing(r) && cooled)
        return OWE_RESOLVED;
    return OWE_NOTHING;
}

static void set_str(char **field, const char *v)
{
    free(*field);
    *field = xstrdup(v ? v : "");
}

/* Record in `r` that message `owed` is queued at `now`. */
static void note_told(struct alert_row *r, enum owed owed, int64_t now)
{
    set_str(&r->notified_state, owed == OWE_RESOLVED ? "resolved" : "firing");
    r->last_notified_ms = now;
    r->times_sent++;
}

/*
 * Queue `kind` with `title` and `details` to every channel that wants it
 * (notify_accepts), but `skip` (NULL: none).
 */
static int queue_to(struct alert_manager *am, struct store *st, const struct notify_channel *skip,
                    const char *key, const char *severity, const char *kind, const char *title,
                    const char *details, int64_t event_ms, int64_t now, struct strbuf *err)
{
    enum notify_severity sev = NOTIFY_CRITICAL;

    /* The names are this file's own; an unknown one (never written here) counts as critical. */
    severity_parse(severity, &sev);
    for (size_t i = 0; i < am->nchannels; i++) {
        if (am->channels[i] == skip || !notify_accepts(am->channels[i], kind, sev))
            continue;
        struct alert_outbox_row o = {
            .channel = (char *)notify_channel_name(am->channels[i]),
            .alert_key = (char *)key,
            .severity = (char *)severity,
            .kind = (char *)kind,
            .title = (char *)title,
            .details = (char *)details,
            .event_ms = event_ms,
            .created_ms = now,
            .due_ms = now,
        };
        int rc = store_alert_outbox_add(st, &o, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Queue `kind` with `title` and `details` to every channel that wants it. */
static int queue_message(struct alert_manager *am, struct store *st, const char *key,
                         const char *severity, const char *kind, const char *title,
                         const char *details, int64_t event_ms, int64_t now, struct strbuf *err)
{
    return queue_to(am, st, NULL, key, severity, kind, title, details, event_ms, now, err);
}

/* Queue the message `owed` of alert `r` (already noted in `r`). */
static int queue_owed(struct alert_manager *am, struct store *st, const struct alert_row *r,
                      enum owed owed, int64_t now, struct strbuf *err)
{
    int64_t event = owed == OWE_RESOLVED ? r->resolved_ms : r->last_seen_ms;
    if (owed == OWE_NOTHING)
        return 0;
    return queue_message(am, st, r->key, r->severity, owed_kind[owed], r->title, r->details, event,
                         now, err);
}

/* Decide about the locked row `r`, write it and queue what it owes. */
static int settle(struct alert_manager *am, struct store *st, struct alert_row *r, int64_t now,
                  struct strbuf *err)
{
    enum owed owed = decide(am, r, now);
    int rc;

    if (owed != OWE_NOTHING)
        note_told(r, owed, now);
    r->updated_ms = now;
    rc = store_alert_update(st, r, err);
    if (!rc)
        rc = queue_owed(am, st, r, owed, now, err);
    return rc;
}

static int is_firing(struct store *st, const char *key, bool *out, struct strbuf *err)
{
    struct alert_row r;
    size_t mark = err->len;
    int rc = store_alert_get(st, key, false, &r, err);

    *out = false;
    if (rc == CK_ENOTFOUND) {
        err_rewind(err, mark);
        return 0;
    }
    if (!rc)
        *out = r.firing;
    alert_row_release(&r);
    return rc;
}

static int check_event(const struct alert_event *ev, struct strbuf *err)
{
    if (!ev->key || !*ev->key) {
        strbuf_addstr(err, "alert: an event without a key");
        return CK_EINVAL;
    }
    if (!ev->title || !*ev->title) {
        strbuf_addf(err, "alert: event '%s' has no title", ev->key);
        return CK_EINVAL;
    }
    if ((size_t)ev->severity >= ARRAY_SIZE(severity_names)) {
        strbuf_addf(err, "alert: event '%s' has severity %d", ev->key, (int)ev->severity);
        return CK_EINVAL;
    }
    return 0;
}

static int fire_tx(struct alert_manager *am, struct store *st, const struct alert_event *ev,
                   struct strbuf *err)
{
    const char *cause = ev->inhibited_by;
    int64_t now = ev->now_ms;
    bool inhibited = false;
    struct alert_row r;
    int rc = 0;

    if (cause && *cause && strcmp(cause, ev->key))
        rc = is_firing(st, cause, &inhibited, err);
    if (rc)
        return rc;

    for (int attempt = 0;; attempt++) {
        size_t mark = err->len;
        bool inserted;

        rc = store_alert_get(st, ev->key, true, &r, err);
        if (rc != CK_ENOTFOUND)
            break;
        err_rewind(err, mark);
        if (attempt > 0) {
            /* Only a transaction isolation other than the store's could get here. */
            strbuf_addf(err, "alert: '%s' was recorded by another process but cannot be read",
                        ev->key);
            return CK_ECONFLICT;
        }
        /* A new key: the first fire of its first episode. */
        r = (struct alert_row){
            .key = xstrdup(ev->key),
            .severity = xstrdup(alert_severity_name(ev->severity)),
            .firing = true,
            .title = xstrdup(ev->title),
            .details = xstrdup(ev->details ? ev->details : ""),
            .inhibited_by = xstrdup(inhibited ? cause : ""),
            .first_seen_ms = now,
            .last_seen_ms = now,
            .notified_state = xstrdup(""),
            .updated_ms = now,
        };
        enum owed owed = decide(am, &r, now);
        if (owed != OWE_NOTHING)
            note_told(&r, owed, now);
        rc = store_alert_insert(st, &r, &inserted, err);
        if (!rc && inserted)
            rc = queue_owed(am, st, &r, owed, now, err);
        if (rc || inserted) {
            alert_row_release(&r);
            return rc;
        }
        /* Another process inserted it first: decide on its row. */
        alert_row_release(&r);
    }
    if (rc)
        return rc;

    if (!r.firing) {
        /*
         * It fires again. While its resolved message is still held,
         * operators know it as firing: the same episode goes on.
         * Otherwise a new one starts.
         */
        if (!told_firing(&r))
            r.first_seen_ms = now;
        r.firing = true;
        r.resolved_ms = 0;
    }
    /* Daemons' clocks and events may disagree by a little: last_seen never goes back. */
    if (now > r.last_seen_ms)
        r.last_seen_ms = now;
    set_str(&r.severity, alert_severity_name(ev->severity));
    set_str(&r.title, ev->title);
    set_str(&r.details, ev->details);
    set_str(&r.inhibited_by, inhibited ? cause : "");
    rc = settle(am, st, &r, now, err);
    alert_row_release(&r);
    return rc;
}

int alert_fire(struct alert_manager *am, struct store *st, const struct alert_event *ev,
               struct strbuf *err)
{
    bool owned;
    int rc = check_event(ev, err);

    if (rc || (rc = tx_begin(st, &owned, err)))
        return rc;
    rc = fire_tx(am, st, ev, err);
    rc = tx_end(st, owned, rc, err);
    if (!rc)
        wake_sender(am);
    return rc;
}

/*
 * Let go the firing alerts held back by `cause` (which no longer fires):
 * each is decided on again and queued unless it owes nothing.
 */
static int release_inhibited(struct alert_manager *am, struct store *st, const char *cause,
                             int64_t now, struct strbuf *err)
{
    struct alert_query q = {.state = "firing", .inhibited_by = cause};
    struct alert_row *v;
    size_t n;
    int rc = store_alert_list(st, &q, &v, &n, err);

    for (size_t i = 0; !rc && i < n; i++) {
        struct alert_row r;
        rc = store_alert_get(st, v[i].key, true, &r, err);
        if (!rc && r.firing && !strcmp(r.inhibited_by, cause)) {
            set_str(&r.inhibited_by, "");
            rc = settle(am, st, &r, now, err);
        }
        alert_row_release(&r);
    }
    alert_rows_free(v, n);
    return rc;
}

static int clear_tx(struct alert_manager *am, struct store *st, const char *key,
                    const char *details, int64_t now, struct strbuf *err)
{
    size_t mark = err->len;
    struct alert_row r;
    int rc = store_alert_get(st, key, true, &r, err);

    if (rc == CK_ENOTFOUND) {
        err_rewind(err, mark);
        return 0;
    }
    if (!rc && r.firing) {
        r.firing = false;
        r.resolved_ms = now;
        set_str(&r.details, details);
        set_str(&r.inhibited_by, "");
        rc = settle(am, st, &r, now, err);
        if (!rc)
            rc = release_inhibited(am, st, key, now, err);
    }
    alert_row_release(&r);
    return rc;
}

int alert_clear(struct alert_manager *am, struct store *st, const char *key, const char *details,
                int64_t now_ms, struct strbuf *err)
{
    bool owned;
    int rc;

    if (!key || !*key) {
        strbuf_addstr(err, "alert: clear without a key");
        return CK_EINVAL;
    }
    rc = tx_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = clear_tx(am, st, key, details, now_ms, err);
    rc = tx_end(st, owned, rc, err);
    if (!rc)
        wake_sender(am);
    return rc;
}

int alert_notice(struct alert_manager *am, struct store *st, enum notify_severity severity,
                 const char *kind, const char *title, const char *details, int64_t now_ms,
                 struct strbuf *err)
{
    bool owned;
    int rc;

    if (!kind || !*kind || !title || !*title) {
        strbuf_addf(err, "alert: a notice needs a kind and a title");
        return CK_EINVAL;
    }
    if ((size_t)severity >= ARRAY_SIZE(severity_names)) {
        strbuf_addf(err, "alert: notice '%s' has severity %d", title, (int)severity);
        return CK_EINVAL;
    }
    rc = tx_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = queue_message(am, st, "", alert_severity_name(severity), kind, title,
                       details ? details : "", now_ms, now_ms, err);
    rc = tx_end(st, owned, rc, err);
    if (!rc)
        wake_sender(am);
    return rc;
}

/* --- the sweep ----------------------------------------------------------- */

/*
 * Decide again about alert `key` in a transaction of its own: lock its
 * row, let it go if `release` and its cause no longer fires, and queue
 * what it owes.
 */
static int sweep_one(struct alert_manager *am, struct store *st, const char *key, bool release,
                     int64_t now, struct strbuf *err)
{
    struct alert_row r = {0};
    bool owned, let_go = false;
    int rc = tx_begin(st, &owned, err);

    if (rc)
        return rc;
    rc = store_alert_get(st, key, true, &r, err);
    if (!rc && release && r.firing && *r.inhibited_by) {
        bool cause_fires;
        rc = is_firing(st, r.inhibited_by, &cause_fires, err);
        if (!rc && !cause_fires) {
            set_str(&r.inhibited_by, "");
            let_go = true;
        }
    }
    if (!rc && (let_go || decide(am, &r, now) != OWE_NOTHING))
        rc = settle(am, st, &r, now, err);
    alert_row_release(&r);
    return tx_end(st, owned, rc, err);
}

/*
 * Queue what is owed at `now` and not tied to an event: alerts whose
 * cause resolved while they still fire, resolved messages held by the
 * cooldown, firing messages held after a recent resolved one, reminders.
 * The candidates are read without locks; each is decided on again under
 * its lock.
 */
static int sweep(struct alert_manager *am, struct store *st, int64_t now, struct strbuf *err)
{
    struct alert_query q = {.owing = true};
    struct alert_row *v = NULL;
    size_t n = 0;
    int rc = store_alert_list_released(st, &v, &n, err);

    for (size_t i = 0; !rc && i < n; i++)
        rc = sweep_one(am, st, v[i].key, true, now, err);
    alert_rows_free(v, n);
    if (rc)
        return rc;

    rc = store_alert_list(st, &q, &v, &n, err);
    for (size_t i = 0; !rc && i < n; i++)
        if (decide(am, &v[i], now) != OWE_NOTHING)
            rc = sweep_one(am, st, v[i].key, false, now, err);
    alert_rows_free(v, n);
    return rc;
}

/* --- the outbox runner --------------------------------------------------- */

struct run_ctx {
    struct alert_manager *am;
    struct store *st;
    int64_t now_ms;   /* the caller's now */
    int64_t clock0;   /* the clock when the run began */
    size_t attempted; /* messages tried */
    size_t sent;
};

/* The caller's now plus the time the run has taken so far. */
static int64_t run_now(const struct run_ctx *c)
{
    int64_t elapsed = am_now(c->am) - c->clock0;
    return c->now_ms + (elapsed > 0 ? elapsed : 0);
}

static void count(struct metrics *m, const char *name, const char *k1, const char *v1,
                  const char *k2, const char *v2)
{
    struct strbuf labels = STRBUF_INIT;
    if (!m)
        return;
    metrics_labels(&labels, k1, v1, k2, v2, NULL);
    metrics_add(m, name, labels.buf, 1);
    strbuf_release(&labels);
}

/*
 * A message `ch` gave up is an alert of its own on the other channels:
 * operators who rely on that channel learn that they missed something.
 * Not for the notices about lost messages themselves, so that two failing
 * channels do not feed each other.
 */
static int tell_others(struct run_ctx *c, struct notify_channel *ch,
                       const struct alert_outbox_row *o, int64_t attempts, const char *why,
                       struct strbuf *err)
{
    struct strbuf key = STRBUF_INIT, title = STRBUF_INIT, details = STRBUF_INIT;
    const char *chname = notify_channel_name(ch);
    int64_t now = run_now(c);
    int rc;

    if (c->am->nchannels < 2 || !strncmp(o->alert_key, "channel:", 8))
        return 0;
    strbuf_addf(&key, "channel:%s", chname);
    strbuf_addf(&title, "Alert message not delivered by %s", chname);
    strbuf_addf(&details, "The %s message '%s'", o->kind, o->title);
    if (*o->alert_key)
        strbuf_addf(&details, " (%s)", o->alert_key);
    strbuf_addf(&details, " was given up after %" PRId64 " attempt%s: %s", attempts,
                attempts == 1 ? "" : "s", why);
    rc = queue_to(c->am, c->st, ch, key.buf, alert_severity_name(NOTIFY_CRITICAL), "firing",
                  title.buf, details.buf, now, now, err);
    strbuf_release(&key);
    strbuf_release(&title);
    strbuf_release(&details);
    return rc;
}

/* Send claimed row `o` on `ch` and record how it went. */
static int deliver(struct run_ctx *c, struct notify_channel *ch, const struct alert_outbox_row *o,
                   struct strbuf *err)
{
    struct alert_manager *am = c->am;
    const char *chname = notify_channel_name(ch);
    enum notify_severity sev = NOTIFY_CRITICAL;
    struct notify_msg m = {
        .key = o->alert_key,
        .state = o->kind,
        .title = o->title,
        .details = o->details,
        .time = o->event_ms / 1000,
        .parts_done = (int)o->parts_done,
    };
    struct notify_result res = {
        .status = 0,
        .retryable = false,
        .retry_after_ms = -1,
        .parts_done = (int)o->parts_done,
    };
    struct strbuf why = STRBUF_INIT, rec = STRBUF_INIT;
    int64_t attempts = o->attempts + 1, t;
    int rc;

    if (severity_parse(o->severity, &sev))
        log_warn("alert: outbox row %" PRId64 " has severity '%s'; sent as critical", o->id,
                 o->severity);
    m.severity = sev;
    rc = notify_send(ch, &m, &res, &why);
    t = run_now(c);
    c->attempted++;
    if (!rc) {
        rc = store_alert_outbox_sent(c->st, o->id, am->instance, res.parts_done, t, &rec);
        if (!rc) {
            c->sent++;
            count(am->metrics, SENT_METRIC, "channel", chname, "severity",
                  alert_severity_name(sev));
        }
    } else if (res.retryable && (attempts <= am->retry.max_retries ||
                                 (res.retry_after_ms >= 0 && attempts <= FLOOD_ATTEMPTS_MAX))) {
        int64_t wait = res.retry_after_ms >= 0 ? res.retry_after_ms
                                               : retry_delay_ms(&am->retry, (int)(attempts - 1),
                                                                retry_random(&am->clock));
        log_warn("alert: %s message '%s' failed (attempt %" PRId64 "), retry in %.1fs: %s", chname,
                 o->title, attempts, (double)wait / 1000.0, why.buf);
        strbuf_reset(&rec);
        rc = store_alert_outbox_retry(c->st, o->id, am->instance, res.parts_done, t + wait, why.buf,
                                      &rec);
        if (!rc) {
            struct strbuf op = STRBUF_INIT;
            strbuf_addf(&op, "alert:%s", chname);
            count(am->metrics, RETRIES_METRIC, "operation", op.buf, NULL, NULL);
            strbuf_release(&op);
        }
    } else {
        log_error("alert: %s message '%s' given up after %" PRId64 " attempt%s: %s", chname,
                  o->title, attempts, attempts == 1 ? "" : "s", why.buf);
        rc = store_alert_outbox_failed(c->st, o->id, am->instance, res.parts_done, why.buf, &rec);
        if (!rc) {
            count(am->metrics, FAILED_METRIC, "channel", chname, NULL, NULL);
            rc = tell_others(c, ch, o, attempts, why.buf, &rec);
        }
    }
    if (rc == CK_ECONFLICT) {
        /*
         * The lease lapsed during the send and another runner took the
         * message over: it is its to record now. Not a reason to stop.
         */
        log_warn("alert: %s", rec.buf);
        rc = 0;
    } else if (rc) {
        strbuf_addbuf(err, &rec);
    }
    strbuf_release(&why);
    strbuf_release(&rec);
    return rc;
}

/* Claim and send up to `room` messages of `ch`; `*more` when the claim was full. */
static int run_channel(struct run_ctx *c, struct notify_channel *ch, size_t room, bool *more,
                       struct strbuf *err)
{
    struct alert_outbox_row *v = NULL;
    size_t n = 0, want = room < CLAIM_BATCH ? room : CLAIM_BATCH, mark = err->len;
    int64_t now = run_now(c), due;
    int rc;

    /*
     * Look before claiming: the claim is a write, and on SQLite every
     * write takes the database's one write lock, which the ingest jobs
     * need too. Most passes find nothing due.
     */
    *more = false;
    rc = store_alert_outbox_next_due(c->st, notify_channel_name(ch), &due, err);
    if (rc == CK_ENOTFOUND) {
        err_rewind(err, mark);
        return 0;
    }
    if (rc || due > now)
        return rc;
    rc = store_alert_outbox_claim(c->st, notify_channel_name(ch), now, c->am->instance,
                                  now + LEASE_MS, want, &v, &n, err);
    *more = !rc && n == want;
    for (size_t i = 0; !rc && i < n; i++)
        rc = deliver(c, ch, &v[i], err);
    alert_outbox_rows_free(v, n);
    return rc;
}

int alert_outbox_run(struct alert_manager *am, struct store *st, int64_t now_ms, size_t max,
                     size_t *sent, int64_t *next_due_ms, struct strbuf *err)
{
    struct run_ctx c = {.am = am, .st = st, .now_ms = now_ms, .clock0 = am_now(am)};
    bool more = true;
    int rc;

    if (sent)
        *sent = 0;
    if (next_due_ms)
        *next_due_ms = 0;
    if (store_in_transaction(st))
        BUG("alert_outbox_run inside a transaction");
    if (!max)
        max = SIZE_MAX;
    rc = sweep(am, st, now_ms, err);
    while (!rc && more && c.attempted < max) {
        more = false;
        for (size_t i = 0; !rc && i < am->nchannels && c.attempted < max; i++) {
            bool full;
            rc = run_channel(&c, am->channels[i], max - c.attempted, &full, err);
            more = more || full;
        }
    }
    if (sent)
        *sent = c.sent;
    for (size_t i = 0; !rc && next_due_ms && i < am->nchannels; i++) {
        size_t mark = err->len;
        int64_t due;
        int r = store_alert_outbox_next_due(st, notify_channel_name(am->channels[i]), &due, err);
        if (r == CK_ENOTFOUND)
            err_rewind(err, mark);
        else if (r)
            rc = r;
        else if (!*next_due_ms || due < *next_due_ms)
            *next_due_ms = due;
    }
    return rc;
}

/* --- the sender ------------------------------------------------------------- */

/*
 * One pass of the sender: run the outbox on the service's connection.
 * Returns how long to wait before the next pass. Database trouble is
 * logged when it starts or changes and when it ends, not every second; a
 * connection that failed is closed and opened again next pass.
 */
static int64_t sender_pass(struct service *svc, void *arg)
{
    struct alert_manager *am = arg;
    struct strbuf err = STRBUF_INIT, *last = &am->last_error;
    struct store *st = service_store(svc, &err);
    int64_t wait = SENDER_TICK_MS, next = 0, now;
    size_t sent = 0;
    int rc = st ? 0 : CK_EIO;

    if (st) {
        now = am_now(am);
        rc = alert_outbox_run(am, st, now, SENDER_BATCH, &sent, &next, &err);
        if (!rc && sent == SENDER_BATCH)
            wait = 0;
        else if (!rc && next && next - now < wait)
            wait = next > now ? next - now : 0;
    }
    if (rc) {
        if (strcmp(last->buf, err.buf)) {
            log_warn("alert: cannot run the outbox, trying again every second: %s", err.buf);
            strbuf_reset(last);
            strbuf_addbuf(last, &err);
        }
        if (rc == CK_EIO)
            service_store_drop(svc);
        wait = SENDER_TICK_MS;
    } else if (last->len) {
        log_info("alert: the outbox runs again");
        strbuf_reset(last);
    }
    strbuf_release(&err);
    /*
     * Due now but not claimed in this pass (queued meanwhile, or the
     * batch was used up by failures): soon, without spinning.
     */
    if (!wait && sent < SENDER_BATCH)
        wait = 50;
    return wait;
}

int alert_sender_start(struct alert_manager *am, const char *store_url, struct strbuf *err)
{
    struct service *svc;
    int rc;

    if (!store_url || !*store_url) {
        strbuf_addstr(err, "alert: the sender needs a store URL");
        return CK_EINVAL;
    }
    pthread_mutex_lock(&am->lock);
    if (am->sender)
        BUG("alert_sender_start: already running");
    pthread_mutex_unlock(&am->lock);
    strbuf_reset(&am->last_error);
    struct service_config sc = {
        .name = "alert sender",
        .pass = sender_pass,
        .arg = am,
        .store_url = store_url,
    };
    rc = service_start(&svc, &sc, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&am->lock);
    am->sender = svc;
    pthread_mutex_unlock(&am->lock);
    return 0;
}

void alert_sender_stop(struct alert_manager *am)
{
    struct service *svc;

    pthread_mutex_lock(&am->lock);
    svc = am->sender;
    am->sender = NULL;
    pthread_mutex_unlock(&am->lock);
    service_stop(svc);
}

/* --- listing ---------------------------------------------------------------- */

void alert_infos_free(struct alert_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].key);
        free(v[i].title);
        free(v[i].details);
        free(v[i].inhibited_by);
    }
    free(v);
}

int alert_list(struct store *st, const enum alert_state *state, size_t limit,
               struct alert_info **out, size_t *n, struct strbuf *err)
{
    struct alert_query q = {.state = state ? alert_state_name(*state) : NULL, .limit = limit};
    struct alert_row *rows;
    struct alert_info *v;
    size_t nrows;
    int rc = store_alert_list(st, &q, &rows, &nrows, err);

    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    v = xcalloc(nrows ? nrows : 1, sizeof(*v));
    for (size_t i = 0; i < nrows; i++) {
        struct alert_row *r = &rows[i];
        if (severity_parse(r->severity, &v[i].severity)) {
            strbuf_addf(err, "alert: '%s' has severity '%s'", r->key, r->severity);
            alert_infos_free(v, i);
            alert_rows_free(rows, nrows);
            return CK_EPARSE;
        }
        v[i].state = r->firing ? ALERT_FIRING : ALERT_RESOLVED;
        v[i].key = r->key;
        v[i].title = r->title;
        v[i].details = r->details;
        v[i].inhibited_by = r->inhibited_by;
        r->key = r->title = r->details = r->inhibited_by = NULL;
        v[i].first_seen_ms = r->first_seen_ms;
        v[i].last_seen_ms = r->last_seen_ms;
        v[i].resolved_ms = r->resolved_ms;
        v[i].last_notified_ms = r->last_notified_ms;
        v[i].times_sent = r->times_sent;
    }
    alert_rows_free(rows, nrows);
    *out = v;
    *n = nrows;
    return 0;
}
