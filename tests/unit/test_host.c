/* SPDX-License-Identifier: MIT */
/*
 * Host health (health/host.c) against files the test controls: a fake
 * procfs directory (as CANDLEKEEP_PROC_ROOT points the daemon at one) and
 * file systems whose sizes the test sets. The readings, thresholds and
 * hysteresis, unknown values, the score and its deductions, the disk-full
 * forecast, and reading an assessment back.
 */
#include "testutil.h"

#include "health/host.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

#define GB (1024LL * 1024 * 1024)

/* The fake machine: procfs files in `root`, one file system of `total` bytes with `avail` free. */
struct fake {
    char root[256];
    int64_t total, avail;
    bool disk_fails;
};

static int fake_read(void *arg, const char *name, struct strbuf *out)
{
    struct fake *f = arg;
    struct host_probe real;
    host_probe_real(&real, f->root);
    return real.ops->read_file(real.arg, name, out);
}

static int fake_fds(void *arg, int64_t *out)
{
    struct fake *f = arg;
    struct host_probe real;
    host_probe_real(&real, f->root);
    return real.ops->count_fds(real.arg, out);
}

static int fake_statvfs(void *arg, const char *path, int64_t *total, int64_t *free_, int64_t *avail)
{
    struct fake *f = arg;
    (void)path;
    if (f->disk_fails)
        return -1;
    *total = f->total;
    *free_ = f->avail;
    *avail = f->avail;
    return 0;
}

static const struct host_probe_ops fake_ops = {
    .read_file = fake_read, .count_fds = fake_fds, .statvfs = fake_statvfs};

static void put(struct fake *f, const char *name, const char *text)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", f->root, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void set_memory(struct fake *f, int used_pct)
{
    char text[200];
    snprintf(text, sizeof(text),
             "MemTotal:       1000000 kB\nMemFree:         1000 kB\n"
             "MemAvailable:   %d kB\n",
             (100 - used_pct) * 10000);
    put(f, "meminfo", text);
}

static void set_cpu(struct fake *f, long busy, long idle)
{
    char text[300];
    /* user nice system idle iowait irq softirq steal */
    snprintf(text, sizeof(text),
             "cpu  %ld 0 0 %ld 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0\n"
             "cpu1 1 0 0 1 0 0 0 0\nintr 5\n",
             busy, idle);
    put(f, "stat", text);
}

static void setup_fake(struct fake *f)
{
    static int n;
    char path[400];
    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s/proc%d", test_tmpdir(), n++);
    assert_int_equal(mkdir(f->root, 0700), 0);
    snprintf(path, sizeof(path), "%s/self", f->root);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/self/fd", f->root);
    assert_int_equal(mkdir(path, 0700), 0);
    /* 11 entries: the reader takes one off for its own directory descriptor. */
    for (int i = 0; i < 11; i++) {
        snprintf(path, sizeof(path), "%s/self/fd/%d", f->root, i);
        fclose(fopen(path, "w"));
    }
    put(f, "self/limits",
        "Limit                     Soft Limit           Hard Limit           "
        "Units\nMax open files            1000                 4096       "
        "          files\n");
    put(f, "loadavg", "0.50 0.40 0.30 1/100 12345\n");
    set_memory(f, 30);
    set_cpu(f, 1000, 9000);
    f->total = 100 * GB;
    f->avail = 50 * GB;
}

static const struct host_config cfg = {
    .cpu = {80, 85, 90},
    .memory = {80, 85, 90},
    .disk = {80, 85, 90},
    .load = {80, 85, 90},
    .files = {80, 85, 90},
    .forecast_window = 6 * 3600,
    .forecast_warn = 24 * 3600,
    .forecast_critical = 6 * 3600,
};

static const char *const dirs[] = {"/var/lib/candlekeep"};

/* Read the fake now and assess it on top of `hist`; the details into *out (caller decrefs). */
static int assess(struct fake *f, const struct host_reading *prev, const struct host_history *hist,
                  int64_t now, json_t **out)
{
    struct host_probe p = {.ops = &fake_ops, .arg = f};
    struct host_reading r;
    struct host_history none = {0};
    int score;
    host_read(&p, dirs, 1, &r);
    *out = json_object();
    score = host_assess(&cfg, &r, prev, hist ? hist : &none, now, *out);
    host_reading_release(&r);
    return score;
}

static json_t *part(json_t *d, const char *name)
{
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(d, "components"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "name")), name))
            return c;
    }
    fail_msg("no component '%s'", name);
    return NULL;
}

static const char *level(json_t *d, const char *name)
{
    return json_string_value(json_object_get(part(d, name), "level"));
}

static void test_readings_and_a_healthy_score(void **state)
{
    struct fake f;
    struct host_probe p = {.ops = &fake_ops, .arg = &f};
    struct host_reading prev;
    json_t *d;
    (void)state;

    setup_fake(&f);
    host_read(&p, dirs, 1, &prev);
    assert_true(prev.cpu_known && prev.mem_known && prev.load_known && prev.files_known);
    assert_int_equal(prev.ncpu, 2);
    assert_int_equal(prev.files_open, 10);
    assert_int_equal(prev.files_limit, 1000);
    /* 1000 more jiffies, 250 of them busy: 25% over the window. */
    set_cpu(&f, 1250, 9750);
    int score = assess(&f, &prev, NULL, 1000000, &d);
    if (score != 100) {
        char *dump = json_dumps(d, JSON_COMPACT);
        fail_msg("score %d: %s", score, dump);
        free(dump);
    }
    assert_true(json_number_value(json_object_get(part(d, "cpu"), "value")) == 25.0);
    assert_true(json_number_value(json_object_get(part(d, "memory"), "value")) == 30.0);
    assert_true(json_number_value(json_object_get(part(d, "load"), "value")) == 25.0);
    assert_true(json_number_value(json_object_get(part(d, "open_files"), "value")) == 1.0);
    assert_true(json_number_value(json_object_get(part(d, "disk:/var/lib/candlekeep"), "value")) ==
                50.0);
    assert_int_equal(json_array_size(json_object_get(d, "deductions")), 0);
    assert_true(json_is_null(json_object_get(d, "forecast")));
    /* The counters are kept for the next run's window. */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "cpu"), "total")),
                     11000);
    host_reading_release(&prev);
    json_decref(d);
}

static void test_thresholds_and_hysteresis(void **state)
{
    struct fake f;
    json_t *d;
    char *text;
    int64_t at = 1000000;
    (void)state;

    setup_fake(&f);
    /* 82%: warn, 10 points off and the score capped at 85. */
    set_memory(&f, 82);
    assert_int_equal(assess(&f, NULL, NULL, at, &d), 85);
    assert_string_equal(level(d, "memory"), "warn");
    json_t *ded = json_array_get(json_object_get(d, "deductions"), 1); /* after the CPU's */
    assert_string_equal(json_string_value(json_object_get(ded, "component")), "memory");
    assert_int_equal(json_integer_value(json_object_get(ded, "points")), 10);
    assert_non_null(strstr(json_string_value(json_object_get(ded, "reason")),
                           "memory at 82.0% (warn from 80%)"));
    /* No previous counters: the CPU is unknown, never 100 (and costs 5 points, cap 95). */
    assert_string_equal(level(d, "cpu"), "unknown");

    /*
     * A level holds until the value is 10 points under its threshold; one
     * that falls through several steps lands on the lowest it is still
     * within 10 points of (high at 74% is warn: 74 >= 80 - 10).
     */
    static const struct {
        int pct;
        const char *level;
    } steps[] = {{75, "warn"},     {71, "warn"}, {69, "ok"}, {79, "ok"},       {86, "high"},
                 {76, "high"},     {74, "warn"}, {69, "ok"}, {91, "critical"}, {85, "critical"},
                 {80, "critical"}, {79, "high"}, {64, "ok"}};
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        text = json_dumps(d, JSON_COMPACT);
        const char *details[] = {text};
        int64_t when[] = {at};
        struct host_history h = {.details = details, .at = when, .n = 1};
        json_decref(d);
        set_memory(&f, steps[i].pct);
        set_cpu(&f, 1000 + 100 * (long)(i + 1), 9000 + 900 * (long)(i + 1)); /* 10% busy */
        at += 300;
        int score = assess(&f, NULL, &h, at, &d);
        if (strcmp(level(d, "memory"), steps[i].level))
            fail_msg("step %zu: %d%% is %s, expected %s", i, steps[i].pct, level(d, "memory"),
                     steps[i].level);
        if (!strcmp(steps[i].level, "critical"))
            assert_true(score <= 25);
        if (!strcmp(steps[i].level, "ok"))
            assert_int_equal(score, 100); /* the CPU is known from the previous counters */
        free(text);
    }
    json_decref(d);
}

static void test_unknown_values(void **state)
{
    struct fake f;
    char path[400];
    json_t *d;
    (void)state;

    setup_fake(&f);
    snprintf(path, sizeof(path), "%s/meminfo", f.root);
    assert_int_equal(unlink(path), 0);
    put(&f, "loadavg", "not a number\n");
    f.disk_fails = true;
    int score = assess(&f, NULL, NULL, 1000000, &d);
    assert_string_equal(level(d, "memory"), "unknown");
    assert_string_equal(level(d, "load"), "unknown");
    assert_string_equal(level(d, "disk:/var/lib/candlekeep"), "unknown");
    assert_true(json_is_null(json_object_get(part(d, "memory"), "value")));
    /* cpu, memory, load and the disk: 5 each. */
    assert_int_equal(score, 80);
    assert_int_equal(json_array_size(json_object_get(d, "deductions")), 4);
    json_decref(d);

    /* Everything unreadable is never a healthy 100. */
    struct fake none = {0};
    snprintf(none.root, sizeof(none.root), "%s/no-such-proc", test_tmpdir());
    none.disk_fails = true;
    assert_true(assess(&none, NULL, NULL, 1000000, &d) <= 95);
    json_decref(d);
}

/* Details of a past run with the disk at `used` bytes used and `avail` free. */
static char *past(int64_t used, int64_t avail)
{
    json_t *d = json_pack("{s:i, s:[{s:s, s:I, s:I, s:I}]}", "score", 100, "disks", "path", dirs[0],
                          "total", (json_int_t)(100 * GB), "avail", (json_int_t)avail, "used_bytes",
                          (json_int_t)used);
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    return text;
}

static void test_disk_full_forecast(void **state)
{
    struct fake f;
    int64_t now = 2000000000;
    json_t *d, *fc;
    (void)state;

    setup_fake(&f);
    /* 1 GB an hour for the last three hours; 5 GB left: full in 5 hours. */
    char *t1 = past(92 * GB, 8 * GB), *t2 = past(93 * GB, 7 * GB), *t3 = past(94 * GB, 6 * GB);
    const char *details[] = {t3, t2, t1};
    int64_t at[] = {now - 3600, now - 7200, now - 10800};
    struct host_history h = {.details = details, .at = at, .n = 3};
    f.avail = 5 * GB;
    int score = assess(&f, NULL, &h, now, &d);
    fc = json_object_get(d, "forecast");
    assert_true(json_is_object(fc));
    assert_true(json_number_value(json_object_get(fc, "hours")) == 5.0);
    assert_string_equal(json_string_value(json_object_get(fc, "level")), "critical");
    /* The disk itself is critical (95%): 50 points, cap 25; the forecast 40 more. */
    assert_string_equal(level(d, "disk:/var/lib/candlekeep"), "critical");
    assert_true(score <= 25);
    json_decref(d);

    /* Samples older than the window do not count: too few left, no forecast. */
    int64_t old[] = {now - 7 * 3600, now - 8 * 3600, now - 9 * 3600};
    h.at = old;
    assess(&f, NULL, &h, now, &d);
    assert_true(json_is_null(json_object_get(d, "forecast")));
    json_decref(d);

    /* A disk that is not filling has no forecast; one filling slowly is only a warning. */
    h.at = at;
    f.avail = 30 * GB; /* used 70 GB: less than before, emptying */
    assess(&f, NULL, &h, now, &d);
    assert_true(json_is_null(json_object_get(d, "forecast")));
    json_decref(d);
    free(t1);
    free(t2);
    free(t3);
    t1 = past(60 * GB, 40 * GB);
    t2 = past(60 * GB + GB / 2, 40 * GB - GB / 2);
    t3 = past(61 * GB, 39 * GB);
    const char *slow[] = {t3, t2, t1};
    h.details = slow;
    f.avail = 39 * GB - GB / 2; /* half a GB an hour: 77 hours */
    assess(&f, NULL, &h, now, &d);
    assert_true(json_is_object(json_object_get(d, "forecast")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "forecast"), "level")),
                        "ok");
    json_decref(d);
    f.avail = 30 * GB; /* jumps 9 GB in the last hour: full in about 10 hours */
    assess(&f, NULL, &h, now, &d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "forecast"), "level")),
                        "warn");
    json_decref(d);
    free(t1);
    free(t2);
    free(t3);
}

static void test_summary_and_thresholds_parse(void **state)
{
    struct fake f;
    struct host_summary s;
    struct host_thresholds t;
    struct strbuf why = STRBUF_INIT;
    json_t *d;
    char *text;
    (void)state;

    setup_fake(&f);
    set_memory(&f, 86);
    int score = assess(&f, NULL, NULL, 1000000, &d);
    text = json_dumps(d, JSON_COMPACT);
    assert_true(host_summary_parse(text, 1000000, &s));
    assert_int_equal(s.score, score);
    assert_int_equal(s.nparts, 5);
    assert_string_equal(s.parts[1].name, "memory");
    assert_int_equal(s.parts[1].level, HOST_HIGH);
    assert_false(s.parts[0].known); /* cpu */
    host_summary_release(&s);
    assert_false(host_summary_parse("{\"job_runs_deleted\": 3}", 1, &s));
    assert_false(host_summary_parse("not json", 1, &s));
    free(text);
    json_decref(d);

    assert_int_equal(host_thresholds_parse("70, 80 95", &t, &why), 0);
    assert_true(t.warn == 70 && t.high == 80 && t.critical == 95);
    static const char *const bad[] = {"80 85",      "90 85 80", "0 50 60",
                                      "80 85 1001", "a b c",    "80 80 90"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        strbuf_reset(&why);
        if (!host_thresholds_parse(bad[i], &t, &why))
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(why.buf, "ascending percentages"));
    }
    strbuf_release(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readings_and_a_healthy_score),
        cmocka_unit_test(test_thresholds_and_hysteresis),
        cmocka_unit_test(test_unknown_values),
        cmocka_unit_test(test_disk_full_forecast),
        cmocka_unit_test(test_summary_and_thresholds_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
