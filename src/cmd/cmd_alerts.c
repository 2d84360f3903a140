/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep alerts [--state firing|resolved] [--limit N] [--format
 * table|json|csv]`: the alerts in the database, newest activity first,
 * with what operators were told of each. The rows are the ones the
 * daemon's alert manager keeps, so this works whether or not a daemon
 * runs. The JSON objects are those of GET /alerts.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "alert/alert.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

void cmd_alerts_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep alerts [--state firing|resolved] [--limit N]\n"
                "                         [--format table|json|csv] [--config FILE]\n\n"
                "List alerts, newest activity first: their state, when they were seen,\n"
                "when operators were last told and how many messages went out.\n\n"
                "  --state S   only firing or only resolved alerts\n"
                "  --limit N   at most N alerts (default: all)\n"
                "  --format F  table (default), json or csv\n");
}

/* Unix ms as ISO 8601 UTC into `buf`; NULL for 0 (not yet). */
static const char *fmt_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    if (ms <= 0)
        return NULL;
    time_format_iso8601(ms / 1000, buf);
    return buf;
}

/* The alerts `v[0..n)` as records in `fmt`. */
static void print_alerts(const struct alert_info *v, size_t n, enum out_format fmt)
{
    static const char *const cols[] = {
        "key",        "severity",  "state",       "title",         "details",    "inhibited_by",
        "first_seen", "last_seen", "resolved_at", "last_notified", "times_sent",
    };
    static const char *const table_cols[] = {
        "key",        "severity",  "state",       "title",         "inhibited_by",
        "first_seen", "last_seen", "resolved_at", "last_notified", "times_sent",
    };
    /* Details may span lines: whole in JSON and CSV, left out of the table. */
    bool details = fmt != OUT_TABLE;
    const char *const *shown = details ? cols : table_cols;
    size_t ncols = details ? ARRAY_SIZE(cols) : ARRAY_SIZE(table_cols);
    struct out_table *t = out_table_new(fmt, shown, ncols);
    out_table_numeric(t, ncols - 1);
    for (size_t i = 0; i < n; i++) {
        const struct alert_info *a = &v[i];
        char first[TIME_BUFSZ], last[TIME_BUFSZ], res[TIME_BUFSZ], told[TIME_BUFSZ], sent[24];
        const char *row[11], **p = row;
        snprintf(sent, sizeof(sent), "%" PRId64, a->times_sent);
        *p++ = a->key;
        *p++ = alert_severity_name(a->severity);
        *p++ = alert_state_name(a->state);
        *p++ = a->title;
        if (details)
            *p++ = a->details;
        *p++ = *a->inhibited_by ? a->inhibited_by : NULL;
        *p++ = fmt_ms(a->first_seen_ms, first);
        *p++ = fmt_ms(a->last_seen_ms, last);
        *p++ = fmt_ms(a->resolved_ms, res);
        *p++ = fmt_ms(a->last_notified_ms, told);
        *p++ = sent;
        out_table_row(t, row);
    }
    out_table_flush(t);
}

int cmd_alerts(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'n'},
        {0},
    };
    enum alert_state state;
    bool has_state = false;
    struct strbuf err = STRBUF_INIT;
    struct alert_info *v = NULL;
    int64_t limit = 0;
    size_t n = 0;
    int c, rc;

    while ((c = getopt_long(argc, argv, "s:n:", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (alert_state_parse(optarg, &state)) {
                fprintf(stderr, "candlekeep alerts: --state '%s' is not firing or resolved\n",
                        optarg);
                return CMD_USAGE;
            }
            has_state = true;
            break;
        case 'n':
            if (cmd_parse_int("alerts", "--limit", optarg, 1, 1000000, &limit))
                return CMD_USAGE;
            break;
        default:
            cmd_alerts_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep alerts: unexpected argument '%s'\n", argv[optind]);
        cmd_alerts_usage(stderr);
        return CMD_USAGE;
    }

    rc = cmd_ready(ck);
    if (rc)
        return rc;
    if (alert_list(ck->store, has_state ? &state : NULL, (size_t)limit, &v, &n, &err)) {
        fprintf(stderr, "candlekeep alerts: %s\n", err.buf);
        rc = CMD_FAIL;
    } else {
        print_alerts(v, n, ck->format);
    }
    alert_infos_free(v, n);
    strbuf_release(&err);
    return rc;
}
