/* SPDX-License-Identifier: MIT */
/*
 * A small per-thread memo of response bodies, validated against the data
 * they were made from.
 *
 * Why. Most candle requests repeat: a trading system polls the newest N
 * candles of its series every few seconds, and the answer changes once
 * per candle period. Building N jansson objects and dumping them costs
 * far more than reading the N rows (SQLite answers from its page cache),
 * so the API reads the rows every time and only skips re-encoding them
 * when they are exactly the rows the cached body was made from.
 *
 * Exactness. An entry is found by its key (the resource and every query
 * parameter that shapes the body) and used only if its validator, a byte
 * image of the rows the body was made from, is byte-for-byte equal to
 * the one just read: no hashing, so no collision can ever serve a stale
 * price. Anything that changes a row (a corrected candle, a new one, a
 * deleted one) changes the validator and the body is rebuilt.
 *
 * Bounds. At most API_CACHE_ENTRIES entries and API_CACHE_BYTES bytes
 * (bodies plus validators) per thread; the least recently used entry goes
 * first, and a body larger than a quarter of the byte budget is never
 * kept. The memory is freed with the thread's other state.
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
    void *validator;
    size_t vlen;
    char *body;
    size_t len;
    uint64_t used; /* LRU clock */
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
    free(e->body);
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

const char *api_cache_get(struct api_cache *c, const char *key, const void *validator, size_t vlen,
                          size_t *out_len)
{
    for (size_t i = 0; i < API_CACHE_ENTRIES; i++) {
        struct cache_entry *e = &c->e[i];
        if (!e->key || strcmp(e->key, key))
            continue;
        if (e->vlen != vlen || memcmp(e->validator, validator, vlen)) {
            /* Same request, different data: the entry is stale for good. */
            entry_clear(c, e);
            return NULL;
        }
        e->used = ++c->clock;
        *out_len = e->len;
        return e->body;
    }
    return NULL;
}

void api_cache_put(struct api_cache *c, const char *key, const void *validator, size_t vlen,
                   const char *body, size_t len)
{
    struct cache_entry *slot = NULL;
    size_t need = len + vlen;

    if (need > API_CACHE_BYTES / 4)
        return;
    for (size_t i = 0; i < API_CACHE_ENTRIES; i++)
        if (c->e[i].key && !strcmp(c->e[i].key, key))
            entry_clear(c, &c->e[i]);
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
    slot->validator = xmalloc(vlen ? vlen : 1);
    memcpy(slot->validator, validator, vlen);
    slot->vlen = vlen;
    slot->body = xmalloc(len ? len : 1);
    memcpy(slot->body, body, len);
    slot->len = len;
    slot->used = ++c->clock;
    c->bytes += need;
}
