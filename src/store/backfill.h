/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_BACKFILL_H
#define CK_STORE_BACKFILL_H

/*
 * Backfills: the deep history of one series fetched page by page, and
 * where each one stands. A backfill's position is in the database and
 * moves in the transaction that stores the page it came from, so a
 * backfill that was killed continues from the last page it stored, in any
 * process. Part of the store interface (store/store.h).
 */
#include "market/timeframe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/* Where a backfill is. */
enum backfill_state {
    BACKFILL_QUEUED,   /* asked for, not started */
    BACKFILL_RUNNING,  /* a process is paging it (or was, and died: its lease tells) */
    BACKFILL_DEFERRED, /* stopped for the budget's reserve or a deadline; carried on later */
    BACKFILL_DONE,     /* reached its end (or the venue's) */
    BACKFILL_FAILED,   /* the provider failed it; `error` says why (run again to resume) */
};
/* "queued", "running", "deferred", "done", "failed". */
const char *backfill_state_name(enum backfill_state s);
/* The state called `name`; false when there is none. */
bool backfill_state_parse(const char *name, enum backfill_state *out);
/* Is a backfill in state `s` still to be carried forward (not done)? */
bool backfill_state_open(enum backfill_state s);

/* One backfill. Times are Unix seconds (open times of candles, or wall clock). */
struct backfill_row {
    int64_t id;
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t since;    /* the first open time wanted */
    int64_t until;    /* open times before this are wanted; 0: up to the present */
    int64_t position; /* the next request asks for candles after this open time */
    enum backfill_state state;
    int64_t candles;  /* candles stored so far */
    int64_t requests; /* requests answered so far */
    int64_t first;    /* the first candle the venue had in the range; 0: none yet */
    char *note;       /* "beyond_history: ...", "not_served: ..."; "" none */
    char *error;      /* the last failure; "" none */
    int64_t created_at;
    int64_t updated_at;
};
/* Free the strings of `r` and zero it. Takes NULL. */
void backfill_row_release(struct backfill_row *r);
/* Release `n` rows and the array. Takes NULL. */
void backfill_rows_free(struct backfill_row *v, size_t n);

/*
 * Add `r` (its id is ignored and set on return; NULL strings are "").
 * CK_EINVAL for a row without a source or symbol.
 */
int store_backfill_add(struct store *st, struct backfill_row *r, struct strbuf *err);
/* The backfill `id`; CK_ENOTFOUND when there is none. Release `out` on success. */
int store_backfill_get(struct store *st, int64_t id, struct backfill_row *out, struct strbuf *err);
/*
 * The newest backfill not done of series (source, symbol, tf) over exactly
 * [since, until): the one a repeated command continues. CK_ENOTFOUND when
 * there is none.
 */
int store_backfill_find_open(struct store *st, const char *source, const char *symbol,
                             enum timeframe tf, int64_t since, int64_t until,
                             struct backfill_row *out, struct strbuf *err);
/*
 * Every backfill, oldest first; with `open_only`, those not done. Free
 * with backfill_rows_free().
 */
int store_backfill_list(struct store *st, bool open_only, struct backfill_row **out, size_t *n,
                        struct strbuf *err);
/*
 * Write the progress of r->id: position, state, candles, requests,
 * first, note, error and updated_at (NULL strings are ""). Joins the
 * caller's transaction, so a page and the position after it commit
 * together. CK_ENOTFOUND when there is no such backfill.
 */
int store_backfill_update(struct store *st, const struct backfill_row *r, struct strbuf *err);

#endif
