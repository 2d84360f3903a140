/* SPDX-License-Identifier: MIT */
/*
 * Fill a store with one long series of candles, for benchmarks that need
 * a realistic database (bench/api.sh: the API over a million M15 candles).
 *
 * The series is a deterministic random walk around 2000.00 with
 * two-decimal prices and no volume (like XAU/USD from Twelve Data),
 * `count` candles ending with the last period that closed before now, so
 * the newest candle is as fresh as a live series'. Candles are upserted in
 * batches of 5,000, one store_put_candles() call (one transaction) each;
 * the time taken is printed.
 *
 * Usage:
 *   bench_fill_candles --url URL [--count N] [--source S] [--symbol SYM] [--timeframe TF]
 *
 * Defaults: 1,000,000 candles of twelvedata XAU/USD M15. Run without
 * options (as bench/run.sh runs every benchmark), it only says what it is
 * for and exits 0: it measures nothing on its own.
 */
#include "market/candle.h"
#include "market/timeframe.h"
#include "store/store.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

#define BATCH 5000
#define CENT  1000000LL /* 0.01 at the price scale */

static void usage(FILE *fp)
{
    fprintf(fp, "usage: bench_fill_candles --url URL [--count N] [--source S] [--symbol SYM]\n"
                "                          [--timeframe TF]\n"
                "Fill a store with one series of N candles (default 1,000,000 twelvedata\n"
                "XAU/USD M15) ending now; a helper of bench/api.sh.\n");
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64: deterministic and independent of libc's rand(). */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The next candle of the walk; `price` (in cents) carries the walk. */
static void next_candle(struct candle *c, int64_t t, int64_t *price, uint64_t *seed)
{
    int64_t open = *price;
    int64_t close = open + (int64_t)(rng_next(seed) % 201) - 100;
    if (close < 100000)
        close += 200;
    int64_t hi = (open > close ? open : close) + (int64_t)(rng_next(seed) % 50);
    int64_t lo = (open < close ? open : close) - (int64_t)(rng_next(seed) % 50);
    *c = (struct candle){.open_time = t,
                         .open = open * CENT,
                         .high = hi * CENT,
                         .low = lo * CENT,
                         .close = close * CENT};
    *price = close;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"count", required_argument, NULL, 'n'},
        {"source", required_argument, NULL, 's'},
        {"symbol", required_argument, NULL, 'y'},
        {"timeframe", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct series_key key = {.source = "twelvedata", .symbol = "XAU/USD", .tf = TF_M15};
    struct strbuf err = STRBUF_INIT;
    const char *url = NULL;
    struct store *st = NULL;
    struct candle *batch;
    int64_t count = 1000000, period, first, price = 2000 * 100;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    double t0;
    int c, rc = 0;

    if (argc < 2 || strncmp(argv[1], "--", 2) != 0) {
        printf("bench_fill_candles: a helper of bench/api.sh, nothing to measure alone\n");
        return 0;
    }
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'n':
            if (parse_int64(optarg, 1, 100000000, &count)) {
                fprintf(stderr, "bench_fill_candles: --count '%s' is not 1..100000000\n", optarg);
                return 2;
            }
            break;
        case 's':
            key.source = optarg;
            break;
        case 'y':
            key.symbol = optarg;
            break;
        case 't':
            if (timeframe_parse(optarg, &key.tf)) {
                fprintf(stderr, "bench_fill_candles: --timeframe '%s' is not one of %s\n", optarg,
                        timeframe_all_names());
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!url || optind < argc) {
        usage(stderr);
        return 2;
    }

    period = timeframe_seconds(key.tf);
    /* The last period that closed before now is the newest candle. */
    first = timeframe_floor(key.tf, time_now()) - count * period;

    if (store_open(&st, url, &err)) {
        fprintf(stderr, "bench_fill_candles: %s\n", err.buf);
        return 1;
    }
    batch = xmalloc(BATCH * sizeof(*batch));
    t0 = now_seconds();
    for (int64_t done = 0; done < count;) {
        size_t n = (size_t)(count - done < BATCH ? count - done : BATCH);
        for (size_t i = 0; i < n; i++)
            next_candle(&batch[i], first + (done + (int64_t)i) * period, &price, &seed);
        if (store_put_candles(st, &key, batch, n, &err)) {
            fprintf(stderr, "bench_fill_candles: %s\n", err.buf);
            rc = 1;
            goto out;
        }
        done += (int64_t)n;
    }
    double secs = now_seconds() - t0;
    char a[TIME_BUFSZ], b[TIME_BUFSZ];
    time_format_iso8601(first, a);
    time_format_iso8601(first + (count - 1) * period, b);
    printf("bench_fill_candles: %lld %s %s %s candles from %s to %s in %.1fs (%.0f/s)\n",
           (long long)count, key.source, key.symbol, timeframe_name(key.tf), a, b, secs,
           (double)count / secs);
out:
    free(batch);
    store_close(st);
    strbuf_release(&err);
    return rc;
}
