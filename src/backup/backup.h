/* SPDX-License-Identifier: MIT */
#ifndef CK_BACKUP_BACKUP_H
#define CK_BACKUP_BACKUP_H

#include "migrate/migrate.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Backups that are proven by a restore: the engine behind `candlekeep
 * backup`, `restore`, `backups`, GET /backups and the scheduled `backup`
 * job.
 *
 * A backup is one file, "candlekeep-YYYYMMDDTHHMMSSZ.ckb" (a "-N" before
 * the extension when that second is taken), in a directory of mode 0700,
 * itself of mode 0600: a header, a JSON manifest and the database as a
 * SQLite file, compressed (zstd, gzip or not at all) and, with a key,
 * encrypted with AES-256-GCM, then a SHA-256 of everything before it
 * (docs/backup-format.md). The payload is always a SQLite file, whatever
 * the engine backed up, so a backup restores into either engine through
 * migrate/.
 *
 * The manifest holds, per table, the row count and the SHA-256 that
 * `migrate --verify-only` computes (migrate_sum_store()); a restore reads
 * every table of what it restored back and compares. Each backup is
 * restored once right after it is written (the drill), and the result is
 * kept beside it in "<name>.ckb.json".
 *
 * A backup is written under a temporary name (".<name>.tmp") and linked
 * into place once complete and fsynced: a process killed at any point
 * leaves either no file named *.ckb or a complete one. Temporary files
 * are removed by the next backup into the directory (one at a time: a
 * backup holds an flock on "<dir>/.lock").
 *
 * Nothing here prints; `now` is an argument (Unix seconds).
 */

/* [backup] */
struct backup_settings {
    char *dir;              /* "": "backups" beside a SQLite database, ./backups otherwise */
    char *compress;         /* zstd | gzip | none */
    char *encrypt_key_file; /* "": not encrypted; else a file with 32 bytes in base64 */
    int64_t keep_daily, keep_weekly, keep_monthly;
    char *copy_to;     /* "": no second copy */
    int64_t copy_keep; /* seconds a copy in copy_to is kept */
    int64_t max_age;   /* seconds without a verified backup before it is a problem */
};

/* The compressions, by their names in the manifest and the settings. */
enum backup_compress {
    BACKUP_ZSTD,
    BACKUP_GZIP,
    BACKUP_NONE,
};
int backup_compress_parse(const char *name, enum backup_compress *out);
const char *backup_compress_name(enum backup_compress c);

#define BACKUP_KEY_SIZE 32

/*
 * Read an encryption key: a file holding 32 bytes in base64 (whitespace
 * around it ignored). CK_ECONFIG naming the file when it cannot be read
 * or is not such a key; the key itself never appears in `err`.
 */
int backup_key_load(const char *path, unsigned char out[BACKUP_KEY_SIZE], struct strbuf *err);

/* What a backup file says of itself (its manifest). */
struct backup_manifest {
    int format;
    int64_t created; /* Unix s */
    char *version;   /* candlekeep's */
    int schema_version;
    char *backend; /* the engine backed up: sqlite | postgresql */
    char *note;    /* may be NULL */
    enum backup_compress compress;
    bool encrypted;
    int64_t payload_bytes;        /* the SQLite file's size */
    struct migrate_report tables; /* `source` of each: the count and digest */
    char **names;                 /* parsed: the tables' names, which tables.v[i].table borrow */
};
void backup_manifest_release(struct backup_manifest *m);

/*
 * Read the header and manifest of backup file `path` without checking the
 * rest (for listings). CK_EPARSE when it is not a backup file, CK_EIO.
 */
int backup_read_manifest(const char *path, struct backup_manifest *out, struct strbuf *err);

/*
 * Check the whole file: its trailing SHA-256, then the manifest. 0, or
 * CK_EPARSE with what is wrong ("truncated", "damaged: checksum
 * mismatch"); `out` is filled on success only.
 */
int backup_verify_file(const char *path, struct backup_manifest *out, struct strbuf *err);

/* --- backing up ---------------------------------------------------------- */

struct backup_opts {
    const char *url;                   /* the database to back up */
    const char *dir;                   /* NULL: backup_dir() of the settings */
    const char *note;                  /* may be NULL */
    const struct backup_settings *set; /* compress, key, retention, copy_to */
    int64_t now;
};

struct backup_result {
    char *path; /* the backup written (NULL when none was) */
    int64_t bytes;
    int64_t backup_ms; /* copy, check, compress, manifest */
    struct backup_manifest manifest;
    /* The drill: restored into a temporary database and checked. */
    bool drilled;
    bool drill_ok;
    int64_t drill_ms;
    struct strbuf drill_message; /* what failed, or "ok" */
    char *copy;                  /* the copy in copy_to, or NULL */
    int deleted;                 /* backups removed by retention */
    int copies_deleted;          /* copies removed from copy_to */
};
void backup_result_release(struct backup_result *r);

/*
 * The directory backups of `url` go to by default: [backup] dir when set,
 * else "backups" beside a SQLite database, else "backups". The caller frees.
 */
char *backup_dir(const struct backup_settings *s, const char *url);

/*
 * Back up `o->url`, drill the backup, copy it to copy_to and apply the
 * retention when the drill passed. Returns 0 when a verified backup was
 * written; CK_EIO / CK_ECONFIG / the store's CK_E* when no backup was
 * made (nothing named *.ckb left), and CK_EPARSE when the backup was
 * written but its drill failed (`out->drill_message` says which table).
 * `out` is filled as far as the work went; release it in every case.
 */
int backup_run(const struct backup_opts *o, struct backup_result *out, struct strbuf *err);

/* --- restoring ----------------------------------------------------------- */

struct restore_opts {
    const char *file;         /* the backup */
    const char *to;           /* the URL to restore into */
    bool force;               /* SQLite: move a database that holds data aside */
    const unsigned char *key; /* NULL: none at hand */
    int64_t now;
    /*
     * Told of the tables read (the check of the payload: stage
     * MIGRATE_VERIFY_SOURCE) and, into PostgreSQL, copied and read back
     * (MIGRATE_COPY, MIGRATE_VERIFY_TARGET). May be NULL.
     */
    migrate_progress_fn *progress;
    void *progress_arg;
};

struct restore_result {
    struct backup_manifest manifest;
    /* Per table: `source` from the manifest, `target` read back from what was restored. */
    struct migrate_report check;
    char *moved_aside; /* where --force moved the old database, or NULL */
    int stale_removed; /* -wal/-shm files removed */
    bool written;      /* the target was written to (false: refused before) */
};
void restore_result_release(struct restore_result *r);

/*
 * Restore `o->file` into `o->to`: a SQLite file (written beside it under a
 * temporary name, checked, renamed into place) or an empty PostgreSQL
 * database (filled through migrate/ once the payload is checked). The
 * file's checksum, decryption and every table against the manifest are
 * checked before anything is written to the target. Refuses with
 * CK_ECONFLICT a target that holds data (SQLite: unless `force`) and a
 * SQLite file a running daemon holds (its "<db>.lock"); with CK_EPARSE a
 * damaged file or one whose data disagree with its manifest; with
 * CK_EAUTH a wrong key or altered encrypted data. Returns 0 only when
 * every table matches (migrate_report_ok(&out->check)).
 */
int restore_run(const struct restore_opts *o, struct restore_result *out, struct strbuf *err);

/* --- listing and keeping ------------------------------------------------- */

struct backup_info {
    char *name; /* the file name */
    char *path;
    int64_t created; /* from the manifest; 0 when it could not be read */
    int64_t bytes;
    char *backend;
    char *compress;
    bool encrypted;
    char *note;
    /* The drill (the sidecar "<name>.json"), when it ran. */
    bool verified;
    bool verify_ok;
    int64_t verified_at;
    int64_t backup_ms, drill_ms;
    char *message;
};

/*
 * The backups in `dir`, newest first. A directory that does not exist
 * holds none. Release with backup_infos_free().
 */
int backup_list(const char *dir, struct backup_info **out, size_t *n, struct strbuf *err);
void backup_infos_free(struct backup_info *v, size_t n);

/*
 * Which of `v` (newest first, as backup_list() gives) retention keeps:
 * among the backups whose drill passed, the newest of each of the last
 * `daily` days, `weekly` weeks (Monday to Sunday, UTC) and `monthly`
 * months; and every backup newer than the newest verified one (a failed
 * or unchecked backup is never a reason to delete a verified one). With
 * no verified backup at all, everything is kept. `keep[i]` is set for
 * the backups to keep.
 */
void backup_retention(const struct backup_info *v, size_t n, int64_t daily, int64_t weekly,
                      int64_t monthly, bool *keep);

/*
 * Is the newest verified backup (its time `last_verified`, 0: none) older
 * than `max_age` seconds at `now`? No verified backup at all is stale too.
 */
bool backup_is_stale(int64_t last_verified, int64_t max_age, int64_t now);

/* The newest backup whose drill passed in `dir`: its time in *out (0: none). */
int backup_last_verified(const char *dir, int64_t *out, struct strbuf *err);

/* The backup's details as JSON (the job's details, GET /backups' rows), appended to `out`. */
void backup_info_json(const struct backup_info *b, struct strbuf *out);

#endif
