/* SPDX-License-Identifier: MIT */
/*
 * The parts of backup/ that need no database: which backups retention
 * keeps (table-driven over hand-made listings, failed and unverified
 * backups among them), the encryption key file, and the compressions'
 * names. The rest (copy, drill, restore) is tested through the binary in
 * tests/integration/test_backup*.sh.
 */
#include "testutil.h"

#include "backup/backup.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define DAY 86400LL

/* A listing from a string, newest first: one letter per backup, a day apart going back. */
struct listing {
    struct backup_info v[64];
    size_t n;
};

/* 'o': verified ok, 'f': drill failed, 'u': unverified; `t0` the newest's time. */
static void make_listing(struct listing *l, const char *kinds, int64_t t0, int64_t step)
{
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; kinds[i]; i++) {
        struct backup_info *b = &l->v[l->n++];
        b->created = t0 - (int64_t)i * step;
        b->verified = kinds[i] != 'u';
        b->verify_ok = kinds[i] == 'o';
    }
}

/* Which are kept, as a string of 'k' and '-'. */
static void kept(const struct listing *l, int64_t d, int64_t w, int64_t m, char *out)
{
    bool keep[64];
    backup_retention(l->v, l->n, d, w, m, keep);
    for (size_t i = 0; i < l->n; i++)
        out[i] = keep[i] ? 'k' : '-';
    out[l->n] = '\0';
}

static void test_retention_table(void **state)
{
    /* 2024-03-15 (a Friday) 01:30 UTC. */
    const int64_t t0 = 1710466200LL;
    static const struct {
        const char *kinds;
        int64_t step, daily, weekly, monthly;
        const char *want;
    } cases[] = {
        /* Daily backups: the last 3 days kept, no weeks or months asked. */
        {"oooooo", DAY, 3, 0, 0, "kkk---"},
        /* Newer failed and unverified backups stay, and never count as verified. */
        {"fuooooo", DAY, 2, 0, 0, "kkkk---"},
        /* Nothing verified at all: nothing is deleted. */
        {"fffuu", DAY, 1, 0, 0, "kkkkk"},
        /* Two a day (12 h apart, from 01:30): 15th 01:30 and the 14th's newest, 13:30. */
        {"oooooo", DAY / 2, 2, 0, 0, "kk----"},
        /* Three a day, 8 h apart from 01:30 back: 15th 01:30; 14th 17:30; 13th 17:30. */
        {"ooooooo", DAY / 3, 3, 0, 0, "kk--k--"},
        /* A failed backup in the middle is not kept once older than a verified one. */
        {"oofoo", DAY, 5, 0, 0, "kk-kk"},
        /*
         * Weeks: Fri 15, Thu 14 ... Mon 11 are one week; Sun 10 .. Mon 4 the
         * previous one. 1 daily + 2 weekly: Fri 15, and Sun 10.
         */
        {"oooooooooooo", DAY, 1, 2, 0, "k----k------"},
        /* Months, a week apart from 15 March back: 15 Mar, then 23 Feb (the newest of Feb). */
        {"oooooooo", 7 * DAY, 0, 0, 2, "k--k----"},
        /* Zero of everything keeps only the newest verified (and what is newer). */
        {"uooo", DAY, 0, 0, 0, "kk--"},
    };
    char got[65];

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct listing l;
        make_listing(&l, cases[i].kinds, t0, cases[i].step);
        kept(&l, cases[i].daily, cases[i].weekly, cases[i].monthly, got);
        if (strcmp(got, cases[i].want))
            fail_msg("case %zu (%s): kept %s, want %s", i, cases[i].kinds, got, cases[i].want);
    }
}

/*
 * 60 days of daily backups with the defaults, from Friday 2024-03-15 back
 * to 2024-01-16: the days 9..15 March; the weeks' newest: 10 and 3 March
 * and 25 February (and the current week's, 15 March); the months' newest:
 * 29 February and 31 January (and 15 March). 11 in all.
 */
static void test_retention_defaults(void **state)
{
    const int64_t t0 = 1710466200LL;
    struct listing l;
    char kinds[61], got[65];

    (void)state;
    memset(kinds, 'o', 60);
    kinds[60] = '\0';
    make_listing(&l, kinds, t0, DAY);
    kept(&l, 7, 4, 6, got);
    assert_string_equal(got, "kkkkkkk-----k--k---k------------------------k---------------");
}

static char *write_file(const char *text)
{
    char *path = test_tmpfile(".key");
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_key_file(void **state)
{
    unsigned char key[BACKUP_KEY_SIZE];
    struct strbuf err = STRBUF_INIT;
    /* 32 bytes 0x00..0x1f. */
    const char *good = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
    char *path = write_file(good);

    (void)state;
    assert_int_equal(backup_key_load(path, key, &err), 0);
    for (int i = 0; i < BACKUP_KEY_SIZE; i++)
        assert_int_equal(key[i], i);
    free(path);

    static const char *const bad[] = {
        "c2hvcnQ=\n",                                       /* 5 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", /* 34 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=",     /* not base64 */
        "",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        path = write_file(bad[i]);
        strbuf_reset(&err);
        assert_int_equal(backup_key_load(path, key, &err), CK_ECONFIG);
        assert_non_null(strstr(err.buf, "does not hold 32 bytes in base64"));
        assert_non_null(strstr(err.buf, path));
        free(path);
    }
    strbuf_reset(&err);
    assert_int_equal(backup_key_load("/nonexistent/backup.key", key, &err), CK_ECONFIG);
    assert_non_null(strstr(err.buf, "/nonexistent/backup.key"));
    strbuf_release(&err);
}

static void test_compress_names(void **state)
{
    enum backup_compress c;
    (void)state;
    assert_int_equal(backup_compress_parse("zstd", &c), 0);
    assert_int_equal(c, BACKUP_ZSTD);
    assert_string_equal(backup_compress_name(BACKUP_GZIP), "gzip");
    assert_int_equal(backup_compress_parse("none", &c), 0);
    assert_int_equal(c, BACKUP_NONE);
    assert_int_equal(backup_compress_parse("lz4", &c), CK_EINVAL);
}

static void test_backup_dir(void **state)
{
    struct backup_settings s = {.dir = ""};
    char *d;
    (void)state;
    d = backup_dir(&s, "sqlite:/var/lib/ck/candlekeep.db");
    assert_string_equal(d, "/var/lib/ck/backups");
    free(d);
    d = backup_dir(&s, "sqlite:candlekeep.db");
    assert_string_equal(d, "./backups");
    free(d);
    d = backup_dir(NULL, "postgresql://u@h/db");
    assert_string_equal(d, "backups");
    free(d);
    s.dir = "/srv/bk";
    d = backup_dir(&s, "sqlite:/x.db");
    assert_string_equal(d, "/srv/bk");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_table), cmocka_unit_test(test_retention_defaults),
        cmocka_unit_test(test_key_file),        cmocka_unit_test(test_compress_names),
        cmocka_unit_test(test_backup_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
