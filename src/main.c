/* SPDX-License-Identifier: MIT */
/*
 * candlekeep: the command table and the one place that handles what every
 * command shares (after git's git.c): the options --config, --format and
 * --help, wherever they stand on the command line; the process context
 * (ck/ck.h), set up from what the command declares it needs and released
 * when it returns.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"
#include "ck/ck.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* What the record printers and the commands that read the database need. */
#define READS (CK_NEEDS_CONFIG | CK_NEEDS_STORE)

const struct cmd cmd_table[] = {
    {"run", cmd_run, cmd_run_usage, CK_NEEDS_KEYS | CK_NEEDS_HTTP | CK_NEEDS_FEEDS,
     "run the daemon (scheduler and HTTP API)"},
    {"fetch", cmd_fetch, cmd_fetch_usage, READS | CK_NEEDS_HTTP | CK_NEEDS_FEEDS,
     "fetch new candles of one series from its provider"},
    {"import", cmd_import, cmd_import_usage, CK_NEEDS_CONFIG,
     "import candles from a CSV file (Binance klines or time,open,high,low,close)"},
    {"backfill", cmd_backfill, cmd_backfill_usage, READS | CK_NEEDS_HTTP | CK_NEEDS_FEEDS,
     "fetch a series' history from a date, resumably, within the budget"},
    {"candles", cmd_candles, cmd_candles_usage, READS, "print stored candles"},
    {"gaps", cmd_gaps, cmd_gaps_usage, READS, "list (and re-scan) missing candles"},
    {"coverage", cmd_coverage, cmd_coverage_usage, READS | CK_NEEDS_FEEDS,
     "how complete each series' stored history is, by its calendar"},
    {"derive", cmd_derive, cmd_derive_usage, READS | CK_NEEDS_FEEDS,
     "build a higher timeframe from a stored lower one"},
    {"verify", cmd_verify, cmd_verify_usage, READS | CK_NEEDS_FEEDS,
     "cross-check a venue's candles against ones derived from a lower timeframe"},
    {"jobs", cmd_jobs, cmd_jobs_usage, READS,
     "list, pause, resume and run scheduled jobs; show their history"},
    {"maintenance", cmd_maintenance, cmd_maintenance_usage, READS,
     "list, run, pause and resume maintenance tasks; show their history"},
    {"status", cmd_status, cmd_status_usage, CK_NEEDS_CONFIG | CK_NEEDS_FEEDS,
     "what /health says, read from the database"},
    {"alert", cmd_alert, cmd_alert_usage, CK_NEEDS_CONFIG | CK_NEEDS_HTTP,
     "send a test message through the configured alert channels"},
    {"alerts", cmd_alerts, cmd_alerts_usage, READS,
     "list alerts: firing and resolved, and what operators were told"},
    {"config", cmd_config, cmd_config_usage, 0, "check the configuration"},
    {"migrate", cmd_migrate, cmd_migrate_usage, 0,
     "copy one store into another (SQLite to PostgreSQL) and verify it"},
    {"signals", cmd_signals, cmd_signals_usage, READS,
     "add, list, show, cancel and redeliver trading signals"},
    {"backtests", cmd_backtests, cmd_backtests_usage, READS, "store and list backtest results"},
    {"retention", cmd_retention, cmd_retention_usage, READS,
     "delete candles and backtest results past their retention"},
    {"digest", cmd_digest, cmd_digest_usage, READS | CK_NEEDS_FEEDS,
     "print or send the daily health digest"},
    {"report", cmd_report, cmd_report_usage, READS,
     "the daily or weekly report: jobs, data, providers, alerts, signals, backups"},
    {"export", cmd_export, cmd_export_usage, READS,
     "export candles, signals, outcomes, backtests or job runs (CSV, JSON, TradeNote)"},
    {"dashboard", cmd_dashboard, cmd_dashboard_usage, CK_NEEDS_CONFIG | CK_NEEDS_FEEDS,
     "a full-screen view of health, jobs, series, alerts and deliveries"},
    {"backup", cmd_backup, cmd_backup_usage, CK_NEEDS_CONFIG,
     "back the database up, then restore the backup to prove it"},
    {"restore", cmd_restore, cmd_restore_usage, CK_NEEDS_CONFIG,
     "restore a backup into a new SQLite file or an empty PostgreSQL database"},
    {"backups", cmd_backups, cmd_backups_usage, CK_NEEDS_CONFIG,
     "list the backups and how their restore drills went"},
    {0},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep [--version] [--help] SUBCOMMAND [options]\n\n"
                "subcommands:\n");
    for (const struct cmd *c = cmd_table; c->name; c++)
        fprintf(fp, "  %-12s %s\n", c->name, c->summary);
    fprintf(fp, "\nEvery subcommand takes --config FILE, --format table|json|csv where it prints\n"
                "records, and --help, anywhere on the line.\n"
                "'candlekeep SUBCOMMAND --help' describes each.\n");
}

/* The options every command shares, taken out of argv. */
struct globals {
    const char *config;
    const char *format;
    bool help;
};

/*
 * If argv[*i] is a global option, take it (and its value) and return
 * true; a missing value is a usage error (*bad set).
 */
static bool take_global(int argc, char **argv, int *i, struct globals *g, bool *bad)
{
    static const struct {
        const char *s, *l;
        size_t off;
    } opts[] = {
        {"-c", "--config", offsetof(struct globals, config)},
        {"-f", "--format", offsetof(struct globals, format)},
    };
    const char *a = argv[*i];

    if (!strcmp(a, "-h") || !strcmp(a, "--help"))
        return g->help = true;
    for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
        const char **slot = (const char **)((char *)g + opts[k].off);
        size_t ll = strlen(opts[k].l);
        if (!strncmp(a, opts[k].l, ll) && a[ll] == '=') {
            *slot = a + ll + 1;
        } else if (!strcmp(a, opts[k].s) || !strcmp(a, opts[k].l)) {
            if (*i + 1 >= argc) {
                fprintf(stderr, "candlekeep: option '%s' needs a value\n", a);
                *bad = true;
                return true;
            }
            *slot = argv[++*i];
        } else {
            continue;
        }
        return true;
    }
    return false;
}

/*
 * Split argv[1..] into the global options and the rest, in order: the
 * subcommand's name first, then its own words. "--" ends the options; it
 * and what follows are passed on untouched. Returns the rest
 * (NULL-terminated, freed by the caller; *out_n words) or NULL after a
 * usage error.
 */
static char **split_globals(int argc, char **argv, struct globals *g, int *out_n)
{
    char **rest = xcalloc((size_t)argc + 1, sizeof(*rest));
    bool bad = false, options = true;
    int n = 0;

    for (int i = 1; i < argc && !bad; i++) {
        if (options && !strcmp(argv[i], "--"))
            options = false;
        if (!options || !take_global(argc, argv, &i, g, &bad))
            rest[n++] = argv[i];
    }
    if (bad) {
        free(rest);
        return NULL;
    }
    *out_n = n;
    return rest;
}

/*
 * Is --format the command's own option rather than the record format?
 * import's names the file's format, report's and export's their output's; it is handed
 * back to the command in argv.
 */
static bool owns_format(const struct cmd *c)
{
    return c->fn == cmd_import || c->fn == cmd_report || c->fn == cmd_export;
}

/* Run command `c` on its words `args[0..n)` (args[0] is its name). */
static int run_command(const struct cmd *c, int n, char **args, const struct globals *g)
{
    enum out_format format = OUT_TABLE;
    char *own_format = NULL;
    struct ck ck;
    int rc;

    if (g->help) {
        c->usage(stdout);
        return CMD_OK;
    }
    if (g->format && owns_format(c)) {
        /* Handed back, as "--format=VALUE" after the name (args has room: it was taken out). */
        memmove(args + 2, args + 1, (size_t)(n - 1) * sizeof(*args));
        struct strbuf sb = STRBUF_INIT;
        strbuf_addf(&sb, "--format=%s", g->format);
        args[1] = own_format = strbuf_detach(&sb, NULL);
        n++;
    } else if (g->format && cmd_parse_format(c->name, g->format, &format)) {
        return CMD_USAGE;
    }
    ck_init(&ck, c->name, g->config, format, c->needs);
    rc = c->fn(n, args, &ck);
    free(own_format);
    ck_release(&ck);
    log_shutdown();
    return rc;
}

int main(int argc, char **argv)
{
    struct globals g = {0};
    char **args;
    int n = 0, rc = CMD_USAGE;

    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        printf("candlekeep %s\n", CK_VERSION);
        return CMD_OK;
    }
    args = split_globals(argc, argv, &g, &n);
    if (!args)
        return CMD_USAGE;
    if (!n || !strcmp(args[0], "help")) {
        usage(n || g.help ? stdout : stderr);
        free(args);
        return n || g.help ? CMD_OK : CMD_USAGE;
    }
    const struct cmd *c = cmd_table;
    while (c->name && strcmp(c->name, args[0]))
        c++;
    if (c->name)
        rc = run_command(c, n, args, &g);
    else
        fprintf(stderr, "candlekeep: '%s' is not a subcommand; see 'candlekeep --help'\n", args[0]);
    free(args);
    return rc;
}
