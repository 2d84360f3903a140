/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_TABLES_H
#define CK_STORE_TABLES_H

/*
 * The store's tables as such: their names and row counts, the flags of
 * the bulk imports, and the generic row copy of the tables from
 * STORE_TABLE_ALERTS on. Part of the store interface (store/store.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Bulk export and import, for copying one store into another (`candlekeep
 * migrate`). Exports read rows with every field as stored, in id order and
 * in pages (keyset paging: pass the last id seen as `after_id`, 0 to
 * start); imports write them back as given, without the side effects of
 * the functions above (importing a run neither creates its job nor moves
 * its last fire). A row copied from one backend to another through these
 * reads back identical, except that gap records and job runs get ids of
 * the target's own. Each import call is one transaction, or joins the
 * caller's.
 */
enum store_table {
    STORE_TABLE_SERIES,
    STORE_TABLE_CANDLES,
    STORE_TABLE_GAPS,
    STORE_TABLE_JOBS,
    STORE_TABLE_JOB_RUNS,
    STORE_TABLE_LEASES,
    /* Tables copied row by row through store_rows_export/import (store_tables.c). */
    STORE_TABLE_ALERTS,
    STORE_TABLE_ALERT_OUTBOX,
    STORE_TABLE_SIGNALS,
    STORE_TABLE_DELIVERIES,
    STORE_TABLE_DELIVERY_ATTEMPTS,
    STORE_TABLE_OUTCOMES,
    STORE_TABLE_BACKTESTS,
    STORE_TABLE_BREAKERS,
    STORE_TABLE_BACKFILLS,
    STORE_TABLE_COUNT
};
/* The table's name in the schema ("candles", "job_runs", ...). */
const char *store_table_name(enum store_table t);
/* Number of rows in table `t`. */
int store_count_rows(struct store *st, enum store_table t, int64_t *out, struct strbuf *err);

enum store_import_flags {
    /*
     * Leave what is stored alone: a gap record or job run equal in every
     * field but its id to a stored one is skipped, and a job whose id is
     * stored keeps its stored state. Without the flag every gap record and
     * run is inserted, and a job whose id is stored is a CK_ECONFLICT.
     */
    STORE_IMPORT_SKIP_EXISTING = 1 << 0,
};

/*
 * Generic copying of the tables from STORE_TABLE_ALERTS on: rows in
 * canonical text, one cell per column in the table's fixed order, the
 * primary key first; NULL for SQL NULL. Integers and times (Unix ms) in
 * decimal, prices with exactly eight decimals, booleans "t"/"f", text as
 * stored. Ids are kept, so rows that refer to each other (a delivery's
 * attempts) still do after a copy.
 */
struct store_rows {
    size_t nrows, ncols;
    char **cells; /* nrows * ncols */
};
void store_rows_release(struct store_rows *r);
/* Is `t` copied by store_rows_export/import? */
bool store_table_is_generic(enum store_table t);
/* Column names of generic table `t`, NULL-terminated. */
const char *const *store_table_columns(enum store_table t);
/*
 * Rows whose key follows `after` (NULL: from the first), in key order, at
 * most `limit` (> 0).
 */
int store_rows_export(struct store *st, enum store_table t, const char *after, size_t limit,
                      struct store_rows *out, struct strbuf *err);
/*
 * Insert the rows as given; with STORE_IMPORT_SKIP_EXISTING a row whose
 * key is stored is left out, without it the copy fails with CK_ECONFLICT.
 * `*added` (may be NULL) gets the number inserted.
 */
int store_rows_import(struct store *st, enum store_table t, const struct store_rows *rows,
                      unsigned flags, size_t *added, struct strbuf *err);

#endif
