/* SPDX-License-Identifier: MIT */
/*
 * PostgreSQL's upkeep (store/upkeep.h).
 *
 * candlekeep's tables are those of the connection's schema. Their dead
 * rows and sizes are read first, from pg_stat_user_tables (what the
 * statistics collector last counted), then each table is vacuumed and
 * analyzed on its own: VACUUM (ANALYZE) takes a lock that lets reads and
 * writes go on, and one table at a time keeps each of those short.
 * VACUUM cannot run inside a transaction block, which the wrapper
 * guarantees. There is no integrity check: PostgreSQL verifies each page
 * as it reads it (with data checksums on), so the op is left out.
 */
#include "store/pg/pg_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static int read_tables(struct pg_store *ps, struct store_upkeep *u, struct strbuf *err)
{
    PGresult *res = PQexec(ps->conn, "SELECT relname, n_live_tup, n_dead_tup, "
                                     "pg_table_size(relid), pg_indexes_size(relid) "
                                     "FROM pg_stat_user_tables "
                                     "WHERE schemaname = current_schema() ORDER BY relname");
    int rc = 0, n;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "read table statistics", err);
        PQclear(res);
        return rc;
    }
    n = PQntuples(res);
    u->tables = xcalloc(n ? (size_t)n : 1, sizeof(*u->tables));
    for (int r = 0; r < n && !rc; r++) {
        struct store_table_stat *t = &u->tables[u->ntables++];
        t->name = xstrdup(PQgetvalue(res, r, 0));
        rc = pg_get_int(ps, res, r, 1, &t->rows, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 2, &t->dead_rows, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 3, &t->table_bytes, err);
        if (!rc)
            rc = pg_get_int(ps, res, r, 4, &t->index_bytes, err);
    }
    PQclear(res);
    return rc;
}

static int64_t database_size(struct pg_store *ps)
{
    PGresult *res = PQexec(ps->conn, "SELECT pg_database_size(current_database())");
    struct strbuf err = STRBUF_INIT;
    int64_t v = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        pg_get_int(ps, res, 0, 0, &v, &err))
        v = -1;
    PQclear(res);
    strbuf_release(&err);
    return v;
}

int pg_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    struct strbuf sql = STRBUF_INIT;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    u->size_before = database_size(ps);
    rc = read_tables(ps, u, err);
    for (size_t i = 0; !rc && i < u->ntables; i++) {
        char *ident = PQescapeIdentifier(ps->conn, u->tables[i].name, strlen(u->tables[i].name));
        if (!ident) {
            strbuf_addf(err, "store: cannot quote table name '%s'", u->tables[i].name);
            rc = CK_EINVAL;
            break;
        }
        strbuf_reset(&sql);
        strbuf_addf(&sql, "VACUUM (ANALYZE) %s", ident);
        PQfreemem(ident);
        rc = pg_command(ps, sql.buf, "vacuum", err);
    }
    u->analyzed = !rc;
    snprintf(u->vacuum_note, sizeof(u->vacuum_note), "%s",
             "PostgreSQL: VACUUM (ANALYZE) marks dead rows reusable; the files keep their size");
    u->size_after = database_size(ps);
    strbuf_release(&sql);
    return rc;
}
