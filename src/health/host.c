/* SPDX-License-Identifier: MIT */
/*
 * Host health (host.h): reading procfs and statvfs through a probe,
 * judging each component against its thresholds with hysteresis, the
 * score with its deductions, and the disk-full forecast.
 *
 * Everything an assessment builds on comes from the previous runs'
 * details (the CPU counters, the levels for hysteresis, the disk samples
 * for the fill rate), so that the judgement is the same whichever daemon
 * (or `maintenance run`) made the previous run, and survives restarts.
 */
#include "health/host.h"

#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "util/banned.h"

static const char *const level_names[] = {
    [HOST_UNKNOWN] = "unknown",   [HOST_OK] = "ok", [HOST_WARN] = "warn", [HOST_HIGH] = "high",
    [HOST_CRITICAL] = "critical",
};

const char *host_level_name(enum host_level l)
{
    return (size_t)l < ARRAY_SIZE(level_names) ? level_names[l] : "unknown";
}

int host_level_parse(const char *name, enum host_level *out)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(level_names); i++) {
        if (!strcmp(name, level_names[i])) {
            *out = (enum host_level)i;
            return 0;
        }
    }
    return CK_EINVAL;
}

struct pct_vec {
    double v[3];
    size_t n;
};

static int push_pct(const char *w, size_t len, void *arg)
{
    struct pct_vec *pv = arg;
    char buf[16];
    int64_t x;
    if (len >= sizeof(buf) || pv->n >= 3)
        return CK_EINVAL;
    memcpy(buf, w, len);
    buf[len] = '\0';
    if (parse_int64(buf, 1, 1000, &x))
        return CK_EINVAL;
    pv->v[pv->n++] = (double)x;
    return 0;
}

int host_thresholds_parse(const char *s, struct host_thresholds *out, struct strbuf *why)
{
    struct pct_vec pv = {.n = 0};
    if (parse_words(s, push_pct, &pv) || pv.n != 3 || pv.v[0] >= pv.v[1] || pv.v[1] >= pv.v[2]) {
        strbuf_addf(why,
                    "'%s' is not three ascending percentages 1-1000 (warn high critical, "
                    "e.g. 80 85 90)",
                    s);
        return CK_EINVAL;
    }
    *out = (struct host_thresholds){.warn = pv.v[0], .high = pv.v[1], .critical = pv.v[2]};
    return 0;
}

/* ---- the real probe ---- */

static int real_read_file(void *arg, const char *name, struct strbuf *out)
{
    struct strbuf path = STRBUF_INIT;
    char buf[4096];
    size_t n;
    FILE *fp;

    strbuf_addf(&path, "%s/%s", (const char *)arg, name);
    fp = fopen(path.buf, "r");
    strbuf_release(&path);
    if (!fp)
        return CK_EIO;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(out, buf, n);
    fclose(fp);
    return 0;
}

static int real_count_fds(void *arg, int64_t *out)
{
    struct strbuf path = STRBUF_INIT;
    struct dirent *de;
    DIR *d;

    strbuf_addf(&path, "%s/self/fd", (const char *)arg);
    d = opendir(path.buf);
    strbuf_release(&path);
    if (!d)
        return CK_EIO;
    *out = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            (*out)++;
    closedir(d);
    /* The directory's own descriptor is not one of the process's. */
    if (*out > 0)
        (*out)--;
    return 0;
}

static int real_statvfs(void *arg, const char *path, int64_t *total, int64_t *free_, int64_t *avail)
{
    struct statvfs vs;
    (void)arg;
    if (statvfs(path, &vs) || !vs.f_blocks)
        return CK_EIO;
    *total = (int64_t)vs.f_blocks * (int64_t)vs.f_frsize;
    *free_ = (int64_t)vs.f_bfree * (int64_t)vs.f_frsize;
    *avail = (int64_t)vs.f_bavail * (int64_t)vs.f_frsize;
    return 0;
}

static const struct host_probe_ops real_ops = {
    .read_file = real_read_file,
    .count_fds = real_count_fds,
    .statvfs = real_statvfs,
};

void host_probe_real(struct host_probe *out, const char *proc_root)
{
    out->ops = &real_ops;
    out->arg = (void *)(proc_root && *proc_root ? proc_root : "/proc");
}

/* ---- reading ---- */

static void read_cpu(const struct host_probe *p, struct host_reading *r)
{
    struct strbuf sb = STRBUF_INIT;
    if (p->ops->read_file(p->arg, "stat", &sb) == 0) {
        unsigned long long v[10] = {0};
        int n = sscanf(sb.buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                       &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        if (n >= 4) {
            /* guest and guest_nice are counted in user and nice already. */
            for (int i = 0; i < n && i < 8; i++)
                r->cpu_total += (int64_t)v[i];
            r->cpu_idle = (int64_t)v[3] + (n > 4 ? (int64_t)v[4] : 0); /* idle + iowait */
            r->cpu_known = r->cpu_total > 0;
        }
        for (const char *l = strstr(sb.buf, "\ncpu"); l; l = strstr(l + 1, "\ncpu"))
            if (l[4] >= '0' && l[4] <= '9')
                r->ncpu++;
    }
    strbuf_release(&sb);
}

/* The kB value of `key` in /proc/meminfo text; -1 when absent. */
static int64_t meminfo_kb(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    long long v;
    if (!p || (p != text && p[-1] != '\n') || sscanf(p + strlen(key), " %lld", &v) != 1)
        return -1;
    return (int64_t)v;
}

static void read_memory(const struct host_probe *p, struct host_reading *r)
{
    struct strbuf sb = STRBUF_INIT;
    if (p->ops->read_file(p->arg, "meminfo", &sb) == 0) {
        int64_t total = meminfo_kb(sb.buf, "MemTotal:"),
                avail = meminfo_kb(sb.buf, "MemAvailable:");
        if (total > 0 && avail >= 0 && avail <= total) {
            r->mem_known = true;
            r->mem_total = total * 1024;
            r->mem_available = avail * 1024;
        }
    }
    strbuf_release(&sb);
}

static void read_load(const struct host_probe *p, struct host_reading *r)
{
    struct strbuf sb = STRBUF_INIT;
    if (p->ops->read_file(p->arg, "loadavg", &sb) == 0 && sscanf(sb.buf, "%lf", &r->load1) == 1 &&
        r->load1 >= 0 && r->ncpu > 0)
        r->load_known = true;
    strbuf_release(&sb);
}

static void read_files(const struct host_probe *p, struct host_reading *r)
{
    struct strbuf sb = STRBUF_INIT;
    const char *l;
    long long soft;
    if (p->ops->read_file(p->arg, "self/limits", &sb) == 0 &&
        (l = strstr(sb.buf, "Max open files")) && sscanf(l + 14, " %lld", &soft) == 1 && soft > 0 &&
        p->ops->count_fds(p->arg, &r->files_open) == 0) {
        r->files_limit = (int64_t)soft;
        r->files_known = true;
    }
    strbuf_release(&sb);
}

void host_read(const struct host_probe *p, const char *const *dirs, size_t ndirs,
               struct host_reading *out)
{
    memset(out, 0, sizeof(*out));
    read_cpu(p, out);
    read_memory(p, out);
    read_load(p, out);
    read_files(p, out);
    out->disks = xcalloc(ndirs ? ndirs : 1, sizeof(*out->disks));
    out->ndisks = ndirs;
    for (size_t i = 0; i < ndirs; i++) {
        struct host_disk *d = &out->disks[i];
        d->path = xstrdup(dirs[i]);
        d->known = !p->ops->statvfs(p->arg, dirs[i], &d->total, &d->free, &d->avail) &&
                   d->total > 0 && d->total >= d->free;
    }
}

void host_reading_release(struct host_reading *r)
{
    for (size_t i = 0; r->disks && i < r->ndisks; i++)
        free(r->disks[i].path);
    free(r->disks);
    memset(r, 0, sizeof(*r));
}

/* ---- assessing ---- */

static const char *str_of(json_t *j)
{
    const char *s = json_string_value(j);
    return s ? s : "";
}

/* The level of the component `name` in details `prev` (HOST_UNKNOWN when absent). */
static enum host_level prev_level(json_t *prev, const char *name)
{
    json_t *c;
    size_t i;
    enum host_level l = HOST_UNKNOWN;
    json_array_foreach(json_object_get(prev, "components"), i, c)
    {
        if (!strcmp(str_of(json_object_get(c, "name")), name))
            host_level_parse(json_string_value(json_object_get(c, "level")), &l);
    }
    return l;
}

static double threshold_of(const struct host_thresholds *t, enum host_level l)
{
    return l == HOST_CRITICAL ? t->critical : l == HOST_HIGH ? t->high : t->warn;
}

/* The level of `value` given the level it had (hysteresis: it clears 10 points lower). */
static enum host_level judge(const struct host_thresholds *t, double value, enum host_level was)
{
    enum host_level l = value >= t->critical ? HOST_CRITICAL
                        : value >= t->high   ? HOST_HIGH
                        : value >= t->warn   ? HOST_WARN
                                             : HOST_OK;
    for (enum host_level k = was; k > l && k >= HOST_WARN; k--)
        if (value >= threshold_of(t, k) - HOST_HYSTERESIS)
            return k;
    return l;
}

struct assess {
    json_t *components, *deductions;
    int sum, cap;
};

static void deduct(struct assess *a, const char *component, int points, int cap, const char *reason)
{
    a->sum += points;
    if (cap < a->cap)
        a->cap = cap;
    json_array_append_new(a->deductions, json_pack("{s:s, s:i, s:s}", "component", component,
                                                   "points", points, "reason", reason));
}

/* One component: its level (with the previous one for hysteresis), its deduction. */
static void component(struct assess *a, json_t *prev, const char *name, const char *what,
                      bool known, double value, const struct host_thresholds *t)
{
    static const int points[] = {
        [HOST_UNKNOWN] = 5, [HOST_WARN] = 10, [HOST_HIGH] = 25, [HOST_CRITICAL] = 50};
    static const int caps[] = {
        [HOST_UNKNOWN] = 95, [HOST_WARN] = 85, [HOST_HIGH] = 60, [HOST_CRITICAL] = 25};
    enum host_level l = known ? judge(t, value, prev_level(prev, name)) : HOST_UNKNOWN;
    char reason[400];

    json_array_append_new(a->components,
                          json_pack("{s:s, s:o, s:s}", "name", name, "value",
                                    known ? json_real(round(value * 10) / 10) : json_null(),
                                    "level", host_level_name(l)));
    if (l == HOST_OK)
        return;
    if (l == HOST_UNKNOWN)
        snprintf(reason, sizeof(reason), "%s could not be read", what);
    else
        snprintf(reason, sizeof(reason), "%s at %.1f%% (%s from %.0f%%)", what, value,
                 host_level_name(l), threshold_of(t, l));
    deduct(a, name, points[l], caps[l], reason);
}

/* Used bytes of disk `path` in details `d`, as df counts them; -1 when absent. */
static int64_t sample_used(json_t *d, const char *path)
{
    json_t *x;
    size_t i;
    json_array_foreach(json_object_get(d, "disks"), i, x)
    {
        if (!strcmp(str_of(json_object_get(x, "path")), path))
            return json_integer_value(json_object_get(x, "used_bytes"));
    }
    return -1;
}

/*
 * Seconds until disk `k` is full at the fill rate of the samples within
 * the window (least squares over (time, used)); -1 when it is not filling
 * or there are too few samples (two, at least ten minutes apart).
 */
static double seconds_to_full(const struct host_config *cfg, const struct host_disk *k,
                              int64_t used, json_t *const *prev, const struct host_history *h,
                              int64_t now)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0, slope;
    int64_t oldest = now;

    for (size_t i = 0; i <= h->n; i++) {
        int64_t t = i < h->n ? h->at[i] : now;
        int64_t u = i < h->n ? sample_used(prev[i], k->path) : used;
        if (u < 0 || t < now - cfg->forecast_window || t > now)
            continue;
        double x = (double)(t - now), y = (double)u;
        sx += x, sy += y, sxx += x * x, sxy += x * y, n++;
        if (t < oldest)
            oldest = t;
    }
    if (n < 2 || now - oldest < 600 || n * sxx - sx * sx <= 0)
        return -1;
    slope = (n * sxy - sx * sy) / (n * sxx - sx * sx); /* bytes per second */
    if (slope <= 0)
        return -1;
    return (double)k->avail / slope;
}

int host_assess(const struct host_config *cfg, const struct host_reading *r,
                const struct host_reading *prev_cpu, const struct host_history *hist, int64_t now,
                json_t *into)
{
    struct assess a = {.components = json_array(), .deductions = json_array(), .cap = 100};
    json_t **prev = xcalloc(hist->n ? hist->n : 1, sizeof(*prev)), *disks = json_array();
    json_t *last = NULL, *forecast = json_null();
    int64_t ptotal = -1, pidle = -1;
    double worst = -1;
    const char *worst_path = NULL;
    int score;

    for (size_t i = 0; i < hist->n; i++)
        prev[i] = json_loads(hist->details[i] ? hist->details[i] : "", 0, NULL);
    last = hist->n ? prev[0] : NULL;

    /* CPU: against the reading given, else the previous run's counters (its window). */
    if (prev_cpu && prev_cpu->cpu_known) {
        ptotal = prev_cpu->cpu_total;
        pidle = prev_cpu->cpu_idle;
    } else if (last && json_is_object(json_object_get(last, "cpu"))) {
        ptotal = json_integer_value(json_object_get(json_object_get(last, "cpu"), "total"));
        pidle = json_integer_value(json_object_get(json_object_get(last, "cpu"), "idle"));
    }
    bool cpu_known = r->cpu_known && ptotal >= 0 && r->cpu_total > ptotal && r->cpu_idle >= pidle;
    double cpu =
        cpu_known ? 100.0 * (1.0 - (double)(r->cpu_idle - pidle) / (double)(r->cpu_total - ptotal))
                  : 0;
    component(&a, last, "cpu", "CPU", cpu_known, cpu, &cfg->cpu);
    component(&a, last, "memory", "memory", r->mem_known,
              r->mem_known ? 100.0 * (1.0 - (double)r->mem_available / (double)r->mem_total) : 0,
              &cfg->memory);
    component(&a, last, "load", "load per CPU", r->load_known,
              r->load_known ? 100.0 * r->load1 / r->ncpu : 0, &cfg->load);
    component(&a, last, "open_files", "open files", r->files_known,
              r->files_known ? 100.0 * (double)r->files_open / (double)r->files_limit : 0,
              &cfg->files);
    for (size_t i = 0; i < r->ndisks; i++) {
        const struct host_disk *k = &r->disks[i];
        struct strbuf name = STRBUF_INIT, what = STRBUF_INIT;
        int64_t used = k->known ? k->total - k->free : -1;
        double pct =
            k->known && used + k->avail > 0 ? 100.0 * (double)used / (double)(used + k->avail) : 0;
        strbuf_addf(&name, "disk:%s", k->path);
        strbuf_addf(&what, "disk of '%s'", k->path);
        component(&a, last, name.buf, what.buf, k->known, pct, &cfg->disk);
        if (k->known) {
            json_array_append_new(disks,
                                  json_pack("{s:s, s:I, s:I, s:I}", "path", k->path, "total",
                                            (json_int_t)k->total, "avail", (json_int_t)k->avail,
                                            "used_bytes", (json_int_t)used));
            double secs = seconds_to_full(cfg, k, used, prev, hist, now);
            if (secs >= 0 && (worst < 0 || secs < worst)) {
                worst = secs;
                worst_path = k->path;
            }
        }
        strbuf_release(&name);
        strbuf_release(&what);
    }
    if (worst >= 0) {
        enum host_level l = worst < (double)cfg->forecast_critical ? HOST_CRITICAL
                            : worst < (double)cfg->forecast_warn   ? HOST_WARN
                                                                   : HOST_OK;
        char reason[400];
        forecast = json_pack("{s:s, s:f, s:s}", "path", worst_path, "hours",
                             round(worst / 360.0) / 10.0, "level", host_level_name(l));
        snprintf(reason, sizeof(reason),
                 "the disk of '%s' is full in about %.1f hours at the "
                 "rate of the last samples",
                 worst_path, worst / 3600.0);
        if (l == HOST_CRITICAL)
            deduct(&a, "disk_forecast", 40, 40, reason);
        else if (l == HOST_WARN)
            deduct(&a, "disk_forecast", 15, 70, reason);
    }
    score = 100 - a.sum;
    if (score > a.cap)
        score = a.cap;
    if (score < 0)
        score = 0;
    json_object_set_new(into, "score", json_integer(score));
    json_object_set_new(into, "components", a.components);
    json_object_set_new(into, "deductions", a.deductions);
    json_object_set_new(into, "disks", disks);
    json_object_set_new(into, "forecast", forecast);
    if (r->cpu_known)
        json_object_set_new(into, "cpu",
                            json_pack("{s:I, s:I}", "total", (json_int_t)r->cpu_total, "idle",
                                      (json_int_t)r->cpu_idle));
    for (size_t i = 0; i < hist->n; i++)
        json_decref(prev[i]);
    free(prev);
    return score;
}

/* ---- reading an assessment back ---- */

bool host_summary_parse(const char *details, int64_t at, struct host_summary *out)
{
    json_t *d = details ? json_loads(details, 0, NULL) : NULL, *c, *f;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!d || !json_is_integer(json_object_get(d, "score"))) {
        json_decref(d);
        return false;
    }
    out->known = true;
    out->at = at;
    out->score = (int)json_integer_value(json_object_get(d, "score"));
    out->parts =
        xcalloc(json_array_size(json_object_get(d, "components")) + 1, sizeof(*out->parts));
    json_array_foreach(json_object_get(d, "components"), i, c)
    {
        struct host_part *p = &out->parts[out->nparts];
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!name)
            continue;
        p->name = xstrdup(name);
        p->known = json_is_number(json_object_get(c, "value"));
        p->value = json_number_value(json_object_get(c, "value"));
        p->level = HOST_UNKNOWN;
        host_level_parse(json_string_value(json_object_get(c, "level")), &p->level);
        out->nparts++;
    }
    f = json_object_get(d, "forecast");
    if (json_is_object(f) && json_string_value(json_object_get(f, "path"))) {
        out->forecast = true;
        out->forecast_hours = json_number_value(json_object_get(f, "hours"));
        out->forecast_path = xstrdup(json_string_value(json_object_get(f, "path")));
    }
    json_decref(d);
    return true;
}

void host_summary_release(struct host_summary *s)
{
    for (size_t i = 0; s->parts && i < s->nparts; i++)
        free(s->parts[i].name);
    free(s->parts);
    free(s->forecast_path);
    memset(s, 0, sizeof(*s));
}
