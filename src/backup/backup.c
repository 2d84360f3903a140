/* SPDX-License-Identifier: MIT */
/*
 * Making a backup and proving it (backup.h).
 *
 * The steps, each of which must succeed before the next begins:
 *
 *  1. copy: SQLite, an online copy of the file (snapshot.c) while the
 *     daemon goes on writing; PostgreSQL, every table copied into a fresh
 *     SQLite file through migrate/ in one repeatable-read, read-only
 *     transaction (so the payload is a SQLite file whatever the engine,
 *     and of one moment);
 *  2. check: SQLite's integrity check of the copy;
 *  3. manifest: the copy opened as a store, every table summed by
 *     migrate_sum_store(), with the time, versions and backend;
 *  4. write: header, manifest and the compressed (and, with a key,
 *     encrypted) copy under ".<name>.tmp", fsynced (container.c), then
 *     linked to its name, the directory fsynced: the name appears only
 *     for a complete file;
 *  5. drill: the file just written is read back from disk, its checksum
 *     checked, its payload restored into a temporary SQLite file and
 *     every table compared with the manifest; the verdict goes to
 *     "<name>.json" beside it;
 *  6. when the drill passed: a copy into [backup] copy_to (a temporary
 *     name, then a rename) and the retention of both directories.
 *
 * One backup runs in a directory at a time (an flock on "<dir>/.lock");
 * the one that holds it removes temporary files left by a process that
 * died.
 */
#include "backup/backup_internal.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

static const char *const compress_names[] = {
    [BACKUP_ZSTD] = "zstd",
    [BACKUP_GZIP] = "gzip",
    [BACKUP_NONE] = "none",
};

int backup_compress_parse(const char *name, enum backup_compress *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(compress_names); i++) {
        if (!strcmp(name, compress_names[i])) {
            *out = (enum backup_compress)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *backup_compress_name(enum backup_compress c)
{
    return (size_t)c < ARRAY_SIZE(compress_names) ? compress_names[c] : "?";
}

int backup_key_load(const char *path, unsigned char out[BACKUP_KEY_SIZE], struct strbuf *err)
{
    unsigned char raw[256], dec[256];
    char text[256];
    size_t len = 0;
    int fd, n, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        strbuf_addf(err, "cannot read the backup key file '%s': %s", path, strerror(errno));
        return CK_ECONFIG;
    }
    n = (int)read(fd, raw, sizeof(raw) - 1);
    close(fd);
    if (n < 0) {
        strbuf_addf(err, "cannot read the backup key file '%s': %s", path, strerror(errno));
        return CK_ECONFIG;
    }
    for (int i = 0; i < n; i++)
        if (raw[i] != ' ' && raw[i] != '\n' && raw[i] != '\r' && raw[i] != '\t')
            text[len++] = (char)raw[i];
    text[len] = '\0';
    /* 32 bytes are 44 characters of base64, the last one '='. */
    if (len != 44 || text[43] != '=' || text[42] == '=' ||
        EVP_DecodeBlock(dec, (const unsigned char *)text, (int)len) != 33) {
        strbuf_addf(err,
                    "the backup key file '%s' does not hold 32 bytes in base64 (make one with "
                    "'head -c 32 /dev/urandom | base64')",
                    path);
        rc = CK_ECONFIG;
    } else {
        memcpy(out, dec, BACKUP_KEY_SIZE);
    }
    OPENSSL_cleanse(raw, sizeof(raw));
    OPENSSL_cleanse(dec, sizeof(dec));
    OPENSSL_cleanse(text, sizeof(text));
    return rc;
}

void backup_manifest_release(struct backup_manifest *m)
{
    if (!m)
        return;
    if (m->names)
        for (size_t i = 0; i < m->tables.n; i++)
            free(m->names[i]);
    free(m->names);
    free(m->version);
    free(m->backend);
    free(m->note);
    migrate_report_release(&m->tables);
    memset(m, 0, sizeof(*m));
}

int backup_read_manifest(const char *path, struct backup_manifest *out, struct strbuf *err)
{
    struct container c;
    int rc = container_open(path, &c, err);
    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    rc = manifest_parse(c.manifest, out, err);
    container_close(&c);
    return rc;
}

int backup_verify_file(const char *path, struct backup_manifest *out, struct strbuf *err)
{
    struct container c;
    int rc = container_open(path, &c, err);
    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    rc = container_check(&c, err);
    if (!rc)
        rc = manifest_parse(c.manifest, out, err);
    container_close(&c);
    return rc;
}

char *backup_dir(const struct backup_settings *s, const char *url)
{
    const char *file = store_sqlite_file(url);
    struct strbuf d = STRBUF_INIT;
    char *parent;

    if (s && s->dir && *s->dir)
        return xstrdup(s->dir);
    if (!file)
        return xstrdup("backups");
    parent = dir_of(file);
    strbuf_addf(&d, "%s/backups", parent);
    free(parent);
    return strbuf_detach(&d, NULL);
}

void backup_result_release(struct backup_result *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->copy);
    backup_manifest_release(&r->manifest);
    strbuf_release(&r->drill_message);
    memset(r, 0, sizeof(*r));
}

/* --- the drill ---------------------------------------------------------- */

/* SHA-256 of nothing: the digest of a table with no rows. */
static void empty_digest(unsigned char out[MIGRATE_DIGEST_SIZE])
{
    unsigned int n = 0;
    if (!EVP_Digest("", 0, out, &n, EVP_sha256(), NULL))
        BUG("libcrypto: SHA-256 failed");
}

/*
 * Pair the manifest's tables with the tables summed from a restored copy:
 * `check` gets one row per table this candlekeep knows, `source` from
 * the manifest (a table the manifest lacks, newer than the backup, is
 * expected empty), `target` from `sums`. A manifest table this
 * candlekeep does not know is an error.
 */
static int pair_tables(const struct backup_manifest *m, const struct migrate_report *sums,
                       struct migrate_report *check, struct strbuf *err)
{
    check->v = xcalloc(sums->n ? sums->n : 1, sizeof(*check->v));
    check->n = sums->n;
    for (size_t j = 0; j < m->tables.n; j++) {
        bool known = false;
        for (size_t i = 0; i < sums->n; i++)
            known = known || !strcmp(sums->v[i].table, m->tables.v[j].table);
        if (!known) {
            strbuf_addf(err,
                        "the backup's manifest lists a table '%s' that this candlekeep does "
                        "not know (a backup of a newer version?)",
                        m->tables.v[j].table);
            return CK_EPARSE;
        }
    }
    for (size_t i = 0; i < sums->n; i++) {
        struct migrate_table_result *r = &check->v[i];
        r->table = sums->v[i].table;
        r->target = sums->v[i].source;
        empty_digest(r->source.digest);
        for (size_t j = 0; j < m->tables.n; j++)
            if (!strcmp(m->tables.v[j].table, r->table))
                r->source = m->tables.v[j].source;
    }
    return 0;
}

int drill_check(struct container *c, const struct backup_manifest *m, const unsigned char *key,
                const char *tmp_db, migrate_progress_fn *progress, void *progress_arg,
                struct migrate_report *check, struct strbuf *err)
{
    struct migrate_report sums = {0};
    struct strbuf url = STRBUF_INIT, differ = STRBUF_INIT;
    struct store *st = NULL;
    int rc, bad = 0;

    memset(check, 0, sizeof(*check));
    remove_db_files(tmp_db);
    rc = container_extract(c, m->compress, m->encrypted, key, m->payload_bytes, tmp_db, err);
    if (rc)
        goto out;
    rc = snapshot_check(tmp_db, err);
    if (rc)
        goto out;
    strbuf_addf(&url, "sqlite:%s", tmp_db);
    rc = store_open(&st, url.buf, err);
    if (!rc)
        rc = migrate_sum_store(st, "the restored copy", progress, progress_arg, &sums, err);
    store_close(st);
    if (!rc)
        rc = pair_tables(m, &sums, check, err);
    if (rc)
        goto out;
    for (size_t i = 0; i < check->n; i++) {
        if (migrate_table_ok(&check->v[i]))
            continue;
        strbuf_addf(&differ, "%s%s", bad++ ? ", " : "", check->v[i].table);
    }
    if (bad) {
        strbuf_addf(err, "the backup's data disagree with its manifest: table%s %s differ%s",
                    bad > 1 ? "s" : "", differ.buf, bad > 1 ? "" : "s");
        rc = CK_EPARSE;
    }
out:
    migrate_report_release(&sums);
    strbuf_release(&url);
    strbuf_release(&differ);
    return rc;
}

/* --- writing a backup --------------------------------------------------- */

/* "20240315T120000Z" */
static void stamp(int64_t t, char out[TIME_BUFSZ])
{
    struct civil_time c;
    time_to_civil(t, &c);
    snprintf(out, TIME_BUFSZ, "%04d%02d%02dT%02d%02d%02dZ", c.year, c.month, c.day, c.hour, c.min,
             c.sec);
}

/*
 * Remove what a backup that died left in `dir`: the temporary files, whose
 * names start with '.' and hold ".tmp" (with SQLite's -wal and -shm of
 * the temporary databases), and drill records half written ("*.json.tmp").
 */
static void remove_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct strbuf p = STRBUF_INIT;

    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        bool tmp = e->d_name[0] == '.' && strstr(e->d_name, ".tmp");
        bool record = n > 9 && !strcmp(e->d_name + n - 9, ".json.tmp");
        if (!tmp && !record)
            continue;
        strbuf_reset(&p);
        strbuf_addf(&p, "%s/%s", dir, e->d_name);
        unlink(p.buf);
    }
    closedir(d);
    strbuf_release(&p);
}

/* Take "<dir>/.lock"; the fd in *out. CK_EBUSY when another backup holds it. */
static int lock_dir(const char *dir, int *out, struct strbuf *err)
{
    struct strbuf p = STRBUF_INIT;
    int fd;

    strbuf_addf(&p, "%s/.lock", dir);
    fd = open(p.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_addf(err, "cannot create '%s': %s", p.buf, strerror(errno));
        strbuf_release(&p);
        return CK_EIO;
    }
    strbuf_release(&p);
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        strbuf_addf(err, "another backup into '%s' is running", dir);
        close(fd);
        return CK_EBUSY;
    }
    *out = fd;
    return 0;
}

/*
 * Step 1: the database into the SQLite file `tmp_db`. From PostgreSQL,
 * migrate_run() sums the copy as it checks it: `sums` gets those sums (as
 * `source`), which make the manifest without reading the copy again.
 */
static int copy_database(const char *url, const char *tmp_db, struct migrate_report *sums,
                         struct strbuf *err)
{
    const char *file = store_sqlite_file(url);
    struct store *from = NULL, *to = NULL;
    struct migrate_report rep = {0};
    struct strbuf to_url = STRBUF_INIT;
    int rc;

    if (file)
        return snapshot_copy(file, tmp_db, err);
    strbuf_addf(&to_url, "sqlite:%s", tmp_db);
    rc = store_open(&from, url, err);
    if (!rc)
        rc = store_open(&to, to_url.buf, err);
    /* Every table as of one moment: one repeatable-read transaction. */
    if (!rc)
        rc = store_begin_snapshot(from, err);
    if (!rc) {
        struct migrate_opts mo = {
            .from = from,
            .to = to,
            .from_name = "the database",
            .to_name = "the backup's copy",
        };
        rc = migrate_run(&mo, &rep, err);
        if (!rc && !migrate_report_ok(&rep)) {
            strbuf_addstr(err, "the copy of the database does not match it (was it written "
                               "to during the copy?)");
            rc = CK_EIO;
        }
    }
    if (from && store_in_transaction(from)) {
        struct strbuf ignored = STRBUF_INIT;
        store_rollback(from, &ignored);
        strbuf_release(&ignored);
    }
    if (!rc) {
        for (size_t i = 0; i < rep.n; i++)
            rep.v[i].source = rep.v[i].target;
        *sums = rep;
    } else {
        migrate_report_release(&rep);
    }
    store_close(from);
    store_close(to);
    strbuf_release(&to_url);
    return rc;
}

/*
 * Step 3: the manifest of the copy `tmp_db` of `o->url`, with the tables
 * of `sums` (taken over) when the copy already summed them.
 */
static int make_manifest(const struct backup_opts *o, const char *tmp_db, enum backup_compress c,
                         bool encrypted, struct migrate_report *sums, struct backup_manifest *m,
                         struct strbuf *err)
{
    struct strbuf url = STRBUF_INIT;
    struct store *st = NULL;
    struct stat sb;
    int rc;

    memset(m, 0, sizeof(*m));
    m->format = CONTAINER_VERSION;
    m->created = o->now;
    m->version = xstrdup(CK_VERSION);
    m->backend = xstrdup(store_url_backend(o->url));
    m->note = o->note && *o->note ? xstrdup(o->note) : NULL;
    m->compress = c;
    m->encrypted = encrypted;
    strbuf_addf(&url, "sqlite:%s", tmp_db);
    rc = store_open(&st, url.buf, err);
    if (!rc)
        rc = store_schema_version(st, &m->schema_version, err);
    if (!rc && sums->n) {
        m->tables = *sums;
        memset(sums, 0, sizeof(*sums));
    } else if (!rc) {
        rc = migrate_sum_store(st, "the backup's copy", NULL, NULL, &m->tables, err);
    }
    store_close(st);
    strbuf_release(&url);
    if (!rc && stat(tmp_db, &sb)) {
        strbuf_addf(err, "cannot stat '%s': %s", tmp_db, strerror(errno));
        rc = CK_EIO;
    }
    if (!rc)
        m->payload_bytes = (int64_t)sb.st_size;
    return rc;
}

/* Step 4's end: link `tmp` to the first free "candlekeep-STAMP[-N].ckb" in `dir`. */
static int publish(const char *dir, const char *tmp, const char *st, char **out, struct strbuf *err)
{
    struct strbuf p = STRBUF_INIT;
    int rc = 0;

    for (int k = 1;; k++) {
        strbuf_reset(&p);
        if (k == 1)
            strbuf_addf(&p, "%s/candlekeep-%s.ckb", dir, st);
        else
            strbuf_addf(&p, "%s/candlekeep-%s-%d.ckb", dir, st, k);
        if (!link(tmp, p.buf))
            break;
        if (errno != EEXIST || k > 1000) {
            strbuf_addf(err, "cannot link '%s' to '%s': %s", tmp, p.buf, strerror(errno));
            rc = CK_EIO;
            break;
        }
    }
    unlink(tmp);
    if (!rc)
        rc = fsync_dir(dir, err);
    if (rc)
        strbuf_release(&p);
    else
        *out = strbuf_detach(&p, NULL);
    return rc;
}

/* Step 5's record: "<path>.json". */
static int write_sidecar(const struct backup_result *r, int64_t now, struct strbuf *err)
{
    struct strbuf p = STRBUF_INIT;
    char when[TIME_BUFSZ];
    const char *slash = strrchr(r->path, '/');
    json_t *o;
    char *text;
    int rc;

    time_format_iso8601(now, when);
    o = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:I}", "backup", slash ? slash + 1 : r->path,
                  "bytes", (json_int_t)r->bytes, "backup_ms", (json_int_t)r->backup_ms,
                  "verified_at", when, "result", r->drill_ok ? "ok" : "failed", "message",
                  r->drill_message.buf, "drill_ms", (json_int_t)r->drill_ms);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    strbuf_addf(&p, "%s.json", r->path);
    rc = write_file_atomic(p.buf, text, err);
    free(text);
    strbuf_release(&p);
    return rc;
}

/* Step 5: restore the backup at r->path into a temporary file and compare. */
static void drill(const char *dir, const char *st, const unsigned char *key,
                  struct backup_result *r)
{
    struct strbuf tmp = STRBUF_INIT, why = STRBUF_INIT;
    struct migrate_report check = {0};
    struct backup_manifest m = {0};
    struct container c;
    int64_t t0 = time_mono_ms();
    int rc;

    strbuf_addf(&tmp, "%s/.drill-%s.db.tmp", dir, st);
    rc = container_open(r->path, &c, &why);
    if (!rc) {
        rc = container_check(&c, &why);
        if (!rc)
            rc = manifest_parse(c.manifest, &m, &why);
        if (!rc)
            rc = drill_check(&c, &m, key, tmp.buf, NULL, NULL, &check, &why);
        container_close(&c);
    }
    remove_db_files(tmp.buf);
    r->drilled = true;
    r->drill_ok = !rc;
    r->drill_ms = time_mono_ms() - t0;
    strbuf_reset(&r->drill_message);
    strbuf_addstr(&r->drill_message, rc ? why.buf : "ok");
    migrate_report_release(&check);
    backup_manifest_release(&m);
    strbuf_release(&tmp);
    strbuf_release(&why);
}

/* Copy `path` into `dir` under its own name (a temporary name first). */
static int copy_file(const char *path, const char *dir, char **out, struct strbuf *err)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct strbuf tmp = STRBUF_INIT, dst = STRBUF_INIT;
    char buf[65536];
    int in = -1, fd = -1, rc = 0;
    ssize_t n;

    rc = make_private_dir(dir, err);
    if (rc)
        return rc;
    strbuf_addf(&tmp, "%s/.%s.tmp", dir, base);
    strbuf_addf(&dst, "%s/%s", dir, base);
    unlink(tmp.buf);
    in = open(path, O_RDONLY | O_CLOEXEC);
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (in < 0 || fd < 0) {
        strbuf_addf(err, "cannot copy '%s' to '%s': %s", path, dir, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (write(fd, buf, (size_t)n) != n) {
            strbuf_addf(err, "cannot write '%s': %s", tmp.buf, strerror(errno));
            rc = CK_EIO;
            goto out;
        }
    }
    if (n < 0 || fsync(fd)) {
        strbuf_addf(err, "cannot copy '%s' to '%s': %s", path, dir, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp.buf, dst.buf)) {
        strbuf_addf(err, "cannot rename '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    rc = fsync_dir(dir, err);
    if (!rc)
        *out = strbuf_detach(&dst, NULL);
out:
    if (in >= 0)
        close(in);
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp.buf);
    strbuf_release(&tmp);
    strbuf_release(&dst);
    return rc;
}

/* Delete a backup and its drill record. */
static void remove_backup(const struct backup_info *b)
{
    struct strbuf p = STRBUF_INIT;
    unlink(b->path);
    strbuf_addf(&p, "%s.json", b->path);
    unlink(p.buf);
    strbuf_release(&p);
}

/* Step 6: the retention of `dir`; the number removed. */
static int apply_retention(const char *dir, const struct backup_settings *s, struct strbuf *err)
{
    struct backup_info *v = NULL;
    size_t n = 0;
    bool *keep;
    int removed = 0;

    if (backup_list(dir, &v, &n, err))
        return 0;
    keep = xcalloc(n ? n : 1, sizeof(*keep));
    backup_retention(v, n, s->keep_daily, s->keep_weekly, s->keep_monthly, keep);
    for (size_t i = 0; i < n; i++) {
        if (keep[i])
            continue;
        remove_backup(&v[i]);
        removed++;
    }
    free(keep);
    backup_infos_free(v, n);
    return removed;
}

/* The copies in copy_to older than copy_keep go; the newest copy always stays. */
static int apply_copy_retention(const char *dir, int64_t keep_s, int64_t now, struct strbuf *err)
{
    struct backup_info *v = NULL;
    size_t n = 0;
    int removed = 0;

    if (backup_list(dir, &v, &n, err))
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (v[i].created && v[i].created < now - keep_s) {
            remove_backup(&v[i]);
            removed++;
        }
    }
    backup_infos_free(v, n);
    return removed;
}

/* Steps 1 to 4 into `dir`, holding its lock; the backup's path in r->path. */
static int write_backup(const struct backup_opts *o, const char *dir, const char *st,
                        enum backup_compress comp, const unsigned char *key,
                        struct backup_result *r, struct strbuf *err)
{
    struct strbuf tmp_db = STRBUF_INIT, tmp = STRBUF_INIT;
    struct migrate_report sums = {0};
    char *json = NULL;
    int64_t t0 = time_mono_ms();
    int rc;

    strbuf_addf(&tmp_db, "%s/.candlekeep-%s.db.tmp", dir, st);
    strbuf_addf(&tmp, "%s/.candlekeep-%s.ckb.tmp", dir, st);
    remove_db_files(tmp_db.buf);
    unlink(tmp.buf);
    rc = copy_database(o->url, tmp_db.buf, &sums, err);
    if (!rc)
        rc = snapshot_check(tmp_db.buf, err);
    if (!rc)
        rc = make_manifest(o, tmp_db.buf, comp, key != NULL, &sums, &r->manifest, err);
    migrate_report_release(&sums);
    if (!rc) {
        json = manifest_to_json(&r->manifest);
        rc = container_write(tmp.buf, json, comp, key, tmp_db.buf, &r->bytes, err);
    }
    remove_db_files(tmp_db.buf);
    if (!rc)
        rc = publish(dir, tmp.buf, st, &r->path, err);
    r->backup_ms = time_mono_ms() - t0;
    free(json);
    strbuf_release(&tmp_db);
    strbuf_release(&tmp);
    return rc;
}

int backup_run(const struct backup_opts *o, struct backup_result *out, struct strbuf *err)
{
    const struct backup_settings *s = o->set;
    unsigned char key[BACKUP_KEY_SIZE];
    bool encrypt = s->encrypt_key_file && *s->encrypt_key_file;
    char *dir = o->dir ? xstrdup(o->dir) : backup_dir(s, o->url);
    char st[TIME_BUFSZ];
    enum backup_compress comp;
    int lock = -1, rc;

    memset(out, 0, sizeof(*out));
    strbuf_init(&out->drill_message, 0);
    if (!store_url_backend(o->url)) {
        strbuf_addstr(err, "the database URL is not sqlite:PATH or postgresql://...");
        rc = CK_EINVAL;
        goto out;
    }
    if (backup_compress_parse(s->compress, &comp)) {
        strbuf_addf(err, "[backup] compress: '%s' is not zstd, gzip or none", s->compress);
        rc = CK_ECONFIG;
        goto out;
    }
    rc = encrypt ? backup_key_load(s->encrypt_key_file, key, err) : 0;
    if (!rc)
        rc = make_private_dir(dir, err);
    if (!rc)
        rc = lock_dir(dir, &lock, err);
    if (rc)
        goto out;
    remove_leftovers(dir);
    stamp(o->now, st);
    rc = write_backup(o, dir, st, comp, encrypt ? key : NULL, out, err);
    if (rc)
        goto out;
    drill(dir, st, encrypt ? key : NULL, out);
    rc = write_sidecar(out, o->now, err);
    if (rc)
        goto out;
    if (!out->drill_ok) {
        strbuf_addf(err, "the backup '%s' failed its restore drill: %s", out->path,
                    out->drill_message.buf);
        rc = CK_EPARSE;
        goto out;
    }
    if (s->copy_to && *s->copy_to) {
        remove_leftovers(s->copy_to);
        rc = copy_file(out->path, s->copy_to, &out->copy, err);
        if (rc)
            goto out;
        out->copies_deleted = apply_copy_retention(s->copy_to, s->copy_keep, o->now, err);
    }
    out->deleted = apply_retention(dir, s, err);
out:
    if (lock >= 0)
        close(lock);
    OPENSSL_cleanse(key, sizeof(key));
    free(dir);
    return rc;
}
