/* SPDX-License-Identifier: MIT */
/*
 * CSV import of one series (see import.h).
 *
 * The file is parsed whole before the database is touched: a regular file
 * is mapped read-only (the page cache holds it, not the heap), anything
 * else (a pipe, /dev/stdin) is read into memory. Parsing validates every
 * line, so the write transaction that follows only stores: it is opened
 * after the parse and the candles go in through store_put_candles() in
 * batches that join it, one commit at the end (one fsync, and nothing
 * visible to other readers before it). A failure rolls it back.
 *
 * The gap scan is the one refreshes and `gaps --rescan` use
 * (ingest_scan_gaps()), over a window that starts at the stored candle
 * before the imported range, so that a hole between old and imported
 * candles is found too, and ends after the newest stored candle.
 */
#include "ingest/import.h"

#include "ingest/ingest.h"
#include "market/calendar.h"
#include "market/candle.h"
#include "store/store.h"
#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

/* Candles per store_put_candles() call: progress is reported between them. */
#define IMPORT_BATCH 16384

/* The bytes of a file: mapped, or read into `copy`. */
struct file_bytes {
    const char *p;
    size_t len;
    void *map;
    struct strbuf copy;
};

static int read_fd(int fd, struct strbuf *sb)
{
    for (;;) {
        strbuf_grow(sb, 65536);
        ssize_t n = read(fd, sb->buf + sb->len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        strbuf_setlen(sb, sb->len + (size_t)n);
    }
}

static int file_open(struct file_bytes *fb, const char *path, struct strbuf *err)
{
    struct stat st;
    int fd, rc = 0;

    memset(fb, 0, sizeof(*fb));
    strbuf_init(&fb->copy, 0);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        strbuf_addf(err, "'%s' is a directory", path);
        rc = CK_EIO;
        goto out;
    }
    if (S_ISREG(st.st_mode) && st.st_size > 0) {
        fb->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (fb->map != MAP_FAILED) {
            madvise(fb->map, (size_t)st.st_size, MADV_SEQUENTIAL);
            fb->p = fb->map;
            fb->len = (size_t)st.st_size;
            goto out;
        }
        fb->map = NULL;
    }
    if (read_fd(fd, &fb->copy)) {
        strbuf_addf(err, "cannot read '%s': %s", path, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    fb->p = fb->copy.buf;
    fb->len = fb->copy.len;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void file_close(struct file_bytes *fb)
{
    if (fb->map)
        munmap(fb->map, fb->len);
    fb->map = NULL;
    strbuf_release(&fb->copy);
}

static void on_parse_progress(void *arg, size_t done, size_t total)
{
    const struct import_request *rq = arg;
    rq->progress(rq->progress_arg, IMPORT_READ, done, total);
}

/* Upsert every candle in one transaction. */
static int store_all(const struct import_request *rq, const struct candle_vec *cv,
                     struct strbuf *err)
{
    struct series_key key = {.source = rq->source, .symbol = rq->symbol, .tf = rq->tf};
    struct strbuf ignored = STRBUF_INIT;
    int rc = store_begin(rq->store, err);

    for (size_t i = 0; !rc && i < cv->n; i += IMPORT_BATCH) {
        size_t n = cv->n - i < IMPORT_BATCH ? cv->n - i : IMPORT_BATCH;
        rc = store_put_candles(rq->store, &key, cv->v + i, n, err);
        if (!rc && rq->progress)
            rq->progress(rq->progress_arg, IMPORT_STORE, i + n, cv->n);
    }
    if (!rc)
        return store_commit(rq->store, err);
    if (store_in_transaction(rq->store))
        store_rollback(rq->store, &ignored);
    strbuf_release(&ignored);
    return rc;
}

/*
 * The start of the gap scan: the newest stored candle before `first`, so
 * that a hole before the imported range is seen, or `first` itself.
 */
static int scan_start(const struct import_request *rq, int64_t first, int64_t *out,
                      struct strbuf *err)
{
    struct candle_query q = {
        .series = {.source = rq->source, .symbol = rq->symbol, .tf = rq->tf},
        .has_end = true,
        .end = first - 1,
        .limit = 1,
        .order = STORE_DESC,
    };
    struct candle_vec cv = CANDLE_VEC_INIT;
    int rc = store_query_candles_vec(rq->store, &q, &cv, err);

    if (!rc)
        *out = cv.n ? cv.v[0].open_time : first;
    candle_vec_release(&cv);
    return rc;
}

static int scan_gaps(const struct import_request *rq, struct import_stats *out, struct strbuf *err)
{
    struct series_key key = {.source = rq->source, .symbol = rq->symbol, .tf = rq->tf};
    struct ingest_stats st;
    int64_t from, latest;
    int rc;

    if (rq->progress)
        rq->progress(rq->progress_arg, IMPORT_GAPS, 0, 1);
    rc = scan_start(rq, out->first, &from, err);
    if (rc)
        return rc;
    /* ingest_scan_gaps() scans from `now - gap_window` (floored), the first stored candle at most.
     */
    struct ingest_ctx ctx = {
        .store = rq->store,
        .source_name = rq->source,
        .cal = rq->cal,
        .gap_window = rq->now > from ? rq->now - from : 0,
    };
    memset(&st, 0, sizeof(st));
    rc = ingest_scan_gaps(&ctx, rq->symbol, rq->tf, rq->now, &st, err);
    if (!rc)
        rc = store_latest_time(rq->store, &key, &latest, err);
    if (rc)
        return rc;
    out->gaps_open = st.gaps_open;
    out->gaps_opened = st.gaps_opened;
    out->gaps_filled = st.gaps_filled;
    out->scan_from = from;
    out->scan_to = latest + timeframe_seconds(rq->tf);
    if (rq->progress)
        rq->progress(rq->progress_arg, IMPORT_GAPS, 1, 1);
    return 0;
}

int import_csv(const struct import_request *rq, struct import_stats *out, enum csv_problem *problem,
               struct strbuf *err)
{
    struct csv_import_opts o = {.format = rq->format, .tf = rq->tf, .now = rq->now};
    struct csv_import_result res = CSV_IMPORT_RESULT_INIT;
    struct csv_import_error perr = CSV_IMPORT_ERROR_INIT;
    struct file_bytes fb;
    int rc;

    memset(out, 0, sizeof(*out));
    if (problem)
        *problem = CSV_OK;
    if (!rq->dry_run && (!rq->store || !rq->cal))
        BUG("import: a store and a calendar are needed to store");
    rc = file_open(&fb, rq->path, err);
    if (rc)
        goto out;
    if (rq->progress) {
        o.progress = on_parse_progress;
        o.progress_arg = (void *)rq;
    }
    rc = csv_import_parse(fb.p, fb.len, &o, &res, &perr);
    file_close(&fb);
    if (rc) {
        csv_import_error_format(&perr, rq->path, err);
        if (problem)
            *problem = perr.problem;
        goto out;
    }
    out->format = res.format;
    out->header = res.header;
    out->lines = res.lines;
    out->candles = res.candles.n;
    out->first = res.first;
    out->last = res.last;
    if (rq->dry_run)
        goto out;

    rc = store_all(rq, &res.candles, err);
    if (rc)
        goto out;
    out->stored = true;
    candle_vec_release(&res.candles); /* the scan reads the store */
    rc = scan_gaps(rq, out, err);

out:
    csv_import_error_release(&perr);
    csv_import_result_release(&res);
    return rc;
}
