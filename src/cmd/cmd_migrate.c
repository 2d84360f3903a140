/* SPDX-License-Identifier: MIT */
/*
 * `candlekeep migrate --from URL --to URL [--force] [--verify-only]
 * [--no-progress]`: copy every table of one store into another (SQLite to
 * PostgreSQL for those who outgrow SQLite, or any other direction), then
 * compare each table's row count and checksum on both sides. The work is
 * migrate/migrate.c's; this file checks the arguments, opens the stores,
 * shows progress and gives the verdict.
 *
 * Output. stdout gets a line per table copied and the verification table;
 * stderr gets errors, warnings and, only when it is a terminal, a progress
 * bar with rows/s and an ETA, redrawn at most ten times a second. The
 * configuration file is not read: both stores are named on the command
 * line. Exit 0 when every table matches, 1 on a failure or a mismatch
 * (naming the table), 2 on a usage error.
 */
#include "cmd/cmd.h"
#include "cmd/common.h"

#include "migrate/migrate.h"
#include "store/store.h"
#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/banned.h"

/* Redraw the bar at most this often. */
#define BAR_INTERVAL_MS 100

void cmd_migrate_usage(FILE *fp)
{
    fprintf(fp, "usage: candlekeep migrate --from URL --to URL [--force] [--verify-only]\n"
                "                          [--no-progress]\n\n"
                "Copy every table of one store into another (candles, the gap ledger, job\n"
                "state and job history; leases are transient and not copied), then verify\n"
                "the row count and a SHA-256 checksum of each table on both sides.\n\n"
                "  --from URL       the store to copy: sqlite:PATH or postgresql://...\n"
                "  --to URL         the store to fill; it must hold no data, unless --force\n"
                "  --force          copy into a store that holds data: candles are upserted,\n"
                "                   gap records and job runs already there are skipped, and\n"
                "                   jobs already there keep their state (also finishes an\n"
                "                   interrupted copy)\n"
                "  --verify-only    copy nothing; compare the two stores table by table\n"
                "  --no-progress    no progress bar (there is none unless stderr is a terminal)\n\n"
                "Exit status: 0 when every table matches, 1 on a failure or a mismatch,\n"
                "2 on a usage error. Stop every daemon using either store first.\n");
}

/* 1234567 -> "1,234,567". */
static const char *fmt_count(int64_t v, char buf[32])
{
    char digits[24];
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, a), k = 0;

    if (v < 0)
        buf[k++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = '\0';
    return buf;
}

/* Seconds as "m:ss" or "h:mm:ss". */
static void fmt_duration(int64_t s, char buf[24])
{
    if (s >= 3600)
        snprintf(buf, 24, "%" PRId64 ":%02d:%02d", s / 3600, (int)(s / 60 % 60), (int)(s % 60));
    else
        snprintf(buf, 24, "%d:%02d", (int)(s / 60), (int)(s % 60));
}

struct ui {
    bool bar;         /* draw a bar on stderr */
    bool shown;       /* a bar is on the screen */
    int width;        /* of the bar of the current table, fixed so that it does not jitter */
    int64_t start_ms; /* the current table's stage began */
    int64_t drawn_ms; /* the bar was last drawn */
};

static int terminal_columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

static const char *stage_verb(enum migrate_stage s)
{
    switch (s) {
    case MIGRATE_COPY:
        return "copying";
    case MIGRATE_VERIFY_SOURCE:
        return "reading source";
    case MIGRATE_VERIFY_TARGET:
        return "reading target";
    }
    return "";
}

/* Rows per second of the stage so far. */
static double stage_rate(const struct ui *ui, const struct migrate_progress *p, int64_t now)
{
    int64_t ms = now - ui->start_ms;
    return ms > 0 ? (double)p->done * 1000.0 / (double)ms : 0.0;
}

/* "  52%  520,000/1,000,000  185,321 rows/s  ETA 0:03" */
static void add_tail(struct strbuf *sb, int64_t pct, int64_t done, int64_t total, int64_t rate,
                     const char *eta)
{
    char d[32], t[32], r[32];
    strbuf_addf(sb, " %3" PRId64 "%%  %s/%s  %s rows/s  ETA %s", pct, fmt_count(done, d),
                fmt_count(total, t), fmt_count(rate, r), eta);
}

static void draw_bar(struct ui *ui, const struct migrate_progress *p, int64_t now)
{
    struct strbuf line = STRBUF_INIT, tail = STRBUF_INIT;
    double r = stage_rate(ui, p, now);
    int64_t pct = p->total > 0 ? p->done * 100 / p->total : 100;
    int room, cols = terminal_columns();
    char eta[24];
    size_t head;

    if (pct > 100)
        pct = 100;
    if (r > 0 && p->total > p->done)
        fmt_duration((int64_t)((double)(p->total - p->done) / r + 0.5), eta);
    else
        snprintf(eta, sizeof(eta), "%s", p->total > p->done ? "-:--" : "0:00");
    strbuf_addf(&line, "\r%s %-8s ", stage_verb(p->stage), p->table);
    head = line.len - 1;
    add_tail(&tail, pct, p->done, p->total, (int64_t)r, eta);
    /*
     * The bar keeps its width through a table, so that it does not
     * jitter, unless the line would wrap (\r would then no longer return
     * to its start): the width is set for the widest tail expected and
     * only ever shrinks.
     */
    if (p->event == MIGRATE_TABLE_START) {
        struct strbuf widest = STRBUF_INIT;
        add_tail(&widest, 100, p->total, p->total, 999999, "0:00:00");
        ui->width = cols - 1 - (int)head - (int)widest.len - 2;
        strbuf_release(&widest);
    }
    room = cols - 1 - (int)head - (int)tail.len - 2;
    if (ui->width > room)
        ui->width = room;
    if (ui->width > 40)
        ui->width = 40;
    if (ui->width >= 5) {
        int fill = (int)(pct * ui->width / 100);
        strbuf_addch(&line, '[');
        for (int i = 0; i < ui->width; i++)
            strbuf_addch(&line, i < fill ? '#' : '.');
        strbuf_addch(&line, ']');
    }
    strbuf_addbuf(&line, &tail);
    strbuf_addstr(&line, "\033[K"); /* clear what a longer previous line left */
    fwrite(line.buf, 1, line.len, stderr);
    fflush(stderr);
    ui->shown = true;
    ui->drawn_ms = now;
    strbuf_release(&line);
    strbuf_release(&tail);
}

static void erase_bar(struct ui *ui)
{
    if (!ui->shown)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    ui->shown = false;
}

static void on_progress(void *arg, const struct migrate_progress *p)
{
    struct ui *ui = arg;
    int64_t now = time_mono_ms();

    switch (p->event) {
    case MIGRATE_TABLE_START:
        ui->start_ms = now;
        if (ui->bar)
            draw_bar(ui, p, now);
        break;
    case MIGRATE_TABLE_ROWS:
        if (ui->bar && now - ui->drawn_ms >= BAR_INTERVAL_MS)
            draw_bar(ui, p, now);
        break;
    case MIGRATE_TABLE_DONE:
        erase_bar(ui);
        if (p->stage == MIGRATE_COPY) {
            char rows[32], skipped[32], rate[32];
            int64_t ms = now - ui->start_ms;
            printf("copied %-8s %s rows in %.1f s", p->table, fmt_count(p->done, rows),
                   (double)ms / 1000.0);
            /* A rate over a few milliseconds says nothing. */
            if (ms >= 100)
                printf(" (%s rows/s)", fmt_count((int64_t)stage_rate(ui, p, now), rate));
            if (p->added < p->done)
                printf(", %s already in the target", fmt_count(p->done - p->added, skipped));
            printf("\n");
            fflush(stdout);
        }
        break;
    }
}

/* The verification table; returns the number of tables that differ. */
static int print_verdict(const struct migrate_report *rep, struct strbuf *differ)
{
    int width = 1, bad = 0;
    char buf[32];

    for (size_t i = 0; i < rep->n; i++) {
        int w = (int)strlen(fmt_count(rep->v[i].source.rows, buf));
        if (w > width)
            width = w;
    }
    for (size_t i = 0; i < rep->n; i++) {
        const struct migrate_table_result *t = &rep->v[i];
        char src[17], dst[17], rows[32], trows[32];
        bool ok = migrate_table_ok(t);

        migrate_digest_hex(&t->source, src);
        migrate_digest_hex(&t->target, dst);
        printf("%-9s %*s rows  sha256 %s %s %s  %s", t->table, width,
               fmt_count(t->source.rows, rows), src,
               memcmp(t->source.digest, t->target.digest, sizeof(t->source.digest)) ? "!=" : "=",
               dst, ok ? "ok" : "MISMATCH");
        if (t->source.rows != t->target.rows)
            printf(" (the target has %s rows)", fmt_count(t->target.rows, trows));
        printf("\n");
        if (!ok) {
            strbuf_addf(differ, "%s%s", bad ? ", " : "", t->table);
            bad++;
        }
    }
    fflush(stdout);
    return bad;
}

/* Say so when processes still hold leases in a store: a daemon may be writing to it. */
static void warn_live_leases(struct store *st, const char *side, const char *name)
{
    struct strbuf err = STRBUF_INIT;
    struct lease_info *v = NULL;
    size_t n = 0;

    if (!store_lease_list(st, "", time_now() * 1000, &v, &n, &err) && n)
        fprintf(stderr,
                "candlekeep migrate: warning: the %s '%s' has %zu lease%s still held (by '%s'):"
                " is a daemon running on it? Rows it writes during the copy may be missed\n",
                side, name, n, n == 1 ? "" : "s", v[0].holder);
    lease_infos_free(v, n);
    strbuf_release(&err);
}

static int open_side(const char *url, const char *side, bool must_exist, struct store **out)
{
    const char *file = store_sqlite_file(url);
    struct strbuf err = STRBUF_INIT;
    int rc = CMD_OK;

    /* Opening a SQLite file that does not exist would create an empty one. */
    if (must_exist && file && access(file, F_OK)) {
        fprintf(stderr, "candlekeep migrate: the %s '%s' does not exist\n", side, file);
        return CMD_FAIL;
    }
    if (store_open(out, url, &err)) {
        fprintf(stderr, "candlekeep migrate: cannot open the %s: %s\n", side, err.buf);
        rc = CMD_FAIL;
    }
    strbuf_release(&err);
    return rc;
}

/* What the command line asks for. */
struct args {
    const char *from, *to;
    unsigned flags; /* enum migrate_flags */
    bool bar;       /* --no-progress not given */
};

/* Parse the options into `a`; CMD_OK, or CMD_USAGE (printed). */
static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},  {"to", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'F'},       {"verify-only", no_argument, NULL, 'V'},
        {"no-progress", no_argument, NULL, 'P'}, {0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            a->from = optarg;
            break;
        case 't':
            a->to = optarg;
            break;
        case 'F':
            a->flags |= MIGRATE_FORCE;
            break;
        case 'V':
            a->flags |= MIGRATE_VERIFY_ONLY;
            break;
        case 'P':
            a->bar = false;
            break;
        default:
            cmd_migrate_usage(stderr);
            return CMD_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "candlekeep migrate: unexpected argument '%s'\n", argv[optind]);
        cmd_migrate_usage(stderr);
        return CMD_USAGE;
    }
    if (!a->from || !a->to || !*a->from || !*a->to) {
        fprintf(stderr, "candlekeep migrate: both --from and --to are required\n");
        cmd_migrate_usage(stderr);
        return CMD_USAGE;
    }
    return CMD_OK;
}

/* Both URLs name databases, and not the same one; CMD_OK, or CMD_USAGE (printed). */
static int check_urls(const struct args *a, const char *from_name, const char *to_name)
{
    if (!store_url_backend(a->from) || !store_url_backend(a->to)) {
        fprintf(stderr,
                "candlekeep migrate: '%s' is not a database URL (use sqlite:PATH or "
                "postgresql://...)\n",
                store_url_backend(a->from) ? to_name : from_name);
        return CMD_USAGE;
    }
    if (store_same_database(a->from, a->to)) {
        fprintf(stderr, "candlekeep migrate: --from and --to name the same database '%s'\n",
                from_name);
        return CMD_USAGE;
    }
    return CMD_OK;
}

/* Say why migrate_run() failed (`mrc`, `err`) and what to do about it. */
static void report_failure(int mrc, unsigned flags, const struct strbuf *err)
{
    fprintf(stderr, "candlekeep migrate: %s\n", err->buf);
    if (mrc == CK_ECONFLICT)
        fprintf(stderr, "candlekeep migrate: copy into an empty database, or pass --force to "
                        "add to this one\n");
    else if (!(flags & MIGRATE_VERIFY_ONLY))
        /* A database that went away may come back; a row it refused will not change. */
        fprintf(stderr, "candlekeep migrate: the copy is incomplete%s\n",
                mrc == CK_EIO || mrc == CK_EBUSY || mrc == CK_ETIMEDOUT
                    ? "; run the same command with --force to finish it"
                    : "");
}

/* The rows read or copied in `ms`, then the verdict; CMD_OK when every table matches. */
static int report_result(const struct migrate_report *rep, unsigned flags, int64_t ms)
{
    struct strbuf differ = STRBUF_INIT;
    int64_t rows = 0;
    char n[32];
    int bad;

    for (size_t i = 0; i < rep->n; i++)
        rows += rep->v[i].source.rows;
    if (flags & MIGRATE_VERIFY_ONLY)
        printf("read %s rows on each side in %.1f s\n", fmt_count(rows, n), (double)ms / 1000.0);
    else
        printf("migrated %s rows in %.1f s, verification included\n", fmt_count(rows, n),
               (double)ms / 1000.0);
    bad = print_verdict(rep, &differ);
    if (bad)
        fprintf(stderr,
                "candlekeep migrate: verification failed: table%s %s differ%s between the "
                "source and the target\n",
                bad > 1 ? "s" : "", differ.buf, bad > 1 ? "" : "s");
    else
        printf("verified: every table matches\n");
    strbuf_release(&differ);
    return bad ? CMD_FAIL : CMD_OK;
}

/* Copy (or compare) the stores `src` and `dst`, showing progress, and give the verdict. */
static int migrate_stores(const struct args *a, struct store *src, struct store *dst,
                          const char *from_name, const char *to_name)
{
    struct migrate_report rep = {0};
    struct strbuf err = STRBUF_INIT;
    struct ui ui = {.bar = a->bar && isatty(STDERR_FILENO)};
    bool verify = a->flags & MIGRATE_VERIFY_ONLY;
    struct migrate_opts o = {
        .from = src,
        .to = dst,
        .from_name = from_name,
        .to_name = to_name,
        .flags = a->flags,
        .progress = on_progress,
        .progress_arg = &ui,
    };
    int64_t t0, ms;
    int rc;

    printf("%s %s (%s) %s %s (%s)\n", verify ? "comparing" : "migrating", from_name,
           store_backend_name(src), verify ? "with" : "to", to_name, store_backend_name(dst));
    fflush(stdout);
    t0 = time_mono_ms();
    rc = migrate_run(&o, &rep, &err);
    ms = time_mono_ms() - t0;
    erase_bar(&ui);
    if (rc) {
        report_failure(rc, a->flags, &err);
        rc = CMD_FAIL;
    } else {
        rc = report_result(&rep, a->flags, ms);
    }
    migrate_report_release(&rep);
    strbuf_release(&err);
    return rc;
}

int cmd_migrate(int argc, char **argv, struct ck *ck)
{
    struct args a = {.bar = true};
    struct store *src = NULL, *dst = NULL;
    char *from_name, *to_name;
    int rc;

    (void)ck; /* both stores are named on the command line: nothing to build */
    if (parse_args(argc, argv, &a))
        return CMD_USAGE;
    from_name = redact_url(a.from, 0);
    to_name = redact_url(a.to, 0);
    rc = check_urls(&a, from_name, to_name);
    if (!rc)
        rc = open_side(a.from, "source", true, &src);
    if (!rc)
        rc = open_side(a.to, "target", a.flags & MIGRATE_VERIFY_ONLY, &dst);
    if (!rc) {
        warn_live_leases(src, "source", from_name);
        warn_live_leases(dst, "target", to_name);
        rc = migrate_stores(&a, src, dst, from_name, to_name);
    }
    store_close(src);
    store_close(dst);
    free(from_name);
    free(to_name);
    return rc;
}
