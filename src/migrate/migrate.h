/* SPDX-License-Identifier: MIT */
#ifndef CK_MIGRATE_MIGRATE_H
#define CK_MIGRATE_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * Moving a whole store into another one, table by table, and proving the
 * copy: the engine behind `candlekeep migrate`. (The schema migrations a
 * store applies when it is opened are another matter; both stores are at
 * the current schema once open.)
 *
 * Every row travels through the store interface, so any pair of backends
 * works: SQLite to PostgreSQL, back, or SQLite to SQLite. The tables are
 * copied in a fixed order (candles, gaps, jobs, job_runs), each in batches
 * that are one transaction apiece on the target. Leases are not copied:
 * they are claims of running processes of the old deployment, meaningless
 * to the new one (a daemon started on the target claims its own).
 *
 * Verification reads every table back on each side through the store
 * interface and reduces it to a row count and a SHA-256 digest of a
 * canonical text form of its rows (see migrate.c), which is the same on
 * every backend for the same data, and independent of the ids a store
 * assigns. The source side is hashed as it is copied, from the very rows
 * that were written; the target side is read afresh once the copy is done.
 *
 * Nothing here reads a clock or prints: progress is reported through a
 * callback, and the caller decides how to show it.
 */

#define MIGRATE_DIGEST_SIZE 32 /* SHA-256 */

enum migrate_flags {
    /*
     * Copy into a target that holds data: candles are upserted (a stored
     * candle of the same series and open time takes the source's values),
     * gap records and job runs equal to stored ones are left out, and a
     * job whose id is stored keeps its stored state. Without the flag a
     * target holding any series, gap record, job or job run is refused.
     * Running the same copy twice with it is harmless, which is how an
     * interrupted copy is finished.
     */
    MIGRATE_FORCE = 1 << 0,
    /* Copy nothing: compare the two stores. */
    MIGRATE_VERIFY_ONLY = 1 << 1,
};

enum migrate_stage {
    MIGRATE_COPY,          /* reading the source, writing the target */
    MIGRATE_VERIFY_SOURCE, /* reading the source (--verify-only) */
    MIGRATE_VERIFY_TARGET, /* reading the target */
};

enum migrate_event {
    MIGRATE_TABLE_START,
    MIGRATE_TABLE_ROWS, /* after every batch */
    MIGRATE_TABLE_DONE,
};

struct migrate_progress {
    enum migrate_stage stage;
    enum migrate_event event;
    const char *table;
    int64_t done;  /* rows of the table handled so far */
    int64_t total; /* rows it had when the stage began (it may change meanwhile) */
    int64_t added; /* MIGRATE_COPY: rows the target took (fewer with MIGRATE_FORCE) */
};

/* Called on the caller's thread; `p` is valid for the call only. */
typedef void migrate_progress_fn(void *arg, const struct migrate_progress *p);

struct migrate_opts {
    struct store *from, *to;
    /* How messages name the two stores (URLs without their passwords). */
    const char *from_name, *to_name;
    unsigned flags;                /* enum migrate_flags */
    migrate_progress_fn *progress; /* may be NULL */
    void *progress_arg;
};

/* A table on one side: its row count and digest. */
struct migrate_sum {
    int64_t rows;
    unsigned char digest[MIGRATE_DIGEST_SIZE];
};

struct migrate_table_result {
    const char *table; /* static */
    int64_t read;      /* rows read from the source by the copy */
    int64_t added;     /* rows the target took */
    struct migrate_sum source, target;
};

struct migrate_report {
    struct migrate_table_result *v;
    size_t n;
};

/*
 * Copy (unless MIGRATE_VERIFY_ONLY) and verify. Returns 0 when every table
 * was copied and summed, whether or not the sums match (see
 * migrate_report_ok()); CK_ECONFLICT when the target holds data and
 * MIGRATE_FORCE is not set (`err` says what it holds); another negative
 * CK_E* when a store failed, with `err` naming the side, the table and the
 * store's message. `out` is filled as far as the work went and must be
 * released with migrate_report_release() in every case.
 */
int migrate_run(const struct migrate_opts *o, struct migrate_report *out, struct strbuf *err);
void migrate_report_release(struct migrate_report *r);

/*
 * Sum every table of one store, as migrate_run() sums each side: `out`
 * gets one result per table, in the copy's order, with only `source`
 * filled (for a backup's manifest, and to check a restore against it).
 * `name` names the store in messages. Progress is reported with stage
 * MIGRATE_VERIFY_SOURCE. 0 or the store's CK_E* (`err` says where);
 * release `out` with migrate_report_release() in every case.
 */
int migrate_sum_store(struct store *st, const char *name, migrate_progress_fn *progress,
                      void *progress_arg, struct migrate_report *out, struct strbuf *err);

/*
 * 0 when `st` holds no series and no row of a copied table; CK_ECONFLICT
 * with "the target 'NAME' holds data already (...)" in `err` otherwise, or
 * the store's CK_E*.
 */
int migrate_check_empty(struct store *st, const char *name, struct strbuf *err);

/* Do both sides of every table have the same count and digest? */
bool migrate_table_ok(const struct migrate_table_result *t);
bool migrate_report_ok(const struct migrate_report *r);

/* The first 16 hex digits of a digest, NUL-terminated. */
void migrate_digest_hex(const struct migrate_sum *s, char out[17]);

#endif
