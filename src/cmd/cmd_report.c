/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep report --type daily|weekly [--date DAY] [--format html|json|csv]
 * [--out FILE]`: a report (jobs/reports.h) on demand, printed to stdout or
 * written to FILE. Without --date it covers the 24 hours (daily) or 7 days
 * (weekly) up to now; with --date the UTC day DAY, or the 7 days ending
 * with it. Reads the database and the backup directory; writes nothing
 * else (the report directory is the daemon's and POST
 * /maintenance/reports/generate's).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "ck/ck.h"
#include "jobs/reports.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_report_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep report --type daily|weekly [--date DAY] [--format html|json|csv]\n"
            "                         [--out FILE] [--config FILE]\n\n"
            "The operator's report: every job's runs, failures, success rate and durations;\n"
            "candles, gaps and rejected candles per series; providers; alerts; signals and\n"
            "their outcomes; backups; and recommendations drawn from them.\n\n"
            "  --type T     daily (24 hours) or weekly (7 days)\n"
            "  --date DAY   the UTC day YYYY-MM-DD the period ends with (default: the\n"
            "               period ends now)\n"
            "  --format F   html (default: one self-contained file), json or csv\n"
            "  --out FILE   write to FILE instead of stdout\n\n"
            "The daemon writes both to [report] dir at [report] daily and weekly and sends\n"
            "them to the alert channels.\n");
}

/* The end of the period: the midnight after DAY, or now. CMD_OK or CMD_USAGE. */
static int period_end(const char *day, int64_t *to)
{
    int64_t t;

    if (!day) {
        /*
         * The pinnable clock (CANDLEKEEP_NOW), as every command reads it; the
         * period ends after the current second, so that what happened in it
         * (a run started a moment ago) is in.
         */
        *to = time_now() + 1;
        return CMD_OK;
    }
    if (strlen(day) != 10 || time_parse(day, &t)) {
        fprintf(stderr, "candlekeep report: --date '%s' is not a day (YYYY-MM-DD)\n", day);
        return CMD_USAGE;
    }
    *to = t - t % 86400 + 86400;
    return CMD_OK;
}

static int write_out(const char *path, const struct strbuf *body, const char *id)
{
    FILE *fp;

    if (!path) {
        fwrite(body->buf, 1, body->len, stdout);
        return CMD_OK;
    }
    fp = fopen(path, "w");
    if (!fp || fwrite(body->buf, 1, body->len, fp) != body->len || fclose(fp)) {
        fprintf(stderr, "candlekeep report: cannot write '%s': %s\n", path, strerror(errno));
        return CMD_FAIL;
    }
    printf("report %s written to %s\n", id, path);
    return CMD_OK;
}

static int run_report(struct ck *ck, enum report_type type, int64_t to, enum report_format f,
                      const char *out)
{
    struct strbuf err = STRBUF_INIT, body = STRBUF_INIT;
    struct report r;
    int rc;

    if (reports_collect(&ck->settings, ck->store, type, to, &r, &err)) {
        redact_message(&err);
        fprintf(stderr, "candlekeep report: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    report_render(&r, f, &body);
    rc = write_out(out, &body, r.id);
    report_release(&r);
    strbuf_release(&err);
    strbuf_release(&body);
    return rc;
}

int cmd_report(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"date", required_argument, NULL, 'd'},
        {"format", required_argument, NULL, 'f'},
        {"out", required_argument, NULL, 'o'},
        {0},
    };
    const char *type_arg = NULL, *day = NULL, *out = NULL;
    enum report_format fmt = REPORT_HTML;
    enum report_type type;
    int64_t to;
    int c, rc;

    while ((c = getopt_long(argc, argv, "t:d:f:o:", opts, NULL)) != -1) {
        if (c == 't') {
            type_arg = optarg;
        } else if (c == 'd') {
            day = optarg;
        } else if (c == 'o') {
            out = optarg;
        } else if (c == 'f' && !report_format_parse(optarg, &fmt)) {
            continue;
        } else {
            if (c == 'f')
                fprintf(stderr, "candlekeep report: --format '%s': want html, json or csv\n",
                        optarg);
            cmd_report_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep report: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    if (!type_arg || report_type_parse(type_arg, &type)) {
        fprintf(stderr, "candlekeep report: --type %s%s%s: want daily or weekly\n",
                type_arg ? "'" : "", type_arg ? type_arg : "is missing", type_arg ? "'" : "");
        return CMD_USAGE;
    }
    rc = period_end(day, &to);
    if (!rc)
        rc = cmd_ready(ck);
    if (!rc)
        rc = run_report(ck, type, to, fmt, out);
    return rc;
}
