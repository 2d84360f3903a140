/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_CANDLES_H
#define CK_STORE_CANDLES_H

/*
 * The store's candles: upsert, range queries through iterators, counts,
 * retention deletes and the list of stored series. Part of the store
 * interface (store/store.h, which says how errors and transactions work).
 */
#include "market/candle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

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
#define ITER_OK   0
#define ITER_DONE 1

struct candle_iter;
int store_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                        struct strbuf *err);
int candle_iter_next(struct candle_iter *it, struct candle *out, struct strbuf *err);
/* Takes NULL. Must be called before the store is closed. */
void candle_iter_free(struct candle_iter *it);
/* Convenience: run the query and append every candle to `out`. */
int store_query_candles_vec(struct store *st, const struct candle_query *q, struct candle_vec *out,
                            struct strbuf *err);

/* Number of candles of `q->series` in the query's bounds (limit and order ignored). */
int store_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                        struct strbuf *err);

/* The extent of a series within a query's bounds. */
struct candle_extent {
    int64_t count;
    int64_t first, last; /* open times of the oldest and newest; 0 when count is 0 */
};
/*
 * Count, oldest and newest open time of the candles of `q->series` in the
 * query's bounds (limit and order ignored), in one statement over the
 * primary key's range: no candle row is read into the program. A series
 * that does not exist has count 0.
 */
int store_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                        struct strbuf *err);

/*
 * A stamp of the store's candles as this connection sees them, for caches
 * of what was made from them: while two stamps taken on one connection
 * compare equal (store_stamp_equal), no candle was written, corrected or
 * deleted in between, by this connection, another one or another process.
 * A stamp that differs says only that some may have changed. Costs no
 * candle row. SQLite: the database's data version (PRAGMA data_version
 * and this connection's own change count, so any commit to the file moves
 * it). PostgreSQL: the sum of the series' generations, which every
 * transaction that writes or deletes candles of a series advances by one,
 * with the count and the largest id of the series; the same on every
 * connection (store_stamp_shared()). Outside a transaction.
 */
struct store_stamp {
    uint64_t v[3];
};
int store_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err);
/*
 * Is the stamp the database's, the same whichever connection reads it (so
 * that one read made after a request arrived serves every request waiting
 * then)? PostgreSQL: yes; SQLite: no (it counts the connection's own writes).
 */
bool store_stamp_shared(const struct store *st);
static inline bool store_stamp_equal(const struct store_stamp *a, const struct store_stamp *b)
{
    return a->v[0] == b->v[0] && a->v[1] == b->v[1] && a->v[2] == b->v[2];
}

/*
 * The open times of the candles of `q->series` in the query's bounds,
 * ascending (limit and order ignored): what a gap scan compares with the
 * calendar, read without the candles' prices. *out is the caller's to
 * free (NULL when there are none), *n their number; a series that does
 * not exist has none. On failure *out is NULL and *n 0.
 */
int store_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                       struct strbuf *err);

/*
 * Delete candles of timeframe `tf` with open_time < `before`, for every
 * source and symbol (retention). `limit` 0 deletes them all; otherwise at
 * most `limit` go, the oldest of each series first, so that a caller can
 * delete a large backlog in batches of one transaction each (calling
 * again until fewer than `limit` come back) and never hold the database
 * for long. The commit of a batch may not wait for the disk (PostgreSQL:
 * synchronous_commit off for that transaction), so a crash can undo the
 * last batches, which the next run deletes again; a caller that joins
 * other writes to a batch's transaction shares that. `*deleted` (may be
 * NULL) gets the number removed.
 */
int store_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                int64_t *deleted, struct strbuf *err);
/* How many candles store_delete_candles_before(tf, before, 0) would delete. */
int store_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                               struct strbuf *err);

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

#endif
