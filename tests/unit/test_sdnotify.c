/* SPDX-License-Identifier: MIT */
/*
 * The service manager's notification protocol: a state arrives as one
 * datagram on a path socket and on an abstract one, nothing is sent
 * without $NOTIFY_SOCKET, an unusable address is refused, and the
 * watchdog interval is read only for the process $WATCHDOG_PID names.
 */
#include "testutil.h"

#include "daemon/sdnotify.h"
#include "util/error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound to `name` (a path, or '@' for the abstract namespace). */
static int listen_on(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(len < sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)),
        0);
    return fd;
}

/* The next datagram on `fd`, waiting at most a few seconds. */
static void receives(int fd, const char *want)
{
    char buf[256];
    struct timeval tv = {.tv_sec = 5};
    ssize_t n;

    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n >= 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_path_socket(void **state)
{
    char dir[] = "/tmp/cksdnotify.XXXXXX";
    char path[64];
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify.sock", dir);
    fd = listen_on(path);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(sdnotify_send("READY=1\nSTATUS=running"), 0);
    receives(fd, "READY=1\nSTATUS=running");
    assert_int_equal(sdnotify_send("STOPPING=1"), 0);
    receives(fd, "STOPPING=1");
    /* The environment is left as it was. */
    assert_string_equal(getenv("NOTIFY_SOCKET"), path);
    close(fd);
    unlink(path);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    char name[64];
    int fd;

    (void)state;
    snprintf(name, sizeof(name), "@cksdnotify-%ld", (long)getpid());
    fd = listen_on(name);
    assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
    assert_int_equal(sdnotify_send("WATCHDOG=1"), 0);
    receives(fd, "WATCHDOG=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_no_manager(void **state)
{
    char dir[] = "/tmp/cksdnotify.XXXXXX";
    char path[64];

    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), 0);
    /* Not an AF_UNIX address, or one that cannot fit. */
    assert_int_equal(setenv("NOTIFY_SOCKET", "relative/notify.sock", 1), 0);
    assert_int_equal(sdnotify_send("READY=1"), CK_EINVAL);
    assert_int_equal(setenv("NOTIFY_SOCKET", "@", 1), 0);
    assert_int_equal(sdnotify_send("READY=1"), CK_EINVAL);
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(setenv("NOTIFY_SOCKET", long_path, 1), 0);
    assert_int_equal(sdnotify_send("READY=1"), CK_EINVAL);
    /* A socket nobody listens on. */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gone.sock", dir);
    assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
    assert_int_equal(sdnotify_send("READY=1"), CK_EIO);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
    char pid[32];

    (void)state;
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "2000000", 1), 0);
    assert_int_equal(sdnotify_watchdog_usec(), 2000000);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
    assert_int_equal(sdnotify_watchdog_usec(), 2000000);
    /* Meant for another process. */
    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
    assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");
    /* Not a positive number of microseconds. */
    assert_int_equal(setenv("WATCHDOG_USEC", "0", 1), 0);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    assert_int_equal(setenv("WATCHDOG_USEC", "2s", 1), 0);
    assert_int_equal(sdnotify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_USEC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_manager),
        cmocka_unit_test(test_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
