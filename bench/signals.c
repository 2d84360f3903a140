/* SPDX-License-Identifier: MIT */
/*
 * Signal acknowledgement: how many signals a second the store commits
 * when each is its own transaction, as POST /signals commits them (the
 * 201 goes out after the commit, so this is the rate at which signals can
 * be acknowledged). Each signal has one receiver, so each commit writes
 * the signal and its delivery row. On SQLite the figure is set by how the
 * commit reaches the disk (synchronous=FULL: the log is synced at every
 * commit, see store/sqlite/conn.c).
 *
 * Usage: bench_signals [STORE_URL]. Without a URL the store is a new
 * SQLite file in a temporary directory, removed at the end.
 */
#include "market/price.h"
#include "market/signal.h"
#include "market/timeframe.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/banned.h"

#define NSIGNALS 500

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t price_of(const char *s)
{
    int64_t v = 0;
    if (price_parse(s, strlen(s), &v))
        abort();
    return v;
}

static int run(struct store *st, struct strbuf *err)
{
    const char *recv[] = {"bench"};
    int64_t t0_ms = (int64_t)time(NULL) * 1000;
    double t0 = now_seconds();

    for (int i = 0; i < NSIGNALS; i++) {
        struct signal s = {0};
        bool existed;
        int rc;
        signal_new_id(s.id, t0_ms + i);
        s.request_hash = xstrdup("bench");
        s.source = xstrdup("bench");
        s.symbol = xstrdup("XAU/USD");
        s.tf = TF_M15;
        s.direction = SIGNAL_LONG;
        s.entry = price_of("2063.41");
        s.stop_loss = price_of("2050");
        s.take_profit = price_of("2090.5");
        s.status = SIGNAL_ACTIVE;
        rc = store_signal_create(st, &s, recv, 1, t0_ms + i, &existed, err);
        signal_release(&s);
        if (rc)
            return rc;
    }
    double dt = now_seconds() - t0;
    printf("%s signal create (one transaction each): %d signals in %.3f s = %.0f signals/s, "
           "%.2f ms each\n",
           store_backend_name(st), NSIGNALS, dt, NSIGNALS / dt, dt * 1000 / NSIGNALS);
    return 0;
}

int main(int argc, char **argv)
{
    struct strbuf err = STRBUF_INIT, url = STRBUF_INIT, path = STRBUF_INIT;
    char tmpdir[] = "/tmp/ckbench.XXXXXX";
    bool own_db = argc < 2;
    struct store *st = NULL;
    int status = 1;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [STORE_URL]\n", argv[0]);
        return 2;
    }
    if (own_db) {
        if (!mkdtemp(tmpdir)) {
            perror("bench_signals: mkdtemp");
            return 1;
        }
        strbuf_addf(&url, "sqlite:%s/bench.db", tmpdir);
    } else {
        strbuf_addstr(&url, argv[1]);
    }
    if (store_open(&st, url.buf, &err) || run(st, &err)) {
        fprintf(stderr, "bench_signals: %s\n", err.buf);
        goto out;
    }
    status = 0;
out:
    store_close(st);
    if (own_db) {
        static const char *const files[] = {"bench.db", "bench.db-wal", "bench.db-shm"};
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            strbuf_reset(&path);
            strbuf_addf(&path, "%s/%s", tmpdir, files[i]);
            unlink(path.buf);
        }
        rmdir(tmpdir);
    }
    strbuf_release(&path);
    strbuf_release(&url);
    strbuf_release(&err);
    return status;
}
