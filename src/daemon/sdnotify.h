/* SPDX-License-Identifier: MIT */
#ifndef CK_DAEMON_SDNOTIFY_H
#define CK_DAEMON_SDNOTIFY_H

#include <stdint.h>

/*
 * The service manager's notification protocol (systemd's sd_notify(3)),
 * spoken directly: a state such as "READY=1" is one datagram to the
 * AF_UNIX socket $NOTIFY_SOCKET names (a path, or '@' and a name in the
 * abstract namespace). The protocol is small and stable; libsystemd would
 * add itself and five libraries it loads, about 1 MB of the daemon's
 * resident memory, for these two calls.
 */

/*
 * Send `state` (lines of KEY=VALUE). Returns 0 when it was sent or when no
 * service manager listens ($NOTIFY_SOCKET unset), CK_EINVAL for an address
 * it cannot use, CK_EIO when the send fails.
 */
int sdnotify_send(const char *state);

/*
 * The watchdog interval the service manager asks to be pinged within, in
 * microseconds ($WATCHDOG_USEC), or 0 when it asks for none, the value is
 * not a positive number, or $WATCHDOG_PID names another process.
 */
uint64_t sdnotify_watchdog_usec(void);

#endif
