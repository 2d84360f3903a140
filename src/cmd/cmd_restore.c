/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep restore FILE --to URL [--force] [--key-file FILE]`: restore
 * a backup into a new SQLite file or an empty PostgreSQL database, from a
 * backup of either engine (backup/backup.h), and print every table's row
 * count and checksum as the manifest has them and as the restored
 * database has them, with a progress bar on stderr when it is a terminal.
 * Exit 0 only when every table matches; a damaged file, a wrong key or a
 * refused target writes nothing.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "backup/backup.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

void cmd_restore_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep restore FILE --to URL [--force] [--key-file FILE]\n"
                "                          [--config FILE]\n\n"
                "Restore a backup made by 'candlekeep backup' into a new SQLite file or an\n"
                "empty PostgreSQL database (from a backup of either engine). The file's\n"
                "checksum, its decryption and every table against its manifest are checked\n"
                "before the target is written; then every table of the restored database is\n"
                "printed with its row count and SHA-256 beside the manifest's.\n\n"
                "  --to URL         sqlite:PATH or postgresql://...\n"
                "  --force          move a SQLite database that holds data aside (to\n"
                "                   PATH.pre-restore-TIME, with its -wal and -shm) instead of\n"
                "                   refusing\n"
                "  --key-file FILE  the key of an encrypted backup (default: [backup]\n"
                "                   encrypt_key_file)\n\n"
                "A database a running daemon holds is refused. Exit status: 0 when every\n"
                "table matches the manifest, 1 otherwise, 2 on a usage error.\n");
}

/* A one-line progress bar on stderr, when it is a terminal. */
struct bar {
    bool on, shown;
    int64_t drawn_ms;
};

static void on_progress(void *arg, const struct migrate_progress *p)
{
    static const char *const verbs[] = {
        [MIGRATE_COPY] = "copying",
        [MIGRATE_VERIFY_SOURCE] = "checking",
        [MIGRATE_VERIFY_TARGET] = "verifying",
    };
    struct bar *b = arg;
    int64_t now = time_mono_ms(), pct;

    if (!b->on || (p->event == MIGRATE_TABLE_ROWS && now - b->drawn_ms < 100))
        return;
    pct = p->total > 0 ? p->done * 100 / p->total : 100;
    fprintf(stderr, "\r%s %-18s %3d%%  %" PRId64 "/%" PRId64 " rows\033[K", verbs[p->stage],
            p->table, (int)(pct > 100 ? 100 : pct), p->done, p->total);
    fflush(stderr);
    b->shown = true;
    b->drawn_ms = now;
}

static void print_check(const struct migrate_report *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        const struct migrate_table_result *t = &rep->v[i];
        char want[17], got[17];
        bool ok = migrate_table_ok(t);
        migrate_digest_hex(&t->source, want);
        migrate_digest_hex(&t->target, got);
        printf("%-18s %10" PRId64 " rows  sha256 %s %s %s  %s", t->table, t->source.rows, want,
               ok ? "=" : "!=", got, ok ? "ok" : "MISMATCH");
        if (t->source.rows != t->target.rows)
            printf(" (restored %" PRId64 " rows)", t->target.rows);
        printf("\n");
    }
}

struct args {
    const char *file, *to, *key_file;
    bool force;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'F'},
        {"key-file", required_argument, NULL, 'k'},
        {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't') {
            a->to = optarg;
        } else if (c == 'F') {
            a->force = true;
        } else if (c == 'k') {
            a->key_file = optarg;
        } else {
            cmd_restore_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc)
        a->file = argv[optind++];
    if (optind < argc || !a->file || !a->to || !*a->to) {
        fprintf(stderr, "candlekeep restore: %s\n",
                optind < argc ? "one backup file at a time"
                              : "a backup FILE and --to URL are required");
        cmd_restore_usage(stderr);
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_restore(int argc, char **argv, struct ck *ck)
{
    struct args a = {0};
    unsigned char key[BACKUP_KEY_SIZE];
    struct restore_result r;
    struct strbuf err = STRBUF_INIT;
    struct restore_opts o = {0};
    struct bar bar = {.on = isatty(STDERR_FILENO)};
    const char *key_file;
    char *to_name;
    int rc;

    if (parse_args(argc, argv, &a))
        return CMD_USAGE;
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    key_file = a.key_file ? a.key_file : ck->settings.backup.encrypt_key_file;
    if (key_file && *key_file && backup_key_load(key_file, key, &err)) {
        fprintf(stderr, "candlekeep restore: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_USAGE;
    }
    o.file = a.file;
    o.to = a.to;
    o.force = a.force;
    o.key = key_file && *key_file ? key : NULL;
    o.now = time_now();
    o.progress = on_progress;
    o.progress_arg = &bar;
    to_name = redact_url(a.to, 0);
    rc = restore_run(&o, &r, &err);
    if (bar.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    OPENSSL_cleanse(key, sizeof(key));
    if (r.check.n) {
        char when[TIME_BUFSZ];
        time_format_iso8601(r.manifest.created, when);
        printf("restore of %s (a %s backup made %s, schema %d) into %s\n", a.file,
               r.manifest.backend, when, r.manifest.schema_version, to_name);
        print_check(&r.check);
    }
    if (r.moved_aside)
        printf("the database that was there is now %s\n", r.moved_aside);
    if (r.stale_removed)
        printf("removed %d stale -wal/-shm file%s left beside the target\n", r.stale_removed,
               r.stale_removed == 1 ? "" : "s");
    if (rc) {
        fprintf(stderr, "candlekeep restore: %s\n", err.buf);
        if (!r.written)
            fprintf(stderr, "candlekeep restore: nothing was written to the target\n");
    } else {
        printf("verified: every table matches the backup's manifest\n");
    }
    restore_result_release(&r);
    strbuf_release(&err);
    free(to_name);
    return rc ? CMD_FAIL : CMD_OK;
}
