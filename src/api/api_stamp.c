/* SPDX-License-Identifier: MIT */
/*
 * The store's stamp of the candles (store_candle_stamp()) as the candle
 * resources read it before answering from a kept response (api_cache.c).
 *
 * On SQLite the stamp is this thread's connection's own and costs no
 * round trip: each request reads it.
 *
 * On PostgreSQL it is one row from the server, the same on every
 * connection, and a round trip per request would cost the server more
 * than the whole answer costs here. So the server threads share the
 * reads, as a group commit shares a flush: a request needs a read that
 * *started after it arrived* (an earlier one could miss a write committed
 * just before the request), so it waits for the next read to end, or
 * makes that read itself when none is under way. However many requests
 * arrive during one read, they are all served by the next one: the
 * server sees at most one query per round trip, and a request waits at
 * most two. Never stale: a write committed before a request arrived is
 * in any read that started after it.
 *
 * A failed read is not shared: every request it would have served reads
 * the stamp itself, and reports its own error.
 */
#include "api/api_internal.h"

#include "util/strbuf.h"

#include <pthread.h>

#include "util/banned.h"

void api_stamps_init(struct api_stamps *s)
{
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->done, NULL);
    s->started = s->finished = 0;
    s->running = false;
    s->ok = false;
}

void api_stamps_destroy(struct api_stamps *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->done);
}

int api_candle_stamp(struct api_request *req, struct store *st, const struct series_key *k,
                     struct store_stamp *out, struct strbuf *err)
{
    struct api_stamps *s = &req->api->stamps;
    uint64_t need;
    int rc;

    if (!store_stamp_shared(st))
        return store_candle_stamp(st, k, out, err);

    pthread_mutex_lock(&s->lock);
    /* The read under way (if any) started before this request: the next one. */
    need = s->started + 1;
    while (s->finished < need) {
        if (s->running) {
            pthread_cond_wait(&s->done, &s->lock);
            continue;
        }
        s->running = true;
        s->started++;
        pthread_mutex_unlock(&s->lock);
        rc = store_candle_stamp(st, k, out, err);
        pthread_mutex_lock(&s->lock);
        s->running = false;
        s->finished = s->started;
        s->ok = rc == 0;
        if (!rc)
            s->last = *out;
        pthread_cond_broadcast(&s->done);
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    if (s->ok) {
        *out = s->last;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    pthread_mutex_unlock(&s->lock);
    return store_candle_stamp(st, k, out, err);
}
