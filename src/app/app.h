/* SPDX-License-Identifier: MIT */
#ifndef CK_APP_APP_H
#define CK_APP_APP_H

#include "app/settings.h"
#include "jobs/outcomes.h"
#include "jobs/refresh.h"

#include <stddef.h>

struct alert_manager;
struct breaker;
struct calendar;
struct feed;
struct metrics;
struct sched;
struct strbuf;

/*
 * What the daemon (and the CLI commands that run jobs) share, built once
 * from the settings: a feed per source (ingest/feed.h: its calendar,
 * circuit breaker and rate budget, shared by every thread and command
 * that calls the provider), the metrics registry and the job definitions.
 */
struct app {
    struct settings settings;
    struct feed **feeds;               /* one per settings.sources[i] */
    struct breaker **breakers;         /* feeds[i]'s breaker, for the API (owned by the feeds) */
    const struct calendar **calendars; /* feeds[i]'s calendar, for health (owned by the feeds) */
    struct metrics *metrics;
    struct refresh_job refresh[TF_COUNT];
    struct outcomes_job outcomes;
    /*
     * Set by the process before its scheduler starts, read by the jobs:
     * the alert manager (NULL: alerts are not set up, as in most
     * commands) and the scheduler running the jobs (NULL in commands).
     */
    struct alert_manager *alerts;
    struct sched *sched;
};

/* Build the shared parts after settings_load(); 0 or CK_E* with a message. */
int app_init(struct app *app, struct strbuf *err);
void app_release(struct app *app);

/*
 * Register every job of the job table (jobs/table.h) with `s`, each bound
 * to what it needs from `app` (set app->alerts first: detect_outcomes
 * tells its outcomes through it).
 */
int app_register_jobs(struct app *app, struct sched *s, struct strbuf *err);

/* The calendar of source `i`. */
const struct calendar *app_calendar(const struct app *app, size_t i);
/* The circuit breaker of source `i`. */
struct breaker *app_breaker(const struct app *app, size_t i);

#endif
