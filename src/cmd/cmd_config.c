/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep config check [--config FILE]`: load the configuration the
 * way the daemon does and report every problem as `file:line: key 'x':
 * reason`; exit 2 if there is any. `config show` prints the effective
 * settings with secrets masked.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "util/config.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static void usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep config check [--config FILE]\n"
                "       candlekeep config show [--config FILE]\n\n"
                "check  report every unknown key and bad value as file:line: key 'x': reason\n"
                "       (exit 0 when the configuration is valid, 2 otherwise)\n"
                "show   print the effective settings (defaults, file and environment), secrets "
                "masked\n");
}

static const char *masked(const char *v)
{
    return v && *v ? "***" : "";
}

static void show(const struct settings *s)
{
    printf("# effective configuration (%s)\n", s->path ? s->path : "defaults, no file");
    printf("[storage]\nurl = %s\n\n", s->storage.url);
    printf("[api]\nlisten = %s\ntoken = %s\n\n", s->api.listen, masked(s->api.token));
    printf("[log]\nlevel = %s\nformat = %s\nfile = %s\n\n", s->log.level, s->log.format,
           s->log.file);
    printf("[scheduler]\nworkers = %lld\n\n", (long long)s->scheduler.workers);
    printf("[retry]\nmax_retries = %lld\nbase_delay = %llds\nmax_delay = %llds\n\n",
           (long long)s->retry.max_retries, (long long)s->retry.base_delay,
           (long long)s->retry.max_delay);
    printf("[retention]\n");
    for (int tf = 0; tf < TF_COUNT; tf++)
        if (s->retention.keep[tf])
            printf("%s = %lldd\n", timeframe_name((enum timeframe)tf),
                   (long long)(s->retention.keep[tf] / 86400));
    printf("backtests = %lldd\n\n", (long long)(s->retention.backtests / 86400));
    for (size_t i = 0; i < s->nsources; i++) {
        const struct source_settings *src = &s->sources[i];
        printf("[source.%s]\nkind = %s\napi_key = %s\nbase_url = %s\nsymbols =", src->name,
               src->kind, masked(src->api_key), src->base_url);
        for (size_t j = 0; j < src->nsymbols; j++)
            printf(" %s", src->symbols[j]);
        printf("\ntimeframes =");
        for (size_t j = 0; j < src->ntimeframes; j++)
            printf(" %s", timeframe_name(src->timeframes[j]));
        printf("\ncalendar = %s\nrate_per_minute = %lld\ndaily_quota = %lld\nbackfill = %lld\n",
               calendar_kind_name(src->calendar), (long long)src->rate_per_minute,
               (long long)src->daily_quota, (long long)src->backfill);
        printf("breaker_failures = %lld\nbreaker_recovery = %llds\nbreaker_max_recovery = "
               "%llds\nsymbol_skip_after = %lld\nsymbol_probe_every = %lld\n\n",
               (long long)src->breaker_failures, (long long)src->breaker_recovery,
               (long long)src->breaker_max_recovery, (long long)src->symbol_skip_after,
               (long long)src->symbol_probe_every);
    }
}

int cmd_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *path = NULL, *action;
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    int c, rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CMD_USAGE : CMD_OK;
    }
    action = argv[1];
    if (strcmp(action, "check") && strcmp(action, "show")) {
        fprintf(stderr, "candlekeep config: unknown action '%s'\n", action);
        usage(stderr);
        return CMD_USAGE;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return CMD_OK;
        default:
            usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "candlekeep config: unexpected argument '%s'\n", argv[optind + 1]);
        return CMD_USAGE;
    }

    rc = settings_load(&s, path, &rep);
    if (rc) {
        fputs(rep.text.buf, stderr);
        fprintf(stderr, "%s: %d problem%s\n", s.path ? s.path : (path ? path : "configuration"),
                rep.count, rep.count == 1 ? "" : "s");
        rc = CMD_USAGE;
    } else if (!strcmp(action, "show")) {
        show(&s);
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
