/* SPDX-License-Identifier: MIT */
/*
 * Logging: line formats, every line through the secret redactor, and
 * rotation on size while several threads write (no line lost or split,
 * at most `keep` rotations, sizes respected).
 */
#include "testutil.h"

#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static char *read_file(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    char buf[4096];
    size_t n;
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&sb, buf, n);
    fclose(fp);
    return strbuf_detach(&sb, NULL);
}

static void test_logfmt_and_json_lines(void **state)
{
    struct strbuf err = STRBUF_INIT;
    char *path = test_tmpfile(".log"), *text;
    (void)state;

    redact_clear_secrets();
    redact_add_secret("K3Y-VALUE-123");
    assert_int_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, path, &err), 0);
    log_info("ingest: stored %d candles of '%s' with key K3Y-VALUE-123", 4, "XAU/USD");
    log_info("source: GET /time_series?symbol=XAU&apikey=shape-only-key9 failed");
    log_debug("not shown at info level");
    log_warn("quote \" and\nnewline");
    assert_int_equal(log_setup(LOG_DEBUG, LOG_FORMAT_JSON, path, &err), 0);
    log_debug("json \"line\"");
    log_shutdown();

    text = read_file(path);
    assert_non_null(strstr(text, "level=info msg=\"ingest: stored 4 candles of 'XAU/USD' with key "
                                 "***\"\n"));
    assert_null(strstr(text, "K3Y-VALUE-123"));
    /* A credential nobody registered is masked by its shape. */
    assert_non_null(strstr(text, "apikey=*** failed"));
    assert_null(strstr(text, "shape-only-key9"));
    assert_null(strstr(text, "not shown"));
    assert_non_null(strstr(text, "level=warn msg=\"quote \\\" and\\nnewline\"\n"));
    assert_non_null(strstr(text, "\"level\":\"debug\",\"msg\":\"json \\\"line\\\"\"}\n"));
    /* Every line starts with a UTC timestamp. */
    assert_memory_equal(text, "ts=20", 5);
    assert_non_null(strstr(text, "Z level=info"));
    assert_non_null(strstr(text, "{\"ts\":\"20"));
    free(text);
    free(path);
    strbuf_release(&err);
    redact_clear_secrets();
}

static void test_bad_file(void **state)
{
    struct strbuf err = STRBUF_INIT;
    (void)state;
    assert_int_not_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, "/nonexistent/dir/x.log", &err), 0);
    assert_non_null(strstr(err.buf, "/nonexistent/dir/x.log"));
    log_shutdown();
    strbuf_release(&err);
}

static void test_parse_levels(void **state)
{
    enum log_level l;
    enum log_format f;
    (void)state;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_DEBUG);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_not_equal(log_level_parse("loud", &l), 0);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_not_equal(log_format_parse("xml", &f), 0);
}

#define THREADS 4
#define LINES   50000
#define MAXSIZE (256 * 1024)

static void *log_lines(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < LINES; i++)
        log_info("rotation test thread %d line %06d padding to make the line longer", t, i);
    return NULL;
}

/* Count the test's lines in `path` (plain or gzip) into seen[]; returns its uncompressed size. */
static size_t count_lines(const char *path, unsigned char (*seen)[LINES])
{
    char line[512];
    size_t size = 0;
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    while (gzgets(gz, line, sizeof(line))) {
        const char *p = strstr(line, "rotation test thread ");
        int t, i;
        size += strlen(line);
        assert_true(line[strlen(line) - 1] == '\n'); /* never split */
        if (!p)
            continue;
        assert_int_equal(sscanf(p, "rotation test thread %d line %d", &t, &i), 2);
        assert_true(t >= 0 && t < THREADS && i >= 0 && i < LINES);
        seen[t][i]++;
    }
    gzclose(gz);
    return size;
}

static void test_rotation_under_threads(void **state)
{
    static unsigned char seen[THREADS][LINES];
    struct strbuf err = STRBUF_INIT;
    char *path = test_tmpfile(".log");
    pthread_t th[THREADS];
    char **files;
    size_t n, gz = 0;
    (void)state;

    log_set_rotation(&(struct log_rotation){.max_size = MAXSIZE, .keep = 200, .compress = true});
    assert_int_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, path, &err), 0);
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, log_lines, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    log_rotation_wait();
    log_shutdown();

    n = log_rotations(path, &files);
    assert_true(n > 40); /* about 16 MB in files of 256 kB */
    for (size_t i = 0; i < n; i++) {
        size_t size = count_lines(files[i], seen);
        /* A file is rotated at the first line that takes it to max_size. */
        assert_true(size >= MAXSIZE && size < MAXSIZE + 512);
        gz += strstr(files[i], ".gz") != NULL;
    }
    assert_int_equal(gz, n); /* all compressed once written */
    count_lines(path, seen);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < LINES; i++)
            if (seen[t][i] != 1)
                fail_msg("thread %d line %d seen %d times", t, i, seen[t][i]);
    log_rotations_free(files);

    /* With keep = 3, the oldest go. */
    log_set_rotation(&(struct log_rotation){.max_size = 4096, .keep = 3, .compress = false});
    assert_int_equal(log_setup(LOG_INFO, LOG_FORMAT_LOGFMT, path, &err), 0);
    for (int i = 0; i < 1000; i++)
        log_info("more %d", i);
    log_rotation_wait();
    log_shutdown();
    n = log_rotations(path, &files);
    assert_int_equal(n, 3);
    log_rotations_free(files);
    log_set_rotation(&(struct log_rotation){.keep = 5});
    free(path);
    strbuf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_and_json_lines),
        cmocka_unit_test(test_bad_file),
        cmocka_unit_test(test_parse_levels),
        cmocka_unit_test(test_rotation_under_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
