/* SPDX-License-Identifier: MIT */
#ifndef CK_DAEMON_BOT_H
#define CK_DAEMON_BOT_H

struct ck;
struct notify_channel;
struct strbuf;

/*
 * The Telegram command bot of the daemon ([alerts.telegram] commands =
 * true): a background service (sched/service.h) that long-polls the Bot
 * API's getUpdates and answers the commands of the configured chat:
 *
 *   /help  /status  /digest  /jobs  /alerts  /gaps  /report daily|weekly
 *   /pause JOB [DURATION]  /resume JOB  /run JOB  /backup
 *
 * A message from any other chat is ignored and logged without its text.
 * Answers go through the Telegram channel (escaped, split and paced like
 * every message). When several daemons share a database only the holder
 * of the lease "telegram:commands" polls (Telegram allows one poller per
 * bot). Each batch is confirmed to Telegram (getUpdates with the next
 * offset) before it is handled, so a restart never answers a command
 * twice; a daemon killed between the confirmation and the answer loses
 * those commands' answers, which the operator sees and can repeat.
 */
struct bot;

/* What the bot needs; borrowed, must outlive it. */
struct bot_config {
    struct ck *app;            /* settings, the scheduler (for /run), the store URL */
    struct notify_channel *tg; /* the Telegram channel answers go through */
    const char *instance;      /* the lease holder's name */
};

/* Start the bot's service. 0, or CK_EIO with the reason in `err`. */
int bot_start(struct bot **out, const struct bot_config *cfg, struct strbuf *err);
/* Stop it (waits for a poll in flight, at most its timeout). Takes NULL. */
void bot_stop(struct bot *b);

#endif
