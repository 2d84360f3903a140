/* SPDX-License-Identifier: MIT */
/*
 * The bodies of POST /signals and POST /backtests: JSON parsing and
 * validation (signal_parse_request(), backtest_parse_request()) against a
 * configuration with two sources and a receiver, loaded once.
 */
#include "fuzz.h"

#include "ck/settings.h"
#include "market/signal.h"
#include "signal/signal.h"
#include "util/config.h"
#include "util/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/banned.h"

/* 2024-01-02T15:00:00Z in ms. */
#define NOW_MS 1704207600000LL

static const char config_text[] = "[source.twelvedata]\n"
                                  "symbols = XAU/USD EUR/USD\n"
                                  "timeframes = M15 H1 H4 D1\n"
                                  "[source.crypto]\n"
                                  "kind = twelvedata\n"
                                  "symbols = BTC/USD\n"
                                  "timeframes = H1\n"
                                  "calendar = crypto\n"
                                  "[webhook.bot1]\n"
                                  "url = http://127.0.0.1:1/a\n"
                                  "secret = whsec_eA==\n";

/* The configuration, loaded on the first call and kept for the process. */
static const struct signal_config *config(void)
{
    static struct settings settings;
    static struct signal_config cfg;
    static int loaded;
    struct config_report rep = CONFIG_REPORT_INIT;
    char path[64];
    int fd;

    if (loaded)
        return &cfg;
    fd = memfd_create("ck-fuzz-signal", 0);
    if (fd < 0 || write(fd, config_text, strlen(config_text)) != (ssize_t)strlen(config_text))
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (settings_load(&settings, path, &rep)) {
        fprintf(stderr, "fuzz_signal: %s\n", rep.text.buf);
        abort();
    }
    close(fd);
    config_report_release(&rep);
    cfg = settings_signal_config(&settings);
    loaded = 1;
    return &cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct signal_config *cfg = config();
    struct strbuf err = STRBUF_INIT;
    struct signal s = {0};
    struct backtest b = {0};

    (void)signal_parse_request((const char *)data, size, cfg, NOW_MS, &s, &err);
    signal_release(&s);
    strbuf_reset(&err);
    if (!backtest_parse_request((const char *)data, size, &b, &err)) {
        free(b.name);
        free(b.params);
        free(b.metrics);
    }
    strbuf_release(&err);
    return 0;
}
