/* SPDX-License-Identifier: MIT */
#ifndef CK_CMD_CMD_H
#define CK_CMD_CMD_H

#include <stdio.h>

struct ck;

/*
 * Subcommands. Each lives in cmd/cmd_<verb>.c and has the signature of
 * cmd_fn: argv[0] is the subcommand name, and the options every command
 * shares (--config, --format, --help) are already taken out (main.c);
 * `ck` is the process context, built from the command's needs when the
 * command calls cmd_ready() (cmd/common.h), after parsing its arguments,
 * so that a usage error touches nothing. Exit codes: 0 ok, 1 failure,
 * 2 usage or configuration (CMD_OK, CMD_FAIL, CMD_USAGE).
 */
enum {
    CMD_OK = 0,
    CMD_FAIL = 1,
    CMD_USAGE = 2,
};

typedef int cmd_fn(int argc, char **argv, struct ck *ck);
typedef void cmd_usage_fn(FILE *fp);

struct cmd {
    const char *name;
    cmd_fn *fn;
    cmd_usage_fn *usage; /* the text of --help */
    unsigned needs;      /* enum ck_needs: what cmd_ready() builds */
    const char *summary;
};

/* The table in main.c's order; ends with a zeroed entry. */
extern const struct cmd cmd_table[];

#define CMD_DECLARE(verb)                                                                          \
    int cmd_##verb(int argc, char **argv, struct ck *ck);                                          \
    void cmd_##verb##_usage(FILE *fp)

CMD_DECLARE(fetch);
CMD_DECLARE(backfill);
CMD_DECLARE(candles);
CMD_DECLARE(gaps);
CMD_DECLARE(config);
CMD_DECLARE(run);
CMD_DECLARE(jobs);
CMD_DECLARE(status);
CMD_DECLARE(migrate);
CMD_DECLARE(alert);
CMD_DECLARE(retention);
CMD_DECLARE(alerts);
CMD_DECLARE(signals);
CMD_DECLARE(backtests);
CMD_DECLARE(digest);
CMD_DECLARE(report);
CMD_DECLARE(export);
CMD_DECLARE(import);
CMD_DECLARE(dashboard);
CMD_DECLARE(backup);
CMD_DECLARE(restore);
CMD_DECLARE(backups);
CMD_DECLARE(maintenance);
CMD_DECLARE(coverage);
CMD_DECLARE(derive);
CMD_DECLARE(verify);

#endif
