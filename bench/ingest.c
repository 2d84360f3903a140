/* SPDX-License-Identifier: MIT */
/*
 * Ingest throughput: how many candles a second the store upserts.
 *
 * One series of 1,000,000 M15 candles (a random walk around 2000.00 with
 * two-decimal prices and no volume, like XAU/USD from Twelve Data) is
 * upserted in batches of 5,000, each batch one store_put_candles() call and
 * so one transaction, three times: into a fresh store, again with identical
 * values (every row conflicts, nothing changes), and again with every close
 * moved by a cent (every row conflicts and is rewritten).
 *
 * Usage: bench_ingest [STORE_URL]. Without a URL the store is a new SQLite
 * file in a temporary directory, removed at the end. With one (e.g. a
 * PostgreSQL URL) the series is written under a source name unique to this
 * run, so "fresh" is fresh on a database in use too, and is left there.
 */
#include "market/calendar.h"
#include "market/candle.h"
#include "market/gaps.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define NCANDLES 1000000
#define BATCH    5000
/* 1995-01-02T00:00:00Z: a million M15 candles end in 2023. */
#define START_TIME 789004800LL
#define CENT       1000000LL /* 0.01 at the price scale */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1234567" -> "1,234,567" */
static void group_thousands(uint64_t v, char *buf, size_t size)
{
    char digits[32];
    size_t n = (size_t)snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v), o = 0;
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* A deterministic random walk in whole cents; xorshift keeps it libc-free. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void make_candles(struct candle *v, size_t n)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int64_t price = 2000 * 100; /* in cents */

    for (size_t i = 0; i < n; i++) {
        int64_t open = price;
        int64_t close = open + (int64_t)(rng_next(&seed) % 201) - 100;
        int64_t hi = (open > close ? open : close) + (int64_t)(rng_next(&seed) % 50);
        int64_t lo = (open < close ? open : close) - (int64_t)(rng_next(&seed) % 50);
        if (close < 100000) /* keep the walk in a plausible band */
            close += 200;
        if (lo < 1)
            lo = 1;
        v[i] = (struct candle){
            .open_time = START_TIME + (int64_t)i * 900,
            .open = open * CENT,
            .high = (hi > close ? hi : close) * CENT,
            .low = (lo < close ? lo : close) * CENT,
            .close = close * CENT,
        };
        price = close;
    }
}

static int run_pass(struct store *st, const struct series_key *k, const struct candle *v, size_t n,
                    const char *label)
{
    struct strbuf err = STRBUF_INIT;
    char rate[32];
    double t0 = now_seconds(), dt;

    for (size_t i = 0; i < n; i += BATCH) {
        size_t m = n - i < BATCH ? n - i : BATCH;
        int rc = store_put_candles(st, k, v + i, m, &err);
        if (rc) {
            fprintf(stderr, "bench_ingest: %s: %s\n", label, err.buf);
            strbuf_release(&err);
            return 1;
        }
    }
    dt = now_seconds() - t0;
    group_thousands((uint64_t)((double)n / dt), rate, sizeof(rate));
    printf("%s %s: %zu candles in %.3f s = %s candles/s\n", store_backend_name(st), label, n, dt,
           rate);
    fflush(stdout);
    strbuf_release(&err);
    return 0;
}

/* Check the passes did what they claim: every candle there, the last values read back. */
static int verify(struct store *st, const struct series_key *k, const struct candle *v, size_t n)
{
    struct strbuf err = STRBUF_INIT;
    struct candle_query q = {.series = *k, .order = STORE_DESC, .limit = 1};
    struct candle_vec out = CANDLE_VEC_INIT;
    int64_t count = 0;
    int rc = store_count_candles(st, &q, &count, &err);

    if (!rc)
        rc = store_query_candles_vec(st, &q, &out, &err);
    if (!rc && (count != (int64_t)n || out.n != 1 || out.v[0].close != v[n - 1].close)) {
        strbuf_addf(&err, "expected %zu candles with the last close changed, found %lld", n,
                    (long long)count);
        rc = CK_EIO;
    }
    if (rc)
        fprintf(stderr, "bench_ingest: verify: %s\n", err.buf);
    candle_vec_release(&out);
    strbuf_release(&err);
    return rc ? 1 : 0;
}

/*
 * Gap detection over one year (2024) of M1 candles on the metals calendar
 * with a few hundred holes: gaps_find() alone, and the whole scan the
 * ingest job does (read the stored open times back with
 * store_candle_times(), then gaps_find), best of 5 and the first, right
 * after writing and again after the store's upkeep.
 */
static int bench_gaps(struct store *st, const char *source)
{
    struct strbuf err = STRBUF_INIT;
    struct calendar *cal = NULL;
    struct calendar_session *sess = NULL;
    size_t nsess = 0, sess_alloc = 0;
    int64_t from = days_from_civil(2024, 1, 1) * 86400, to = days_from_civil(2025, 1, 1) * 86400;
    int64_t *have = NULL;
    size_t nhave = 0, have_alloc = 0, holes = 0;
    uint64_t seed = 42;
    int rc = 1;

    if (calendar_open(&cal, CAL_METALS, NULL, 0, NULL, &err)) {
        fprintf(stderr, "bench_ingest: gaps: %s\n", err.buf);
        goto out;
    }
    calendar_sessions(cal, from, to, &sess, &nsess, &sess_alloc);
    for (size_t i = 0; i < nsess; i++) {
        for (int64_t t = timeframe_floor(TF_M1, sess[i].start); t < sess[i].end; t += 60) {
            if (t < sess[i].start || !calendar_expects(cal, TF_M1, t))
                continue;
            /* About one hole per 1,200 candles, a few candles each. */
            if (rng_next(&seed) % 1200 == 0) {
                holes++;
                t += 60 * (int64_t)(rng_next(&seed) % 5);
                continue;
            }
            ALLOC_GROW(have, nhave + 1, have_alloc);
            have[nhave++] = t;
        }
    }

    double best = 1e9;
    size_t ngaps = 0;
    for (int round = 0; round < 5; round++) {
        struct gap_range *g = NULL;
        size_t n = 0, alloc = 0;
        double t0 = now_seconds();
        gaps_find(cal, TF_M1, from, to, have, nhave, &g, &n, &alloc);
        double dt = now_seconds() - t0;
        if (dt < best)
            best = dt;
        ngaps = n;
        free(g);
    }
    printf("gap detection (gaps_find): 1 year of M1 metals, %zu candles, %zu holes -> %zu gaps "
           "in %.3f ms (best of 5)\n",
           nhave, holes, ngaps, best * 1000);

    /* The same through the store: what a rescan costs end to end. */
    struct series_key k = {source, "XAU/USD", TF_M1};
    struct candle_vec cv = CANDLE_VEC_INIT;
    for (size_t i = 0; i < nhave; i++) {
        struct candle c = {.open_time = have[i],
                           .open = 200000000000,
                           .high = 200100000000,
                           .low = 199900000000,
                           .close = 200050000000};
        candle_vec_push(&cv, &c);
    }
    for (size_t off = 0; off < cv.n; off += BATCH) {
        size_t n = cv.n - off < BATCH ? cv.n - off : BATCH;
        if (store_put_candles(st, &k, cv.v + off, n, &err)) {
            fprintf(stderr, "bench_ingest: gaps: %s\n", err.buf);
            candle_vec_release(&cv);
            goto out;
        }
    }
    candle_vec_release(&cv);
    /*
     * Freshly written rows are not yet all-visible on PostgreSQL, so its
     * index-only scan still visits the table; the store's upkeep (VACUUM)
     * brings the steady state a running daemon sees after autovacuum.
     */
    for (int pass = 0; pass < 2; pass++) {
        double first = 0, fastest = 1e9;
        size_t ngot = 0, ng = 0;
        if (pass == 1) {
            struct store_upkeep u = {0};
            int urc = store_upkeep(st, &u, &err);
            store_upkeep_release(&u);
            if (urc) {
                fprintf(stderr, "bench_ingest: gaps: upkeep: %s\n", err.buf);
                goto out;
            }
        }
        for (int round = 0; round < 5; round++) {
            struct candle_query q = {.series = k,
                                     .has_start = true,
                                     .start = from,
                                     .has_end = true,
                                     .end = to - 1,
                                     .order = STORE_ASC};
            struct gap_range *g = NULL;
            int64_t *got = NULL;
            size_t n = 0, alloc = 0;
            double t0 = now_seconds();
            if (store_candle_times(st, &q, &got, &ngot, &err)) {
                fprintf(stderr, "bench_ingest: gaps: %s\n", err.buf);
                goto out;
            }
            gaps_find(cal, TF_M1, from, to, got, ngot, &g, &n, &alloc);
            double dt = now_seconds() - t0;
            if (!round)
                first = dt;
            if (dt < fastest)
                fastest = dt;
            ng = n;
            free(g);
            free(got);
        }
        printf("gap scan through %s (read %zu open times + gaps_find): %zu gaps in %.1f ms "
               "(best of 5; first %.1f ms)%s\n",
               store_backend_name(st), ngot, ng, fastest * 1000, first * 1000,
               pass ? " after the store's upkeep" : "");
    }
    rc = 0;
out:
    free(have);
    free(sess);
    calendar_free(cal);
    strbuf_release(&err);
    return rc;
}

int main(int argc, char **argv)
{
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT, source = STRBUF_INIT;
    char tmpdir[] = "/tmp/ckbench.XXXXXX";
    bool own_db = argc < 2;
    struct store *st = NULL;
    struct candle *v;
    int status = 1;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [STORE_URL]\n", argv[0]);
        return 2;
    }
    if (own_db) {
        if (!mkdtemp(tmpdir)) {
            perror("bench_ingest: mkdtemp");
            return 1;
        }
        strbuf_addf(&url, "sqlite:%s/bench.db", tmpdir);
    } else {
        strbuf_addstr(&url, argv[1]);
    }
    strbuf_addf(&source, "bench%ld_%lld", (long)getpid(), (long long)time(NULL));
    const struct series_key k = {source.buf, "XAU/USD", TF_M15};

    v = xmalloc(NCANDLES * sizeof(*v));
    make_candles(v, NCANDLES);
    if (store_open(&st, url.buf, &err)) {
        fprintf(stderr, "bench_ingest: %s\n", err.buf);
        goto out;
    }
    if (run_pass(st, &k, v, NCANDLES, "fresh upsert"))
        goto out;
    if (run_pass(st, &k, v, NCANDLES, "re-upsert (unchanged)"))
        goto out;
    for (size_t i = 0; i < NCANDLES; i++) {
        v[i].close += CENT;
        if (v[i].high < v[i].close)
            v[i].high = v[i].close;
    }
    if (run_pass(st, &k, v, NCANDLES, "re-upsert (changed)"))
        goto out;
    if (verify(st, &k, v, NCANDLES))
        goto out;
    if (bench_gaps(st, source.buf))
        goto out;
    if (!own_db)
        printf("note: bench series '%s XAU/USD M15 and M1' are left in the database\n", source.buf);
    status = 0;
out:
    store_close(st);
    free(v);
    if (own_db) {
        static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm"};
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
            struct strbuf p = STRBUF_INIT;
            strbuf_addf(&p, "%s/%s", tmpdir, files[i]);
            unlink(p.buf);
            strbuf_release(&p);
        }
        rmdir(tmpdir);
    }
    strbuf_release(&source);
    strbuf_release(&url);
    strbuf_release(&err);
    return status;
}
