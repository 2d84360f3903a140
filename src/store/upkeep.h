/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_UPKEEP_H
#define CK_STORE_UPKEEP_H

/*
 * The store's upkeep (the db_quick_check and db_maintenance tasks,
 * maint/dbupkeep.c): an integrity check, fresh planner statistics, the
 * write-ahead log folded back, and free space given back when it is worth
 * it; and a report of the tables' sizes. Part of the store interface
 * (store/store.h). Each call runs outside a transaction (BUG otherwise).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Check the database's integrity: SQLite's PRAGMA quick_check, or with
 * `full` integrity_check (which also reads every index against its
 * table). `*out_ok` is false when the check found a problem, described in
 * `problems` (its first lines); a database too damaged to answer counts as
 * a problem, not an error. `*out_checked` is false where the backend has
 * no such check (PostgreSQL verifies its pages as it reads them): then
 * `*out_ok` is true. 0, or CK_E* when the database could not be asked.
 */
int store_check_integrity(struct store *st, bool full, bool *out_ok, bool *out_checked,
                          struct strbuf *problems, struct strbuf *err);

/* One table as the upkeep reports it (sizes in bytes; -1: unknown). */
struct store_table_stat {
    char *name;
    int64_t rows;      /* live rows (PostgreSQL's estimate) */
    int64_t dead_rows; /* rows deleted or updated and not yet vacuumed; -1 on SQLite */
    int64_t table_bytes;
    int64_t index_bytes;
};

struct store_upkeep {
    /* in */
    int64_t vacuum_min_free; /* SQLite: VACUUM when the free pages hold more bytes than this */
    /* out */
    bool analyzed;         /* statistics refreshed (PRAGMA optimize; VACUUM (ANALYZE)) */
    bool checkpointed;     /* SQLite: the write-ahead log was folded back and truncated */
    int64_t wal_frames;    /* SQLite: frames in the log before the checkpoint */
    bool vacuumed;         /* SQLite: VACUUM ran */
    char vacuum_note[200]; /* why VACUUM did not run ("" when it ran) */
    int64_t size_before;   /* bytes of the database */
    int64_t size_after;
    int64_t free_bytes;              /* SQLite: bytes on the free list before */
    int64_t disk_free;               /* bytes free on the database's file system; -1: unknown */
    struct store_table_stat *tables; /* candlekeep's tables, by name (PostgreSQL) */
    size_t ntables;
};

/*
 * Do the upkeep `u` asks for and report it in `u`. SQLite: PRAGMA
 * optimize, wal_checkpoint(TRUNCATE), and VACUUM only when the free pages
 * exceed u->vacuum_min_free and the file system has room for a copy of
 * the database; PostgreSQL: VACUUM (ANALYZE) of each of candlekeep's
 * tables, one at a time (never one long lock), with their dead rows and
 * sizes as they were before. 0 or CK_E*; what was done stays reported.
 * Release with store_upkeep_release().
 */
int store_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err);
void store_upkeep_release(struct store_upkeep *u);

#endif
