/* SPDX-License-Identifier: MIT */
/*
 * The gap ledger in the SQLite backend: listing with optional filters
 * (one cached statement per combination of filters), inserting and
 * updating records, and their bulk export and import. Gap records name
 * their series by id; the series come from the cache of series.c.
 */
#include "store/sqlite/sqlite_internal.h"

#include "market/timeframe.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static unsigned gap_filters(const struct gap_query *q)
{
    return (q->source ? GAPF_SOURCE : 0) | (q->symbol ? GAPF_SYMBOL : 0) |
           (q->has_tf ? GAPF_TF : 0) | (q->has_since ? GAPF_SINCE : 0) |
           (q->has_state ? GAPF_STATE : 0) | (q->limit ? GAPF_LIMIT : 0);
}

/* The statement for a combination of filters; parameters are numbered by filter. */
static int gap_list_stmt(struct sqlite_store *ss, unsigned mask, sqlite3_stmt **out,
                         struct strbuf *err)
{
    struct strbuf sql = STRBUF_INIT;
    int rc;

    *out = NULL;
    if (ss->gap_stmts[mask]) {
        *out = ss->gap_stmts[mask];
        return 0;
    }
    strbuf_addstr(&sql, "SELECT " GAP_COLUMNS " FROM gaps g JOIN series s ON s.id = g.series_id "
                        "WHERE 1");
    if (mask & GAPF_SOURCE)
        strbuf_addstr(&sql, " AND s.source = ?1");
    if (mask & GAPF_SYMBOL)
        strbuf_addstr(&sql, " AND s.symbol = ?2");
    if (mask & GAPF_TF)
        strbuf_addstr(&sql, " AND s.timeframe = ?3");
    if (mask & GAPF_SINCE)
        strbuf_addstr(&sql, " AND g.last_time >= ?4");
    if (mask & GAPF_STATE)
        strbuf_addstr(&sql, " AND g.state = ?5");
    strbuf_addstr(&sql, " ORDER BY g.first_time DESC, g.id DESC");
    if (mask & GAPF_LIMIT)
        strbuf_addstr(&sql, " LIMIT ?6");
    rc = sqlite3_prepare_v3(ss->db, sql.buf, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
                            &ss->gap_stmts[mask], NULL);
    strbuf_release(&sql);
    if (rc != SQLITE_OK) {
        ss->gap_stmts[mask] = NULL;
        return sqlite_fail(ss, rc, "cannot prepare gap listing", err);
    }
    *out = ss->gap_stmts[mask];
    return 0;
}

static int read_gap(struct sqlite_store *ss, sqlite3_stmt *q, struct gap_record *g,
                    struct strbuf *err)
{
    const char *state = (const char *)sqlite3_column_text(q, 7);

    memset(g, 0, sizeof(*g));
    if (sqlite_column_tf(ss, q, 3, &g->tf, err))
        return CK_EPARSE;
    if (!state || gap_state_parse(state, &g->state)) {
        strbuf_addf(err, "store: sqlite '%s': unknown gap state '%s' in the database", ss->path,
                    state ? state : "(null)");
        return CK_EPARSE;
    }
    g->id = sqlite3_column_int64(q, 0);
    g->source = sqlite_column_strdup(q, 1);
    g->symbol = sqlite_column_strdup(q, 2);
    g->first = sqlite3_column_int64(q, 4);
    g->last = sqlite3_column_int64(q, 5);
    g->count = sqlite3_column_int64(q, 6);
    g->reason = sqlite_column_strdup(q, 8);
    g->first_seen = sqlite3_column_int64(q, 9);
    g->last_checked = sqlite3_column_int64(q, 10);
    g->attempts = sqlite3_column_int64(q, 11);
    g->first_attempt = sqlite3_column_int64(q, 12);
    return 0;
}

int sqlite_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out,
                     size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    unsigned mask = gap_filters(q);
    struct gap_record *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = gap_list_stmt(ss, mask, &sel, err);

    if (rc)
        return rc;
    if (mask & GAPF_SOURCE)
        sqlite3_bind_text(sel, 1, q->source, -1, SQLITE_STATIC);
    if (mask & GAPF_SYMBOL)
        sqlite3_bind_text(sel, 2, q->symbol, -1, SQLITE_STATIC);
    if (mask & GAPF_TF)
        sqlite3_bind_text(sel, 3, timeframe_name(q->tf), -1, SQLITE_STATIC);
    if (mask & GAPF_SINCE)
        sqlite3_bind_int64(sel, 4, q->since);
    if (mask & GAPF_STATE)
        sqlite3_bind_text(sel, 5, gap_state_name(q->state), -1, SQLITE_STATIC);
    if (mask & GAPF_LIMIT)
        sqlite3_bind_int64(sel, 6, q->limit <= (size_t)INT64_MAX ? (int64_t)q->limit : -1);

    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_gap(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot list gaps", err);
out:
    /* The borrowed strings bound above must not outlive this call. */
    sqlite3_reset(sel);
    sqlite3_clear_bindings(sel);
    if (rc) {
        gap_records_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

int sqlite_insert_gap(struct store *st, const struct series_key *s, struct gap_record *g,
                      struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *ins;
    int64_t sid;
    int rc = sqlite_series_id(ss, s, true, &sid, err);

    if (!rc)
        rc = sqlite_stmt(ss, STMT_GAP_INSERT, &ins, err);
    if (rc)
        return rc;
    sqlite3_bind_int64(ins, 1, sid);
    sqlite3_bind_int64(ins, 2, g->first);
    sqlite3_bind_int64(ins, 3, g->last);
    sqlite3_bind_int64(ins, 4, g->count);
    sqlite3_bind_text(ins, 5, gap_state_name(g->state), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 6, g->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 7, g->first_seen);
    sqlite3_bind_int64(ins, 8, g->last_checked);
    sqlite3_bind_int64(ins, 9, g->attempts);
    sqlite3_bind_int64(ins, 10, g->first_attempt);
    rc = sqlite_step(ss, ins, false, "cannot record gap", err);
    if (!rc)
        g->id = sqlite3_last_insert_rowid(ss->db);
    return rc;
}

int sqlite_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    sqlite3_stmt *upd;
    int rc = sqlite_stmt(ss, STMT_GAP_UPDATE, &upd, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(upd, 1, g->id);
    sqlite3_bind_int64(upd, 2, g->first);
    sqlite3_bind_int64(upd, 3, g->last);
    sqlite3_bind_int64(upd, 4, g->count);
    sqlite3_bind_text(upd, 5, gap_state_name(g->state), -1, SQLITE_STATIC);
    /* NULL keeps the stored reason. */
    sqlite3_bind_text(upd, 6, g->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(upd, 7, g->last_checked);
    sqlite3_bind_int64(upd, 8, g->attempts);
    sqlite3_bind_int64(upd, 9, g->first_attempt);
    rc = sqlite_step(ss, upd, false, "cannot update gap", err);
    if (!rc && sqlite3_changes(ss->db) == 0) {
        strbuf_addf(err, "store: no gap with id %lld", (long long)g->id);
        rc = CK_ENOTFOUND;
    }
    return rc;
}

int sqlite_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                       size_t *n, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    struct gap_record *v = NULL;
    size_t nr = 0, alloc = 0;
    sqlite3_stmt *sel;
    int rc = sqlite_stmt(ss, STMT_GAPS_EXPORT, &sel, err);

    if (rc)
        return rc;
    sqlite3_bind_int64(sel, 1, after_id);
    sqlite3_bind_int64(sel, 2, sqlite_export_limit(limit));
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        ALLOC_GROW(v, nr + 1, alloc);
        rc = read_gap(ss, sel, &v[nr], err);
        if (rc)
            goto out;
        nr++;
    }
    rc = rc == SQLITE_DONE ? 0 : sqlite_fail(ss, rc, "cannot export gaps", err);
out:
    sqlite_stmt_done(sel);
    if (rc) {
        gap_records_free(v, nr);
        return rc;
    }
    *out = v;
    *n = nr;
    return 0;
}

int sqlite_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                       size_t *added, struct strbuf *err)
{
    struct sqlite_store *ss = sqlite_downcast(st);
    bool skip = flags & STORE_IMPORT_SKIP_EXISTING;
    sqlite3_stmt *ins;
    int rc = sqlite_stmt(ss, skip ? STMT_GAP_IMPORT_NEW : STMT_GAP_INSERT, &ins, err);

    for (size_t i = 0; i < n && !rc; i++) {
        const struct gap_record *g = &v[i];
        struct series_key k = {.source = g->source, .symbol = g->symbol, .tf = g->tf};
        int64_t sid;

        rc = sqlite_series_id(ss, &k, true, &sid, err);
        if (rc)
            break;
        /* Both statements take the same parameters. */
        sqlite3_bind_int64(ins, 1, sid);
        sqlite3_bind_int64(ins, 2, g->first);
        sqlite3_bind_int64(ins, 3, g->last);
        sqlite3_bind_int64(ins, 4, g->count);
        sqlite_bind_str(ins, 5, gap_state_name(g->state));
        sqlite_bind_str(ins, 6, g->reason ? g->reason : "");
        sqlite3_bind_int64(ins, 7, g->first_seen);
        sqlite3_bind_int64(ins, 8, g->last_checked);
        sqlite3_bind_int64(ins, 9, g->attempts);
        sqlite3_bind_int64(ins, 10, g->first_attempt);
        rc = sqlite_step(ss, ins, false, "cannot import a gap record", err);
        if (!rc)
            *added += (size_t)sqlite3_changes(ss->db);
    }
    if (ins)
        sqlite_stmt_done(ins);
    return rc;
}
