/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep digest --print | --send [--config FILE]`: the daily health
 * digest (jobs/digest.h) on demand. --print writes it to stdout, title
 * first, exactly as the `digest` job would send it now; --send queues it
 * in the alert outbox for every configured channel, where the daemon's
 * sender (or the next daemon to start) delivers it.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "alert/alert.h"
#include "alert/notify.h"
#include "ck/ck.h"
#include "health/health.h"
#include "jobs/digest.h"
#include "sched/sched.h"
#include "store/store.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep digest --print | --send [--config FILE]\n\n"
                "The daily health digest: signals, outcomes, the last retention run, the\n"
                "scheduler, the newest candle of each series, open gaps, API credits used\n"
                "today and the database's size. --print writes it to stdout; --send queues\n"
                "it for the alert channels ([alerts.telegram], [alerts.webhook]), which the\n"
                "daemon delivers. The daemon sends it by itself at [digest] schedule.\n");
}

int cmd_digest(int argc, char **argv)
{
    static const struct option opts[] = {
        {"print", no_argument, NULL, 'p'},
        {"send", no_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct cmd_common cc = CMD_COMMON_INIT("digest", usage);
    bool print = false, send = false;
    struct ck app;
    struct strbuf err = STRBUF_INIT, title = STRBUF_INIT, text = STRBUF_INIT;
    struct store *st = NULL;
    struct notify_channel **channels = NULL;
    size_t nchannels = 0;
    struct alert_manager *am = NULL;
    struct digest_report r;
    char *instance = NULL;
    int c, rc;

    memset(&r, 0, sizeof(r));
    while ((c = getopt_long(argc, argv, "psc:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            print = true;
            break;
        case 's':
            send = true;
            break;
        default:
            if ((rc = cmd_common_option(&cc, c, optarg)) != CMD_CONTINUE)
                return rc;
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep digest: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    if (print == send) {
        fprintf(stderr, "candlekeep digest: say --print or --send (one of them)\n");
        usage(stderr);
        return CMD_USAGE;
    }

    memset(&app, 0, sizeof(app));
    rc = cmd_setup(&app.settings, cc.config, "digest");
    if (rc)
        goto out;
    if (ck_init(&app, &err)) {
        fprintf(stderr, "candlekeep digest: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    rc = cmd_open_store(&app.settings, "digest", &st);
    if (rc)
        goto out;

    instance = sched_make_instance_id();
    int64_t now_ms = time_wall_ms();
    if (digest_collect(&app, NULL, st, now_ms, &r, &err)) {
        redact_message(&err);
        fprintf(stderr, "candlekeep digest: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    digest_title(&r, &title);
    digest_format(&r, &text);
    if (print) {
        printf("%s\n\n%s", title.buf, text.buf);
        rc = CMD_OK;
        goto out;
    }

    if (notify_channels_new(&app.settings, NULL, &channels, &nchannels, &err)) {
        fprintf(stderr, "candlekeep digest: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    if (!nchannels) {
        fprintf(stderr, "candlekeep digest: no alert channel is configured ([alerts.telegram] "
                        "bot_token and chat_id, or [alerts.webhook] url); nothing to send to\n");
        rc = CMD_FAIL;
        goto out;
    }
    am = alert_manager_new(&app.settings, channels, nchannels, NULL, NULL, instance);
    if (alert_notice(am, st, NOTIFY_INFO, "digest", title.buf, text.buf, now_ms, &err)) {
        redact_message(&err);
        fprintf(stderr, "candlekeep digest: cannot queue the digest: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    printf("digest queued for %zu channel%s; the daemon sends it\n", nchannels,
           nchannels == 1 ? "" : "s");
    rc = CMD_OK;
out:
    digest_report_release(&r);
    alert_manager_free(am);
    notify_channels_free(channels, nchannels);
    store_close(st);
    ck_release(&app);
    free(instance);
    strbuf_release(&err);
    strbuf_release(&title);
    strbuf_release(&text);
    return rc;
}
