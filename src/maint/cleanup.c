/* SPDX-License-Identifier: MIT */
/*
 * The data_cleanup task (maint.h): what candlekeep keeps only for a while.
 *
 * Job history and leases go through the store in one call (the scheduler
 * also prunes history hourly; this task is the daily guarantee, and what an
 * operator runs by hand). Stale temporary files are looked for directly in
 * each of candlekeep's own directories, not below them: a `*.tmp` file is
 * what an interrupted write of candlekeep's leaves (an export, a
 * compression, a copy), and one that nobody has touched for a day is not
 * being written any more. Only regular files are deleted; a symbolic link
 * is never followed.
 */
#include "maint/maint.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

static bool is_tmp_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcmp(name + n - 4, ".tmp");
}

/* Delete the stale *.tmp files of `dir`; counts into *files and *bytes. */
static int clean_dir(const char *dir, int64_t cutoff, int64_t *files, int64_t *bytes,
                     struct strbuf *why)
{
    struct strbuf path = STRBUF_INIT;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (!d) {
        strbuf_addf(why, "cannot read '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    while ((de = readdir(d))) {
        struct stat sb;
        if (!is_tmp_name(de->d_name))
            continue;
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", dir, de->d_name);
        if (lstat(path.buf, &sb) || !S_ISREG(sb.st_mode) || (int64_t)sb.st_mtime >= cutoff)
            continue;
        if (!unlink(path.buf)) {
            (*files)++;
            *bytes += (int64_t)sb.st_size;
        }
    }
    closedir(d);
    strbuf_release(&path);
    return 0;
}

int maint_cleanup_run(struct store *st, const struct maint_cleanup *c, int64_t now,
                      struct maint_result *out, struct strbuf *err)
{
    int64_t runs = 0, files = 0, bytes = 0;
    json_t *dirs = json_array(), *errors = json_array();
    struct strbuf why = STRBUF_INIT;
    int rc = 0;

    if (c->history_keep > 0)
        rc = store_job_runs_prune(st, (now - c->history_keep) * 1000, &runs, err);
    for (size_t i = 0; !rc && i < c->ndirs; i++) {
        json_array_append_new(dirs, json_string(c->dirs[i]));
        strbuf_reset(&why);
        if (clean_dir(c->dirs[i], now - c->tmp_max_age, &files, &bytes, &why))
            json_array_append_new(errors, json_string(why.buf));
    }
    maint_detail_int(out, "job_runs_deleted", runs);
    maint_detail_int(out, "tmp_files_deleted", files);
    maint_detail_int(out, "bytes_freed", bytes);
    json_object_set_new(out->details, "dirs", dirs);
    if (json_array_size(errors))
        json_object_set(out->details, "errors", errors);
    json_decref(errors);
    if (!rc)
        strbuf_addf(&out->message,
                    "deleted %lld job runs and leases, %lld stale temporary files (%lld bytes)",
                    (long long)runs, (long long)files, (long long)bytes);
    strbuf_release(&why);
    return rc;
}
