/* SPDX-License-Identifier: MIT */
#ifndef CK_INGEST_IMPORT_H
#define CK_INGEST_IMPORT_H

#include "market/timeframe.h"
#include "source/csv_import.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct store;
struct strbuf;

/*
 * Import of candles from a CSV file (source/csv_import.h says which files):
 * read the file -> parse and validate every line -> upsert all candles in
 * one transaction -> scan the gap ledger of the series over the imported
 * range, with the source's trading calendar.
 *
 * All or nothing: a bad line, or a database failure while storing, leaves
 * the store as it was. Importing the same file again changes nothing (an
 * upsert of identical values). The write transaction is held only while
 * storing, never while the file is read, so a running daemon waits for the
 * database no longer than the upsert takes.
 */

/* What an import is at: reading the file, then storing, then the gap scan. */
enum import_phase {
    IMPORT_READ,
    IMPORT_STORE,
    IMPORT_GAPS,
};
/* Progress: `done` of `total` (bytes while reading, candles while storing). */
typedef void import_progress_fn(void *arg, enum import_phase phase, size_t done, size_t total);

struct import_request {
    const char *path;             /* the file (a regular file is mapped; a pipe is read) */
    const char *source;           /* series key: source name ... */
    const char *symbol;           /* ... symbol ... */
    enum timeframe tf;            /* ... and timeframe */
    enum csv_format format;       /* CSV_AUTO: told from the first line */
    bool dry_run;                 /* parse and validate only: the store is not touched */
    int64_t now;                  /* Unix seconds: candles closing later are forming */
    const struct calendar *cal;   /* the source's calendar, for the gap scan */
    struct store *store;          /* may be NULL with dry_run */
    import_progress_fn *progress; /* may be NULL */
    void *progress_arg;
};

struct import_stats {
    enum csv_format format;     /* the format read */
    bool header;                /* the file had a header row */
    size_t lines;               /* lines in the file */
    size_t candles;             /* candles in the file (all stored unless dry_run) */
    int64_t first, last;        /* their first and last open times */
    size_t gaps_open;           /* open gaps of the series in the scanned range */
    size_t gaps_opened;         /* new ledger records */
    size_t gaps_filled;         /* ledger records the import filled */
    int64_t scan_from, scan_to; /* the range scanned for gaps, [from, to) */
    bool stored;                /* the candles were committed (false on a dry run) */
};

/*
 * Run the import. Returns 0, or:
 *  - CK_EPARSE for a bad file: `err` is "FILE:LINE: column N (name)
 *    'value': reason" and `*problem` (may be NULL) the kind of problem;
 *  - CK_EIO when the file cannot be read;
 *  - a store error (CK_EIO, CK_EBUSY, ...) when storing failed (nothing
 *    stored) or the gap scan did (out->stored says whether the candles were
 *    committed before it).
 */
int import_csv(const struct import_request *rq, struct import_stats *out, enum csv_problem *problem,
               struct strbuf *err);

#endif
