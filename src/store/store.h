/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_STORE_H
#define CK_STORE_STORE_H

#include "market/candle.h"
#include "market/gaps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/backfill.h"
#include "store/budget.h"
#include "store/candles.h"
#include "store/gaps.h"
#include "store/jobs.h"
#include "store/tables.h"
#include "store/upkeep.h"

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
 *
 * This header holds the connection: open, close, health and transactions,
 * and URLs. It includes the headers of each concern, so that a caller
 * includes this one: candles (store/candles.h), the gap ledger
 * (store/gaps.h), jobs, runs and leases (store/jobs.h), rate budgets and
 * series state (store/budget.h), backfills (store/backfill.h), the tables
 * with their bulk copy (store/tables.h), and the upkeep (store/upkeep.h).
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
 * Can the database take a write right now? Quicker to give up than a
 * write: it waits about a second at most for another writer. SQLite: the
 * file is writable and a tiny write commits (the write lock is not held
 * by another process past that second, the disk takes the write-ahead
 * log's page); PostgreSQL: the server answers and is not a read-only
 * standby. 0, or CK_EIO / CK_EBUSY with the reason in `err`. For health
 * checks; SQLite's write rewrites the schema_version rows as they are.
 */
int store_check_writable(struct store *st, struct strbuf *err);
/*
 * The size of the database in bytes, for reports: SQLite, its main file's
 * pages (page_count * page_size; the write-ahead log aside); PostgreSQL,
 * pg_database_size() of the connected database.
 */
int store_database_size(struct store *st, int64_t *out, struct strbuf *err);

/*
 * Transactions. store_begin() starts one; store_commit()/store_rollback()
 * end it. Calls do not nest: beginning inside a transaction is a BUG().
 * The store's functions that write (store/candles.h, gaps.h, jobs.h,
 * budget.h, tables.h) run in their own transaction when called outside
 * one, and join the caller's otherwise.
 */
int store_begin(struct store *st, struct strbuf *err);
int store_commit(struct store *st, struct strbuf *err);
int store_rollback(struct store *st, struct strbuf *err);
bool store_in_transaction(const struct store *st);
/*
 * Begin a transaction whose reads all see one snapshot of the database,
 * for copying a consistent whole (a backup): PostgreSQL, REPEATABLE READ
 * and READ ONLY; SQLite, as store_begin() (which takes the write lock:
 * SQLite backups copy the file instead). End it with store_rollback().
 */
int store_begin_snapshot(struct store *st, struct strbuf *err);

/*
 * URLs. store_url_backend() names the backend a URL selects ("sqlite",
 * "postgresql") or returns NULL for a URL no backend takes.
 * store_sqlite_file() returns the file of a SQLite URL (a pointer into
 * `url`), NULL for another backend's. store_same_database() is true when
 * both URLs certainly name one database: equal strings, PostgreSQL URLs
 * that differ only in the scheme's spelling, or SQLite URLs of one file
 * (the same file by device and inode when both exist).
 */
const char *store_url_backend(const char *url);
const char *store_sqlite_file(const char *url);
bool store_same_database(const char *a, const char *b);

#endif
