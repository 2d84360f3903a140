/* SPDX-License-Identifier: MIT */
/*
 * SQLite's upkeep (store/upkeep.h).
 *
 * The integrity check reads the whole file and holds only a read
 * transaction, so writers go on (WAL). PRAGMA optimize runs ANALYZE where
 * the planner would gain from it, which is quick. The checkpoint in
 * TRUNCATE mode waits for readers that hold old frames (within the busy
 * timeout) and then empties the log; when readers keep it busy it is
 * reported as not done rather than retried. VACUUM rewrites the whole
 * file under an exclusive lock and needs room for a copy of it, so it runs
 * only when the free list is worth giving back and the file system has
 * that room; otherwise the reason is reported.
 */
#include "store/sqlite/sqlite_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <sqlite3.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "util/banned.h"

/* Lines of a failed check kept in the report. */
#define PROBLEM_LINES 20

int sqlite_check_integrity(struct store *st, bool full, bool *out_ok, struct strbuf *problems,
                           struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    const char *sql = full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)";
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, &q, NULL), lines = 0;

    *out_ok = true;
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(q)) != SQLITE_ROW)
            break;
        const char *line = (const char *)sqlite3_column_text(q, 0);
        if (line && !strcmp(line, "ok"))
            continue;
        *out_ok = false;
        if (lines++ < PROBLEM_LINES)
            strbuf_addf(problems, "%s%s", problems->len ? "\n" : "", line ? line : "?");
    }
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) {
        /* A file too damaged to answer is what the check is for: a finding, not an error. */
        *out_ok = false;
        const char *msg = sqlite3_errmsg(ss->db);
        strbuf_addf(problems, "%s%s", problems->len ? "\n" : "", sqlite3_errstr(rc));
        if (strcmp(msg, sqlite3_errstr(rc)))
            strbuf_addf(problems, ": %s", msg);
    } else if (rc != SQLITE_DONE) {
        int code = rc;
        sqlite3_finalize(q);
        return sqlite_fail(ss, code, "cannot check integrity", err);
    }
    sqlite3_finalize(q);
    return 0;
}

/* One integer of a pragma (or a query); -1 when it cannot be read. */
static int64_t pragma_int(struct sqlite_store *ss, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(ss->db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static int64_t db_size(struct sqlite_store *ss)
{
    return pragma_int(ss, "SELECT page_count * page_size FROM pragma_page_count(), "
                          "pragma_page_size()");
}

/* Bytes free for an unprivileged writer on the file system of the database's file; -1: unknown. */
static int64_t disk_free(struct sqlite_store *ss)
{
    const char *file = sqlite3_db_filename(ss->db, "main");
    struct statvfs vs;
    char *copy;
    int64_t v = -1;

    if (!file || !*file)
        return -1;
    copy = xstrdup(file);
    if (!statvfs(dirname(copy), &vs))
        v = (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
    free(copy);
    return v;
}

int sqlite_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *q = NULL;
    int rc;

    u->size_before = db_size(ss);
    u->free_bytes = pragma_int(ss, "SELECT freelist_count * page_size FROM "
                                   "pragma_freelist_count(), pragma_page_size()");
    u->disk_free = disk_free(ss);

    rc = sqlite3_exec(ss->db, "PRAGMA optimize", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(ss, rc, "cannot optimize", err);
    u->analyzed = true;

    /* busy, log frames, frames checkpointed */
    rc = sqlite3_prepare_v2(ss->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &q, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        u->checkpointed = sqlite3_column_int(q, 0) == 0;
        u->wal_frames = sqlite3_column_int64(q, 1) > 0 ? sqlite3_column_int64(q, 1) : 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        return sqlite_fail(ss, rc, "cannot checkpoint", err);

    if (u->free_bytes < 0 || u->free_bytes <= u->vacuum_min_free) {
        snprintf(u->vacuum_note, sizeof(u->vacuum_note),
                 "not needed: %lld bytes free in the file, threshold %lld",
                 (long long)u->free_bytes, (long long)u->vacuum_min_free);
    } else if (u->disk_free < 0 || u->size_before < 0 || u->disk_free < 2 * u->size_before) {
        snprintf(u->vacuum_note, sizeof(u->vacuum_note),
                 "skipped: the file system has %lld bytes free, VACUUM needs about %lld",
                 (long long)u->disk_free, (long long)(2 * u->size_before));
    } else {
        rc = sqlite3_exec(ss->db, "VACUUM", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return sqlite_fail(ss, rc, "cannot vacuum", err);
        u->vacuumed = true;
        /* VACUUM writes through the log: fold it back again. */
        sqlite3_exec(ss->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    u->size_after = db_size(ss);
    return 0;
}
