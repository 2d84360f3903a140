/* SPDX-License-Identifier: MIT */
#ifndef CK_ALERT_ALERT_H
#define CK_ALERT_ALERT_H

#include "alert/notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics;
struct retry_settings;
struct store;
struct strbuf;
struct retry_clock;

/*
 * The alert manager: turns conditions into few, useful messages.
 *
 * A condition is reported by key ("job:refresh_candles_M15",
 * "breaker:twelvedata", "stale:twelvedata:XAU/USD:M15", ...) every time it
 * is observed (alert_fire) and cleared when it is seen to be gone
 * (alert_clear). The manager keeps one row per key in the database and
 * decides what operators hear:
 *
 *   - the first fire of an episode queues one "firing" message;
 *   - further fires while it stays firing are silent, except a "reminder"
 *     every repeat_interval (settings alerts.repeat_interval, default 4 h;
 *     0 = never);
 *   - a clear of a key whose firing message went out queues one
 *     "resolved" message;
 *   - cooldown (alerts.cooldown / ALERT_COOLDOWN_MINUTES, default 15 min):
 *     a key that fires again within the cooldown after its last message
 *     does not queue a new firing message (the flapping is shown as one
 *     episode), and a clear within the cooldown after the firing message
 *     is held until the cooldown ends (the resolved message then goes out
 *     if it is still clear). Precisely: a clear whose resolved message is
 *     still held and a fire again are one episode, and nothing is queued;
 *     a fire within the cooldown after a resolved message that did go out
 *     starts a new episode whose firing message waits for the end of the
 *     cooldown and goes out then if it still fires;
 *   - inhibition: an event may name `inhibited_by`, the key of an alert
 *     that causes it (a provider's breaker for its per-symbol and per-job
 *     alerts); while that alert is firing, the event is recorded but no
 *     message is queued (no reminder either), and when its cause resolves
 *     without it having cleared, it is queued then. An alert that clears
 *     while held back was never told and says nothing.
 *
 * Messages go through the outbox (table alert_outbox): one row per channel
 * that wants the message (notify_accepts(): email takes no reminders, for
 * one), written in the caller's transaction when there is one, and sent by
 * alert_outbox_run() with the retry policy, so a message raised while a
 * channel is unreachable, or before a restart, is delivered later. Several
 * processes may run the outbox at once: each row is leased while sent.
 *
 * The state (what operators were told of each key, and when) lives in the
 * alert's row, never in memory, so several daemons on one database, the
 * CLI and a restarted daemon decide alike; each decision reads the row
 * locked and writes it in one transaction.
 *
 * All functions take the caller's store connection (each thread has its
 * own) and are thread-safe. Times are Unix ms. Titles and details are
 * plain text, passed to the channels unchanged (they escape). Nothing
 * here logs secrets; the outbox runner logs failed sends (warn) and
 * messages given up (error).
 */
struct alert_manager;

struct alert_event {
    const char *key;
    enum notify_severity severity;
    const char *title;        /* "Candle refresh failing" */
    const char *details;      /* "M15 refresh has failed 3 consecutive times: <error>" */
    const char *inhibited_by; /* key of the alert that causes this one, or NULL */
    int64_t now_ms;
};

/* [alerts]: when operators hear of a problem (seconds). */
struct alerts_settings {
    int64_t failure_threshold;
    int64_t cooldown;
    int64_t repeat_interval;
};

/*
 * `alerts` and `retry` (both NULL: the defaults of [alerts] and [retry])
 * set cooldown, reminders and the outbox's retries. `channels` are
 * borrowed (notify_channels_new()); `metrics` (may be NULL)
 * gets alerts_sent_total{channel,severity} and alerts_failed_total{channel};
 * `clock` (may be NULL: real time) is used by the outbox for now and
 * backoff; `instance` names this process in leases.
 */
struct alert_manager *alert_manager_new(const struct alerts_settings *alerts,
                                        const struct retry_settings *retry,
                                        struct notify_channel **channels, size_t nchannels,
                                        struct metrics *metrics, const struct retry_clock *clock,
                                        const char *instance);
void alert_manager_free(struct alert_manager *am);

/*
 * The condition of ev->key is seen (now). Records it (severity, title and
 * details are the latest seen) and queues what is owed: the firing
 * message of a new episode, or a reminder that is due. Joins the caller's
 * transaction when there is one, else runs in its own. CK_EINVAL for an
 * event without a key or title or with an unknown severity.
 */
int alert_fire(struct alert_manager *am, struct store *st, const struct alert_event *ev,
               struct strbuf *err);
/*
 * The condition of `key` is gone; a key never fired, or already resolved,
 * is a no-op. `details` (may be NULL) replaces the alert's details and is
 * the resolved message's. Alerts held back by `key` are let go.
 * Transactions as alert_fire().
 */
int alert_clear(struct alert_manager *am, struct store *st, const char *key, const char *details,
                int64_t now_ms, struct strbuf *err);

/*
 * A message that is not an alert (the digest, a new signal, an outcome, a
 * dead letter's notice is an alert): queued to every channel as is.
 * `kind` is the notify_msg state ("digest", "signal", "outcome").
 */
int alert_notice(struct alert_manager *am, struct store *st, enum notify_severity severity,
                 const char *kind, const char *title, const char *details, int64_t now_ms,
                 struct strbuf *err);

/*
 * Send what is due in the outbox (and first queue the held resolved and
 * firing messages whose cooldown ended, reminders that are due, and
 * alerts whose cause resolved): at most `max` attempts (0: no limit);
 * `*sent` (may be NULL) gets how many went out. A failed send is
 * rescheduled with the retry policy ([retry]: base * 2^attempt capped at
 * max_delay, plus up to 10% jitter), or after the channel's
 * retry_after_ms when it gave one; after max_retries retries, or at once
 * when the channel says retrying cannot help, it is marked failed and
 * counted, and the other channels are sent a critical "Alert message not
 * delivered by <channel>" (key "channel:<name>"; not for such notices
 * themselves). Each row is leased while it is sent, so several processes may
 * run the outbox at once. `*next_due_ms` (may be NULL) gets when the next
 * pending row of these channels can be sent (0: none). Not inside a
 * transaction. Returns a database error (the run stops there; what was
 * sent is recorded).
 */
int alert_outbox_run(struct alert_manager *am, struct store *st, int64_t now_ms, size_t max,
                     size_t *sent, int64_t *next_due_ms, struct strbuf *err);

/*
 * The sender thread of `candlekeep run`: opens its own connection to
 * `store_url`, runs the outbox when woken (alert_fire/clear/notice wake it)
 * and at least every second. A database that fails (or is not there yet)
 * is logged when the trouble starts and ends and tried again every
 * second; the thread never gives up. stop() waits for the send in flight;
 * it is harmless when the sender is not running, and alert_manager_free()
 * calls it.
 */
int alert_sender_start(struct alert_manager *am, const char *store_url, struct strbuf *err);
void alert_sender_stop(struct alert_manager *am);

/* Listing, for `candlekeep alerts` and GET /alerts. */
enum alert_state {
    ALERT_FIRING,
    ALERT_RESOLVED,
};
const char *alert_state_name(enum alert_state s);
int alert_state_parse(const char *name, enum alert_state *out);
/*
 * "info", "warning", "critical": the names of the schema and of the API,
 * as notify_severity_name() spells them (the manager and its listings do
 * not depend on the channels' code).
 */
const char *alert_severity_name(enum notify_severity s);

struct alert_info {
    char *key;
    enum notify_severity severity;
    enum alert_state state;
    char *title;
    char *details;
    char *inhibited_by; /* "" when not held back */
    int64_t first_seen_ms, last_seen_ms;
    int64_t resolved_ms;      /* 0 while firing */
    int64_t last_notified_ms; /* when the last message was queued; 0: never */
    int64_t times_sent;       /* messages queued for it: firing, reminders, resolved */
};
void alert_infos_free(struct alert_info *v, size_t n);

/* Alerts, newest activity first; `state` NULL for all; limit 0 = all. */
int alert_list(struct store *st, const enum alert_state *state, size_t limit,
               struct alert_info **out, size_t *n, struct strbuf *err);

#endif
