/* SPDX-License-Identifier: MIT */
/*
 * The database tasks (maint.h): db_quick_check daily, db_maintenance
 * weekly. Both check integrity first; a damaged database is what an
 * operator must hear of before anything else is done to it, so upkeep is
 * not attempted on one, and the failure is a critical alert (one per
 * episode, cleared by the next good check). The upkeep itself is the
 * store's (store/upkeep.h), which knows what each backend needs.
 */
#include "maint/maint.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <stdio.h>

#include "util/banned.h"

static void upkeep_details(const struct store_upkeep *u, struct maint_result *out)
{
    json_t *tables = json_array();

    json_object_set_new(out->details, "analyzed", json_boolean(u->analyzed));
    json_object_set_new(out->details, "checkpointed", json_boolean(u->checkpointed));
    maint_detail_int(out, "wal_frames", u->wal_frames);
    json_object_set_new(out->details, "vacuumed", json_boolean(u->vacuumed));
    maint_detail_str(out, "vacuum", u->vacuumed ? "done" : u->vacuum_note);
    maint_detail_int(out, "size_before", u->size_before);
    maint_detail_int(out, "size_after", u->size_after);
    maint_detail_int(out, "bytes_freed",
                     u->size_before > u->size_after ? u->size_before - u->size_after : 0);
    maint_detail_int(out, "free_bytes", u->free_bytes);
    maint_detail_int(out, "disk_free", u->disk_free);
    for (size_t i = 0; i < u->ntables; i++) {
        const struct store_table_stat *t = &u->tables[i];
        json_array_append_new(tables,
                              json_pack("{s:s, s:I, s:I, s:I, s:I}", "name", t->name, "rows",
                                        (json_int_t)t->rows, "dead_rows", (json_int_t)t->dead_rows,
                                        "table_bytes", (json_int_t)t->table_bytes, "index_bytes",
                                        (json_int_t)t->index_bytes));
    }
    json_object_set_new(out->details, "tables", tables);
}

int maint_db_run(struct store *st, const struct maint_db *c, struct maint_result *out,
                 struct strbuf *err)
{
    struct strbuf problems = STRBUF_INIT;
    const char *check = c->full ? "integrity_check" : "quick_check";
    struct store_upkeep u = {.vacuum_min_free = c->vacuum_min_free};
    bool ok, checked;
    int rc = store_check_integrity(st, c->full, &ok, &checked, &problems, err);

    if (rc)
        goto out;
    maint_detail_str(out, "check", check);
    maint_detail_str(out, "integrity", !checked ? "not checked" : ok ? "ok" : "failed");
    if (!ok) {
        struct strbuf d = STRBUF_INIT;
        maint_detail_str(out, "problems", problems.buf);
        strbuf_addf(&d, "The database failed its %s (%s backend):\n%s", check,
                    store_backend_name(st), problems.buf);
        maint_alert_fire(out, MAINT_ALERT_DB_INTEGRITY, NOTIFY_CRITICAL,
                         "Database integrity check failed", d.buf);
        strbuf_release(&d);
        out->failed = true;
        /* The message is one line: the problems' lines joined. */
        strbuf_addf(&out->message, "the database failed its %s: ", check);
        for (const char *p = problems.buf; *p && p - problems.buf < 300; p++) {
            if (*p == '\n')
                strbuf_addstr(&out->message, "; ");
            else
                strbuf_addch(&out->message, *p);
        }
        goto out;
    }
    if (checked)
        maint_alert_clear(out, MAINT_ALERT_DB_INTEGRITY, "The database passed its integrity check");
    strbuf_addf(&out->message, "%s: %s", check, checked ? "ok" : "not available on this backend");
    if (!c->full)
        goto out;
    rc = store_upkeep(st, &u, err);
    upkeep_details(&u, out);
    if (rc)
        goto out;
    strbuf_addf(&out->message, "; statistics refreshed%s; %s",
                u.checkpointed ? ", log checkpointed" : "",
                u.vacuumed ? "vacuumed" : u.vacuum_note);
    if (u.vacuumed)
        strbuf_addf(&out->message, " (%lld bytes freed)",
                    (long long)(u.size_before > u.size_after ? u.size_before - u.size_after : 0));
    if (u.ntables)
        strbuf_addf(&out->message, " (%zu tables vacuumed and analyzed)", u.ntables);
out:
    store_upkeep_release(&u);
    strbuf_release(&problems);
    return rc;
}
