/* SPDX-License-Identifier: MIT */
/*
 * Gap detection: which expected candles of a window are missing.
 *
 * The expected open times are produced in ascending order from the
 * calendar's open sessions rather than by asking the calendar about every
 * slot: for a session [s, e) the candles whose period [t, t + tf) overlaps
 * it are the aligned t from floor(s) up to floor(e - 1). Two sessions can
 * share a candle (an H4 bar spanning the metals pause belongs to both), so
 * each session starts after the last time already produced. The sessions are
 * fetched for [first aligned time >= from, to + tf): a period that starts
 * before `to` can reach up to tf past it, and one that starts inside the
 * window cannot see open time before the window.
 *
 * The expected sequence is merge-walked against the sorted `have` array in
 * one pass. A run of missing candles stays one range until a present
 * expected candle interrupts it, so closed hours between two missing
 * candles never split a gap. Candles in `have` that the calendar does not
 * expect, duplicates, and times outside the window are skipped by the walk.
 *
 * Cost: O(sessions + expected slots + nhave), no allocation per slot.
 */
#include "market/gaps.h"

#include "market/calendar.h"
#include "util/xalloc.h"

#include <stdbool.h>
#include <stdlib.h>

#include "util/banned.h"

struct gap_walk {
    const int64_t *have;
    size_t nhave, j;
    bool open; /* a range is being built in `cur` */
    struct gap_range cur;
    struct gap_range **out;
    size_t *n, *alloc;
    size_t added;
};

static void flush(struct gap_walk *w)
{
    if (!w->open)
        return;
    ALLOC_GROW(*w->out, *w->n + 1, *w->alloc);
    (*w->out)[(*w->n)++] = w->cur;
    w->added++;
    w->open = false;
}

/* Account for expected open time `t`; calls arrive in strictly ascending order. */
static void visit(struct gap_walk *w, int64_t t)
{
    while (w->j < w->nhave && w->have[w->j] < t)
        w->j++;
    if (w->j < w->nhave && w->have[w->j] == t) {
        flush(w);
        return;
    }
    if (w->open) {
        w->cur.last = t;
        w->cur.count++;
    } else {
        w->cur.first = w->cur.last = t;
        w->cur.count = 1;
        w->open = true;
    }
}

int64_t gaps_count_expected(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to)
{
    struct calendar_session *ses = NULL;
    size_t nses = 0, ases = 0;
    int64_t len = timeframe_seconds(tf);
    int64_t start = timeframe_floor(tf, from), next, count = 0;

    if (start < from)
        start += len;
    if (start >= to)
        return 0;
    calendar_sessions(cal, start, to + len, &ses, &nses, &ases);
    /* The walk of gaps_find(), counting each session's run of open times at once. */
    next = start;
    for (size_t i = 0; i < nses; i++) {
        int64_t t = timeframe_floor(tf, ses[i].start);
        int64_t last = timeframe_floor(tf, ses[i].end - 1);
        if (t < next)
            t = next;
        if (last >= to)
            last = timeframe_floor(tf, to - 1);
        if (t <= last) {
            count += (last - t) / len + 1;
            t = last + len;
        }
        if (t > next)
            next = t;
    }
    free(ses);
    return count;
}

size_t gaps_find(const struct calendar *cal, enum timeframe tf, int64_t from, int64_t to,
                 const int64_t *have, size_t nhave, struct gap_range **out, size_t *n,
                 size_t *alloc)
{
    struct gap_walk w = {.have = have, .nhave = nhave, .out = out, .n = n, .alloc = alloc};
    struct calendar_session *ses = NULL;
    size_t nses = 0, ases = 0;
    int64_t len = timeframe_seconds(tf);
    int64_t start = timeframe_floor(tf, from), next;

    if (start < from)
        start += len;
    if (start >= to)
        return 0;
    calendar_sessions(cal, start, to + len, &ses, &nses, &ases);

    next = start; /* the earliest time not produced yet */
    for (size_t i = 0; i < nses; i++) {
        int64_t t = timeframe_floor(tf, ses[i].start);
        int64_t last = timeframe_floor(tf, ses[i].end - 1);
        if (t < next)
            t = next;
        if (last >= to)
            last = timeframe_floor(tf, to - 1);
        for (; t <= last; t += len)
            visit(&w, t);
        if (t > next)
            next = t;
    }
    flush(&w);
    free(ses);
    return w.added;
}
