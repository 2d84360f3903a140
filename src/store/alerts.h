/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_ALERTS_H
#define CK_STORE_ALERTS_H

/*
 * The store's alert tables (schema 4): one row per alert key with its
 * state and what operators were last told of it, and the outbox of
 * messages to the channels, one row per channel and message. The policy
 * (dedupe, cooldown, reminders, inhibition, retries) is the alert
 * manager's (alert/alert.c); this layer only reads and writes rows, with
 * the locking the manager needs to decide the same way in several
 * processes at once.
 *
 * Same conventions as store.h: 0 or CK_E* with a message in `err`; times
 * are Unix ms; strings in rows are owned by the row. Writes of one
 * statement are atomic on their own; the caller brackets the ones that
 * belong together with store_begin()/store_commit().
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/* An alert's row. Severity and states are the names the schema checks. */
struct alert_row {
    char *key;
    char *severity; /* "info", "warning", "critical" */
    bool firing;    /* state "firing", else "resolved" */
    char *title;
    char *details;
    char *inhibited_by; /* key of the firing alert holding this one back; "" none */
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t resolved_ms;      /* 0 while firing */
    int64_t last_notified_ms; /* when the last message was queued; 0 never */
    char *notified_state;     /* what that message said: "", "firing", "resolved" */
    int64_t times_sent;       /* messages queued for it (firing, reminders, resolved) */
    int64_t updated_ms;
};
void alert_row_release(struct alert_row *r);
void alert_rows_free(struct alert_row *v, size_t n);

/*
 * Read alert `key`; CK_ENOTFOUND when it has no row. With `lock` (only
 * inside a transaction; a BUG() otherwise) the row stays locked until the
 * transaction ends, so that two processes deciding about one key take
 * turns: PostgreSQL locks the row (FOR UPDATE); on SQLite the write lock
 * of the transaction (IMMEDIATE) already excludes every other writer.
 */
int store_alert_get(struct store *st, const char *key, bool lock, struct alert_row *out,
                    struct strbuf *err);
/*
 * Insert `r` unless its key has a row; `*inserted` says which. Two
 * processes inserting one new key at once: one inserts, the other is told
 * it did not (and reads the row with store_alert_get()).
 */
int store_alert_insert(struct store *st, const struct alert_row *r, bool *inserted,
                       struct strbuf *err);
/* Write every field of the row of r->key; CK_ENOTFOUND when it has none. */
int store_alert_update(struct store *st, const struct alert_row *r, struct strbuf *err);

/* Which alerts to list; NULL and 0 mean "any". */
struct alert_query {
    const char *state;        /* "firing" or "resolved" */
    const char *inhibited_by; /* held back by this key */
    bool owing;               /* firing, or resolved since a firing message: a message may be due */
    size_t limit;
};
/* Newest activity (updated_at) first, then by key. */
int store_alert_list(struct store *st, const struct alert_query *q, struct alert_row **out,
                     size_t *n, struct strbuf *err);
/*
 * Firing alerts held back by an alert that is not firing (any more): the
 * cause resolved, or never had a row. Newest first.
 */
int store_alert_list_released(struct store *st, struct alert_row **out, size_t *n,
                              struct strbuf *err);

/* --- the outbox -------------------------------------------------------- */

enum alert_outbox_status {
    OUTBOX_PENDING,
    OUTBOX_SENT,
    OUTBOX_FAILED,
};
const char *alert_outbox_status_name(enum alert_outbox_status s);
int alert_outbox_status_parse(const char *name, enum alert_outbox_status *out);

struct alert_outbox_row {
    int64_t id;
    char *channel;   /* notify_ops name: "telegram", "webhook" */
    char *alert_key; /* "" for a notice */
    char *severity;
    char *kind; /* the notify_msg state: "firing", "reminder", "resolved", "digest", ... */
    char *title;
    char *details;
    int64_t event_ms; /* when the condition was seen */
    int64_t created_ms;
    int64_t due_ms; /* next attempt not before */
    int64_t attempts;
    int64_t parts_done;
    enum alert_outbox_status status;
    char *last_error;   /* "" none */
    int64_t sent_ms;    /* 0 until sent */
    char *lease_holder; /* "" when free */
    int64_t lease_until_ms;
};
void alert_outbox_rows_free(struct alert_outbox_row *v, size_t n);

/*
 * Queue a message: pending, due at r->due_ms, no attempts; the other
 * fields as given (attempts, status, sent and lease are ignored). Sets
 * r->id.
 */
int store_alert_outbox_add(struct store *st, struct alert_outbox_row *r, struct strbuf *err);

/*
 * Lease up to `max` rows of `channel` that are pending, due (due_at <=
 * now_ms) and not leased (lease_until < now_ms: free, or its holder's
 * lease lapsed), the oldest due first, to `holder` until `lease_until_ms`.
 * Atomic: of two claimers, each row goes to one of them (one UPDATE; on
 * PostgreSQL its rows are picked FOR UPDATE SKIP LOCKED, so claimers do
 * not wait for one another). Not inside a transaction: the lease must be
 * visible to the others before the message is sent.
 */
int store_alert_outbox_claim(struct store *st, const char *channel, int64_t now_ms,
                             const char *holder, int64_t lease_until_ms, size_t max,
                             struct alert_outbox_row **out, size_t *n, struct strbuf *err);

/*
 * The end of an attempt at row `id`, written only while `holder` still
 * holds its lease (else CK_ECONFLICT, nothing written): one more attempt,
 * `parts_done` kept, the lease given up, and
 *   sent:   status sent at `now_ms`;
 *   retry:  still pending, due at `due_ms`, with `error`;
 *   failed: status failed, with `error` (the retries are used up, or the
 *           channel refused the message for good).
 */
int store_alert_outbox_sent(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                            int64_t now_ms, struct strbuf *err);
int store_alert_outbox_retry(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                             int64_t due_ms, const char *error, struct strbuf *err);
int store_alert_outbox_failed(struct store *st, int64_t id, const char *holder, int64_t parts_done,
                              const char *error, struct strbuf *err);

/*
 * When the next pending row of `channel` can be claimed (the later of its
 * due time and its lease's end); CK_ENOTFOUND when none is pending.
 */
int store_alert_outbox_next_due(struct store *st, const char *channel, int64_t *out_ms,
                                struct strbuf *err);

struct alert_outbox_query {
    const enum alert_outbox_status *status; /* NULL: any */
    const char *channel;                    /* NULL: any */
    const char *alert_key;                  /* NULL: any */
    size_t limit;                           /* 0: all */
};
/* Outbox rows by id (oldest first). */
int store_alert_outbox_list(struct store *st, const struct alert_outbox_query *q,
                            struct alert_outbox_row **out, size_t *n, struct strbuf *err);
/* Rows by status (index by enum alert_outbox_status), for /health and the digest. */
int store_alert_outbox_counts(struct store *st, int64_t out[3], struct strbuf *err);
/*
 * Retention of the outbox: delete up to `batch` (0: all) messages created
 * before `before_ms` that are done with (sent or failed, never pending),
 * oldest first; `*deleted` gets how many. count_done counts them.
 */
int store_alert_outbox_prune(struct store *st, int64_t before_ms, size_t batch, int64_t *deleted,
                             struct strbuf *err);
int store_alert_outbox_count_done(struct store *st, int64_t before_ms, int64_t *out,
                                  struct strbuf *err);

#endif
