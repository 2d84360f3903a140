/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep run [--config FILE]`: the daemon.
 *
 * Start-up order: configuration (refused on any problem, each named), the
 * store (opened and migrated once here, so a bad URL fails fast), the
 * single-daemon lock for SQLite, the alert channels and manager with its
 * sender thread, the scheduler with every job (its completion hook feeds
 * the alerts, alert/watch.h), the database watch (alert/dbwatch.h), the
 * optional heartbeat (alert/heartbeat.h), the signal deliverer
 * (jobs/deliver.h; the API wakes it for each new signal), the HTTP API,
 * then READY=1 to systemd. Stopping goes the other way round; the alert sender stops
 * after the scheduler, so what the last runs raised is queued, and sent
 * now or by the next start.
 *
 * Signals are blocked in every thread and taken synchronously here with
 * sigtimedwait(): SIGTERM/SIGINT stop the daemon (no new runs, running ones
 * get `drain` seconds to finish, then the database is closed cleanly),
 * SIGHUP reopens the log file. The one-second wait timeout doubles as the
 * systemd watchdog tick.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "alert/alert.h"
#include "alert/dbwatch.h"
#include "alert/heartbeat.h"
#include "alert/notify.h"
#include "alert/watch.h"
#include "api/api.h"
#include "app/app.h"
#include "jobs/deliver.h"
#include "sched/sched.h"
#include "source/http.h"
#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <systemd/sd-daemon.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

/* Seconds running jobs get to finish after SIGTERM. */
#define DRAIN_SECONDS 30

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep run [--config FILE]\n\n"
                "Run the daemon: the scheduler refreshes every configured series one minute\n"
                "after each candle closes, and the HTTP API serves /health, /candles, /jobs and\n"
                "/metrics (default 127.0.0.1:8080). SIGTERM or SIGINT stops it gracefully,\n"
                "SIGHUP reopens the log file.\n");
}

/*
 * SQLite allows one daemon per database file: the second one would run
 * every job twice. An exclusive lock on "<db>.lock" (released by the
 * kernel if the process dies) keeps it single.
 */
static int lock_sqlite(const char *url, int *out_fd)
{
    struct strbuf path = STRBUF_INIT;
    const char *p = url;
    char pid[32];
    int fd;

    *out_fd = -1;
    if (!strncmp(p, "postgres", 8))
        return CMD_OK;
    if (!strncmp(p, "sqlite://", 9))
        p += 9;
    else if (!strncmp(p, "sqlite:", 7))
        p += 7;
    strbuf_addf(&path, "%s.lock", p);
    fd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "candlekeep run: cannot create lock file '%s': %s\n", path.buf,
                strerror(errno));
        strbuf_release(&path);
        return CMD_FAIL;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        char other[32] = "";
        ssize_t n = pread(fd, other, sizeof(other) - 1, 0);
        other[n > 0 ? n : 0] = '\0';
        other[strcspn(other, "\n")] = '\0';
        fprintf(stderr,
                "candlekeep run: another candlekeep daemon (pid %s) is already running on "
                "'%s'; SQLite allows one daemon per database (use PostgreSQL to run several)\n",
                *other ? other : "?", p);
        close(fd);
        strbuf_release(&path);
        return CMD_FAIL;
    }
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, strlen(pid), 0) < 0)
        log_warn("run: cannot write the pid to '%s': %s", path.buf, strerror(errno));
    *out_fd = fd;
    strbuf_release(&path);
    return CMD_OK;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The timer thread wakes at least every second; this long without a tick means it is stuck. */
#define TICK_STALL_MS 10000

struct run_health {
    struct sched *sched;
    struct dbwatch *dbwatch;
};

/* The heartbeat's test: the scheduler ticking and the database reachable. */
static bool run_healthy(void *arg, struct strbuf *why)
{
    const struct run_health *h = arg;
    struct sched_health sh;
    int64_t since;

    sched_health(h->sched, &sh);
    since = wall_ms() - sh.last_tick_ms;
    if (!sh.running) {
        strbuf_addstr(why, "the scheduler is not running");
        return false;
    }
    if (since > TICK_STALL_MS) {
        strbuf_addf(why, "the scheduler's timer has not ticked for %lld s",
                    (long long)since / 1000);
        return false;
    }
    if (!sh.store_ok || (h->dbwatch && !dbwatch_db_ok(h->dbwatch))) {
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

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config = NULL;
    struct app app;
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    struct sched *sched = NULL;
    struct api *api = NULL;
    struct notify_channel **channels = NULL;
    size_t nchannels = 0;
    struct alert_manager *am = NULL;
    bool sender = false;
    struct dbwatch *dbw = NULL;
    struct heartbeat *hb = NULL;
    struct deliverer *dlv = NULL;
    struct run_health health = {0};
    char *instance = NULL;
    sigset_t sigs;
    int c, rc, lock_fd = -1;
    uint64_t watchdog_usec = 0;

    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'h':
            usage(stdout);
            return CMD_OK;
        default:
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep run: unexpected argument '%s'\n", argv[optind]);
        return CMD_USAGE;
    }

    memset(&app, 0, sizeof(app));
    rc = cmd_setup(&app.settings, config, "run");
    if (rc) {
        settings_release(&app.settings);
        return rc;
    }
    instance = sched_make_instance_id();

    /* Block the signals we take synchronously before any thread exists. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (size_t i = 0; i < app.settings.nsources; i++) {
        if (app.settings.sources[i].enabled &&
            (rc = cmd_check_credentials(&app.settings.sources[i], "run")))
            goto out;
    }
    rc = lock_sqlite(app.settings.storage.url, &lock_fd);
    if (rc)
        goto out;
    if (http_global_init(&err) || app_init(&app, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    if (store_open(&st, app.settings.storage.url, &err)) {
        log_redact(&err);
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }

    if (notify_channels_new(&app.settings, NULL, &channels, &nchannels, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    am = alert_manager_new(&app.settings, channels, nchannels, app.metrics, NULL, instance);
    app.alerts = am;
    /* Each outcome is told in the transaction that records it ([signals] notify_outcomes). */
    app.outcomes.notify = outcomes_notify_alert;
    app.outcomes.notify_arg = am;
    if (!nchannels)
        log_info("run: no alert channel configured ([alerts.telegram], [alerts.webhook]); "
                 "alerts are recorded only");

    struct sched_config scfg = {
        .store_url = app.settings.storage.url,
        .instance = instance,
        .workers = (size_t)app.settings.scheduler.workers,
        .history_keep = app.settings.scheduler.history_keep,
        .metrics = app.metrics,
        .on_run_end = watch_on_run_end,
        .on_run_end_arg = &app,
    };
    sched = sched_new(&scfg, &err);
    app.sched = sched;
    if (!sched || app_register_jobs(&app, sched, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    if (alert_sender_start(am, app.settings.storage.url, &err)) {
        log_redact(&err);
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    sender = true;
    if (sched_start(sched, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    struct dbwatch_config dcfg = {.settings = &app.settings, .sched = sched, .am = am};
    if (dbwatch_start(&dbw, &dcfg, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    health = (struct run_health){.sched = sched, .dbwatch = dbw};
    if (*app.settings.heartbeat.url) {
        /* The timer has ticked once (sched_start), so the first look finds it healthy. */
        struct heartbeat_config hcfg = {
            .url = app.settings.heartbeat.url,
            .interval_ms = app.settings.heartbeat.interval * 1000,
            .healthy = run_healthy,
            .arg = &health,
        };
        if (heartbeat_start(&hb, &hcfg, &err)) {
            fprintf(stderr, "candlekeep run: %s\n", err.buf);
            rc = CMD_FAIL;
            goto out;
        }
    }
    struct deliver_config dlcfg = {
        .settings = &app.settings,
        .store_url = app.settings.storage.url,
        .instance = instance,
        .alerts = am,
        .metrics = app.metrics,
    };
    if (deliver_start(&dlv, &dlcfg, &err)) {
        log_redact(&err);
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    struct api_config acfg = {
        .listen = app.settings.api.listen,
        .token = app.settings.api.token,
        .store_url = app.settings.storage.url,
        .instance = instance,
        .settings = &app.settings,
        .breakers = app.breakers,
        .sched = sched,
        .metrics = app.metrics,
        .started_ms = wall_ms(),
        .on_signal = wake_deliverer,
        .on_signal_arg = dlv,
    };
    if (api_start(&api, &acfg, &err)) {
        fprintf(stderr, "candlekeep run: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    log_info("run: candlekeep %s started (instance %s, store %s, api %s port %d, %d workers)",
             CK_VERSION, instance, store_backend_name(st), app.settings.api.listen, api_port(api),
             (int)app.settings.scheduler.workers);
    sd_notify(0, "READY=1\nSTATUS=running");
    if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
        watchdog_usec = 0;

    for (;;) {
        struct timespec ts = {.tv_sec = 1, .tv_nsec = 0};
        int sig = sigtimedwait(&sigs, NULL, &ts);
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
        if (watchdog_usec && sched_is_running(sched))
            sd_notify(0, "WATCHDOG=1");
    }
    sd_notify(0, "STOPPING=1");
    api_stop(api);
    api = NULL;
    deliver_stop(dlv);
    dlv = NULL;
    heartbeat_stop(hb);
    hb = NULL;
    sched_stop(sched, DRAIN_SECONDS * 1000);
    log_info("run: stopped");
    rc = CMD_OK;
out:
    api_stop(api);
    deliver_stop(dlv);
    heartbeat_stop(hb);
    sched_stop(sched, 0);
    dbwatch_stop(dbw);
    if (sender)
        alert_sender_stop(am);
    sched_free(sched);
    alert_manager_free(am);
    notify_channels_free(channels, nchannels);
    store_close(st);
    app_release(&app);
    free(instance);
    strbuf_release(&err);
    if (lock_fd >= 0)
        close(lock_fd);
    log_shutdown();
    return rc;
}
