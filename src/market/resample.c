/* SPDX-License-Identifier: MIT */
/*
 * Derived timeframes (see resample.h).
 *
 * The input is walked once: consecutive lower candles with the same bucket
 * label form a group. For each group the calendar's expected lower open
 * times of the bucket are walked beside the group (both ascending), so a
 * missing one is found without a search; lower candles the calendar does
 * not expect (a venue's quote in a closed hour) still count as data.
 *
 * The forex and metals week: New York local time shifted by seven hours
 * puts Sunday 17:00 on Monday 00:00, so the week's label is the Monday of
 * that shifted local time, read as a UTC date. The bucket's UTC bounds are
 * the Sunday 17:00 New York instants around it, found from the zone's
 * offset (asked twice: once at a guess, once at the answer, which settles
 * it whichever side of a DST switch the guess fell).
 */
#include "market/resample.h"

#include "util/error.h"
#include "util/xalloc.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#include <string.h>

#include "util/banned.h"

#define HOUR          3600
#define WEEK_OPEN_GAP (7 * HOUR) /* Sunday 17:00 local + 7 h = Monday 00:00 */

static bool weekly_by_session(enum calendar_kind kind, enum timeframe upper)
{
    return upper == TF_W1 && kind != CAL_CRYPTO;
}

bool resample_fits(enum calendar_kind kind, enum timeframe lower, enum timeframe upper)
{
    int64_t lo = timeframe_seconds(lower), up = timeframe_seconds(upper);

    if (lo >= up || up % lo)
        return false;
    if (weekly_by_session(kind, upper))
        return lo <= HOUR;
    return true;
}

int resample_plan_init(struct resample_plan *p, enum calendar_kind kind, const enum timeframe *tfs,
                       size_t n, const enum timeframe *derive, size_t nd, struct strbuf *why)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < nd; i++)
        p->derived[derive[i]] = true;
    for (size_t i = 0; i < nd; i++) {
        enum timeframe up = derive[i];
        bool found = false;

        for (size_t j = 0; j < n; j++) {
            enum timeframe lo = tfs[j];
            if (p->derived[lo] || !resample_fits(kind, lo, up))
                continue;
            if (!found || timeframe_seconds(lo) > timeframe_seconds(p->from[up]))
                p->from[up] = lo;
            found = true;
        }
        if (!found) {
            strbuf_addf(why,
                        "%s cannot be derived: no timeframe fetched from the venue builds it "
                        "(list a shorter one that divides it in timeframes%s)",
                        timeframe_name(up),
                        up == TF_W1 && kind != CAL_CRYPTO ? ", H1 or shorter for this calendar"
                                                          : "");
            memset(p, 0, sizeof(*p));
            return CK_EINVAL;
        }
    }
    return 0;
}

/* The UTC instant of New York wall-clock time `local` (seconds as if UTC). */
static int64_t ny_to_utc(const struct calendar *cal, int64_t local)
{
    int64_t u = local + 5 * HOUR;

    u = local - calendar_ny_offset(cal, u);
    return local - calendar_ny_offset(cal, u);
}

void resample_bucket_of(const struct calendar *cal, enum timeframe upper, int64_t t,
                        struct resample_bucket *out)
{
    if (weekly_by_session(calendar_get_kind(cal), upper)) {
        int64_t shifted = t + calendar_ny_offset(cal, t) + WEEK_OPEN_GAP;
        out->label = timeframe_floor(TF_W1, shifted);
        out->start = ny_to_utc(cal, out->label - WEEK_OPEN_GAP);
        out->end = ny_to_utc(cal, out->label + timeframe_seconds(TF_W1) - WEEK_OPEN_GAP);
        return;
    }
    out->label = timeframe_floor(upper, t);
    out->start = out->label;
    out->end = out->label + timeframe_seconds(upper);
}

/*
 * Are all the lower candles that `cal` expects in bucket `b` among
 * g[0..n)? The group holds only candles of the bucket, ascending.
 */
static bool group_complete(const struct calendar *cal, enum timeframe lower,
                           const struct resample_bucket *b, const struct candle *g, size_t n)
{
    int64_t len = timeframe_seconds(lower);
    size_t j = 0;

    for (int64_t t = b->start; t < b->end; t += len) {
        if (!calendar_expects(cal, lower, t))
            continue;
        while (j < n && g[j].open_time < t)
            j++;
        if (j == n || g[j].open_time != t)
            return false;
    }
    return true;
}

/* The derived candle of group g[0..n) (n >= 1) labelled `label`. */
static int fold(const struct candle *g, size_t n, int64_t label, struct candle *out,
                struct strbuf *err)
{
    *out = g[0];
    out->open_time = label;
    out->close = g[n - 1].close;
    for (size_t i = 1; i < n; i++) {
        if (g[i].high > out->high)
            out->high = g[i].high;
        if (g[i].low < out->low)
            out->low = g[i].low;
        if (!g[i].has_volume) {
            out->has_volume = false;
        } else if (out->has_volume &&
                   __builtin_add_overflow(out->volume, g[i].volume, &out->volume)) {
            char when[TIME_BUFSZ];
            time_format_iso8601(label, when);
            strbuf_addf(err, "the volume of the candle of %s is too large to add up", when);
            return CK_ELIMIT;
        }
    }
    if (!out->has_volume)
        out->volume = 0;
    return 0;
}

int resample(const struct calendar *cal, enum timeframe lower, enum timeframe upper,
             const struct candle *c, size_t n, int64_t now, struct candle_vec *out,
             struct resample_stats *stats, struct strbuf *err)
{
    struct resample_stats st = {0};
    size_t i = 0;
    int rc = 0;

    if (!resample_fits(calendar_get_kind(cal), lower, upper))
        BUG("resample: %s cannot build %s", timeframe_name(lower), timeframe_name(upper));
    while (i < n) {
        struct resample_bucket b;
        struct candle d;
        size_t j = i + 1;

        resample_bucket_of(cal, upper, c[i].open_time, &b);
        while (j < n && c[j].open_time < b.end)
            j++;
        if (b.end > now) {
            st.forming++;
        } else if (!group_complete(cal, lower, &b, c + i, j - i)) {
            st.incomplete++;
        } else {
            rc = fold(c + i, j - i, b.label, &d, err);
            if (rc)
                break;
            candle_vec_push(out, &d);
            st.built++;
        }
        i = j;
    }
    if (stats)
        *stats = st;
    return rc;
}
