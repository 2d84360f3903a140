/* SPDX-License-Identifier: MIT */
/*
 * The metrics registry and its Prometheus text rendering (exposition format
 * 0.0.4).
 *
 * Design. A registry holds families (name, type, help) and series (a family
 * plus a preformatted label string). Series live in one chained hash table
 * keyed on the pair (name, labels), so the hot path of a counter increment
 * is one hash, one short chain walk and one addition; families are few and
 * live in a small array searched linearly, which is only done when a series
 * is created. Nothing is ever removed: a registry grows with the label sets
 * it sees, which callers keep bounded (jobs, routes, configured series).
 *
 * Histograms use fixed buckets (.005 .. 300 seconds, plus +Inf); each series
 * keeps a non-cumulative count per bucket and the renderer accumulates them
 * into the `_bucket{le=...}` lines, followed by `_sum` and `_count`.
 *
 * A family used before it is declared is declared on the spot with the type
 * the operation implies (add: counter, set: gauge, observe: histogram) and a
 * placeholder help text. Using a declared family with an operation of the
 * wrong type (set on a counter, observe on a gauge...) or declaring one name
 * with two types is a programmer error and BUG()s: the output would not be
 * valid exposition any more. add() on a gauge is allowed (an up/down count).
 * Counter increments that are negative or NaN and NaN observations are
 * ignored, so a clock step never makes a counter go backwards.
 *
 * Threads. One mutex guards the whole registry; every public function takes
 * it for its whole duration, rendering included (a scrape is rare and
 * short). A NULL registry is accepted everywhere and does nothing.
 *
 * Ownership. The registry owns copies of every name, help text and label
 * string; callers' strings are borrowed for the duration of a call.
 */
#include "util/metrics.h"

#include "util/strbuf.h"
#include "util/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

/* Upper bounds of the histogram buckets in seconds; +Inf is implicit. */
static const double bucket_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                       2.5,   5,    10,    30,   60,  120,  300};
#define NBUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]))

struct family {
    char *name;
    char *help;
    enum metric_type type;
    bool declared; /* false while only implied by a use */
};

struct series {
    struct series *next; /* hash chain */
    uint64_t hash;
    struct family *fam;
    char *labels; /* "" for none */
    double value; /* counter and gauge */
    /* histogram only */
    uint64_t *buckets; /* NBUCKETS counts, not cumulative; the rest is in count */
    double sum;
    uint64_t count;
};

struct metrics {
    /* Guards every field below and everything they point to. */
    pthread_mutex_t lock;
    struct family **families;
    size_t nfamilies, families_alloc;
    struct series **table; /* chained hash table, size a power of two */
    size_t table_size;
    size_t nseries;
};

#define PLACEHOLDER_HELP "candlekeep metric without a description"

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->table_size = 64;
    m->table = xcalloc(m->table_size, sizeof(*m->table));
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->table_size; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
            free(s->labels);
            free(s->buckets);
            free(s);
            s = next;
        }
    }
    free(m->table);
    for (size_t i = 0; i < m->nfamilies; i++) {
        free(m->families[i]->name);
        free(m->families[i]->help);
        free(m->families[i]);
    }
    free(m->families);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon_ok && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_HISTOGRAM:
        return "histogram";
    }
    BUG("invalid metric type %d", (int)t);
}

/* FNV-1a over name, a separator byte and labels. */
static uint64_t series_hash(const char *name, const char *labels)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* Caller holds m->lock. */
static struct family *family_find(struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nfamilies; i++)
        if (!strcmp(m->families[i]->name, name))
            return m->families[i];
    return NULL;
}

/* Caller holds m->lock. */
static struct family *family_add(struct metrics *m, const char *name, enum metric_type type,
                                 const char *help, bool declared)
{
    struct family *f;
    if (!valid_name(name, true))
        BUG("metrics: invalid metric name '%s'", name ? name : "(null)");
    f = xcalloc(1, sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help && *help ? help : PLACEHOLDER_HELP);
    f->type = type;
    f->declared = declared;
    ALLOC_GROW(m->families, m->nfamilies + 1, m->families_alloc);
    m->families[m->nfamilies++] = f;
    return f;
}

void metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help)
{
    struct family *f;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    f = family_find(m, name);
    if (!f) {
        family_add(m, name, type, help, true);
    } else {
        if (f->type != type)
            BUG("metrics: '%s' declared as %s, already a %s", name, type_name(type),
                type_name(f->type));
        if (!f->declared && help && *help) {
            free(f->help);
            f->help = xstrdup(help);
        }
        f->declared = true;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Caller holds m->lock. */
static void table_grow(struct metrics *m)
{
    size_t nsize = m->table_size * 2;
    struct series **nt = xcalloc(nsize, sizeof(*nt));
    for (size_t i = 0; i < m->table_size; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *next = s->next;
            size_t b = (size_t)(s->hash & (nsize - 1));
            s->next = nt[b];
            nt[b] = s;
            s = next;
        }
    }
    free(m->table);
    m->table = nt;
    m->table_size = nsize;
}

/* Caller holds m->lock. Returns NULL when absent and `create` is false. */
static struct series *series_get(struct metrics *m, const char *name, const char *labels,
                                 enum metric_type implied, bool create)
{
    uint64_t h;
    struct series *s;
    struct family *f;

    if (!labels)
        labels = "";
    h = series_hash(name, labels);
    for (s = m->table[h & (m->table_size - 1)]; s; s = s->next)
        if (s->hash == h && !strcmp(s->fam->name, name) && !strcmp(s->labels, labels))
            return s;
    if (!create)
        return NULL;

    f = family_find(m, name);
    if (!f)
        f = family_add(m, name, implied, NULL, false);
    if (m->nseries + 1 > m->table_size)
        table_grow(m);
    s = xcalloc(1, sizeof(*s));
    s->hash = h;
    s->fam = f;
    s->labels = xstrdup(labels);
    if (f->type == METRIC_HISTOGRAM)
        s->buckets = xcalloc(NBUCKETS, sizeof(*s->buckets));
    s->next = m->table[h & (m->table_size - 1)];
    m->table[h & (m->table_size - 1)] = s;
    m->nseries++;
    return s;
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, METRIC_COUNTER, true);
    if (s->fam->type == METRIC_HISTOGRAM)
        BUG("metrics: add on histogram '%s'", name);
    if (s->fam->type == METRIC_GAUGE)
        s->value += v;
    else if (v >= 0) /* also false for NaN */
        s->value += v;
    pthread_mutex_unlock(&m->lock);
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, METRIC_GAUGE, true);
    if (s->fam->type != METRIC_GAUGE)
        BUG("metrics: set on %s '%s'", type_name(s->fam->type), name);
    s->value = v;
    pthread_mutex_unlock(&m->lock);
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double v)
{
    struct series *s;
    if (!m || isnan(v))
        return;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, METRIC_HISTOGRAM, true);
    if (s->fam->type != METRIC_HISTOGRAM)
        BUG("metrics: observe on %s '%s'", type_name(s->fam->type), name);
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (v <= bucket_bounds[i]) {
            s->buckets[i]++;
            break;
        }
    }
    s->sum += v;
    s->count++;
    pthread_mutex_unlock(&m->lock);
}

/* For a histogram series this is its observation count. */
double metrics_get(struct metrics *m, const char *name, const char *labels)
{
    struct series *s;
    double v = 0;
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    s = series_get(m, name, labels, METRIC_GAUGE, false);
    if (s)
        v = s->fam->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* Append `s` escaped for a label value: backslash, double quote and newline. */
static void add_escaped(struct strbuf *sb, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            strbuf_addstr(sb, "\\\\");
        else if (*s == '\n')
            strbuf_addstr(sb, "\\n");
        else if (quote && *s == '"')
            strbuf_addstr(sb, "\\\"");
        else
            strbuf_addch(sb, *s);
    }
}

void metrics_labels(struct strbuf *sb, ...)
{
    va_list ap;
    const char *key;

    va_start(ap, sb);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        if (!valid_name(key, false) || !strncmp(key, "__", 2))
            BUG("metrics: invalid label name '%s'", key);
        if (sb->len)
            strbuf_addch(sb, ',');
        strbuf_addstr(sb, key);
        strbuf_addstr(sb, "=\"");
        add_escaped(sb, val ? val : "", true);
        strbuf_addch(sb, '"');
    }
    va_end(ap);
}

/*
 * A sample value as Prometheus parses it (Go's ParseFloat): the shortest of
 * %.15g / %.17g that reads back exactly, and NaN, +Inf, -Inf.
 */
static void add_value(struct strbuf *sb, double v)
{
    char buf[40];
    if (isnan(v)) {
        strbuf_addstr(sb, "NaN");
        return;
    }
    if (isinf(v)) {
        strbuf_addstr(sb, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof(buf), "%.17g", v);
    strbuf_addstr(sb, buf);
}

static void add_sample(struct strbuf *out, const char *name, const char *suffix, const char *labels,
                       const char *extra_label, double v)
{
    strbuf_addstr(out, name);
    strbuf_addstr(out, suffix);
    if (*labels || extra_label) {
        strbuf_addch(out, '{');
        strbuf_addstr(out, labels);
        if (extra_label) {
            if (*labels)
                strbuf_addch(out, ',');
            strbuf_addstr(out, extra_label);
        }
        strbuf_addch(out, '}');
    }
    strbuf_addch(out, ' ');
    add_value(out, v);
    strbuf_addch(out, '\n');
}

static void render_histogram(struct strbuf *out, const struct series *s)
{
    struct strbuf le = STRBUF_INIT;
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += s->buckets[i];
        strbuf_reset(&le);
        strbuf_addstr(&le, "le=\"");
        add_value(&le, bucket_bounds[i]);
        strbuf_addch(&le, '"');
        add_sample(out, s->fam->name, "_bucket", s->labels, le.buf, (double)cum);
    }
    add_sample(out, s->fam->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
    add_sample(out, s->fam->name, "_sum", s->labels, NULL, s->sum);
    add_sample(out, s->fam->name, "_count", s->labels, NULL, (double)s->count);
    strbuf_release(&le);
}

static int cmp_family(const void *a, const void *b)
{
    const struct family *fa = *(const struct family *const *)a;
    const struct family *fb = *(const struct family *const *)b;
    return strcmp(fa->name, fb->name);
}

static int cmp_series(const void *a, const void *b)
{
    const struct series *sa = *(const struct series *const *)a;
    const struct series *sb = *(const struct series *const *)b;
    int c = strcmp(sa->fam->name, sb->fam->name);
    return c ? c : strcmp(sa->labels, sb->labels);
}

void metrics_render(struct metrics *m, struct strbuf *out)
{
    struct family **fams;
    struct series **all;
    size_t n = 0, j = 0;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    fams = xmalloc((m->nfamilies + 1) * sizeof(*fams));
    for (size_t i = 0; i < m->nfamilies; i++)
        fams[i] = m->families[i];
    qsort(fams, m->nfamilies, sizeof(*fams), cmp_family);
    all = xmalloc((m->nseries + 1) * sizeof(*all));
    for (size_t i = 0; i < m->table_size; i++)
        for (struct series *s = m->table[i]; s; s = s->next)
            all[n++] = s;
    qsort(all, n, sizeof(*all), cmp_series);

    /* Both arrays are sorted by family name, so one merge pass pairs them. */
    for (size_t i = 0; i < m->nfamilies; i++) {
        const struct family *f = fams[i];
        strbuf_addf(out, "# HELP %s ", f->name);
        add_escaped(out, f->help, false);
        strbuf_addf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
        for (; j < n && all[j]->fam == f; j++) {
            if (f->type == METRIC_HISTOGRAM)
                render_histogram(out, all[j]);
            else
                add_sample(out, f->name, "", all[j]->labels, NULL, all[j]->value);
        }
    }
    pthread_mutex_unlock(&m->lock);
    free(all);
    free(fams);
}
