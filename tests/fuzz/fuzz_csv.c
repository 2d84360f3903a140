/* SPDX-License-Identifier: MIT */
/*
 * CSV import (source/csv_import.h) on any file. The first byte picks the
 * format (its value modulo 3: auto, Binance, generic) and the timeframe
 * (its value / 3, modulo the number of timeframes); the rest is the
 * file. A parse that succeeds must give candles whose first and last
 * open times bound them all; one that fails must give none, and its
 * error must format as one line. The progress callback must see the
 * bytes read grow, never past the file's size.
 */
#include "fuzz.h"

#include "market/timeframe.h"
#include "source/csv_import.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct progress {
    size_t done;
    size_t total;
};

static void on_progress(void *arg, size_t done, size_t total)
{
    struct progress *p = arg;
    if (done < p->done || done > total || total != p->total)
        abort();
    p->done = done;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum csv_format formats[] = {CSV_AUTO, CSV_BINANCE, CSV_GENERIC};
    struct csv_import_result res = CSV_IMPORT_RESULT_INIT;
    struct csv_import_error err = CSV_IMPORT_ERROR_INIT;
    struct strbuf line = STRBUF_INIT;
    uint8_t pick = size ? data[0] : 0;
    struct progress prog = {0, size ? size - 1 : 0};
    struct csv_import_opts o = {
        .format = formats[pick % 3],
        .tf = (enum timeframe)(pick / 3 % TF_COUNT),
        .now = 1735689600, /* 2025-01-01 */
        .progress = on_progress,
        .progress_arg = &prog,
    };

    if (size)
        data++, size--;
    if (csv_import_parse((const char *)data, size, &o, &res, &err)) {
        if (res.candles.n || err.problem == CSV_OK)
            abort();
        csv_import_error_format(&err, "fuzz.csv", &line);
        if (memchr(line.buf, '\n', line.len))
            abort();
    } else {
        if (res.format == CSV_AUTO)
            abort();
        for (size_t i = 0; i < res.candles.n; i++)
            if (res.candles.v[i].open_time < res.first || res.candles.v[i].open_time > res.last)
                abort();
    }
    strbuf_release(&line);
    csv_import_error_release(&err);
    csv_import_result_release(&res);
    return 0;
}
