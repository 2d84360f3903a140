/* SPDX-License-Identifier: MIT */
/*
 * Rendering a report (report.h) as HTML, JSON or CSV, and its chat summary.
 *
 * All three are pure functions of the model, so they agree by
 * construction: a figure is computed once (success and win rates rounded
 * to one decimal here, in one place) and only spelled differently.
 *
 * HTML is one self-contained document for a mail client or a browser:
 * inline CSS, two small inline SVG charts (runs and failures per bucket as
 * bars, candles stored per bucket as a line), no script, no external URL.
 * Every value from the database is escaped (& < > " ').
 *
 * CSV (RFC 4180) has one row per job, series and provider under one
 * header; a cell that does not apply to a row's kind is empty. Fields are
 * quoted when they hold a comma, a quote or a line break.
 */
#include "report/report.h"

#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define CHART_W 600
#define CHART_H 120

/* ok / (ok + failed) in %, to one decimal; -1 when there is neither. */
static double success_rate(const struct report_job *j)
{
    int64_t decided = j->ok + j->failed;
    return decided ? round(1000.0 * (double)j->ok / (double)decided) / 10.0 : -1.0;
}

static double win_rate(const struct report *r)
{
    return r->signals.win_rate < 0 ? -1.0 : round(r->signals.win_rate * 10.0) / 10.0;
}

static void add_rate(struct strbuf *sb, double v, const char *none)
{
    if (v < 0)
        strbuf_addstr(sb, none);
    else
        strbuf_addf(sb, "%.1f", v);
}

static void add_time(struct strbuf *sb, int64_t t)
{
    char buf[TIME_BUFSZ];
    time_format_iso8601(t, buf);
    strbuf_addstr(sb, buf);
}

static const char *title_of(const struct report *r)
{
    return r->type == REPORT_WEEKLY ? "Weekly report" : "Daily report";
}

/* --- JSON ----------------------------------------------------------------- */

static json_t *iso(int64_t t)
{
    char buf[TIME_BUFSZ];
    if (!t)
        return json_null();
    time_format_iso8601(t, buf);
    return json_string(buf);
}

static json_t *rate_json(double v)
{
    return v < 0 ? json_null() : json_real(v);
}

static json_t *jobs_json(const struct report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->njobs; i++) {
        const struct report_job *j = &r->jobs[i];
        json_array_append_new(
            a,
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "id", j->id, "runs",
                      (json_int_t)j->runs, "ok", (json_int_t)j->ok, "failed", (json_int_t)j->failed,
                      "skipped", (json_int_t)j->skipped, "success_rate", rate_json(success_rate(j)),
                      "p50_ms", (json_int_t)j->p50_ms, "p95_ms", (json_int_t)j->p95_ms, "max_ms",
                      (json_int_t)j->max_ms, "longest_streak", (json_int_t)j->longest_streak));
    }
    return a;
}

static json_t *series_json(const struct report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nseries; i++) {
        const struct report_series *s = &r->series[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "source", s->source,
                         "symbol", s->symbol, "timeframe", timeframe_name(s->tf), "candles",
                         (json_int_t)s->candles, "total", (json_int_t)s->total, "gaps_opened",
                         (json_int_t)s->gaps_opened, "gaps_filled", (json_int_t)s->gaps_filled,
                         "gaps_unfillable", (json_int_t)s->gaps_unfillable, "gaps_open",
                         (json_int_t)s->gaps_open, "rejected", (json_int_t)s->rejected));
    }
    return a;
}

static json_t *providers_json(const struct report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct report_provider *p = &r->providers[i];
        json_array_append_new(
            a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:o, s:I, s:I}", "source", p->source,
                         "fetches", (json_int_t)p->fetches, "failed", (json_int_t)p->failed,
                         "deferred", (json_int_t)p->deferred, "breaker_opened",
                         (json_int_t)p->breaker_opened, "breaker_state", p->breaker_state,
                         "banned_until", iso(p->banned_until), "day_used", (json_int_t)p->day_used,
                         "per_day", (json_int_t)p->per_day));
    }
    return a;
}

static json_t *report_json(const struct report *r)
{
    const struct report_alerts *al = &r->alerts;
    const struct report_signals *sg = &r->signals;
    const struct report_backups *bk = &r->backups;
    json_t *trend = json_array(), *recs = json_array(), *backups = json_null();

    for (size_t i = 0; i < r->nbuckets; i++)
        json_array_append_new(trend,
                              json_pack("{s:o, s:I, s:I, s:I}", "start", iso(r->buckets[i].start),
                                        "runs", (json_int_t)r->buckets[i].runs, "failed",
                                        (json_int_t)r->buckets[i].failed, "candles_stored",
                                        (json_int_t)r->buckets[i].candles_stored));
    for (size_t i = 0; i < r->nrecommendations; i++)
        json_array_append_new(recs, json_string(r->recommendations[i]));
    if (bk->looked)
        backups = json_pack("{s:I, s:I, s:I, s:I, s:o}", "made", (json_int_t)bk->made, "verified",
                            (json_int_t)bk->verified, "failed", (json_int_t)bk->failed, "bytes",
                            (json_int_t)bk->bytes, "last_verified", iso(bk->last_verified));
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:I, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}, s:o, s:o, s:o}",
        "id", r->id, "type", report_type_name(r->type), "from", iso(r->from), "to", iso(r->to),
        "duration_target_s", (json_int_t)r->duration_target, "jobs", jobs_json(r), "series",
        series_json(r), "providers", providers_json(r), "alerts", "fired", (json_int_t)al->fired,
        "resolved", (json_int_t)al->resolved, "firing", (json_int_t)al->firing, "mean_resolve_s",
        (json_int_t)al->mean_resolve_s, "max_resolve_s", (json_int_t)al->max_resolve_s, "signals",
        "created", (json_int_t)sg->created, "delivered", (json_int_t)sg->delivered, "dead_lettered",
        (json_int_t)sg->dead, "pending", (json_int_t)sg->pending, "won", (json_int_t)sg->won,
        "lost", (json_int_t)sg->lost, "expired", (json_int_t)sg->expired, "win_rate",
        rate_json(win_rate(r)), "backups", backups, "trend", trend, "recommendations", recs);
}

static void render_json(const struct report *r, struct strbuf *out)
{
    json_t *j = report_json(r);
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    strbuf_addstr(out, text);
    strbuf_addch(out, '\n');
    free(text);
    json_decref(j);
}

/* --- CSV ------------------------------------------------------------------- */

static const char csv_header[] =
    "kind,name,runs,ok,failed,skipped,success_rate,p50_ms,p95_ms,max_ms,longest_streak,"
    "candles,total,gaps_opened,gaps_filled,gaps_unfillable,gaps_open,rejected,"
    "fetches,fetch_failures,deferred,breaker_opened,breaker_state,day_used,per_day\n";

static void csv_field(struct strbuf *sb, const char *s)
{
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

static void render_csv(const struct report *r, struct strbuf *out)
{
    struct strbuf name = STRBUF_INIT;

    strbuf_addstr(out, csv_header);
    for (size_t i = 0; i < r->njobs; i++) {
        const struct report_job *j = &r->jobs[i];
        strbuf_addstr(out, "job,");
        csv_field(out, j->id);
        strbuf_addf(out, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",", j->runs, j->ok,
                    j->failed, j->skipped);
        add_rate(out, success_rate(j), "");
        strbuf_addf(out, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",,,,,,,,,,,,,,\n",
                    j->p50_ms, j->p95_ms, j->max_ms, j->longest_streak);
    }
    for (size_t i = 0; i < r->nseries; i++) {
        const struct report_series *s = &r->series[i];
        strbuf_reset(&name);
        strbuf_addf(&name, "%s %s %s", s->source, s->symbol, timeframe_name(s->tf));
        strbuf_addstr(out, "series,");
        csv_field(out, name.buf);
        strbuf_addf(out,
                    ",,,,,,,,,,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",,,,,,,\n",
                    s->candles, s->total, s->gaps_opened, s->gaps_filled, s->gaps_unfillable,
                    s->gaps_open, s->rejected);
    }
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct report_provider *p = &r->providers[i];
        strbuf_addstr(out, "provider,");
        csv_field(out, p->source);
        strbuf_addf(out, ",,,,,,,,,,,,,,,,,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",",
                    p->fetches, p->failed, p->deferred, p->breaker_opened);
        csv_field(out, p->breaker_state);
        strbuf_addf(out, ",%" PRId64 ",%" PRId64 "\n", p->day_used, p->per_day);
    }
    strbuf_release(&name);
}

/* --- HTML ------------------------------------------------------------------- */

static void esc(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            strbuf_addstr(sb, "&amp;");
            break;
        case '<':
            strbuf_addstr(sb, "&lt;");
            break;
        case '>':
            strbuf_addstr(sb, "&gt;");
            break;
        case '"':
            strbuf_addstr(sb, "&quot;");
            break;
        case '\'':
            strbuf_addstr(sb, "&#39;");
            break;
        default:
            strbuf_addch(sb, *s);
        }
    }
}

static void cell_i(struct strbuf *sb, int64_t v)
{
    strbuf_addf(sb, "<td class=\"n\">%" PRId64 "</td>", v);
}

static void cell_s(struct strbuf *sb, const char *s)
{
    strbuf_addstr(sb, "<td>");
    esc(sb, s);
    strbuf_addstr(sb, "</td>");
}

static void head_row(struct strbuf *sb, const char *const *names)
{
    strbuf_addstr(sb, "<tr>");
    for (; *names; names++)
        strbuf_addf(sb, "<th>%s</th>", *names);
    strbuf_addstr(sb, "</tr>\n");
}

static int64_t max_of(const struct report *r, bool candles)
{
    int64_t m = 1;
    for (size_t i = 0; i < r->nbuckets; i++) {
        int64_t v = candles ? r->buckets[i].candles_stored : r->buckets[i].runs;
        if (v > m)
            m = v;
    }
    return m;
}

/* Runs (grey) and failures (red) per bucket, as bars. */
static void chart_runs(const struct report *r, struct strbuf *sb)
{
    int64_t top = max_of(r, false);
    int bw = CHART_W / (int)(r->nbuckets ? r->nbuckets : 1);

    strbuf_addf(sb,
                "<svg width=\"%d\" height=\"%d\" "
                "role=\"img\" aria-label=\"job runs and failures\">\n",
                CHART_W, CHART_H + 14);
    for (size_t i = 0; i < r->nbuckets; i++) {
        const struct report_bucket *b = &r->buckets[i];
        int h = (int)(b->runs * CHART_H / top), hf = (int)(b->failed * CHART_H / top);
        int x = (int)i * bw;
        strbuf_addf(sb,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#9aa5b1\">"
                    "<title>%" PRId64 " runs</title></rect>\n",
                    x + 1, CHART_H - h, bw - 2, h, b->runs);
        if (hf)
            strbuf_addf(sb,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#d64545\">"
                        "<title>%" PRId64 " failed</title></rect>\n",
                        x + 1, CHART_H - hf, bw - 2, hf, b->failed);
    }
    strbuf_addf(sb,
                "<text x=\"0\" y=\"%d\" font-size=\"10\">max %" PRId64 " runs per %s</text>\n"
                "</svg>\n",
                CHART_H + 12, top, r->type == REPORT_WEEKLY ? "day" : "hour");
}

/* Candles stored per bucket, as a line. */
static void chart_candles(const struct report *r, struct strbuf *sb)
{
    int64_t top = max_of(r, true);
    int step = CHART_W / (int)(r->nbuckets > 1 ? r->nbuckets - 1 : 1);

    strbuf_addf(sb,
                "<svg width=\"%d\" height=\"%d\" "
                "role=\"img\" aria-label=\"candles stored\">\n<polyline fill=\"none\" "
                "stroke=\"#2f80ed\" stroke-width=\"2\" points=\"",
                CHART_W, CHART_H + 14);
    for (size_t i = 0; i < r->nbuckets; i++)
        strbuf_addf(sb, "%s%d,%d", i ? " " : "", (int)i * step,
                    CHART_H - (int)(r->buckets[i].candles_stored * (CHART_H - 2) / top) - 1);
    strbuf_addf(sb,
                "\"/>\n<text x=\"0\" y=\"%d\" font-size=\"10\">max %" PRId64
                " candles stored per %s</text>\n</svg>\n",
                CHART_H + 12, top, r->type == REPORT_WEEKLY ? "day" : "hour");
}

static void html_jobs(const struct report *r, struct strbuf *sb)
{
    static const char *const cols[] = {
        "Job",       "Runs",   "OK",     "Failed", "Skipped",
        "Success %", "p50 ms", "p95 ms", "Max ms", "Longest failure streak",
        NULL};
    strbuf_addstr(sb, "<h2>Jobs</h2>\n");
    chart_runs(r, sb);
    strbuf_addstr(sb, "<table id=\"jobs\">\n");
    head_row(sb, cols);
    for (size_t i = 0; i < r->njobs; i++) {
        const struct report_job *j = &r->jobs[i];
        strbuf_addstr(sb, "<tr>");
        cell_s(sb, j->id);
        cell_i(sb, j->runs);
        cell_i(sb, j->ok);
        cell_i(sb, j->failed);
        cell_i(sb, j->skipped);
        strbuf_addstr(sb, "<td class=\"n\">");
        add_rate(sb, success_rate(j), "–");
        strbuf_addstr(sb, "</td>");
        cell_i(sb, j->p50_ms);
        cell_i(sb, j->p95_ms);
        cell_i(sb, j->max_ms);
        cell_i(sb, j->longest_streak);
        strbuf_addstr(sb, "</tr>\n");
    }
    strbuf_addstr(sb, "</table>\n");
}

static void html_series(const struct report *r, struct strbuf *sb)
{
    static const char *const cols[] = {"Source",       "Symbol",      "TF",     "Candles",
                                       "Stored total", "Gaps opened", "Filled", "Unfillable",
                                       "Open now",     "Rejected",    NULL};
    strbuf_addstr(sb, "<h2>Data</h2>\n");
    chart_candles(r, sb);
    strbuf_addstr(sb, "<table id=\"series\">\n");
    head_row(sb, cols);
    for (size_t i = 0; i < r->nseries; i++) {
        const struct report_series *s = &r->series[i];
        strbuf_addstr(sb, "<tr>");
        cell_s(sb, s->source);
        cell_s(sb, s->symbol);
        cell_s(sb, timeframe_name(s->tf));
        cell_i(sb, s->candles);
        cell_i(sb, s->total);
        cell_i(sb, s->gaps_opened);
        cell_i(sb, s->gaps_filled);
        cell_i(sb, s->gaps_unfillable);
        cell_i(sb, s->gaps_open);
        cell_i(sb, s->rejected);
        strbuf_addstr(sb, "</tr>\n");
    }
    strbuf_addstr(sb, "</table>\n");
}

static void html_providers(const struct report *r, struct strbuf *sb)
{
    static const char *const cols[] = {
        "Provider", "Fetches",      "Failed",         "Deferred",    "Breaker opened",
        "Breaker",  "Banned until", "Requests today", "Daily quota", NULL};
    strbuf_addstr(sb, "<h2>Providers</h2>\n<table id=\"providers\">\n");
    head_row(sb, cols);
    for (size_t i = 0; i < r->nproviders; i++) {
        const struct report_provider *p = &r->providers[i];
        strbuf_addstr(sb, "<tr>");
        cell_s(sb, p->source);
        cell_i(sb, p->fetches);
        cell_i(sb, p->failed);
        cell_i(sb, p->deferred);
        cell_i(sb, p->breaker_opened);
        cell_s(sb, p->breaker_state);
        strbuf_addstr(sb, "<td>");
        if (p->banned_until)
            add_time(sb, p->banned_until);
        else
            strbuf_addstr(sb, "–");
        strbuf_addstr(sb, "</td>");
        cell_i(sb, p->day_used);
        cell_i(sb, p->per_day);
        strbuf_addstr(sb, "</tr>\n");
    }
    strbuf_addstr(sb, "</table>\n");
}

/* A two-column table of named figures. */
static void pair(struct strbuf *sb, const char *name, int64_t v)
{
    strbuf_addf(sb, "<tr><th>%s</th><td class=\"n\">%" PRId64 "</td></tr>\n", name, v);
}

static void html_rest(const struct report *r, struct strbuf *sb)
{
    const struct report_alerts *al = &r->alerts;
    const struct report_signals *sg = &r->signals;
    const struct report_backups *bk = &r->backups;

    strbuf_addstr(sb, "<h2>Alerts</h2>\n<table id=\"alerts\">\n");
    pair(sb, "Fired", al->fired);
    pair(sb, "Resolved", al->resolved);
    pair(sb, "Firing now", al->firing);
    pair(sb, "Mean time to resolve (s)", al->mean_resolve_s);
    pair(sb, "Longest time to resolve (s)", al->max_resolve_s);
    strbuf_addstr(sb, "</table>\n<h2>Signals</h2>\n<table id=\"signals\">\n");
    pair(sb, "Created", sg->created);
    pair(sb, "Delivered", sg->delivered);
    pair(sb, "Dead-lettered", sg->dead);
    pair(sb, "Pending", sg->pending);
    pair(sb, "Won", sg->won);
    pair(sb, "Lost", sg->lost);
    pair(sb, "Expired", sg->expired);
    strbuf_addstr(sb, "<tr><th>Win rate %</th><td class=\"n\">");
    add_rate(sb, win_rate(r), "–");
    strbuf_addstr(sb, "</td></tr>\n</table>\n<h2>Backups</h2>\n");
    if (!bk->looked) {
        strbuf_addstr(sb, "<p>No backup directory was read.</p>\n");
    } else {
        strbuf_addstr(sb, "<table id=\"backups\">\n");
        pair(sb, "Made", bk->made);
        pair(sb, "Verified by a restore drill", bk->verified);
        pair(sb, "Drill failed", bk->failed);
        pair(sb, "Bytes", bk->bytes);
        strbuf_addstr(sb, "<tr><th>Last verified</th><td>");
        if (bk->last_verified)
            add_time(sb, bk->last_verified);
        else
            strbuf_addstr(sb, "never");
        strbuf_addstr(sb, "</td></tr>\n</table>\n");
    }
    strbuf_addstr(sb, "<h2>Recommendations</h2>\n");
    if (!r->nrecommendations)
        strbuf_addstr(sb, "<p>Nothing to recommend.</p>\n");
    else
        strbuf_addstr(sb, "<ul id=\"recommendations\">\n");
    for (size_t i = 0; i < r->nrecommendations; i++) {
        strbuf_addstr(sb, "<li>");
        esc(sb, r->recommendations[i]);
        strbuf_addstr(sb, "</li>\n");
    }
    if (r->nrecommendations)
        strbuf_addstr(sb, "</ul>\n");
}

static void render_html(const struct report *r, struct strbuf *sb)
{
    strbuf_addstr(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<title>candlekeep ");
    strbuf_addstr(sb, title_of(r));
    strbuf_addstr(sb, " ");
    esc(sb, r->id);
    strbuf_addstr(
        sb, "</title>\n<style>\n"
            "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2933;"
            "max-width:960px;margin:1em auto;padding:0 1em}\n"
            "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em;border-bottom:1px solid "
            "#cbd2d9}\n"
            "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid "
            "#e4e7eb;padding:2px 8px;text-align:left}\n"
            "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f7fa}\n"
            "svg{display:block;margin:.5em 0}\n</style>\n</head>\n<body>\n<h1>candlekeep ");
    strbuf_addstr(sb, title_of(r));
    strbuf_addstr(sb, "</h1>\n<p>Period: <time id=\"from\">");
    add_time(sb, r->from);
    strbuf_addstr(sb, "</time> to <time id=\"to\">");
    add_time(sb, r->to);
    strbuf_addstr(sb, "</time> (UTC). Report <code>");
    esc(sb, r->id);
    strbuf_addf(sb, "</code>; duration target %" PRId64 " s.</p>\n", r->duration_target);
    html_jobs(r, sb);
    html_series(r, sb);
    html_providers(r, sb);
    html_rest(r, sb);
    strbuf_addstr(sb, "</body>\n</html>\n");
}

void report_render(const struct report *r, enum report_format f, struct strbuf *out)
{
    switch (f) {
    case REPORT_HTML:
        render_html(r, out);
        return;
    case REPORT_JSON:
        render_json(r, out);
        return;
    case REPORT_CSV:
        render_csv(r, out);
        return;
    }
}

void report_summary(const struct report *r, struct strbuf *out)
{
    int64_t runs = 0, failed = 0, candles = 0, gaps = 0;

    for (size_t i = 0; i < r->njobs; i++) {
        runs += r->jobs[i].runs;
        failed += r->jobs[i].failed;
    }
    for (size_t i = 0; i < r->nseries; i++) {
        candles += r->series[i].candles;
        gaps += r->series[i].gaps_open;
    }
    strbuf_addf(out, "%s ", title_of(r));
    add_time(out, r->from);
    strbuf_addstr(out, " to ");
    add_time(out, r->to);
    strbuf_addf(out,
                "\nJobs: %" PRId64 " runs, %" PRId64 " failed\n"
                "Candles: %" PRId64 " in the period; %" PRId64 " gaps open\n"
                "Alerts: %" PRId64 " fired, %" PRId64 " resolved, %" PRId64 " firing\n"
                "Signals: %" PRId64 " created, %" PRId64 " won, %" PRId64 " lost\n",
                runs, failed, candles, gaps, r->alerts.fired, r->alerts.resolved, r->alerts.firing,
                r->signals.created, r->signals.won, r->signals.lost);
    for (size_t i = 0; i < r->nrecommendations; i++)
        strbuf_addf(out, "- %s\n", r->recommendations[i]);
}
