/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_METRICS_H
#define CK_UTIL_METRICS_H

#include <stddef.h>

struct strbuf;

/*
 * Process metrics in the Prometheus text exposition format (version
 * 0.0.4). A registry holds families (name, type, help) declared once and
 * series (a family plus a label set) created on first use. Every operation
 * is thread-safe. Only the daemon renders them (GET /metrics); everything
 * else only counts, through a `struct metrics *` passed in its context
 * (NULL is accepted everywhere and ignored, so code paths without a
 * registry, like the CLI, need no special cases).
 *
 * Labels are passed as a preformatted string of `name="value"` pairs
 * joined by commas (use metrics_labels() to build one with escaping), or
 * NULL/"" for none.
 */
enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_HISTOGRAM, /* seconds; fixed buckets .005 .. 300 */
};

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Declare a family; declaring one twice with the same type is harmless. */
void metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help);
/* Counter += v (v >= 0). */
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);
/* Gauge = v. */
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);
/* Histogram observation. */
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);
/* Current value of a counter or gauge series (0 if absent); for tests and /health. */
double metrics_get(struct metrics *m, const char *name, const char *labels);

/*
 * Build a label string: metrics_labels(&sb, "source", src, "symbol", sym,
 * NULL). Values are escaped (backslash, quote, newline); a NULL value is
 * "". Appends to `sb`, after a comma when `sb` is not empty. A label name
 * that is not [a-zA-Z_][a-zA-Z0-9_]* is a BUG().
 */
void metrics_labels(struct strbuf *sb, ...);

/* Render every family with # HELP and # TYPE lines, sorted by name. */
void metrics_render(struct metrics *m, struct strbuf *out);

#endif
