/* SPDX-License-Identifier: MIT */
/*
 * Retention speed, and what it costs the API while it runs.
 *
 * One series of M15 candles (twelvedata XAU/USD, 2,000,000 by default) is
 * filled so that exactly half of them are older than 90 days at the
 * benchmark's "now"; then the retention run (jobs/retention.h, the same
 * code as the daily job, M15 = 90d and nothing else) deletes that half,
 * once per batch size asked for, the deleted half being put back before
 * each run, and the store's upkeep run after that (see settle()). Printed
 * per run: the rows deleted, the seconds, the batches (transactions).
 *
 * With --api BASE_URL (a running daemon on the same store, as
 * bench/retention.sh starts), a client thread keeps calling
 * GET BASE_URL/candles/M15?limit=100&end=T one request at a time on one
 * keep-alive connection (T a different time of the kept half each time,
 * so that the API's response cache does not answer instead of the
 * database), and the p50/p99/max latency of the requests
 * made during the delete is printed next to those of the two seconds
 * before it.
 *
 * Usage: bench_retention [--url URL] [--rows N] [--batches LIST] [--api BASE_URL]
 *   --url      the store (default: CK_BENCH_URL, else a new SQLite file in a
 *              temporary directory, removed at the end)
 *   --rows     candles in the series (even, default 2000000)
 *   --batches  comma-separated batch sizes, 0 = one transaction
 *              (default 10000)
 *   --fill-only  fill the series (or put its old half back) and stop
 */
#include "ck/settings.h"
#include "jobs/retention.h"
#include "market/candle.h"
#include "store/store.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <curl/curl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define FILL_BATCH 5000
#define CENT       1000000LL /* 0.01 at the price scale */
#define DAY        86400LL
/* 1990-01-01T00:00:00Z: the first candle. */
#define START_TIME 631152000LL

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

/* Upsert candles [from, to) of the series: a random walk in whole cents around 2000. */
static int fill(struct store *st, const struct series_key *k, size_t from, size_t to)
{
    struct candle *v = xcalloc(FILL_BATCH, sizeof(*v));
    struct strbuf err = STRBUF_INIT;
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ from;
    int64_t price = 2000 * 100;
    int rc = 0;

    for (size_t i = from; i < to && !rc;) {
        size_t n = 0;
        for (; n < FILL_BATCH && i < to; n++, i++) {
            int64_t open = price, close = open + (int64_t)(rng_next(&seed) % 201) - 100;
            if (close < 100000)
                close += 200;
            int64_t hi = (open > close ? open : close) + (int64_t)(rng_next(&seed) % 50);
            int64_t lo = (open < close ? open : close) - (int64_t)(rng_next(&seed) % 50);
            v[n] = (struct candle){.open_time = START_TIME + (int64_t)i * 900,
                                   .open = open * CENT,
                                   .high = hi * CENT,
                                   .low = lo * CENT,
                                   .close = close * CENT};
            price = close;
        }
        rc = store_put_candles(st, k, v, n, &err);
    }
    if (rc)
        fprintf(stderr, "bench_retention: fill: %s\n", err.buf);
    strbuf_release(&err);
    free(v);
    return rc;
}

/* --- the API client ------------------------------------------------------- */

enum phase { PHASE_BEFORE, PHASE_DURING, PHASE_STOP };

struct client {
    const char *url;
    atomic_int phase;
    double *lat[2]; /* ms, per phase */
    size_t n[2], alloc[2];
    size_t errors;
    int64_t newest; /* open time of the newest candle */
    size_t rows, k;
    pthread_t thread;
};

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
    (void)p;
    (void)arg;
    return size * nmemb;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    CURL *h = curl_easy_init();
    long status = 0;

    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    for (;;) {
        int ph = atomic_load(&c->phase);
        if (ph == PHASE_STOP)
            break;
        /*
         * Each request asks for a different page of the kept half (newest
         * first, ending k periods before the newest candle), so no
         * response cache answers for the database.
         */
        char end[TIME_BUFSZ];
        struct strbuf url = STRBUF_INIT;
        time_format_iso8601(c->newest - (int64_t)(c->k++ % (c->rows / 2 - 100)) * 900, end);
        strbuf_addf(&url, "%s&end=%s", c->url, end);
        curl_easy_setopt(h, CURLOPT_URL, url.buf);
        strbuf_release(&url);
        double t0 = now_seconds();
        CURLcode rc = curl_easy_perform(h);
        double ms = (now_seconds() - t0) * 1000;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            c->errors++;
            continue;
        }
        /* A request counts for the phase it started in. */
        ALLOC_GROW(c->lat[ph], c->n[ph] + 1, c->alloc[ph]);
        c->lat[ph][c->n[ph]++] = ms;
    }
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void percentiles(double *v, size_t n, char *buf, size_t size)
{
    if (!n) {
        snprintf(buf, size, "no requests");
        return;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    snprintf(buf, size, "p50 %.2f ms, p99 %.2f ms, max %.2f ms over %zu requests", v[n / 2],
             v[(size_t)((double)(n - 1) * 0.99)], v[n - 1], n);
}

/* --- the runs ----------------------------------------------------------- */

/*
 * After a fill, the store's upkeep (as the daily db_maintenance job does
 * long before candles reach the retention age): on PostgreSQL a VACUUM
 * (ANALYZE), so that the old rows are all-visible as 90-day-old rows are,
 * and no autovacuum of the freshly written ones lands in the middle of a
 * measurement; on SQLite a checkpoint (never a VACUUM here).
 */
static int settle(struct store *st)
{
    struct store_upkeep u = {.vacuum_min_free = INT64_MAX};
    struct strbuf err = STRBUF_INIT;
    int rc = store_upkeep(st, &u, &err);

    if (rc)
        fprintf(stderr, "bench_retention: upkeep: %s\n", err.buf);
    store_upkeep_release(&u);
    strbuf_release(&err);
    return rc;
}

static int run_one(struct store *st, size_t rows, size_t batch, const char *api)
{
    struct retention_settings rs = {.batch = (int64_t)batch};
    struct retention_result r;
    struct strbuf err = STRBUF_INIT;
    struct client c = {.url = api, .newest = START_TIME + (int64_t)(rows - 1) * 900, .rows = rows};
    char count[32], before[160], during[160];
    int64_t cutoff = START_TIME + (int64_t)(rows / 2) * 900;
    double t0, dt;
    int rc;

    rs.keep[TF_M15] = 90 * DAY;
    if (api) {
        atomic_init(&c.phase, PHASE_BEFORE);
        if (pthread_create(&c.thread, NULL, client_main, &c)) {
            fprintf(stderr, "bench_retention: cannot start the client thread\n");
            return 1;
        }
        sleep(2);
        atomic_store(&c.phase, PHASE_DURING);
    }
    t0 = now_seconds();
    /* batch 0 is one unbatched delete; retention_run() needs a size, so call the store. */
    if (batch)
        rc = retention_run(st, &rs, cutoff + 90 * DAY, false, NULL, NULL, &r, &err);
    else {
        memset(&r, 0, sizeof(r));
        r.batches = 1;
        rc = store_delete_candles_before(st, TF_M15, cutoff, 0, &r.deleted[TF_M15], &err);
    }
    dt = now_seconds() - t0;
    if (api) {
        atomic_store(&c.phase, PHASE_STOP);
        pthread_join(c.thread, NULL);
    }
    if (rc) {
        fprintf(stderr, "bench_retention: %s\n", err.buf);
        strbuf_release(&err);
        return 1;
    }
    group_thousands((uint64_t)r.deleted[TF_M15], count, sizeof(count));
    printf("%s batch %-7zu deleted %s M15 candles in %.3f s (%lld transactions)\n",
           store_backend_name(st), batch, count, dt, (long long)r.batches);
    if (api) {
        percentiles(c.lat[0], c.n[0], before, sizeof(before));
        percentiles(c.lat[1], c.n[1], during, sizeof(during));
        printf("    GET /candles/M15?limit=100 before: %s\n", before);
        printf("    GET /candles/M15?limit=100 during: %s%s\n", during,
               c.errors ? " (some requests failed)" : "");
    }
    fflush(stdout);
    free(c.lat[0]);
    free(c.lat[1]);
    strbuf_release(&err);
    if (r.deleted[TF_M15] != (int64_t)(rows / 2)) {
        fprintf(stderr, "bench_retention: deleted %lld rows, expected %zu\n",
                (long long)r.deleted[TF_M15], rows / 2);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"rows", required_argument, NULL, 'r'},
        {"batches", required_argument, NULL, 'b'},
        {"api", required_argument, NULL, 'a'},
        {"fill-only", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *url = getenv("CK_BENCH_URL"), *api_base = NULL, *batches = "10000";
    struct strbuf err = STRBUF_INIT, tmpurl = STRBUF_INIT, api = STRBUF_INIT;
    struct series_key k = {.source = "twelvedata", .symbol = "XAU/USD", .tf = TF_M15};
    char tmpdir[] = "/tmp/ckbenchret.XXXXXX", count[32];
    struct store *st = NULL;
    int64_t rows = 2000000, have = 0;
    bool fill_only = false;
    int c, status = 1;

    while ((c = getopt_long(argc, argv, "u:r:b:a:fh", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            url = optarg;
            break;
        case 'r':
            if (parse_int64(optarg, 2, 100000000, &rows) || rows % 2) {
                fprintf(stderr, "bench_retention: --rows must be an even number >= 2\n");
                return 2;
            }
            break;
        case 'b':
            batches = optarg;
            break;
        case 'a':
            api_base = optarg;
            break;
        case 'f':
            fill_only = true;
            break;
        case 'h':
            printf("usage: bench_retention [--url URL] [--rows N] [--batches LIST] "
                   "[--api BASE_URL] [--fill-only]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (url && !*url)
        url = NULL;
    if (!url) {
        if (!mkdtemp(tmpdir)) {
            perror("bench_retention: mkdtemp");
            return 1;
        }
        strbuf_addf(&tmpurl, "sqlite:%s/bench.db", tmpdir);
        url = tmpurl.buf;
    }
    if (api_base)
        strbuf_addf(&api, "%s/candles/M15?limit=100", api_base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (store_open(&st, url, &err)) {
        fprintf(stderr, "bench_retention: %s\n", err.buf);
        goto out;
    }

    /* The whole series, unless it is there already (a daemon's store reused). */
    {
        struct candle_query q = {.series = k};
        if (store_count_candles(st, &q, &have, &err)) {
            fprintf(stderr, "bench_retention: %s\n", err.buf);
            goto out;
        }
    }
    if (have == rows / 2) {
        /* A store left by an earlier run: its old half went, put it back. */
        if (fill(st, &k, 0, (size_t)rows / 2))
            goto out;
    } else if (have != rows) {
        double t0 = now_seconds();
        if (store_delete_candles_before(st, TF_M15, INT64_MAX / 4, 0, NULL, &err)) {
            fprintf(stderr, "bench_retention: %s\n", err.buf);
            goto out;
        }
        if (fill(st, &k, 0, (size_t)rows))
            goto out;
        group_thousands((uint64_t)rows, count, sizeof(count));
        printf("filled %s M15 candles in %.1f s (%s)\n", count, now_seconds() - t0,
               store_backend_name(st));
    }

    for (const char *p = fill_only ? "" : batches; *p;) {
        size_t len = strcspn(p, ",");
        char word[32];
        int64_t b;
        snprintf(word, sizeof(word), "%.*s", (int)len, p);
        if (parse_int64(word, 0, 100000000, &b)) {
            fprintf(stderr, "bench_retention: bad batch size '%s'\n", word);
            goto out;
        }
        if (settle(st) || run_one(st, (size_t)rows, (size_t)b, api_base ? api.buf : NULL))
            goto out;
        /* Put the deleted half back for the next run. */
        if (p[len] && fill(st, &k, 0, (size_t)rows / 2))
            goto out;
        p += len + (p[len] == ',');
    }
    status = 0;
out:
    store_close(st);
    if (tmpurl.len) {
        struct strbuf path = STRBUF_INIT;
        strbuf_addf(&path, "rm -rf '%s'", tmpdir);
        if (system(path.buf))
            fprintf(stderr, "bench_retention: could not remove %s\n", tmpdir);
        strbuf_release(&path);
    }
    curl_global_cleanup();
    strbuf_release(&err);
    strbuf_release(&tmpurl);
    strbuf_release(&api);
    return status;
}
