/* SPDX-License-Identifier: MIT */
/*
 * The report directory (report.h): where the three files of each report
 * are written, listed, read back and, after [report] keep, deleted.
 *
 * A file is written under ".<name>.tmp" and renamed into place, so a
 * reader (GET /reports/{id}) never sees half a report. The names are
 * "<type>-YYYYMMDDTHHMMZ.<format>"; anything else in the directory is
 * left alone, which is also what keeps an id given to report_read() from
 * naming any other file: it must parse as a report's id.
 */
#include "report/report.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

char *report_dir(const struct report_settings *s, const char *store_url)
{
    const char *file = store_sqlite_file(store_url);
    const char *slash;

    if (s && s->dir && *s->dir)
        return xstrdup(s->dir);
    if (!file || !(slash = strrchr(file, '/')))
        return xstrdup("reports");
    {
        struct strbuf d = STRBUF_INIT;
        strbuf_add(&d, file, (size_t)(slash - file));
        strbuf_addstr(&d, slash == file ? "reports" : "/reports");
        return strbuf_detach(&d, NULL);
    }
}

/*
 * Parse "<type>-YYYYMMDDTHHMMZ" (the whole of `s`, or up to `len`
 * bytes): 0 with the type and start, or CK_EINVAL.
 */
static int parse_id(const char *s, size_t len, enum report_type *type, int64_t *from)
{
    char name[16], rest[20];
    const char *dash = memchr(s, '-', len);
    struct civil_time c = {0};
    size_t tl;

    if (!dash || (tl = (size_t)(dash - s)) >= sizeof(name) || len - tl - 1 != 14)
        return CK_EINVAL;
    memcpy(name, s, tl);
    name[tl] = '\0';
    memcpy(rest, dash + 1, 14);
    rest[14] = '\0';
    if (report_type_parse(name, type))
        return CK_EINVAL;
    for (int i = 0; i < 14; i++) {
        bool digit = rest[i] >= '0' && rest[i] <= '9';
        if ((i == 8 && rest[i] != 'T') || (i == 13 && rest[i] != 'Z') ||
            (i != 8 && i != 13 && !digit))
            return CK_EINVAL;
    }
    c.year = (rest[0] - '0') * 1000 + (rest[1] - '0') * 100 + (rest[2] - '0') * 10 + rest[3] - '0';
    c.month = (rest[4] - '0') * 10 + rest[5] - '0';
    c.day = (rest[6] - '0') * 10 + rest[7] - '0';
    c.hour = (rest[9] - '0') * 10 + rest[10] - '0';
    c.min = (rest[11] - '0') * 10 + rest[12] - '0';
    if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > 31 || c.hour > 23 || c.min > 59)
        return CK_EINVAL;
    *from = time_from_civil(&c);
    return 0;
}

/* Split a file name "<id>.<format>": 0, or CK_EINVAL for another file. */
static int parse_name(const char *name, struct report_file *out, enum report_format *f)
{
    const char *dot = strrchr(name, '.');
    size_t len;

    if (!dot || report_format_parse(dot + 1, f))
        return CK_EINVAL;
    len = (size_t)(dot - name);
    if (len >= sizeof(out->id) || parse_id(name, len, &out->type, &out->from))
        return CK_EINVAL;
    memcpy(out->id, name, len);
    out->id[len] = '\0';
    return 0;
}

static int write_file(const char *dir, const char *id, enum report_format f,
                      const struct strbuf *body, struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT, tmp = STRBUF_INIT;
    FILE *fp;
    int rc = 0;

    strbuf_addf(&path, "%s/%s.%s", dir, id, report_format_name(f));
    strbuf_addf(&tmp, "%s/.%s.%s.tmp", dir, id, report_format_name(f));
    fp = fopen(tmp.buf, "w");
    if (!fp) {
        strbuf_addf(err, "report: cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    if (fwrite(body->buf, 1, body->len, fp) != body->len || fflush(fp) || fsync(fileno(fp))) {
        strbuf_addf(err, "report: cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    if (fclose(fp) && !rc) {
        strbuf_addf(err, "report: cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    if (!rc && rename(tmp.buf, path.buf)) {
        strbuf_addf(err, "report: cannot rename '%s' to '%s': %s", tmp.buf, path.buf,
                    strerror(errno));
        rc = CK_EIO;
    }
    if (rc)
        unlink(tmp.buf);
out:
    strbuf_release(&path);
    strbuf_release(&tmp);
    return rc;
}

/* Delete the report files of `dir` whose period started before `before`. */
static void prune(const char *dir, int64_t before)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct strbuf path = STRBUF_INIT;

    if (!d)
        return;
    while ((e = readdir(d))) {
        struct report_file rf;
        enum report_format f;
        if (parse_name(e->d_name, &rf, &f) || rf.from >= before)
            continue;
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", dir, e->d_name);
        unlink(path.buf);
    }
    closedir(d);
    strbuf_release(&path);
}

int report_write(const struct report *r, const char *dir, int64_t keep, int64_t now,
                 struct strbuf *err)
{
    struct strbuf body = STRBUF_INIT;
    int rc = 0;

    if (mkdir(dir, 0700) && errno != EEXIST) {
        strbuf_addf(err, "report: cannot create '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    for (int f = REPORT_HTML; f <= REPORT_CSV && !rc; f++) {
        strbuf_reset(&body);
        report_render(r, (enum report_format)f, &body);
        rc = write_file(dir, r->id, (enum report_format)f, &body, err);
    }
    strbuf_release(&body);
    if (!rc && keep > 0)
        prune(dir, now - keep);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    const struct report_file *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? 1 : -1;
    return strcmp(x->id, y->id);
}

int report_list(const char *dir, struct report_file **out, size_t *n, struct strbuf *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct strbuf path = STRBUF_INIT;
    size_t alloc = 0;

    *out = NULL;
    *n = 0;
    if (!d) {
        if (errno == ENOENT)
            return 0;
        strbuf_addf(err, "report: cannot read '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    while ((e = readdir(d))) {
        struct report_file rf = {0}, *slot = NULL;
        enum report_format f;
        struct stat sb;

        if (parse_name(e->d_name, &rf, &f))
            continue;
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", dir, e->d_name);
        if (stat(path.buf, &sb) || !S_ISREG(sb.st_mode))
            continue;
        for (size_t i = 0; i < *n && !slot; i++)
            if (!strcmp((*out)[i].id, rf.id))
                slot = &(*out)[i];
        if (!slot) {
            ALLOC_GROW(*out, *n + 1, alloc);
            slot = &(*out)[(*n)++];
            *slot = rf;
        }
        slot->formats |= 1u << f;
        slot->bytes += (int64_t)sb.st_size;
    }
    closedir(d);
    strbuf_release(&path);
    if (*n)
        qsort(*out, *n, sizeof(**out), cmp_file);
    return 0;
}

int report_read(const char *dir, const char *id, enum report_format f, struct strbuf *out,
                struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT;
    enum report_type type;
    int64_t from;
    char buf[8192];
    size_t got;
    FILE *fp;
    int rc = 0;

    if (parse_id(id, strlen(id), &type, &from)) {
        strbuf_addstr(err, "not a report id (want <daily|weekly>-YYYYMMDDTHHMMZ)");
        return CK_EINVAL;
    }
    strbuf_addf(&path, "%s/%s.%s", dir, id, report_format_name(f));
    fp = fopen(path.buf, "r");
    if (!fp) {
        rc = errno == ENOENT ? CK_ENOTFOUND : CK_EIO;
        if (rc == CK_ENOTFOUND)
            strbuf_addf(err, "no %s report '%s'", report_format_name(f), id);
        else
            strbuf_addf(err, "report: cannot read '%s': %s", path.buf, strerror(errno));
        goto out;
    }
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(out, buf, got);
    if (ferror(fp)) {
        strbuf_addf(err, "report: cannot read '%s'", path.buf);
        rc = CK_EIO;
    }
    fclose(fp);
out:
    strbuf_release(&path);
    return rc;
}
