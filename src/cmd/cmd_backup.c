/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep backup [--to DIR] [--note TEXT]`: back the database up now,
 * restore the backup into a temporary database to prove it (the drill),
 * then copy it to [backup] copy_to and apply the retention, as the daily
 * `backup` job does (backup/backup.h). Prints the file, the tables of its
 * manifest and the drill's verdict; exit 0 only when the backup was
 * written and its drill passed.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "backup/backup.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "util/banned.h"

void cmd_backup_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep backup [--to DIR] [--note TEXT] [--config FILE]\n\n"
                "Back the database up into one file (a consistent copy taken while the daemon\n"
                "runs, checked, compressed, encrypted when [backup] encrypt_key_file is set,\n"
                "with a manifest of every table's row count and SHA-256), then restore it into\n"
                "a temporary database and verify every table (the drill). A verified backup\n"
                "is copied to [backup] copy_to and the retention is applied.\n\n"
                "  --to DIR     the directory (default: [backup] dir, else 'backups' beside a\n"
                "               SQLite database)\n"
                "  --note TEXT  a note kept in the manifest\n\n"
                "Exit status: 0 when the backup was written and its drill passed, 1 otherwise,\n"
                "2 on a usage or configuration error.\n");
}

static void print_backup(const struct backup_result *r)
{
    const struct backup_manifest *m = &r->manifest;

    printf("backup %s: %" PRId64 " bytes in %.2f s (%s, schema %d, %s%s)\n", r->path, r->bytes,
           (double)r->backup_ms / 1000.0, m->backend, m->schema_version,
           backup_compress_name(m->compress), m->encrypted ? ", aes-256-gcm" : "");
    for (size_t i = 0; i < m->tables.n; i++) {
        struct migrate_sum *s = &m->tables.v[i].source;
        char hex[17];
        migrate_digest_hex(s, hex);
        printf("  %-18s %10" PRId64 " rows  sha256 %s\n", m->tables.v[i].table, s->rows, hex);
    }
}

int cmd_backup(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {"note", required_argument, NULL, 'n'},
        {0},
    };
    struct backup_opts o = {0};
    struct backup_result r;
    struct strbuf err = STRBUF_INIT;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 't') {
            o.dir = optarg;
        } else if (c == 'n') {
            o.note = optarg;
        } else {
            cmd_backup_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep backup: unexpected argument '%s'\n", argv[optind]);
        cmd_backup_usage(stderr);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    o.url = ck->settings.storage.url;
    o.set = &ck->settings.backup;
    o.now = time_now();
    rc = backup_run(&o, &r, &err);
    if (r.path)
        print_backup(&r);
    if (r.drilled)
        printf("drill: restored into a temporary database and verified in %.2f s: %s\n",
               (double)r.drill_ms / 1000.0, r.drill_ok ? "ok" : "FAILED");
    if (r.copy)
        printf("copied to %s\n", r.copy);
    if (!rc && (r.deleted || r.copies_deleted))
        printf("retention: deleted %d backup%s and %d cop%s\n", r.deleted,
               r.deleted == 1 ? "" : "s", r.copies_deleted, r.copies_deleted == 1 ? "y" : "ies");
    if (rc)
        fprintf(stderr, "candlekeep backup: %s\n", err.buf);
    backup_result_release(&r);
    strbuf_release(&err);
    return rc ? (rc == CK_ECONFIG ? CMD_USAGE : CMD_FAIL) : CMD_OK;
}
