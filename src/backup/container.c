/* SPDX-License-Identifier: MIT */
/*
 * The backup file (docs/backup-format.md):
 *
 *   "CKBACKUP"        8 bytes
 *   version           4 bytes, big-endian (1)
 *   manifest length   4 bytes, big-endian (at most 1 MiB)
 *   manifest          that many bytes of JSON (manifest.c)
 *   payload           the SQLite file, compressed as the manifest says;
 *                     when encrypted: a 12-byte nonce, the AES-256-GCM
 *                     ciphertext, its 16-byte tag (the header and the
 *                     manifest are its additional data, so a changed
 *                     manifest fails the tag too)
 *   trailer           SHA-256 of every byte before it, 32 bytes
 *
 * Everything streams in chunks of 1 MiB: memory stays small whatever the
 * size of the database. Reading checks the trailer first (a flipped byte
 * or a cut is reported as such before any decompression), then, when
 * encrypted, the tag in a pass of its own, so that nothing is
 * decompressed from data that were not authenticated.
 */
#include "backup/backup_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/banned.h"

#define CHUNK (1u << 20)

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void crypto_check(int ok, const char *what)
{
    if (!ok)
        BUG("libcrypto: %s failed", what);
}

static int write_all(int fd, const void *p, size_t n, const char *path, struct strbuf *err)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            strbuf_addf(err, "cannot write '%s': %s", path, strerror(errno));
            return CK_EIO;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read exactly `n` bytes at `off`; CK_EPARSE when the file ends first. */
static int read_at(int fd, void *p, size_t n, uint64_t off, const char *what, struct strbuf *err)
{
    char *c = p;
    while (n) {
        ssize_t r = pread(fd, c, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            strbuf_addf(err, "cannot read %s: %s", what, strerror(errno));
            return CK_EIO;
        }
        if (r == 0) {
            strbuf_addf(err, "%s is truncated", what);
            return CK_EPARSE;
        }
        c += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* --- writing ------------------------------------------------------------ */

/* Where the bytes of a container go: hashed, encrypted when asked, written. */
struct sink {
    int fd;
    const char *path;
    EVP_MD_CTX *sha;
    EVP_CIPHER_CTX *gcm; /* NULL: not encrypted */
    unsigned char *cbuf; /* CHUNK + a block */
    int64_t bytes;
};

static int sink_raw(struct sink *s, const void *p, size_t n, struct strbuf *err)
{
    crypto_check(EVP_DigestUpdate(s->sha, p, n), "EVP_DigestUpdate");
    s->bytes += (int64_t)n;
    return write_all(s->fd, p, n, s->path, err);
}

/* Payload bytes: encrypted first when the container is. */
static int sink_payload(struct sink *s, const unsigned char *p, size_t n, struct strbuf *err)
{
    while (n) {
        size_t part = n > CHUNK ? CHUNK : n;
        int outl = 0;
        int rc;
        if (!s->gcm) {
            rc = sink_raw(s, p, part, err);
        } else {
            crypto_check(EVP_EncryptUpdate(s->gcm, s->cbuf, &outl, p, (int)part),
                         "EVP_EncryptUpdate");
            rc = sink_raw(s, s->cbuf, (size_t)outl, err);
        }
        if (rc)
            return rc;
        p += part;
        n -= part;
    }
    return 0;
}

static int compress_zstd(int in, struct sink *s, unsigned char *ibuf, unsigned char *obuf,
                         struct strbuf *err)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    int rc = 0;
    bool last = false;

    if (!cc)
        BUG("ZSTD_createCCtx failed");
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
    while (!last && !rc) {
        ssize_t n = read(in, ibuf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_addf(err, "cannot read the database copy: %s", strerror(errno));
            rc = CK_EIO;
            break;
        }
        last = n == 0;
        ZSTD_inBuffer ib = {ibuf, (size_t)n, 0};
        bool done;
        do {
            ZSTD_outBuffer ob = {obuf, CHUNK, 0};
            size_t left = ZSTD_compressStream2(cc, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(left)) {
                strbuf_addf(err, "zstd: %s", ZSTD_getErrorName(left));
                rc = CK_EIO;
                break;
            }
            rc = sink_payload(s, obuf, ob.pos, err);
            done = last ? left == 0 : ib.pos == ib.size;
        } while (!rc && !done);
    }
    ZSTD_freeCCtx(cc);
    return rc;
}

static int compress_gzip(int in, struct sink *s, unsigned char *ibuf, unsigned char *obuf,
                         struct strbuf *err)
{
    z_stream z;
    int rc = 0, zr = Z_OK;
    bool last = false;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        BUG("deflateInit2 failed");
    while (!last && !rc) {
        ssize_t n = read(in, ibuf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_addf(err, "cannot read the database copy: %s", strerror(errno));
            rc = CK_EIO;
            break;
        }
        last = n == 0;
        z.next_in = ibuf;
        z.avail_in = (uInt)n;
        do {
            z.next_out = obuf;
            z.avail_out = CHUNK;
            zr = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
            if (zr == Z_STREAM_ERROR)
                BUG("deflate: stream error");
            rc = sink_payload(s, obuf, CHUNK - z.avail_out, err);
        } while (!rc && (z.avail_out == 0 || (last && zr != Z_STREAM_END)));
    }
    deflateEnd(&z);
    return rc;
}

static int copy_plain(int in, struct sink *s, unsigned char *ibuf, struct strbuf *err)
{
    for (;;) {
        ssize_t n = read(in, ibuf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_addf(err, "cannot read the database copy: %s", strerror(errno));
            return CK_EIO;
        }
        if (n == 0)
            return 0;
        int rc = sink_payload(s, ibuf, (size_t)n, err);
        if (rc)
            return rc;
    }
}

static int write_body(struct sink *s, const char *manifest, enum backup_compress c,
                      const unsigned char *key, const char *payload_file, struct strbuf *err)
{
    size_t mlen = strlen(manifest);
    unsigned char head[CONTAINER_HEAD_LEN], nonce[CONTAINER_NONCE_LEN], tag[CONTAINER_TAG_LEN];
    unsigned char digest[CONTAINER_TRAILER_LEN];
    unsigned char *ibuf = NULL, *obuf = NULL;
    int in = -1, rc, outl = 0;

    if (mlen > CONTAINER_MAX_MANIFEST)
        BUG("a manifest of %zu bytes", mlen);
    memcpy(head, CONTAINER_MAGIC, CONTAINER_MAGIC_LEN);
    put_be32(head + 8, CONTAINER_VERSION);
    put_be32(head + 12, (uint32_t)mlen);
    rc = sink_raw(s, head, sizeof(head), err);
    if (!rc)
        rc = sink_raw(s, manifest, mlen, err);
    if (rc)
        return rc;
    if (key) {
        s->gcm = EVP_CIPHER_CTX_new();
        crypto_check(s->gcm && RAND_bytes(nonce, sizeof(nonce)) == 1, "RAND_bytes");
        crypto_check(
            EVP_EncryptInit_ex(s->gcm, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
                EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_SET_IVLEN, sizeof(nonce), NULL) &&
                EVP_EncryptInit_ex(s->gcm, NULL, NULL, key, nonce) &&
                EVP_EncryptUpdate(s->gcm, NULL, &outl, head, sizeof(head)) &&
                EVP_EncryptUpdate(s->gcm, NULL, &outl, (const unsigned char *)manifest, (int)mlen),
            "AES-256-GCM set-up");
        rc = sink_raw(s, nonce, sizeof(nonce), err);
        if (rc)
            return rc;
    }
    in = open(payload_file, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        strbuf_addf(err, "cannot open '%s': %s", payload_file, strerror(errno));
        return CK_EIO;
    }
    ibuf = xmalloc(CHUNK);
    obuf = xmalloc(CHUNK);
    if (c == BACKUP_ZSTD)
        rc = compress_zstd(in, s, ibuf, obuf, err);
    else if (c == BACKUP_GZIP)
        rc = compress_gzip(in, s, ibuf, obuf, err);
    else
        rc = copy_plain(in, s, ibuf, err);
    close(in);
    free(ibuf);
    free(obuf);
    if (!rc && s->gcm) {
        crypto_check(EVP_EncryptFinal_ex(s->gcm, s->cbuf, &outl), "EVP_EncryptFinal_ex");
        crypto_check(EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag),
                     "GCM tag");
        rc = sink_raw(s, tag, sizeof(tag), err);
    }
    if (!rc) {
        crypto_check(EVP_DigestFinal_ex(s->sha, digest, NULL), "EVP_DigestFinal_ex");
        rc = write_all(s->fd, digest, sizeof(digest), s->path, err);
        s->bytes += sizeof(digest);
    }
    return rc;
}

int container_write(const char *path, const char *manifest, enum backup_compress c,
                    const unsigned char *key, const char *payload_file, int64_t *out_bytes,
                    struct strbuf *err)
{
    struct sink s = {.path = path};
    int rc;

    s.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s.fd < 0) {
        strbuf_addf(err, "cannot create '%s': %s", path, strerror(errno));
        return CK_EIO;
    }
    s.sha = EVP_MD_CTX_new();
    crypto_check(s.sha && EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL), "SHA-256 set-up");
    s.cbuf = xmalloc(CHUNK + 32);
    rc = write_body(&s, manifest, c, key, payload_file, err);
    if (!rc && fsync(s.fd)) {
        strbuf_addf(err, "cannot fsync '%s': %s", path, strerror(errno));
        rc = CK_EIO;
    }
    if (close(s.fd) && !rc) {
        strbuf_addf(err, "cannot write '%s': %s", path, strerror(errno));
        rc = CK_EIO;
    }
    EVP_MD_CTX_free(s.sha);
    EVP_CIPHER_CTX_free(s.gcm);
    free(s.cbuf);
    if (rc)
        unlink(path);
    *out_bytes = s.bytes;
    return rc;
}

/* --- reading ------------------------------------------------------------ */

int container_open(const char *path, struct container *out, struct strbuf *err)
{
    unsigned char head[CONTAINER_HEAD_LEN];
    struct stat st;
    uint32_t version, mlen;
    int rc;

    memset(out, 0, sizeof(*out));
    out->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (out->fd < 0) {
        strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
        return errno == ENOENT ? CK_ENOTFOUND : CK_EIO;
    }
    if (fstat(out->fd, &st) || !S_ISREG(st.st_mode)) {
        strbuf_addf(err, "'%s' is not a regular file", path);
        rc = CK_EINVAL;
        goto fail;
    }
    out->size = (uint64_t)st.st_size;
    rc = read_at(out->fd, head, sizeof(head), 0, "the backup's header", err);
    if (rc == CK_EPARSE || (!rc && memcmp(head, CONTAINER_MAGIC, CONTAINER_MAGIC_LEN))) {
        strbuf_reset(err);
        strbuf_addf(err, "'%s' is not a candlekeep backup (no CKBACKUP header)", path);
        rc = CK_EPARSE;
        goto fail;
    }
    if (rc)
        goto fail;
    version = get_be32(head + 8);
    mlen = get_be32(head + 12);
    if (version != CONTAINER_VERSION) {
        strbuf_addf(err, "'%s' is a backup of format %u; this candlekeep reads format %d", path,
                    version, CONTAINER_VERSION);
        rc = CK_EPARSE;
        goto fail;
    }
    if (mlen > CONTAINER_MAX_MANIFEST ||
        out->size < CONTAINER_HEAD_LEN + (uint64_t)mlen + CONTAINER_TRAILER_LEN) {
        strbuf_addf(err,
                    "'%s' is damaged or truncated: its manifest (%u bytes) does not fit in "
                    "its %llu bytes",
                    path, mlen, (unsigned long long)out->size);
        rc = CK_EPARSE;
        goto fail;
    }
    out->manifest = xmalloc((size_t)mlen + 1);
    rc = read_at(out->fd, out->manifest, mlen, CONTAINER_HEAD_LEN, "the backup's manifest", err);
    if (rc)
        goto fail;
    out->manifest[mlen] = '\0';
    out->manifest_len = mlen;
    out->payload_off = CONTAINER_HEAD_LEN + (uint64_t)mlen;
    out->payload_len = out->size - out->payload_off - CONTAINER_TRAILER_LEN;
    return 0;
fail:
    container_close(out);
    return rc;
}

void container_close(struct container *c)
{
    if (!c)
        return;
    if (c->fd > 0)
        close(c->fd);
    free(c->manifest);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

int container_check(struct container *c, struct strbuf *err)
{
    unsigned char want[CONTAINER_TRAILER_LEN], got[CONTAINER_TRAILER_LEN];
    unsigned char *buf = xmalloc(CHUNK);
    uint64_t off = 0, end = c->size - CONTAINER_TRAILER_LEN;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    int rc = 0;

    crypto_check(sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL), "SHA-256 set-up");
    while (off < end && !rc) {
        size_t n = end - off > CHUNK ? CHUNK : (size_t)(end - off);
        rc = read_at(c->fd, buf, n, off, "the backup", err);
        if (!rc)
            crypto_check(EVP_DigestUpdate(sha, buf, n), "EVP_DigestUpdate");
        off += n;
    }
    if (!rc)
        rc = read_at(c->fd, want, sizeof(want), end, "the backup's trailer", err);
    if (!rc) {
        crypto_check(EVP_DigestFinal_ex(sha, got, NULL), "EVP_DigestFinal_ex");
        if (memcmp(want, got, sizeof(got))) {
            strbuf_addstr(err, "the backup is damaged or truncated: its SHA-256 does not match "
                               "its content");
            rc = CK_EPARSE;
        }
    }
    EVP_MD_CTX_free(sha);
    free(buf);
    return rc;
}

/* Reading the payload, decrypted when it is encrypted. */
struct source {
    struct container *c;
    uint64_t off, end; /* the ciphertext or the plain payload */
    EVP_CIPHER_CTX *gcm;
    unsigned char *buf, *plain;
};

static int gcm_start(struct source *s, const unsigned char *key, bool decrypting,
                     struct strbuf *err)
{
    unsigned char head[CONTAINER_HEAD_LEN], nonce[CONTAINER_NONCE_LEN];
    int outl, rc;

    (void)decrypting;
    rc = read_at(s->c->fd, head, sizeof(head), 0, "the backup's header", err);
    if (!rc)
        rc = read_at(s->c->fd, nonce, sizeof(nonce), s->c->payload_off, "the backup's nonce", err);
    if (rc)
        return rc;
    s->gcm = EVP_CIPHER_CTX_new();
    crypto_check(s->gcm && EVP_DecryptInit_ex(s->gcm, EVP_aes_256_gcm(), NULL, NULL, NULL) &&
                     EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_SET_IVLEN, sizeof(nonce), NULL) &&
                     EVP_DecryptInit_ex(s->gcm, NULL, NULL, key, nonce) &&
                     EVP_DecryptUpdate(s->gcm, NULL, &outl, head, sizeof(head)) &&
                     EVP_DecryptUpdate(s->gcm, NULL, &outl, (const unsigned char *)s->c->manifest,
                                       (int)s->c->manifest_len),
                 "AES-256-GCM set-up");
    return 0;
}

static int source_init(struct source *s, struct container *c, bool encrypted,
                       const unsigned char *key, struct strbuf *err)
{
    memset(s, 0, sizeof(*s));
    s->c = c;
    s->off = c->payload_off;
    s->end = c->payload_off + c->payload_len;
    s->buf = xmalloc(CHUNK);
    s->plain = xmalloc(CHUNK + 32);
    if (!encrypted)
        return 0;
    if (c->payload_len < CONTAINER_NONCE_LEN + CONTAINER_TAG_LEN) {
        strbuf_addstr(err, "the backup is truncated: no room for its encrypted payload");
        return CK_EPARSE;
    }
    s->off += CONTAINER_NONCE_LEN;
    s->end -= CONTAINER_TAG_LEN;
    return gcm_start(s, key, true, err);
}

/* The next piece of the payload into *out (plain); 0 bytes at the end. */
static int source_next(struct source *s, const unsigned char **out, size_t *n, struct strbuf *err)
{
    size_t want = s->end - s->off > CHUNK ? CHUNK : (size_t)(s->end - s->off);
    int outl = 0, rc;

    *n = 0;
    if (!want)
        return 0;
    rc = read_at(s->c->fd, s->buf, want, s->off, "the backup's payload", err);
    if (rc)
        return rc;
    s->off += want;
    if (!s->gcm) {
        *out = s->buf;
        *n = want;
        return 0;
    }
    crypto_check(EVP_DecryptUpdate(s->gcm, s->plain, &outl, s->buf, (int)want),
                 "EVP_DecryptUpdate");
    *out = s->plain;
    *n = (size_t)outl;
    return 0;
}

/* At the end of an encrypted payload: does the tag match? */
static int source_finish(struct source *s, struct strbuf *err)
{
    unsigned char tag[CONTAINER_TAG_LEN];
    int outl = 0, rc;

    if (!s->gcm)
        return 0;
    rc = read_at(s->c->fd, tag, sizeof(tag), s->end, "the backup's tag", err);
    if (rc)
        return rc;
    crypto_check(EVP_CIPHER_CTX_ctrl(s->gcm, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag),
                 "GCM set tag");
    if (EVP_DecryptFinal_ex(s->gcm, s->plain, &outl) != 1) {
        strbuf_addstr(err, "cannot decrypt the backup: the key is wrong or the file was "
                           "altered (its AES-256-GCM tag does not match)");
        return CK_EAUTH;
    }
    return 0;
}

static void source_release(struct source *s)
{
    EVP_CIPHER_CTX_free(s->gcm);
    free(s->buf);
    free(s->plain);
    memset(s, 0, sizeof(*s));
}

/* Where the decompressed bytes go, with a cap. */
struct drain {
    int fd;
    const char *path;
    int64_t written, max;
};

static int drain_put(struct drain *d, const void *p, size_t n, struct strbuf *err)
{
    if (d->written + (int64_t)n > d->max) {
        strbuf_addf(err, "the backup's payload is larger than its manifest says (%lld bytes)",
                    (long long)d->max);
        return CK_EPARSE;
    }
    d->written += (int64_t)n;
    return write_all(d->fd, p, n, d->path, err);
}

static int inflate_zstd(struct source *s, struct drain *d, unsigned char *obuf, struct strbuf *err)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    size_t left = 1;
    int rc = 0;

    if (!dc)
        BUG("ZSTD_createDCtx failed");
    for (;;) {
        const unsigned char *p;
        size_t n;
        rc = source_next(s, &p, &n, err);
        if (rc || !n)
            break;
        ZSTD_inBuffer ib = {p, n, 0};
        while (ib.pos < ib.size && !rc) {
            ZSTD_outBuffer ob = {obuf, CHUNK, 0};
            left = ZSTD_decompressStream(dc, &ob, &ib);
            if (ZSTD_isError(left)) {
                strbuf_addf(err, "the backup's payload does not decompress (zstd: %s)",
                            ZSTD_getErrorName(left));
                rc = CK_EPARSE;
                break;
            }
            rc = drain_put(d, obuf, ob.pos, err);
        }
        if (rc)
            break;
    }
    if (!rc && left != 0) {
        strbuf_addstr(err, "the backup's payload is truncated (the zstd frame does not end)");
        rc = CK_EPARSE;
    }
    ZSTD_freeDCtx(dc);
    return rc;
}

static int inflate_gzip(struct source *s, struct drain *d, unsigned char *obuf, struct strbuf *err)
{
    z_stream z;
    int rc = 0, zr = Z_OK;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        BUG("inflateInit2 failed");
    while (zr != Z_STREAM_END && !rc) {
        const unsigned char *p;
        size_t n;
        rc = source_next(s, &p, &n, err);
        if (rc || !n)
            break;
        z.next_in = (unsigned char *)p;
        z.avail_in = (uInt)n;
        while (z.avail_in && zr != Z_STREAM_END && !rc) {
            z.next_out = obuf;
            z.avail_out = CHUNK;
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
                strbuf_addf(err, "the backup's payload does not decompress (zlib: %s)",
                            z.msg ? z.msg : "error");
                rc = CK_EPARSE;
                break;
            }
            rc = drain_put(d, obuf, CHUNK - z.avail_out, err);
        }
    }
    if (!rc && zr != Z_STREAM_END) {
        strbuf_addstr(err, "the backup's payload is truncated (the gzip stream does not end)");
        rc = CK_EPARSE;
    }
    inflateEnd(&z);
    return rc;
}

static int inflate_none(struct source *s, struct drain *d, struct strbuf *err)
{
    for (;;) {
        const unsigned char *p;
        size_t n;
        int rc = source_next(s, &p, &n, err);
        if (rc || !n)
            return rc;
        rc = drain_put(d, p, n, err);
        if (rc)
            return rc;
    }
}

/* A pass over the encrypted payload that only checks its tag. */
static int check_tag(struct container *c, const unsigned char *key, struct strbuf *err)
{
    struct source s;
    int rc = source_init(&s, c, true, key, err);
    while (!rc) {
        const unsigned char *p;
        size_t n;
        rc = source_next(&s, &p, &n, err);
        if (!n)
            break;
    }
    if (!rc)
        rc = source_finish(&s, err);
    source_release(&s);
    return rc;
}

int container_extract(struct container *c, enum backup_compress comp, bool encrypted,
                      const unsigned char *key, int64_t max_bytes, const char *out_path,
                      struct strbuf *err)
{
    struct drain d = {.path = out_path, .max = max_bytes};
    unsigned char *obuf;
    struct source s;
    int rc;

    if (encrypted && !key) {
        strbuf_addstr(err, "the backup is encrypted and no key was given (set [backup] "
                           "encrypt_key_file, or --key-file)");
        return CK_EAUTH;
    }
    if (encrypted) {
        rc = check_tag(c, key, err);
        if (rc)
            return rc;
    }
    d.fd = open(out_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (d.fd < 0) {
        strbuf_addf(err, "cannot create '%s': %s", out_path, strerror(errno));
        return CK_EIO;
    }
    obuf = xmalloc(CHUNK);
    rc = source_init(&s, c, encrypted, key, err);
    if (!rc) {
        if (comp == BACKUP_ZSTD)
            rc = inflate_zstd(&s, &d, obuf, err);
        else if (comp == BACKUP_GZIP)
            rc = inflate_gzip(&s, &d, obuf, err);
        else
            rc = inflate_none(&s, &d, err);
    }
    if (!rc)
        rc = source_finish(&s, err);
    if (!rc && d.written != max_bytes) {
        strbuf_addf(err, "the backup's payload is %lld bytes, its manifest says %lld",
                    (long long)d.written, (long long)max_bytes);
        rc = CK_EPARSE;
    }
    if (!rc && fsync(d.fd)) {
        strbuf_addf(err, "cannot fsync '%s': %s", out_path, strerror(errno));
        rc = CK_EIO;
    }
    close(d.fd);
    source_release(&s);
    free(obuf);
    if (rc)
        unlink(out_path);
    return rc;
}
