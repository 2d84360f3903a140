/* SPDX-License-Identifier: MIT */
#ifndef CK_JOBS_REPORTS_H
#define CK_JOBS_REPORTS_H

#include "report/report.h"

#include <stdint.h>

struct ck;
struct job_ctx;
struct settings;
struct store;
struct strbuf;

/*
 * The reports as candlekeep makes them (report/report.h holds the engine):
 * collected with the configured providers, the backup directory and the
 * refresh jobs of the job table, for `candlekeep report`, POST
 * /maintenance/reports/generate and the jobs daily_report ([report]
 * daily, 18:00 UTC) and weekly_report ([report] weekly, Sunday 06:00).
 */

/*
 * Collect the report of `type` for the period ending at `to` (Unix s)
 * from `st` with the settings `s`. 0, or the store's error. Release `out`
 * on success.
 */
int reports_collect(const struct settings *s, struct store *st, enum report_type type, int64_t to,
                    struct report *out, struct strbuf *err);

/*
 * Collect the report as reports_collect() does and write its files into
 * the report directory ([report] dir), pruning those past [report] keep
 * at `now`. 0, or the error of the step that failed; `out` is released on
 * failure.
 */
int reports_generate(const struct settings *s, struct store *st, enum report_type type, int64_t to,
                     int64_t now, struct report *out, struct strbuf *err);

/* What a report job is bound to. */
struct reports_job {
    struct ck *app;
    enum report_type type;
};

/*
 * The job_fn of daily_report and weekly_report (`arg` is a struct
 * reports_job): the report of the period ending at the fire time, written
 * to the report directory, then sent: on Telegram a summary message and
 * the HTML as a document, to the alert webhook the JSON. The run fails
 * when a channel refused (the files are written all the same).
 */
int reports_job_run(struct job_ctx *ctx, void *arg);

#endif
