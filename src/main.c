/* SPDX-License-Identifier: MIT */
/*
 * candlekeep: subcommand dispatch only. Every subcommand is a function in
 * cmd/cmd_<verb>.c listed in cmd_table.
 */
#include "cmd/cmd.h"

#include <stdio.h>
#include <string.h>

const struct cmd cmd_table[] = {
    {"run", cmd_run, "run the daemon (scheduler and HTTP API)"},
    {"fetch", cmd_fetch, "fetch new candles of one series from its provider"},
    {"candles", cmd_candles, "print stored candles"},
    {"gaps", cmd_gaps, "list (and re-scan) missing candles"},
    {"jobs", cmd_jobs, "list, pause, resume and run scheduled jobs; show their history"},
    {"status", cmd_status, "what /health says, read from the database"},
    {"alert", cmd_alert, "send a test message through the configured alert channels"},
    {"alerts", cmd_alerts, "list alerts: firing and resolved, and what operators were told"},
    {"config", cmd_config, "check the configuration"},
    {"migrate", cmd_migrate, "copy one store into another (SQLite to PostgreSQL) and verify it"},
    {"signals", cmd_signals, "add, list, show, cancel and redeliver trading signals"},
    {"backtests", cmd_backtests, "store and list backtest results"},
    {"retention", cmd_retention, "delete candles and backtest results past their retention"},
    {"digest", cmd_digest, "print or send the daily health digest"},
    {NULL, NULL, NULL},
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep [--version] [--help] SUBCOMMAND [options]\n\n"
                "subcommands:\n");
    for (const struct cmd *c = cmd_table; c->name; c++)
        fprintf(fp, "  %-12s %s\n", c->name, c->summary);
    fprintf(fp, "\n'candlekeep SUBCOMMAND --help' describes each.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CMD_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("candlekeep %s\n", CK_VERSION);
        return CMD_OK;
    }
    for (const struct cmd *c = cmd_table; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "candlekeep: '%s' is not a subcommand; see 'candlekeep --help'\n", argv[1]);
    return CMD_USAGE;
}
