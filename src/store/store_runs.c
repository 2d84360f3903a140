/* SPDX-License-Identifier: MIT */
/*
 * Job run statements written once for both backends (generic statements,
 * store_sql.c), beside the backends' own: marking the runs that a dead
 * process left running, those of one job, of one instance or of every
 * other instance.
 */
#include "store/store_internal.h"

#include "util/error.h"
#include "util/strbuf.h"

#include "util/banned.h"

int store_job_runs_fail_stale_job(struct store *st, const char *job_id, int64_t started_before_ms,
                                  const char *message, int64_t now_ms, int64_t *count,
                                  struct strbuf *err)
{
    static const struct sql_stmt fail = {
        .sqlite =
            "UPDATE job_runs SET status = 'failed', message = $3, finished = max(started, $4) "
            "WHERE job_id = $1 AND status = 'running' AND started < $2",
        .pg = "UPDATE job_runs SET status = 'failed', message = $3, finished = greatest(started, "
              "$4) WHERE job_id = $1 AND status = 'running' AND started < $2",
    };
    struct sqlv p[] = {SQLV_S(job_id), SQLV_MS(started_before_ms), SQLV_S(message ? message : ""),
                       SQLV_MS(now_ms)};
    int64_t n = 0;
    int rc;

    if (!job_id || !*job_id) {
        strbuf_addstr(err, "store: which job's stale runs?");
        return CK_EINVAL;
    }
    rc = store_sql(st, &fail, p, sizeof(p) / sizeof(p[0]), NULL, &n, "mark stale job runs", err);
    if (count)
        *count = rc ? 0 : n;
    return rc;
}

int store_job_runs_fail_others(struct store *st, const char *instance, const char *spare_prefix,
                               const char *message, int64_t now_ms, int64_t *count,
                               struct strbuf *err)
{
    /* substr() rather than LIKE: an instance id may hold '%' or '_'. */
    static const struct sql_stmt fail = {
        .sqlite =
            "UPDATE job_runs SET status = 'failed', message = $3, finished = max(started, $4) "
            "WHERE status = 'running' AND instance <> $1 "
            "AND ($2 = '' OR substr(instance, 1, length($2)) <> $2)",
        .pg = "UPDATE job_runs SET status = 'failed', message = $3, finished = greatest(started, "
              "$4) WHERE status = 'running' AND instance <> $1 "
              "AND ($2 = '' OR substr(instance, 1, length($2)) <> $2)",
    };
    struct sqlv p[] = {SQLV_S(instance), SQLV_S(spare_prefix ? spare_prefix : ""),
                       SQLV_S(message ? message : ""), SQLV_MS(now_ms)};
    int64_t n = 0;
    int rc;

    if (!instance || !*instance) {
        strbuf_addstr(err, "store: whose runs are spared?");
        return CK_EINVAL;
    }
    rc = store_sql(st, &fail, p, sizeof(p) / sizeof(p[0]), NULL, &n, "mark runs of dead processes",
                   err);
    if (count)
        *count = rc ? 0 : n;
    return rc;
}

int store_job_runs_fail_instance(struct store *st, const char *instance, const char *message,
                                 int64_t now_ms, int64_t *count, struct strbuf *err)
{
    static const struct sql_stmt fail = {
        .sqlite =
            "UPDATE job_runs SET status = 'failed', message = $2, finished = max(started, $3) "
            "WHERE status = 'running' AND instance = $1",
        .pg = "UPDATE job_runs SET status = 'failed', message = $2, finished = greatest(started, "
              "$3) WHERE status = 'running' AND instance = $1",
    };
    struct sqlv p[] = {SQLV_S(instance), SQLV_S(message ? message : ""), SQLV_MS(now_ms)};
    int64_t n = 0;
    int rc;

    if (!instance || !*instance) {
        strbuf_addstr(err, "store: whose runs?");
        return CK_EINVAL;
    }
    rc = store_sql(st, &fail, p, sizeof(p) / sizeof(p[0]), NULL, &n,
                   "mark the runs of a dead daemon", err);
    if (count)
        *count = rc ? 0 : n;
    return rc;
}
