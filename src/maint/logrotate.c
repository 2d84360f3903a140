/* SPDX-License-Identifier: MIT */
/*
 * The log_rotation task (maint.h): the daily rotation of the log file, on
 * top of the rotation on size that the logger does by itself (util/log.c,
 * which holds the rules: rename and reopen under its lock, compression and
 * `keep` on its own thread). The task rotates, waits for the compressor so
 * that what it reports is what is on disk, and lists the rotations kept.
 */
#include "maint/maint.h"

#include "util/error.h"
#include "util/log.h"
#include "util/strbuf.h"

#include <jansson.h>

#include <sys/stat.h>

#include "util/banned.h"

int maint_log_rotation_run(const char *log_file, struct maint_result *out, struct strbuf *err)
{
    struct strbuf rotated = STRBUF_INIT;
    int64_t freed_before = log_rotation_bytes_freed(), bytes = 0;
    char **files;
    size_t n;
    int rc;

    if (!log_file || !*log_file) {
        strbuf_addstr(&out->message, "no log file configured ([log] file): nothing to rotate");
        return 0;
    }
    rc = log_rotate(&rotated, err);
    if (rc)
        goto out;
    log_rotation_wait();
    n = log_rotations(log_file, &files);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (!stat(files[i], &sb))
            bytes += (int64_t)sb.st_size;
    }
    log_rotations_free(files);
    maint_detail_str(out, "rotated", rotated.len ? rotated.buf : NULL);
    maint_detail_int(out, "files", (int64_t)n);
    maint_detail_int(out, "bytes", bytes);
    maint_detail_int(out, "bytes_freed", log_rotation_bytes_freed() - freed_before);
    if (rotated.len)
        strbuf_addf(&out->message, "rotated the log to '%s'; %zu rotated files kept (%lld bytes)",
                    rotated.buf, n, (long long)bytes);
    else
        strbuf_addf(&out->message, "the log was empty; %zu rotated files kept (%lld bytes)", n,
                    (long long)bytes);
out:
    strbuf_release(&rotated);
    return rc;
}
