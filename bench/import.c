/* SPDX-License-Identifier: MIT */
/*
 * CSV import throughput: how many candles a second `candlekeep import`
 * reads, validates and stores.
 *
 * A Binance kline file of 1,000,000 M1 lines (12 columns, no header,
 * millisecond times, 8-decimal prices and volumes, a random walk around
 * 42000 as BTC/USDT) is written to a temporary directory and imported with
 * import_csv(), the engine of the command, into a fresh store: parse and
 * validation, the upsert in one transaction, then the gap scan of the
 * imported range on the crypto calendar. It is imported a second time
 * (every row conflicts, nothing changes). The phases are timed through the
 * progress callback.
 *
 * Usage: bench_import [STORE_URL]. Without a URL the store is a new SQLite
 * file in the temporary directory; with one (e.g. a PostgreSQL URL) the
 * series is written under a source name unique to this run and left there.
 * The temporary directory is removed at the end.
 */
#include "ingest/import.h"
#include "market/calendar.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define NLINES 1000000
/* 2023-01-01T00:00:00Z: a million M1 candles end in 2024-11. */
#define START_MS 1672531200000LL

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of this process: what the import costs whatever else the machine runs. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Price in cents as Binance writes it: "42000.01000000". */
static void add_cents(struct strbuf *sb, int64_t cents)
{
    strbuf_addf(sb, "%lld.%02lld000000", (long long)(cents / 100), (long long)(cents % 100));
}

static int write_file(const char *path, size_t *bytes)
{
    struct strbuf sb = STRBUF_INIT;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int64_t price = 4200000; /* cents */
    FILE *fp = fopen(path, "w");

    if (!fp) {
        perror("bench_import: fopen");
        return 1;
    }
    *bytes = 0;
    for (size_t i = 0; i < NLINES; i++) {
        int64_t t = START_MS + (int64_t)i * 60000;
        int64_t open = price, close = open + (int64_t)(rng_next(&seed) % 2001) - 1000;
        int64_t hi = (open > close ? open : close) + (int64_t)(rng_next(&seed) % 500);
        int64_t lo = (open < close ? open : close) - (int64_t)(rng_next(&seed) % 500);
        uint64_t vol = rng_next(&seed) % 10000000000ULL; /* up to 100 with 8 decimals */

        if (close < 1000000)
            close += 2000;
        strbuf_addf(&sb, "%lld,", (long long)t);
        add_cents(&sb, open);
        strbuf_addch(&sb, ',');
        add_cents(&sb, hi > close ? hi : close);
        strbuf_addch(&sb, ',');
        add_cents(&sb, lo < close ? lo : close);
        strbuf_addch(&sb, ',');
        add_cents(&sb, close);
        strbuf_addf(
            &sb, ",%llu.%08llu,%lld,%llu.%08llu,%llu,%llu.%08llu,%llu.%08llu,0\n",
            (unsigned long long)(vol / 100000000), (unsigned long long)(vol % 100000000),
            (long long)(t + 59999), (unsigned long long)(vol * 42 / 100000000),
            (unsigned long long)(vol * 42 % 100000000), (unsigned long long)(vol % 977),
            (unsigned long long)(vol / 200000000), (unsigned long long)(vol / 2 % 100000000),
            (unsigned long long)(vol * 21 / 100000000), (unsigned long long)(vol * 21 % 100000000));
        price = close;
        if (sb.len > (1 << 20)) {
            fwrite(sb.buf, 1, sb.len, fp);
            *bytes += sb.len;
            strbuf_reset(&sb);
        }
    }
    fwrite(sb.buf, 1, sb.len, fp);
    *bytes += sb.len;
    strbuf_release(&sb);
    return fclose(fp) ? 1 : 0;
}

/* When each phase began (the progress callback's first call of it). */
struct phases {
    double start[3];
    bool seen[3];
};

static void on_progress(void *arg, enum import_phase phase, size_t done, size_t total)
{
    struct phases *ph = arg;
    (void)done;
    (void)total;
    if (!ph->seen[phase]) {
        ph->seen[phase] = true;
        ph->start[phase] = now_seconds();
    }
}

static int run(struct import_request *rq, const char *label)
{
    struct strbuf err = STRBUF_INIT;
    struct import_stats st;
    struct phases ph = {0};
    char rate[32];
    double t0, t1, c0, c1;
    int rc;

    rq->progress = on_progress;
    rq->progress_arg = &ph;
    t0 = now_seconds();
    c0 = cpu_seconds();
    rc = import_csv(rq, &st, NULL, &err);
    t1 = now_seconds();
    c1 = cpu_seconds();
    if (rc) {
        fprintf(stderr, "bench_import: %s: %s\n", label, err.buf);
        strbuf_release(&err);
        return 1;
    }
    if (st.candles != NLINES || st.gaps_open) {
        fprintf(stderr, "bench_import: %s: %zu candles, %zu gaps\n", label, st.candles,
                st.gaps_open);
        return 1;
    }
    double store_at = ph.seen[IMPORT_STORE] ? ph.start[IMPORT_STORE] : t1;
    double gaps_at = ph.seen[IMPORT_GAPS] ? ph.start[IMPORT_GAPS] : t1;
    group_thousands((uint64_t)((double)st.candles / (t1 - t0)), rate, sizeof(rate));
    printf("%s %s: %zu candles in %.3f s = %s candles/s (read+validate %.3f s, store %.3f s, "
           "gap scan %.3f s; this process's CPU %.3f s)\n",
           store_backend_name(rq->store), label, st.candles, t1 - t0, rate, store_at - t0,
           gaps_at - store_at, t1 - gaps_at, c1 - c0);
    fflush(stdout);
    strbuf_release(&err);
    return 0;
}

int main(int argc, char **argv)
{
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT, source = STRBUF_INIT, path = STRBUF_INIT;
    char tmpdir[] = "/tmp/ckbench.XXXXXX";
    struct calendar *cal = NULL;
    struct store *st = NULL;
    size_t bytes = 0;
    int status = 1;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [STORE_URL]\n", argv[0]);
        return 2;
    }
    if (!mkdtemp(tmpdir)) {
        perror("bench_import: mkdtemp");
        return 1;
    }
    if (argc < 2)
        strbuf_addf(&url, "sqlite:%s/bench.db", tmpdir);
    else
        strbuf_addstr(&url, argv[1]);
    strbuf_addf(&path, "%s/BTCUSDT-1m.csv", tmpdir);
    strbuf_addf(&source, "bench%ld_%lld", (long)getpid(), (long long)time(NULL));

    double t0 = now_seconds();
    if (write_file(path.buf, &bytes))
        goto out;
    printf("wrote %d Binance kline lines (%.1f MB) in %.3f s\n", NLINES, (double)bytes / 1e6,
           now_seconds() - t0);
    if (calendar_open(&cal, CAL_CRYPTO, NULL, 0, NULL, &err) || store_open(&st, url.buf, &err)) {
        fprintf(stderr, "bench_import: %s\n", err.buf);
        goto out;
    }
    struct import_request rq = {
        .path = path.buf,
        .source = source.buf,
        .symbol = "BTC/USDT",
        .tf = TF_M1,
        .format = CSV_AUTO,
        .now = time_now(),
        .cal = cal,
        .store = st,
    };
    if (run(&rq, "import (fresh)") || run(&rq, "re-import (unchanged)"))
        goto out;
    status = 0;
out:
    store_close(st);
    calendar_free(cal);
    unlink(path.buf);
    if (argc < 2) {
        strbuf_setlen(&path, 0);
        strbuf_addf(&path, "%s/bench.db", tmpdir);
        unlink(path.buf);
        strbuf_addstr(&path, "-wal");
        unlink(path.buf);
        strbuf_setlen(&path, path.len - 4);
        strbuf_addstr(&path, "-shm");
        unlink(path.buf);
    }
    rmdir(tmpdir);
    strbuf_release(&err);
    strbuf_release(&url);
    strbuf_release(&source);
    strbuf_release(&path);
    return status;
}
