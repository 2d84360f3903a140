/* SPDX-License-Identifier: MIT */
/*
 * The service manager's notification protocol (see sdnotify.h). Like
 * sd_notify(state) with unset_environment 0: the environment is left as
 * it is, and no credentials or file descriptors are passed.
 */
#include "daemon/sdnotify.h"

#include "util/error.h"
#include "util/parse.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/banned.h"

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len;
    int fd, rc = 0;

    if (!path || !*path)
        return 0;
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(sa.sun_path))
        return CK_EINVAL;
    memcpy(sa.sun_path, path, len);
    /* '@' names the abstract namespace: the address starts with a NUL and has no terminator. */
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CK_EIO;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        rc = CK_EIO;
    close(fd);
    return rc;
}

uint64_t sdnotify_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    int64_t v;

    if (!usec || parse_int64(usec, 1, INT64_MAX, &v))
        return 0;
    /* Set by a manager for the main process only: a child it did not start must not ping. */
    if (pid) {
        int64_t p;
        if (parse_int64(pid, 1, INT64_MAX, &p) || p != (int64_t)getpid())
            return 0;
    }
    return (uint64_t)v;
}
