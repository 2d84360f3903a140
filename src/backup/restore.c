/* SPDX-License-Identifier: MIT */
/*
 * Restoring a backup (backup.h).
 *
 * Everything that can refuse does so before the target is touched: the
 * file's checksum, the key (the GCM tag is checked in a pass of its own),
 * the target (empty, not held by a daemon), and the payload itself,
 * which is decompressed into a temporary SQLite file, checked by SQLite
 * and summed table by table against the manifest. Only then is the target
 * written:
 *
 *  - SQLite: the temporary file lies beside the target (same file system),
 *    so putting it in place is a rename. A database that holds data is
 *    moved aside with its -wal and -shm under --force; an empty one is
 *    removed. A -wal or -shm without its database (left by a database
 *    deleted by hand) is removed first: SQLite would otherwise replay that
 *    log into the restored file and corrupt it. The daemon's lock file
 *    "<db>.lock" is held from the first check to the rename, so no daemon
 *    can start on the file half way.
 *  - PostgreSQL: the checked copy is copied in through migrate_run(), which
 *    sums what it wrote on the target; those sums are compared with the
 *    manifest too.
 */
#include "backup/backup_internal.h"

#include "store/store.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "util/banned.h"

void restore_result_release(struct restore_result *r)
{
    if (!r)
        return;
    backup_manifest_release(&r->manifest);
    migrate_report_release(&r->check);
    free(r->moved_aside);
    memset(r, 0, sizeof(*r));
}

/* Take "<db>.lock" as the daemon does; CK_ECONFLICT when a daemon holds it. */
static int lock_target(const char *db, int *out, bool *created, struct strbuf *err)
{
    struct strbuf p = STRBUF_INIT;
    char pid[32] = "";
    ssize_t n;
    int fd;

    strbuf_addf(&p, "%s.lock", db);
    *created = access(p.buf, F_OK) != 0;
    fd = open(p.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_addf(err, "cannot create the lock file '%s': %s", p.buf, strerror(errno));
        strbuf_release(&p);
        return CK_EIO;
    }
    strbuf_release(&p);
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        strbuf_addf(err,
                    "a candlekeep daemon (pid %s) is running on '%s'; stop it before restoring "
                    "over its database",
                    *pid ? pid : "?", db);
        close(fd);
        return CK_ECONFLICT;
    }
    *out = fd;
    return 0;
}

static void remove_lock_file(const char *db)
{
    struct strbuf p = STRBUF_INIT;
    strbuf_addf(&p, "%s.lock", db);
    unlink(p.buf);
    strbuf_release(&p);
}

/* Does the store at `url` hold data? CK_ECONFLICT with `err` saying what, or 0, or CK_E*. */
static int target_holds_data(const char *url, const char *name, struct strbuf *err)
{
    struct store *st = NULL;
    int rc = store_open(&st, url, err);
    if (!rc)
        rc = migrate_check_empty(st, name, err);
    store_close(st);
    return rc;
}

/* Move `db` and its -wal and -shm to "<db>.pre-restore-STAMP". */
static int move_aside(const char *db, int64_t now, char **out, struct strbuf *err)
{
    static const char *const sfx[] = {"", "-wal", "-shm"};
    struct strbuf base = STRBUF_INIT, from = STRBUF_INIT, to = STRBUF_INIT;
    struct civil_time c;
    int rc = 0;

    time_to_civil(now, &c);
    strbuf_addf(&base, "%s.pre-restore-%04d%02d%02dT%02d%02d%02dZ", db, c.year, c.month, c.day,
                c.hour, c.min, c.sec);
    for (int k = 2; !access(base.buf, F_OK); k++) {
        strbuf_addf(&base, "-%d", k);
        if (k > 100)
            break;
    }
    for (size_t i = 0; i < ARRAY_SIZE(sfx) && !rc; i++) {
        strbuf_reset(&from);
        strbuf_reset(&to);
        strbuf_addf(&from, "%s%s", db, sfx[i]);
        strbuf_addf(&to, "%s%s", base.buf, sfx[i]);
        if (rename(from.buf, to.buf) && errno != ENOENT) {
            strbuf_addf(err, "cannot move '%s' aside to '%s': %s", from.buf, to.buf,
                        strerror(errno));
            rc = CK_EIO;
        }
    }
    if (!rc)
        *out = strbuf_detach(&base, NULL);
    strbuf_release(&base);
    strbuf_release(&from);
    strbuf_release(&to);
    return rc;
}

/* Remove a -wal, -shm or -journal of `db` that has no database beside it. */
static int remove_stale(const char *db)
{
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    struct strbuf p = STRBUF_INIT;
    int removed = 0;

    for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
        strbuf_reset(&p);
        strbuf_addf(&p, "%s%s", db, sfx[i]);
        if (!unlink(p.buf))
            removed++;
    }
    strbuf_release(&p);
    return removed;
}

static int restore_sqlite(const struct restore_opts *o, struct container *c,
                          struct restore_result *out, struct strbuf *err)
{
    const char *db = store_sqlite_file(o->to);
    struct strbuf tmp = STRBUF_INIT;
    char *dir = dir_of(db);
    bool exists = !access(db, F_OK), held = false, made_lock = false;
    int lock = -1, rc;

    rc = lock_target(db, &lock, &made_lock, err);
    if (rc)
        goto out;
    if (exists) {
        struct strbuf why = STRBUF_INIT;
        rc = target_holds_data(o->to, db, &why);
        held = rc == CK_ECONFLICT;
        if (held && !o->force) {
            strbuf_addf(err, "%s; restore into a new file, or pass --force to move it aside",
                        why.buf);
        } else if (rc && !held) {
            strbuf_addbuf(err, &why);
        } else {
            rc = 0;
        }
        strbuf_release(&why);
        if (rc)
            goto out;
    }
    strbuf_addf(&tmp, "%s.restore.tmp", db);
    rc = drill_check(c, &out->manifest, o->key, tmp.buf, o->progress, o->progress_arg, &out->check,
                     err);
    if (rc)
        goto out;
    if (exists && held)
        rc = move_aside(db, o->now, &out->moved_aside, err);
    else if (exists)
        remove_db_files(db);
    if (rc)
        goto out;
    out->stale_removed = remove_stale(db);
    out->written = true;
    if (rename(tmp.buf, db)) {
        strbuf_addf(err, "cannot rename '%s' to '%s': %s", tmp.buf, db, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    rc = fsync_dir(dir, err);
out:
    if (rc)
        remove_db_files(tmp.buf);
    if (lock >= 0) {
        /* A refused restore leaves nothing behind, not even the lock file it made. */
        if (rc && made_lock && !out->written)
            remove_lock_file(db);
        close(lock);
    }
    strbuf_release(&tmp);
    free(dir);
    return rc;
}

static int restore_pg(const struct restore_opts *o, struct container *c, struct restore_result *out,
                      struct strbuf *err)
{
    char *name = redact_url(o->to, 0);
    const char *tmpdir = getenv("TMPDIR");
    struct strbuf dir = STRBUF_INIT, tmp = STRBUF_INIT, url = STRBUF_INIT;
    struct store *from = NULL, *to = NULL;
    struct migrate_report rep = {0};
    int rc;

    rc = target_holds_data(o->to, name, err);
    if (rc == CK_ECONFLICT)
        strbuf_addstr(err, "; restore into an empty PostgreSQL database (--force moves only a "
                           "SQLite file aside)");
    if (rc)
        goto out;
    strbuf_addf(&dir, "%s/candlekeep-restore-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir.buf)) {
        strbuf_addf(err, "cannot create a temporary directory in '%s': %s",
                    tmpdir && *tmpdir ? tmpdir : "/tmp", strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    strbuf_addf(&tmp, "%s/payload.db", dir.buf);
    rc = drill_check(c, &out->manifest, o->key, tmp.buf, o->progress, o->progress_arg, &out->check,
                     err);
    if (rc)
        goto out;
    strbuf_addf(&url, "sqlite:%s", tmp.buf);
    rc = store_open(&from, url.buf, err);
    if (!rc)
        rc = store_open(&to, o->to, err);
    if (!rc) {
        out->written = true;
        struct migrate_opts mo = {
            .from = from,
            .to = to,
            .from_name = "the backup",
            .to_name = name,
            .progress = o->progress,
            .progress_arg = o->progress_arg,
        };
        rc = migrate_run(&mo, &rep, err);
    }
    /* What the target holds now, against the manifest. */
    for (size_t i = 0; !rc && i < rep.n && i < out->check.n; i++)
        out->check.v[i].target = rep.v[i].target;
out:
    store_close(from);
    store_close(to);
    migrate_report_release(&rep);
    if (tmp.len)
        remove_db_files(tmp.buf);
    if (dir.len)
        rmdir(dir.buf);
    strbuf_release(&dir);
    strbuf_release(&tmp);
    strbuf_release(&url);
    free(name);
    return rc;
}

int restore_run(const struct restore_opts *o, struct restore_result *out, struct strbuf *err)
{
    const char *backend = store_url_backend(o->to);
    struct container c;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!backend) {
        strbuf_addstr(err, "--to is not a database URL (use sqlite:PATH or postgresql://...)");
        return CK_EINVAL;
    }
    rc = container_open(o->file, &c, err);
    if (rc)
        return rc;
    rc = container_check(&c, err);
    if (!rc)
        rc = manifest_parse(c.manifest, &out->manifest, err);
    if (!rc && out->manifest.encrypted && !o->key) {
        strbuf_addstr(err, "the backup is encrypted and no key was given (set [backup] "
                           "encrypt_key_file, or --key-file)");
        rc = CK_EAUTH;
    }
    if (!rc)
        rc = store_sqlite_file(o->to) ? restore_sqlite(o, &c, out, err)
                                      : restore_pg(o, &c, out, err);
    container_close(&c);
    if (!rc && !migrate_report_ok(&out->check)) {
        strbuf_addstr(err, "the restored database does not match the backup's manifest");
        rc = CK_EPARSE;
    }
    return rc;
}
