/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL store backend, on libpq. This file holds the
 * connection; the operations live by concern next to it (pg_internal.h
 * lists them) and store_pg_ops at the end of this file gathers them.
 *
 * Statements are prepared once per connection, on first use; a reconnect
 * forgets them and they are prepared again. Query results are read in
 * pages (keyset paging), so an iterator holds at most one page.
 *
 * Connection loss. Before an operation that runs outside a transaction,
 * the connection is checked: input the server sent while we were idle is
 * consumed (a backend that was terminated or a server that restarted has
 * said so and hung up), and a broken connection is reset once. A
 * statement that fails because the server went away returns CK_EIO; the
 * transaction it belonged to is lost, and nothing is retried behind the
 * caller's back (the job fails and runs again at its next tick). Inside a
 * transaction the connection is never reset, which would silently run the
 * rest of the caller's transaction outside one.
 *
 * Messages. Every message names the database by its redacted URL, and
 * text that comes from libpq or the server is scrubbed of the password as
 * well, since libpq echoes parts of a malformed URL verbatim. libpq's
 * notices (and the FATAL message of a terminated backend, which arrives
 * while the connection is idle) are discarded instead of printed: the
 * store never logs.
 *
 * A pg_store is one connection and is used by one thread at a time.
 */
#include "store/pg/pg_internal.h"

#include "market/price.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <libpq-fe.h>

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct pg_store *pg_downcast(struct store *st)
{
    if (st->ops != &store_pg_ops)
        BUG("store: a %s store passed to the postgresql backend", st->ops->name);
    return (struct pg_store *)st;
}

/* --- messages --------------------------------------------------------- */

/* Append `text` to `err` with every occurrence of a secret replaced by "***". */
static void pg_add_scrubbed(struct strbuf *err, const char *text, const struct redact_set *sec)
{
    size_t start = err->len;

    /*
     * One line: libpq ends its messages with a newline and continues some
     * on an indented next line ("\n\tIs the server running...").
     */
    for (const char *c = text; *c; c++) {
        if (*c == '\n' || *c == '\r') {
            while (c[1] == '\n' || c[1] == '\r' || c[1] == '\t' || c[1] == ' ')
                c++;
            if (c[1])
                strbuf_addch(err, ' ');
        } else {
            strbuf_addch(err, *c);
        }
    }
    /* Scrub only what was appended: the text before is the caller's. */
    struct strbuf tail = STRBUF_INIT;
    strbuf_addstr(&tail, err->buf + start);
    redact_set_apply(sec, &tail);
    strbuf_setlen(err, start);
    strbuf_addbuf(err, &tail);
    strbuf_release(&tail);
}

/* The connection's own error text, scrubbed, or a fallback. */
void pg_add_conn_error(struct pg_store *ps, struct strbuf *err)
{
    const char *m = ps->conn ? PQerrorMessage(ps->conn) : NULL;
    pg_add_scrubbed(err, m && *m ? m : "no further detail", &ps->secrets);
}

/*
 * Map a failed result to a CK_E* code and append the message. `res` may be
 * NULL (libpq could not even produce a result).
 */
int pg_result_error(struct pg_store *ps, const PGresult *res, const char *what, struct strbuf *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    bool lost = PQstatus(ps->conn) == CONNECTION_BAD;
    int rc = CK_EIO;

    if (!state)
        state = "";
    if (!strcmp(state, "23505"))
        rc = CK_ECONFLICT;
    else if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        rc = CK_EBUSY;
    else if (!strcmp(state, "57014"))
        rc = CK_ETIMEDOUT;
    else if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
        rc = CK_EINVAL;
    if (lost || !strncmp(state, "08", 2) || !strncmp(state, "57P0", 4))
        rc = CK_EIO;

    strbuf_addf(err, "store: cannot %s: ", what);
    if (lost)
        strbuf_addf(err, "lost the connection to '%s': ", ps->redacted);
    if (msg && *msg)
        pg_add_scrubbed(err, msg, &ps->secrets);
    else
        pg_add_conn_error(ps, err);
    if (*state)
        strbuf_addf(err, " (SQLSTATE %s)", state);
    return rc;
}

/* --- connection and statements --------------------------------------- */

/*
 * libpq hands messages that arrive outside a query to the notice receiver.
 * They are not printed (the store never logs), but a FATAL one is the
 * server saying that it is closing this connection.
 */
static void pg_notice(void *arg, const PGresult *res)
{
    struct pg_store *ps = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC")))
        ps->server_gone = true;
}

/*
 * A backend that was terminated (or a server that shut down) sends a FATAL
 * message and closes the socket while we are idle. Reading and parsing
 * what is pending (poll() says whether anything is, so this never blocks)
 * finds either the message or the closed stream before a statement is
 * wasted on a dead connection.
 */
static bool pg_idle_conn_dead(struct pg_store *ps)
{
    for (int i = 0; i < 4 && PQstatus(ps->conn) == CONNECTION_OK && !ps->server_gone; i++) {
        struct pollfd pfd = {.fd = PQsocket(ps->conn), .events = POLLIN};
        if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
            break;
        if (!PQconsumeInput(ps->conn))
            break;
        (void)PQisBusy(ps->conn); /* parses the input: a FATAL reaches pg_notice() */
    }
    return PQstatus(ps->conn) == CONNECTION_BAD || ps->server_gone;
}

/*
 * Make the connection usable for an operation. Outside a transaction a
 * connection that broke while idle is reset once (see the top of the file).
 */
int pg_ready(struct pg_store *ps, struct strbuf *err)
{
    if (ps->base.in_tx) {
        if (PQstatus(ps->conn) != CONNECTION_BAD)
            return 0;
        strbuf_addf(err, "store: lost the connection to '%s' inside a transaction: ", ps->redacted);
        pg_add_conn_error(ps, err);
        return CK_EIO;
    }
    if (!pg_idle_conn_dead(ps))
        return 0;
    PQreset(ps->conn);
    ps->server_gone = false;
    memset(ps->ready, 0, sizeof(ps->ready));
    if (PQstatus(ps->conn) != CONNECTION_OK) {
        strbuf_addf(err, "store: cannot reconnect to '%s': ", ps->redacted);
        pg_add_conn_error(ps, err);
        return CK_EIO;
    }
    /* A new session: what store_durable() set is gone with the old one. */
    if (ps->durable)
        return pg_command(ps, "SET synchronous_commit TO on", "commit durably", err);
    return 0;
}

int pg_param_slot(struct pg_params *p)
{
    if (p->n >= PG_MAX_PARAMS)
        BUG("too many statement parameters");
    return p->n++;
}

void pg_param_text(struct pg_params *p, const char *s)
{
    int i = pg_param_slot(p);
    p->values[i] = s;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pg_param_null(struct pg_params *p)
{
    pg_param_text(p, NULL);
}

void pg_param_int(struct pg_params *p, int64_t v)
{
    int i = pg_param_slot(p);
    snprintf(p->text[i], sizeof(p->text[i]), "%lld", (long long)v);
    p->values[i] = p->text[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pg_put_be64(char *out, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

void pg_put_be32(char *out, uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        out[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

/* Can `t` be stored (as a candle or gap time)? */
bool pg_time_storable(int64_t t)
{
    return t >= PG_TIME_MIN && t < PG_TIME_END;
}

/* Unix seconds as timestamptz's binary value, outside the kept years +-infinity. */
int64_t pg_time_value(int64_t t)
{
    if (t < PG_TIME_MIN)
        return INT64_MIN;
    if (t >= PG_TIME_END)
        return INT64_MAX;
    return (t - PG_EPOCH_UNIX) * 1000000;
}

void pg_param_time(struct pg_params *p, int64_t t)
{
    int i = pg_param_slot(p);
    pg_put_be64(p->bin[i], (uint64_t)pg_time_value(t));
    p->values[i] = p->bin[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

void pg_param_series(struct pg_params *p, const struct series_key *s)
{
    pg_param_text(p, s->source);
    pg_param_text(p, s->symbol);
    pg_param_text(p, timeframe_name(s->tf));
}

static int pg_prepare(struct pg_store *ps, enum pg_stmt id, struct strbuf *err)
{
    PGresult *res;
    int rc = 0;

    if (ps->ready[id])
        return 0;
    res = PQprepare(ps->conn, pg_stmts[id].name, pg_stmts[id].sql, 0, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        strbuf_reset(&ps->scratch);
        strbuf_addf(&ps->scratch, "prepare statement %s", pg_stmts[id].name);
        rc = pg_result_error(ps, res, ps->scratch.buf, err);
    } else {
        ps->ready[id] = true;
    }
    PQclear(res);
    return rc;
}

/*
 * Run prepared statement `id`. On success *out holds the result (the
 * caller clears it); on failure the error is reported, with what the
 * statement was for in `fmt`.
 */
static int pg_vrun(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, int format,
                   PGresult **out, struct strbuf *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
static int pg_vrun(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, int format,
                   PGresult **out, struct strbuf *err, const char *fmt, va_list ap)
{
    PGresult *res;
    ExecStatusType status;
    int rc;

    *out = NULL;
    rc = pg_prepare(ps, id, err);
    if (rc)
        return rc;
    res = PQexecPrepared(ps->conn, pg_stmts[id].name, p ? p->n : 0, p ? p->values : NULL,
                         p ? p->lengths : NULL, p ? p->formats : NULL, format);
    status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
        *out = res;
        return 0;
    }
    strbuf_reset(&ps->scratch);
    strbuf_vaddf(&ps->scratch, fmt, ap);
    rc = pg_result_error(ps, res, ps->scratch.buf, err);
    PQclear(res);
    return rc;
}

int pg_run(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
           struct strbuf *err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = pg_vrun(ps, id, p, 0, out, err, fmt, ap);
    va_end(ap);
    return rc;
}

int pg_run_binary(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, PGresult **out,
                  struct strbuf *err, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = pg_vrun(ps, id, p, 1, out, err, fmt, ap);
    va_end(ap);
    return rc;
}

/* A plain command without parameters (transaction control, DDL). */
int pg_command(struct pg_store *ps, const char *sql, const char *what, struct strbuf *err)
{
    PGresult *res = PQexec(ps->conn, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_result_error(ps, res, what, err);
    PQclear(res);
    return rc;
}

/* Parse a bigint column; NULL or junk is a CK_EPARSE. */
int pg_get_int(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
               struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || parse_int64(v, INT64_MIN, INT64_MAX, out)) {
        strbuf_addf(err, "store: unexpected value '%s' in column %s from '%s'", v,
                    PQfname(res, col), ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

int pg_get_price(struct pg_store *ps, const PGresult *res, int row, int col, int64_t *out,
                 struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (PQgetisnull(res, row, col) || price_parse(v, (size_t)PQgetlength(res, row, col), out)) {
        strbuf_addf(err, "store: unexpected price '%s' in column %s from '%s'", v,
                    PQfname(res, col), ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

int pg_get_tf(struct pg_store *ps, const PGresult *res, int row, int col, enum timeframe *out,
              struct strbuf *err)
{
    const char *v = PQgetvalue(res, row, col);
    if (timeframe_parse(v, out)) {
        strbuf_addf(err, "store: unknown timeframe '%s' in '%s'", v, ps->redacted);
        return CK_EPARSE;
    }
    return 0;
}

/* --- open, migrate, close --------------------------------------------- */

/*
 * The version the database is at, 0 when it has no schema_version table yet.
 * The table is looked for in pg_class with the statement's snapshot rather
 * than with to_regclass(): the catalog caches of a session that waited for
 * the migration lock may still remember the table as missing.
 */
static int pg_read_version(struct pg_store *ps, int *out, struct strbuf *err)
{
    PGresult *res;
    int64_t v;
    int rc;

    res = PQexec(ps->conn, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
                           "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relname = 'schema_version' AND n.nspname = current_schema())");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "read the schema version", err);
        PQclear(res);
        return rc;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t")) {
        PQclear(res);
        *out = 0;
        return 0;
    }
    PQclear(res);
    /* Not prepared: the table may have been created since this session began. */
    res = PQexec(ps->conn, pg_stmts[PG_SCHEMA_VERSION].sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "read the schema version", err);
        PQclear(res);
        return rc;
    }
    rc = pg_get_int(ps, res, 0, 0, &v, err);
    PQclear(res);
    if (!rc)
        *out = (int)v;
    return rc;
}

/*
 * Bring the schema up to date. The version is read without a lock first
 * (the common case: nothing to do); otherwise each step takes the advisory
 * lock, reads the version again (another process may have migrated in the
 * meantime) and applies the next migration in the same transaction.
 */
static int pg_migrate(struct pg_store *ps, struct strbuf *err)
{
    int version, rc;

    rc = pg_read_version(ps, &version, err);
    while (!rc && version < pg_schema_latest) {
        struct strbuf sql = STRBUF_INIT;

        rc = pg_command(ps, "BEGIN", "begin a migration", err);
        if (rc)
            break;
        rc = pg_command(ps, "SELECT pg_advisory_xact_lock(" PG_MIGRATE_LOCK ")",
                        "lock the schema for migration", err);
        if (!rc)
            rc = pg_read_version(ps, &version, err);
        if (!rc && version == 0)
            rc = pg_command(ps,
                            "CREATE TABLE IF NOT EXISTS schema_version ("
                            "version integer PRIMARY KEY, "
                            "applied_at timestamptz NOT NULL DEFAULT now())",
                            "create the schema_version table", err);
        if (!rc && version < pg_schema_latest) {
            strbuf_reset(&ps->scratch);
            strbuf_addf(&ps->scratch, "apply migration %d", version + 1);
            strbuf_addstr(&sql, pg_migrations[version]);
            strbuf_addf(&sql, ";INSERT INTO schema_version (version) VALUES (%d)", version + 1);
            rc = pg_command(ps, sql.buf, ps->scratch.buf, err);
            if (!rc)
                version++;
        }
        strbuf_release(&sql);
        if (!rc) {
            rc = pg_command(ps, "COMMIT", "commit a migration", err);
        } else {
            PQclear(PQexec(ps->conn, "ROLLBACK"));
        }
    }
    if (!rc && version > pg_schema_latest) {
        strbuf_addf(err,
                    "store: the database '%s' has schema version %d, newer than this "
                    "candlekeep knows (%d); upgrade candlekeep",
                    ps->redacted, version, pg_schema_latest);
        rc = CK_ECONFIG;
    }
    return rc;
}

static void pg_free(struct pg_store *ps)
{
    if (!ps)
        return;
    if (ps->conn)
        PQfinish(ps->conn);
    free(ps->redacted);
    redact_set_release(&ps->secrets);
    for (size_t i = 0; i < ARRAY_SIZE(ps->cols); i++)
        strbuf_release(&ps->cols[i]);
    strbuf_release(&ps->scratch);
    free(ps);
}

static int pg_open(struct store **out, const char *url, struct strbuf *err)
{
    /*
     * The URL is passed through as libpq's dbname (expanded), so every
     * libpq parameter works; the defaults before it are overridden by the
     * URL, the ones after it (none) would override the URL. Strings are
     * UTF-8 in candlekeep.
     */
    const char *const keys[] = {"connect_timeout", "client_encoding", "fallback_application_name",
                                "dbname", NULL};
    const char *const vals[] = {"10", "UTF8", "candlekeep", url, NULL};
    struct pg_store *ps = xcalloc(1, sizeof(*ps));
    int rc = 0;

    *out = NULL;
    ps->base.ops = &store_pg_ops;
    /*
     * The passwords as written and percent-decoded; for a malformed URL
     * (an unencoded '@' in the password) libpq may quote any piece of it.
     */
    redact_set_add_url(&ps->secrets, url, 0);
    {
        /* Redacted, and scrubbed too in case the URL is malformed. */
        char *red = redact_url(url, 0);
        struct strbuf sb = STRBUF_INIT;
        pg_add_scrubbed(&sb, red, &ps->secrets);
        ps->redacted = strbuf_detach(&sb, NULL);
        free(red);
    }
    for (size_t i = 0; i < ARRAY_SIZE(ps->cols); i++)
        strbuf_init(&ps->cols[i], 0);
    strbuf_init(&ps->scratch, 0);

    ps->conn = PQconnectdbParams(keys, vals, 1);
    if (!ps->conn || PQstatus(ps->conn) != CONNECTION_OK) {
        strbuf_addf(err, "store: cannot connect to '%s': ", ps->redacted);
        pg_add_conn_error(ps, err);
        rc = CK_EIO;
        goto out;
    }
    PQsetNoticeReceiver(ps->conn, pg_notice, ps);
    {
        /* Binary timestamps are 64-bit microseconds only with integer datetimes. */
        const char *idt = PQparameterStatus(ps->conn, "integer_datetimes");
        if (!idt || strcmp(idt, "on")) {
            strbuf_addf(err, "store: '%s' uses floating-point timestamps, which are not supported",
                        ps->redacted);
            rc = CK_ECONFIG;
            goto out;
        }
    }
    rc = pg_migrate(ps, err);
out:
    if (rc) {
        pg_free(ps);
        return rc;
    }
    *out = &ps->base;
    return 0;
}

static void pg_close(struct store *st)
{
    pg_free(pg_downcast(st));
}

static int pg_schema_version(struct store *st, int *out, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res;
    int64_t v;
    int rc = pg_ready(ps, err);

    if (!rc)
        rc = pg_run(ps, PG_SCHEMA_VERSION, NULL, &res, err, "read the schema version");
    if (rc)
        return rc;
    rc = pg_get_int(ps, res, 0, 0, &v, err);
    PQclear(res);
    if (!rc)
        *out = (int)v;
    return rc;
}

static bool pg_ping(struct store *st)
{
    struct pg_store *ps = pg_downcast(st);
    struct strbuf ignored = STRBUF_INIT;
    bool ok = false;

    /* Outside a transaction, a connection lost mid-query gets one more chance. */
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        PGresult *res;
        if (pg_ready(ps, &ignored))
            break;
        res = PQexec(ps->conn, "SELECT 1");
        ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (ps->base.in_tx || PQstatus(ps->conn) != CONNECTION_BAD)
            break;
    }
    strbuf_release(&ignored);
    return ok;
}

/*
 * Commits wait for the server's write-ahead log to reach the disk, whatever
 * the server's default (synchronous_commit may be off there: a server for
 * tests, or one tuned for bulk loads).
 */
static int pg_set_durable(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);
    if (!rc)
        rc = pg_command(ps, "SET synchronous_commit TO on", "commit durably", err);
    if (!rc)
        ps->durable = true;
    return rc;
}

/*
 * The server answers (a broken idle connection is reset first, as for any
 * operation) and takes writes: a hot standby, or a database set read-only,
 * would fail every job.
 */
static int pg_check_writable(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res;
    int rc = pg_ready(ps, err);

    if (rc)
        return rc;
    res = PQexec(ps->conn, "SELECT pg_is_in_recovery() OR "
                           "current_setting('default_transaction_read_only')::boolean");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        rc = pg_result_error(ps, res, "check the database", err);
    } else if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
        strbuf_addf(err, "store: '%s' is read-only (a standby, or transactions are read-only)",
                    ps->redacted);
        rc = CK_EIO;
    }
    PQclear(res);
    return rc;
}

/* --- transactions ------------------------------------------------------ */

static int pg_begin(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    int rc = pg_ready(ps, err);
    ps->inserted_tx = 0;
    if (!rc)
        rc = pg_command(ps, "BEGIN", "begin a transaction", err);
    return rc;
}

static int pg_commit(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    PGresult *res = PQexec(ps->conn, "COMMIT");
    int rc = 0;

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_result_error(ps, res, "commit", err);
    } else if (strcmp(PQcmdStatus(res), "COMMIT")) {
        /* COMMIT of a transaction in which a statement failed rolls it back. */
        strbuf_addstr(err, "store: cannot commit: the transaction had failed and was rolled back");
        rc = CK_EIO;
    }
    PQclear(res);
    if (rc)
        ps->inserted_tx = 0;
    else
        pg_candles_committed(ps);
    return rc;
}

static int pg_rollback(struct store *st, struct strbuf *err)
{
    struct pg_store *ps = pg_downcast(st);
    ps->inserted_tx = 0;
    /* With the connection gone the server has rolled the transaction back. */
    if (PQstatus(ps->conn) == CONNECTION_BAD)
        return 0;
    return pg_command(ps, "ROLLBACK", "roll back", err);
}

/* Unix milliseconds as a binary timestamptz, outside the kept years +-infinity. */
void pg_param_ms(struct pg_params *p, int64_t ms)
{
    int i = pg_param_slot(p);
    int64_t v = ms < PG_MS_MIN    ? INT64_MIN
                : ms >= PG_MS_END ? INT64_MAX
                                  : (ms - PG_EPOCH_UNIX * 1000) * 1000;
    pg_put_be64(p->bin[i], (uint64_t)v);
    p->values[i] = p->bin[i];
    p->lengths[i] = 8;
    p->formats[i] = 1;
}

void pg_param_bool(struct pg_params *p, bool v)
{
    pg_param_text(p, v ? "t" : "f");
}

/* A time (in `unit`s per second) that is to be stored must lie in the kept years. */
int pg_check_time(int64_t t, int64_t unit, const char *what, struct strbuf *err)
{
    if (t >= PG_TIME_MIN * unit && t < PG_TIME_END * unit)
        return 0;
    strbuf_addf(err, "store: %s %lld is outside the years 1 to 9999", what, (long long)t);
    return CK_EINVAL;
}
/* The number of rows a command changed. */
int64_t pg_changed(PGresult *res)
{
    int64_t n = 0;
    if (parse_int64(PQcmdTuples(res), 0, INT64_MAX, &n))
        n = 0;
    return n;
}
/* --- bulk export and import -------------------------------------------- */

/*
 * Run prepared statement `id` once for each parameter set p[0..n), n <=
 * PG_PIPELINE_ROWS, in libpq's pipeline mode: every execution is sent
 * before the first answer is read, so the batch costs one round trip
 * rather than n. `each` (may be NULL) gets the rows each execution
 * changed, and `*changed` grows by their sum. The first failure is
 * reported; the server skips the executions after it. Only inside a
 * transaction, which a failure leaves failed (the caller rolls back).
 */
int pg_run_each(struct pg_store *ps, enum pg_stmt id, const struct pg_params *p, size_t n,
                int64_t *each, size_t *changed, const char *what, struct strbuf *err)
{
    size_t sent = 0;
    bool synced;
    int rc;

    if (n > PG_PIPELINE_ROWS)
        BUG("pipeline of %zu statements", n);
    rc = pg_prepare(ps, id, err);
    if (rc)
        return rc;
    if (!PQenterPipelineMode(ps->conn))
        return pg_result_error(ps, NULL, what, err);
    for (; sent < n; sent++) {
        const struct pg_params *q = &p[sent];
        if (!PQsendQueryPrepared(ps->conn, pg_stmts[id].name, q->n, q->values, q->lengths,
                                 q->formats, 0)) {
            rc = pg_result_error(ps, NULL, what, err);
            break;
        }
    }
    synced = PQpipelineSync(ps->conn) == 1;
    if (!synced && !rc)
        rc = pg_result_error(ps, NULL, what, err);
    for (size_t i = 0; i < sent; i++) {
        PGresult *res;
        int64_t rows = 0;
        /* The answers to one execution end with a NULL. */
        while ((res = PQgetResult(ps->conn))) {
            ExecStatusType status = PQresultStatus(res);
            if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
                rows += pg_changed(res);
            else if (status != PGRES_PIPELINE_ABORTED && !rc)
                rc = pg_result_error(ps, res, what, err);
            PQclear(res);
        }
        if (each)
            each[i] = rows;
        *changed += (size_t)rows;
        if (PQstatus(ps->conn) == CONNECTION_BAD)
            break;
    }
    if (synced && PQstatus(ps->conn) != CONNECTION_BAD) {
        PGresult *res = PQgetResult(ps->conn);
        if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && !rc)
            rc = pg_result_error(ps, res, what, err);
        PQclear(res);
    }
    if (!PQexitPipelineMode(ps->conn) && !rc)
        rc = pg_result_error(ps, NULL, what, err);
    if (!rc && PQstatus(ps->conn) == CONNECTION_BAD)
        rc = pg_result_error(ps, NULL, what, err);
    return rc;
}

/* The id and limit parameters of an export. */
void pg_param_page(struct pg_params *p, int64_t after_id, size_t limit)
{
    pg_param_int(p, after_id);
    if (limit && limit <= (size_t)INT64_MAX)
        pg_param_int(p, (int64_t)limit);
    else
        pg_param_null(p);
}

const struct store_ops store_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .schema_version = pg_schema_version,
    .ping = pg_ping,
    .check_writable = pg_check_writable,
    .set_durable = pg_set_durable,
    .upkeep = pg_upkeep,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_candles = pg_put_candles,
    .latest_time = pg_latest_time,
    .query_candles = pg_query_candles,
    .count_candles = pg_count_candles,
    .candle_extent = pg_candle_extent,
    .candle_stamp = pg_candle_stamp,
    .stamp_shared = true,
    .candle_times = pg_candle_times,
    .delete_candles_before = pg_delete_candles_before,
    .count_candles_before = pg_count_candles_before,
    .list_series = pg_list_series,
    .list_gaps = pg_list_gaps,
    .insert_gap = pg_insert_gap,
    .update_gap = pg_update_gap,
    .job_ensure = pg_job_ensure,
    .job_get = pg_job_get,
    .job_list = pg_job_list,
    .job_pause = pg_job_pause,
    .job_set_last_fire = pg_job_set_last_fire,
    .job_run_insert = pg_job_run_insert,
    .job_run_update = pg_job_run_update,
    .job_streak_update = pg_job_streak_update,
    .job_runs_list = pg_job_runs_list,
    .job_runs_prune = pg_job_runs_prune,
    .job_runs_fail_stale = pg_job_runs_fail_stale,
    .lease_claim = pg_lease_claim,
    .lease_release = pg_lease_release,
    .lease_list = pg_lease_list,
    .rate_get = pg_rate_get,
    .rate_put = pg_rate_put,
    .rate_window = pg_rate_window,
    .rate_log = pg_rate_log,
    .series_state_get = pg_series_state_get,
    .series_state_put = pg_series_state_put,
    .series_state_list = pg_series_state_list,
    .export_gaps = pg_export_gaps,
    .import_gaps = pg_import_gaps,
    .export_job_runs = pg_export_job_runs,
    .import_job_runs = pg_import_job_runs,
    .import_jobs = pg_import_jobs,
    .sql = pg_sql,
};
