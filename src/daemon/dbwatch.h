/* SPDX-License-Identifier: MIT */
#ifndef CK_DAEMON_DBWATCH_H
#define CK_DAEMON_DBWATCH_H

#include <stdbool.h>
#include <stdint.h>

struct alert_manager;
struct sched;
struct settings;
struct strbuf;

/*
 * The database watch of `candlekeep run`: the "database" alert, raised
 * when the database has been unreachable (or, for SQLite, unwritable) for
 * more than one look, and resolved when it answers again.
 *
 * That alert cannot take the usual road: the alert outbox is a table of
 * the very database that is gone. So while the database is down the
 * firing message is sent straight through the channels (notify_send, on
 * channels of the watch's own, tried again with backoff until each has
 * taken it), and once the database is back the episode is written where
 * the rest of the alerts are:
 *
 *   - when the firing message went out directly, the "resolved" message
 *     is queued in the outbox as a notice (alert_notice, kind "resolved"),
 *     with the outage's start, end and when it was reported, so it is
 *     recorded and delivered with the outbox's retries like any other
 *     (the firing message is not queued again: operators would hear of
 *     one outage twice);
 *   - when no channel could take it either, the alert goes through the
 *     manager as usual, alert_fire() then alert_clear() of "database", and
 *     the outbox delivers both.
 *
 * Down means: this watch's own connection fails its check
 * (store_check_writable(), every `interval_ms`), or the scheduler's timer
 * thread failed its last DBWATCH_DOWN_AFTER contacts with the database
 * (sched_health()).
 * Several daemons sharing a PostgreSQL that goes away each report it:
 * without the database they cannot agree on who should.
 */
struct dbwatch_config {
    const struct settings *settings; /* storage.url and the channels (borrowed) */
    struct sched *sched;             /* may be NULL */
    struct alert_manager *am;        /* may be NULL: then the state is only watched */
    int64_t interval_ms;             /* between looks; 0: 5,000 */
};

/* Consecutive failed looks from which the database counts as down. */
#define DBWATCH_DOWN_AFTER 2

struct dbwatch;

/* Start the watch's thread. 0, or CK_E* with the reason in `err`. */
int dbwatch_start(struct dbwatch **out, const struct dbwatch_config *cfg, struct strbuf *err);
/* Stop the thread (waits for a send in flight) and free. Takes NULL. */
void dbwatch_stop(struct dbwatch *w);

/* Did the last look find the database reachable? (Thread-safe; true before the first.) */
bool dbwatch_db_ok(struct dbwatch *w);

#endif
