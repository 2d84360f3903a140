/* SPDX-License-Identifier: MIT */
/* Logging: line formats, and every line through the secret redactor. */
#include "testutil.h"

#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_and_json_lines),
        cmocka_unit_test(test_bad_file),
        cmocka_unit_test(test_parse_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
