/* SPDX-License-Identifier: MIT */
/*
 * The store's public face: the backend registry, the wrappers callers use,
 * and the logic that is the same on every backend.
 *
 * Backends (store/sqlite/, store/pg/) fill a `struct store_ops` and
 * implement plain statements; this file decides transactions: every write
 * that is called outside an explicit transaction gets its own, so a batch
 * of candles is always atomic. Gap reconciliation (store_sync_gaps) is
 * written once here on top of the backends' list/insert/update primitives.
 *
 * A store is one connection and is used by one thread at a time.
 */
#include "store/store_internal.h"

#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/banned.h"

static const struct store_ops *const backends[] = {
    &store_sqlite_ops,
    &store_pg_ops,
};

/* Map a URL to its backend and say which prefix selected it. */
static const struct store_ops *backend_for(const char *url)
{
    size_t len = strlen(url);
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11))
        return backends[1];
    if (!strncmp(url, "sqlite:", 7) || (len > 3 && !strcmp(url + len - 3, ".db")))
        return backends[0];
    return NULL;
}

int store_open(struct store **out, const char *url, struct strbuf *err)
{
    const struct store_ops *ops;

    *out = NULL;
    if (!url || !*url) {
        strbuf_addstr(err, "store: no database URL configured (storage.url)");
        return CK_ECONFIG;
    }
    ops = backend_for(url);
    if (!ops) {
        char *red = redact_url(url, 0);
        strbuf_addf(err,
                    "store: unsupported database URL '%s' (expected sqlite:PATH or "
                    "postgresql://...)",
                    red);
        free(red);
        return CK_ECONFIG;
    }
    return ops->open(out, url, err);
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->in_tx) {
        struct strbuf ignored = STRBUF_INIT;
        st->ops->rollback(st, &ignored);
        strbuf_release(&ignored);
        st->in_tx = false;
    }
    st->ops->close(st);
}

const char *store_backend_name(const struct store *st)
{
    return st->ops->name;
}

int store_schema_version(struct store *st, int *out, struct strbuf *err)
{
    return st->ops->schema_version(st, out, err);
}

bool store_ping(struct store *st)
{
    return st && st->ops->ping(st);
}

int store_check_writable(struct store *st, struct strbuf *err)
{
    if (st->in_tx)
        BUG("store_check_writable inside a transaction");
    if (st->ops->check_writable)
        return st->ops->check_writable(st, err);
    if (store_ping(st))
        return 0;
    strbuf_addstr(err, "store: the database does not answer");
    return CK_EIO;
}

int store_begin(struct store *st, struct strbuf *err)
{
    int rc;
    if (st->in_tx)
        BUG("store_begin inside a transaction");
    rc = st->ops->begin(st, err);
    if (!rc)
        st->in_tx = true;
    return rc;
}

int store_commit(struct store *st, struct strbuf *err)
{
    int rc;
    if (!st->in_tx)
        BUG("store_commit outside a transaction");
    rc = st->ops->commit(st, err);
    if (rc) {
        struct strbuf ignored = STRBUF_INIT;
        st->ops->rollback(st, &ignored);
        strbuf_release(&ignored);
    }
    st->in_tx = false;
    return rc;
}

int store_rollback(struct store *st, struct strbuf *err)
{
    if (!st->in_tx)
        BUG("store_rollback outside a transaction");
    st->in_tx = false;
    return st->ops->rollback(st, err);
}

int store_begin_snapshot(struct store *st, struct strbuf *err)
{
    static const struct sql_stmt snapshot = {
        .sqlite = "SELECT 1",
        .pg = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    int rc = store_begin(st, err);

    if (!rc)
        rc = store_sql(st, &snapshot, NULL, 0, NULL, NULL, "cannot take a snapshot", err);
    if (rc && st->in_tx) {
        struct strbuf ignored = STRBUF_INIT;
        store_rollback(st, &ignored);
        strbuf_release(&ignored);
    }
    return rc;
}

bool store_in_transaction(const struct store *st)
{
    return st->in_tx;
}

int store_durable(struct store *st, struct strbuf *err)
{
    int rc;
    if (st->durable || st->in_tx)
        return 0;
    if (st->ops->set_durable && (rc = st->ops->set_durable(st, err)))
        return rc;
    st->durable = true;
    return 0;
}

/*
 * Implicit transactions: when the caller has none, begin one and remember
 * to finish it. The pair below brackets every multi-statement write.
 */
int store_implicit_begin(struct store *st, bool *owned, struct strbuf *err)
{
    *owned = false;
    if (st->in_tx)
        return 0;
    int rc = store_begin(st, err);
    if (!rc)
        *owned = true;
    return rc;
}

int store_implicit_end(struct store *st, bool owned, int rc, struct strbuf *err)
{
    if (!owned)
        return rc;
    if (rc) {
        struct strbuf ignored = STRBUF_INIT;
        store_rollback(st, &ignored);
        strbuf_release(&ignored);
        return rc;
    }
    return store_commit(st, err);
}

static int check_series(const struct series_key *s, struct strbuf *err)
{
    if (!s || !s->source || !*s->source || !s->symbol || !*s->symbol ||
        (unsigned)s->tf >= TF_COUNT) {
        strbuf_addstr(err, "store: incomplete series (source, symbol and timeframe are needed)");
        return CK_EINVAL;
    }
    return 0;
}

int store_put_candles(struct store *st, const struct series_key *s, const struct candle *c,
                      size_t n, struct strbuf *err)
{
    bool owned;
    int rc = check_series(s, err);
    if (rc || !n)
        return rc;
    rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = st->ops->put_candles(st, s, c, n, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_latest_time(struct store *st, const struct series_key *s, int64_t *out,
                      struct strbuf *err)
{
    int rc = check_series(s, err);
    if (rc)
        return rc;
    return st->ops->latest_time(st, s, out, err);
}

int store_query_candles(struct store *st, const struct candle_query *q, struct candle_iter **out,
                        struct strbuf *err)
{
    int rc = check_series(&q->series, err);
    *out = NULL;
    if (rc)
        return rc;
    return st->ops->query_candles(st, q, out, err);
}

int candle_iter_next(struct candle_iter *it, struct candle *out, struct strbuf *err)
{
    return it->next(it, out, err);
}

void candle_iter_free(struct candle_iter *it)
{
    if (it)
        it->free(it);
}

int store_query_candles_vec(struct store *st, const struct candle_query *q, struct candle_vec *out,
                            struct strbuf *err)
{
    struct candle_iter *it;
    struct candle c;
    int rc = store_query_candles(st, q, &it, err);
    if (rc)
        return rc;
    while ((rc = candle_iter_next(it, &c, err)) == ITER_OK)
        candle_vec_push(out, &c);
    candle_iter_free(it);
    return rc == ITER_DONE ? 0 : rc;
}

int store_count_candles(struct store *st, const struct candle_query *q, int64_t *out,
                        struct strbuf *err)
{
    int rc = check_series(&q->series, err);
    if (rc)
        return rc;
    return st->ops->count_candles(st, q, out, err);
}

int store_candle_extent(struct store *st, const struct candle_query *q, struct candle_extent *out,
                        struct strbuf *err)
{
    int rc = check_series(&q->series, err);

    memset(out, 0, sizeof(*out));
    if (rc)
        return rc;
    return st->ops->candle_extent(st, q, out, err);
}

int store_candle_stamp(struct store *st, struct store_stamp *out, struct strbuf *err)
{
    memset(out, 0, sizeof(*out));
    return st->ops->candle_stamp(st, out, err);
}

bool store_stamp_shared(const struct store *st)
{
    return st->ops->stamp_shared;
}

int store_candle_times(struct store *st, const struct candle_query *q, int64_t **out, size_t *n,
                       struct strbuf *err)
{
    int rc = check_series(&q->series, err);

    *out = NULL;
    *n = 0;
    if (rc)
        return rc;
    rc = st->ops->candle_times(st, q, out, n, err);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int store_delete_candles_before(struct store *st, enum timeframe tf, int64_t before, size_t limit,
                                int64_t *deleted, struct strbuf *err)
{
    bool owned;
    int64_t n = 0;
    int rc;

    if ((unsigned)tf >= TF_COUNT)
        BUG("invalid timeframe %d", (int)tf);
    rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = st->ops->delete_candles_before(st, tf, before, limit, &n, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (deleted)
        *deleted = rc ? 0 : n;
    return rc;
}

int store_count_candles_before(struct store *st, enum timeframe tf, int64_t before, int64_t *out,
                               struct strbuf *err)
{
    if ((unsigned)tf >= TF_COUNT)
        BUG("invalid timeframe %d", (int)tf);
    *out = 0;
    return st->ops->count_candles_before(st, tf, before, out, err);
}

int store_list_series(struct store *st, struct series_info **out, size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->list_series(st, out, n, err);
}

void series_info_free(struct series_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].source);
        free(v[i].symbol);
    }
    free(v);
}

static const char *const gap_state_names[] = {
    [GAP_OPEN] = "open",
    [GAP_REPAIRING] = "repairing",
    [GAP_FILLED] = "filled",
    [GAP_UNFILLABLE] = "unfillable",
};

const char *gap_state_name(enum gap_state s)
{
    if ((unsigned)s >= ARRAY_SIZE(gap_state_names))
        BUG("invalid gap state %d", (int)s);
    return gap_state_names[s];
}

int gap_state_parse(const char *name, enum gap_state *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(gap_state_names); i++) {
        if (!strcasecmp(name, gap_state_names[i])) {
            *out = (enum gap_state)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

void gap_records_free(struct gap_record *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].source);
        free(v[i].symbol);
        free(v[i].reason);
    }
    free(v);
}

int store_list_gaps(struct store *st, const struct gap_query *q, struct gap_record **out, size_t *n,
                    struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->list_gaps(st, q, out, n, err);
}

static bool overlaps(int64_t a_first, int64_t a_last, int64_t b_first, int64_t b_last)
{
    return a_first <= b_last && b_first <= a_last;
}

/*
 * The reconciliation of store_sync_gaps(), inside the transaction. Records
 * are matched by overlap rather than by equal bounds because a gap narrows
 * as a repair fills part of it, and a window edge can cut one.
 */
static int sync_gaps_tx(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                        const struct gap_range *found, size_t nfound, const char *reason,
                        const struct gap_reason *reasons, int64_t now, struct gap_sync_result *res,
                        struct strbuf *err)
{
    struct gap_query q = {
        .source = s->source,
        .symbol = s->symbol,
        .has_tf = true,
        .tf = s->tf,
        .has_since = true,
        .since = from,
    };
    struct gap_record *recs = NULL;
    size_t nrecs = 0;
    bool *seen = NULL;
    int rc;

    rc = st->ops->list_gaps(st, &q, &recs, &nrecs, err);
    if (rc)
        return rc;
    seen = xcalloc(nrecs ? nrecs : 1, sizeof(*seen));

    for (size_t i = 0; i < nfound && !rc; i++) {
        const struct gap_range *g = &found[i];
        const char *why = reasons && reasons[i].text ? reasons[i].text : reason;
        bool replace = reasons && reasons[i].text && reasons[i].replace;
        struct gap_record *match = NULL;
        bool blocked = false;

        for (size_t j = 0; j < nrecs; j++) {
            if (!overlaps(g->first, g->last, recs[j].first, recs[j].last))
                continue;
            if (recs[j].state == GAP_UNFILLABLE || recs[j].state == GAP_FILLED) {
                /* A filled record overlapping a fresh hole is history; an
                 * unfillable one already covers it, whichever record the
                 * listing order puts after it. */
                if (recs[j].state == GAP_UNFILLABLE)
                    blocked = true;
                continue;
            }
            if (!match) {
                match = &recs[j];
                seen[j] = true;
            }
        }
        if (match) {
            bool new_reason = replace && strcmp(match->reason, why);
            if (match->first != g->first || match->last != g->last || match->count != g->count ||
                match->last_checked != now || new_reason) {
                if (new_reason) {
                    free(match->reason);
                    match->reason = xstrdup(why);
                }
                match->first = g->first;
                match->last = g->last;
                match->count = g->count;
                match->last_checked = now;
                rc = st->ops->update_gap(st, match, err);
            }
            res->updated++;
            res->open++;
        } else if (!blocked) {
            struct gap_record rec = {
                .first = g->first,
                .last = g->last,
                .count = g->count,
                .state = GAP_OPEN,
                .reason = (char *)(why ? why : "missing"),
                .first_seen = now,
                .last_checked = now,
            };
            rc = st->ops->insert_gap(st, s, &rec, err);
            res->opened++;
            res->open++;
        }
    }

    /* Open records inside the window that no fresh gap overlaps are filled. */
    for (size_t j = 0; j < nrecs && !rc; j++) {
        if (seen[j] || (recs[j].state != GAP_OPEN && recs[j].state != GAP_REPAIRING))
            continue;
        if (recs[j].first < from || recs[j].last >= to)
            continue; /* partly outside the scanned window: not judged */
        recs[j].state = GAP_FILLED;
        recs[j].last_checked = now;
        rc = st->ops->update_gap(st, &recs[j], err);
        res->filled++;
    }
    free(seen);
    gap_records_free(recs, nrecs);
    return rc;
}

int store_sync_gaps(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                    const struct gap_range *found, size_t nfound, const char *reason, int64_t now,
                    struct gap_sync_result *out, struct strbuf *err)
{
    return store_sync_gaps_reasons(st, s, from, to, found, nfound, reason, NULL, now, out, err);
}

int store_sync_gaps_reasons(struct store *st, const struct series_key *s, int64_t from, int64_t to,
                            const struct gap_range *found, size_t nfound, const char *reason,
                            const struct gap_reason *reasons, int64_t now,
                            struct gap_sync_result *out, struct strbuf *err)
{
    struct gap_sync_result res = {0};
    bool owned;
    int rc = check_series(s, err);
    if (rc)
        return rc;
    rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = sync_gaps_tx(st, s, from, to, found, nfound, reason, reasons, now, &res, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (out)
        *out = rc ? (struct gap_sync_result){0} : res;
    return rc;
}

int store_update_gap(struct store *st, const struct gap_record *g, struct strbuf *err)
{
    return st->ops->update_gap(st, g, err);
}

int store_set_gap_state(struct store *st, int64_t id, enum gap_state state, const char *reason,
                        int64_t now, struct strbuf *err)
{
    struct gap_record *recs = NULL;
    size_t n = 0;
    struct gap_query q = {0};
    int rc;

    /* The ledger is small; a targeted lookup can come when it is needed. */
    rc = st->ops->list_gaps(st, &q, &recs, &n, err);
    if (rc)
        return rc;
    rc = CK_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].id != id)
            continue;
        recs[i].state = state;
        if (reason) {
            free(recs[i].reason);
            recs[i].reason = xstrdup(reason);
        }
        recs[i].last_checked = now;
        /* The backend describes its own failures, CK_ENOTFOUND included. */
        rc = st->ops->update_gap(st, &recs[i], err);
        goto out;
    }
    strbuf_addf(err, "store: no gap with id %lld", (long long)id);
out:
    gap_records_free(recs, n);
    return rc;
}

static const char *const job_status_names[] = {
    [JOB_RUNNING] = "running",     [JOB_OK] = "ok",
    [JOB_FAILED] = "failed",       [JOB_SKIPPED] = "skipped",
    [JOB_TIMED_OUT] = "timed_out", [JOB_MISSED] = "missed",
};

const char *job_status_name(enum job_status s)
{
    if ((unsigned)s >= ARRAY_SIZE(job_status_names))
        BUG("invalid job status %d", (int)s);
    return job_status_names[s];
}

int job_status_parse(const char *name, enum job_status *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(job_status_names); i++) {
        if (!strcmp(name, job_status_names[i])) {
            *out = (enum job_status)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

void job_state_release(struct job_state *js)
{
    if (!js)
        return;
    free(js->job_id);
    free(js->pause_reason);
    free(js->paused_by);
    memset(js, 0, sizeof(*js));
}

void job_states_free(struct job_state *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        job_state_release(&v[i]);
    free(v);
}

bool job_state_paused(const struct job_state *js, int64_t now)
{
    return js->paused && (js->paused_until <= 0 || now < js->paused_until);
}

void job_runs_free(struct job_run *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].job_id);
        free(v[i].instance);
        free(v[i].message);
        free(v[i].details);
    }
    free(v);
}

static int check_name(const char *what, const char *v, struct strbuf *err)
{
    if (!v || !*v) {
        strbuf_addf(err, "store: empty %s", what);
        return CK_EINVAL;
    }
    return 0;
}

int store_job_ensure(struct store *st, const char *job_id, int64_t now, struct strbuf *err)
{
    bool owned;
    int rc = check_name("job id", job_id, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_ensure(st, job_id, now, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_job_get(struct store *st, const char *job_id, struct job_state *out, struct strbuf *err)
{
    memset(out, 0, sizeof(*out));
    int rc = check_name("job id", job_id, err);
    return rc ? rc : st->ops->job_get(st, job_id, out, err);
}

int store_job_list(struct store *st, struct job_state **out, size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->job_list(st, out, n, err);
}

int store_job_set_paused(struct store *st, const char *job_id, bool paused, int64_t now,
                         struct strbuf *err)
{
    bool owned;
    int rc = check_name("job id", job_id, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_ensure(st, job_id, now, err);
    if (!rc)
        rc = st->ops->job_pause(st, job_id, &(struct job_pause){.paused = paused}, now, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_job_pause(struct store *st, const char *job_id, const struct job_pause *p, int64_t now,
                    struct strbuf *err)
{
    bool owned;
    int rc = check_name("job id", job_id, err);
    if (!rc && p->paused && p->until && p->until <= now) {
        strbuf_addf(err, "store: job '%s': the pause would end at %lld, not after now (%lld)",
                    job_id, (long long)p->until, (long long)now);
        rc = CK_EINVAL;
    }
    if (!rc && p->reason && strlen(p->reason) > JOB_PAUSE_REASON_MAX) {
        strbuf_addf(err, "store: job '%s': the reason of a pause is longer than %d bytes", job_id,
                    JOB_PAUSE_REASON_MAX);
        rc = CK_EINVAL;
    }
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_ensure(st, job_id, now, err);
    if (!rc)
        rc = st->ops->job_pause(st, job_id, p, now, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_job_set_last_fire(struct store *st, const char *job_id, int64_t fire, struct strbuf *err)
{
    bool owned;
    int rc = check_name("job id", job_id, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_set_last_fire(st, job_id, fire, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_job_run_insert(struct store *st, struct job_run *r, struct strbuf *err)
{
    bool owned;
    int rc = check_name("job id", r->job_id, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_ensure(st, r->job_id, r->started / 1000, err);
    if (!rc)
        rc = st->ops->job_run_insert(st, r, err);
    if (!rc && r->status != JOB_RUNNING)
        rc = st->ops->job_set_last_fire(st, r->job_id, r->scheduled, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_job_run_finish(struct store *st, const struct job_run *r, int64_t *out_streak,
                         struct strbuf *err)
{
    int64_t streak = -1;
    bool owned;
    int rc = check_name("job id", r->job_id, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->job_run_update(st, r->id, r->status, r->finished, r->message,
                                 r->details ? r->details : "{}", err);
    if (!rc && (r->status == JOB_OK || r->status == JOB_FAILED || r->status == JOB_TIMED_OUT))
        rc = st->ops->job_streak_update(st, r->job_id, r->status == JOB_OK, &streak, err);
    if (!rc)
        rc = st->ops->job_set_last_fire(st, r->job_id, r->scheduled, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (!rc && out_streak) {
        if (streak < 0) {
            struct job_state js;
            rc = st->ops->job_get(st, r->job_id, &js, err);
            streak = rc ? 0 : js.streak;
            job_state_release(&js);
        }
        *out_streak = streak;
    }
    return rc;
}

int store_job_runs_list(struct store *st, const char *job_id, size_t limit, struct job_run **out,
                        size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->job_runs_list(st, job_id, limit, out, n, err);
}

int store_job_runs_prune(struct store *st, int64_t before_ms, int64_t *deleted, struct strbuf *err)
{
    int64_t n = 0;
    bool owned;
    int rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = st->ops->job_runs_prune(st, before_ms, &n, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (deleted)
        *deleted = rc ? 0 : n;
    return rc;
}

int store_job_runs_fail_stale(struct store *st, int64_t started_before_ms, const char *message,
                              int64_t *count, struct strbuf *err)
{
    int64_t n = 0;
    bool owned;
    int rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = st->ops->job_runs_fail_stale(st, started_before_ms, message, &n, err);
    rc = store_implicit_end(st, owned, rc, err);
    if (count)
        *count = rc ? 0 : n;
    return rc;
}

int store_lease_claim(struct store *st, const char *name, const char *instance, int64_t now_ms,
                      int64_t until_ms, struct strbuf *err)
{
    bool owned;
    int rc = check_name("lease name", name, err);
    if (!rc)
        rc = check_name("lease holder", instance, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->lease_claim(st, name, instance, now_ms, until_ms, err);
    return store_implicit_end(st, owned, rc, err);
}

int store_lease_release(struct store *st, const char *name, const char *instance,
                        struct strbuf *err)
{
    bool owned;
    int rc = store_implicit_begin(st, &owned, err);
    if (rc)
        return rc;
    rc = st->ops->lease_release(st, name, instance, err);
    return store_implicit_end(st, owned, rc, err);
}

void lease_infos_free(struct lease_info *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].name);
        free(v[i].holder);
    }
    free(v);
}

int store_lease_list(struct store *st, const char *prefix, int64_t valid_at_ms,
                     struct lease_info **out, size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->lease_list(st, prefix ? prefix : "", valid_at_ms, out, n, err);
}

/* --- rate budgets ---------------------------------------------------------- */

#define DAY_MS (86400LL * 1000)

static const char *const rate_refusal_names[] = {
    [RATE_FREE] = "free",
    [RATE_BANNED] = "banned",
    [RATE_DAY] = "daily_quota",
    [RATE_WINDOW] = "minute_window",
};

const char *rate_refusal_name(enum rate_refusal r)
{
    if ((unsigned)r >= ARRAY_SIZE(rate_refusal_names))
        BUG("invalid rate refusal %d", (int)r);
    return rate_refusal_names[r];
}

static int check_budget(const struct rate_budget *b, struct strbuf *err)
{
    if (!b->source || !*b->source || b->window_ms <= 0 || b->per_window < 1 || b->per_day < 0) {
        strbuf_addstr(err, "store: a rate budget needs a source, a window and a positive limit");
        return CK_EINVAL;
    }
    return 0;
}

/* Days since 1970-01-01 of the UTC day that contains `ms`. */
static int64_t utc_day(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static void copy_reason(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= RATE_REASON_MAX)
        n = RATE_REASON_MAX - 1;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/*
 * Judge budget `b` at `now_ms` from its stored `row` (whose day count is
 * restarted when the UTC day changed) and the request log: the first
 * refusal found names the reason, and the retry time is the latest of all
 * that apply, since each of them has to lapse.
 */
static int rate_judge(struct store *st, const struct rate_budget *b, int64_t now_ms,
                      struct rate_row *row, struct rate_state *out, struct strbuf *err)
{
    int64_t day = utc_day(now_ms), count = 0, nth_ms = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (row->day != day) {
        row->day = day;
        row->day_used = 0;
    }
    rc = st->ops->rate_window(st, b->source, now_ms - b->window_ms, b->per_window, &count, &nth_ms,
                              err);
    if (rc)
        return rc;
    out->window_used = count;
    out->day_used = row->day_used;
    if (row->banned_until_ms > now_ms) {
        out->banned_until_ms = row->banned_until_ms;
        copy_reason(out->ban_reason, row->ban_reason);
        out->refusal = RATE_BANNED;
        out->retry_at_ms = row->banned_until_ms;
    }
    if (b->per_day > 0 && row->day_used >= b->per_day) {
        int64_t next_day = (day + 1) * DAY_MS;
        if (out->refusal == RATE_FREE)
            out->refusal = RATE_DAY;
        if (next_day > out->retry_at_ms)
            out->retry_at_ms = next_day;
    }
    if (count >= b->per_window) {
        /* When the per_window-th newest request leaves the window, a token is free. */
        int64_t free_at = (nth_ms ? nth_ms : now_ms) + b->window_ms;
        if (out->refusal == RATE_FREE)
            out->refusal = RATE_WINDOW;
        if (free_at > out->retry_at_ms)
            out->retry_at_ms = free_at;
    }
    return 0;
}

int store_rate_take(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err)
{
    struct rate_row row;
    bool owned;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_budget(b, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    memset(&row, 0, sizeof(row));
    rc = st->ops->rate_get(st, b->source, true, &row, err);
    if (!rc)
        rc = rate_judge(st, b, now_ms, &row, out, err);
    if (!rc && out->refusal == RATE_FREE) {
        row.day_used++;
        rc = st->ops->rate_log(st, b->source, now_ms, now_ms - b->window_ms, err);
        if (!rc)
            rc = st->ops->rate_put(st, b->source, &row, now_ms, err);
        if (!rc) {
            out->granted = true;
            out->window_used++;
            out->day_used++;
        }
    }
    rc = store_implicit_end(st, owned, rc, err);
    if (rc)
        out->granted = false;
    return rc;
}

int store_rate_peek(struct store *st, const struct rate_budget *b, int64_t now_ms,
                    struct rate_state *out, struct strbuf *err)
{
    struct rate_row row;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&row, 0, sizeof(row));
    rc = check_budget(b, err);
    if (!rc)
        rc = st->ops->rate_get(st, b->source, false, &row, err);
    if (rc == CK_ENOTFOUND) {
        memset(&row, 0, sizeof(row));
        rc = 0;
    }
    return rc ? rc : rate_judge(st, b, now_ms, &row, out, err);
}

int store_rate_ban(struct store *st, const char *source, int64_t until_ms, const char *reason,
                   int64_t now_ms, struct strbuf *err)
{
    struct rate_row row;
    bool owned;
    int rc = check_name("source", source, err);

    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    memset(&row, 0, sizeof(row));
    rc = st->ops->rate_get(st, source, true, &row, err);
    if (!rc && until_ms > row.banned_until_ms) {
        row.banned_until_ms = until_ms;
        copy_reason(row.ban_reason, reason);
        rc = st->ops->rate_put(st, source, &row, now_ms, err);
    }
    return store_implicit_end(st, owned, rc, err);
}

/* --- series state ---------------------------------------------------------- */

void series_state_release(struct series_state *s)
{
    if (!s)
        return;
    free(s->source);
    free(s->symbol);
    free(s->last_error);
    free(s->deferred_reason);
    memset(s, 0, sizeof(*s));
}

void series_states_free(struct series_state *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        series_state_release(&v[i]);
    free(v);
}

int store_series_state_get(struct store *st, const struct series_key *k, struct series_state *out,
                           struct strbuf *err)
{
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_series(k, err);
    if (rc)
        return rc;
    rc = st->ops->series_state_get(st, k, out, err);
    if (rc == CK_ENOTFOUND)
        strbuf_addf(err, "store: series %s %s %s has no state", k->source, k->symbol,
                    timeframe_name(k->tf));
    return rc;
}

int store_series_state_list(struct store *st, const char *source, struct series_state **out,
                            size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->series_state_list(st, source, out, n, err);
}

/* Apply `event` to the row `s` (owned strings are replaced in place). */
static void series_apply(struct series_state *s, enum series_event event, const char *message,
                         int64_t now)
{
    const char *msg = message ? message : "";

    switch (event) {
    case SERIES_OK:
        s->streak = 0;
        s->skipped = 0;
        s->last_success = now;
        s->deferred_since = 0;
        free(s->deferred_reason);
        s->deferred_reason = xstrdup("");
        break;
    case SERIES_FAILED:
        s->streak++;
        s->skipped = 0;
        s->last_failure = now;
        free(s->last_error);
        s->last_error = xstrdup(msg);
        s->deferred_since = 0;
        free(s->deferred_reason);
        s->deferred_reason = xstrdup("");
        break;
    case SERIES_SKIPPED:
        s->skipped++;
        break;
    case SERIES_DEFERRED:
        if (!s->deferred_since)
            s->deferred_since = now;
        free(s->deferred_reason);
        s->deferred_reason = xstrdup(msg);
        break;
    }
    s->updated_at = now;
}

int store_series_record(struct store *st, const struct series_key *k, enum series_event event,
                        const char *message, int64_t now, struct series_state *out,
                        struct strbuf *err)
{
    struct series_state s;
    bool owned;
    int rc;

    if (out)
        memset(out, 0, sizeof(*out));
    rc = check_series(k, err);
    if (rc || (rc = store_implicit_begin(st, &owned, err)))
        return rc;
    rc = st->ops->series_state_get(st, k, &s, err);
    if (rc == CK_ENOTFOUND) {
        memset(&s, 0, sizeof(s));
        s.source = xstrdup(k->source);
        s.symbol = xstrdup(k->symbol);
        s.tf = k->tf;
        s.last_error = xstrdup("");
        s.deferred_reason = xstrdup("");
        rc = 0;
    }
    if (!rc) {
        series_apply(&s, event, message, now);
        rc = st->ops->series_state_put(st, &s, err);
    }
    rc = store_implicit_end(st, owned, rc, err);
    if (!rc && out)
        *out = s;
    else
        series_state_release(&s);
    return rc;
}

/* Bulk export and import. */

static const char *const table_names[] = {
    [STORE_TABLE_SERIES] = "series",
    [STORE_TABLE_CANDLES] = "candles",
    [STORE_TABLE_GAPS] = "gaps",
    [STORE_TABLE_JOBS] = "jobs",
    [STORE_TABLE_JOB_RUNS] = "job_runs",
    [STORE_TABLE_LEASES] = "leases",
    [STORE_TABLE_ALERTS] = "alerts",
    [STORE_TABLE_ALERT_OUTBOX] = "alert_outbox",
    [STORE_TABLE_SIGNALS] = "signals",
    [STORE_TABLE_DELIVERIES] = "deliveries",
    [STORE_TABLE_DELIVERY_ATTEMPTS] = "delivery_attempts",
    [STORE_TABLE_OUTCOMES] = "outcomes",
    [STORE_TABLE_BACKTESTS] = "backtests",
    [STORE_TABLE_BREAKERS] = "breakers",
    [STORE_TABLE_BACKFILLS] = "backfills",
};
static_assert(ARRAY_SIZE(table_names) == STORE_TABLE_COUNT, "a name for every table");

const char *store_table_name(enum store_table t)
{
    if ((unsigned)t >= STORE_TABLE_COUNT)
        BUG("invalid store table %d", (int)t);
    return table_names[t];
}

int store_export_gaps(struct store *st, int64_t after_id, size_t limit, struct gap_record **out,
                      size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->export_gaps(st, after_id, limit, out, n, err);
}

int store_import_gaps(struct store *st, const struct gap_record *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err)
{
    size_t count = 0;
    bool owned = false;
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        struct series_key k = {.source = v[i].source, .symbol = v[i].symbol, .tf = v[i].tf};
        rc = check_series(&k, err);
        if (!rc && (unsigned)v[i].state > GAP_UNFILLABLE) {
            strbuf_addf(err, "store: invalid gap state %d", (int)v[i].state);
            rc = CK_EINVAL;
        }
    }
    if (!rc && n)
        rc = store_implicit_begin(st, &owned, err);
    if (rc || !n)
        goto out;
    rc = st->ops->import_gaps(st, v, n, flags, &count, err);
    rc = store_implicit_end(st, owned, rc, err);
out:
    if (added)
        *added = rc ? 0 : count;
    return rc;
}

int store_export_job_runs(struct store *st, int64_t after_id, size_t limit, struct job_run **out,
                          size_t *n, struct strbuf *err)
{
    *out = NULL;
    *n = 0;
    return st->ops->export_job_runs(st, after_id, limit, out, n, err);
}

int store_import_job_runs(struct store *st, const struct job_run *v, size_t n, unsigned flags,
                          size_t *added, struct strbuf *err)
{
    size_t count = 0;
    bool owned = false;
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        rc = check_name("job id", v[i].job_id, err);
        if (!rc && (unsigned)v[i].status > JOB_MISSED) {
            strbuf_addf(err, "store: invalid job status %d", (int)v[i].status);
            rc = CK_EINVAL;
        }
    }
    if (!rc && n)
        rc = store_implicit_begin(st, &owned, err);
    if (rc || !n)
        goto out;
    rc = st->ops->import_job_runs(st, v, n, flags, &count, err);
    rc = store_implicit_end(st, owned, rc, err);
out:
    if (added)
        *added = rc ? 0 : count;
    return rc;
}

int store_import_jobs(struct store *st, const struct job_state *v, size_t n, unsigned flags,
                      size_t *added, struct strbuf *err)
{
    size_t count = 0;
    bool owned = false;
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++)
        rc = check_name("job id", v[i].job_id, err);
    if (!rc && n)
        rc = store_implicit_begin(st, &owned, err);
    if (rc || !n)
        goto out;
    rc = st->ops->import_jobs(st, v, n, flags, &count, err);
    rc = store_implicit_end(st, owned, rc, err);
out:
    if (added)
        *added = rc ? 0 : count;
    return rc;
}

const char *store_url_backend(const char *url)
{
    const struct store_ops *ops = url ? backend_for(url) : NULL;
    return ops ? ops->name : NULL;
}

const char *store_sqlite_file(const char *url)
{
    if (!url || backend_for(url) != &store_sqlite_ops)
        return NULL;
    /* The forms the SQLite backend accepts (sqlite/conn.c), longest prefix first. */
    if (!strncmp(url, "sqlite://", 9))
        return url + 9;
    if (!strncmp(url, "sqlite:", 7))
        return url + 7;
    return url;
}

/* A PostgreSQL URL without its scheme, which has two spellings. */
static const char *pg_url_rest(const char *url)
{
    if (!strncmp(url, "postgresql://", 13))
        return url + 13;
    if (!strncmp(url, "postgres://", 11))
        return url + 11;
    return NULL;
}

bool store_same_database(const char *a, const char *b)
{
    const char *fa, *fb, *ra, *rb;
    struct stat sa, sb;

    if (!strcmp(a, b))
        return true;
    ra = pg_url_rest(a);
    rb = pg_url_rest(b);
    if (ra && rb)
        return !strcmp(ra, rb);
    fa = store_sqlite_file(a);
    fb = store_sqlite_file(b);
    if (!fa || !fb)
        return false;
    if (!strcmp(fa, fb))
        return true;
    return !stat(fa, &sa) && !stat(fb, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}
