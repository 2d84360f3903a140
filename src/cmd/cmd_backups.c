/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep backups [--dir DIR] [--format table|json|csv]`: the backups
 * in the backup directory, newest first, with their size, how long the
 * backup took, and when and how its restore drill went
 * (backup/backup.h). Reads the directory only. A warning on stderr when
 * no backup was verified within [backup] max_age.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "backup/backup.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/banned.h"

void cmd_backups_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep backups [--dir DIR] [--format table|json|csv] [--config FILE]\n\n"
            "List the backups, newest first: size, backup time, when the restore drill\n"
            "verified it and its result (ok, failed, or unverified when no drill ran).\n\n"
            "  --dir DIR    the directory (default: [backup] dir, else 'backups' beside a\n"
            "               SQLite database)\n"
            "  --format F   table (default), json or csv\n");
}

static void print_backups(const struct backup_info *v, size_t n, enum out_format fmt)
{
    static const char *const cols[] = {"name",      "created",     "bytes",  "backend", "encrypted",
                                       "backup_ms", "verified_at", "result", "message"};
    struct out_table *t = out_table_new(fmt, cols, ARRAY_SIZE(cols));

    out_table_numeric(t, 2);
    out_table_numeric(t, 5);
    for (size_t i = 0; i < n; i++) {
        const struct backup_info *b = &v[i];
        char created[TIME_BUFSZ], verified[TIME_BUFSZ], bytes[24], ms[24];
        time_format_iso8601(b->created, created);
        time_format_iso8601(b->verified_at, verified);
        snprintf(bytes, sizeof(bytes), "%" PRId64, b->bytes);
        snprintf(ms, sizeof(ms), "%" PRId64, b->backup_ms);
        const char *row[] = {
            b->name,
            b->created ? created : NULL,
            bytes,
            b->backend,
            b->encrypted ? "yes" : "no",
            b->verified ? ms : NULL,
            b->verified ? verified : NULL,
            !b->verified   ? "unverified"
            : b->verify_ok ? "ok"
                           : "failed",
            b->verify_ok ? NULL : b->message,
        };
        out_table_row(t, row);
    }
    out_table_flush(t);
}

/* Say on stderr when no backup was verified within [backup] max_age. */
static void warn_stale(const struct backup_info *v, size_t n, int64_t max_age, const char *dir)
{
    int64_t last = 0;
    char when[TIME_BUFSZ];

    for (size_t i = 0; i < n && !last; i++)
        if (v[i].verify_ok)
            last = v[i].created;
    if (!backup_is_stale(last, max_age, time_now()))
        return;
    time_format_iso8601(last, when);
    if (last)
        fprintf(stderr,
                "candlekeep backups: warning: the newest verified backup in '%s' is from %s, "
                "older than [backup] max_age (%lld s)\n",
                dir, when, (long long)max_age);
    else
        fprintf(stderr, "candlekeep backups: warning: no verified backup in '%s'\n", dir);
}

int cmd_backups(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {0},
    };
    const char *dir_arg = NULL;
    struct backup_info *v = NULL;
    struct strbuf err = STRBUF_INIT;
    size_t n = 0;
    char *dir;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd') {
            cmd_backups_usage(stderr);
            return CMD_USAGE;
        }
        dir_arg = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep backups: unexpected argument '%s'\n", argv[optind]);
        cmd_backups_usage(stderr);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    dir = dir_arg ? xstrdup(dir_arg) : backup_dir(&ck->settings.backup, ck->settings.storage.url);
    rc = backup_list(dir, &v, &n, &err);
    if (rc)
        fprintf(stderr, "candlekeep backups: %s\n", err.buf);
    else
        print_backups(v, n, ck->format);
    if (!rc)
        warn_stale(v, n, ck->settings.backup.max_age, dir);
    backup_infos_free(v, n);
    strbuf_release(&err);
    free(dir);
    return rc ? CMD_FAIL : CMD_OK;
}
