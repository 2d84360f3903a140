/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_OUTCOMES_H
#define CK_JOBS_OUTCOMES_H

#include <stddef.h>
#include <stdint.h>

struct job_ctx;
struct outcome;
struct settings;
struct signal;
struct store;
struct strbuf;

/*
 * The detect_outcomes job: every active signal is checked against the
 * stored candles of its series (market/outcome.h has the rules; the lower
 * timeframes stored for the same source and symbol settle candles that
 * touched both levels), and each one decided gets its outcome recorded
 * and its status set (won, lost, expired) in one transaction, together
 * with the notice to the operators when [signals] notify_outcomes is on.
 * An outcome that another instance recorded first (the signal is no
 * longer active) is left to it.
 */

/*
 * Told of an outcome inside the transaction that records it, on the same
 * store connection, so that the outcome and its notice are written
 * together or not at all. 0, or a CK_E* (the outcome is then not recorded
 * either, and the next run tries again).
 */
typedef int outcomes_notify_fn(void *arg, struct store *st, const struct signal *s,
                               const struct outcome *o, int64_t now_ms, struct strbuf *err);

struct outcomes_job {
    const struct settings *settings;
    outcomes_notify_fn *notify; /* NULL: nobody is told */
    void *notify_arg;
};

/* What a run did. `lost` includes the `ambiguous` ones. */
struct outcomes_stats {
    size_t checked;
    size_t won, lost, expired, ambiguous;
    size_t conflicts; /* decided by another instance first */
    size_t failed;    /* signals that could not be resolved (named in `failures`) */
};

/*
 * One pass over the active signals at `now_ms`. Signals that cannot be
 * resolved are counted, named in `failures` ("sig_...: reason; ...") and
 * skipped; a failing database stops the pass with its error. `*out` is
 * filled either way.
 */
int outcomes_detect(struct store *st, const struct outcomes_job *job, int64_t now_ms,
                    struct outcomes_stats *out, struct strbuf *failures, struct strbuf *err);

/* The job's details: {"checked":N,"won":N,"lost":N,"expired":N,"ambiguous":N,...}. */
void outcomes_details_json(const struct outcomes_stats *st, struct strbuf *out);

/*
 * The operators' notice of outcome `o` of signal `s`: a one-line title
 * ("Signal won: XAU/USD H1 long") and details (levels, the deciding
 * candle, ambiguity, times), appended to `title` and `details`.
 */
void outcomes_notice_text(const struct signal *s, const struct outcome *o, struct strbuf *title,
                          struct strbuf *details);

/*
 * An outcomes_notify_fn that queues the notice to every operator channel
 * with alert_notice() (kind "outcome", severity info), in the transaction
 * of the outcome; `arg` is the struct alert_manager. Whoever builds the
 * daemon's alert manager sets it as the job's notify.
 */
int outcomes_notify_alert(void *arg, struct store *st, const struct signal *s,
                          const struct outcome *o, int64_t now_ms, struct strbuf *err);

/* The job (sched.h job_fn); `arg` is a struct outcomes_job. */
int outcomes_job_run(struct job_ctx *ctx, void *arg);

#define OUTCOMES_JOB_ID "detect_outcomes"

#endif
