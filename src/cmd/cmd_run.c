/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep run [--config FILE]`: the daemon (daemon/daemon.c does the
 * work; this is its front door).
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "app/app.h"
#include "daemon/daemon.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep run [--config FILE]\n\n"
                "Run the daemon: the scheduler refreshes every configured series one minute\n"
                "after each candle closes, and the HTTP API serves /health, /candles, /jobs and\n"
                "/metrics (default 127.0.0.1:8080). SIGTERM or SIGINT stops it gracefully,\n"
                "SIGHUP reopens the log file.\n");
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cmd_common cc = CMD_COMMON_INIT("run", usage);
    struct strbuf err = STRBUF_INIT;
    struct app app;
    int c, rc;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
        if ((rc = cmd_common_option(&cc, c, optarg)) != CMD_CONTINUE)
            return rc;
    if (optind < argc) {
        fprintf(stderr, "candlekeep run: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    memset(&app, 0, sizeof(app));
    rc = cmd_setup(&app.settings, cc.config, "run");
    for (size_t i = 0; !rc && i < app.settings.nsources; i++)
        if (app.settings.sources[i].enabled)
            rc = cmd_check_credentials(&app.settings.sources[i], "run");
    if (!rc && app_init(&app, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
    }
    if (!rc)
        rc = daemon_run(&app) ? CMD_FAIL : CMD_OK;
    app_release(&app);
    strbuf_release(&err);
    log_shutdown();
    return rc;
}
