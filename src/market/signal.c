/* SPDX-License-Identifier: MIT */
/*
 * The values of the signal path (market/signal.h): the names of their
 * enums, as the store, the API and the CLI spell them, and freeing.
 */
#include "market/signal.h"

#include "util/error.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* --- names ----------------------------------------------------------- */

static const char *const direction_names[] = {
    [SIGNAL_LONG] = "long",
    [SIGNAL_SHORT] = "short",
};
static const char *const status_names[] = {
    [SIGNAL_ACTIVE] = "active",       [SIGNAL_WON] = "won",
    [SIGNAL_LOST] = "lost",           [SIGNAL_EXPIRED] = "expired",
    [SIGNAL_CANCELLED] = "cancelled",
};
static const char *const delivery_names[] = {
    [DELIVERY_PENDING] = "pending",
    [DELIVERY_DELIVERED] = "delivered",
    [DELIVERY_DEAD] = "dead",
};

static int name_index(const char *const *names, size_t n, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return (int)i;
    return -1;
}

const char *signal_direction_name(enum signal_direction d)
{
    return (size_t)d < ARRAY_SIZE(direction_names) ? direction_names[d] : "?";
}

int signal_direction_parse(const char *name, enum signal_direction *out)
{
    int i = name_index(direction_names, ARRAY_SIZE(direction_names), name);
    if (i < 0)
        return CK_EINVAL;
    *out = (enum signal_direction)i;
    return 0;
}

const char *signal_status_name(enum signal_status s)
{
    return (size_t)s < ARRAY_SIZE(status_names) ? status_names[s] : "?";
}

int signal_status_parse(const char *name, enum signal_status *out)
{
    int i = name_index(status_names, ARRAY_SIZE(status_names), name);
    if (i < 0)
        return CK_EINVAL;
    *out = (enum signal_status)i;
    return 0;
}

const char *delivery_status_name(enum delivery_status s)
{
    return (size_t)s < ARRAY_SIZE(delivery_names) ? delivery_names[s] : "?";
}

int delivery_status_parse(const char *name, enum delivery_status *out)
{
    int i = name_index(delivery_names, ARRAY_SIZE(delivery_names), name);
    if (i < 0)
        return CK_EINVAL;
    *out = (enum delivery_status)i;
    return 0;
}

/* --- freeing --------------------------------------------------------- */

void signal_release(struct signal *s)
{
    if (!s)
        return;
    free(s->idempotency_key);
    free(s->request_hash);
    free(s->source);
    free(s->symbol);
    free(s->note);
    memset(s, 0, sizeof(*s));
}

void signals_free(struct signal *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        signal_release(&v[i]);
    free(v);
}

void deliveries_free(struct delivery *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].receiver);
        free(v[i].webhook_id);
        free(v[i].last_error);
    }
    free(v);
}

void delivery_attempts_free(struct delivery_attempt *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].error);
        free(v[i].instance);
    }
    free(v);
}

void backtests_free(struct backtest *v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].params);
        free(v[i].metrics);
    }
    free(v);
}
