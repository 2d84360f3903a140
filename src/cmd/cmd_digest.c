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
#include "ck/ck.h"
#include "health/health.h"
#include "jobs/digest.h"
#include "store/store.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_digest_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep digest --print | --send [--config FILE]\n\n"
                "The daily health digest: signals, outcomes, the last retention run, the\n"
                "scheduler, the newest candle of each series, open gaps, API credits used\n"
                "today and the database's size. --print writes it to stdout; --send queues\n"
                "it for the alert channels ([alerts.telegram], [alerts.webhook]), which the\n"
                "daemon delivers. The daemon sends it by itself at [digest] schedule.\n");
}

/* Queue the digest for every alert channel; the exit status. */
static int send_digest(struct ck *ck, const struct strbuf *title, const struct strbuf *text,
                       int64_t now_ms)
{
    struct strbuf err = STRBUF_INIT;
    int rc = cmd_need(ck, CK_NEEDS_ALERTS);

    if (rc)
        return rc;
    if (!ck->nchannels) {
        fprintf(stderr, "candlekeep digest: no alert channel is configured ([alerts.telegram] "
                        "bot_token and chat_id, or [alerts.webhook] url); nothing to send to\n");
        return CMD_FAIL;
    }
    if (alert_notice(ck->alerts, ck->store, NOTIFY_INFO, "digest", title->buf, text->buf, now_ms,
                     &err)) {
        redact_message(&err);
        fprintf(stderr, "candlekeep digest: cannot queue the digest: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    printf("digest queued for %zu channel%s; the daemon sends it\n", ck->nchannels,
           ck->nchannels == 1 ? "" : "s");
    strbuf_release(&err);
    return CMD_OK;
}

/* Collect the digest now and print or send it; the exit status. */
static int run_digest(struct ck *ck, bool print)
{
    struct strbuf err = STRBUF_INIT, title = STRBUF_INIT, text = STRBUF_INIT;
    /* The pinnable clock (CANDLEKEEP_NOW), as every command reads it. */
    int64_t now_ms = time_now_ms();
    struct digest_report r;
    int rc;

    if (digest_collect(ck, NULL, ck->store, now_ms, &r, &err)) {
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
    } else {
        rc = send_digest(ck, &title, &text, now_ms);
    }
out:
    digest_report_release(&r);
    strbuf_release(&err);
    strbuf_release(&title);
    strbuf_release(&text);
    return rc;
}

int cmd_digest(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {
        {"print", no_argument, NULL, 'p'},
        {"send", no_argument, NULL, 's'},
        {0},
    };
    bool print = false, send = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "ps", opts, NULL)) != -1) {
        if (c == 'p') {
            print = true;
        } else if (c == 's') {
            send = true;
        } else {
            cmd_digest_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep digest: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }
    if (print == send) {
        fprintf(stderr, "candlekeep digest: say --print or --send (one of them)\n");
        cmd_digest_usage(stderr);
        return CMD_USAGE;
    }
    rc = cmd_ready(ck);
    if (!rc)
        rc = run_digest(ck, print);
    return rc;
}
