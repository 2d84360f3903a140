/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep signals ...`: trading signals from the command line, written
 * to and read from the same rows as the HTTP API (signal/signal.h does the
 * validation and creation for both, so a signal added here is queued for
 * every [webhook.NAME] receiver exactly as one posted to /signals).
 *
 *   signals add --symbol S --timeframe TF --direction long|short --entry P
 *               --stop-loss P --take-profit P [--source NAME]
 *               [--expires ISO | --ttl 4h] [--note TEXT] [--id KEY]
 *   signals list [--status S] [--since ISO] [--limit N] [--format F]
 *   signals show ID [--format table|json]
 *   signals redeliver ID [--receiver NAME]
 *   signals cancel ID
 *
 * Validation errors name the option (the request's field "stop_loss" is
 * the option --stop-loss) and exit 2; a refused change (an idempotency key
 * used for another request, a signal that is not active) exits 1.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "market/price.h"
#include "signal/signal.h"
#include "store/signals.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_signals_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep signals add --symbol S --timeframe TF --direction long|short\n"
                "                              --entry P --stop-loss P --take-profit P\n"
                "                              [--source NAME] [--expires ISO | --ttl 4h]\n"
                "                              [--note TEXT] [--id IDEMPOTENCY_KEY]\n"
                "       candlekeep signals list [--status S] [--since ISO] [--limit N]\n"
                "                               [--format table|json|csv]\n"
                "       candlekeep signals show ID [--format table|json]\n"
                "       candlekeep signals redeliver ID [--receiver NAME]\n"
                "       candlekeep signals cancel ID\n"
                "Every command takes --config FILE.\n\n"
                "Signals are stored with one delivery per [webhook.NAME] receiver, which the\n"
                "daemon sends. Prices are exact decimals (at most 8 decimals); for a long\n"
                "stop-loss < entry < take-profit, for a short the reverse. --id makes add\n"
                "idempotent: the same key with the same request returns the stored signal.\n"
                "status is one of active, won, lost, expired, cancelled.\n");
}

/* Option values, and which action each belongs to. */
enum opt_id {
    O_SYMBOL = 1000,
    O_TIMEFRAME,
    O_DIRECTION,
    O_ENTRY,
    O_STOP_LOSS,
    O_TAKE_PROFIT,
    O_SOURCE,
    O_EXPIRES,
    O_TTL,
    O_NOTE,
    O_ID,
    O_STATUS,
    O_SINCE,
    O_LIMIT,
    O_RECEIVER,
    O_END,
};

static const struct option opts[] = {
    {"symbol", required_argument, NULL, O_SYMBOL},
    {"timeframe", required_argument, NULL, O_TIMEFRAME},
    {"direction", required_argument, NULL, O_DIRECTION},
    {"entry", required_argument, NULL, O_ENTRY},
    {"stop-loss", required_argument, NULL, O_STOP_LOSS},
    {"take-profit", required_argument, NULL, O_TAKE_PROFIT},
    {"source", required_argument, NULL, O_SOURCE},
    {"expires", required_argument, NULL, O_EXPIRES},
    {"ttl", required_argument, NULL, O_TTL},
    {"note", required_argument, NULL, O_NOTE},
    {"id", required_argument, NULL, O_ID},
    {"status", required_argument, NULL, O_STATUS},
    {"since", required_argument, NULL, O_SINCE},
    {"limit", required_argument, NULL, O_LIMIT},
    {"receiver", required_argument, NULL, O_RECEIVER},
    {0},
};

/* The actions an option is for ("*": every one). */
static const char *opt_actions(int id)
{
    if (id >= O_SYMBOL && id <= O_ID)
        return " add ";
    switch (id) {
    case O_STATUS:
    case O_SINCE:
    case O_LIMIT:
        return " list ";
    case O_RECEIVER:
        return " redeliver ";
    default:
        return "*";
    }
}

static const char *opt_name(int id)
{
    for (const struct option *o = opts; o->name; o++)
        if (o->val == id)
            return o->name;
    return "?";
}

/* The option of a request field, for messages. */
static const char *field_option(const char *field, size_t len)
{
    static const char *const map[][2] = {
        {"source", "--source"},
        {"symbol", "--symbol"},
        {"timeframe", "--timeframe"},
        {"direction", "--direction"},
        {"entry", "--entry"},
        {"stop_loss", "--stop-loss"},
        {"take_profit", "--take-profit"},
        {"expires_at", "--expires"},
        {"ttl", "--ttl"},
        {"note", "--note"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++)
        if (strlen(map[i][0]) == len && !memcmp(map[i][0], field, len))
            return map[i][1];
    return NULL;
}

/* Print a validation message "field: reason" as "--option: reason". */
static void print_field_error(const char *msg)
{
    const char *colon = strchr(msg, ':');
    const char *opt = colon ? field_option(msg, (size_t)(colon - msg)) : NULL;
    if (opt)
        fprintf(stderr, "candlekeep signals add: %s%s\n", opt, colon);
    else
        fprintf(stderr, "candlekeep signals add: %s\n", msg);
}

static void print_json(json_t *j)
{
    char *text = signal_dump_json(j, true, NULL);
    fputs(text, stdout);
    free(text);
}

static void fmt_ms(int64_t ms, char buf[TIME_BUFSZ])
{
    if (ms <= 0)
        buf[0] = '\0';
    else
        time_format_iso8601(ms / 1000, buf);
}

struct args {
    struct signal_fields f;
    const char *key;
    const char *status;
    const char *since;
    const char *receiver;
    int64_t limit;
    enum out_format fmt;
    const char *id;
};

static int do_add(struct store *st, struct settings *cfg, const struct args *a)
{
    struct strbuf err = STRBUF_INIT;
    struct signal s;
    bool existed = false;
    int64_t now = time_now_ms();
    struct signal_config sc = settings_signal_config(cfg);
    int rc;

    if (a->key && signal_check_key(a->key, "--id", &err)) {
        fprintf(stderr, "candlekeep signals add: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_USAGE;
    }
    rc = signal_validate(&a->f, &sc, now, &s, &err);
    if (rc) {
        print_field_error(err.buf);
        rc = CMD_USAGE;
        goto out;
    }
    rc = signal_create(st, &sc, &s, a->key, now, &existed, &err);
    if (rc == CK_ECONFLICT && a->key) {
        fprintf(stderr, "candlekeep signals add: --id: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    if (rc) {
        fprintf(stderr, "candlekeep signals add: %s\n", err.buf);
        rc = CMD_FAIL;
        goto out;
    }
    if (a->fmt == OUT_JSON) {
        json_t *j = NULL;
        rc = signal_detail_json(st, s.id, &j, &err);
        if (rc) {
            fprintf(stderr, "candlekeep signals add: %s\n", err.buf);
            rc = CMD_FAIL;
            goto out;
        }
        print_json(j);
        json_decref(j);
    } else if (existed) {
        printf("%s exists already (same --id, same request)\n", s.id);
    } else {
        printf("%s created: %s %s %s %s, %zu %s queued\n", s.id, s.source, s.symbol,
               timeframe_name(s.tf), signal_direction_name(s.direction), cfg->nreceivers,
               cfg->nreceivers == 1 ? "delivery" : "deliveries");
    }
    rc = CMD_OK;
out:
    signal_release(&s);
    strbuf_release(&err);
    return rc;
}

/* Signals `v[0..n)` as records in format `fmt` (not JSON). */
static void print_list(const struct signal *v, size_t n, enum out_format fmt)
{
    static const char *const cols[] = {"id",          "created_at", "source",     "symbol",
                                       "timeframe",   "direction",  "entry",      "stop_loss",
                                       "take_profit", "status",     "expires_at", "note"};
    struct out_table *t = out_table_new(fmt, cols, ARRAY_SIZE(cols));

    for (size_t i = 0; i < n; i++) {
        char created[TIME_BUFSZ], expires[TIME_BUFSZ];
        char e[PRICE_BUFSZ], sl[PRICE_BUFSZ], tp[PRICE_BUFSZ];
        price_format(v[i].entry, e);
        price_format(v[i].stop_loss, sl);
        price_format(v[i].take_profit, tp);
        fmt_ms(v[i].created_ms, created);
        fmt_ms(v[i].expires_ms, expires);
        const char *row[] = {v[i].id,
                             created,
                             v[i].source,
                             v[i].symbol,
                             timeframe_name(v[i].tf),
                             signal_direction_name(v[i].direction),
                             e,
                             sl,
                             tp,
                             signal_status_name(v[i].status),
                             v[i].expires_ms ? expires : NULL,
                             v[i].note};
        out_table_row(t, row);
    }
    out_table_flush(t);
}

static int do_list(struct store *st, const struct args *a)
{
    struct strbuf err = STRBUF_INIT;
    struct signal_query q = {.limit = (size_t)a->limit};
    enum signal_status status;
    struct signal *v = NULL;
    size_t n = 0;

    if (a->status) {
        if (signal_status_parse(a->status, &status)) {
            fprintf(stderr,
                    "candlekeep signals list: --status '%s' is not one of active, won, lost, "
                    "expired, cancelled\n",
                    a->status);
            return CMD_USAGE;
        }
        q.status = &status;
    }
    if (a->since) {
        int64_t t;
        if (cmd_parse_time("signals list", "--since", a->since, &t))
            return CMD_USAGE;
        q.since_ms = t * 1000;
    }
    if (store_signal_list(st, &q, &v, &n, &err)) {
        fprintf(stderr, "candlekeep signals list: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    if (a->fmt == OUT_JSON) {
        /* The objects of GET /signals. */
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, signal_json(&v[i]));
        print_json(arr);
        json_decref(arr);
    } else {
        print_list(v, n, a->fmt);
    }
    signals_free(v, n);
    strbuf_release(&err);
    return CMD_OK;
}

static const char *json_str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

static void print_detail(const json_t *d)
{
    static const char *const keys[] = {"id",          "status",         "source",     "symbol",
                                       "timeframe",   "direction",      "entry",      "stop_loss",
                                       "take_profit", "created_at",     "expires_at", "updated_at",
                                       "note",        "idempotency_key"};
    const json_t *dl = json_object_get(d, "deliveries"), *oc = json_object_get(d, "outcome");
    size_t i, k;
    json_t *x, *a;

    for (k = 0; k < ARRAY_SIZE(keys); k++)
        printf("%-16s %s\n", keys[k], json_str(d, keys[k]));
    printf("\ndeliveries (%zu)\n", json_array_size(dl));
    json_array_foreach(dl, i, x)
    {
        json_t *st = json_object_get(x, "last_status");
        printf("  %s  %s  attempts %" JSON_INTEGER_FORMAT "  next %s  delivered %s",
               json_str(x, "receiver"), json_str(x, "status"),
               json_integer_value(json_object_get(x, "attempts")), json_str(x, "next_attempt_at"),
               json_str(x, "delivered_at"));
        if (json_is_integer(st))
            printf("  last HTTP %" JSON_INTEGER_FORMAT, json_integer_value(st));
        if (*json_str(x, "last_error") && strcmp(json_str(x, "last_error"), "-"))
            printf("  error: %s", json_str(x, "last_error"));
        printf("\n");
        json_array_foreach(json_object_get(x, "history"), k, a)
        {
            json_t *hs = json_object_get(a, "http_status");
            printf("    #%" JSON_INTEGER_FORMAT "  %s  %" JSON_INTEGER_FORMAT " ms  ",
                   json_integer_value(json_object_get(a, "attempt")), json_str(a, "started_at"),
                   json_integer_value(json_object_get(a, "duration_ms")));
            if (json_is_integer(hs))
                printf("HTTP %" JSON_INTEGER_FORMAT, json_integer_value(hs));
            else
                printf("no response");
            if (*json_str(a, "error"))
                printf("  %s", json_str(a, "error"));
            printf("  (%s)\n", json_str(a, "instance"));
        }
    }
    if (json_is_object(oc))
        printf("\noutcome          %s at %s (price %s%s)\n", json_str(oc, "result"),
               json_str(oc, "decided_at"), json_str(oc, "price"),
               json_is_true(json_object_get(oc, "ambiguous")) ? ", ambiguous" : "");
    else
        printf("\noutcome          none yet\n");
}

static int do_show(struct store *st, const struct args *a)
{
    struct strbuf err = STRBUF_INIT;
    json_t *d = NULL;
    int rc;

    if (a->fmt == OUT_CSV) {
        fprintf(stderr, "candlekeep signals show: --format csv does not fit one signal with its "
                        "deliveries; use table or json\n");
        return CMD_USAGE;
    }
    rc = signal_detail_json(st, a->id, &d, &err);
    if (rc) {
        fprintf(stderr, "candlekeep signals show: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    if (a->fmt == OUT_JSON)
        print_json(d);
    else
        print_detail(d);
    json_decref(d);
    strbuf_release(&err);
    return CMD_OK;
}

static int do_redeliver(struct store *st, const struct args *a)
{
    struct strbuf err = STRBUF_INIT;
    struct signal s;
    size_t n = 0;
    int rc = store_signal_get(st, a->id, &s, &err);

    if (!rc)
        rc = store_delivery_requeue(st, a->id, a->receiver, time_now_ms(), &n, &err);
    if (rc) {
        fprintf(stderr, "candlekeep signals redeliver: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    if (n)
        printf("%s: %zu dead %s re-queued\n", a->id, n, n == 1 ? "delivery" : "deliveries");
    else
        printf("%s: no dead deliveries%s%s\n", a->id, a->receiver ? " for receiver " : "",
               a->receiver ? a->receiver : "");
    signal_release(&s);
    strbuf_release(&err);
    return CMD_OK;
}

static int do_cancel(struct store *st, const struct args *a)
{
    struct strbuf err = STRBUF_INIT;
    int rc =
        store_signal_set_status(st, a->id, SIGNAL_ACTIVE, SIGNAL_CANCELLED, time_now_ms(), &err);
    if (rc) {
        fprintf(stderr, "candlekeep signals cancel: %s\n", err.buf);
        strbuf_release(&err);
        return CMD_FAIL;
    }
    printf("%s cancelled\n", a->id);
    strbuf_release(&err);
    return CMD_OK;
}

/* Where the value of option `id` goes; NULL for --limit, a number. */
static const char **option_slot(struct args *a, int id)
{
    switch (id) {
    case O_SYMBOL:
        return &a->f.symbol;
    case O_TIMEFRAME:
        return &a->f.timeframe;
    case O_DIRECTION:
        return &a->f.direction;
    case O_ENTRY:
        return &a->f.entry;
    case O_STOP_LOSS:
        return &a->f.stop_loss;
    case O_TAKE_PROFIT:
        return &a->f.take_profit;
    case O_SOURCE:
        return &a->f.source;
    case O_EXPIRES:
        return &a->f.expires_at;
    case O_TTL:
        return &a->f.ttl;
    case O_NOTE:
        return &a->f.note;
    case O_ID:
        return &a->key;
    case O_STATUS:
        return &a->status;
    case O_SINCE:
        return &a->since;
    case O_RECEIVER:
        return &a->receiver;
    default:
        return NULL;
    }
}

/* Take the options into `a`, marking each in `used`; CMD_OK, or CMD_USAGE (printed). */
static int parse_options(int argc, char **argv, struct args *a, bool *used)
{
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c < O_SYMBOL || c >= O_END) {
            cmd_signals_usage(stderr);
            return CMD_USAGE;
        }
        used[c - O_SYMBOL] = true;
        if (c != O_LIMIT)
            *option_slot(a, c) = optarg;
        else if (cmd_parse_int("signals", "--limit", optarg, 1, 100000, &a->limit))
            return CMD_USAGE;
    }
    return CMD_OK;
}

/*
 * The action after the options, with the signal id the action takes
 * (a->id), checked against the options `used`; NULL after a usage error
 * (printed).
 */
static const char *parse_action(int argc, char **argv, const bool *used, struct args *a)
{
    static const char *const actions[] = {"add", "list", "show", "redeliver", "cancel"};
    const char *action;
    char word[32];
    bool known = false;

    if (optind >= argc) {
        fprintf(stderr, "candlekeep signals: an action is needed (add, list, show, redeliver, "
                        "cancel)\n");
        cmd_signals_usage(stderr);
        return NULL;
    }
    action = argv[optind++];
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
        known = known || !strcmp(action, actions[i]);
    if (!known) {
        fprintf(stderr, "candlekeep signals: unknown action '%s'\n", action);
        cmd_signals_usage(stderr);
        return NULL;
    }
    snprintf(word, sizeof(word), " %s ", action);
    for (int id = O_SYMBOL; id < O_END; id++) {
        const char *acts = opt_actions(id);
        if (used[id - O_SYMBOL] && strcmp(acts, "*") && !strstr(acts, word)) {
            fprintf(stderr, "candlekeep signals %s: option --%s does not apply here\n", action,
                    opt_name(id));
            return NULL;
        }
    }
    if (strcmp(action, "add") && strcmp(action, "list")) {
        if (optind >= argc) {
            fprintf(stderr, "candlekeep signals %s: a signal id is required\n", action);
            return NULL;
        }
        a->id = argv[optind++];
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep signals %s: unexpected argument '%s'\n", action, argv[optind]);
        return NULL;
    }
    return action;
}

int cmd_signals(int argc, char **argv, struct ck *ck)
{
    struct args a = {.limit = 50};
    bool used[O_END - O_SYMBOL] = {0};
    const char *action;
    int rc;

    if (parse_options(argc, argv, &a, used))
        return CMD_USAGE;
    action = parse_action(argc, argv, used, &a);
    if (!action)
        return CMD_USAGE;
    a.fmt = ck->format;
    rc = cmd_ready(ck);
    if (rc)
        return rc;
    if (!strcmp(action, "add"))
        return do_add(ck->store, &ck->settings, &a);
    if (!strcmp(action, "list"))
        return do_list(ck->store, &a);
    if (!strcmp(action, "show"))
        return do_show(ck->store, &a);
    if (!strcmp(action, "redeliver"))
        return do_redeliver(ck->store, &a);
    return do_cancel(ck->store, &a);
}
