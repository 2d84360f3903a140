/* SPDX-License-Identifier: MIT */
/*
 * The series id cache of the SQLite backend. Series ids are cached in a
 * small open-addressing hash keyed by (source, symbol, timeframe); a miss
 * costs one SELECT, or one INSERT when a write creates the series.
 *
 * Invariants: series rows are never deleted, so a cached id stays valid;
 * it names a committed row or one created in the open transaction. Ids
 * created in a transaction are marked tentative and dropped if it rolls
 * back, so a rollback never leaves the cache pointing at a row that does
 * not exist.
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

static uint32_t series_hash(const char *source, const char *symbol, enum timeframe tf)
{
    /* FNV-1a over "source\0symbol\0" and the timeframe; the NULs keep
     * ("ab", "c") and ("a", "bc") apart. */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)source; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    for (const unsigned char *p = (const unsigned char *)symbol; *p; p++)
        h = (h ^ *p) * 16777619u;
    h *= 16777619u;
    return (h ^ (uint32_t)tf) * 16777619u;
}

static struct series_slot *cache_find(struct sqlite_store *ss, const struct series_key *k,
                                      uint32_t hash)
{
    if (!ss->nslots)
        return NULL;
    for (size_t i = hash & (ss->nslots - 1);; i = (i + 1) & (ss->nslots - 1)) {
        struct series_slot *e = &ss->slots[i];
        if (!e->source)
            return NULL;
        if (e->hash == hash && e->tf == k->tf && !strcmp(e->source, k->source) &&
            !strcmp(e->symbol, k->symbol))
            return e;
    }
}

/* Place `e` (whose strings the table takes over) into a table with room. */
static void cache_place(struct series_slot *slots, size_t nslots, const struct series_slot *e)
{
    size_t i = e->hash & (nslots - 1);
    while (slots[i].source)
        i = (i + 1) & (nslots - 1);
    slots[i] = *e;
}

/* Rebuild with `nslots` slots, leaving out tentative entries if `drop_tentative`. */
static void cache_rebuild(struct sqlite_store *ss, size_t nslots, bool drop_tentative)
{
    struct series_slot *slots = xcalloc(nslots, sizeof(*slots));
    size_t nused = 0;
    for (size_t i = 0; i < ss->nslots; i++) {
        struct series_slot *e = &ss->slots[i];
        if (!e->source)
            continue;
        if (drop_tentative && e->tentative) {
            free(e->source);
            free(e->symbol);
            continue;
        }
        cache_place(slots, nslots, e);
        nused++;
    }
    free(ss->slots);
    ss->slots = slots;
    ss->nslots = nslots;
    ss->nused = nused;
}

static void cache_add(struct sqlite_store *ss, const struct series_key *k, uint32_t hash,
                      int64_t id, bool tentative)
{
    struct series_slot e = {
        .source = xstrdup(k->source),
        .symbol = xstrdup(k->symbol),
        .tf = k->tf,
        .hash = hash,
        .tentative = tentative,
        .id = id,
    };
    /* Keep the load at or below one half so that probes stay short. */
    if ((ss->nused + 1) * 2 > ss->nslots)
        cache_rebuild(ss, ss->nslots ? ss->nslots * 2 : 16, false);
    cache_place(ss->slots, ss->nslots, &e);
    ss->nused++;
    if (tentative)
        ss->has_tentative = true;
}

/* The transaction ended: commit makes tentative ids permanent, rollback drops them. */
void sqlite_cache_end_transaction(struct sqlite_store *ss, bool committed)
{
    if (!ss->has_tentative)
        return;
    if (committed) {
        for (size_t i = 0; i < ss->nslots; i++)
            ss->slots[i].tentative = false;
    } else {
        cache_rebuild(ss, ss->nslots, true);
    }
    ss->has_tentative = false;
}

void sqlite_cache_free(struct sqlite_store *ss)
{
    for (size_t i = 0; i < ss->nslots; i++) {
        free(ss->slots[i].source);
        free(ss->slots[i].symbol);
    }
    free(ss->slots);
    ss->slots = NULL;
    ss->nslots = ss->nused = 0;
}

void sqlite_bind_series_key(sqlite3_stmt *st, const struct series_key *k)
{
    sqlite3_bind_text(st, 1, k->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, timeframe_name(k->tf), -1, SQLITE_STATIC);
}

static int series_select(struct sqlite_store *ss, const struct series_key *k, int64_t *out,
                         struct strbuf *err)
{
    sqlite3_stmt *st;
    int rc = sqlite_stmt(ss, STMT_SERIES_GET, &st, err);
    if (rc)
        return rc;
    sqlite_bind_series_key(st, k);
    rc = sqlite_step(ss, st, true, "cannot look up series", err);
    if (!rc) {
        *out = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
    }
    return rc;
}

/*
 * The id of series `k`. When it does not exist: CK_ENOTFOUND (no message)
 * unless `create`, which inserts it; `create` is only used by writes, which
 * run inside a transaction.
 */
int sqlite_series_id(struct sqlite_store *ss, const struct series_key *k, bool create, int64_t *out,
                     struct strbuf *err)
{
    uint32_t hash = series_hash(k->source, k->symbol, k->tf);
    struct series_slot *e = cache_find(ss, k, hash);
    sqlite3_stmt *st;
    bool created = false;
    int rc;

    if (e) {
        *out = e->id;
        return 0;
    }
    rc = series_select(ss, k, out, err);
    if (rc == CK_ENOTFOUND && create) {
        rc = sqlite_stmt(ss, STMT_SERIES_ADD, &st, err);
        if (rc)
            return rc;
        sqlite_bind_series_key(st, k);
        rc = sqlite_step(ss, st, false, "cannot add series", err);
        if (rc)
            return rc;
        /* DO NOTHING leaves changes() at 0 if a concurrent writer won. */
        created = sqlite3_changes(ss->db) > 0;
        rc = series_select(ss, k, out, err);
    }
    if (rc)
        return rc;
    cache_add(ss, k, hash, *out, created && !sqlite3_get_autocommit(ss->db));
    return 0;
}

/* Parse a timeframe column; a bad value means the file was edited by hand. */
int sqlite_column_tf(struct sqlite_store *ss, sqlite3_stmt *st, int col, enum timeframe *out,
                     struct strbuf *err)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s && !timeframe_parse(s, out))
        return 0;
    strbuf_addf(err, "store: sqlite '%s': unknown timeframe '%s' in the database", ss->path,
                s ? s : "(null)");
    return CK_EPARSE;
}

char *sqlite_column_strdup(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return xstrdup(s ? s : "");
}
