/* SPDX-License-Identifier: MIT */
/*
 * The CSV candle parser: Binance kline files (milliseconds and
 * microseconds, with and without a header), generic files (columns by
 * header name, ISO 8601 and Unix times), line ends, and every kind of
 * error with the line, column and value it names.
 */
#include "testutil.h"

#include "market/price.h"
#include "source/csv_import.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <string.h>

/* 2024-01-01T00:00:00Z */
#define T0 1704067200LL
/* Long after every candle below has closed. */
#define NOW 1800000000LL

static int64_t P(const char *s)
{
    int64_t v = 0;
    if (price_parse(s, strlen(s), &v) != 0)
        fail_msg("bad price literal '%s'", s);
    return v;
}

struct parsed {
    int rc;
    struct csv_import_result res;
    struct csv_import_error err;
    struct strbuf msg; /* csv_import_error_format(err, "f.csv") */
};

static void parse_as(struct parsed *p, const char *text, enum csv_format f, enum timeframe tf,
                     int64_t now)
{
    struct csv_import_opts o = {.format = f, .tf = tf, .now = now};

    p->res = (struct csv_import_result)CSV_IMPORT_RESULT_INIT;
    p->err = (struct csv_import_error)CSV_IMPORT_ERROR_INIT;
    strbuf_init(&p->msg, 0);
    p->rc = csv_import_parse(text, strlen(text), &o, &p->res, &p->err);
    if (p->rc)
        csv_import_error_format(&p->err, "f.csv", &p->msg);
}

static void parse(struct parsed *p, const char *text, enum timeframe tf)
{
    parse_as(p, text, CSV_AUTO, tf, NOW);
}

static void release(struct parsed *p)
{
    csv_import_result_release(&p->res);
    csv_import_error_release(&p->err);
    strbuf_release(&p->msg);
}

#define ASSERT_OK(p)                                                                               \
    do {                                                                                           \
        if ((p)->rc)                                                                               \
            fail_msg("parse failed: %s", (p)->msg.buf);                                            \
    } while (0)

/* The parse failed with `problem` at line/column and the message holds `text`. */
static void assert_error(struct parsed *p, enum csv_problem problem, size_t line, size_t column,
                         const char *text)
{
    if (!p->rc)
        fail_msg("parse succeeded, expected problem %d at %zu:%zu", (int)problem, line, column);
    assert_int_equal(p->rc, CK_EPARSE);
    if (p->err.problem != problem || p->err.line != line || p->err.column != column ||
        !strstr(p->msg.buf, text))
        fail_msg("got problem %d at %zu:%zu: '%s'; expected %d at %zu:%zu with '%s'",
                 (int)p->err.problem, p->err.line, p->err.column, p->msg.buf, (int)problem, line,
                 column, text);
    assert_int_equal(p->res.candles.n, 0);
}

static const char binance_header[] =
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n";

static void test_binance_ms_no_header(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p,
          "1704067200000,42283.58000000,42554.57000000,42261.02000000,42475.23000000,"
          "1271.68108000,1704070799999,53957248.97378900,47134,682.57581000,28957416.81964380,0\n"
          "1704070800000,42475.23000000,42775.00000000,42431.65000000,42613.56000000,"
          "1196.37856000,1704074399999,50946006.18512920,45458,629.45213000,26803097.23838580,0\n",
          TF_H1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.format, CSV_BINANCE);
    assert_false(p.res.header);
    assert_int_equal(p.res.lines, 2);
    assert_int_equal(p.res.candles.n, 2);
    const struct candle *c = p.res.candles.v;
    assert_int_equal(c[0].open_time, T0);
    assert_int_equal(c[0].open, P("42283.58"));
    assert_int_equal(c[0].high, P("42554.57"));
    assert_int_equal(c[0].low, P("42261.02"));
    assert_int_equal(c[0].close, P("42475.23"));
    assert_true(c[0].has_volume);
    assert_int_equal(c[0].volume, P("1271.68108"));
    assert_int_equal(c[1].open_time, T0 + 3600);
    assert_int_equal(p.res.first, T0);
    assert_int_equal(p.res.last, T0 + 3600);
    release(&p);
}

static void test_binance_us_header(void **state)
{
    (void)state;
    struct parsed p;
    struct strbuf sb = STRBUF_INIT;

    /* The 2025+ spot files: microseconds; the close is the period's last microsecond. */
    strbuf_addstr(&sb, binance_header);
    strbuf_addstr(&sb, "1735689600000000,93576.00000000,93610.93000000,93537.50000000,"
                       "93610.93000000,8.21827000,1735689659999999,768978.27,1432,5.3,496007.7,0\n"
                       "1735689660000000,93610.93000000,93652.00000000,93606.00000000,"
                       "93652.00000000,6.70000000,1735689719999999,627330.6,1076,4.1,383820.1,0\n");
    parse(&p, sb.buf, TF_M1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.format, CSV_BINANCE);
    assert_true(p.res.header);
    assert_int_equal(p.res.lines, 3);
    assert_int_equal(p.res.candles.n, 2);
    assert_int_equal(p.res.candles.v[0].open_time, 1735689600);
    assert_int_equal(p.res.candles.v[1].open_time, 1735689660);
    assert_int_equal(p.res.candles.v[1].close, P("93652"));
    assert_int_equal(p.res.candles.v[1].volume, P("6.7"));
    release(&p);

    /* --format binance reads it the same; a header is optional there too. */
    parse_as(&p, sb.buf, CSV_BINANCE, TF_M1, NOW);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 2);
    release(&p);
    parse_as(&p, sb.buf + strlen(binance_header), CSV_BINANCE, TF_M1, NOW);
    ASSERT_OK(&p);
    assert_false(p.res.header);
    assert_int_equal(p.res.candles.n, 2);
    release(&p);
    strbuf_release(&sb);
}

static void test_binance_close_time(void **state)
{
    (void)state;
    struct parsed p;

    /* An H1 file read as M15: the close time gives it away (the open times are aligned). */
    parse(&p, "1704067200000,1,2,1,2,3,1704070799999,0,0,0,0,0\n", TF_M15);
    assert_error(&p, CSV_INVALID, 1, 7, "spans H1, not M15");
    assert_string_equal(p.err.column_name, "close_time");
    release(&p);
    /* A close time that is no timeframe's. */
    parse(&p, "1704067200000,1,2,1,2,3,1704067212345,0,0,0,0,0\n", TF_M15);
    assert_error(&p, CSV_INVALID, 1, 7, "not the end of the M15 period");
    release(&p);
    /* A time that is not a whole second. */
    parse(&p, "1704067200500,1,2,1,2,3,1704068100499,0,0,0,0,0\n", TF_M15);
    assert_error(&p, CSV_INVALID, 1, 1, "(open_time) '1704067200500': is not on a whole second");
    release(&p);
}

static void test_generic(void **state)
{
    (void)state;
    struct parsed p;

    /* Columns by name in any order, extra columns ignored, ISO times with Z and offsets. */
    parse(&p,
          "Close,Time,Trades,Open,High,Low,Volume\n"
          "2063.41,2024-01-01T00:00:00Z,5,2060,2065.5,2058.25,100\n"
          "2064,2024-01-01T02:15:00+01:00,6,2063.41,2064.5,2063,\n"
          "2065,2024-01-01 01:30:00,7,2064,2066,2063.5,0.123456789\n",
          TF_M15);
    ASSERT_OK(&p);
    assert_int_equal(p.res.format, CSV_GENERIC);
    assert_true(p.res.header);
    assert_int_equal(p.res.candles.n, 3);
    const struct candle *c = p.res.candles.v;
    assert_int_equal(c[0].open_time, T0);
    assert_int_equal(c[0].open, P("2060"));
    assert_int_equal(c[0].high, P("2065.5"));
    assert_int_equal(c[0].low, P("2058.25"));
    assert_int_equal(c[0].close, P("2063.41"));
    assert_true(c[0].has_volume);
    assert_int_equal(c[0].volume, P("100"));
    assert_int_equal(c[1].open_time, T0 + 4500);
    assert_false(c[1].has_volume); /* an empty volume cell: none */
    assert_int_equal(c[2].open_time, T0 + 5400);
    assert_int_equal(c[2].volume, P("0.12345678")); /* volume decimals past 8 dropped */
    release(&p);

    /* No volume column; dates alone (daily); Unix seconds and milliseconds. */
    parse(&p, "date,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02,1,2,0.5,1.5\n", TF_D1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 2);
    assert_false(p.res.candles.v[0].has_volume);
    assert_int_equal(p.res.candles.v[1].open_time, T0 + 86400);
    release(&p);
    parse(&p, "timestamp,open,high,low,close\n1704067200,1,2,0.5,1.5\n1704067260000,1,2,0.5,1.5\n",
          TF_M1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.v[0].open_time, T0);
    assert_int_equal(p.res.candles.v[1].open_time, T0 + 60);
    release(&p);
    /* --format generic on the same file. */
    parse_as(&p, "time,open,high,low,close\n2024-01-01T00:00:00Z,1,1,1,1\n", CSV_GENERIC, TF_M1,
             NOW);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 1);
    release(&p);
}

static void test_line_ends(void **state)
{
    (void)state;
    struct parsed p;

    /* CRLF, a byte order mark, quoted and padded cells, blank lines, no final line end. */
    parse(&p,
          "\xef\xbb\xbf\"time\", open ,high,low,\"close\"\r\n"
          "\r\n"
          "\"2024-01-01T00:00:00Z\", 1.5 ,\"2\",1,1.75\r\n"
          "2024-01-01T00:01:00Z,1.75,2,1,1.25",
          TF_M1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 2);
    assert_int_equal(p.res.lines, 4);
    assert_int_equal(p.res.candles.v[0].open, P("1.5"));
    assert_int_equal(p.res.candles.v[0].close, P("1.75"));
    assert_int_equal(p.res.candles.v[1].close, P("1.25"));
    release(&p);

    /* Binance with CRLF and without the final line end: the last cell ("0") is clean. */
    parse(&p,
          "1704067200000,1,2,1,2,3,1704067259999,0,0,0,0,0\r\n"
          "1704067260000,2,3,2,3,4,1704067319999,0,0,0,0,0",
          TF_M1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 2);
    assert_int_equal(p.res.candles.v[1].volume, P("4"));
    release(&p);
}

static void test_bad_line_in_the_middle(void **state)
{
    (void)state;
    struct parsed p;

    parse(&p,
          "time,open,high,low,close\n"
          "2024-01-01T00:00:00Z,1,2,1,2\n"
          "2024-01-01T00:01:00Z,1,abc,1,2\n"
          "2024-01-01T00:02:00Z,1,2,1,2\n",
          TF_M1);
    assert_error(&p, CSV_BAD_VALUE, 3, 3, "f.csv:3: column 3 (high) 'abc': is not a decimal");
    assert_string_equal(p.err.column_name, "high");
    assert_string_equal(p.err.value.buf, "abc");
    release(&p);

    /* Binance: the volume of line 2. */
    parse(&p,
          "1704067200000,1,2,1,2,3,1704067259999,0,0,0,0,0\n"
          "1704067260000,2,3,2,3,-4,1704067319999,0,0,0,0,0\n"
          "1704067320000,2,3,2,3,4,1704067379999,0,0,0,0,0\n",
          TF_M1);
    assert_error(&p, CSV_INVALID, 2, 6, "f.csv:2: column 6 (volume) '-4': volume is negative");
    release(&p);
}

static void test_bad_values(void **state)
{
    (void)state;
    static const struct {
        const char *row; /* after a time,open,high,low,close,volume header */
        enum csv_problem problem;
        size_t column;
        const char *text;
    } cases[] = {
        {"2024-01-01T00:00:00Z,NaN,2,1,2,1", CSV_BAD_VALUE, 2, "(open) 'NaN': is not a decimal"},
        {"2024-01-01T00:00:00Z,1,inf,1,2,1", CSV_BAD_VALUE, 3, "'inf': is not a decimal"},
        {"2024-01-01T00:00:00Z,1,2,1e3,2,1", CSV_BAD_VALUE, 4, "'1e3': is not a decimal"},
        {"2024-01-01T00:00:00Z,1,2,1,2.123456789,1", CSV_BAD_VALUE, 5, "at most 8 decimals"},
        {"2024-01-01T00:00:00Z,1,99999999999999,1,2,1", CSV_BAD_VALUE, 3, "is out of range"},
        {"2024-01-01T00:00:00Z,1,2,1,2,123456789012345678901234", CSV_BAD_VALUE, 6,
         "is out of range"},
        {"2024-01-01T00:00:00Z,,2,1,2,1", CSV_BAD_VALUE, 2, "(open) '': is empty"},
        {"99999999999999999999,1,2,1,2,1", CSV_BAD_VALUE, 1,
         "(time) '99999999999999999999': is "
         "out of range"},
        {"300000000000000000,1,2,1,2,1", CSV_BAD_VALUE, 1, "is out of range"},
        {"2024-13-01T00:00:00Z,1,2,1,2,1", CSV_BAD_VALUE, 1, "is not a time"},
        {"yesterday,1,2,1,2,1", CSV_BAD_VALUE, 1, "'yesterday': is not a time"},
        {"2024-01-01T00:00:30Z,1,2,1,2,1", CSV_INVALID, 1, "is not aligned to M1"},
        {"2024-01-01T00:00:00Z,1,2,1,3,1", CSV_INVALID, 3, "(high) '2': high 2 is below close 3"},
        {"2024-01-01T00:00:00Z,1,2,1.5,2,1", CSV_INVALID, 4, "low 1.5 is above open 1"},
        {"2024-01-01T00:00:00Z,0,2,1,2,1", CSV_INVALID, 2, "open 0 is not positive"},
        {"2024-01-01T00:00:00Z,1,2,1,2", CSV_BAD_ROW, 0, "the line has 5 columns, not 6"},
        {"2024-01-01T00:00:00Z,1,2,1,2,1,7", CSV_BAD_ROW, 0, "'2024-01-01T00:00:00Z,1,2,1,2,1,7'"},
        {"\"2024-01-01T00:00:00Z,1,2,1,2,1", CSV_BAD_ROW, 0, "is not closed"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct strbuf text = STRBUF_INIT;
        struct parsed p;
        strbuf_addf(&text, "time,open,high,low,close,volume\n%s\n", cases[i].row);
        parse(&p, text.buf, TF_M1);
        assert_error(&p, cases[i].problem, 2, cases[i].column, cases[i].text);
        release(&p);
        strbuf_release(&text);
    }
}

static void test_binance_bad_times(void **state)
{
    (void)state;
    struct parsed p;

    /* Microseconds past the year 9999. */
    parse(&p, "9000000000000000000,1,2,1,2,3,9000000000059999999,0,0,0,0,0\n", TF_M1);
    assert_error(&p, CSV_BAD_VALUE, 1, 1, "is out of range");
    release(&p);
    parse(&p, "1704067200000,1,2,1,2,3,1704067259999,0,0,0,0,0\n2024-01-01,1,2,1,2,3,0,0,0,0,0,0\n",
          TF_M1);
    assert_error(&p, CSV_BAD_VALUE, 2, 1, "is not a Unix time in milliseconds or microseconds");
    release(&p);
}

static void test_empty(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "", "\n", "\r\n\r\n  \n", "\xef\xbb\xbf", "time,open,high,low,close\n", binance_header};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        struct parsed p;
        parse(&p, texts[i], TF_M1);
        assert_error(&p, CSV_EMPTY, 0, 0, "f.csv: the file holds no candles");
        release(&p);
    }
}

static void test_headers(void **state)
{
    (void)state;
    struct parsed p;

    parse(&p, "time,open,close,volume\n2024-01-01,1,1,1\n", TF_D1);
    assert_error(&p, CSV_BAD_HEADER, 1, 0, "the header lacks high, low");
    release(&p);
    parse(&p, "time,open,high,low,close,Open\n", TF_D1);
    assert_error(&p, CSV_BAD_HEADER, 1, 6, "(Open) 'Open': a second open column (column 2");
    release(&p);
    /* Digits on line 1 but not 12 columns: neither Binance nor a header. */
    parse(&p, "1704067200,1,2,1,2\n", TF_M1);
    assert_error(&p, CSV_BAD_HEADER, 1, 0, "cannot tell the format");
    release(&p);
    parse_as(&p, "1704067200,1,2,1,2\n", CSV_GENERIC, TF_M1, NOW);
    assert_error(&p, CSV_BAD_HEADER, 1, 1, "a generic CSV starts with a header");
    release(&p);
    parse_as(&p, "time,open,high,low,close\n", CSV_BINANCE, TF_M1, NOW);
    assert_error(&p, CSV_BAD_ROW, 1, 0, "the line has 5 columns, not 12");
    release(&p);
}

static void test_forming(void **state)
{
    (void)state;
    struct parsed p;
    const char *text = "time,open,high,low,close\n"
                       "2024-01-01T00:00:00Z,1,1,1,1\n"
                       "2024-01-01T00:15:00Z,1,1,1,1\n";

    /* At 00:29:59 the 00:15 candle is still forming; at 00:30 it has closed. */
    parse_as(&p, text, CSV_AUTO, TF_M15, T0 + 1799);
    assert_error(&p, CSV_FORMING, 3, 1, "still forming (it closes at 2024-01-01T00:30:00Z");
    release(&p);
    parse_as(&p, text, CSV_AUTO, TF_M15, T0 + 1800);
    ASSERT_OK(&p);
    assert_int_equal(p.res.candles.n, 2);
    release(&p);
}

static void test_duplicates(void **state)
{
    (void)state;
    struct parsed p;

    /* In time order: found on the spot. */
    parse(&p,
          "time,open,high,low,close\n"
          "2024-01-01T00:00:00Z,1,1,1,1\n"
          "2024-01-01T00:01:00Z,1,1,1,1\n"
          "2024-01-01T00:01:00Z,2,2,2,2\n",
          TF_M1);
    assert_error(&p, CSV_DUPLICATE, 4, 1,
                 "'2024-01-01T00:01:00Z': the same open time is on line 3");
    release(&p);
    /* Out of order: found at the end, naming the later line of the pair that comes first. */
    parse(&p,
          "time,open,high,low,close\n"
          "2024-01-01T00:03:00Z,1,1,1,1\n"
          "2024-01-01T00:01:00Z,1,1,1,1\n"
          "2024-01-01T00:02:00Z,1,1,1,1\n"
          "1704067320,1,1,1,1\n"
          "2024-01-01T00:01:00Z,1,1,1,1\n",
          TF_M1);
    assert_error(&p, CSV_DUPLICATE, 5, 1, "(time) '1704067320': the same open time is on line 4");
    release(&p);
    /* Out of order without a duplicate: fine, first and last are the extremes. */
    parse(&p,
          "time,open,high,low,close\n"
          "2024-01-01T00:03:00Z,1,1,1,1\n"
          "2024-01-01T00:01:00Z,1,1,1,1\n"
          "2024-01-01T00:02:00Z,1,1,1,1\n",
          TF_M1);
    ASSERT_OK(&p);
    assert_int_equal(p.res.first, T0 + 60);
    assert_int_equal(p.res.last, T0 + 180);
    release(&p);
}

static void test_format_names(void **state)
{
    (void)state;
    enum csv_format f;
    assert_int_equal(csv_format_parse("Binance", &f), 0);
    assert_int_equal(f, CSV_BINANCE);
    assert_int_equal(csv_format_parse("generic", &f), 0);
    assert_int_equal(f, CSV_GENERIC);
    assert_int_equal(csv_format_parse("auto", &f), 0);
    assert_int_equal(f, CSV_AUTO);
    assert_int_equal(csv_format_parse("json", &f), CK_EINVAL);
    assert_string_equal(csv_format_name(CSV_BINANCE), "binance");
}

/* A long file: every line read, and progress reported up to the whole. */
static void on_progress(void *arg, size_t done, size_t total)
{
    size_t *last = arg;
    assert_true(done <= total);
    assert_true(done >= *last);
    *last = done;
}

static void test_many_lines(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    struct csv_import_result res = CSV_IMPORT_RESULT_INIT;
    struct csv_import_error err = CSV_IMPORT_ERROR_INIT;
    size_t last = 0;
    const size_t n = 200000;

    for (size_t i = 0; i < n; i++) {
        int64_t t = (T0 + (int64_t)i * 60) * 1000;
        strbuf_addf(&sb, "%lld,1.1,1.3,1.0,1.2,5,%lld,0,0,0,0,0\n", (long long)t,
                    (long long)(t + 59999));
    }
    struct csv_import_opts o = {.format = CSV_AUTO,
                                .tf = TF_M1,
                                .now = NOW,
                                .progress = on_progress,
                                .progress_arg = &last};
    assert_int_equal(csv_import_parse(sb.buf, sb.len, &o, &res, &err), 0);
    assert_int_equal(res.candles.n, n);
    assert_int_equal(res.last, T0 + (int64_t)(n - 1) * 60);
    assert_int_equal(last, sb.len);
    csv_import_result_release(&res);
    csv_import_error_release(&err);
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binance_ms_no_header),
        cmocka_unit_test(test_binance_us_header),
        cmocka_unit_test(test_binance_close_time),
        cmocka_unit_test(test_generic),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_bad_line_in_the_middle),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_binance_bad_times),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_forming),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_many_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
