/* SPDX-License-Identifier: MIT */
#ifndef CK_DAEMON_DAEMON_H
#define CK_DAEMON_DAEMON_H

struct ck;

/*
 * The daemon, `candlekeep run`: starts every part in order, serves until
 * SIGTERM or SIGINT, then stops them in the reverse order (see daemon.c).
 * `app` is built (ck_init) and stays the caller's. Messages for the user
 * go to stderr; returns the exit code: 0 after a clean stop, 1 when the
 * daemon could not start.
 */
int daemon_run(struct ck *app);

#endif
