/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_STORE_H
#define CK_STORE_STORE_H

#include "market/candle.h"
#include "market/gaps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * The store: candlekeep's one interface to its database. A store is opened
 * from a URL, "sqlite:PATH" (or a bare path ending in .db) or
 * "postgresql://..." / "postgres://...", and its schema is migrated to the
 * current version at open.
 *
 * A `struct store` is one connection and is not thread-safe: each thread
 * (each worker of the pool) opens its own.
 *
 * All fallible functions return 0 or a negative CK_E* code with a message in
 * `err` (which never contains a password). CK_EIO means the database failed
 * (unreachable, disk full, read-only); CK_EBUSY that it stayed locked by
 * another connection past the busy timeout (worth retrying later);
 * CK_ECONFLICT that a constraint refused a write; CK_EINVAL means bad
 * arguments.
 */
struct store;

/*
 * Open and migrate. On failure nothing needs to be released. A database
 * whose schema is newer than this program knows is refused with
 * CK_ECONFIG; an unreachable or unwritable one gives CK_EIO.
 */
int store_open(struct store **out, const char *url, struct strbuf *err);
/* Close; takes NULL. Rolls back an open transaction. */
void store_close(struct store *st);
/* "sqlite" or "postgresql". */
const char *store_backend_name(const struct store *st);
/* The schema version now in the database. */
int store_schema_version(struct store *st, int *out, struct strbuf *err);
/* Is the database reachable right now (a trivial query succeeds)? */
bool store_ping(struct store *st);

/*
 * Transactions. store_begin() starts one; store_commit()/store_rollback()
 * end it. Calls do not nest: beginning inside a transaction is a BUG().
 * Functions below that write run in their own transaction when called
 * outside one, and join the caller's otherwise.
 */
int store_begin(struct store *st, struct strbuf *err);
int store_commit(struct store *st, struct strbuf *err);
int store_rollback(struct store *st, struct strbuf *err);
bool store_in_transaction(const struct store *st);

/*
 * Upsert `n` candles of series `s` (all in one transaction): a candle whose
 * (source, symbol, timeframe, open_time) exists replaces the stored values;
 * re-upserting identical values is harmless. The caller has validated them.
 */
int store_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                      size_t n, struct strbuf *err);

/* Open time of the newest stored candle of `s`; CK_ENOTFOUND if it has none. */
int store_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                      struct strbuf *err);

enum store_order {
    STORE_ASC,
    STORE_DESC,
};

/*
 * A range query: candles of `series` with start <= open_time <= end (each
 * bound only when its has_ flag is set), in `order`, at most `limit` (0 = no
 * limit).
 */
struct candle_query {
    struct series_key series;
    bool has_start, has_end;
    int64_t start, end;
    size_t limit;
    enum store_order order;
};

/* Iterators return ITER_OK with a value, ITER_DONE at the end, or a negative CK_E*. */
#define ITER_OK 0
#define ITER_DONE 1

struct candle_iter;
int store_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                        struct strbuf *err);
int candle_iter_next(struct candle_iter *it, struct candle *out, struct strbuf *err);
/* Takes NULL. Must be called before the store is closed. */
void candle_iter_free(struct candle_iter *it);
/* Convenience: run the query and append every candle to `out`. */
int store_query_candles_vec(struct store *st, const struct candle_query *q,
                            struct candle_vec *out, struct strbuf *err);

/* Number of candles of `q->series` in the query's bounds (limit and order ignored). */
int store_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                        struct strbuf *err);

/*
 * Delete candles of timeframe `tf` with open_time < `before`, for every
 * source and symbol (retention). `*deleted` gets the number removed.
 */
int store_delete_candles_before(struct store *st, enum timeframe tf, int64_t before,
                                int64_t *deleted, struct strbuf *err);

/* A stored series and its extent. Strings are owned by the record. */
struct series_info {
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t count;
    int64_t first_time, last_time; /* 0 when count is 0 */
};
/* All series, ordered by source, symbol, timeframe. Free with series_info_free(). */
int store_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err);
void series_info_free(struct series_info *v, size_t n);

/*
 * The gap ledger. A gap is a run of missing candles of one series with a
 * state and a reason; the same hole seen again updates its record instead
 * of adding one.
 */
enum gap_state {
    GAP_OPEN,
    GAP_REPAIRING,
    GAP_FILLED,
    GAP_UNFILLABLE,
};
const char *gap_state_name(enum gap_state s);
int gap_state_parse(const char *name, enum gap_state *out);

struct gap_record {
    int64_t id;
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t first, last, count;
    enum gap_state state;
    char *reason;
    int64_t first_seen, last_checked;
};
void gap_records_free(struct gap_record *v, size_t n);

/* Which gaps to list. NULL strings and has_ flags off mean "any". */
struct gap_query {
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
    bool has_since; /* gaps whose last >= since */
    int64_t since;
    bool has_state;
    enum gap_state state;
    size_t limit; /* 0 = no limit */
};
/* Newest first (by first open time). */
int store_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                    size_t *n, struct strbuf *err);

struct gap_sync_result {
    size_t opened;  /* new records */
    size_t updated; /* open records seen again (possibly narrowed) */
    size_t filled;  /* open records no longer missing */
    size_t open;    /* open gaps in the window after the sync */
};

/*
 * Reconcile the ledger of series `s` with a fresh scan of [from, to):
 * `found` are the gaps the scan found. In one transaction: a found gap that
 * overlaps an open (or repairing) record updates that record (first, last,
 * count, last_checked); one that overlaps none opens a new record with
 * `reason`; an open record inside the window that no found gap overlaps is
 * marked filled. Records in other states are left alone, and a found gap
 * overlapping an unfillable record is not reopened.
 */
int store_sync_gaps(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                    const struct gap_range *found, size_t nfound, const char *reason,
                    int64_t now, struct gap_sync_result *out, struct strbuf *err);

/* Set the state (and reason, if not NULL) of gap `id`. CK_ENOTFOUND if none. */
int store_set_gap_state(struct store *st, int64_t id, enum gap_state state, const char *reason,
                        int64_t now, struct strbuf *err);

/* Copy `url` with any password replaced by "***" (for messages and logs). */
char *store_redact_url(const char *url);

#endif
