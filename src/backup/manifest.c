/* SPDX-License-Identifier: MIT */
/*
 * The manifest of a backup as JSON (docs/backup-format.md):
 *
 *   {"format":1, "created":"2024-03-15T12:00:00Z", "candlekeep":"0.1.0",
 *    "schema_version":9, "backend":"sqlite", "note":"before the upgrade",
 *    "compression":"zstd", "encryption":"none" | "aes-256-gcm",
 *    "payload":"sqlite", "payload_bytes":123456,
 *    "tables":[{"name":"candles","rows":1000,"sha256":"<64 hex>"}, ...]}
 *
 * The tables are migrate/'s, in its order, with its digests (the ones
 * `migrate --verify-only` prints the start of). Parsing is strict: a
 * missing or mistyped field is an error naming it, so a manifest that was
 * edited by hand is refused rather than half believed.
 */
#include "backup/backup_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

void digest_hex64(const unsigned char d[MIGRATE_DIGEST_SIZE], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < MIGRATE_DIGEST_SIZE; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 0xf];
    }
    out[64] = '\0';
}

static int unhex64(const char *s, unsigned char out[MIGRATE_DIGEST_SIZE])
{
    if (strlen(s) != 64)
        return CK_EPARSE;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return CK_EPARSE;
        if (i % 2)
            out[i / 2] = (unsigned char)(out[i / 2] | v);
        else
            out[i / 2] = (unsigned char)(v << 4);
    }
    return 0;
}

char *manifest_to_json(const struct backup_manifest *m)
{
    json_t *tables = json_array();
    char when[TIME_BUFSZ], hex[65];
    json_t *o;
    char *text;

    for (size_t i = 0; i < m->tables.n; i++) {
        const struct migrate_table_result *t = &m->tables.v[i];
        digest_hex64(t->source.digest, hex);
        json_array_append_new(tables, json_pack("{s:s, s:I, s:s}", "name", t->table, "rows",
                                                (json_int_t)t->source.rows, "sha256", hex));
    }
    time_format_iso8601(m->created, when);
    o = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:o}", "format", m->format,
                  "created", when, "candlekeep", m->version, "schema_version", m->schema_version,
                  "backend", m->backend, "compression", backup_compress_name(m->compress),
                  "encryption", m->encrypted ? "aes-256-gcm" : "none", "payload", "sqlite",
                  "payload_bytes", (json_int_t)m->payload_bytes, "tables", tables);
    if (!o)
        BUG("manifest: json_pack failed");
    if (m->note)
        json_object_set_new(o, "note", json_string(m->note));
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        BUG("manifest: json_dumps failed");
    return text;
}

int manifest_parse(const char *text, struct backup_manifest *out, struct strbuf *err)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je), *tables = NULL;
    const char *created = NULL, *version = NULL, *backend = NULL, *comp = NULL, *enc = NULL,
               *payload = NULL, *note = NULL;
    json_int_t pbytes = 0;
    int format = 0, schema = 0, rc = CK_EPARSE;
    size_t i;
    json_t *t;

    memset(out, 0, sizeof(*out));
    if (!o) {
        strbuf_addf(err, "the backup's manifest is not JSON (%s)", je.text);
        return CK_EPARSE;
    }
    if (json_unpack_ex(o, &je, 0, "{s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:o, s?s}",
                       "format", &format, "created", &created, "candlekeep", &version,
                       "schema_version", &schema, "backend", &backend, "compression", &comp,
                       "encryption", &enc, "payload", &payload, "payload_bytes", &pbytes, "tables",
                       &tables, "note", &note)) {
        strbuf_addf(err, "the backup's manifest is incomplete: %s", je.text);
        goto out;
    }
    if (format != CONTAINER_VERSION || strcmp(payload, "sqlite")) {
        strbuf_addf(err,
                    "the backup's manifest is of format %d with a '%s' payload; this "
                    "candlekeep reads format %d with a sqlite payload",
                    format, payload, CONTAINER_VERSION);
        goto out;
    }
    out->format = format;
    out->schema_version = schema;
    if (time_parse(created, &out->created)) {
        strbuf_addf(err, "the backup's manifest has a bad time '%s'", created);
        goto out;
    }
    if (backup_compress_parse(comp, &out->compress)) {
        strbuf_addf(err, "the backup's manifest names an unknown compression '%s'", comp);
        goto out;
    }
    if (!strcmp(enc, "aes-256-gcm")) {
        out->encrypted = true;
    } else if (strcmp(enc, "none")) {
        strbuf_addf(err, "the backup's manifest names an unknown encryption '%s'", enc);
        goto out;
    }
    if (pbytes <= 0 || !json_is_array(tables)) {
        strbuf_addstr(err, "the backup's manifest has no payload size or no tables");
        goto out;
    }
    out->payload_bytes = pbytes;
    out->version = xstrdup(version);
    out->backend = xstrdup(backend);
    out->note = xstrdup_or_null(note);
    out->tables.v = xcalloc(json_array_size(tables) + 1, sizeof(*out->tables.v));
    out->names = xcalloc(json_array_size(tables) + 1, sizeof(*out->names));
    json_array_foreach(tables, i, t)
    {
        struct migrate_table_result *r = &out->tables.v[out->tables.n];
        const char *name = NULL, *sha = NULL;
        json_int_t rows = 0;
        if (json_unpack_ex(t, &je, 0, "{s:s, s:I, s:s}", "name", &name, "rows", &rows, "sha256",
                           &sha) ||
            rows < 0 || unhex64(sha, r->source.digest)) {
            strbuf_addf(err, "the backup's manifest has a bad entry for table %zu", i + 1);
            goto out;
        }
        out->names[out->tables.n] = xstrdup(name);
        r->table = out->names[out->tables.n];
        r->source.rows = rows;
        out->tables.n++;
    }
    rc = 0;
out:
    json_decref(o);
    if (rc)
        backup_manifest_release(out);
    return rc;
}
