/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep run [--config FILE]`: the daemon (daemon/daemon.c does the
 * work; this is its front door).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "daemon/daemon.h"

#include <stdio.h>
#include <string.h>

#include "util/banned.h"

void cmd_run_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep run [--config FILE]\n\n"
                "Run the daemon: the scheduler refreshes every configured series one minute\n"
                "after each candle closes, and the HTTP API serves /health, /candles, /jobs and\n"
                "/metrics (default 127.0.0.1:8080). SIGTERM or SIGINT stops it gracefully,\n"
                "SIGHUP reopens the log file.\n");
}

int cmd_run(int argc, char **argv, struct ck *ck)
{
    int rc;

    if (argc > 1) {
        fprintf(stderr, "candlekeep run: unexpected argument '%s'\n", argv[1]);
        cmd_run_usage(stderr);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (!rc)
        rc = daemon_run(ck) ? CMD_FAIL : CMD_OK;
    return rc;
}
