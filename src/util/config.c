/* SPDX-License-Identifier: MIT */
/*
 * INI configuration with declarative option tables (after redis'
 * static_configs and h2o's configurators). Reading and applying are
 * separate: config_file_load() only parses, config_apply() interprets one
 * section with one subsystem's table. Entries remember their line so every
 * message can say `file:line: key 'x': reason`, and a `used` flag so keys
 * nobody asked for are reported as unknown rather than silently ignored.
 *
 * libinih does not pass line numbers to the handler in Debian's build, so
 * the file is fed through a reader callback that counts lines; inih
 * processes each line right after reading it, so the count is the line of
 * the entry being handled.
 */
#include "util/config.h"

#include "util/error.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/xalloc.h"

#include <ini.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void config_report_add(struct config_report *rep, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&rep->text, fmt, ap);
    va_end(ap);
    strbuf_addch(&rep->text, '\n');
    rep->count++;
}

void config_report_release(struct config_report *rep)
{
    strbuf_release(&rep->text);
    rep->count = 0;
}

int config_expand_env(const char *in, struct strbuf *out, struct strbuf *why)
{
    const char *p = in;
    while (*p) {
        const char *start = strstr(p, "${");
        const char *end, *dflt;
        char *name;
        const char *val;

        if (!start) {
            strbuf_addstr(out, p);
            break;
        }
        strbuf_add(out, p, (size_t)(start - p));
        end = strchr(start + 2, '}');
        if (!end) {
            strbuf_addstr(why, "unterminated '${' in value");
            return CK_EPARSE;
        }
        name = xstrndup(start + 2, (size_t)(end - start - 2));
        dflt = NULL;
        char *sep = strstr(name, ":-");
        if (sep) {
            *sep = '\0';
            dflt = sep + 2;
        }
        if (!*name) {
            free(name);
            strbuf_addstr(why, "empty variable name in '${}'");
            return CK_EPARSE;
        }
        for (const char *c = name; *c; c++) {
            if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                  (*c >= '0' && *c <= '9'))) {
                strbuf_addf(why, "bad variable name '%s' in '${...}'", name);
                free(name);
                return CK_EPARSE;
            }
        }
        val = getenv(name);
        if (val && *val)
            strbuf_addstr(out, val);
        else if (dflt)
            strbuf_addstr(out, dflt);
        free(name);
        p = end + 1;
    }
    return 0;
}

struct load_state {
    struct config_file *cf;
    struct config_report *rep;
    FILE *fp;
    int line;
};

/* inih reader: one line per call, counting lines; overlong lines are reported. */
static char *counting_reader(char *str, int num, void *stream)
{
    struct load_state *ls = stream;
    char *r = fgets(str, num, ls->fp);
    if (!r)
        return NULL;
    ls->line++;
    size_t len = strlen(str);
    if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(ls->fp)) {
        int c;
        config_report_add(ls->rep, "%s:%d: line longer than %d characters", ls->cf->path, ls->line,
                          num - 2);
        while ((c = fgetc(ls->fp)) != EOF && c != '\n')
            ;
        str[0] = '\0';
    }
    /* Remember where each [section] header is, for messages about sections. */
    const char *p = str + strspn(str, " \t");
    if (*p == '[') {
        size_t n = strcspn(p + 1, "]\r\n");
        if (p[1 + n] == ']') {
            struct config_file *cf = ls->cf;
            ALLOC_GROW(cf->sections, cf->nsections + 1, cf->sections_alloc);
            cf->sections[cf->nsections++] = (struct config_section){
                .name = xstrndup(p + 1, n),
                .line = ls->line,
            };
        }
    }
    return r;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct load_state *ls = user;
    struct config_file *cf = ls->cf;
    struct strbuf val = STRBUF_INIT, why = STRBUF_INIT;

    if (config_expand_env(value, &val, &why)) {
        config_report_add(ls->rep, "%s:%d: key '%s': %s", cf->path, ls->line, name, why.buf);
        strbuf_release(&why);
        strbuf_release(&val);
        return 1;
    }
    /* A key set twice in one section: the later one wins, as in most INI readers. */
    for (size_t i = 0; i < cf->n; i++) {
        struct config_entry *e = &cf->entries[i];
        if (!strcmp(e->section, section) && !strcmp(e->key, name)) {
            free(e->value);
            e->value = strbuf_detach(&val, NULL);
            e->line = ls->line;
            return 1;
        }
    }
    ALLOC_GROW(cf->entries, cf->n + 1, cf->alloc);
    cf->entries[cf->n++] = (struct config_entry){
        .section = xstrdup(section),
        .key = xstrdup(name),
        .value = strbuf_detach(&val, NULL),
        .line = ls->line,
    };
    return 1;
}

int config_file_load(struct config_file *cf, const char *path, struct config_report *rep)
{
    struct load_state ls = {.cf = cf, .rep = rep};
    int rc;

    ls.fp = fopen(path, "r");
    if (!ls.fp) {
        config_report_add(rep, "%s: cannot read configuration file: %s", path, strerror(errno));
        return CK_EIO;
    }
    free(cf->path);
    cf->path = xstrdup(path);
    rc = ini_parse_stream(counting_reader, &ls, handler, &ls);
    fclose(ls.fp);
    if (rc > 0)
        config_report_add(rep, "%s:%d: syntax error (expected '[section]' or 'key = value')", path,
                          rc);
    else if (rc < 0)
        config_report_add(rep, "%s: cannot parse configuration file", path);
    return 0;
}

void config_file_release(struct config_file *cf)
{
    for (size_t i = 0; i < cf->n; i++) {
        free(cf->entries[i].section);
        free(cf->entries[i].key);
        free(cf->entries[i].value);
    }
    free(cf->entries);
    for (size_t i = 0; i < cf->nsections; i++)
        free(cf->sections[i].name);
    free(cf->sections);
    free(cf->path);
    memset(cf, 0, sizeof(*cf));
}

int config_section_line(const struct config_file *cf, const char *name)
{
    for (size_t i = 0; i < cf->nsections; i++)
        if (!strcmp(cf->sections[i].name, name))
            return cf->sections[i].line;
    return 0;
}

bool config_has_section(const struct config_file *cf, const char *name)
{
    for (size_t i = 0; i < cf->n; i++)
        if (!strcmp(cf->entries[i].section, name))
            return true;
    return false;
}

size_t config_subsections(const struct config_file *cf, const char *prefix, const char ***out)
{
    size_t plen = strlen(prefix), n = 0, alloc = 0;
    const char **names = NULL;

    for (size_t i = 0; i < cf->n; i++) {
        const char *sec = cf->entries[i].section;
        bool dup = false;
        if (strncmp(sec, prefix, plen) || !sec[plen])
            continue;
        for (size_t j = 0; j < n; j++)
            dup = dup || !strcmp(names[j], sec + plen);
        if (dup)
            continue;
        ALLOC_GROW(names, n + 1, alloc);
        names[n++] = sec + plen;
    }
    *out = names;
    return n;
}

/* Set one field from text; 0 or non-zero with the reason in `why`. */
static int set_value(const struct config_option *o, void *dst, const char *value, bool from_env,
                     struct strbuf *why)
{
    char *field = (char *)dst + o->offset;
    int64_t v;
    int rc;

    switch (o->type) {
    case CONFIG_STRING:
        if (o->check && *value && o->check(value, why))
            return CK_EINVAL;
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case CONFIG_BOOL:
        if (parse_bool(value, (bool *)field)) {
            strbuf_addf(why, "'%s' is not a boolean (use true or false)", value);
            return CK_EINVAL;
        }
        return 0;
    case CONFIG_INT:
        rc = parse_int64(value, INT64_MIN, INT64_MAX, &v);
        if (rc) {
            strbuf_addf(why, "'%s' is not an integer", value);
            return rc;
        }
        break;
    case CONFIG_DURATION:
        if (from_env && o->env_unit > 1 && !parse_int64(value, 0, INT64_MAX / o->env_unit, &v)) {
            v *= o->env_unit;
        } else if (parse_duration(value, &v)) {
            strbuf_addf(why, "'%s' is not a duration (e.g. 30s, 15m, 4h, 90d)", value);
            return CK_EINVAL;
        }
        break;
    case CONFIG_SIZE:
        if (parse_size(value, &v)) {
            strbuf_addf(why, "'%s' is not a size (e.g. 100MB, 512k, 4096)", value);
            return CK_EINVAL;
        }
        break;
    default:
        BUG("unknown config type %d", (int)o->type);
    }
    if ((o->min || o->max) && (v < o->min || v > o->max)) {
        if (o->type == CONFIG_DURATION)
            strbuf_addf(why, "'%s' is out of range (%llds to %llds)", value, (long long)o->min,
                        (long long)o->max);
        else
            strbuf_addf(why, "%lld is out of range (%lld to %lld)", (long long)v, (long long)o->min,
                        (long long)o->max);
        return CK_ELIMIT;
    }
    *(int64_t *)field = v;
    return 0;
}

void config_apply(struct config_file *cf, const char *section, const struct config_option *opts,
                  void *dst, struct config_report *rep)
{
    struct strbuf why = STRBUF_INIT;

    for (const struct config_option *o = opts; o->key; o++) {
        if (o->def && set_value(o, dst, o->def, false, &why))
            BUG("bad default '%s' for [%s] %s: %s", o->def, section, o->key, why.buf);
        strbuf_reset(&why);
    }
    for (size_t i = 0; i < cf->n; i++) {
        struct config_entry *e = &cf->entries[i];
        const struct config_option *o;
        if (strcmp(e->section, section))
            continue;
        for (o = opts; o->key; o++)
            if (!strcmp(o->key, e->key))
                break;
        if (!o->key)
            continue; /* reported by config_report_unused() */
        e->used = true;
        strbuf_reset(&why);
        if (set_value(o, dst, e->value, false, &why))
            config_report_add(rep, "%s:%d: key '%s': %s", cf->path, e->line, e->key, why.buf);
    }
    for (const struct config_option *o = opts; o->key; o++) {
        const char *v = o->env ? getenv(o->env) : NULL;
        if (!v || !*v)
            continue;
        strbuf_reset(&why);
        if (set_value(o, dst, v, true, &why))
            config_report_add(rep, "environment: %s (for [%s] %s): %s", o->env, section, o->key,
                              why.buf);
    }
    strbuf_release(&why);
}

void config_release(const struct config_option *opts, void *dst)
{
    for (const struct config_option *o = opts; o->key; o++) {
        if (o->type == CONFIG_STRING) {
            char **field = (char **)((char *)dst + o->offset);
            free(*field);
            *field = NULL;
        }
    }
}

void config_report_unused(const struct config_file *cf, struct config_report *rep)
{
    for (size_t i = 0; i < cf->n; i++) {
        const struct config_entry *e = &cf->entries[i];
        if (e->used)
            continue;
        config_report_add(rep, "%s:%d: key '%s': unknown key in section [%s]", cf->path, e->line,
                          e->key, e->section);
    }
}

void config_format_duration(int64_t seconds, struct strbuf *out)
{
    static const struct {
        int64_t unit;
        char suffix;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};

    if (!seconds) {
        strbuf_addch(out, '0');
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
        if (seconds % units[i].unit == 0) {
            strbuf_addf(out, "%lld%c", (long long)(seconds / units[i].unit), units[i].suffix);
            return;
        }
    }
    strbuf_addf(out, "%llds", (long long)seconds);
}

void config_format_size(int64_t bytes, struct strbuf *out)
{
    static const struct {
        int64_t unit;
        const char *suffix;
    } units[] = {{1024LL * 1024 * 1024, "GB"}, {1024 * 1024, "MB"}, {1024, "kB"}};

    for (size_t i = 0; bytes && i < ARRAY_SIZE(units); i++) {
        if (bytes % units[i].unit == 0) {
            strbuf_addf(out, "%lld%s", (long long)(bytes / units[i].unit), units[i].suffix);
            return;
        }
    }
    strbuf_addf(out, "%lld", (long long)bytes);
}

void config_format_value(const struct config_option *o, const void *src, struct strbuf *out)
{
    const char *field = (const char *)src + o->offset;
    const char *str;
    char *red;

    switch (o->type) {
    case CONFIG_STRING:
        str = *(char *const *)field;
        if (!str || !*str)
            return;
        switch (o->show) {
        case CONFIG_SHOW_PLAIN:
            strbuf_addstr(out, str);
            return;
        case CONFIG_SHOW_SECRET:
            strbuf_addstr(out, "***");
            return;
        case CONFIG_SHOW_URL:
        case CONFIG_SHOW_URL_PATH:
            red = redact_url(str, o->show == CONFIG_SHOW_URL_PATH ? REDACT_URL_PATH : 0);
            strbuf_addstr(out, red);
            free(red);
            return;
        }
        BUG("unknown show mode %d for key '%s'", (int)o->show, o->key);
    case CONFIG_INT:
        strbuf_addf(out, "%lld", (long long)*(const int64_t *)field);
        return;
    case CONFIG_DURATION:
        config_format_duration(*(const int64_t *)field, out);
        return;
    case CONFIG_SIZE:
        config_format_size(*(const int64_t *)field, out);
        return;
    case CONFIG_BOOL:
        strbuf_addstr(out, *(const bool *)field ? "true" : "false");
        return;
    }
    BUG("unknown config type %d for key '%s'", (int)o->type, o->key);
}
