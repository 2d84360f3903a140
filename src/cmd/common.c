/* SPDX-License-Identifier: MIT */
/*
 * Shared plumbing of the subcommands: configuration and logging set-up,
 * argument parsing with usage errors that name the option, and the record
 * printer behind --format table|json|csv. JSON goes through jansson.
 */
#include "cmd/common.h"

#include "cmd/cmd.h"
#include "store/store.h"
#include "util/config.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/banned.h"

int cmd_need(struct ck *ck, unsigned needs)
{
    struct strbuf err = STRBUF_INIT;
    int rc = ck_require(ck, needs, &err);

    if (rc == CK_ECONFIG && ck->config_problems) {
        fprintf(stderr, "%s", err.buf);
        fprintf(stderr,
                "candlekeep %s: %d configuration problem%s; see 'candlekeep config check'\n",
                ck->name, ck->config_problems, ck->config_problems == 1 ? "" : "s");
    } else if (rc) {
        /* A part that refuses its section (CK_ECONFIG) is a usage error all the same. */
        fprintf(stderr, "candlekeep %s: %s\n", ck->name, err.buf);
    }
    strbuf_release(&err);
    return rc == CK_ECONFIG ? CMD_USAGE : rc ? CMD_FAIL : CMD_OK;
}

int cmd_ready(struct ck *ck)
{
    return cmd_need(ck, ck->needs);
}

int cmd_parse_timeframe(const char *cmdname, const char *arg, enum timeframe *out)
{
    if (!arg || timeframe_parse(arg, out)) {
        fprintf(stderr, "candlekeep %s: '%s' is not a timeframe (%s)\n", cmdname, arg ? arg : "",
                timeframe_all_names());
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_parse_time(const char *cmdname, const char *opt, const char *arg, int64_t *out)
{
    if (time_parse(arg, out)) {
        fprintf(stderr,
                "candlekeep %s: %s '%s' is not a time (use 2024-01-02T15:00:00Z or 2024-01-02)\n",
                cmdname, opt, arg);
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_parse_int(const char *cmdname, const char *opt, const char *arg, int64_t min, int64_t max,
                  int64_t *out)
{
    if (parse_int64(arg, min, max, out)) {
        fprintf(stderr, "candlekeep %s: %s '%s' is not a number from %lld to %lld\n", cmdname, opt,
                arg, (long long)min, (long long)max);
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_parse_format(const char *cmdname, const char *arg, enum out_format *out)
{
    if (!strcasecmp(arg, "table"))
        *out = OUT_TABLE;
    else if (!strcasecmp(arg, "json"))
        *out = OUT_JSON;
    else if (!strcasecmp(arg, "csv"))
        *out = OUT_CSV;
    else {
        fprintf(stderr, "candlekeep %s: --format '%s' is not one of table, json, csv\n", cmdname,
                arg);
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_resolve_series(struct settings *s, const char *cmdname, const char *source,
                       const char *symbol, const char **out_source, const char **out_symbol)
{
    struct source_settings *src = NULL;

    if (source) {
        src = settings_source(s, source);
        if (!src) {
            fprintf(stderr, "candlekeep %s: no [source.%s] is configured\n", cmdname, source);
            return CMD_USAGE;
        }
    } else {
        src = settings_source_for_symbol(s, symbol);
        if (!src && symbol) {
            /* Not configured (any more): the data may still be stored. */
            *out_source = s->nsources ? s->sources[0].name : "twelvedata";
            *out_symbol = symbol;
            return CMD_OK;
        }
        if (!src) {
            fprintf(stderr, "candlekeep %s: no enabled source is configured\n", cmdname);
            return CMD_USAGE;
        }
    }
    *out_source = src->name;
    *out_symbol = symbol ? symbol : (src->nsymbols ? src->symbols[0] : "");
    if (!**out_symbol) {
        fprintf(stderr, "candlekeep %s: source '%s' lists no symbols; use --symbol\n", cmdname,
                src->name);
        return CMD_USAGE;
    }
    return CMD_OK;
}

int cmd_check_credentials(const struct source_settings *src, const char *cmdname)
{
    struct config_report rep = CONFIG_REPORT_INIT;

    if (!source_settings_check_key(src, &rep))
        return CMD_OK;
    /* Reported as cmd_need() reports the configuration's other problems. */
    fprintf(stderr, "%s", rep.text.buf);
    fprintf(stderr, "candlekeep %s: 1 configuration problem; see 'candlekeep config check'\n",
            cmdname);
    config_report_release(&rep);
    return CMD_USAGE;
}

struct out_table {
    enum out_format fmt;
    size_t ncols;
    char **cols;
    bool *numeric;
    char **cells; /* row-major, NULL = null */
    size_t nrows, alloc;
};

struct out_table *out_table_new(enum out_format fmt, const char *const *columns, size_t ncols)
{
    struct out_table *t = xcalloc(1, sizeof(*t));
    t->fmt = fmt;
    t->ncols = ncols;
    t->cols = xcalloc(ncols, sizeof(*t->cols));
    t->numeric = xcalloc(ncols, sizeof(*t->numeric));
    for (size_t i = 0; i < ncols; i++)
        t->cols[i] = xstrdup(columns[i]);
    return t;
}

void out_table_numeric(struct out_table *t, size_t i)
{
    if (i >= t->ncols)
        BUG("column %zu of %zu", i, t->ncols);
    t->numeric[i] = true;
}

void out_table_row(struct out_table *t, const char *const *values)
{
    ALLOC_GROW(t->cells, (t->nrows + 1) * t->ncols, t->alloc);
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->nrows * t->ncols + i] = xstrdup_or_null(values[i]);
    t->nrows++;
}

static void csv_field(struct strbuf *sb, const char *v)
{
    if (!v)
        return;
    if (!strpbrk(v, ",\"\r\n")) {
        strbuf_addstr(sb, v);
        return;
    }
    strbuf_addch(sb, '"');
    for (; *v; v++) {
        if (*v == '"')
            strbuf_addch(sb, '"');
        strbuf_addch(sb, *v);
    }
    strbuf_addch(sb, '"');
}

static void flush_json(struct out_table *t)
{
    json_t *arr = json_array();
    for (size_t r = 0; r < t->nrows; r++) {
        json_t *obj = json_object();
        for (size_t c = 0; c < t->ncols; c++) {
            const char *v = t->cells[r * t->ncols + c];
            json_t *jv;
            if (!v) {
                jv = json_null();
            } else if (t->numeric[c]) {
                jv = json_loads(v, JSON_DECODE_ANY, NULL);
                if (!jv)
                    jv = json_string(v);
            } else {
                jv = json_string(v);
            }
            json_object_set_new(obj, t->cols[c], jv);
        }
        json_array_append_new(arr, obj);
    }
    char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(s ? s : "[]");
    free(s);
    json_decref(arr);
}

void out_table_flush(struct out_table *t)
{
    struct strbuf sb = STRBUF_INIT;

    if (t->fmt == OUT_JSON) {
        flush_json(t);
    } else if (t->fmt == OUT_CSV) {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                strbuf_addch(&sb, ',');
            csv_field(&sb, t->cols[c]);
        }
        strbuf_addch(&sb, '\n');
        for (size_t r = 0; r < t->nrows; r++) {
            for (size_t c = 0; c < t->ncols; c++) {
                if (c)
                    strbuf_addch(&sb, ',');
                csv_field(&sb, t->cells[r * t->ncols + c]);
            }
            strbuf_addch(&sb, '\n');
        }
        fwrite(sb.buf, 1, sb.len, stdout);
    } else {
        size_t *w = xcalloc(t->ncols, sizeof(*w));
        for (size_t c = 0; c < t->ncols; c++) {
            w[c] = strlen(t->cols[c]);
            for (size_t r = 0; r < t->nrows; r++) {
                const char *v = t->cells[r * t->ncols + c];
                size_t len = v ? strlen(v) : 1;
                if (len > w[c])
                    w[c] = len;
            }
        }
        for (size_t r = 0; r <= t->nrows; r++) {
            for (size_t c = 0; c < t->ncols; c++) {
                const char *v = r ? t->cells[(r - 1) * t->ncols + c] : t->cols[c];
                if (!v)
                    v = "-";
                if (t->numeric[c] && r)
                    strbuf_addf(&sb, "%*s", (int)w[c], v);
                else
                    strbuf_addf(&sb, "%-*s", c + 1 < t->ncols ? (int)w[c] : 0, v);
                if (c + 1 < t->ncols)
                    strbuf_addstr(&sb, "  ");
            }
            strbuf_addch(&sb, '\n');
        }
        if (!t->nrows)
            strbuf_addstr(&sb, "(no records)\n");
        fwrite(sb.buf, 1, sb.len, stdout);
        free(w);
    }
    strbuf_release(&sb);
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    for (size_t c = 0; c < t->ncols; c++)
        free(t->cols[c]);
    free(t->cells);
    free(t->cols);
    free(t->numeric);
    free(t);
}
