/* SPDX-License-Identifier: MIT */
/*
 * Exports (export.h): CSV, JSON and TradeNote rows of what the store holds.
 *
 * Output goes through zlib's gzFile, opened transparent ("T": written as
 * is) without --gzip, so one writer serves both. Rows are gathered in a
 * buffer flushed every 64 KiB; a failed write is remembered and reported
 * by export_close(), which is why the writers need not check each one.
 *
 * JSON is one array, written as it goes ("[", the objects separated by
 * ",\n", "]"), so the candles of any history stream out like the CSV.
 * Values are those of the API: ISO 8601 UTC times, prices as exact
 * decimal strings.
 *
 * TradeNote. Each settled signal (won or lost) is two executions: the
 * entry at its entry price when it was created (B for a long, SS for a
 * short), the exit at the price its outcome touched when it was decided
 * (S, or BC). Quantity from [export] tradenote_qty; no commission or
 * fees; gross and net proceeds are the signed value (a buy negative).
 * Dates are MM/DD/YYYY and times HH:MM:SS, UTC.
 */
#include "export/export.h"

#include "market/price.h"
#include "market/signal.h"
#include "signal/signal.h"
#include "store/candles.h"
#include "store/jobs.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <zlib.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

#define FLUSH_AT (64 * 1024)

static const char *const kind_names[] = {
    [EXPORT_CANDLES] = "candles",     [EXPORT_SIGNALS] = "signals", [EXPORT_OUTCOMES] = "outcomes",
    [EXPORT_BACKTESTS] = "backtests", [EXPORT_JOBS] = "jobs",
};
static const char *const format_names[] = {
    [EXPORT_CSV] = "csv", [EXPORT_JSON] = "json", [EXPORT_TRADENOTE] = "tradenote"};

const char *export_kind_name(enum export_kind k)
{
    return k <= EXPORT_JOBS ? kind_names[k] : "?";
}

int export_kind_parse(const char *name, enum export_kind *out)
{
    for (int k = EXPORT_CANDLES; k <= EXPORT_JOBS; k++) {
        if (name && !strcmp(name, kind_names[k])) {
            *out = (enum export_kind)k;
            return 0;
        }
    }
    return CK_EINVAL;
}

const char *export_format_name(enum export_format f)
{
    return f <= EXPORT_TRADENOTE ? format_names[f] : "?";
}

int export_format_parse(const char *name, enum export_format *out)
{
    for (int f = EXPORT_CSV; f <= EXPORT_TRADENOTE; f++) {
        if (name && !strcmp(name, format_names[f])) {
            *out = (enum export_format)f;
            return 0;
        }
    }
    return CK_EINVAL;
}

char *export_dir(const struct export_settings *s, const char *store_url)
{
    const char *file = store_sqlite_file(store_url);
    const char *slash;
    struct strbuf d = STRBUF_INIT;

    if (s && s->dir && *s->dir)
        return xstrdup(s->dir);
    if (!file || !(slash = strrchr(file, '/')))
        return xstrdup("exports");
    strbuf_add(&d, file, (size_t)(slash - file));
    strbuf_addstr(&d, slash == file ? "exports" : "/exports");
    return strbuf_detach(&d, NULL);
}

/* --- the output ------------------------------------------------------------ */

struct export_out {
    gzFile gz;
    char *name; /* for messages */
    struct strbuf buf;
    bool failed;
    int saved_errno;
};

int export_open(struct export_out **out, const char *path, bool gzip, struct strbuf *err)
{
    const char *mode = gzip ? "wb6" : "wbT";
    struct export_out *o;
    gzFile gz;

    if (path) {
        gz = gzopen(path, mode);
    } else {
        int fd = dup(STDOUT_FILENO);
        gz = fd < 0 ? NULL : gzdopen(fd, mode);
        if (!gz && fd >= 0)
            close(fd);
    }
    if (!gz) {
        strbuf_addf(err, "export: cannot open '%s': %s", path ? path : "stdout",
                    errno ? strerror(errno) : "out of memory");
        return CK_EIO;
    }
    o = xcalloc(1, sizeof(*o));
    o->gz = gz;
    o->name = xstrdup(path ? path : "stdout");
    strbuf_init(&o->buf, FLUSH_AT + 4096);
    *out = o;
    return 0;
}

static void flush(struct export_out *o)
{
    if (o->buf.len && !o->failed &&
        gzwrite(o->gz, o->buf.buf, (unsigned)o->buf.len) != (int)o->buf.len) {
        o->failed = true;
        o->saved_errno = errno;
    }
    strbuf_reset(&o->buf);
}

static void maybe_flush(struct export_out *o)
{
    if (o->buf.len >= FLUSH_AT)
        flush(o);
}

int export_close(struct export_out *o, struct strbuf *err)
{
    int rc = 0;

    if (!o)
        return 0;
    flush(o);
    if (gzclose(o->gz) != Z_OK && !o->failed) {
        o->failed = true;
        o->saved_errno = errno;
    }
    if (o->failed) {
        strbuf_addf(err, "export: cannot write '%s': %s", o->name,
                    o->saved_errno ? strerror(o->saved_errno) : "write failed");
        rc = CK_EIO;
    }
    strbuf_release(&o->buf);
    free(o->name);
    free(o);
    return rc;
}

/* --- cells ------------------------------------------------------------------ */

static void csv_field(struct strbuf *sb, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        strbuf_addstr(sb, s);
        return;
    }
    strbuf_addch(sb, '"');
    for (; *s; s++) {
        if (*s == '"')
            strbuf_addch(sb, '"');
        strbuf_addch(sb, *s);
    }
    strbuf_addch(sb, '"');
}

static void add_price(struct strbuf *sb, int64_t v)
{
    char buf[PRICE_BUFSZ];
    price_format(v, buf);
    strbuf_addstr(sb, buf);
}

/* ISO 8601 of Unix seconds; nothing for 0 when `zero_empty`. */
static void add_time(struct strbuf *sb, int64_t t, bool zero_empty)
{
    char buf[TIME_BUFSZ];
    if (!t && zero_empty)
        return;
    time_format_iso8601(t, buf);
    strbuf_addstr(sb, buf);
}

static json_t *jtime(int64_t t)
{
    char buf[TIME_BUFSZ];
    if (!t)
        return json_null();
    time_format_iso8601(t, buf);
    return json_string(buf);
}

static json_t *jprice(int64_t v)
{
    char buf[PRICE_BUFSZ];
    price_format(v, buf);
    return json_string(buf);
}

/* One JSON object of an array being written; takes `j`. */
static void json_row(struct export_out *o, json_t *j, int64_t *n)
{
    char *text = json_dumps(j, JSON_COMPACT);
    strbuf_addstr(&o->buf, *n ? ",\n" : "[\n");
    strbuf_addstr(&o->buf, text ? text : "null");
    free(text);
    json_decref(j);
    (*n)++;
    maybe_flush(o);
}

static void json_end(struct export_out *o, int64_t n)
{
    strbuf_addstr(&o->buf, n ? "\n]\n" : "[]\n");
}

static bool in_range(const struct export_query *q, int64_t t)
{
    return (!q->since || t >= q->since) && (!q->until || t < q->until);
}

static bool series_match(const struct export_query *q, const char *source, const char *symbol,
                         enum timeframe tf)
{
    return (!q->source || !strcmp(q->source, source)) &&
           (!q->symbol || !strcmp(q->symbol, symbol)) && (!q->has_tf || q->tf == tf);
}

/* --- candles ----------------------------------------------------------------- */

static int write_series(struct store *st, const struct export_query *q, const struct series_info *s,
                        enum export_format f, struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct candle_query cq = {
        .series = {.source = s->source, .symbol = s->symbol, .tf = s->tf},
        .has_start = q->since != 0,
        .start = q->since,
        .has_end = q->until != 0,
        .end = q->until - 1,
        .order = STORE_ASC,
    };
    struct candle_iter *it = NULL;
    struct candle c;
    int rc = store_query_candles(st, &cq, &it, err);

    while (!rc && (rc = candle_iter_next(it, &c, err)) == ITER_OK) {
        if (f == EXPORT_JSON) {
            json_row(o,
                     json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "source", s->source,
                               "symbol", s->symbol, "timeframe", timeframe_name(s->tf), "time",
                               jtime(c.open_time), "open", jprice(c.open), "high", jprice(c.high),
                               "low", jprice(c.low), "close", jprice(c.close), "volume",
                               c.has_volume ? jprice(c.volume) : json_null()),
                     n);
            continue;
        }
        csv_field(&o->buf, s->source);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, s->symbol);
        strbuf_addf(&o->buf, ",%s,", timeframe_name(s->tf));
        add_time(&o->buf, c.open_time, false);
        strbuf_addch(&o->buf, ',');
        add_price(&o->buf, c.open);
        strbuf_addch(&o->buf, ',');
        add_price(&o->buf, c.high);
        strbuf_addch(&o->buf, ',');
        add_price(&o->buf, c.low);
        strbuf_addch(&o->buf, ',');
        add_price(&o->buf, c.close);
        strbuf_addch(&o->buf, ',');
        if (c.has_volume)
            add_price(&o->buf, c.volume);
        strbuf_addch(&o->buf, '\n');
        (*n)++;
        maybe_flush(o);
    }
    candle_iter_free(it);
    return rc == ITER_DONE ? 0 : rc;
}

static int write_candles(struct store *st, const struct export_query *q, enum export_format f,
                         struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct series_info *v = NULL;
    size_t nv = 0;
    int rc = store_list_series(st, &v, &nv, err);

    if (f == EXPORT_CSV)
        strbuf_addstr(&o->buf, "source,symbol,timeframe,time,open,high,low,close,volume\n");
    for (size_t i = 0; i < nv && !rc; i++)
        if (series_match(q, v[i].source, v[i].symbol, v[i].tf))
            rc = write_series(st, q, &v[i], f, o, n, err);
    series_info_free(v, nv);
    return rc;
}

/* --- signals and outcomes ------------------------------------------------------- */

static int load_signals(struct store *st, const struct export_query *q, struct signal **out,
                        size_t *n, struct strbuf *err)
{
    struct signal_query sq = {.oldest_first = true};
    struct signal *v = NULL;
    size_t nv = 0, kept = 0;
    int rc = store_signal_list(st, &sq, &v, &nv, err);

    for (size_t i = 0; i < nv; i++) {
        if (!rc && series_match(q, v[i].source, v[i].symbol, v[i].tf))
            v[kept++] = v[i];
        else
            signal_release(&v[i]);
    }
    *out = v;
    *n = kept;
    return rc;
}

static void signal_csv(struct strbuf *sb, const struct signal *s)
{
    strbuf_addf(sb, "%s,", s->id);
    csv_field(sb, s->source);
    strbuf_addch(sb, ',');
    csv_field(sb, s->symbol);
    strbuf_addf(sb, ",%s,%s,", timeframe_name(s->tf), signal_direction_name(s->direction));
    add_price(sb, s->entry);
    strbuf_addch(sb, ',');
    add_price(sb, s->stop_loss);
    strbuf_addch(sb, ',');
    add_price(sb, s->take_profit);
    strbuf_addf(sb, ",%s,", signal_status_name(s->status));
    add_time(sb, s->created_ms / 1000, false);
    strbuf_addch(sb, ',');
    add_time(sb, s->expires_ms / 1000, true);
    strbuf_addch(sb, ',');
    csv_field(sb, s->note);
    strbuf_addch(sb, '\n');
}

static bool settled(enum signal_status s)
{
    return s == SIGNAL_WON || s == SIGNAL_LOST || s == SIGNAL_EXPIRED;
}

static int write_signals(struct store *st, const struct export_query *q, enum export_format f,
                         struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct signal *v = NULL;
    size_t nv = 0;
    int rc = load_signals(st, q, &v, &nv, err);

    if (f == EXPORT_CSV)
        strbuf_addstr(&o->buf, "id,source,symbol,timeframe,direction,entry,stop_loss,take_profit,"
                               "status,created_at,expires_at,note\n");
    for (size_t i = 0; i < nv && !rc; i++) {
        if (!in_range(q, v[i].created_ms / 1000))
            continue;
        if (f == EXPORT_JSON) {
            json_row(o, signal_json(&v[i]), n);
            continue;
        }
        signal_csv(&o->buf, &v[i]);
        (*n)++;
        maybe_flush(o);
    }
    signals_free(v, nv);
    return rc;
}

/* The price an outcome was decided at: the level it touched, else the one its result implies. */
static int64_t exit_price(const struct signal *s, const struct outcome *oc)
{
    if (oc->has_price)
        return oc->price;
    return oc->result == SIGNAL_WON ? s->take_profit : s->stop_loss;
}

static int write_outcomes(struct store *st, const struct export_query *q, enum export_format f,
                          struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct signal *v = NULL;
    size_t nv = 0;
    int rc = load_signals(st, q, &v, &nv, err);

    if (f == EXPORT_CSV)
        strbuf_addstr(&o->buf, "signal_id,source,symbol,timeframe,direction,entry,result,price,"
                               "decided_at,ambiguous\n");
    for (size_t i = 0; i < nv && !rc; i++) {
        struct outcome oc;
        if (!settled(v[i].status))
            continue;
        rc = store_outcome_get(st, v[i].id, &oc, err);
        if (rc == CK_ENOTFOUND) {
            strbuf_reset(err);
            rc = 0;
            continue;
        }
        if (rc || !in_range(q, oc.decided_ms / 1000))
            continue;
        if (f == EXPORT_JSON) {
            json_row(
                o,
                json_pack(
                    "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:b}", "signal_id", v[i].id,
                    "source", v[i].source, "symbol", v[i].symbol, "timeframe",
                    timeframe_name(v[i].tf), "direction", signal_direction_name(v[i].direction),
                    "entry", jprice(v[i].entry), "result", signal_status_name(oc.result), "price",
                    oc.result == SIGNAL_EXPIRED && !oc.has_price ? json_null()
                                                                 : jprice(exit_price(&v[i], &oc)),
                    "decided_at", jtime(oc.decided_ms / 1000), "ambiguous", oc.ambiguous),
                n);
            continue;
        }
        strbuf_addf(&o->buf, "%s,", v[i].id);
        csv_field(&o->buf, v[i].source);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, v[i].symbol);
        strbuf_addf(&o->buf, ",%s,%s,", timeframe_name(v[i].tf),
                    signal_direction_name(v[i].direction));
        add_price(&o->buf, v[i].entry);
        strbuf_addf(&o->buf, ",%s,", signal_status_name(oc.result));
        if (oc.result != SIGNAL_EXPIRED || oc.has_price)
            add_price(&o->buf, exit_price(&v[i], &oc));
        strbuf_addch(&o->buf, ',');
        add_time(&o->buf, oc.decided_ms / 1000, false);
        strbuf_addf(&o->buf, ",%s\n", oc.ambiguous ? "true" : "false");
        (*n)++;
        maybe_flush(o);
    }
    signals_free(v, nv);
    return rc;
}

/* --- TradeNote ------------------------------------------------------------------- */

const char export_tradenote_header[] =
    "Account,T/D,S/D,Currency,Type,Side,Symbol,Qty,Price,Exec Time,Comm,SEC,TAF,NSCC,Nasdaq,"
    "ECN Remove,ECN Add,Gross Proceeds,Net Proceeds,Clr Broker,Liq,Note\n";

/* One execution of a settled signal. */
struct execution {
    int64_t time;     /* Unix s */
    const char *side; /* B, S, SS, BC */
    int64_t price;
    const struct signal *s;
};

static int cmp_exec(const void *a, const void *b)
{
    const struct execution *x = a, *y = b;
    if (x->time != y->time)
        return (x->time > y->time) - (x->time < y->time);
    return strcmp(x->s->id, y->s->id);
}

/* "MM/DD/YYYY" */
static void add_us_date(struct strbuf *sb, int64_t t)
{
    struct civil_time c;
    time_to_civil(t, &c);
    strbuf_addf(sb, "%02d/%02d/%04d", c.month, c.day, c.year);
}

static void execution_csv(struct strbuf *sb, const struct execution *e, int64_t qty)
{
    struct civil_time c;
    bool buy = e->side[0] == 'B';
    int64_t gross = (buy ? -1 : 1) * qty * e->price;

    time_to_civil(e->time, &c);
    strbuf_addstr(sb, "candlekeep,");
    add_us_date(sb, e->time);
    strbuf_addch(sb, ',');
    add_us_date(sb, e->time);
    strbuf_addf(sb, ",USD,0,%s,", e->side);
    csv_field(sb, e->s->symbol);
    strbuf_addf(sb, ",%" PRId64 ",", qty);
    add_price(sb, e->price);
    strbuf_addf(sb, ",%02d:%02d:%02d,0,0,0,0,0,0,0,", c.hour, c.min, c.sec);
    add_price(sb, gross);
    strbuf_addch(sb, ',');
    add_price(sb, gross);
    strbuf_addf(sb, ",candlekeep,,%s\n", e->s->id);
}

/*
 * The executions of the won and lost signals of `v` (the exit of one
 * without a stored outcome is left out with its entry), by time.
 */
static int executions(struct store *st, const struct signal *v, size_t nv, struct execution **out,
                      size_t *n, struct strbuf *err)
{
    struct execution *e = xcalloc(2 * nv + 1, sizeof(*e));
    size_t k = 0;
    int rc = 0;

    for (size_t i = 0; i < nv && !rc; i++) {
        bool is_long = v[i].direction == SIGNAL_LONG;
        struct outcome oc;
        if (v[i].status != SIGNAL_WON && v[i].status != SIGNAL_LOST)
            continue;
        rc = store_outcome_get(st, v[i].id, &oc, err);
        if (rc == CK_ENOTFOUND) {
            strbuf_reset(err);
            rc = 0;
            continue;
        }
        if (rc)
            break;
        e[k++] = (struct execution){.time = v[i].created_ms / 1000,
                                    .side = is_long ? "B" : "SS",
                                    .price = v[i].entry,
                                    .s = &v[i]};
        e[k++] = (struct execution){.time = oc.decided_ms / 1000,
                                    .side = is_long ? "S" : "BC",
                                    .price = exit_price(&v[i], &oc),
                                    .s = &v[i]};
    }
    if (k)
        qsort(e, k, sizeof(*e), cmp_exec);
    *out = e;
    *n = k;
    return rc;
}

static int write_tradenote(struct store *st, const struct export_query *q, struct export_out *o,
                           int64_t *n, struct strbuf *err)
{
    struct signal *v = NULL;
    struct execution *e = NULL;
    size_t nv = 0, ne = 0;
    int64_t qty = q->tradenote_qty > 0 ? q->tradenote_qty : 1;
    int rc = load_signals(st, q, &v, &nv, err);

    if (!rc)
        rc = executions(st, v, nv, &e, &ne, err);
    strbuf_addstr(&o->buf, export_tradenote_header);
    for (size_t i = 0; i < ne && !rc; i++) {
        if (!in_range(q, e[i].time))
            continue;
        execution_csv(&o->buf, &e[i], qty);
        (*n)++;
        maybe_flush(o);
    }
    free(e);
    signals_free(v, nv);
    return rc;
}

/* Write `body` to dir/name through a temporary file; 0 or CK_EIO. */
static int write_atomic(const char *dir, const char *name, const struct strbuf *body,
                        struct strbuf *err)
{
    struct strbuf path = STRBUF_INIT, tmp = STRBUF_INIT;
    FILE *fp;
    int rc = 0;

    strbuf_addf(&path, "%s/%s", dir, name);
    strbuf_addf(&tmp, "%s/.%s.tmp", dir, name);
    fp = fopen(tmp.buf, "w");
    if (!fp || fwrite(body->buf, 1, body->len, fp) != body->len || fflush(fp) ||
        fsync(fileno(fp))) {
        strbuf_addf(err, "export: cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    if (fp && fclose(fp) && !rc) {
        strbuf_addf(err, "export: cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    if (!rc && rename(tmp.buf, path.buf)) {
        strbuf_addf(err, "export: cannot rename '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    if (rc)
        unlink(tmp.buf);
    strbuf_release(&path);
    strbuf_release(&tmp);
    return rc;
}

int export_tradenote_days(struct store *st, const struct export_query *q, const char *dir,
                          int64_t now, size_t *days, struct strbuf *err)
{
    int64_t qty = q->tradenote_qty > 0 ? q->tradenote_qty : 1;
    struct signal *v = NULL;
    struct execution *e = NULL;
    struct strbuf body = STRBUF_INIT, name = STRBUF_INIT, path = STRBUF_INIT;
    size_t nv = 0, ne = 0, written = 0;
    int64_t limit = now - now % 86400; /* days before today only */
    int rc;

    if (mkdir(dir, 0700) && errno != EEXIST) {
        strbuf_addf(err, "export: cannot create '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    rc = load_signals(st, q, &v, &nv, err);
    /* An active signal will add its exit later: its day, and every day after, must wait. */
    for (size_t i = 0; i < nv && !rc; i++) {
        int64_t day = v[i].created_ms / 1000 - (v[i].created_ms / 1000) % 86400;
        if (v[i].status == SIGNAL_ACTIVE && day < limit)
            limit = day;
    }
    if (!rc)
        rc = executions(st, v, nv, &e, &ne, err);
    for (size_t i = 0; i < ne && !rc;) {
        int64_t day = e[i].time - e[i].time % 86400;
        char date[TIME_BUFSZ];
        struct stat sb;
        size_t j = i;

        while (j < ne && e[j].time - e[j].time % 86400 == day)
            j++;
        if (day >= limit)
            break;
        time_format_date(day, date);
        strbuf_reset(&name);
        strbuf_addf(&name, "tradenote-%s.csv", date);
        strbuf_reset(&path);
        strbuf_addf(&path, "%s/%s", dir, name.buf);
        if (stat(path.buf, &sb)) {
            strbuf_reset(&body);
            strbuf_addstr(&body, export_tradenote_header);
            for (size_t k = i; k < j; k++)
                execution_csv(&body, &e[k], qty);
            rc = write_atomic(dir, name.buf, &body, err);
            written += !rc;
        }
        i = j;
    }
    free(e);
    signals_free(v, nv);
    strbuf_release(&body);
    strbuf_release(&name);
    strbuf_release(&path);
    if (days)
        *days = written;
    return rc;
}

/* --- backtests and jobs ------------------------------------------------------------- */

static int write_backtests(struct store *st, const struct export_query *q, enum export_format f,
                           struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct backtest *v = NULL;
    size_t nv = 0;
    int rc = store_backtest_list(st, q->since * 1000, 0, &v, &nv, err);

    if (f == EXPORT_CSV)
        strbuf_addstr(&o->buf, "id,name,created_at,params,metrics\n");
    /* Newest first from the store: written oldest first, like every other kind. */
    for (size_t k = nv; k-- > 0 && !rc;) {
        const struct backtest *b = &v[k];
        if (!in_range(q, b->created_ms / 1000))
            continue;
        if (f == EXPORT_JSON) {
            json_row(o, backtest_json(b), n);
            continue;
        }
        strbuf_addf(&o->buf, "%" PRId64 ",", b->id);
        csv_field(&o->buf, b->name);
        strbuf_addch(&o->buf, ',');
        add_time(&o->buf, b->created_ms / 1000, false);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, b->params);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, b->metrics);
        strbuf_addch(&o->buf, '\n');
        (*n)++;
        maybe_flush(o);
    }
    backtests_free(v, nv);
    return rc;
}

static int write_jobs(struct store *st, const struct export_query *q, enum export_format f,
                      struct export_out *o, int64_t *n, struct strbuf *err)
{
    struct job_run *v = NULL;
    size_t nv = 0;
    int rc = store_job_runs_list(st, NULL, 0, &v, &nv, err);

    if (f == EXPORT_CSV)
        strbuf_addstr(&o->buf, "id,job_id,instance,scheduled,started,finished,status,duration_ms,"
                               "message,details\n");
    for (size_t k = nv; k-- > 0 && !rc;) {
        const struct job_run *r = &v[k];
        int64_t dur = r->finished ? r->finished - r->started : 0;
        if (!in_range(q, r->started / 1000))
            continue;
        if (f == EXPORT_JSON) {
            json_t *details = json_loads(r->details ? r->details : "{}", 0, NULL);
            json_row(o,
                     json_pack("{s:I, s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:s, s:o}", "id",
                               (json_int_t)r->id, "job_id", r->job_id, "instance", r->instance,
                               "scheduled", jtime(r->scheduled), "started",
                               jtime(r->started / 1000), "finished", jtime(r->finished / 1000),
                               "status", job_status_name(r->status), "duration_ms",
                               r->finished ? json_integer((json_int_t)dur) : json_null(), "message",
                               r->message ? r->message : "", "details",
                               details ? details : json_object()),
                     n);
            continue;
        }
        strbuf_addf(&o->buf, "%" PRId64 ",", r->id);
        csv_field(&o->buf, r->job_id);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, r->instance);
        strbuf_addch(&o->buf, ',');
        add_time(&o->buf, r->scheduled, true);
        strbuf_addch(&o->buf, ',');
        add_time(&o->buf, r->started / 1000, false);
        strbuf_addch(&o->buf, ',');
        add_time(&o->buf, r->finished / 1000, true);
        strbuf_addf(&o->buf, ",%s,", job_status_name(r->status));
        if (r->finished)
            strbuf_addf(&o->buf, "%" PRId64, dur);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, r->message);
        strbuf_addch(&o->buf, ',');
        csv_field(&o->buf, r->details);
        strbuf_addch(&o->buf, '\n');
        (*n)++;
        maybe_flush(o);
    }
    job_runs_free(v, nv);
    return rc;
}

int export_write(struct store *st, const struct export_query *q, enum export_format f,
                 struct export_out *o, int64_t *rows, struct strbuf *err)
{
    int64_t n = 0;
    int rc;

    if (f == EXPORT_TRADENOTE) {
        if (q->kind != EXPORT_SIGNALS && q->kind != EXPORT_OUTCOMES) {
            strbuf_addf(err, "the tradenote format is of signals and outcomes, not %s",
                        export_kind_name(q->kind));
            return CK_EINVAL;
        }
        rc = write_tradenote(st, q, o, &n, err);
        goto out;
    }
    switch (q->kind) {
    case EXPORT_CANDLES:
        rc = write_candles(st, q, f, o, &n, err);
        break;
    case EXPORT_SIGNALS:
        rc = write_signals(st, q, f, o, &n, err);
        break;
    case EXPORT_OUTCOMES:
        rc = write_outcomes(st, q, f, o, &n, err);
        break;
    case EXPORT_BACKTESTS:
        rc = write_backtests(st, q, f, o, &n, err);
        break;
    case EXPORT_JOBS:
        rc = write_jobs(st, q, f, o, &n, err);
        break;
    default:
        BUG("export kind %d", (int)q->kind);
    }
    if (f == EXPORT_JSON)
        json_end(o, n);
out:
    flush(o);
    if (rows)
        *rows = n;
    return rc;
}
