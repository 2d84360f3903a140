/* SPDX-License-Identifier: MIT */
/*
 * The store's stamp of the candles (store_candle_stamp()) as the candle
 * resources read it before answering from a kept response (api_cache.c).
 *
 * On SQLite the stamp is this thread's connection's own and costs no
 * round trip: each request reads it.
 *
 * On PostgreSQL it is one row from the server, and a round trip per
 * request would cost more than the whole answer costs here. So each
 * server thread reads it once for all the requests that asked since its
 * last read, as a group commit flushes for every writer:
 *
 *   - A request that asks is given the thread's next tick and answered
 *     later (API_DEFERRED): the handler returns without a reply, and
 *     libmicrohttpd, which keeps a connection without a reply among the
 *     ready ones, calls it again on the thread's next pass, once every
 *     request that arrived with it has asked too.
 *   - Called again, the request takes the thread's last read if that read
 *     started after its tick. If not, it reads now, on the thread's own
 *     store connection, and that read serves every request that asked
 *     before it.
 *
 * Never stale: a request is served only by a read that started after it
 * asked, so a write committed before it arrived is in its stamp. Nothing
 * crosses threads: no connection is suspended, no thread is woken, which
 * is where the cost of a shared reader went. A thread waits for its read
 * while the other threads serve on.
 *
 * A failed read answers only the request that made it (with its error);
 * the others that asked read again on their turn, so each learns for
 * itself whether the database is back.
 */
#include "api/api_internal.h"

#include "util/strbuf.h"

#include "util/banned.h"

bool api_candle_stamp_ask(struct api_request *req, struct store *st)
{
    struct api_stamp_wait *w;

    if (!store_stamp_shared(st))
        return false;
    w = api_conn_wait(req);
    if (!w || w->tick)
        return false;
    w->tick = ++api_thread_stamps(req)->tick;
    req->deferred = true;
    return true;
}

int api_candle_stamp(struct api_request *req, struct store *st, struct store_stamp *out,
                     struct strbuf *err)
{
    struct api_stamp_reads *r;
    struct api_stamp_wait *w;
    int rc;

    if (!store_stamp_shared(st))
        return store_candle_stamp(st, out, err);
    r = api_thread_stamps(req);
    w = api_conn_wait(req);
    if (!w)
        return store_candle_stamp(st, out, err);
    if (!w->tick) {
        /* Asked: answered on the thread's next pass, with the others that ask before it. */
        api_candle_stamp_ask(req, st);
        return API_DEFERRED;
    }
    if (r->read_tick <= w->tick) {
        /* No read since this request asked: read for it and every request before it. */
        r->read_tick = 0;
        rc = store_candle_stamp(st, &r->stamp, err);
        if (rc) {
            w->tick = 0;
            return rc;
        }
        r->read_tick = ++r->tick;
    }
    w->tick = 0;
    *out = r->stamp;
    return 0;
}
