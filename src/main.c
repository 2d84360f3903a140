/* SPDX-License-Identifier: MIT */
/*
 * candlekeep: subcommand dispatch only. Every subcommand is a function in
 * cmd/cmd_<verb>.c listed in cmd_table.
 */
#include "cmd/cmd.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * How many words global option `arg` takes (itself included): 2 for
 * "--config FILE" and "-f json", 1 for "--config=FILE", "-cFILE", "-h" and
 * "--help", 0 when `arg` is not a global option.
 */
static int global_option_words(const char *arg)
{
    static const char *const with_value[] = {"-c", "--config", "-f", "--format"};
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help") || !strncmp(arg, "--config=", 9) ||
        !strncmp(arg, "--format=", 9) ||
        ((arg[1] == 'c' || arg[1] == 'f') && arg[0] == '-' && arg[2] && arg[1] != '-'))
        return 1;
    for (size_t i = 0; i < sizeof(with_value) / sizeof(with_value[0]); i++)
        if (!strcmp(arg, with_value[i]))
            return 2;
    return 0;
}

/*
 * The options every command shares (--config, --format, --help) may stand
 * anywhere: before the subcommand, between an action and its options, or
 * after them ("candlekeep --config X jobs", "candlekeep config --config X
 * check"). Rewrite argv[1..] as the subcommand, its own words in their
 * order, then the global options, then "--" and what follows it, which is
 * left alone; each command parses the global options where it always did.
 * Returns the new vector (argv[0] first, NULL-terminated, out[1] NULL when
 * there is no subcommand; freed by the caller).
 */
static char **normalise_globals(int argc, char **argv)
{
    char **out = xcalloc((size_t)argc + 1, sizeof(*out));
    char **globals = xcalloc((size_t)argc, sizeof(*globals));
    int n = 1, ng = 0, i = 1;

    out[0] = argv[0];
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        int words = global_option_words(argv[i]);
        if (words) {
            for (int w = 0; w < words && i + w < argc; w++)
                globals[ng++] = argv[i + w];
            i += words - 1;
            continue;
        }
        out[n++] = argv[i];
    }
    /* No subcommand among the words: out[1] stays NULL. */
    for (int g = 0; g < ng && n > 1; g++)
        out[n++] = globals[g];
    for (; i < argc; i++)
        out[n++] = argv[i];
    free(globals);
    return out;
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
    char **args = normalise_globals(argc, argv);
    int rc = CMD_USAGE;
    bool found = false;
    for (const struct cmd *c = cmd_table; c->name && !found; c++) {
        if (args[1] && !strcmp(args[1], c->name)) {
            found = true;
            rc = c->fn(argc - 1, args + 1);
        }
    }
    if (!found && args[1])
        fprintf(stderr, "candlekeep: '%s' is not a subcommand; see 'candlekeep --help'\n", args[1]);
    else if (!found)
        usage(stderr);
    free(args);
    return rc;
}
