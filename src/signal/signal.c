/* SPDX-License-Identifier: MIT */
/*
 * Signal requests and backtest results: validation, the canonical request
 * hash, creation with the configured receivers, and the JSON objects the
 * API and the CLI print. signal.h states the rules.
 *
 * Exactness. A price never passes through a double: JSON strings are
 * parsed by price_parse(), and for JSON numbers the literal text of the
 * member is found by scan_members() below in the body that jansson has
 * already validated (with duplicate keys refused, so a key names one
 * member). The same scan keeps the params and metrics of a backtest result
 * as the text the client sent.
 *
 * The request hash is the SHA-256 of the validated request in a canonical
 * form: a compact JSON object with sorted keys holding the resolved source,
 * the timeframe's name, the prices as formatted by price_format(), the
 * expiry as given (an absolute time in ms, or the ttl in seconds, so that a
 * retry of a ttl request hours later is still the same request) and the
 * note. Key order, white space, "2063.410" against 2063.41 or a default
 * source spelled out make no difference.
 */
#include "signal/signal.h"

#include "market/price.h"
#include "market/timeframe.h"
#include "source/source_settings.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/jsonutil.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define SYMBOL_MAX        64
#define BACKTEST_NAME_MAX 200

/* --- small helpers ------------------------------------------------------ */

/* Copy request input for a message: printable ASCII, at most 40 bytes, "..." when cut. */
static void echo(char *out, size_t outsz, const char *s)
{
    size_t i = 0;
    for (; *s && i + 4 < outsz; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* UTF-8 code points in `s`, or -1 when it is not valid UTF-8. */
static long utf8_length(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra;
        if (*p < 0x80)
            extra = 0;
        else if ((*p & 0xE0) == 0xC0 && *p >= 0xC2)
            extra = 1;
        else if ((*p & 0xF0) == 0xE0)
            extra = 2;
        else if ((*p & 0xF8) == 0xF0 && *p <= 0xF4)
            extra = 3;
        else
            return -1;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return -1;
        n++;
    }
    return n;
}

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        BUG("SHA-256 failed");
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* --- validation ---------------------------------------------------------- */

static int field_error(struct strbuf *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int field_error(struct strbuf *err, const char *field, const char *fmt, ...)
{
    va_list ap;
    strbuf_addf(err, "%s: ", field);
    va_start(ap, fmt);
    strbuf_vaddf(err, fmt, ap);
    va_end(ap);
    return CK_EINVAL;
}

static int parse_price_field(const char *field, const char *text, int64_t *out, struct strbuf *err)
{
    char ebuf[48];
    int rc;

    if (!text)
        return field_error(err, field, "missing (a price such as \"2063.41\")");
    rc = price_parse(text, strlen(text), out);
    echo(ebuf, sizeof(ebuf), text);
    if (rc == CK_ELIMIT)
        return field_error(err, field, "'%s' is out of range", ebuf);
    if (rc)
        return field_error(err, field,
                           "'%s' is not a plain decimal number with at most 8 decimals "
                           "(such as \"2063.41\")",
                           ebuf);
    if (*out <= 0)
        return field_error(err, field, "must be greater than 0 (got '%s')", ebuf);
    return 0;
}

static bool source_has_tf(const struct source_settings *src, enum timeframe tf)
{
    for (size_t i = 0; i < src->ntimeframes; i++)
        if (src->timeframes[i] == tf)
            return true;
    return false;
}

/* Resolve the source of symbol/tf in `cfg` (see signal.h); the name is borrowed from cfg. */
static int resolve_series(const struct signal_fields *f, const struct signal_config *cfg,
                          enum timeframe tf, const char **out, struct strbuf *err)
{
    const struct source_settings *src = NULL;
    char ebuf[80], sbuf[80];

    echo(sbuf, sizeof(sbuf), f->symbol);
    if (!cfg) {
        if (!f->source || !*f->source)
            return field_error(err, "source", "missing (no configuration to default it from)");
        *out = f->source;
        return 0;
    }
    if (f->source) {
        echo(ebuf, sizeof(ebuf), f->source);
        for (size_t i = 0; i < cfg->nsources; i++)
            if (!strcmp(cfg->sources[i].name, f->source))
                src = &cfg->sources[i];
        if (!src)
            return field_error(err, "source", "no source '%s' is configured", ebuf);
        if (!src->enabled)
            return field_error(err, "source", "source '%s' is disabled", ebuf);
        if (!source_settings_has_symbol(src, f->symbol))
            return field_error(err, "symbol", "source '%s' does not list '%s'", ebuf, sbuf);
    } else {
        for (size_t i = 0; i < cfg->nsources && !src; i++)
            if (cfg->sources[i].enabled && source_settings_has_symbol(&cfg->sources[i], f->symbol))
                src = &cfg->sources[i];
        if (!src)
            return field_error(err, "symbol", "no enabled source lists '%s'", sbuf);
    }
    if (!source_has_tf(src, tf))
        return field_error(err, "timeframe", "source '%s' does not keep %s candles of '%s'",
                           src->name, timeframe_name(tf), sbuf);
    *out = src->name;
    return 0;
}

static int check_prices(const struct signal *s, struct strbuf *err)
{
    char e[PRICE_BUFSZ], sl[PRICE_BUFSZ], tp[PRICE_BUFSZ];
    bool lng = s->direction == SIGNAL_LONG;

    price_format(s->entry, e);
    price_format(s->stop_loss, sl);
    price_format(s->take_profit, tp);
    if (lng ? s->stop_loss >= s->entry : s->stop_loss <= s->entry)
        return field_error(err, "stop_loss",
                           "must be %s entry for a %s signal (stop_loss %s, entry %s)",
                           lng ? "below" : "above", lng ? "long" : "short", sl, e);
    if (lng ? s->take_profit <= s->entry : s->take_profit >= s->entry)
        return field_error(err, "take_profit",
                           "must be %s entry for a %s signal (take_profit %s, entry %s)",
                           lng ? "above" : "below", lng ? "long" : "short", tp, e);
    return 0;
}

/* The canonical form of a validated request, hashed. */
static void request_hash(const struct signal *s, int64_t expires_at_ms, int64_t ttl_s, char out[65])
{
    char e[PRICE_BUFSZ], sl[PRICE_BUFSZ], tp[PRICE_BUFSZ];
    json_t *c;
    char *text;

    price_format(s->entry, e);
    price_format(s->stop_loss, sl);
    price_format(s->take_profit, tp);
    c = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "v", 1, "source", s->source,
                  "symbol", s->symbol, "timeframe", timeframe_name(s->tf), "direction",
                  signal_direction_name(s->direction), "entry", e, "stop_loss", sl, "take_profit",
                  tp, "note", s->note ? s->note : "");
    if (!c)
        BUG("signal: canonical form");
    json_object_set_new(c, "expires_at",
                        expires_at_ms ? json_integer((json_int_t)expires_at_ms) : json_null());
    json_object_set_new(c, "ttl", ttl_s ? json_integer((json_int_t)ttl_s) : json_null());
    text = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        BUG("signal: canonical form");
    sha256_hex(text, strlen(text), out);
    free(text);
    json_decref(c);
}

static int validate(const struct signal_fields *f, const struct signal_config *cfg, int64_t now_ms,
                    struct signal *s, struct strbuf *err)
{
    int64_t expires_at_ms = 0, ttl_s = 0;
    const char *source = NULL;
    char ebuf[80];
    long notelen;
    int rc;

    if (!f->symbol || !*f->symbol)
        return field_error(err, "symbol", "missing (such as \"XAU/USD\")");
    if (strlen(f->symbol) > SYMBOL_MAX || !printable_ascii(f->symbol))
        return field_error(err, "symbol", "must be at most %d printable ASCII characters",
                           SYMBOL_MAX);
    if (!f->timeframe || !*f->timeframe)
        return field_error(err, "timeframe", "missing (one of %s)", timeframe_all_names());
    if (timeframe_parse(f->timeframe, &s->tf)) {
        echo(ebuf, sizeof(ebuf), f->timeframe);
        return field_error(err, "timeframe", "unknown timeframe '%s' (one of %s)", ebuf,
                           timeframe_all_names());
    }
    if (f->source && !*f->source)
        return field_error(err, "source", "must not be empty");
    rc = resolve_series(f, cfg, s->tf, &source, err);
    if (rc)
        return rc;
    if (!f->direction)
        return field_error(err, "direction", "missing (\"long\" or \"short\")");
    if (signal_direction_parse(f->direction, &s->direction)) {
        echo(ebuf, sizeof(ebuf), f->direction);
        return field_error(err, "direction", "must be \"long\" or \"short\" (got '%s')", ebuf);
    }
    rc = parse_price_field("entry", f->entry, &s->entry, err);
    if (!rc)
        rc = parse_price_field("stop_loss", f->stop_loss, &s->stop_loss, err);
    if (!rc)
        rc = parse_price_field("take_profit", f->take_profit, &s->take_profit, err);
    if (!rc)
        rc = check_prices(s, err);
    if (rc)
        return rc;

    if (f->expires_at && f->ttl)
        return field_error(err, "ttl", "give expires_at or ttl, not both");
    if (f->expires_at) {
        int64_t t;
        echo(ebuf, sizeof(ebuf), f->expires_at);
        if (time_parse(f->expires_at, &t))
            return field_error(err, "expires_at",
                               "'%s' is not an ISO 8601 UTC time (such as 2024-01-02T15:00:00Z)",
                               ebuf);
        if (t > INT64_MAX / 1000 - 1 || t * 1000 <= now_ms)
            return field_error(err, "expires_at", "%s is not in the future", ebuf);
        expires_at_ms = t * 1000;
        s->expires_ms = expires_at_ms;
    } else if (f->ttl) {
        echo(ebuf, sizeof(ebuf), f->ttl);
        if (parse_duration(f->ttl, &ttl_s))
            return field_error(err, "ttl", "'%s' is not a duration such as 4h, 90m or 2d", ebuf);
        if (ttl_s <= 0 || ttl_s > SIGNAL_TTL_MAX)
            return field_error(err, "ttl", "must be from 1s to %lldd (got '%s')",
                               SIGNAL_TTL_MAX / 86400, ebuf);
        s->expires_ms = now_ms + ttl_s * 1000;
    }
    if (f->note) {
        notelen = utf8_length(f->note);
        if (notelen < 0)
            return field_error(err, "note", "is not valid UTF-8");
        if (notelen > SIGNAL_NOTE_MAX)
            return field_error(err, "note", "longer than %d characters (%ld)", SIGNAL_NOTE_MAX,
                               notelen);
    }

    s->source = xstrdup(source);
    s->symbol = xstrdup(f->symbol);
    s->note = xstrdup(f->note ? f->note : "");
    s->status = SIGNAL_ACTIVE;
    {
        char hash[65];
        request_hash(s, expires_at_ms, ttl_s, hash);
        s->request_hash = xstrdup(hash);
    }
    return 0;
}

int signal_validate(const struct signal_fields *f, const struct signal_config *cfg, int64_t now_ms,
                    struct signal *out, struct strbuf *err)
{
    memset(out, 0, sizeof(*out));
    return validate(f, cfg, now_ms, out, err);
}

int signal_check_key(const char *key, const char *what, struct strbuf *err)
{
    if (!*key || strlen(key) > SIGNAL_KEY_MAX || !printable_ascii(key)) {
        strbuf_addf(err, "%s: must be 1 to %d printable ASCII characters", what, SIGNAL_KEY_MAX);
        return CK_EINVAL;
    }
    return 0;
}

/* --- JSON bodies --------------------------------------------------------- */

/*
 * A scanner of the members of the top-level object of a body jansson has
 * accepted: for each member, the span of its key token (quotes included)
 * and of its value. It trusts the body's syntax and only needs to find
 * where tokens end.
 */
struct member_span {
    size_t key, key_len;
    size_t val, val_len;
};

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < len ? i + 1 : len;
}

static size_t skip_value(const char *s, size_t len, size_t i)
{
    int depth = 0;

    if (i < len && s[i] == '"')
        return skip_string(s, len, i);
    if (i < len && s[i] != '{' && s[i] != '[') {
        while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' &&
               s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            i++;
        return i;
    }
    while (i < len) {
        if (s[i] == '"') {
            i = skip_string(s, len, i);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if (s[i] == '}' || s[i] == ']')
            depth--;
        i++;
        if (depth == 0)
            break;
    }
    return i;
}

/* Find the member whose key is `name`; false when there is none. */
static bool find_member(const char *s, size_t len, const char *name, struct member_span *out)
{
    size_t i = skip_ws(s, len, 0);

    if (i >= len || s[i] != '{')
        return false;
    i++;
    for (;;) {
        struct member_span m;
        json_t *key;
        bool match;

        i = skip_ws(s, len, i);
        if (i >= len || s[i] != '"')
            return false;
        m.key = i;
        i = skip_string(s, len, i);
        m.key_len = i - m.key;
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != ':')
            return false;
        i = skip_ws(s, len, i + 1);
        m.val = i;
        i = skip_value(s, len, i);
        m.val_len = i - m.val;
        /* Keys may be spelled with escapes ("\u0065ntry"): let jansson decode them. */
        key = json_loadb(s + m.key, m.key_len, JSON_DECODE_ANY, NULL);
        match = key && json_is_string(key) && !strcmp(json_string_value(key), name);
        json_decref(key);
        if (match) {
            *out = m;
            return true;
        }
        i = skip_ws(s, len, i);
        if (i >= len || s[i] != ',')
            return false;
        i++;
    }
}

/* Load a body that must be a JSON object; CK_EPARSE with the position otherwise. */
static int load_object(const char *body, size_t len, json_t **out, struct strbuf *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!root) {
        strbuf_addf(err, "invalid JSON at line %d, column %d (byte %d): %s", jerr.line, jerr.column,
                    jerr.position, jerr.text);
        return CK_EPARSE;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        strbuf_addstr(err, "the body must be a JSON object");
        return CK_EPARSE;
    }
    *out = root;
    return 0;
}

static const char *const request_fields[] = {
    "source",    "symbol",      "timeframe",  "direction", "entry",
    "stop_loss", "take_profit", "expires_at", "ttl",       "note",
};

static bool is_price_field(const char *k)
{
    return !strcmp(k, "entry") || !strcmp(k, "stop_loss") || !strcmp(k, "take_profit");
}

static const char **field_slot(struct signal_fields *f, const char *k)
{
    const char **slots[] = {&f->source, &f->symbol,    &f->timeframe,   &f->direction,
                            &f->entry,  &f->stop_loss, &f->take_profit, &f->expires_at,
                            &f->ttl,    &f->note};
    for (size_t i = 0; i < ARRAY_SIZE(request_fields); i++)
        if (!strcmp(k, request_fields[i]))
            return slots[i];
    return NULL;
}

int signal_parse_request(const char *body, size_t len, const struct signal_config *cfg,
                         int64_t now_ms, struct signal *out, struct strbuf *err)
{
    struct signal_fields f = {0};
    char *numbers[3] = {NULL, NULL, NULL};
    size_t nnumbers = 0;
    json_t *root = NULL, *v;
    const char *k;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = load_object(body, len, &root, err);
    if (rc)
        return rc;
    json_object_foreach(root, k, v)
    {
        const char **slot = field_slot(&f, k);
        char ebuf[64];

        if (!slot) {
            echo(ebuf, sizeof(ebuf), k);
            strbuf_addf(err,
                        "%s: unknown field (known: source, symbol, timeframe, direction, "
                        "entry, stop_loss, take_profit, expires_at, ttl, note)",
                        ebuf);
            rc = CK_EINVAL;
            goto out;
        }
        if (json_is_string(v)) {
            *slot = json_string_value(v);
            if (strlen(*slot) != json_string_length(v)) {
                rc = field_error(err, k, "must not contain NUL characters");
                goto out;
            }
        } else if (json_is_number(v) && is_price_field(k)) {
            struct member_span m;
            if (!find_member(body, len, k, &m))
                BUG("signal: member '%s' not found again", k);
            numbers[nnumbers] = xstrndup(body + m.val, m.val_len);
            *slot = numbers[nnumbers++];
        } else if (json_is_null(v) && strcmp(k, "symbol") && strcmp(k, "timeframe") &&
                   strcmp(k, "direction") && !is_price_field(k)) {
            /* An optional field given as null is absent. */
        } else {
            rc = field_error(err, k, "must be %s, not %s",
                             is_price_field(k) ? "a decimal string or number" : "a string",
                             json_type_name(v));
            goto out;
        }
    }
    rc = validate(&f, cfg, now_ms, out, err);
out:
    if (rc)
        signal_release(out);
    for (size_t i = 0; i < nnumbers; i++)
        free(numbers[i]);
    json_decref(root);
    return rc;
}

/* --- creation ------------------------------------------------------------ */

int signal_create(struct store *st, const struct signal_config *cfg, struct signal *s,
                  const char *key, int64_t now_ms, bool *existed, struct strbuf *err)
{
    size_t n = cfg ? cfg->nreceivers : 0;
    const char **names = xcalloc(n ? n : 1, sizeof(*names));
    int rc;

    for (size_t i = 0; i < n; i++)
        names[i] = cfg->receivers[i].name;
    signal_new_id(s->id, now_ms);
    free(s->idempotency_key);
    s->idempotency_key = xstrdup_or_null(key);
    rc = store_signal_create(st, s, names, n, now_ms, existed, err);
    free(names);
    return rc;
}

/* --- JSON objects -------------------------------------------------------- */

static json_t *time_json(int64_t ms)
{
    char buf[TIME_BUFSZ];
    if (ms <= 0)
        return json_null();
    time_format_iso8601(ms / 1000, buf);
    return json_string(buf);
}

static json_t *price_json(int64_t v)
{
    char buf[PRICE_BUFSZ];
    price_format(v, buf);
    return json_string(buf);
}

/* A string, or null when absent or not UTF-8. */
static json_t *str_json(const char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    return j ? j : json_null();
}

struct json_t *signal_json(const struct signal *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(s->id));
    json_object_set_new(o, "source", str_json(s->source));
    json_object_set_new(o, "symbol", str_json(s->symbol));
    json_object_set_new(o, "timeframe", json_string(timeframe_name(s->tf)));
    json_object_set_new(o, "direction", json_string(signal_direction_name(s->direction)));
    json_object_set_new(o, "entry", price_json(s->entry));
    json_object_set_new(o, "stop_loss", price_json(s->stop_loss));
    json_object_set_new(o, "take_profit", price_json(s->take_profit));
    json_object_set_new(o, "status", json_string(signal_status_name(s->status)));
    json_object_set_new(o, "created_at", time_json(s->created_ms));
    json_object_set_new(o, "expires_at", time_json(s->expires_ms));
    json_object_set_new(o, "updated_at", time_json(s->updated_ms));
    json_object_set_new(o, "note", str_json(s->note ? s->note : ""));
    json_object_set_new(o, "idempotency_key", str_json(s->idempotency_key));
    return o;
}

static json_t *attempt_json(const struct delivery_attempt *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "attempt", json_integer((json_int_t)a->attempt));
    json_object_set_new(o, "started_at", time_json(a->started_ms));
    json_object_set_new(o, "duration_ms", json_integer((json_int_t)a->duration_ms));
    json_object_set_new(o, "http_status",
                        a->http_status ? json_integer((json_int_t)a->http_status) : json_null());
    json_object_set_new(o, "error", str_json(a->error));
    json_object_set_new(o, "instance", str_json(a->instance));
    return o;
}

static json_t *delivery_json(const struct delivery *d, const struct delivery_attempt *a, size_t n)
{
    json_t *o = json_object(), *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, attempt_json(&a[i]));
    json_object_set_new(o, "receiver", str_json(d->receiver));
    json_object_set_new(o, "webhook_id", str_json(d->webhook_id));
    json_object_set_new(o, "status", json_string(delivery_status_name(d->status)));
    json_object_set_new(o, "attempts", json_integer((json_int_t)d->attempts));
    json_object_set_new(o, "next_attempt_at",
                        d->status == DELIVERY_PENDING ? time_json(d->next_ms) : json_null());
    json_object_set_new(o, "last_status",
                        d->last_status ? json_integer((json_int_t)d->last_status) : json_null());
    json_object_set_new(o, "last_error", str_json(d->last_error));
    json_object_set_new(o, "created_at", time_json(d->created_ms));
    json_object_set_new(o, "delivered_at", time_json(d->delivered_ms));
    json_object_set_new(o, "history", arr);
    return o;
}

static json_t *outcome_json(const struct outcome *oc)
{
    json_t *o = json_object();
    json_object_set_new(o, "result", json_string(signal_status_name(oc->result)));
    json_object_set_new(o, "price", oc->has_price ? price_json(oc->price) : json_null());
    json_object_set_new(o, "decided_at", time_json(oc->decided_ms));
    json_object_set_new(o, "timeframe",
                        oc->has_candle ? json_string(timeframe_name(oc->tf)) : json_null());
    json_object_set_new(o, "candle_time",
                        oc->has_candle ? time_json(oc->candle_time * 1000) : json_null());
    json_object_set_new(o, "ambiguous", json_boolean(oc->ambiguous));
    return o;
}

int signal_detail_json(struct store *st, const char *id, struct json_t **out, struct strbuf *err)
{
    struct signal s;
    struct delivery *d = NULL;
    struct outcome oc;
    size_t nd = 0;
    json_t *o = NULL, *arr;
    int rc;

    *out = NULL;
    rc = store_signal_get(st, id, &s, err);
    if (rc)
        return rc;
    rc = store_delivery_list(st, id, &d, &nd, err);
    if (rc)
        goto out;
    o = signal_json(&s);
    arr = json_array();
    json_object_set_new(o, "deliveries", arr);
    for (size_t i = 0; i < nd; i++) {
        struct delivery_attempt *a = NULL;
        size_t na = 0;
        rc = store_delivery_attempts(st, d[i].id, &a, &na, err);
        if (rc)
            goto out;
        json_array_append_new(arr, delivery_json(&d[i], a, na));
        delivery_attempts_free(a, na);
    }
    rc = store_outcome_get(st, id, &oc, err);
    if (rc == CK_ENOTFOUND) {
        strbuf_reset(err);
        json_object_set_new(o, "outcome", json_null());
        rc = 0;
    } else if (!rc) {
        json_object_set_new(o, "outcome", outcome_json(&oc));
    }
out:
    if (!rc) {
        *out = o;
        o = NULL;
    }
    json_decref(o);
    deliveries_free(d, nd);
    signal_release(&s);
    return rc;
}

/* --- backtests ------------------------------------------------------------ */

/* The compact, order-keeping text of a JSON object value. */
static int object_text(const json_t *v, const char *field, char **out, struct strbuf *err)
{
    if (!v)
        return field_error(err, field, "missing (a JSON object)");
    if (!json_is_object(v))
        return field_error(err, field, "must be a JSON object, not %s", json_type_name(v));
    *out = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!*out)
        BUG("backtest: cannot dump '%s'", field);
    return 0;
}

static int check_name(const json_t *v, struct strbuf *err)
{
    long n;
    if (!v)
        return field_error(err, "name", "missing");
    if (!json_is_string(v))
        return field_error(err, "name", "must be a string, not %s", json_type_name(v));
    n = utf8_length(json_string_value(v));
    if (n < 1 || n > BACKTEST_NAME_MAX || strlen(json_string_value(v)) != json_string_length(v))
        return field_error(err, "name", "must be 1 to %d characters", BACKTEST_NAME_MAX);
    return 0;
}

/*
 * Keep the text the client sent for `field` when it is found in `body`
 * (numbers stay as written); the compact dump of jansson otherwise.
 */
static void keep_text(const char *body, size_t len, const char *field, char **text)
{
    struct member_span m;
    if (!find_member(body, len, field, &m))
        return;
    free(*text);
    *text = xstrndup(body + m.val, m.val_len);
}

int backtest_parse_request(const char *body, size_t len, struct backtest *b, struct strbuf *err)
{
    json_t *root = NULL, *v;
    const char *k;
    int rc;

    memset(b, 0, sizeof(*b));
    rc = load_object(body, len, &root, err);
    if (rc)
        return rc;
    json_object_foreach(root, k, v)
    {
        if (strcmp(k, "name") && strcmp(k, "params") && strcmp(k, "metrics")) {
            char ebuf[64];
            echo(ebuf, sizeof(ebuf), k);
            strbuf_addf(err, "%s: unknown field (known: name, params, metrics)", ebuf);
            rc = CK_EINVAL;
            goto out;
        }
    }
    rc = check_name(json_object_get(root, "name"), err);
    if (!rc)
        rc = object_text(json_object_get(root, "params"), "params", &b->params, err);
    if (!rc)
        rc = object_text(json_object_get(root, "metrics"), "metrics", &b->metrics, err);
    if (rc)
        goto out;
    b->name = xstrdup(json_string_value(json_object_get(root, "name")));
    keep_text(body, len, "params", &b->params);
    keep_text(body, len, "metrics", &b->metrics);
out:
    if (rc) {
        free(b->name);
        free(b->params);
        free(b->metrics);
        memset(b, 0, sizeof(*b));
    }
    json_decref(root);
    return rc;
}

int backtest_from_text(const char *name, const char *params, const char *metrics,
                       const char *params_opt, const char *metrics_opt, struct backtest *b,
                       struct strbuf *err)
{
    const char *texts[2] = {params, metrics};
    const char *opts[2] = {params_opt, metrics_opt};
    char **outs[2] = {&b->params, &b->metrics};
    json_t *jname = name ? json_string(name) : NULL;
    int rc;

    memset(b, 0, sizeof(*b));
    if (name && !jname) {
        strbuf_addstr(err, "name: is not valid UTF-8");
        return CK_EINVAL;
    }
    rc = check_name(jname, err);
    json_decref(jname);
    for (int i = 0; !rc && i < 2; i++) {
        json_error_t jerr;
        json_t *v;
        if (!texts[i]) {
            rc = field_error(err, opts[i], "missing (a JSON object)");
            break;
        }
        v = json_loads(texts[i], JSON_REJECT_DUPLICATES, &jerr);
        if (!v) {
            rc = field_error(err, opts[i], "invalid JSON at column %d: %s", jerr.column, jerr.text);
            break;
        }
        rc = object_text(v, opts[i], outs[i], err);
        json_decref(v);
        if (!rc) {
            /* Keep the text as written, without the white space around it. */
            const char *s = texts[i];
            size_t n = strlen(s);
            while (n &&
                   (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
                n--;
            while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) {
                s++;
                n--;
            }
            free(*outs[i]);
            *outs[i] = xstrndup(s, n);
        }
    }
    if (rc) {
        free(b->params);
        free(b->metrics);
        memset(b, 0, sizeof(*b));
        return rc;
    }
    b->name = xstrdup(name);
    return 0;
}

/* A stored JSON text as a value; a string when it does not parse (never expected). */
static json_t *stored_json(const char *text)
{
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    return v ? v : str_json(text);
}

struct json_t *backtest_json(const struct backtest *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)b->id));
    json_object_set_new(o, "name", str_json(b->name));
    json_object_set_new(o, "created_at", time_json(b->created_ms));
    json_object_set_new(o, "params", stored_json(b->params));
    json_object_set_new(o, "metrics", stored_json(b->metrics));
    return o;
}

/* --- dumping ---------------------------------------------------------------- */

/* The fewest significant digits (1..17) that give `v` back exactly. */
static int real_digits(double v)
{
    char buf[40];
    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

static int max_digits(const json_t *j)
{
    int best = 1;
    const char *k;
    json_t *v;
    size_t i;

    switch (json_typeof(j)) {
    case JSON_REAL:
        return real_digits(json_real_value(j));
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, k, v)
        {
            int d = max_digits(v);
            best = d > best ? d : best;
        }
        return best;
    case JSON_ARRAY:
        json_array_foreach(j, i, v)
        {
            int d = max_digits(v);
            best = d > best ? d : best;
        }
        return best;
    default:
        return best;
    }
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    strbuf_add(data, buf, size);
    return 0;
}

char *signal_dump_json(const struct json_t *j, bool pretty, size_t *out_len)
{
    struct strbuf sb = STRBUF_INIT;
    size_t flags = JSON_REAL_PRECISION(max_digits(j)) | JSON_PRESERVE_ORDER;

    flags |= pretty ? JSON_INDENT(2) : JSON_COMPACT;
    json_dump_callback(j, dump_cb, &sb, flags);
    strbuf_addch(&sb, '\n');
    return strbuf_detach(&sb, out_len);
}
