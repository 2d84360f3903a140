/* SPDX-License-Identifier: MIT */
#ifndef CK_SOURCE_SOURCE_SETTINGS_H
#define CK_SOURCE_SOURCE_SETTINGS_H

#include "market/calendar.h"
#include "market/resample.h"
#include "market/timeframe.h"

struct source_kind;

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A configured source, parsed and checked by the settings loader
 * (ck/settings.c fills it from the [source.NAME] option table). Defined
 * here, below every subsystem that reads it (ingest, signal, health), so
 * that they take the sources rather than the whole settings.
 */
/* One `[source.NAME]` section. */
struct source_settings {
    char *name; /* NAME */
    char *kind; /* adapter; defaults to NAME */
    char *api_key;
    char *base_url;
    char *symbols_raw;
    char *symbol_map; /* "CANONICAL:VENUE" pairs (source.h) */
    char *timeframes_raw;
    char *derive_raw; /* timeframes built from a fetched one, not asked of the venue */
    char *calendar_raw;
    char *holidays_raw;
    char *rate_limit;        /* "N/DURATION"; the kind's free limit when not set */
    int64_t rate_per_minute; /* rate_limit = N/1m, when set */
    int64_t daily_quota;
    int64_t backfill;
    int64_t connect_timeout;      /* seconds */
    int64_t timeout;              /* seconds */
    int64_t max_body;             /* bytes */
    int64_t breaker_failures;     /* consecutive failed calls that open the circuit */
    int64_t breaker_recovery;     /* seconds before the first probe */
    int64_t breaker_max_recovery; /* seconds; the doubling stops here */
    int64_t symbol_skip_after;    /* failures in a row before a series is skipped; 0: never */
    int64_t symbol_probe_every;   /* a skipped series is probed every this many cycles */
    bool enabled;

    /* Derived from the raw strings above. */
    char **symbols;
    size_t nsymbols;
    enum timeframe timeframes[TF_COUNT];
    size_t ntimeframes;
    struct resample_plan derive; /* from derive_raw */
    enum calendar_kind calendar;
    const struct source_kind *venue; /* the adapter's description; NULL for an unknown kind */
    int64_t rate_window_ms;          /* the budget in force: per_window in any window_ms */
    int64_t rate_per_window;
    char *budget_key;  /* source_budget_key(): shared by the sections of one key */
    int64_t *holidays; /* days since epoch */
    size_t nholidays;
    /*
     * Why this source cannot run, `file:line: key 'api_key': ...`: it is
     * enabled and its kind needs an API key it lacks; NULL otherwise.
     * Reported by source_settings_check_key().
     */
    char *key_problem;
};

/* Does source `src` list `symbol`? */
bool source_settings_has_symbol(const struct source_settings *src, const char *symbol);

#endif
