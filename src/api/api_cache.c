/* SPDX-License-Identifier: MIT */
/*
 * A small per-thread memo of ready responses, validated against the data
 * they were made from.
 *
 * Why. Most candle requests repeat: a trading system polls the newest N
 * candles of its series every few seconds, and the answer changes once
 * per candle period. Reading N rows and encoding them costs many times
 * what sending the bytes does, so a response is kept, whole (a
 * libmicrohttpd response, headers and all, queued again without a copy),
 * with two ways to know it is still the answer:
 *
 *  - the store's stamp of the candles (store_candle_stamp(): SQLite's
 *    data version, the sum of PostgreSQL's series generations; read after
 *    the request arrived, api_stamp.c), without any candle row. Equal to the stamp the response was
 * made under: nothing was written since, and the response goes out as it is;
 *  - otherwise the rows are read again and their byte image compared with
 *    the one the response was made from, byte for byte (no hashing, so no
 *    collision can ever serve a stale price). Equal: the response is
 *    still right (a write elsewhere moved the stamp) and takes the new
 *    stamp; different: it is dropped and the caller makes a new one.
 *
 * The stamp is read before the rows, so a write that lands between the
 * two leaves the entry under the older stamp and is seen next time.
 *
 * Bounds. At most API_CACHE_ENTRIES entries and API_CACHE_BYTES bytes
 * (bodies plus validators) per thread; the least recently used entry goes
 * first, and a body larger than a quarter of the byte budget is never
 * kept. A response still being sent when its entry goes lives on until
 * libmicrohttpd is done with it (responses are reference counted).
 *
 * Threads. A cache belongs to one server thread (it lives in that
 * thread's state, next to its store connection) and is never shared, so
 * it needs no lock.
 */
#include "api/api_internal.h"

#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define API_CACHE_ENTRIES 16
#define API_CACHE_BYTES   (2 * 1024 * 1024)

struct cache_entry {
    char *key;
    struct store_stamp stamp;
    void *validator;
    size_t vlen;
    struct MHD_Response *resp; /* the cache's reference */
    size_t len;                /* of the body */
    uint64_t used;             /* LRU clock */
};

struct api_cache {
    struct cache_entry e[API_CACHE_ENTRIES];
    size_t bytes;
    uint64_t clock;
};

struct api_cache *api_cache_new(void)
{
    return xcalloc(1, sizeof(struct api_cache));
}

static void entry_clear(struct api_cache *c, struct cache_entry *e)
{
    if (e->key)
        c->bytes -= e->len + e->vlen;
    free(e->key);
    free(e->validator);
    if (e->resp)
        MHD_destroy_response(e->resp);
    memset(e, 0, sizeof(*e));
}

void api_cache_free(struct api_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < API_CACHE_ENTRIES; i++)
        entry_clear(c, &c->e[i]);
    free(c);
}

static struct cache_entry *find(struct api_cache *c, const char *key)
{
    for (size_t i = 0; i < API_CACHE_ENTRIES; i++) {
        struct cache_entry *e = &c->e[i];
        if (e->key && !strcmp(e->key, key))
            return e;
    }
    return NULL;
}

struct MHD_Response *api_cache_fresh(struct api_cache *c, const char *key,
                                     const struct store_stamp *stamp)
{
    struct cache_entry *e = find(c, key);

    if (!e || !store_stamp_equal(&e->stamp, stamp))
        return NULL;
    e->used = ++c->clock;
    return e->resp;
}

struct MHD_Response *api_cache_same(struct api_cache *c, const char *key,
                                    const struct store_stamp *stamp, const void *validator,
                                    size_t vlen)
{
    struct cache_entry *e = find(c, key);

    if (!e)
        return NULL;
    if (e->vlen != vlen || memcmp(e->validator, validator, vlen)) {
        /* Same request, different data: the entry is stale for good. */
        entry_clear(c, e);
        return NULL;
    }
    e->stamp = *stamp;
    e->used = ++c->clock;
    return e->resp;
}

bool api_cache_put(struct api_cache *c, const char *key, const struct store_stamp *stamp,
                   const void *validator, size_t vlen, struct MHD_Response *resp, size_t len)
{
    struct cache_entry *slot = NULL, *old;
    size_t need = len + vlen;

    if (need > API_CACHE_BYTES / 4)
        return false;
    old = find(c, key);
    if (old)
        entry_clear(c, old);
    /* Evict least recently used entries until the new one fits. */
    for (;;) {
        struct cache_entry *lru = NULL;
        size_t nfree = 0;
        for (size_t i = 0; i < API_CACHE_ENTRIES; i++) {
            struct cache_entry *e = &c->e[i];
            if (!e->key) {
                nfree++;
                slot = slot ? slot : e;
            } else if (!lru || e->used < lru->used) {
                lru = e;
            }
        }
        if (nfree && c->bytes + need <= API_CACHE_BYTES)
            break;
        entry_clear(c, lru);
        slot = NULL;
    }
    slot->key = xstrdup(key);
    slot->stamp = *stamp;
    slot->validator = xmalloc(vlen ? vlen : 1);
    memcpy(slot->validator, validator, vlen);
    slot->vlen = vlen;
    slot->resp = resp;
    slot->len = len;
    slot->used = ++c->clock;
    c->bytes += need;
    return true;
}
