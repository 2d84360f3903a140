/* SPDX-License-Identifier: MIT */
/*
 * The SQLite file of a backup: an online copy of a live database and the
 * check of a copy.
 *
 * This is the one file of backup/ that talks to SQLite itself rather than
 * through the store: a backup's payload is a SQLite file as such (its
 * pages), which the store interface does not deal in. The copy uses
 * SQLite's online backup API in a single step, that is one read
 * transaction: in WAL mode the daemon goes on writing meanwhile, and the
 * copy is the database as of the moment the step began.
 */
#include "backup/backup_internal.h"

#include "util/error.h"
#include "util/strbuf.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

#define BUSY_TIMEOUT_MS 10000

static int open_db(const char *file, int flags, sqlite3 **out, struct strbuf *err)
{
    int rc = sqlite3_open_v2(file, out, flags, NULL);
    if (rc != SQLITE_OK) {
        strbuf_addf(err, "cannot open '%s': %s", file,
                    *out ? sqlite3_errmsg(*out) : sqlite3_errstr(rc));
        sqlite3_close(*out);
        *out = NULL;
        return CK_EIO;
    }
    sqlite3_busy_timeout(*out, BUSY_TIMEOUT_MS);
    return 0;
}

int snapshot_copy(const char *src, const char *dst, struct strbuf *err)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b;
    int rc;

    if (access(src, F_OK)) {
        strbuf_addf(err, "the database '%s' does not exist", src);
        return CK_ENOTFOUND;
    }
    rc = open_db(src, SQLITE_OPEN_READWRITE, &from, err);
    if (!rc)
        rc = open_db(dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &to, err);
    if (rc)
        goto out;
    b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) {
        strbuf_addf(err, "cannot start copying '%s': %s", src, sqlite3_errmsg(to));
        rc = CK_EIO;
        goto out;
    }
    /* One step: one read transaction, so the copy is of one moment. */
    do {
        rc = sqlite3_backup_step(b, -1);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
            sqlite3_sleep(50);
    } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        strbuf_addf(err, "cannot copy '%s' to '%s': %s", src, dst, sqlite3_errstr(rc));
        rc = rc == SQLITE_FULL ? CK_EIO : CK_EIO;
        goto out;
    }
    /* A plain rollback-journal file: one file, nothing beside it. */
    rc = sqlite3_exec(to, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        strbuf_addf(err, "cannot set up the copy '%s': %s", dst, sqlite3_errmsg(to));
        rc = CK_EIO;
        goto out;
    }
    rc = 0;
out:
    sqlite3_close(from);
    if (to && sqlite3_close(to) != SQLITE_OK && !rc) {
        strbuf_addf(err, "cannot close the copy '%s'", dst);
        rc = CK_EIO;
    }
    return rc;
}

int snapshot_check(const char *file, struct strbuf *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = open_db(file, SQLITE_OPEN_READONLY, &db, err);

    if (rc)
        return rc;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL) != SQLITE_OK) {
        strbuf_addf(err, "cannot check '%s': %s", file, sqlite3_errmsg(db));
        rc = CK_EIO;
    } else if (sqlite3_step(st) != SQLITE_ROW) {
        strbuf_addf(err, "cannot check '%s': %s", file, sqlite3_errmsg(db));
        rc = CK_EPARSE;
    } else {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok")) {
            strbuf_addf(err, "the copy '%s' fails SQLite's integrity check: %s", file,
                        res ? res : "?");
            rc = CK_EPARSE;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
