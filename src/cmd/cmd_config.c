/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep config check [--config FILE]`: load the configuration the
 * way the daemon does and report every problem as `file:line: key 'x':
 * reason`; exit 2 if there is any, including what would stop the daemon
 * later (an enabled source without the API key its kind needs). `config
 * show` prints every key of every section from the settings' own option
 * tables (settings_show()), with secrets masked by the one redactor.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "util/config.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void cmd_config_usage(FILE *fp)
{
    fprintf(fp,
            "usage: candlekeep config check [--config FILE]\n"
            "       candlekeep config show [--config FILE] [--format table|json]\n\n"
            "check  report every unknown key, bad value, unknown source kind and missing\n"
            "       API key as file:line: key 'x': reason\n"
            "       (exit 0 when the configuration is valid, 2 otherwise)\n"
            "show   print every setting of every section as in effect (defaults, file and\n"
            "       environment), secrets masked; --format json prints an object of sections\n");
}

static void show_ini(const char *section, const char *key, enum config_type type, const char *value,
                     void *arg)
{
    struct strbuf *last = arg;

    if (strcmp(last->buf, section)) {
        printf("%s[%s]\n", last->len ? "\n" : "", section);
        strbuf_reset(last);
        strbuf_addstr(last, section);
    }
    (void)type;
    printf("%s =%s%s\n", key, *value ? " " : "", value);
}

/* Integers and booleans as JSON numbers and booleans; durations as written ("15m"). */
static void show_json(const char *section, const char *key, enum config_type type,
                      const char *value, void *arg)
{
    json_t *root = arg, *sec = json_object_get(root, section), *v = NULL;
    int64_t n;

    if (!sec) {
        sec = json_object();
        json_object_set_new(root, section, sec);
    }
    if (type == CONFIG_INT && !parse_int64(value, INT64_MIN, INT64_MAX, &n))
        v = json_integer((json_int_t)n);
    else if (type == CONFIG_BOOL)
        v = json_boolean(!strcmp(value, "true"));
    json_object_set_new(sec, key, v ? v : json_string(value));
}

static void show(const struct settings *s, enum out_format fmt)
{
    if (fmt == OUT_JSON) {
        json_t *root = json_object();
        char *text;
        settings_show(s, show_json, root);
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
        json_decref(root);
    } else {
        struct strbuf last = STRBUF_INIT;
        printf("# effective configuration (%s)\n", s->path ? s->path : "defaults, no file");
        settings_show(s, show_ini, &last);
        strbuf_release(&last);
    }
}

/* The problems the daemon would refuse to start with: the load's, then each source's key. */
static int check(const struct settings *s, struct config_report *rep)
{
    for (size_t i = 0; i < s->nsources; i++)
        source_settings_check_key(&s->sources[i], rep);
    return rep->count ? CK_ECONFIG : 0;
}

/* Load the settings from `path` and do `action` (check or show); the exit code. */
static int load_and_report(const char *action, const char *path, enum out_format fmt)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    int rc = settings_load(&s, path, &rep);

    if (!strcmp(action, "check"))
        rc = check(&s, &rep);
    if (rc) {
        fputs(rep.text.buf, stderr);
        fprintf(stderr, "%s: %d problem%s\n", s.path ? s.path : (path ? path : "configuration"),
                rep.count, rep.count == 1 ? "" : "s");
        rc = CMD_USAGE;
    } else if (!strcmp(action, "show")) {
        show(&s, fmt);
        rc = CMD_OK;
    } else {
        printf("%s: ok (%zu source%s, storage %s)\n", s.path ? s.path : "defaults (no file)",
               s.nsources, s.nsources == 1 ? "" : "s",
               !strncmp(s.storage.url, "postgres", 8) ? "postgresql" : "sqlite");
        rc = CMD_OK;
    }
    config_report_release(&rep);
    settings_release(&s);
    return rc;
}

/*
 * The command needs nothing built (main.c's table): it loads the settings
 * itself, so that it reports every problem instead of stopping at them.
 */
int cmd_config(int argc, char **argv, struct ck *ck)
{
    static const struct option opts[] = {{0}};
    const char *action;

    if (argc < 2) {
        cmd_config_usage(stderr);
        return CMD_USAGE;
    }
    action = argv[1];
    if (strcmp(action, "check") && strcmp(action, "show")) {
        fprintf(stderr, "candlekeep config: unknown action '%s'\n", action);
        cmd_config_usage(stderr);
        return CMD_USAGE;
    }
    optind = 1;
    if (getopt_long(argc - 1, argv + 1, "", opts, NULL) != -1) {
        cmd_config_usage(stderr);
        return CMD_USAGE;
    }
    if (ck->format == OUT_CSV) {
        fprintf(stderr, "candlekeep config: --format csv is not supported here (use "
                        "table or json)\n");
        return CMD_USAGE;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "candlekeep config: unexpected argument '%s'\n", argv[optind + 1]);
        return CMD_USAGE;
    }
    return load_and_report(action, ck->config_path, ck->format);
}
