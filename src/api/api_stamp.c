/* SPDX-License-Identifier: MIT */
/*
 * The store's stamp of the candles (store_candle_stamp()) as the candle
 * resources read it before answering from a kept response (api_cache.c).
 *
 * On SQLite the stamp is this thread's connection's own and costs no
 * round trip: each request reads it.
 *
 * On PostgreSQL it is one row from the server, the same on every
 * connection, and a round trip per request would cost more than the whole
 * answer costs here, most of it in threads put to sleep and woken. So one
 * thread of its own (the stamp reader) reads it for every request, as a
 * group commit flushes for every writer: a request that needs the stamp
 * puts its connection aside (libmicrohttpd's suspend, so the server
 * thread goes on with other connections) and joins the reader's queue;
 * the reader takes the whole queue, reads the stamp once, hands it to each
 * request in it and resumes their connections, whose handlers then run
 * again and find it. Never stale: a read starts after every request it
 * serves arrived, so a write committed before a request arrived is in its
 * stamp. However many requests arrive during one read, the next read
 * serves them all: the server sees at most one query per round trip.
 *
 * A failed read is handed to every request it would have served, which
 * answers with the error; the reader reconnects for the next one (when it
 * could not connect, not before a second has passed). Before
 * the server stops, the reader stops (failing what is queued); requests
 * after that read the stamp on their own connection.
 */
#include "api/api_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* After a failed connection, how long the reader answers with its error before trying again. */
#define STAMP_REOPEN_MS 1000

/* Hand `rc` (and `stamp` or `msg`) to every waiter of `batch` and resume their connections. */
static void hand_out(struct api_stamp_wait *batch, int rc, const struct store_stamp *stamp,
                     const char *msg)
{
    while (batch) {
        struct api_stamp_wait *w = batch;
        struct MHD_Connection *conn = w->conn;
        batch = w->next;
        w->next = NULL;
        w->rc = rc;
        if (rc)
            snprintf(w->err, sizeof(w->err), "%s", msg);
        else
            w->stamp = *stamp;
        w->done = true;
        MHD_resume_connection(conn);
    }
}

static void *reader_main(void *arg)
{
    struct api_stamps *s = arg;
    struct strbuf err = STRBUF_INIT;
    struct store *st = NULL;
    int64_t failed_ms = 0; /* when the database could not be reached */
    int failed_rc = 0;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        struct api_stamp_wait *batch;
        struct store_stamp stamp = {{0}};
        int rc = 0;

        while (!s->pending && !s->stop)
            pthread_cond_wait(&s->work, &s->lock);
        batch = s->pending;
        s->pending = NULL;
        if (s->stop) {
            s->running = false;
            pthread_mutex_unlock(&s->lock);
            hand_out(batch, CK_EBUSY, NULL, "api: the server is stopping");
            break;
        }
        pthread_mutex_unlock(&s->lock);

        if (!st && failed_ms && time_mono_ms() - failed_ms < STAMP_REOPEN_MS) {
            /* The database was unreachable a moment ago: say so again at once. */
            hand_out(batch, failed_rc, NULL, err.buf);
            pthread_mutex_lock(&s->lock);
            continue;
        }
        strbuf_reset(&err);
        if (!st)
            rc = store_open(&st, s->store_url, &err);
        if (!rc)
            rc = store_candle_stamp(st, &stamp, &err);
        failed_ms = 0;
        if (rc && st) {
            store_close(st);
            st = NULL;
        } else if (rc) {
            failed_ms = time_mono_ms();
            failed_rc = rc;
        }
        hand_out(batch, rc, &stamp, err.buf);
        pthread_mutex_lock(&s->lock);
    }
    store_close(st);
    strbuf_release(&err);
    return NULL;
}

void api_stamps_init(struct api_stamps *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->work, NULL);
}

int api_stamps_start(struct api_stamps *s, const char *store_url)
{
    s->store_url = xstrdup(store_url);
    s->running = true;
    if (pthread_create(&s->thread, NULL, reader_main, s)) {
        s->running = false;
        return CK_EIO;
    }
    s->started = true;
    return 0;
}

void api_stamps_stop(struct api_stamps *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    s->started = false;
}

void api_stamps_destroy(struct api_stamps *s)
{
    api_stamps_stop(s);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->work);
    free(s->store_url);
}

int api_candle_stamp(struct api_request *req, struct store *st, struct store_stamp *out,
                     struct strbuf *err)
{
    struct api_stamps *s = &req->api->stamps;
    struct api_stamp_wait *w;

    if (!store_stamp_shared(st))
        return store_candle_stamp(st, out, err);
    w = api_conn_wait(req);
    if (w && w->done) {
        /* Resumed: the read made for this request. */
        w->done = false;
        if (w->rc) {
            strbuf_addstr(err, w->err);
            return w->rc;
        }
        *out = w->stamp;
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    if (!w || !s->running) {
        pthread_mutex_unlock(&s->lock);
        return store_candle_stamp(st, out, err);
    }
    /* Put aside before queueing: the reader may resume it at once. */
    MHD_suspend_connection(req->conn);
    w->conn = req->conn;
    w->next = s->pending;
    s->pending = w;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->lock);
    req->suspended = true;
    return API_SUSPENDED;
}
