/* SPDX-License-Identifier: MIT */
/*
 * Figures about the database itself, for the health digest: one generic
 * statement per figure, in both dialects.
 */
#include "store/store_internal.h"

#include "util/error.h"
#include "util/strbuf.h"

#include "util/banned.h"

int store_database_size(struct store *st, int64_t *out, struct strbuf *err)
{
    static const struct sql_stmt size = {
        .sqlite = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
        .pg = "SELECT pg_database_size(current_database())",
    };
    struct sql_rows rows = SQL_ROWS_INIT;
    int rc = store_sql(st, &size, NULL, 0, &rows, NULL, "database size", err);
    if (!rc && rows.nrows != 1) {
        strbuf_addstr(err, "store: database size: no answer");
        rc = CK_EIO;
    }
    if (!rc)
        rc = sql_rows_int(&rows, 0, 0, out, err);
    sql_rows_release(&rows);
    return rc;
}
