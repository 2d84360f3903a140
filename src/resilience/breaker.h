/* SPDX-License-Identifier: MIT */
#ifndef CK_RESILIENCE_BREAKER_H
#define CK_RESILIENCE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A circuit breaker per provider: after `failures` consecutive failed
 * calls it opens, and calls fail fast without touching the network; after
 * a recovery time it lets exactly one probe through (half-open); the
 * probe's success closes it, its failure opens it again with the recovery
 * time doubled, up to a maximum, for as long as the provider stays down.
 *
 * In-process and thread-safe: one breaker is shared by every job of the
 * daemon that calls the provider. Time is always an argument (Unix ms), so
 * tests drive a breaker through hours in microseconds.
 */
enum breaker_state {
    BREAKER_CLOSED = 0,    /* calls go through */
    BREAKER_HALF_OPEN = 1, /* one probe may go through */
    BREAKER_OPEN = 2,      /* calls fail fast */
};
/* "closed", "half_open", "open". */
const char *breaker_state_name(enum breaker_state s);
/* The state named `name` (as breaker_state_name() spells it); false for another name. */
bool breaker_state_parse(const char *name, enum breaker_state *out);

struct breaker_config {
    int failures;            /* consecutive failed calls that open it (>= 1) */
    int64_t recovery_ms;     /* first wait before a probe */
    int64_t max_recovery_ms; /* the doubling stops here */
};

struct breaker;

/* A closed breaker named `name` (copied; used in messages). */
struct breaker *breaker_new(const char *name, const struct breaker_config *cfg);
/* Takes NULL. No call may be using it. */
void breaker_free(struct breaker *b);
const char *breaker_name(const struct breaker *b);

/* How a call was let through, to be handed back to breaker_record(). */
enum breaker_pass {
    BREAKER_REJECTED, /* not let through: do not call, do not record */
    BREAKER_ADMITTED, /* an ordinary call while closed */
    BREAKER_PROBE,    /* the one probe of a half-open breaker */
};

/*
 * May a call go out at `now_ms`? An open breaker whose recovery time has
 * passed turns half-open and admits exactly one caller as its probe; every
 * other caller is rejected until the probe is recorded (or, if its caller
 * never records it, until another recovery time has passed). When
 * rejected, `*out_retry_ms` (may be NULL) gets the time of the next probe.
 */
enum breaker_pass breaker_allow(struct breaker *b, int64_t now_ms, int64_t *out_retry_ms);

/* What became of an admitted call. */
enum breaker_outcome {
    BREAKER_SUCCESS, /* the provider answered as a working provider does (also a 4xx or 429) */
    BREAKER_FAILURE, /* it did not: network error, timeout, 5xx, garbage */
    BREAKER_UNUSED,  /* no request was sent after all (e.g. deferred for the rate budget) */
};

/*
 * Record the outcome of a call admitted as `pass`. Returns true when the
 * breaker changed state (the caller may log it); `*out_state` (may be
 * NULL) gets the state after. Outcomes of ordinary calls that finish
 * after the breaker opened are ignored: only the probe decides then.
 */
bool breaker_record(struct breaker *b, enum breaker_pass pass, enum breaker_outcome outcome,
                    int64_t now_ms, enum breaker_state *out_state);

/* A consistent snapshot for /health and /metrics. */
struct breaker_info {
    enum breaker_state state; /* as a caller would find it at now_ms (an open breaker whose
                                 recovery time has passed is half-open) */
    int failures;             /* consecutive failed calls counted */
    int64_t next_probe_ms;    /* open: when the next probe may go (Unix ms); else 0 */
    int64_t recovery_ms;      /* the current recovery time */
    int64_t opened_at_ms;     /* when it last opened (Unix ms); 0: never */
    int64_t opened;           /* times it has opened since the process started */
    bool active; /* it has recorded the outcome of a call, or was restored to a state that is
                    not closed: it knows something a fresh breaker does not */
};
void breaker_info(struct breaker *b, int64_t now_ms, struct breaker_info *out);

/*
 * Put a fresh breaker (one that has recorded nothing yet) into a state
 * recorded earlier, e.g. by the process that held it before a restart:
 * open since `opened_at_ms` with its next probe at `retry_at_ms` (the
 * recovery time is their difference, within the configured bounds), or
 * half-open (the next caller probes). A closed state changes nothing.
 * Returns false, changing nothing, when the breaker has recorded an
 * outcome already or the state is not one it can take.
 */
bool breaker_restore(struct breaker *b, enum breaker_state state, int failures,
                     int64_t opened_at_ms, int64_t retry_at_ms);

#endif
