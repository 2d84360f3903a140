/* SPDX-License-Identifier: MIT */
#ifndef CK_BACKUP_BACKUP_INTERNAL_H
#define CK_BACKUP_BACKUP_INTERNAL_H

#include "backup/backup.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * The parts of backup/ that its files share: the container format
 * (container.c), the manifest's JSON (manifest.c), the SQLite copy and
 * check (snapshot.c) and small file helpers (files.c).
 */

#define CONTAINER_MAGIC        "CKBACKUP"
#define CONTAINER_MAGIC_LEN    8
#define CONTAINER_VERSION      1
#define CONTAINER_HEAD_LEN     16 /* magic, version, manifest length */
#define CONTAINER_MAX_MANIFEST (1u << 20)
#define CONTAINER_TRAILER_LEN  32 /* SHA-256 of everything before it */
#define CONTAINER_NONCE_LEN    12
#define CONTAINER_TAG_LEN      16

/* Where the parts of an opened container lie. */
struct container {
    int fd;
    uint64_t size;
    char *manifest; /* NUL-terminated */
    size_t manifest_len;
    uint64_t payload_off, payload_len; /* nonce and tag included when encrypted */
};

/*
 * Write a container to `path` (created 0600, must not exist): the manifest
 * text, then `payload_file` compressed by `c` and encrypted with `key`
 * when not NULL, then the trailer; fsynced. `*out_bytes` gets the file's
 * size. On failure `path` is removed.
 */
int container_write(const char *path, const char *manifest, enum backup_compress c,
                    const unsigned char *key, const char *payload_file, int64_t *out_bytes,
                    struct strbuf *err);

/* Open `path` and read its header and manifest (no checksum). Close with container_close(). */
int container_open(const char *path, struct container *out, struct strbuf *err);
void container_close(struct container *c);

/* Check the trailer: CK_EPARSE when the file was altered or cut short. */
int container_check(struct container *c, struct strbuf *err);

/*
 * Decrypt (with `key`, when `encrypted`) and decompress the payload into
 * `out_path` (created 0600, must not exist), at most `max_bytes` bytes.
 * CK_EAUTH when the key is wrong or the encrypted data were altered (the
 * tag is checked before anything is written); CK_EPARSE when the payload
 * does not decompress to exactly `max_bytes`. On failure `out_path` is
 * removed.
 */
int container_extract(struct container *c, enum backup_compress comp, bool encrypted,
                      const unsigned char *key, int64_t max_bytes, const char *out_path,
                      struct strbuf *err);

/* The manifest as JSON text (the caller frees), and back. */
char *manifest_to_json(const struct backup_manifest *m);
int manifest_parse(const char *text, struct backup_manifest *out, struct strbuf *err);

/* SQLite: an online, consistent copy of `src` to `dst` (must not exist), and its check. */
int snapshot_copy(const char *src, const char *dst, struct strbuf *err);
int snapshot_check(const char *file, struct strbuf *err);

/* Files: fsync a directory; remove a file and its -wal and -shm; create a 0700 directory. */
int fsync_dir(const char *dir, struct strbuf *err);
int fsync_path(const char *path, struct strbuf *err);
void remove_db_files(const char *path);
int make_private_dir(const char *dir, struct strbuf *err);
/* The directory part of `path` ("." for none); the caller frees. */
char *dir_of(const char *path);
/*
 * Write `text` to `path` atomically (a temporary name, fsync, rename),
 * mode 0600.
 */
int write_file_atomic(const char *path, const char *text, struct strbuf *err);

/*
 * Restore the payload of `c` into the temporary SQLite file `tmp_db` and
 * check it against `m`; `progress` (may be NULL) is told of the summing.
 */
int drill_check(struct container *c, const struct backup_manifest *m, const unsigned char *key,
                const char *tmp_db, migrate_progress_fn *progress, void *progress_arg,
                struct migrate_report *check, struct strbuf *err);

/* A digest as 64 hex digits (+ NUL). */
void digest_hex64(const unsigned char d[MIGRATE_DIGEST_SIZE], char out[65]);

#endif
