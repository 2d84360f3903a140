/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: the Prometheus text exposition (format 0.0.4).
 *
 * The body is the daemon's registry (what the jobs, the scheduler and the
 * API count as they go) followed by families computed now, at scrape time,
 * from the database and the process, in a registry made for this scrape
 * and thrown away after it, so a series that disappeared (a deleted
 * series, a filled gap) disappears from the output too:
 *
 *   candlekeep_up                                    1
 *   candlekeep_build_info{version}                   1
 *   database_up                                      0/1 (a round trip)
 *   latest_candle_age_seconds{source,symbol,timeframe}
 *                          since the newest stored candle closed (the
 *                          series /health lists that have a candle)
 *   circuit_state{source}                  0 closed, 1 half-open, 2 open
 *   circuit_next_probe_seconds{source}     0 unless open
 *   provider_credits_used{source,window}   window "minute" or "day"
 *   provider_credits_left{source,window}   (no "day" without a quota)
 *   provider_ban_seconds{source}           left of a ban in force, else 0
 *   series_failure_streak{source,symbol,timeframe}
 *   series_skipped{source,symbol,timeframe}    1 while skipped
 *   series_deferred{source,symbol,timeframe}   1 while deferred
 *                          (the configured series with a state row)
 *   process_start_time_seconds, process_cpu_seconds_total,
 *   process_resident_memory_bytes, process_virtual_memory_bytes,
 *   process_open_fds, process_max_fds
 *
 * These names are reserved for this file (api.h says so): a family
 * rendered by both registries would make the exposition invalid. Others
 * that look like scrape-time values belong to their writers' registry
 * (scheduler_running to the scheduler, gaps_open to
 * the refresh jobs).
 *
 * A database that cannot be reached does not fail the scrape: the
 * database families are left out (the circuit breakers, which live in the
 * process, are still shown) and database_up says 0, which is what an
 * alert rule wants to see.
 */
#include "api/api_internal.h"

#include "health/health.h"
#include "market/timeframe.h"
#include "resilience/breaker.h"
#include "store/store.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static void series_labels(struct strbuf *sb, const char *source, const char *symbol,
                          enum timeframe tf)
{
    strbuf_reset(sb);
    metrics_labels(sb, "source", source, "symbol", symbol, "timeframe", timeframe_name(tf), NULL);
}

/* The newest host assessment (health/host.h): health_score and the host_* gauges. */
static void add_host_metrics(const struct health_report *r, struct metrics *m)
{
    static const struct {
        const char *part, *metric, *help;
    } gauges[] = {
        {"cpu", "host_cpu_percent", "Busy CPU share over the last health check's window."},
        {"memory", "host_memory_percent", "Memory in use (1 - MemAvailable / MemTotal)."},
        {"load", "host_load_percent", "1-minute load average per CPU, in percent."},
        {"open_files", "host_open_files_percent", "Open files of candlekeep against its limit."},
    };
    const struct host_summary *h = &r->host;
    struct strbuf lab = STRBUF_INIT;

    if (!h->known)
        return;
    metrics_declare(m, "health_score", METRIC_GAUGE,
                    "Host health score 0-100 of the newest health check (deductions in /health).");
    metrics_set(m, "health_score", NULL, (double)h->score);
    for (size_t g = 0; g < ARRAY_SIZE(gauges); g++)
        metrics_declare(m, gauges[g].metric, METRIC_GAUGE, gauges[g].help);
    metrics_declare(m, "host_disk_used_percent", METRIC_GAUGE,
                    "Used space of the file system of each directory candlekeep writes.");
    for (size_t i = 0; i < h->nparts; i++) {
        const struct host_part *p = &h->parts[i];
        if (!p->known)
            continue;
        if (!strncmp(p->name, "disk:", 5)) {
            strbuf_reset(&lab);
            metrics_labels(&lab, "path", p->name + 5, NULL);
            metrics_set(m, "host_disk_used_percent", lab.buf, p->value);
            continue;
        }
        for (size_t g = 0; g < ARRAY_SIZE(gauges); g++)
            if (!strcmp(p->name, gauges[g].part))
                metrics_set(m, gauges[g].metric, NULL, p->value);
    }
    if (h->forecast) {
        metrics_declare(m, "host_disk_full_forecast_hours", METRIC_GAUGE,
                        "Hours until the disk fills at the rate of the last samples.");
        strbuf_reset(&lab);
        metrics_labels(&lab, "path", h->forecast_path, NULL);
        metrics_set(m, "host_disk_full_forecast_hours", lab.buf, h->forecast_hours);
    }
    strbuf_release(&lab);
}

/* Ages of the series with a candle. */
static void add_series_metrics(const struct health_report *r, struct metrics *m)
{
    struct strbuf lab = STRBUF_INIT;

    metrics_declare(m, "latest_candle_age_seconds", METRIC_GAUGE,
                    "Seconds since the newest stored candle of each series closed.");
    for (size_t i = 0; i < r->nseries; i++) {
        const struct health_series *se = &r->series[i];
        if (!se->has_latest)
            continue;
        series_labels(&lab, se->source, se->symbol, se->tf);
        metrics_set(m, "latest_candle_age_seconds", lab.buf, (double)se->age);
    }
    strbuf_release(&lab);
}

static void declare_provider_metrics(struct metrics *m)
{
    metrics_declare(m, "circuit_state", METRIC_GAUGE,
                    "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.");
    metrics_declare(m, "circuit_next_probe_seconds", METRIC_GAUGE,
                    "Seconds until an open circuit lets a probe through.");
    metrics_declare(m, "provider_credits_used", METRIC_GAUGE,
                    "Requests counted against the rate budget, per window (minute, day).");
    metrics_declare(m, "provider_credits_left", METRIC_GAUGE,
                    "Requests left in the rate budget, per window (minute, day).");
    metrics_declare(m, "provider_ban_seconds", METRIC_GAUGE,
                    "Seconds left of a wait the provider imposed (0: none).");
    metrics_declare(m, "series_failure_streak", METRIC_GAUGE,
                    "Consecutive failed fetches of a series.");
    metrics_declare(m, "series_skipped", METRIC_GAUGE,
                    "1 while a series is skipped for its failure streak.");
    metrics_declare(m, "series_deferred", METRIC_GAUGE,
                    "1 while a series waits for the rate budget.");
}

static void credits(struct metrics *m, struct strbuf *lab, const char *source, const char *window,
                    int64_t used, int64_t limit)
{
    strbuf_reset(lab);
    metrics_labels(lab, "source", source, "window", window, NULL);
    metrics_set(m, "provider_credits_used", lab->buf, (double)used);
    if (limit > 0)
        metrics_set(m, "provider_credits_left", lab->buf,
                    (double)(used < limit ? limit - used : 0));
}

/* The providers' families; without the database (`r` unreachable), the circuit breakers only. */
static void add_provider_metrics(const struct health_report *r, struct metrics *m)
{
    struct strbuf lab = STRBUF_INIT;
    int64_t now_ms = r->now_ms;

    declare_provider_metrics(m);
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct health_provider *p = &r->providers[i];
        const char *name = p->source;
        strbuf_reset(&lab);
        metrics_labels(&lab, "source", name, NULL);
        if (p->circuit_known) {
            int64_t wait = p->circuit.next_probe_ms - now_ms;
            metrics_set(m, "circuit_state", lab.buf, (double)p->circuit.state);
            metrics_set(m, "circuit_next_probe_seconds", lab.buf,
                        p->circuit.state == BREAKER_OPEN && wait > 0 ? (double)wait / 1000.0 : 0);
        }
        if (!p->has_budget)
            continue;
        metrics_set(m, "provider_ban_seconds", lab.buf,
                    p->rate.banned_until_ms > now_ms
                        ? (double)(p->rate.banned_until_ms - now_ms) / 1000.0
                        : 0);
        credits(m, &lab, name, "minute", p->rate.window_used, p->budget.per_window);
        credits(m, &lab, name, "day", p->rate.day_used, p->budget.per_day);
        for (size_t j = 0; j < p->nseries; j++) {
            const struct series_state *ss = p->series[j];
            series_labels(&lab, name, ss->symbol, ss->tf);
            metrics_set(m, "series_failure_streak", lab.buf, (double)ss->streak);
            metrics_set(m, "series_skipped", lab.buf, health_series_skipped(p, ss) ? 1 : 0);
            metrics_set(m, "series_deferred", lab.buf, ss->deferred_since ? 1 : 0);
        }
    }
    strbuf_release(&lab);
}

static int64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int64_t n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void add_process_metrics(struct metrics *m, int64_t started_ms)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned long vsize = 0, rss = 0;
    struct timespec cpu;
    struct rlimit rl;
    FILE *fp;
    int64_t fds;

    metrics_declare(m, "process_start_time_seconds", METRIC_GAUGE,
                    "Start time of the process since the Unix epoch in seconds.");
    metrics_set(m, "process_start_time_seconds", NULL, (double)started_ms / 1000.0);
    metrics_declare(m, "process_cpu_seconds_total", METRIC_COUNTER,
                    "Total user and system CPU time spent in seconds.");
    if (!clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu))
        metrics_add(m, "process_cpu_seconds_total", NULL,
                    (double)cpu.tv_sec + (double)cpu.tv_nsec / 1e9);
    fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%lu %lu", &vsize, &rss) == 2) {
            metrics_declare(m, "process_resident_memory_bytes", METRIC_GAUGE,
                            "Resident memory size in bytes.");
            metrics_set(m, "process_resident_memory_bytes", NULL, (double)rss * (double)page);
            metrics_declare(m, "process_virtual_memory_bytes", METRIC_GAUGE,
                            "Virtual memory size in bytes.");
            metrics_set(m, "process_virtual_memory_bytes", NULL, (double)vsize * (double)page);
        }
        fclose(fp);
    }
    fds = open_fds();
    if (fds >= 0) {
        metrics_declare(m, "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
        metrics_set(m, "process_open_fds", NULL, (double)fds);
    }
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
        metrics_declare(m, "process_max_fds", METRIC_GAUGE,
                        "Maximum number of open file descriptors.");
        metrics_set(m, "process_max_fds", NULL, (double)rl.rlim_cur);
    }
}

void api_metrics_get(struct api_request *req)
{
    struct api *a = req->api;
    struct strbuf out = STRBUF_INIT, err = STRBUF_INIT, lab = STRBUF_INIT;
    struct metrics *scrape = metrics_new();
    struct store *st = api_store(req, &err);
    bool db_up = st && store_ping(st);
    size_t len;

    metrics_declare(scrape, "candlekeep_up", METRIC_GAUGE, "1 while candlekeep serves metrics.");
    metrics_set(scrape, "candlekeep_up", NULL, 1);
    metrics_declare(scrape, "candlekeep_build_info", METRIC_GAUGE,
                    "Build information; the value is always 1.");
    metrics_labels(&lab, "version", CK_VERSION, NULL);
    metrics_set(scrape, "candlekeep_build_info", lab.buf, 1);
    metrics_declare(scrape, "database_up", METRIC_GAUGE,
                    "1 when the database answered this scrape, 0 otherwise.");
    metrics_set(scrape, "database_up", NULL, db_up);
    struct health_report r;
    strbuf_reset(&err);
    api_health_collect(req, db_up ? st : NULL, NULL, &r, &err);
    if (db_up) {
        add_series_metrics(&r, scrape);
        add_host_metrics(&r, scrape);
    }
    add_provider_metrics(&r, scrape);
    health_report_release(&r);
    if (!db_up && st)
        api_store_reset(req);
    add_process_metrics(scrape, a->started_ms);

    strbuf_grow(&out, 8192);
    metrics_render(a->metrics, &out);
    metrics_render(scrape, &out);
    metrics_free(scrape);
    char *body = strbuf_detach(&out, &len);
    api_reply_text(req, MHD_HTTP_OK, body, len, CONTENT_TYPE);
    strbuf_release(&lab);
    strbuf_release(&err);
}
