/* SPDX-License-Identifier: MIT */
#ifndef CK_TESTS_TESTUTIL_H
#define CK_TESTS_TESTUTIL_H

/*
 * Helpers shared by the unit tests. Include after <cmocka.h>'s prerequisites
 * (stdarg.h, stddef.h, stdint.h, setjmp.h); this header includes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/error.h"
#include "util/strbuf.h"

/* Fail the test, with the message in `errbuf` (a struct strbuf *), when `expr` does not return 0.
 */
#define CHECK_OK(expr, errbuf)                                                                     \
    do {                                                                                           \
        int check_rc_ = (expr);                                                                    \
        if (check_rc_)                                                                             \
            fail_msg("%s returned %d (%s): %s", #expr, check_rc_, ck_strerror(check_rc_),          \
                     (errbuf)->buf);                                                               \
    } while (0)

/* A fresh temporary directory (removed at exit with its content). */
const char *test_tmpdir(void);
/* A new path inside test_tmpdir() ending in `suffix`; caller frees. */
char *test_tmpfile(const char *suffix);
/* The project's source directory (CK_SOURCE_DIR, set by CTest). */
const char *test_source_dir(void);
/*
 * The bytes of tests/fixtures/SUBDIR/NAME (a recorded provider answer), NUL
 * terminated, their count in *len; fails the test when it cannot be read.
 * Caller frees.
 */
char *test_fixture_read(const char *subdir, const char *name, size_t *len);
/* Unix seconds of a UTC date and time. */
int64_t test_utc(int year, int month, int day, int hour, int min);

/*
 * The store URL a store-backed test should use: CK_TEST_STORE_URL if set
 * (CTest sets it to the throwaway PostgreSQL for the "pg" variants),
 * otherwise a new SQLite file in test_tmpdir(). Caller frees.
 */
char *test_store_url(void);

/*
 * Run `promtool check metrics` (Debian's prometheus package) on `text`:
 * returns its exit status and appends what it printed to `report`. Fails
 * the test when promtool is missing.
 */
int test_promtool_check(const char *text, struct strbuf *report);

/*
 * The fixture of a store-backed test: the store of test_store_url(), open,
 * and a source name of its own ("t<pid>_<n>"), so that tests sharing one
 * PostgreSQL database never see each other's series. cmocka setup and
 * teardown functions; *state is a struct store_fixture.
 */
struct store;
struct store_fixture {
    struct store *st;
    char *url;
    char source[48];
    struct strbuf err;
};
int store_fixture_setup(void **state);
int store_fixture_teardown(void **state);

/* Helpers on a fixture's store; each fails the test on a store error. */
struct job_run;
struct job_state;
struct gap_record;
struct series_key;
/* "<fixture source>_<what>": a job id or lease name of the test's own; caller frees. */
char *store_fixture_name(const struct store_fixture *f, const char *what);
/* Insert a running run of `job` (instance "inst-A"); returns it, strings borrowed. */
struct job_run store_fixture_start_run(struct store_fixture *f, const char *job, int64_t scheduled,
                                       int64_t started);
/* The stored state of `job_id`; release with job_state_release(). */
struct job_state store_fixture_job(struct store_fixture *f, const char *job_id);
/* The gaps of series `k`, newest first, into *out (gap_records_free()); returns how many. */
size_t store_fixture_gaps(struct store_fixture *f, const struct series_key *k,
                          struct gap_record **out);

/*
 * A local fake server (tests/helpers/<script>, python3) for a group of
 * tests: started on 127.0.0.1 with `--port-file` and the extra arguments,
 * stopped with SIGTERM. The fakes also exit when their parent does.
 */
struct test_fake {
    int pid;      /* -1 when not running */
    char url[64]; /* "http://127.0.0.1:PORT" */
};

/*
 * Start `script` (a file name in tests/helpers/) with `args` (NULL-terminated,
 * may be NULL) and wait until it listens. 0, or -1 with the reason on stderr.
 */
int test_fake_start(struct test_fake *f, const char *script, const char *const *args);
/* Stop the fake; harmless when it is not running. */
void test_fake_stop(struct test_fake *f);

struct json_t;
/* POST `body` (a jansson value, taken; NULL: {}) as JSON to the fake's `path`; asserts HTTP 200. */
void test_fake_post(const struct test_fake *f, const char *path, struct json_t *body);
/* GET the fake's `path`; asserts HTTP 200 and returns the parsed JSON (caller decrefs). */
struct json_t *test_fake_get_json(const struct test_fake *f, const char *path);

#endif
