/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep alert test [--config FILE]`: send a test message through
 * every configured operator channel ([alerts.telegram], [alerts.webhook],
 * [alerts.email]) right now, without the alert outbox, and print one line
 * per channel: ok, or why it failed. It is how an operator checks a token,
 * a chat id, a webhook URL or an SMTP relay before an alert depends on
 * them.
 *
 * Exit 0 when every channel took the message; 1 when one failed or none is
 * configured; 2 for usage and configuration errors (half a Telegram
 * configuration among them). Error text comes from the channels, which
 * never quote the bot token, a webhook URL or the SMTP password, and is
 * passed through the log redactor once more before it is printed.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "alert/notify.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

void cmd_alert_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep alert test [--config FILE]\n\n"
                "test   send a test message (state test, severity info) through every configured\n"
                "       channel ([alerts.telegram], [alerts.webhook], [alerts.email]) now,\n"
                "       without the outbox, and print one line per channel: ok, or the error.\n"
                "       Exit 0 when every channel took it, 1 when one failed or none is\n"
                "       configured.\n");
}

/* The channel's error without its own "name: " prefix: the line already names it. */
static const char *without_prefix(const char *err, const char *name)
{
    size_t n = strlen(name);
    return !strncmp(err, name, n) && !strncmp(err + n, ": ", 2) ? err + n + 2 : err;
}

/* Send the test message through the context's channels `v[0..n)`; prints a line per channel. */
static int send_test(struct notify_channel *const *v, size_t n)
{
    struct strbuf err = STRBUF_INIT, details = STRBUF_INIT;
    char host[256] = "";
    size_t failed = 0;
    int rc = CMD_OK;

    if (!n) {
        fprintf(stderr,
                "candlekeep alert: no alert channel is configured: set [alerts.telegram] "
                "bot_token and chat_id (or OPS_TELEGRAM_BOT_TOKEN and "
                "OPS_TELEGRAM_CHAT_ID), [alerts.webhook] url, or [alerts.email] smtp_url\n");
        return CMD_FAIL;
    }
    if (gethostname(host, sizeof(host) - 1))
        host[0] = '\0';
    strbuf_addf(&details, "Sent by 'candlekeep alert test'%s%s. Alerts reach this channel.",
                *host ? " on " : "", host);
    struct notify_msg m = {
        .key = "alert:test",
        .severity = NOTIFY_INFO,
        .state = "test",
        .title = "candlekeep test message",
        .details = details.buf,
        .time = time_now(),
    };
    for (size_t i = 0; i < n; i++) {
        struct notify_result res;
        const char *name = notify_channel_name(v[i]);

        strbuf_reset(&err);
        if (!notify_send(v[i], &m, &res, &err)) {
            printf("%s: ok\n", name);
            continue;
        }
        redact_message(&err);
        printf("%s: failed: %s\n", name, without_prefix(err.buf, name));
        failed++;
    }
    fflush(stdout);
    if (failed) {
        fprintf(stderr, "candlekeep alert: %zu of %zu channel%s failed\n", failed, n,
                n == 1 ? "" : "s");
        rc = CMD_FAIL;
    }
    strbuf_release(&err);
    strbuf_release(&details);
    return rc;
}

int cmd_alert(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {{0}};
    int rc;

    if (argc < 2) {
        cmd_alert_usage(stderr);
        return CMD_USAGE;
    }
    if (strcmp(argv[1], "test")) {
        fprintf(stderr, "candlekeep alert: unknown action '%s'\n", argv[1]);
        cmd_alert_usage(stderr);
        return CMD_USAGE;
    }
    optind = 1;
    if (getopt_long(argc - 1, argv + 1, "", opts, NULL) != -1) {
        cmd_alert_usage(stderr);
        return CMD_USAGE;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "candlekeep alert: unexpected argument '%s'\n", argv[optind + 1]);
        return CMD_USAGE;
    }
    /* The channels are the daemon's; the message goes out now, not through the outbox. */
    rc = cmd_ready(ck);
    if (!rc)
        rc = cmd_need(ck, CK_NEEDS_ALERTS);
    if (!rc)
        rc = send_test(ck->channels, ck->nchannels);
    return rc;
}
