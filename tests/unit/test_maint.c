/* SPDX-License-Identifier: MIT */
/*
 * The maintenance tasks (maint/, jobs/maintenance.c) on a real store
 * (SQLite here, PostgreSQL as pg.test_maint): their rows in the job table
 * with kind and schedules from [maintenance], data_cleanup's history and
 * stale temporary files, log_rotation's report, and the shared job body's
 * record of a result.
 */
#include "testutil.h"

#include "ck/settings.h"
#include "jobs/maintenance.h"
#include "jobs/table.h"
#include "maint/maint.h"
#include "store/store.h"
#include "util/config.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "util/banned.h"

static char *write_file(const char *suffix, const char *text)
{
    char *path = test_tmpfile(suffix);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void set_mtime(const char *path, time_t t)
{
    struct utimbuf ub = {.actime = t, .modtime = t};
    assert_int_equal(utime(path, &ub), 0);
}

static void test_table_rows_and_schedules(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    struct job_table t;
    const struct job_entry *e;
    char *path = write_file(".ini", "[maintenance]\n"
                                    "data_cleanup = 15 3 * * *\n"
                                    "task_timeout = 10m\n");
    (void)state;

    assert_int_equal(settings_load(&s, path, &rep), 0);
    job_table_build(&s, NULL, &t);
    e = job_table_find(&t, MAINT_DATA_CLEANUP);
    assert_non_null(e);
    assert_string_equal(e->cron, "15 3 * * *");
    assert_int_equal(e->timeout, 600);
    assert_true(job_entry_is(e, JOB_KIND_MAINTENANCE));
    e = job_table_find(&t, MAINT_LOG_ROTATION);
    assert_non_null(e);
    assert_string_equal(e->cron, "30 2 * * *");
    assert_true(job_entry_is(e, JOB_KIND_MAINTENANCE));
    /* The other jobs are of no kind. */
    e = job_table_find(&t, "retention");
    assert_non_null(e);
    assert_false(job_entry_is(e, JOB_KIND_MAINTENANCE));
    assert_true(job_entry_is(e, NULL));
    job_table_release(&t);
    settings_release(&s);
    config_report_release(&rep);
    free(path);

    /* A bad schedule is reported where it stands. */
    path = write_file(".ini", "[maintenance]\nhealth_check = every day\n");
    assert_int_not_equal(settings_load(&s, path, &rep), 0);
    assert_non_null(strstr(rep.text.buf, ":2: key 'health_check'"));
    settings_release(&s);
    config_report_release(&rep);
    free(path);
}

static void test_task_timeout_from_env(void **state)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    (void)state;

    setenv("TASK_TIMEOUT_MINUTES", "7", 1);
    setenv("MAX_CONCURRENT_TASKS", "3", 1);
    assert_int_equal(settings_load(&s, NULL, &rep), 0);
    assert_int_equal(s.maintenance.task_timeout, 420);
    assert_int_equal(s.scheduler.workers, 3);
    settings_release(&s);
    config_report_release(&rep);
    unsetenv("TASK_TIMEOUT_MINUTES");
    unsetenv("MAX_CONCURRENT_TASKS");
}

/* A finished run of `job` that started at `started_ms`. */
static void add_run(struct store_fixture *f, const char *job, int64_t started_ms)
{
    struct job_run r = {
        .job_id = (char *)job,
        .instance = (char *)"test",
        .scheduled = started_ms / 1000,
        .started = started_ms,
        .finished = started_ms + 10,
        .status = JOB_SKIPPED,
        .message = (char *)"",
        .details = (char *)"{}",
    };
    assert_int_equal(store_job_run_insert(f->st, &r, &f->err), 0);
}

static int64_t count_runs(struct store_fixture *f, const char *job)
{
    struct job_run *v;
    size_t n;
    assert_int_equal(store_job_runs_list(f->st, job, 0, &v, &n, &f->err), 0);
    job_runs_free(v, n);
    return (int64_t)n;
}

static void test_cleanup_history_and_tmp_files(void **state)
{
    struct store_fixture *f = *state;
    char *job = store_fixture_name(f, "cleanup");
    int64_t now = (int64_t)time(NULL);
    struct maint_result res;
    char dir[200], sub[256], path[300], link[300];
    (void)state;

    add_run(f, job, (now - 40 * 86400) * 1000);
    add_run(f, job, (now - 3600) * 1000);

    snprintf(dir, sizeof(dir), "%s/cleanup", test_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Stale: an old *.tmp. Kept: a fresh *.tmp, an old file of another name, a subfolder's. */
    snprintf(path, sizeof(path), "%s/export.csv.tmp", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("0123456789", fp);
    fclose(fp);
    set_mtime(path, (time_t)(now - 2 * 86400));
    snprintf(path, sizeof(path), "%s/fresh.tmp", dir);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof(path), "%s/candlekeep.db", dir);
    fclose(fopen(path, "w"));
    set_mtime(path, (time_t)(now - 2 * 86400));
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/deep.tmp", sub);
    fclose(fopen(path, "w"));
    set_mtime(path, (time_t)(now - 2 * 86400));
    /* A link named *.tmp is not followed nor deleted. */
    snprintf(link, sizeof(link), "%s/link.tmp", dir);
    assert_int_equal(symlink(path, link), 0);

    const char *dirs[] = {dir, "/nonexistent/candlekeep"};
    struct maint_cleanup c = {
        .history_keep = 30 * 86400, .tmp_max_age = 86400, .dirs = dirs, .ndirs = 2};
    maint_result_init(&res);
    assert_int_equal(maint_cleanup_run(f->st, &c, now, &res, &f->err), 0);
    assert_int_equal(count_runs(f, job), 1);
    assert_true(json_integer_value(json_object_get(res.details, "job_runs_deleted")) >= 1);
    assert_int_equal(json_integer_value(json_object_get(res.details, "tmp_files_deleted")), 1);
    assert_int_equal(json_integer_value(json_object_get(res.details, "bytes_freed")), 10);
    /* The unreadable directory is reported, not fatal. */
    json_t *errors = json_object_get(res.details, "errors");
    assert_int_equal(json_array_size(errors), 1);
    assert_non_null(
        strstr(json_string_value(json_array_get(errors, 0)), "/nonexistent/candlekeep"));
    assert_non_null(strstr(res.message.buf, "1 stale temporary files (10 bytes)"));
    maint_result_release(&res);

    snprintf(path, sizeof(path), "%s/export.csv.tmp", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/fresh.tmp", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/candlekeep.db", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/deep.tmp", sub);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(access(link, F_OK), 0);
    free(job);
}

static void test_log_rotation_task(void **state)
{
    struct strbuf err = STRBUF_INIT;
    struct maint_result res;
    char *path = test_tmpfile(".log");
    char **files;
    (void)state;

    /* No log file: nothing to do, and it says so. */
    maint_result_init(&res);
    assert_int_equal(maint_log_rotation_run("", &res, &err), 0);
    assert_non_null(strstr(res.message.buf, "nothing to rotate"));
    maint_result_release(&res);

    log_set_rotation(&(struct log_rotation){.max_size = 0, .keep = 2, .compress = true});
    assert_int_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, path, &err), 0);
    for (int round = 0; round < 3; round++) {
        log_info("round %d", round);
        maint_result_init(&res);
        assert_int_equal(maint_log_rotation_run(path, &res, &err), 0);
        assert_non_null(json_string_value(json_object_get(res.details, "rotated")));
        assert_int_equal(json_integer_value(json_object_get(res.details, "files")),
                         round < 2 ? round + 1 : 2);
        maint_result_release(&res);
    }
    /* An empty file is not rotated. */
    maint_result_init(&res);
    assert_int_equal(maint_log_rotation_run(path, &res, &err), 0);
    assert_true(json_is_null(json_object_get(res.details, "rotated")));
    maint_result_release(&res);
    log_shutdown();

    assert_int_equal(log_rotations(path, &files), 2);
    for (int i = 0; i < 2; i++)
        assert_non_null(strstr(files[i], ".gz"));
    log_rotations_free(files);
    free(path);
    strbuf_release(&err);
}

/* Fill the store with job runs (pages to check, free and corrupt). */
static void add_runs(struct store *st, const char *job, int n, struct strbuf *err)
{
    char msg[600];
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    assert_int_equal(store_begin(st, err), 0);
    for (int i = 0; i < n; i++) {
        struct job_run r = {
            .job_id = (char *)job,
            .instance = (char *)"test",
            .scheduled = 1000 + i,
            .started = 1000000 + i,
            .finished = 1000001 + i,
            .status = JOB_SKIPPED,
            .message = msg,
            .details = (char *)"{}",
        };
        assert_int_equal(store_job_run_insert(st, &r, err), 0);
    }
    assert_int_equal(store_commit(st, err), 0);
}

static bool has_alert(const struct maint_result *r, const char *key, bool firing)
{
    for (size_t i = 0; i < r->nalerts; i++)
        if (!strcmp(r->alerts[i].key, key) && r->alerts[i].firing == firing)
            return true;
    return false;
}

static void test_db_tasks(void **state)
{
    struct store_fixture *f = *state;
    struct maint_result res;
    bool sqlite = !strcmp(store_backend_name(f->st), "sqlite");
    char *job = store_fixture_name(f, "dbtask");

    add_runs(f->st, job, 50, &f->err);
    maint_result_init(&res);
    assert_int_equal(maint_db_run(f->st, &(struct maint_db){.full = false}, &res, &f->err), 0);
    assert_false(res.failed);
    assert_string_equal(json_string_value(json_object_get(res.details, "check")), "quick_check");
    assert_string_equal(json_string_value(json_object_get(res.details, "integrity")),
                        sqlite ? "ok" : "not checked");
    /* A good check clears the alert (a no-op when it never fired). */
    assert_true(has_alert(&res, MAINT_ALERT_DB_INTEGRITY, false) == sqlite);
    assert_null(json_object_get(res.details, "analyzed"));
    maint_result_release(&res);

    maint_result_init(&res);
    assert_int_equal(maint_db_run(f->st,
                                  &(struct maint_db){.full = true, .vacuum_min_free = 1LL << 40},
                                  &res, &f->err),
                     0);
    assert_string_equal(json_string_value(json_object_get(res.details, "check")),
                        "integrity_check");
    assert_true(json_is_true(json_object_get(res.details, "analyzed")));
    assert_false(json_is_true(json_object_get(res.details, "vacuumed")));
    assert_true(json_integer_value(json_object_get(res.details, "size_before")) > 0);
    if (sqlite) {
        assert_true(json_is_true(json_object_get(res.details, "checkpointed")));
        assert_non_null(
            strstr(json_string_value(json_object_get(res.details, "vacuum")), "not needed"));
    } else {
        /* candlekeep's tables, each with its figures. */
        json_t *tables = json_object_get(res.details, "tables"), *t;
        size_t i;
        bool seen = false;
        json_array_foreach(tables, i, t) seen |=
            !strcmp(json_string_value(json_object_get(t, "name")), "job_runs") &&
            json_integer_value(json_object_get(t, "table_bytes")) > 0;
        assert_true(seen);
    }
    maint_result_release(&res);
    free(job);
}

/* Overwrite `len` bytes of `path` at `off` with garbage. */
static void scribble(const char *path, long off, size_t len)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, off, SEEK_SET), 0);
    for (size_t i = 0; i < len; i++)
        fputc((int)((i * 7919 + 13) & 0xff), fp);
    fclose(fp);
}

static void test_db_corrupt_copy_and_vacuum(void **state)
{
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT;
    char *path = test_tmpfile(".db"), *copy = test_tmpfile(".db");
    struct maint_result res;
    struct store *st;
    struct stat sb;
    int64_t deleted;
    (void)state;

    /* SQLite only: it is the file that is damaged here. */
    strbuf_addf(&url, "sqlite:%s", path);
    assert_int_equal(store_open(&st, url.buf, &err), 0);
    add_runs(st, "big", 3000, &err);
    /* Deleted rows leave free pages: VACUUM gives them back when asked to. */
    assert_int_equal(store_job_runs_prune(st, 1000000 + 2500, &deleted, &err), 0);
    assert_int_equal(deleted, 2500);
    maint_result_init(&res);
    assert_int_equal(
        maint_db_run(st, &(struct maint_db){.full = true, .vacuum_min_free = 0}, &res, &err), 0);
    assert_true(json_is_true(json_object_get(res.details, "vacuumed")));
    assert_true(json_integer_value(json_object_get(res.details, "bytes_freed")) > 1000000);
    maint_result_release(&res);
    add_runs(st, "big2", 2000, &err);
    store_close(st);

    /* A copy with a page in the middle overwritten. */
    struct strbuf cmd = STRBUF_INIT;
    strbuf_addf(&cmd, "cp '%s' '%s'", path, copy);
    assert_int_equal(system(cmd.buf), 0);
    assert_int_equal(stat(copy, &sb), 0);
    scribble(copy, (long)(sb.st_size / 2 / 4096) * 4096, 4096);
    strbuf_reset(&url);
    strbuf_addf(&url, "sqlite:%s", copy);
    assert_int_equal(store_open(&st, url.buf, &err), 0);
    maint_result_init(&res);
    assert_int_equal(maint_db_run(st, &(struct maint_db){.full = false}, &res, &err), 0);
    assert_true(res.failed);
    assert_string_equal(json_string_value(json_object_get(res.details, "integrity")), "failed");
    assert_true(has_alert(&res, MAINT_ALERT_DB_INTEGRITY, true));
    assert_int_equal(res.alerts[0].severity, NOTIFY_CRITICAL);
    assert_non_null(strstr(res.message.buf, "the database failed its quick_check"));
    /* No upkeep on a damaged database. */
    maint_result_release(&res);
    maint_result_init(&res);
    assert_int_equal(maint_db_run(st, &(struct maint_db){.full = true}, &res, &err), 0);
    assert_true(res.failed);
    assert_null(json_object_get(res.details, "analyzed"));
    maint_result_release(&res);
    store_close(st);

    /* The original is fine. */
    strbuf_reset(&url);
    strbuf_addf(&url, "sqlite:%s", path);
    assert_int_equal(store_open(&st, url.buf, &err), 0);
    maint_result_init(&res);
    assert_int_equal(maint_db_run(st, &(struct maint_db){.full = true}, &res, &err), 0);
    assert_false(res.failed);
    maint_result_release(&res);
    store_close(st);
    strbuf_release(&cmd);
    strbuf_release(&url);
    strbuf_release(&err);
    free(path);
    free(copy);
}

/*
 * The audit flags a log line that the redactor would change; a line the
 * logger wrote is already redacted, and must not be flagged: redacting is
 * idempotent on every shape.
 */
static void test_redacted_lines_are_not_findings(void **state)
{
    static const char *const lines[] = {
        "GET /time_series?symbol=XAU&apikey=abcdef123456 failed",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y",
        "POST "
        "https://api.telegram.org/bot123456789:AAHsecretsecretsecretsecretsecret12/sendMessage",
        "store: cannot open 'postgresql://ck:pa55word@db:5432/ck'",
        "{\"password\": \"hunter2hunter2\"}",
        "token: abcdefabcdef",
    };
    struct strbuf once = STRBUF_INIT, twice = STRBUF_INIT;
    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
        strbuf_reset(&once);
        strbuf_addstr(&once, lines[i]);
        redact_message(&once);
        assert_string_not_equal(once.buf, lines[i]);
        strbuf_reset(&twice);
        strbuf_addbuf(&twice, &once);
        redact_message(&twice);
        if (strcmp(once.buf, twice.buf))
            fail_msg("'%s' then '%s'", once.buf, twice.buf);
    }
    strbuf_release(&once);
    strbuf_release(&twice);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_rows_and_schedules),
        cmocka_unit_test(test_task_timeout_from_env),
        cmocka_unit_test(test_cleanup_history_and_tmp_files),
        cmocka_unit_test(test_log_rotation_task),
        cmocka_unit_test(test_db_tasks),
        cmocka_unit_test(test_db_corrupt_copy_and_vacuum),
        cmocka_unit_test(test_redacted_lines_are_not_findings),
    };
    if (chdir(test_tmpdir()))
        return 1;
    return cmocka_run_group_tests(tests, store_fixture_setup, store_fixture_teardown);
}
