/* SPDX-License-Identifier: MIT */
/*
 * The backups of a directory: listing them with their drill records, and
 * which of them retention keeps (backup.h).
 *
 * Retention works on the backups whose drill passed, newest first, as
 * restic's `forget --keep-daily/weekly/monthly` does: the newest backup of
 * each of the last N distinct days, weeks (Monday to Sunday, UTC) and
 * months that have one is kept; a backup kept by any rule stays. What is
 * not kept is deleted only when it is older than the newest verified
 * backup, so a run of failed backups never costs a good one.
 */
#include "backup/backup_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/banned.h"

static bool is_backup_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && !strcmp(name + n - 4, ".ckb");
}

/* The drill record "<path>.json", when there is one. */
static void read_sidecar(struct backup_info *b)
{
    struct strbuf p = STRBUF_INIT;
    json_error_t je;
    json_t *o;
    const char *when = NULL, *result = NULL, *msg = NULL;
    json_int_t bms = 0, dms = 0;

    strbuf_addf(&p, "%s.json", b->path);
    o = json_load_file(p.buf, 0, &je);
    strbuf_release(&p);
    if (!o)
        return;
    if (!json_unpack(o, "{s:s, s:s, s?s, s?I, s?I}", "verified_at", &when, "result", &result,
                     "message", &msg, "backup_ms", &bms, "drill_ms", &dms) &&
        !time_parse(when, &b->verified_at)) {
        b->verified = true;
        b->verify_ok = !strcmp(result, "ok");
        b->message = xstrdup_or_null(msg);
        b->backup_ms = bms;
        b->drill_ms = dms;
    }
    json_decref(o);
}

static int newest_first(const void *a, const void *b)
{
    const struct backup_info *x = a, *y = b;
    size_t lx = strlen(x->name), ly = strlen(y->name);
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    /* "-10" after "-9": the longer name of one second is the later. */
    if (lx != ly)
        return lx > ly ? -1 : 1;
    return -strcmp(x->name, y->name);
}

int backup_list(const char *dir, struct backup_info **out, size_t *n, struct strbuf *err)
{
    struct backup_info *v = NULL;
    size_t alloc = 0;
    struct dirent *e;
    DIR *d;

    *out = NULL;
    *n = 0;
    d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        strbuf_addf(err, "cannot read the backup directory '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    while ((e = readdir(d))) {
        struct strbuf why = STRBUF_INIT;
        struct backup_manifest m;
        struct backup_info *b;
        struct stat st;

        if (!is_backup_name(e->d_name))
            continue;
        ALLOC_GROW(v, *n + 1, alloc);
        b = &v[(*n)++];
        memset(b, 0, sizeof(*b));
        b->name = xstrdup(e->d_name);
        strbuf_addf(&why, "%s/%s", dir, e->d_name);
        b->path = strbuf_detach(&why, NULL);
        if (!stat(b->path, &st))
            b->bytes = (int64_t)st.st_size;
        if (!backup_read_manifest(b->path, &m, &why)) {
            b->created = m.created;
            b->backend = xstrdup(m.backend);
            b->compress = xstrdup(backup_compress_name(m.compress));
            b->encrypted = m.encrypted;
            b->note = xstrdup_or_null(m.note);
        } else {
            b->message = strbuf_detach(&why, NULL);
        }
        backup_manifest_release(&m);
        strbuf_release(&why);
        read_sidecar(b);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), newest_first);
    *out = v;
    return 0;
}

void backup_infos_free(struct backup_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].name);
        free(v[i].path);
        free(v[i].backend);
        free(v[i].compress);
        free(v[i].note);
        free(v[i].message);
    }
    free(v);
}

/* The keys of the periods: a day, a week starting on Monday, a month. */
static int64_t day_key(int64_t t)
{
    return t >= 0 ? t / 86400 : (t - 86399) / 86400;
}

static int64_t week_key(int64_t t)
{
    /* 1970-01-01 was a Thursday: day 0 + 3 is in the week of Monday 1969-12-29. */
    int64_t d = day_key(t) + 3;
    return d >= 0 ? d / 7 : (d - 6) / 7;
}

static int64_t month_key(int64_t t)
{
    struct civil_time c;
    time_to_civil(t, &c);
    return (int64_t)c.year * 12 + c.month - 1;
}

static void keep_by(const struct backup_info *v, size_t n, int64_t count, int64_t (*key)(int64_t),
                    bool *keep)
{
    int64_t last = 0, taken = 0;
    for (size_t i = 0; i < n && taken < count; i++) {
        if (!v[i].verify_ok)
            continue;
        int64_t k = key(v[i].created);
        if (taken && k == last)
            continue;
        keep[i] = true;
        last = k;
        taken++;
    }
}

void backup_retention(const struct backup_info *v, size_t n, int64_t daily, int64_t weekly,
                      int64_t monthly, bool *keep)
{
    size_t newest_ok = n;

    for (size_t i = 0; i < n; i++) {
        keep[i] = false;
        if (newest_ok == n && v[i].verify_ok)
            newest_ok = i;
    }
    if (newest_ok == n) {
        for (size_t i = 0; i < n; i++)
            keep[i] = true;
        return;
    }
    /* Everything newer than the newest verified backup stays, and that one too. */
    for (size_t i = 0; i <= newest_ok; i++)
        keep[i] = true;
    keep_by(v, n, daily, day_key, keep);
    keep_by(v, n, weekly, week_key, keep);
    keep_by(v, n, monthly, month_key, keep);
}

bool backup_is_stale(int64_t last_verified, int64_t max_age, int64_t now)
{
    return !last_verified || now - last_verified > max_age;
}

int backup_last_verified(const char *dir, int64_t *out, struct strbuf *err)
{
    struct backup_info *v = NULL;
    size_t n = 0;
    int rc = backup_list(dir, &v, &n, err);

    *out = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (v[i].verify_ok) {
            *out = v[i].created;
            break;
        }
    }
    backup_infos_free(v, n);
    return rc;
}

void backup_info_json(const struct backup_info *b, struct strbuf *out)
{
    char created[TIME_BUFSZ], verified[TIME_BUFSZ];
    json_t *o;
    char *text;

    time_format_iso8601(b->created, created);
    time_format_iso8601(b->verified_at, verified);
    o = json_pack("{s:s, s:s?, s:I, s:s?, s:s?, s:b, s:s?, s:I, s:s?, s:s, s:I, s:s?}", "name",
                  b->name, "created", b->created ? created : NULL, "bytes", (json_int_t)b->bytes,
                  "backend", b->backend, "compression", b->compress, "encrypted", b->encrypted,
                  "note", b->note, "backup_ms", (json_int_t)b->backup_ms, "verified_at",
                  b->verified ? verified : NULL, "result",
                  !b->verified   ? "unverified"
                  : b->verify_ok ? "ok"
                                 : "failed",
                  "drill_ms", (json_int_t)b->drill_ms, "message", b->message);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    strbuf_addstr(out, text ? text : "{}");
    free(text);
}
