/* SPDX-License-Identifier: MIT */
/*
 * The circuit breaker (see breaker.h).
 *
 * States and transitions, all under `lock`:
 *
 *   closed ──(`failures` consecutive failures)──> open
 *   open ──(recovery time passed, a caller asks)──> half-open, that caller is the probe
 *   half-open ──(probe succeeds)──> closed, recovery time back to its base
 *   half-open ──(probe fails)──> open, recovery time doubled (capped)
 *   half-open ──(probe unused)──> half-open, the next caller probes
 *
 * The transition from open to half-open is made lazily by the first
 * caller after the recovery time, which then holds the one probe; there
 * is no timer. A probe whose caller never reports back (a job abandoned
 * at its timeout) would hold the breaker half-open forever, so a probe
 * older than one recovery time is considered lost and the next caller
 * probes instead.
 *
 * Ordinary calls admitted while closed may finish after the breaker has
 * opened (several jobs call one provider at once); their outcomes are
 * ignored then, because only the probe decides whether the provider is
 * back. A success of an ordinary call while closed resets the count of
 * consecutive failures.
 *
 * The breaker never logs; breaker_record() says when the state changed
 * so that the caller, which knows the context, can. Nor does it store
 * anything: the guard (guard.h) records its transitions in the database,
 * and breaker_restore() takes such a record back at start-up.
 */
#include "resilience/breaker.h"

#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct breaker {
    char *name;
    struct breaker_config cfg;
    pthread_mutex_t lock;
    /* Guarded by `lock`: */
    enum breaker_state state;
    int failures;
    int64_t recovery_ms;  /* the current recovery time */
    int64_t opened_at_ms; /* when it last opened */
    int64_t probe_at_ms;  /* half-open: when the probe was handed out, 0 none */
    int64_t opened;       /* times opened */
    bool active;          /* an outcome recorded, or a state restored */
};

const char *breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_HALF_OPEN:
        return "half_open";
    case BREAKER_OPEN:
        return "open";
    }
    return "unknown";
}

bool breaker_state_parse(const char *name, enum breaker_state *out)
{
    static const enum breaker_state all[] = {BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPEN};

    for (size_t i = 0; name && i < ARRAY_SIZE(all); i++) {
        if (!strcmp(name, breaker_state_name(all[i]))) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

struct breaker *breaker_new(const char *name, const struct breaker_config *cfg)
{
    struct breaker *b = xcalloc(1, sizeof(*b));
    b->name = xstrdup(name ? name : "");
    b->cfg = *cfg;
    if (b->cfg.failures < 1)
        b->cfg.failures = 1;
    if (b->cfg.recovery_ms < 0)
        b->cfg.recovery_ms = 0;
    if (b->cfg.max_recovery_ms < b->cfg.recovery_ms)
        b->cfg.max_recovery_ms = b->cfg.recovery_ms;
    b->recovery_ms = b->cfg.recovery_ms;
    b->state = BREAKER_CLOSED;
    pthread_mutex_init(&b->lock, NULL);
    return b;
}

void breaker_free(struct breaker *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->name);
    free(b);
}

const char *breaker_name(const struct breaker *b)
{
    return b->name;
}

/* Open (again) at `now_ms`. Lock held. */
static void trip(struct breaker *b, int64_t now_ms)
{
    b->state = BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->probe_at_ms = 0;
    b->opened++;
}

enum breaker_pass breaker_allow(struct breaker *b, int64_t now_ms, int64_t *out_retry_ms)
{
    enum breaker_pass pass = BREAKER_REJECTED;
    int64_t retry = 0;

    pthread_mutex_lock(&b->lock);
    switch (b->state) {
    case BREAKER_CLOSED:
        pass = BREAKER_ADMITTED;
        break;
    case BREAKER_OPEN:
        if (now_ms >= b->opened_at_ms + b->recovery_ms) {
            b->state = BREAKER_HALF_OPEN;
            b->probe_at_ms = now_ms;
            pass = BREAKER_PROBE;
        } else {
            retry = b->opened_at_ms + b->recovery_ms;
        }
        break;
    case BREAKER_HALF_OPEN:
        /* No probe out, or the one out is lost: this caller probes. */
        if (!b->probe_at_ms || now_ms >= b->probe_at_ms + b->recovery_ms) {
            b->probe_at_ms = now_ms;
            pass = BREAKER_PROBE;
        } else {
            retry = b->probe_at_ms + b->recovery_ms;
        }
        break;
    }
    pthread_mutex_unlock(&b->lock);
    if (out_retry_ms)
        *out_retry_ms = retry;
    return pass;
}

bool breaker_record(struct breaker *b, enum breaker_pass pass, enum breaker_outcome outcome,
                    int64_t now_ms, enum breaker_state *out_state)
{
    enum breaker_state before;
    bool changed;

    pthread_mutex_lock(&b->lock);
    before = b->state;
    if (pass != BREAKER_REJECTED && outcome != BREAKER_UNUSED)
        b->active = true;
    if (pass == BREAKER_PROBE && b->state == BREAKER_HALF_OPEN) {
        if (outcome == BREAKER_SUCCESS) {
            b->state = BREAKER_CLOSED;
            b->failures = 0;
            b->probe_at_ms = 0;
            b->recovery_ms = b->cfg.recovery_ms;
        } else if (outcome == BREAKER_FAILURE) {
            int64_t next = b->recovery_ms * 2;
            if (next < b->recovery_ms || next > b->cfg.max_recovery_ms)
                next = b->cfg.max_recovery_ms;
            b->recovery_ms = next;
            b->failures++;
            trip(b, now_ms);
        } else {
            b->probe_at_ms = 0; /* unused: the next caller probes */
        }
    } else if (pass == BREAKER_ADMITTED && b->state == BREAKER_CLOSED) {
        if (outcome == BREAKER_SUCCESS) {
            b->failures = 0;
        } else if (outcome == BREAKER_FAILURE && ++b->failures >= b->cfg.failures) {
            b->recovery_ms = b->cfg.recovery_ms;
            trip(b, now_ms);
        }
    }
    changed = b->state != before;
    if (out_state)
        *out_state = b->state;
    pthread_mutex_unlock(&b->lock);
    return changed;
}

void breaker_info(struct breaker *b, int64_t now_ms, struct breaker_info *out)
{
    pthread_mutex_lock(&b->lock);
    out->state = b->state;
    out->failures = b->failures;
    out->recovery_ms = b->recovery_ms;
    out->opened = b->opened;
    out->opened_at_ms = b->opened_at_ms;
    out->active = b->active;
    out->next_probe_ms = 0;
    if (b->state == BREAKER_OPEN) {
        out->next_probe_ms = b->opened_at_ms + b->recovery_ms;
        if (now_ms >= out->next_probe_ms)
            out->state = BREAKER_HALF_OPEN;
    }
    pthread_mutex_unlock(&b->lock);
}

bool breaker_restore(struct breaker *b, enum breaker_state state, int failures,
                     int64_t opened_at_ms, int64_t retry_at_ms)
{
    bool done = false;

    pthread_mutex_lock(&b->lock);
    if (b->active || state == BREAKER_CLOSED) {
        done = !b->active;
    } else if (state == BREAKER_OPEN || state == BREAKER_HALF_OPEN) {
        int64_t recovery = retry_at_ms - opened_at_ms;
        if (recovery < b->cfg.recovery_ms)
            recovery = b->cfg.recovery_ms;
        if (recovery > b->cfg.max_recovery_ms)
            recovery = b->cfg.max_recovery_ms;
        b->state = state;
        b->failures = failures > 0 ? failures : 0;
        b->opened_at_ms = opened_at_ms;
        b->recovery_ms = recovery;
        /* A probe that was out when the state was recorded is lost: the next caller probes. */
        b->probe_at_ms = 0;
        b->active = true;
        done = true;
    }
    pthread_mutex_unlock(&b->lock);
    return done;
}
