/* SPDX-License-Identifier: MIT */
/*
 * The daemon: start-up and shut-down order, signals, systemd.
 *
 * Start-up order: the open-file limit raised to its hard maximum, the
 * single-daemon lock for SQLite, the store (opened and migrated once here,
 * so a bad URL fails fast) with the circuit breakers' recorded state, the alert channels and
 * manager with its sender, the scheduler with every job (its completion hook feeds the alerts,
 * jobs/watch.h), the database watch (daemon/dbwatch.h), the optional
 * heartbeat (daemon/heartbeat.h), the signal deliverer (signal/deliver.h; the
 * API wakes it for each new signal), the HTTP API, then READY=1 to
 * systemd; the start-up store connection is closed then (every thread that
 * uses the store has its own). While it serves, the main thread waits for
 * signals and gives malloc's free pages back to the system every few
 * seconds. Stopping goes the other way round; the alert sender stops after
 * the scheduler, so what the last runs raised is queued, and sent now or
 * by the next start.
 *
 * Signals are blocked in every thread (they are blocked here before the
 * first thread starts, and threads inherit the mask) and taken
 * synchronously with sigtimedwait(): SIGTERM/SIGINT stop the daemon (no
 * new runs, running ones get DRAIN_SECONDS to finish, then the database is
 * closed cleanly), SIGHUP reopens the log file. The one-second wait
 * timeout doubles as the systemd watchdog tick.
 */
#include "daemon/daemon.h"

#include "alert/alert.h"
#include "alert/notify.h"
#include "api/api.h"
#include "ck/ck.h"
#include "daemon/bot.h"
#include "daemon/dbwatch.h"
#include "daemon/heartbeat.h"
#include "daemon/sdnotify.h"
#include "ingest/feed.h"
#include "jobs/table.h"
#include "jobs/watch.h"
#include "sched/sched.h"
#include "signal/deliver.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

/* Seconds running jobs get to finish after SIGTERM. */
#define DRAIN_SECONDS 30
/* The timer thread wakes at least every second; this long without a tick means it is stuck. */
#define TICK_STALL_MS 10000
/* How often memory freed by the threads is given back to the system (give_back_memory()). */
#define GIVE_BACK_MS 5000

/* Everything the daemon starts; stopped in daemon_stop() in reverse order. */
struct daemon {
    struct ck *app;
    const char *instance; /* app->instance */
    int lock_fd;
    struct alert_manager *am; /* app->alerts */
    bool sender;
    struct sched *sched;
    struct dbwatch *dbw;
    struct heartbeat *hb;
    struct deliverer *dlv;
    struct api *api;
    struct bot *bot;
};

/*
 * SQLite allows one daemon per database file: the second one would run
 * every job twice. An exclusive lock on "<db>.lock" (released by the
 * kernel if the process dies) keeps it single.
 */
static int lock_sqlite(const char *url, int *out_fd, struct strbuf *err)
{
    const char *file = store_sqlite_file(url);
    struct strbuf path = STRBUF_INIT;
    char pid[32], other[32] = "";
    ssize_t n;
    int fd;

    *out_fd = -1;
    if (!file)
        return 0;
    strbuf_addf(&path, "%s.lock", file);
    fd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_addf(err, "cannot create lock file '%s': %s", path.buf, strerror(errno));
        strbuf_release(&path);
        return CK_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        n = pread(fd, other, sizeof(other) - 1, 0);
        other[n > 0 ? n : 0] = '\0';
        other[strcspn(other, "\n")] = '\0';
        strbuf_addf(err,
                    "another candlekeep daemon (pid %s) is already running on '%s'; SQLite "
                    "allows one daemon per database (use PostgreSQL to run several)",
                    *other ? other : "?", file);
        close(fd);
        strbuf_release(&path);
        return CK_ECONFLICT;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("run: cannot write the pid to '%s': %s", path.buf, strerror(errno));
    *out_fd = fd;
    strbuf_release(&path);
    return 0;
}

/* The heartbeat's test: the scheduler ticking and the database reachable. */
static bool daemon_healthy(void *arg, struct strbuf *why)
{
    const struct daemon *d = arg;
    struct sched_health sh;
    int64_t since;

    sched_health(d->sched, &sh);
    since = time_wall_ms() - sh.last_tick_ms;
    if (!sh.running) {
        strbuf_addstr(why, "the scheduler is not running");
        return false;
    }
    if (since > TICK_STALL_MS) {
        strbuf_addf(why, "the scheduler's timer has not ticked for %lld s",
                    (long long)since / 1000);
        return false;
    }
    if (!sh.store_ok || (d->dbw && !dbwatch_db_ok(d->dbw))) {
        strbuf_addstr(why, "the database is unreachable");
        return false;
    }
    return true;
}

/* The API created a signal: the deliverer sends it now rather than at its next look. */
static void wake_deliverer(void *arg, const char *signal_id)
{
    (void)signal_id;
    deliver_wake(arg);
}

/*
 * Each feed's circuit breaker as it was recorded (by the daemon before a
 * restart, or by `candlekeep fetch`): an open circuit stays open until its
 * retry time; one never recorded is recorded closed. A record that cannot
 * be read leaves that breaker closed, as a daemon without the record would
 * start.
 */
static void restore_breakers(struct ck *app)
{
    struct strbuf err = STRBUF_INIT;
    int64_t now_ms = time_wall_ms();

    for (size_t i = 0; app->feeds && i < app->settings.nsources; i++) {
        strbuf_reset(&err);
        if (feed_restore(app->feeds[i], app->store, app->instance, now_ms, &err))
            log_warn("run: %s", err.buf);
    }
    strbuf_release(&err);
}

/* The store, its lock and the alert manager with its sender. */
static int start_store_and_alerts(struct daemon *d, struct strbuf *err)
{
    struct ck *app = d->app;
    const char *url = app->settings.storage.url;
    int rc;

    /* The lock before the store: a second daemon must not even migrate it. */
    if ((rc = lock_sqlite(url, &d->lock_fd, err)) ||
        (rc = ck_require(app, CK_NEEDS_STORE | CK_NEEDS_ALERTS, err)))
        return rc;
    restore_breakers(app);
    /* The job table binds it to the jobs that tell operators (jobs/table.h). */
    d->am = app->alerts;
    if (!app->nchannels)
        log_info("run: no alert channel configured ([alerts.telegram], [alerts.webhook]); "
                 "alerts are recorded only");
    rc = alert_sender_start(d->am, url, err);
    d->sender = rc == 0;
    return rc;
}

/* The scheduler with every job, and the database watch beside it. */
static int start_sched(struct daemon *d, struct strbuf *err)
{
    struct ck *app = d->app;
    struct sched_config scfg = {
        .store_url = app->settings.storage.url,
        .instance = d->instance,
        .workers = (size_t)app->settings.scheduler.workers,
        .history_keep = app->settings.scheduler.history_keep,
        .metrics = app->metrics,
        .on_run_end = watch_on_run_end,
        .on_run_end_arg = app,
        /* Holding the SQLite file's lock, this is the only daemon on it. */
        .sole_daemon = d->lock_fd >= 0,
    };
    int rc;

    d->sched = sched_new(&scfg, err);
    app->sched = d->sched;
    if (!d->sched)
        return CK_EIO;
    if ((rc = jobs_register(app, d->sched, err)) || (rc = sched_start(d->sched, err)))
        return rc;
    struct dbwatch_config dcfg = {.settings = &app->settings, .sched = d->sched, .am = d->am};
    return dbwatch_start(&d->dbw, &dcfg, err);
}

/* The heartbeat (when configured), the signal deliverer and the HTTP API. */
static int start_outbound(struct daemon *d, struct strbuf *err)
{
    struct ck *app = d->app;
    int rc;

    if (*app->settings.heartbeat.url) {
        struct heartbeat_config hcfg = {
            .url = app->settings.heartbeat.url,
            .interval_ms = app->settings.heartbeat.interval * 1000,
            .healthy = daemon_healthy,
            .arg = d,
        };
        if ((rc = heartbeat_start(&d->hb, &hcfg, err)))
            return rc;
    }
    struct deliver_config dlcfg = {
        .deliver = &app->settings.deliver,
        .receivers = app->settings.receivers,
        .nreceivers = app->settings.nreceivers,
        .failure_threshold = app->settings.alerts.failure_threshold,
        .store_url = app->settings.storage.url,
        .instance = d->instance,
        .alerts = d->am,
        .metrics = app->metrics,
    };
    if ((rc = deliver_start(&d->dlv, &dlcfg, err)))
        return rc;
    /* The command bot ([alerts.telegram] commands), answering through the Telegram channel. */
    for (size_t i = 0; app->settings.telegram.commands && i < app->nchannels; i++) {
        if (strcmp(notify_channel_name(app->channels[i]), "telegram"))
            continue;
        struct bot_config bcfg = {.app = app, .tg = app->channels[i], .instance = d->instance};
        if ((rc = bot_start(&d->bot, &bcfg, err)))
            return rc;
        break;
    }
    struct api_config acfg = {
        .listen = app->settings.api.listen,
        .token = app->settings.api.token,
        .store_url = app->settings.storage.url,
        .instance = d->instance,
        .settings = &app->settings,
        .breakers = app->breakers,
        .calendars = app->calendars,
        .sched = d->sched,
        .metrics = app->metrics,
        .started_ms = time_wall_ms(),
        .on_signal = wake_deliverer,
        .on_signal_arg = d->dlv,
        .max_connections = (unsigned)app->settings.api.max_connections,
        .max_connections_per_client = (unsigned)app->settings.api.max_connections_per_client,
        .request_timeout = (unsigned)app->settings.api.request_timeout,
    };
    return api_start(&d->api, &acfg, err);
}

/*
 * Raise the soft limit on open files to the hard one: the API's share of
 * it grows with it (api_config.max_connections), and so does what is left
 * for the jobs and the store.
 */
static void raise_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        log_warn("run: cannot raise the open-file limit from %llu to %llu: %s",
                 (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * Give the pages malloc holds free back to the system. glibc keeps what a
 * thread frees in that thread's arena and returns only the top of a heap,
 * and only past a threshold that grows with the largest block ever freed:
 * after a burst of large responses the API threads' arenas stay megabytes
 * larger than what they use. malloc_trim() returns every whole free page
 * in every arena; a page used again costs one page fault. Every
 * GIVE_BACK_MS, from the main thread, which otherwise only waits.
 */
static void give_back_memory(int64_t *last_ms)
{
    int64_t now = time_mono_ms();

    if (*last_ms && now - *last_ms < GIVE_BACK_MS)
        return;
    *last_ms = now;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Serve until SIGTERM or SIGINT; SIGHUP reopens the log. `sigs` are blocked. */
static void serve(struct daemon *d, const sigset_t *sigs)
{
    struct strbuf err = STRBUF_INIT;
    uint64_t watchdog_usec = sdnotify_watchdog_usec();
    int64_t gave_back_ms = 0;

    for (;;) {
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGHUP) {
            strbuf_reset(&err);
            if (log_reopen(&err))
                log_error("run: %s", err.buf);
            else
                log_info("run: log file reopened");
        } else if (sig == SIGTERM || sig == SIGINT) {
            log_info("run: %s received, stopping (running jobs get %ds)",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT", DRAIN_SECONDS);
            break;
        }
        /* Only tell the watchdog we are alive while the scheduler really is. */
        if (watchdog_usec && sched_is_running(d->sched))
            sdnotify_send("WATCHDOG=1");
        give_back_memory(&gave_back_ms);
    }
    strbuf_release(&err);
}

/* Stop what runs, newest first; `drain_ms` is what running jobs get. Takes a half-started daemon.
 */
static void daemon_stop(struct daemon *d, int64_t drain_ms)
{
    api_stop(d->api);
    bot_stop(d->bot);
    deliver_stop(d->dlv);
    heartbeat_stop(d->hb);
    sched_stop(d->sched, drain_ms);
    dbwatch_stop(d->dbw);
    if (d->sender)
        alert_sender_stop(d->am);
    sched_free(d->sched);
    d->app->sched = NULL;
    if (d->lock_fd >= 0)
        close(d->lock_fd);
}

int daemon_run(struct ck *app)
{
    struct daemon d = {.app = app, .lock_fd = -1};
    struct strbuf err = STRBUF_INIT;
    sigset_t sigs;
    int rc;

    /* Block the signals taken synchronously before any thread exists. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_file_limit();
    app->instance = sched_make_instance_id();
    d.instance = app->instance;
    rc = start_store_and_alerts(&d, &err);
    if (!rc)
        rc = start_sched(&d, &err);
    if (!rc)
        rc = start_outbound(&d, &err);
    if (rc) {
        redact_message(&err);
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        daemon_stop(&d, 0);
        strbuf_release(&err);
        return 1;
    }
    log_info("run: candlekeep %s started (instance %s, store %s, api %s port %d, %d workers)",
             CK_VERSION, d.instance, store_backend_name(app->store), app->settings.api.listen,
             api_port(d.api), (int)app->settings.scheduler.workers);
    /* The start-up connection is done with: each thread that uses the store has its own. */
    store_close(app->store);
    app->store = NULL;
    sdnotify_send("READY=1\nSTATUS=running");
    serve(&d, &sigs);
    sdnotify_send("STOPPING=1");
    daemon_stop(&d, DRAIN_SECONDS * 1000);
    log_info("run: stopped");
    strbuf_release(&err);
    return 0;
}
