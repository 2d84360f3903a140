/* SPDX-License-Identifier: MIT */
/*
 * The Telegram channel: Bot API sendMessage, POST
 * {base_url}/bot{token}/sendMessage with a JSON body {chat_id, text,
 * parse_mode: "HTML", link_preview_options: {is_disabled: true}} (Bot API
 * 7.0 replaced disable_web_page_preview with link_preview_options).
 *
 * Rendering. A message becomes one HTML document: a first line that says
 * what happened ("🔴 <b>FIRING</b> [critical] title"), the details, the
 * alert key and the UTC time. Only b, i, code and pre are used, and every
 * value is escaped (& < > and ") after being made valid UTF-8 without
 * control characters, so Telegram never answers "can't parse entities"
 * because of what an alert happens to quote.
 *
 * Splitting. Telegram refuses a text over 4096 UTF-16 code units, counted
 * after it has parsed the entities. The document is split before sending,
 * counting the markup as well: the parsed text is never longer than the
 * markup that produced it, so every part is accepted whatever it
 * contains. Parts end at line breaks; only a line longer than a whole part
 * is cut, between two code points and outside any tag or entity. A tag
 * open at a cut (a <pre> block spanning two parts) is closed at the end of
 * the part and opened again at the start of the next, so each part is
 * valid HTML by itself. The split is deterministic: a retry of the same
 * message produces the same parts, which is what lets notify_msg.parts_done
 * skip the parts an earlier attempt delivered.
 *
 * Pacing. Telegram allows about one message a second per chat and twenty
 * a minute per group, and answers more with 429 and a wait. send() keeps
 * under both by sleeping on the channel's retry_clock before each
 * request: at least a second after the previous request to the chat, and
 * for a group (a negative chat id, or an @channel) no more than twenty
 * requests in any sixty seconds. Every request counts, whatever its answer.
 *
 * Answers. {"ok":true} is delivered. Otherwise error_code decides (the
 * HTTP status when the body is not the Bot API's): 429 is CK_ELIMIT with
 * parameters.retry_after as the wait; 5xx, network errors and timeouts are
 * worth another attempt; 400 (the message itself was refused) is
 * CK_EINVAL and 401/403/404 (token or chat refused) CK_EAUTH, neither
 * retried.
 *
 * Secrets. The token is part of the URL path. The URL is never put in a
 * message (http_do() names only the host), Telegram's own descriptions are
 * quoted in a short sanitised form, and every message has the token masked
 * once more before it leaves this file.
 *
 * Threads. A channel may be shared: send() holds the channel's mutex for
 * the whole message, so parts stay in order and the pacing sees every
 * request. The clock is borrowed and must outlive the channel.
 */
#include "alert/notify_internal.h"

#include "net/http.h"
#include "resilience/retry.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

#define TG_DEFAULT_BASE_URL   "https://api.telegram.org"
#define TG_CONNECT_TIMEOUT_MS 10000L
#define TG_TIMEOUT_MS         20000L
#define TG_MAX_ANSWER         ((size_t)1 << 20)
#define TG_CHAT_INTERVAL_MS   1000
#define TG_GROUP_PER_MINUTE   20
#define TG_GROUP_WINDOW_MS    60000
#define TG_QUOTE_MAX          200

struct telegram {
    struct notify_channel base; /* first: struct notify_channel * and struct telegram * convert */
    char *token;
    char *url; /* {base_url}/bot{token}/sendMessage: holds the token, never quoted */
    char *chat_id;
    json_t *chat; /* chat_id as sent: an integer, or the @channel string */
    bool group;   /* twenty messages a minute, not only one a second */
    long connect_timeout_ms, timeout_ms;
    struct retry_clock clock;
    struct http_client *http;

    /* Guards everything below and the use of `http`. */
    pthread_mutex_t lock;
    bool sent_before;
    int64_t last_ms;                     /* clock time of the latest request */
    int64_t recent[TG_GROUP_PER_MINUTE]; /* groups: times of the latest requests, a ring */
    size_t nrecent, next;                /* filled slots; the slot written next (oldest) */
};

static struct telegram *tg_downcast(struct notify_channel *ch)
{
    if (ch->ops != &notify_telegram_ops)
        BUG("channel '%s' is not a telegram channel", ch->ops->name);
    return (struct telegram *)ch;
}

/* ------------------------------------------------------------------ rendering */

/* Drop leading blank lines and trailing whitespace: they would only add empty lines. */
static void trim_details(const char *s, const char **start, size_t *len)
{
    const char *p = s, *end = s + strlen(s);
    const char *q = p;

    /* Skip whole blank lines at the start, keeping the indentation of the first line. */
    while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
        if (*q == '\n')
            p = q + 1;
        q++;
    }
    if (!*q)
        p = end;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    *start = p;
    *len = (size_t)(end - p);
}

void notify_telegram_render(const struct notify_msg *m, struct strbuf *out)
{
    const char *label = notify_state_label(m->state);
    const char *details = NULL;
    size_t dlen = 0;

    strbuf_addstr(out, notify_state_emoji(m));
    strbuf_addstr(out, " <b>");
    if (label) {
        strbuf_addstr(out, label);
    } else if (m->state && *m->state) {
        /* A state this file does not know yet: shown as it is, in capitals. */
        char *up = xstrdup(m->state);
        for (char *p = up; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        notify_add_text(out, up, NOTIFY_ESC_HTML);
        free(up);
    } else {
        strbuf_addstr(out, "NOTICE");
    }
    strbuf_addstr(out, "</b>");
    if (notify_shows_severity(m->state))
        strbuf_addf(out, " [%s]", notify_severity_name(m->severity));
    if (m->title && *m->title) {
        strbuf_addch(out, ' ');
        notify_add_text(out, m->title, NOTIFY_ESC_HTML);
    }
    if (m->details)
        trim_details(m->details, &details, &dlen);
    if (dlen) {
        char *d = xstrndup(details, dlen);
        /* Several lines are output, a table or a report: kept as typed, in monospace. */
        bool block = memchr(d, '\n', dlen) != NULL;
        strbuf_addstr(out, block ? "\n<pre>" : "\n");
        notify_add_text(out, d, NOTIFY_ESC_HTML);
        if (block)
            strbuf_addstr(out, "</pre>");
        free(d);
    }
    if (m->key && *m->key) {
        strbuf_addstr(out, "\n<i>key</i> <code>");
        notify_add_text(out, m->key, NOTIFY_ESC_HTML);
        strbuf_addstr(out, "</code>");
    }
    if (m->time > 0) {
        char t[TIME_BUFSZ];
        time_format_iso8601(m->time, t);
        strbuf_addf(out, "\n<i>time</i> %s", t);
    }
}

/* ------------------------------------------------------------------ splitting */

enum atom_kind {
    ATOM_TEXT,  /* one code point, or one entity */
    ATOM_LF,    /* a line break */
    ATOM_OPEN,  /* <tag ...> */
    ATOM_CLOSE, /* </tag> */
};

/* The smallest pieces a split may not cut. */
struct atom {
    size_t off, len;
    size_t cost;       /* UTF-16 code units of the raw bytes */
    size_t close_cost; /* ATOM_OPEN: the length of its "</name>" */
    enum atom_kind kind;
    bool blank; /* text that is whitespace */
};

struct atoms {
    struct atom *v;
    size_t n, alloc;
};

static void push_atom(struct atoms *a, const struct atom *at)
{
    ALLOC_GROW(a->v, a->n + 1, a->alloc);
    a->v[a->n++] = *at;
}

/* The tag name of the tag at `s` (after '<' or "</"): its start and length. */
static size_t tag_name(const char *s, size_t len, const char **start)
{
    size_t i = 0;

    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '-'))
        i++;
    *start = s;
    return i;
}

static void tokenize(const char *html, size_t len, struct atoms *out)
{
    size_t i = 0;

    while (i < len) {
        struct atom at = {.off = i, .kind = ATOM_TEXT};
        char c = html[i];
        const char *end;

        if (c == '<' && (end = memchr(html + i, '>', len - i)) != NULL) {
            const char *name;
            size_t body = (size_t)(end - html) - i + 1;
            bool closing = i + 1 < len && html[i + 1] == '/';
            size_t nlen = tag_name(html + i + 1 + closing, body - 1 - closing, &name);
            at.len = body;
            at.cost = notify_utf16_len(html + i, body);
            at.kind = closing ? ATOM_CLOSE : ATOM_OPEN;
            at.close_cost = nlen + 3;
        } else if (c == '&' && (end = memchr(html + i, ';', len - i)) != NULL &&
                   end - (html + i) <= 10) {
            at.len = (size_t)(end - html) - i + 1;
            at.cost = at.len;
        } else if (c == '\n') {
            at.len = at.cost = 1;
            at.kind = ATOM_LF;
            at.blank = true;
        } else {
            uint32_t cp;
            at.len = notify_utf8_next(html + i, len - i, &cp);
            at.cost = cp >= 0x10000 ? 2 : 1;
            at.blank = cp == ' ' || cp == '\t' || cp == '\r';
        }
        push_atom(out, &at);
        i += at.len;
    }
}

/* The open tags at a point: indices of their ATOM_OPEN atoms, outermost first. */
struct tag_stack {
    size_t *v;
    size_t n, alloc;
    size_t close_cost; /* length of the closing tags of them all */
};

static void stack_apply(struct tag_stack *st, const struct atoms *a, size_t i)
{
    const struct atom *at = &a->v[i];

    if (at->kind == ATOM_OPEN) {
        ALLOC_GROW(st->v, st->n + 1, st->alloc);
        st->v[st->n++] = i;
        st->close_cost += at->close_cost;
    } else if (at->kind == ATOM_CLOSE && st->n) {
        st->close_cost -= a->v[st->v[--st->n]].close_cost;
    }
}

static void stack_copy(struct tag_stack *dst, const struct tag_stack *src)
{
    dst->n = 0;
    ALLOC_GROW(dst->v, src->n, dst->alloc);
    if (src->n)
        memcpy(dst->v, src->v, src->n * sizeof(*src->v));
    dst->n = src->n;
    dst->close_cost = src->close_cost;
}

static void add_closing(struct strbuf *sb, const char *html, const struct atoms *a,
                        const struct tag_stack *st)
{
    for (size_t k = st->n; k-- > 0;) {
        const struct atom *at = &a->v[st->v[k]];
        const char *name;
        size_t nlen = tag_name(html + at->off + 1, at->len - 1, &name);
        strbuf_addf(sb, "</%.*s>", (int)nlen, name);
    }
}

size_t notify_telegram_split(const char *html, size_t len, size_t limit, char ***out)
{
    struct atoms a = {0};
    struct tag_stack cur = {0}, start = {0};
    char **parts = NULL;
    size_t nparts = 0, alloc = 0, i = 0;

    tokenize(html, len, &a);
    while (i < a.n) {
        size_t reopen = 0, cost, j = i, best_any = 0, best_lf = 0, end;
        bool any = false, lf = false, visible = false;
        struct strbuf part = STRBUF_INIT;

        /* `cur` holds the tags open at atom i. */
        stack_copy(&start, &cur);
        for (size_t k = 0; k < start.n; k++)
            reopen += a.v[start.v[k]].cost;
        cost = reopen;
        /* The longest prefix that fits, and the longest that ends at a line break. */
        for (;;) {
            if (j > i) {
                if (cost + cur.close_cost <= limit) {
                    any = true, best_any = j;
                    if (j == a.n || a.v[j].kind == ATOM_LF)
                        lf = true, best_lf = j;
                }
                if (cost > limit)
                    break; /* the cost only grows from here */
            }
            if (j == a.n)
                break;
            cost += a.v[j].cost;
            stack_apply(&cur, &a, j);
            j++;
        }
        /* A single piece over the limit (a giant tag) goes alone rather than nowhere. */
        end = lf ? best_lf : any ? best_any : i + 1;

        stack_copy(&cur, &start);
        for (size_t k = 0; k < start.n; k++)
            strbuf_add(&part, html + a.v[start.v[k]].off, a.v[start.v[k]].len);
        for (j = i; j < end; j++) {
            const struct atom *at = &a.v[j];
            strbuf_add(&part, html + at->off, at->len);
            stack_apply(&cur, &a, j);
            visible = visible || (at->kind == ATOM_TEXT && !at->blank);
        }
        add_closing(&part, html, &a, &cur);
        if (visible) {
            ALLOC_GROW(parts, nparts + 1, alloc);
            parts[nparts++] = strbuf_detach(&part, NULL);
        }
        strbuf_release(&part);
        i = end;
        /* The line break a part ended at separates the parts; it is in neither. */
        if (i < a.n && a.v[i].kind == ATOM_LF)
            i++;
    }
    free(a.v);
    free(cur.v);
    free(start.v);
    *out = parts;
    return nparts;
}

/* ------------------------------------------------------------------ the channel */

/* Letters, digits, ':', '-' and '_': safe in a URL path as they are. */
static bool token_ok(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (!isalnum((unsigned char)*t) && *t != ':' && *t != '-' && *t != '_')
            return false;
    return true;
}

/* An integer chat id ("-100123...") or a public channel name ("@name"). */
static bool chat_ok(const char *c, int64_t *num, bool *numeric)
{
    *numeric = !parse_int64(c, INT64_MIN, INT64_MAX, num);
    if (*numeric)
        return true;
    if (c[0] != '@' || !isalpha((unsigned char)c[1]) || strlen(c) < 5 || strlen(c) > 33)
        return false;
    for (const char *p = c + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return false;
    return true;
}

int notify_telegram_new(const struct telegram_config *cfg, struct notify_channel **out,
                        struct strbuf *err)
{
    const char *base = cfg->base_url && *cfg->base_url ? cfg->base_url : TG_DEFAULT_BASE_URL;
    size_t blen = strlen(base);
    struct strbuf url = STRBUF_INIT;
    struct telegram *tg;
    int64_t num = 0;
    bool numeric;

    if (!cfg->bot_token || !token_ok(cfg->bot_token)) {
        strbuf_addstr(err, "[alerts.telegram] bot_token may contain only letters, digits, ':', "
                           "'-' and '_' (as BotFather gives it)");
        return CK_ECONFIG;
    }
    if (!cfg->chat_id || !chat_ok(cfg->chat_id, &num, &numeric)) {
        strbuf_addstr(err, "[alerts.telegram] chat_id '");
        strbuf_add_excerpt(err, cfg->chat_id ? cfg->chat_id : "",
                           cfg->chat_id ? strlen(cfg->chat_id) : 0, 40, false);
        strbuf_addstr(err, "' is neither a chat number (negative for a group) nor an @channel");
        return CK_ECONFIG;
    }
    if (strncmp(base, "http://", 7) && strncmp(base, "https://", 8)) {
        strbuf_addstr(err, "[alerts.telegram] base_url is not an http:// or https:// URL");
        return CK_ECONFIG;
    }
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    strbuf_addf(&url, "%.*s/bot%s/sendMessage", (int)blen, base, cfg->bot_token);

    tg = xcalloc(1, sizeof(*tg));
    tg->base.ops = &notify_telegram_ops;
    tg->token = xstrdup(cfg->bot_token);
    tg->url = strbuf_detach(&url, NULL);
    tg->chat_id = xstrdup(cfg->chat_id);
    tg->chat = numeric ? json_integer((json_int_t)num) : json_string(cfg->chat_id);
    tg->group = numeric ? num < 0 : true;
    tg->connect_timeout_ms =
        cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : TG_CONNECT_TIMEOUT_MS;
    tg->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : TG_TIMEOUT_MS;
    tg->clock = cfg->clock ? *cfg->clock : notify_real_clock;
    tg->http = http_client_new();
    pthread_mutex_init(&tg->lock, NULL);
    *out = &tg->base;
    return 0;
}

static void tg_free(struct notify_channel *ch)
{
    struct telegram *tg;

    if (!ch)
        return;
    tg = tg_downcast(ch);
    pthread_mutex_destroy(&tg->lock);
    http_client_free(tg->http);
    json_decref(tg->chat);
    free(tg->token);
    free(tg->url);
    free(tg->chat_id);
    free(tg);
}

/*
 * Wait until the chat may get another message, then count one. False
 * when the clock said stop; `*left_ms` is then the wait that remained.
 */
static bool pace(struct telegram *tg, int64_t *left_ms)
{
    const struct retry_clock *c = &tg->clock;
    int64_t now = c->now_ms(c->arg), until = now;

    if (tg->sent_before && tg->last_ms + TG_CHAT_INTERVAL_MS > until)
        until = tg->last_ms + TG_CHAT_INTERVAL_MS;
    if (tg->group && tg->nrecent == TG_GROUP_PER_MINUTE &&
        tg->recent[tg->next] + TG_GROUP_WINDOW_MS > until)
        until = tg->recent[tg->next] + TG_GROUP_WINDOW_MS;
    if (until > now && !retry_wait_until(c, until)) {
        now = c->now_ms(c->arg);
        *left_ms = until > now ? until - now : 0;
        return false;
    }
    now = c->now_ms(c->arg);
    tg->sent_before = true;
    tg->last_ms = now;
    if (tg->group) {
        tg->recent[tg->next] = now;
        tg->next = (tg->next + 1) % TG_GROUP_PER_MINUTE;
        if (tg->nrecent < TG_GROUP_PER_MINUTE)
            tg->nrecent++;
    }
    return true;
}

/* What the Bot API answered, in the terms of notify.h. */
static int classify(const struct http_response *resp, struct notify_result *out, struct strbuf *msg)
{
    json_t *root = json_loadb(resp->body.buf, resp->body.len, 0, NULL);
    json_t *jcode, *jdesc, *params;
    long status = resp->status, code = status;
    const char *desc = NULL, *what;
    int64_t retry_after = -1, migrate_to = 0;
    bool api = root && json_is_object(root) && json_is_boolean(json_object_get(root, "ok"));
    int rc;

    if (api && json_is_true(json_object_get(root, "ok")) && status >= 200 && status <= 299) {
        json_decref(root);
        return 0;
    }
    if (api) {
        jcode = json_object_get(root, "error_code");
        jdesc = json_object_get(root, "description");
        params = json_object_get(root, "parameters");
        if (json_is_integer(jcode) && json_integer_value(jcode) > 0)
            code = (long)json_integer_value(jcode);
        if (json_is_string(jdesc))
            desc = json_string_value(jdesc);
        if (json_is_object(params)) {
            json_t *ra = json_object_get(params, "retry_after");
            json_t *mig = json_object_get(params, "migrate_to_chat_id");
            if (json_is_integer(ra) && json_integer_value(ra) >= 0)
                retry_after = (int64_t)json_integer_value(ra);
            if (json_is_integer(mig))
                migrate_to = (int64_t)json_integer_value(mig);
        }
    }
    if (retry_after < 0 && resp->retry_after >= 0)
        retry_after = resp->retry_after;

    if (code == 429) {
        rc = CK_ELIMIT, what = "rate limited";
    } else if (code == 401 || code == 404) {
        rc = CK_EAUTH, what = "bot token refused";
    } else if (code == 403) {
        rc = CK_EAUTH, what = "the bot may not post to the chat";
    } else if (code == 408) {
        rc = CK_ETIMEDOUT, what = "request timeout";
    } else if (code >= 400 && code <= 499) {
        rc = CK_EINVAL, what = "message refused";
    } else if (code >= 500 && code <= 599) {
        rc = CK_EUPSTREAM, what = "Telegram failure";
    } else {
        rc = CK_EUPSTREAM, what = "unexpected answer";
    }
    out->retryable = retry_is_retryable(rc, code);
    if (out->retryable && retry_after >= 0)
        out->retry_after_ms = retry_after * 1000;

    strbuf_addf(msg, "%s (HTTP %ld", what, status);
    if (code != status)
        strbuf_addf(msg, ", error_code %ld", code);
    strbuf_addch(msg, ')');
    if (desc && *desc) {
        strbuf_addstr(msg, ": ");
        strbuf_add_excerpt(msg, desc, strlen(desc), TG_QUOTE_MAX, false);
    } else if (!api && resp->body.len) {
        strbuf_addstr(msg, ", not a Bot API answer: '");
        strbuf_add_excerpt(msg, resp->body.buf, resp->body.len, 80, resp->body.buf[0] == '<');
        strbuf_addch(msg, '\'');
    }
    if (migrate_to)
        strbuf_addf(msg, "; the group is now the supergroup %lld: set chat_id to it",
                    (long long)migrate_to);
    json_decref(root);
    return rc;
}

/* Send one part; 0 when Telegram took it. */
static int send_part(struct telegram *tg, const char *text, struct notify_result *out,
                     struct strbuf *msg)
{
    static const struct http_header hdrs[] = {
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
    };
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_request req = {
        .method = "POST",
        .url = tg->url,
        .headers = hdrs,
        .nheaders = ARRAY_SIZE(hdrs),
        .connect_timeout_ms = tg->connect_timeout_ms,
        .timeout_ms = tg->timeout_ms,
        .max_body = TG_MAX_ANSWER,
    };
    json_t *body = json_pack("{s:O, s:s, s:s, s:{s:b}}", "chat_id", tg->chat, "text", text,
                             "parse_mode", "HTML", "link_preview_options", "is_disabled", 1);
    char *json;
    int rc;

    /* The renderer writes valid UTF-8 only; jansson refuses anything else. */
    if (!body)
        BUG("telegram: a rendered part is not valid UTF-8");
    json = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    req.body = json;
    req.body_len = strlen(json);
    rc = http_do(tg->http, &req, &resp, msg);
    out->status = resp.status;
    if (rc)
        out->retryable = retry_is_retryable(rc, 0);
    else
        rc = classify(&resp, out, msg);
    free(json);
    http_response_release(&resp);
    return rc;
}

static int tg_send(struct notify_channel *ch, const struct notify_msg *m, struct notify_result *out,
                   struct strbuf *err)
{
    struct telegram *tg = tg_downcast(ch);
    struct strbuf html = STRBUF_INIT, msg = STRBUF_INIT;
    char **parts = NULL;
    size_t nparts;
    int rc = 0;

    notify_telegram_render(m, &html);
    nparts = notify_telegram_split(html.buf, html.len, TELEGRAM_MAX_TEXT, &parts);
    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = (int)nparts};
    out->parts_done = m->parts_done < 0 ? 0 : m->parts_done;
    if ((size_t)out->parts_done > nparts)
        out->parts_done = (int)nparts;

    pthread_mutex_lock(&tg->lock);
    for (size_t i = (size_t)out->parts_done; i < nparts; i++) {
        struct strbuf why = STRBUF_INIT;
        int64_t left = 0;

        if (!pace(tg, &left)) {
            rc = CK_ELIMIT;
            out->retryable = true;
            out->retry_after_ms = left;
            strbuf_addstr(&why, "stopped while pacing messages to the chat");
        } else {
            rc = send_part(tg, parts[i], out, &why);
        }
        if (rc) {
            strbuf_addstr(&msg, "telegram: ");
            if (nparts > 1)
                strbuf_addf(&msg, "part %zu of %zu: ", i + 1, nparts);
            strbuf_addbuf(&msg, &why);
            strbuf_release(&why);
            break;
        }
        strbuf_release(&why);
        out->parts_done++;
    }
    pthread_mutex_unlock(&tg->lock);

    redact_value(&msg, tg->token);
    strbuf_addbuf(err, &msg);
    strbuf_release(&msg);
    strbuf_release(&html);
    for (size_t i = 0; i < nparts; i++)
        free(parts[i]);
    free(parts);
    return rc;
}

/* Telegram's limit on a caption, in characters; cut shorter, in bytes, to be safe. */
#define TG_MAX_CAPTION_BYTES 1000

/*
 * sendDocument: the file as a multipart/form-data upload (the Bot API
 * takes files only that way) with chat_id and a plain-text caption (no
 * parse_mode, so nothing in it needs escaping), cut at a code point
 * boundary to stay under Telegram's 1,024 characters. Paced and answered
 * like a message.
 */
static int tg_send_document(struct notify_channel *ch, const struct notify_document *d,
                            struct notify_result *out, struct strbuf *err)
{
    struct telegram *tg = tg_downcast(ch);
    struct strbuf url = STRBUF_INIT, msg = STRBUF_INIT, caption = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_part parts[3] = {
        {.name = "chat_id", .data = tg->chat_id, .len = strlen(tg->chat_id)},
        {.name = "document",
         .data = d->data,
         .len = d->len,
         .filename = d->filename,
         .type = d->mime},
    };
    struct http_request req = {
        .method = "POST",
        .parts = parts,
        .nparts = 2,
        .connect_timeout_ms = tg->connect_timeout_ms,
        .timeout_ms = tg->timeout_ms,
        .max_body = TG_MAX_ANSWER,
    };
    size_t base = strlen(tg->url) - strlen("sendMessage");
    int64_t left = 0;
    int rc;

    *out = (struct notify_result){.retry_after_ms = -1, .parts_total = 1};
    strbuf_add(&url, tg->url, base);
    strbuf_addstr(&url, "sendDocument");
    req.url = url.buf;
    if (d->caption && *d->caption) {
        size_t n = strlen(d->caption);
        if (n > TG_MAX_CAPTION_BYTES) {
            n = TG_MAX_CAPTION_BYTES;
            while (n && ((unsigned char)d->caption[n] & 0xC0) == 0x80)
                n--;
        }
        strbuf_add(&caption, d->caption, n);
        parts[2] = (struct http_part){.name = "caption", .data = caption.buf, .len = caption.len};
        req.nparts = 3;
    }

    pthread_mutex_lock(&tg->lock);
    if (!pace(tg, &left)) {
        rc = CK_ELIMIT;
        out->retryable = true;
        out->retry_after_ms = left;
        strbuf_addstr(&msg, "stopped while pacing messages to the chat");
    } else {
        rc = http_do(tg->http, &req, &resp, &msg);
        out->status = resp.status;
        if (rc)
            out->retryable = retry_is_retryable(rc, 0);
        else
            rc = classify(&resp, out, &msg);
    }
    pthread_mutex_unlock(&tg->lock);
    if (!rc)
        out->parts_done = 1;
    if (rc) {
        redact_value(&msg, tg->token);
        strbuf_addstr(err, "telegram: sendDocument: ");
        strbuf_addbuf(err, &msg);
    }
    http_response_release(&resp);
    strbuf_release(&url);
    strbuf_release(&msg);
    strbuf_release(&caption);
    return rc;
}

const struct notify_ops notify_telegram_ops = {
    .name = "telegram",
    .send = tg_send,
    .send_document = tg_send_document,
    .free = tg_free,
};
