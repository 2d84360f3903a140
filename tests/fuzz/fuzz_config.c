/* SPDX-License-Identifier: MIT */
/*
 * The configuration loader on any file: the INI reader (util/config.c)
 * and every section's table, the derived values (symbol lists, calendars,
 * holidays, receivers) and ${VAR} expansion (ck/settings.c), as
 * `candlekeep --config FILE` runs them. The input is written to an
 * anonymous memory file and loaded through its /proc/self/fd path.
 */
#include "fuzz.h"

#include "ck/settings.h"
#include "util/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config_report rep = CONFIG_REPORT_INIT;
    struct settings s;
    char path[64];
    int fd = memfd_create("ck-fuzz-config", 0);

    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    (void)settings_load(&s, path, &rep);
    settings_release(&s);
    config_report_release(&rep);
    close(fd);
    return 0;
}
