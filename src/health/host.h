/* SPDX-License-Identifier: MIT */
#ifndef CK_HEALTH_HOST_H
#define CK_HEALTH_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct strbuf;

/*
 * Host health: the machine candlekeep runs on, as the health_check task
 * (maint/hostcheck.c) reads it every five minutes and as /health, status
 * and /metrics show its newest result.
 *
 * Components, each a percentage: "cpu" (busy time between two readings of
 * /proc/stat, so an average over the window between them, never one
 * instant), "memory" (1 - MemAvailable / MemTotal), "load" (the 1-minute
 * load per CPU), "open_files" (this process's descriptors against its
 * limit), and "disk:<dir>" for each directory candlekeep writes (used
 * space of its file system as df counts it, from statvfs f_bavail). A
 * value that could not be read is unknown, never 0.
 *
 * Levels: a value at or over a threshold (warn, high, critical: 80, 85, 90
 * by default) is at that level; once there, it stays until the value
 * falls HOST_HYSTERESIS points below the threshold (hysteresis), so a
 * value hovering around 80 does not flap.
 *
 * The score (0-100) starts at 100; each component takes points off
 * (unknown 5, warn 10, high 25, critical 50) and the worst caps it
 * (unknown 95, warn 85, high 60, critical 25), as does a disk-full
 * forecast (the fill rate of the last hours' samples: full within
 * forecast_warn 15 points, cap 70; within forecast_critical 40, cap 40).
 * Every deduction is listed with its reason.
 *
 * The result is the health_check run's details in the job history (the
 * samples, kept as long as the history), whose shape host_assess_json()
 * writes and host_summary_parse() reads back.
 */

/* The job that checks the host (the one job table registers it; maint/maint.h). */
#define HOST_CHECK_JOB "health_check"

/* Points under a threshold at which a level clears. */
#define HOST_HYSTERESIS 10.0

enum host_level {
    HOST_UNKNOWN,
    HOST_OK,
    HOST_WARN,
    HOST_HIGH,
    HOST_CRITICAL,
};
const char *host_level_name(enum host_level l);
int host_level_parse(const char *name, enum host_level *out);

/* warn < high < critical, in percent. */
struct host_thresholds {
    double warn, high, critical;
};
/* "80 85 90" (spaces or commas): three ascending percentages 1-1000 (load may pass 100). 0 or
 * CK_EINVAL. */
int host_thresholds_parse(const char *s, struct host_thresholds *out, struct strbuf *why);

struct host_config {
    struct host_thresholds cpu, memory, disk, load, files;
    int64_t forecast_window;   /* seconds of samples the fill rate is taken over */
    int64_t forecast_warn;     /* seconds: full within this is a warning */
    int64_t forecast_critical; /* seconds: full within this is critical */
};

/* Where readings come from: the machine (host_probe_real()) or a test's files. */
struct host_probe_ops {
    /* The text of `name` under the proc root ("stat", "meminfo", "loadavg", "self/limits"). */
    int (*read_file)(void *arg, const char *name, struct strbuf *out);
    /* Entries of the proc root's self/fd. */
    int (*count_fds)(void *arg, int64_t *out);
    /* The file system of `path`: bytes in all, free for anyone, free for the unprivileged. */
    int (*statvfs)(void *arg, const char *path, int64_t *total, int64_t *free, int64_t *avail);
};
struct host_probe {
    const struct host_probe_ops *ops;
    void *arg;
};
/* The machine, with procfs at `proc_root` (borrowed; "/proc" normally). */
void host_probe_real(struct host_probe *out, const char *proc_root);

struct host_disk {
    char *path;
    bool known;
    int64_t total, free, avail; /* bytes */
};

struct host_reading {
    bool cpu_known;
    int64_t cpu_total, cpu_idle; /* jiffies since boot, all CPUs */
    int ncpu;
    bool mem_known;
    int64_t mem_total, mem_available; /* bytes */
    bool load_known;
    double load1;
    bool files_known;
    int64_t files_open, files_limit;
    struct host_disk *disks;
    size_t ndisks;
};
/* Read everything, each part on its own (a part that fails is unknown). `dirs` borrowed. */
void host_read(const struct host_probe *p, const char *const *dirs, size_t ndirs,
               struct host_reading *out);
void host_reading_release(struct host_reading *r);

/*
 * The previous results the assessment builds on: the details of the
 * newest health_check runs (JSON text), newest first, with their times
 * (Unix s). Borrowed.
 */
struct host_history {
    const char *const *details;
    const int64_t *at;
    size_t n;
};

/*
 * Assess reading `r` taken at `now`, the CPU busy share measured against
 * `prev_cpu` (a reading taken before; NULL: the counters of the newest run
 * in `hist`), and write the result as the run's details into `into` (a
 * JSON object): "score", "components" [{name, value|null, level}],
 * "deductions" [{component, points, reason}], "disks" [{path, total,
 * avail, used_bytes}], "forecast" {path, hours, level} or null, "cpu"
 * {total, idle}. Returns the score.
 */
int host_assess(const struct host_config *cfg, const struct host_reading *r,
                const struct host_reading *prev_cpu, const struct host_history *hist, int64_t now,
                struct json_t *into);

/* What /health, status and /metrics show of the newest assessment. */
struct host_part {
    char *name; /* "cpu", "memory", "load", "open_files", "disk:<dir>" */
    bool known;
    double value; /* percent */
    enum host_level level;
};
struct host_summary {
    bool known; /* a health_check run has left an assessment */
    int64_t at; /* when, Unix s */
    int score;
    struct host_part *parts;
    size_t nparts;
    bool forecast; /* a disk is forecast to fill */
    double forecast_hours;
    char *forecast_path;
};
/* Read the details of a health_check run taken at `at`; false when they hold no assessment. */
bool host_summary_parse(const char *details, int64_t at, struct host_summary *out);
void host_summary_release(struct host_summary *s);

#endif
