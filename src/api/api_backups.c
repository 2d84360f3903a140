/* SPDX-License-Identifier: MIT */
/*
 * GET /backups: the backups in the backup directory ([backup] dir),
 * newest first, each with its size, how long it took, and when and how its
 * restore drill went (backup/backup.h); and the time of the newest
 * verified one, and whether that is older than [backup] max_age (or there
 * is none: "stale"). Read from the directory, not the database, so it answers
 * while the database is down. A GET like the others: no token needed.
 *
 *   {"dir": "...", "count": N, "last_verified": "<ISO 8601>" | null,
 *    "max_age": seconds, "stale": true | false,
 *    "backups": [{"name", "created", "bytes", "backend", "compression",
 *                 "encrypted", "note", "backup_ms", "verified_at",
 *                 "result": "ok" | "failed" | "unverified", "drill_ms",
 *                 "message"}, ...]}
 */
#include "api/api_internal.h"

#include "backup/backup.h"
#include "ck/settings.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdlib.h>

#include "util/banned.h"

void api_backups_list(struct api_request *req)
{
    const struct settings *s = req->api->settings;
    char *dir = backup_dir(s ? &s->backup : NULL, req->api->store_url);
    struct strbuf err = STRBUF_INIT, row = STRBUF_INIT;
    struct backup_info *v = NULL;
    char when[TIME_BUFSZ];
    int64_t last = 0, max_age = s ? s->backup.max_age : 2 * 86400;
    size_t n = 0;
    json_t *arr;

    if (backup_list(dir, &v, &n, &err)) {
        api_reply_error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "cannot list backups: %s",
                        err.buf);
        goto out;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&row);
        backup_info_json(&v[i], &row);
        json_array_append_new(arr, json_loads(row.buf, 0, NULL));
        if (!last && v[i].verify_ok)
            last = v[i].created;
    }
    time_format_iso8601(last, when);
    api_reply_json(req, MHD_HTTP_OK,
                   json_pack("{s:s, s:I, s:s?, s:I, s:b, s:o}", "dir", dir, "count", (json_int_t)n,
                             "last_verified", last ? when : NULL, "max_age", (json_int_t)max_age,
                             "stale", backup_is_stale(last, max_age, time_now()), "backups", arr));
out:
    backup_infos_free(v, n);
    strbuf_release(&err);
    strbuf_release(&row);
    free(dir);
}
