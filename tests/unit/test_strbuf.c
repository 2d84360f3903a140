/* SPDX-License-Identifier: MIT */
/* The growable string buffer: invariants, appends, formatting, trimming, escaping. */
#include "testutil.h"

#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* buf is never NULL, always NUL-terminated at len, and len < alloc once allocated. */
static void check_invariants(const struct strbuf *sb)
{
    assert_non_null(sb->buf);
    assert_int_equal(sb->buf[sb->len], '\0');
    if (sb->alloc)
        assert_true(sb->len < sb->alloc);
    else
        assert_int_equal(sb->len, 0);
}

static void test_init_release(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    check_invariants(&sb);
    assert_string_equal(sb.buf, "");
    strbuf_release(&sb); /* never allocated */
    check_invariants(&sb);
    strbuf_init(&sb, 100);
    assert_true(sb.alloc > 100);
    check_invariants(&sb);
    strbuf_addstr(&sb, "x");
    strbuf_release(&sb);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.alloc, 0);
    check_invariants(&sb);
    strbuf_addstr(&sb, "again"); /* reusable after release */
    assert_string_equal(sb.buf, "again");
    strbuf_release(&sb);
    strbuf_release(NULL);
}

static void test_appends(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT, other = STRBUF_INIT;

    strbuf_addstr(&sb, "abc");
    strbuf_addch(&sb, 'd');
    strbuf_add(&sb, "efgh", 2);
    strbuf_add(&sb, "", 0);
    strbuf_addstr(&other, "-xyz");
    strbuf_addbuf(&sb, &other);
    assert_string_equal(sb.buf, "abcdef-xyz");
    assert_int_equal(sb.len, 10);
    check_invariants(&sb);

    /* binary data: len is authoritative */
    strbuf_reset(&sb);
    strbuf_add(&sb, "a\0b", 3);
    assert_int_equal(sb.len, 3);
    assert_memory_equal(sb.buf, "a\0b", 4);

    /* many small appends cross several reallocations */
    strbuf_reset(&sb);
    for (int i = 0; i < 10000; i++)
        strbuf_addch(&sb, 'a' + i % 26);
    assert_int_equal(sb.len, 10000);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(sb.buf[i], 'a' + i % 26);
    check_invariants(&sb);

    assert_true(strbuf_starts_with(&sb, "abcdef"));
    assert_false(strbuf_starts_with(&sb, "abd"));
    assert_true(strbuf_starts_with(&sb, ""));
    assert_false(strbuf_starts_with(&other, "-xyz!"));
    strbuf_release(&sb);
    strbuf_release(&other);
}

static void test_formatting(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    char big[1000];

    strbuf_addf(&sb, "%s=%d", "n", 42);
    assert_string_equal(sb.buf, "n=42");
    /* longer than the first guess of the formatter */
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    strbuf_addf(&sb, "[%s]", big);
    assert_int_equal(sb.len, 4 + 2 + 999);
    assert_int_equal(sb.buf[5], 'z');
    assert_int_equal(sb.buf[sb.len - 1], ']');
    check_invariants(&sb);
    strbuf_setf(&sb, "%05.1f|%x", 3.14159, 255);
    assert_string_equal(sb.buf, "003.1|ff");
    strbuf_setf(&sb, "%s", "");
    assert_int_equal(sb.len, 0);
    check_invariants(&sb);
    strbuf_release(&sb);
}

static void test_detach_setlen(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    size_t len = 99;
    char *s = strbuf_detach(&sb, &len); /* even an empty one gives heap memory */
    assert_string_equal(s, "");
    assert_int_equal(len, 0);
    free(s);

    strbuf_addstr(&sb, "hello world");
    strbuf_setlen(&sb, 5);
    assert_string_equal(sb.buf, "hello");
    s = strbuf_detach(&sb, &len);
    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_int_equal(sb.len, 0);
    assert_int_equal(sb.alloc, 0);
    check_invariants(&sb);
    free(s);
    s = strbuf_detach(&sb, NULL);
    free(s);

    strbuf_grow(&sb, 500);
    assert_true(sb.alloc > 500);
    assert_int_equal(sb.len, 0);
    check_invariants(&sb);
    strbuf_release(&sb);
}

static void test_trim(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"  a b  ", "a b"}, {"\t\nx\r\n", "x"}, {"x", "x"},  {"   ", ""},
        {"", ""},           {"a ", "a"},        {" a", "a"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_addstr(&sb, cases[i].in);
        strbuf_trim(&sb);
        assert_string_equal(sb.buf, cases[i].out);
        assert_int_equal(sb.len, strlen(cases[i].out));
        check_invariants(&sb);
        strbuf_release(&sb);
    }
}

static void test_json_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"plain", 5, "plain"},
        {"a\"b", 3, "a\\\"b"},
        {"back\\slash", 10, "back\\\\slash"},
        {"l1\nl2\r\t", 7, "l1\\nl2\\r\\t"},
        {"\x01\x1f", 2, "\\u0001\\u001f"},
        {"a\0b", 3, "a\\u0000b"},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"}, /* UTF-8 passes through */
        {"stop here", 4, "stop"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_addstr(&sb, ">");
        strbuf_add_json_escaped(&sb, cases[i].in, cases[i].len);
        assert_string_equal(sb.buf + 1, cases[i].out);
        assert_int_equal(sb.buf[0], '>');
        strbuf_release(&sb);
    }
}

/* Excerpts of foreign text for messages: printable, one line, bounded, tags dropped on request. */
static void test_excerpt(void **state)
{
    struct strbuf sb = STRBUF_INIT;
    static const char html[] = "<html><body>\n  <h1>502 Bad\tGateway</h1>\r\n</body></html>";
    (void)state;

    strbuf_add_excerpt(&sb, html, strlen(html), 80, true);
    assert_string_equal(sb.buf, "502 Bad Gateway");
    strbuf_reset(&sb);
    strbuf_add_excerpt(&sb,
                       "a\x01"
                       "b\xc3\xa9 c",
                       7, 80, false);
    assert_string_equal(sb.buf, "a?b?? c");
    strbuf_reset(&sb);
    strbuf_add_excerpt(&sb, "abcdefgh", 8, 5, false);
    assert_string_equal(sb.buf, "abcde...");
    strbuf_reset(&sb);
    strbuf_add_excerpt(&sb, "  lead", 6, 80, false);
    assert_string_equal(sb.buf, "lead");
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_release), cmocka_unit_test(test_appends),
        cmocka_unit_test(test_formatting),   cmocka_unit_test(test_detach_setlen),
        cmocka_unit_test(test_trim),         cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
