/* SPDX-License-Identifier: MIT */
/*
 * Coverage map speed: 10 series of 1,000,000 M1 candles each (crypto
 * calendar, a hole of 1,000 candles in each), then the map of all of them
 * (health/coverage.h: one extent statement per series, the expected
 * candles counted per session, the gap ledger listed per state), timed
 * three times. Printed: the fill time, and per run the seconds for the
 * whole map and per series (wall clock, and the process's CPU time,
 * which the database's work is part of with SQLite); the first run's figures also check the
 * arithmetic (stored, expected, missing per series).
 *
 * Usage: bench_coverage [--url URL] [--series N] [--rows N]
 *   --url     the store (default: a new SQLite file in a temporary
 *             directory, removed at the end)
 *   --series  series to fill (default 10)
 *   --rows    candles per series (default 1000000)
 */
#include "health/coverage.h"
#include "market/calendar.h"
#include "market/candle.h"
#include "source/source_settings.h"
#include "store/store.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define FILL_BATCH 5000
#define HOLE       1000
/* 2022-01-01T00:00:00Z: the first candle. */
#define START_TIME 1640995200LL

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double seconds(void)
{
    return clock_seconds(CLOCK_MONOTONIC);
}

/* Fill one series of `rows` M1 candles, leaving out HOLE of them in the middle. */
static int fill(struct store *st, const struct series_key *k, int64_t rows, struct strbuf *err)
{
    struct candle *v = xmalloc(FILL_BATCH * sizeof(*v));
    int64_t hole_at = rows / 2;
    size_t n = 0;
    int rc = 0;

    for (int64_t i = 0; i < rows + HOLE && !rc; i++) {
        if (i >= hole_at && i < hole_at + HOLE)
            continue;
        v[n++] = (struct candle){.open_time = START_TIME + i * 60,
                                 .open = 100000000000,
                                 .high = 100100000000,
                                 .low = 99900000000,
                                 .close = 100050000000,
                                 .volume = 100000000,
                                 .has_volume = true};
        if (n == FILL_BATCH || i == rows + HOLE - 1) {
            rc = store_put_candles(st, k, v, n, err);
            n = 0;
        }
    }
    free(v);
    return rc;
}

static int parse_args(int argc, char **argv, const char **url, int64_t *nseries, int64_t *rows)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"series", required_argument, NULL, 's'},
                                         {"rows", required_argument, NULL, 'r'},
                                         {0}};
    int c;

    while ((c = getopt_long(argc, argv, "u:s:r:", opts, NULL)) != -1) {
        int bad = 0;
        if (c == 'u')
            *url = optarg;
        else if (c == 's')
            bad = parse_int64(optarg, 1, 1000, nseries);
        else if (c == 'r')
            bad = parse_int64(optarg, 2, 100000000, rows);
        else
            bad = -1;
        if (bad)
            return -1;
    }
    return optind == argc ? 0 : -1;
}

/* Time the map three times; check the first run's figures. */
static int run_map(struct store *st, const struct source_settings *src, const struct calendar *cal,
                   int64_t rows, struct strbuf *err)
{
    const struct calendar *cals[] = {cal};
    int64_t keep[TF_COUNT] = {0};
    struct coverage_filter all = {0};
    int64_t now = START_TIME + (rows + HOLE) * 60 + 30;

    for (int run = 1; run <= 3; run++) {
        struct coverage cov;
        double t0 = seconds(), c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID), dt, cpu;
        int rc = coverage_build(st, src, 1, cals, keep, &all, now, &cov, err);

        dt = seconds() - t0;
        cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
        if (rc) {
            coverage_release(&cov);
            return rc;
        }
        /* The CPU time too: on a shared machine the wall clock also counts others' work. */
        printf("coverage of %zu series x %lld candles: %.3f s (%.1f ms per series), "
               "%.3f s of CPU\n",
               cov.n, (long long)rows, dt, dt * 1000 / (double)cov.n, cpu);
        for (size_t i = 0; run == 1 && i < cov.n; i++)
            if (cov.v[i].stored != rows || cov.v[i].expected != rows + HOLE ||
                cov.v[i].missing != HOLE || cov.v[i].behind != 0) {
                fprintf(stderr, "bench_coverage: %s: stored %lld expected %lld missing %lld\n",
                        cov.v[i].symbol, (long long)cov.v[i].stored, (long long)cov.v[i].expected,
                        (long long)cov.v[i].missing);
                coverage_release(&cov);
                return -1;
            }
        coverage_release(&cov);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT, source = STRBUF_INIT;
    char tmpdir[] = "/tmp/ckbench.XXXXXX";
    const char *given = NULL;
    int64_t nseries = 10, rows = 1000000;
    struct calendar *cal = NULL;
    struct store *st = NULL;
    char **symbols;
    int status = 1;

    if (parse_args(argc, argv, &given, &nseries, &rows)) {
        fprintf(stderr, "usage: %s [--url URL] [--series N] [--rows N]\n", argv[0]);
        return 2;
    }
    if (!given && !mkdtemp(tmpdir)) {
        perror("bench_coverage: mkdtemp");
        return 1;
    }
    if (given)
        strbuf_addstr(&url, given);
    else
        strbuf_addf(&url, "sqlite:%s/bench.db", tmpdir);
    strbuf_addf(&source, "bench%ld", (long)getpid());
    symbols = xcalloc((size_t)nseries, sizeof(*symbols));
    for (int64_t i = 0; i < nseries; i++) {
        struct strbuf sym = STRBUF_INIT;
        strbuf_addf(&sym, "C%lld/USD", (long long)i);
        symbols[i] = strbuf_detach(&sym, NULL);
    }
    struct source_settings src = {.name = source.buf,
                                  .symbols = symbols,
                                  .nsymbols = (size_t)nseries,
                                  .timeframes = {TF_M1},
                                  .ntimeframes = 1,
                                  .calendar = CAL_CRYPTO};

    if (calendar_open(&cal, CAL_CRYPTO, NULL, 0, NULL, &err) || store_open(&st, url.buf, &err))
        goto out;
    double t0 = seconds();
    for (int64_t i = 0; i < nseries; i++) {
        struct series_key k = {.source = source.buf, .symbol = symbols[i], .tf = TF_M1};
        if (fill(st, &k, rows, &err))
            goto out;
    }
    printf("filled %lld series x %lld M1 candles in %.1f s (%s)\n", (long long)nseries,
           (long long)rows, seconds() - t0, given ? "the given store" : "SQLite");
    if (run_map(st, &src, cal, rows, &err))
        goto out;
    status = 0;
out:
    if (status && err.len)
        fprintf(stderr, "bench_coverage: %s\n", err.buf);
    store_close(st);
    calendar_free(cal);
    for (int64_t i = 0; i < nseries; i++)
        free(symbols[i]);
    free(symbols);
    if (!given) {
        static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
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
