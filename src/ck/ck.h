/* SPDX-License-Identifier: MIT */
#ifndef CK_CK_CK_H
#define CK_CK_CK_H

#include "ck/settings.h"

#include <stdbool.h>
#include <stddef.h>

struct alert_manager;
struct breaker;
struct calendar;
struct feed;
struct metrics;
struct notify_channel;
struct sched;
struct store;
struct strbuf;

/*
 * The process context: what a command (or the daemon) works with, built
 * once from what the command declares it needs (main.c's command table)
 * and released once when it returns (after git's `struct repository` and
 * the RUN_SETUP flags of git.c's commands[]).
 *
 * ck_require() builds the parts a command needs, in their order, each at
 * most once: the settings (and logging set up from them), the credentials
 * check, the store, libcurl, the feeds (ingest/feed.h: a calendar, circuit
 * breaker and rate budget per source, shared by every thread and command
 * that calls the provider) with the metrics registry, and the alert
 * manager. Below this ring, a subsystem receives the section of the
 * settings it reads, never the whole struct.
 *
 * Threads: everything here is built before any thread starts and
 * read-only afterwards (the metrics registry, breakers and alert manager
 * are internally locked); `store` is the building thread's connection.
 */
enum ck_needs {
    CK_NEEDS_CONFIG = 1 << 0, /* the settings, and logging set up from them */
    CK_NEEDS_KEYS = 1 << 1,   /* every enabled source has the credentials its kind needs */
    CK_NEEDS_STORE = 1 << 2,  /* the store, opened and migrated */
    CK_NEEDS_HTTP = 1 << 3,   /* libcurl's global state */
    CK_NEEDS_FEEDS = 1 << 4,  /* a feed per source, and the metrics registry */
    CK_NEEDS_ALERTS = 1 << 5, /* the alert channels and manager (its sender is the daemon's) */
};

/* Output formats for records (--format). */
enum out_format {
    OUT_TABLE,
    OUT_JSON,
    OUT_CSV,
};

struct ck {
    /* Set by the front end before anything is built. */
    const char *name;        /* the command, in messages: "fetch" */
    const char *config_path; /* --config; NULL: the default search (settings.h) */
    enum out_format format;  /* --format */
    unsigned needs;          /* what the command declared (enum ck_needs) */
    char *instance;          /* this process in leases and alerts; NULL: a default (owned) */

    unsigned built; /* what ck_require() has built */
    int config_problems;
    struct settings settings;
    struct store *store;
    struct feed **feeds;               /* one per settings.sources[i] */
    struct breaker **breakers;         /* feeds[i]'s breaker (owned by the feeds) */
    const struct calendar **calendars; /* feeds[i]'s calendar (owned by the feeds) */
    struct metrics *metrics;
    struct notify_channel **channels;
    size_t nchannels;
    struct alert_manager *alerts;
    /* Set by the daemon while its scheduler runs, read by the jobs; NULL in commands. */
    struct sched *sched;
    /* What the job table binds the job bodies to (jobs/table.c); freed with the context. */
    void *job_args;
};

/* A context for command `name` that has built nothing yet. */
void ck_init(struct ck *ck, const char *name, const char *config_path, enum out_format format,
             unsigned needs);

/*
 * Build what `needs` names and is not built yet (CK_NEEDS_CONFIG first;
 * every other need implies it). 0, or: CK_ECONFIG for a configuration
 * problem (`err` has every problem as `file:line: key 'x': reason` lines
 * and ck->config_problems counts them) or a source lacking its key;
 * another CK_E* with the reason in `err` (redacted) when a part cannot
 * be built. What was built stays built and is released by ck_release().
 */
int ck_require(struct ck *ck, unsigned needs, struct strbuf *err);

/* Release everything built, in reverse order. Takes a context that built nothing. */
void ck_release(struct ck *ck);

/* The calendar of source `i` (CK_NEEDS_FEEDS). */
const struct calendar *ck_calendar(const struct ck *ck, size_t i);
/* The circuit breaker of source `i` (CK_NEEDS_FEEDS); NULL before the feeds are built. */
struct breaker *ck_breaker(const struct ck *ck, size_t i);

#endif
