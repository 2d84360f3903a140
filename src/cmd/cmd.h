/* SPDX-License-Identifier: MIT */
#ifndef CK_CMD_CMD_H
#define CK_CMD_CMD_H

/*
 * Subcommands. Each lives in cmd/cmd_<verb>.c and has the signature of
 * cmd_fn: argv[0] is the subcommand name. Exit codes: 0 ok, 1 failure,
 * 2 usage (CMD_OK, CMD_FAIL, CMD_USAGE).
 */
enum {
    CMD_OK = 0,
    CMD_FAIL = 1,
    CMD_USAGE = 2,
};

typedef int cmd_fn(int argc, char **argv);

struct cmd {
    const char *name;
    cmd_fn *fn;
    const char *summary;
};

/* The table in main.c's order; NULL-terminated. */
extern const struct cmd cmd_table[];

int cmd_fetch(int argc, char **argv);
int cmd_candles(int argc, char **argv);
int cmd_gaps(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_alert(int argc, char **argv);
int cmd_retention(int argc, char **argv);
int cmd_alerts(int argc, char **argv);
int cmd_signals(int argc, char **argv);
int cmd_backtests(int argc, char **argv);
int cmd_digest(int argc, char **argv);

#endif
