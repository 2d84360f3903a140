/* SPDX-License-Identifier: MIT */
#ifndef CK_STORE_GAPS_H
#define CK_STORE_GAPS_H

/*
 * The store's gap ledger: records of runs of missing candles, their
 * reconciliation with a fresh scan, and their bulk export and import (see
 * store/tables.h). Part of the store interface (store/store.h).
 */
#include "market/candle.h"
#include "market/gaps.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct strbuf;

/*
 * The gap ledger. A gap is a run of missing candles of one series with a
 * state and a reason; the same hole seen again updates its record instead
 * of adding one.
 */
enum gap_state {
    GAP_OPEN,
    GAP_REPAIRING,
    GAP_FILLED,
    GAP_UNFILLABLE,
};
const char *gap_state_name(enum gap_state s);
int gap_state_parse(const char *name, enum gap_state *out);

struct gap_record {
    int64_t id;
    char *source;
    char *symbol;
    enum timeframe tf;
    int64_t first, last, count;
    enum gap_state state;
    char *reason;
    int64_t first_seen, last_checked;
    int64_t attempts;      /* repairs that asked the provider and got nothing */
    int64_t first_attempt; /* when the first of those asked (Unix s); 0: never */
};
void gap_records_free(struct gap_record *v, size_t n);

/* Which gaps to list. NULL strings and has_ flags off mean "any". */
struct gap_query {
    const char *source;
    const char *symbol;
    bool has_tf;
    enum timeframe tf;
    bool has_since; /* gaps whose last >= since */
    int64_t since;
    bool has_state;
    enum gap_state state;
    size_t limit; /* 0 = no limit */
};
/* Newest first (by first open time). */
int store_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out, size_t *n,
                    struct strbuf *err);

struct gap_sync_result {
    size_t opened;  /* new records */
    size_t updated; /* open records seen again (possibly narrowed) */
    size_t filled;  /* open records no longer missing */
    size_t open;    /* open gaps in the window after the sync */
};

/*
 * Reconcile the ledger of series `s` with a fresh scan of [from, to):
 * `found` are the gaps the scan found. In one transaction: a found gap that
 * overlaps an open (or repairing) record updates that record (first, last,
 * count, last_checked); one that overlaps none opens a new record with
 * `reason`; an open record inside the window that no found gap overlaps is
 * marked filled. Records in other states are left alone, and a found gap
 * overlapping an unfillable record is not reopened.
 *
 */
int store_sync_gaps(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                    const struct gap_range *found, size_t nfound, const char *reason, int64_t now,
                    struct gap_sync_result *out, struct strbuf *err);

/*
 * store_sync_gaps() where found gap i has a reason of its own: with
 * reasons[i].text set, a new record gets that reason instead of `reason`,
 * and with reasons[i].replace a record it updates takes it too (the caller
 * knows better now, e.g. it has just asked the provider for that window).
 * `reasons` may be NULL.
 */
struct gap_reason {
    const char *text; /* NULL: `reason` */
    bool replace;     /* also replace the reason of the record it updates */
};
int store_sync_gaps_reasons(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                            const struct gap_range *found, size_t nfound, const char *reason,
                            const struct gap_reason *reasons, int64_t now,
                            struct gap_sync_result *out, struct strbuf *err);

/*
 * Write record g->id back as given: first, last, count, state, reason (NULL
 * keeps the stored one), last_checked, attempts and first_attempt.
 * CK_ENOTFOUND if there is no such record.
 */
int store_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err);

/* Set the state (and reason, if not NULL) of gap `id`. CK_ENOTFOUND if none. */
int store_set_gap_state(struct store *st, int64_t id, enum gap_state state, const char *reason,
                        int64_t now, struct strbuf *err);

/*
 * Gap records with id > after_id, by id, at most `limit` (0 = no limit).
 * Free with gap_records_free().
 */
int store_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                      size_t *n, struct strbuf *err);
/*
 * Insert v[0..n): each names its series by v[i].source, symbol and tf
 * (created when missing) and keeps every field but its id. `*added` (may be
 * NULL) gets the number inserted, less than n only with
 * STORE_IMPORT_SKIP_EXISTING.
 */
int store_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err);

#endif
