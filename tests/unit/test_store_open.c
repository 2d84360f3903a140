/* SPDX-License-Identifier: MIT */
/*
 * Many connections opening one new database at the same moment, as the
 * daemon's workers and its housekeeping tick do on a first start, or two
 * commands started together on a new file. Every open configures the
 * connection and migrates the schema; each must succeed and leave the
 * schema at one version, however the opens interleave.
 *
 * The openers are threads that wait on a barrier and then call
 * store_open() together. With SQLite every round uses a brand-new file;
 * against PostgreSQL (the "pg" run, CK_TEST_STORE_URL) the first round
 * meets an empty database and the later ones an up-to-date one.
 *
 * Left alone, the openers of a round collide only now and then. The
 * collision that matters (another connection holds the write lock of the
 * new file while an opener switches it to WAL) is also made certain: the
 * test holds that lock itself, waits until SQLite has refused every opener
 * once, which it reports through its error log (SQLITE_CONFIG_LOG), and
 * only then lets go. No step waits for a fixed time.
 */
#include "testutil.h"

#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/sync.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define OPENERS 8
#define ROUNDS  20
/* How long the test waits for every opener to be refused once. */
#define REFUSED_DEADLINE_MS 4000

/*
 * Which openers SQLite has refused with SQLITE_BUSY (its error log names
 * no connection, so each opener thread says who it is in `opener_index`).
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool refused[OPENERS]; /* under lock */
} busy_log = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int opener_index = -1;

static void sqlite_log(void *arg, int code, const char *msg)
{
    (void)arg;
    (void)msg;
    if ((code & 0xff) != SQLITE_BUSY || opener_index < 0)
        return;
    pthread_mutex_lock(&busy_log.lock);
    busy_log.refused[opener_index] = true;
    pthread_cond_broadcast(&busy_log.cond);
    pthread_mutex_unlock(&busy_log.lock);
}

static void busy_log_reset(void)
{
    pthread_mutex_lock(&busy_log.lock);
    memset(busy_log.refused, 0, sizeof(busy_log.refused));
    pthread_mutex_unlock(&busy_log.lock);
}

/* Wait until every opener was refused once; false at the deadline. */
static bool busy_log_wait_all(void)
{
    struct timespec deadline = mono_deadline(REFUSED_DEADLINE_MS);
    bool all = false;

    pthread_mutex_lock(&busy_log.lock);
    for (;;) {
        all = true;
        for (int i = 0; i < OPENERS; i++)
            all = all && busy_log.refused[i];
        if (all || pthread_cond_timedwait(&busy_log.cond, &busy_log.lock, &deadline))
            break;
    }
    pthread_mutex_unlock(&busy_log.lock);
    return all;
}

struct opener {
    pthread_barrier_t *start;
    int index;
    const char *url;
    struct store *st;
    int rc;
    struct strbuf err;
};

static void *open_after_barrier(void *arg)
{
    struct opener *o = arg;

    opener_index = o->index;
    pthread_barrier_wait(o->start);
    o->rc = store_open(&o->st, o->url, &o->err);
    return NULL;
}

static void openers_start(struct opener *o, pthread_t *tid, pthread_barrier_t *start,
                          const char *url)
{
    assert_int_equal(pthread_barrier_init(start, NULL, OPENERS), 0);
    for (int i = 0; i < OPENERS; i++) {
        o[i] = (struct opener){.start = start, .index = i, .url = url};
        strbuf_init(&o[i].err, 0);
        assert_int_equal(pthread_create(&tid[i], NULL, open_after_barrier, &o[i]), 0);
    }
}

/* Join the openers; all must have opened the store at one schema version. */
static void openers_finish(struct opener *o, pthread_t *tid, pthread_barrier_t *start)
{
    int version[OPENERS];

    for (int i = 0; i < OPENERS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);
    pthread_barrier_destroy(start);
    for (int i = 0; i < OPENERS; i++) {
        if (o[i].rc)
            fail_msg("opener %d of %d: store_open returned %d (%s): %s", i + 1, OPENERS, o[i].rc,
                     ck_strerror(o[i].rc), o[i].err.buf);
        assert_int_equal(store_schema_version(o[i].st, &version[i], &o[i].err), 0);
        assert_true(version[i] > 0);
        assert_int_equal(version[i], version[0]);
    }
    for (int i = 0; i < OPENERS; i++) {
        store_close(o[i].st);
        strbuf_release(&o[i].err);
    }
}

/* The journal mode of SQLite file `path` as a fresh connection sees it; caller frees. */
static char *sqlite_journal_mode(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char *mode = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        mode = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_non_null(mode);
    return mode;
}

static void assert_wal(const char *path)
{
    char *mode = sqlite_journal_mode(path);
    assert_string_equal(mode, "wal");
    free(mode);
}

static bool url_is_sqlite(const char *url)
{
    return !strcmp(store_url_backend(url), "sqlite");
}

static void test_first_opens_together(void **state)
{
    char *url = test_store_url();
    bool sqlite = url_is_sqlite(url);

    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        struct opener o[OPENERS];
        pthread_t tid[OPENERS];
        pthread_barrier_t start;
        char *path = sqlite ? test_tmpfile(".db") : NULL;

        openers_start(o, tid, &start, sqlite ? path : url);
        openers_finish(o, tid, &start);
        if (sqlite)
            assert_wal(path);
        free(path);
    }
    free(url);
}

/*
 * The openers meet a new file whose write lock another connection holds,
 * as when one process is still switching the file to WAL or migrating it:
 * each is refused at once (the busy timeout does not apply to the switch)
 * and must keep trying until the lock is released.
 */
static void test_first_opens_meet_write_lock(void **state)
{
    char *url = test_store_url();
    struct opener o[OPENERS];
    pthread_t tid[OPENERS];
    pthread_barrier_t start;
    sqlite3 *holder;
    char *path;
    bool all_refused;

    (void)state;
    if (!url_is_sqlite(url)) {
        free(url);
        skip();
    }
    free(url);
    path = test_tmpfile(".db");
    assert_int_equal(sqlite3_open(path, &holder), SQLITE_OK);
    assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    busy_log_reset();
    openers_start(o, tid, &start, path);
    all_refused = busy_log_wait_all();
    assert_int_equal(sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(holder), SQLITE_OK);
    openers_finish(o, tid, &start);
    assert_true(all_refused);
    assert_wal(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_opens_together),
        cmocka_unit_test(test_first_opens_meet_write_lock),
    };

    /* Before any other use of SQLite: the log can only be set up then. */
    if (sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL) != SQLITE_OK) {
        fprintf(stderr, "test_store_open: cannot set up SQLite's error log\n");
        return 1;
    }
    cond_init_monotonic(&busy_log.cond);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
