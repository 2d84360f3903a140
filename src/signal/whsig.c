/* SPDX-License-Identifier: MIT */
/*
 * Standard Webhooks signing with OpenSSL's HMAC-SHA256 (EVP_MAC), and the
 * strict base64 the secrets and signatures are written in.
 *
 * The MAC runs over the three parts as separate updates (id, ".",
 * timestamp, ".", body), which is the same as over their concatenation,
 * so a body is never copied to be signed. The base64 decoder is our own
 * because OpenSSL's EVP_DecodeBlock() accepts surrounding whitespace and
 * reports a length that includes the padding; a configuration check wants
 * a yes or no.
 *
 * Everything here is reentrant; nothing logs.
 */
#include "signal/whsig.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

#define WHSIG_PREFIX "whsec_"
#define MAC_LEN      32

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int whsig_base64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *out_len)
{
    size_t data = len, n = 0;
    uint32_t acc = 0;
    int bits = 0;

    /* Up to two '=' at the end, and only where they complete a quantum. */
    while (data > 0 && s[data - 1] == '=' && len - data < 2)
        data--;
    if (data < len && len % 4)
        return CK_EPARSE;
    if (data % 4 == 1)
        return CK_EPARSE;
    for (size_t i = 0; i < data; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0)
            return CK_EPARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return CK_ELIMIT;
            out[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* The bits left over must be zero, or two encodings would mean one value. */
    if (acc)
        return CK_EPARSE;
    *out_len = n;
    return 0;
}

void whsig_base64_encode(const unsigned char *data, size_t len, struct strbuf *out)
{
    size_t i = 0;
    strbuf_grow(out, (len + 2) / 3 * 4);
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        strbuf_addch(out, b64_alphabet[v >> 18]);
        strbuf_addch(out, b64_alphabet[(v >> 12) & 63]);
        strbuf_addch(out, b64_alphabet[(v >> 6) & 63]);
        strbuf_addch(out, b64_alphabet[v & 63]);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)data[i] << 16;
        strbuf_addch(out, b64_alphabet[v >> 18]);
        strbuf_addch(out, b64_alphabet[(v >> 12) & 63]);
        strbuf_addstr(out, "==");
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
        strbuf_addch(out, b64_alphabet[v >> 18]);
        strbuf_addch(out, b64_alphabet[(v >> 12) & 63]);
        strbuf_addch(out, b64_alphabet[(v >> 6) & 63]);
        strbuf_addch(out, '=');
    }
}

int whsig_key_parse(const char *secret, struct whsig_key *out, struct strbuf *err)
{
    size_t len = secret ? strlen(secret) : 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!len) {
        strbuf_addstr(err, "the secret is empty");
        return CK_EINVAL;
    }
    if (strncmp(secret, WHSIG_PREFIX, strlen(WHSIG_PREFIX))) {
        if (len > WHSIG_KEY_MAX) {
            strbuf_addf(err, "the secret is longer than %d bytes", WHSIG_KEY_MAX);
            return CK_EINVAL;
        }
        memcpy(out->bytes, secret, len);
        out->len = len;
        return 0;
    }
    secret += strlen(WHSIG_PREFIX);
    len -= strlen(WHSIG_PREFIX);
    rc = whsig_base64_decode(secret, len, out->bytes, sizeof(out->bytes), &out->len);
    if (rc == CK_ELIMIT) {
        strbuf_addf(err, "the whsec_ secret decodes to more than %d bytes", WHSIG_KEY_MAX);
    } else if (rc) {
        strbuf_addstr(err, "the text after 'whsec_' is not valid base64 (standard alphabet)");
    } else if (!out->len) {
        strbuf_addstr(err, "the whsec_ secret has no key after the prefix");
        rc = CK_EINVAL;
    }
    if (rc) {
        OPENSSL_cleanse(out, sizeof(*out));
        return CK_EINVAL;
    }
    return 0;
}

/* HMAC-SHA256 of "<id>.<timestamp>.<body>" into `mac`. */
static void compute_mac(const struct whsig_key *key, const char *id, int64_t timestamp,
                        const char *body, size_t len, unsigned char mac[MAC_LEN])
{
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    char ts[32];
    size_t outl = 0;
    int n = snprintf(ts, sizeof(ts), ".%" PRId64 ".", timestamp);

    if (!ctx || !EVP_MAC_init(ctx, key->bytes, key->len, params) ||
        !EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) ||
        !EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)n) ||
        !EVP_MAC_update(ctx, (const unsigned char *)body, len) ||
        !EVP_MAC_final(ctx, mac, &outl, MAC_LEN) || outl != MAC_LEN)
        BUG("whsig: HMAC-SHA256 is not available from OpenSSL");
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
}

void whsig_sign(const struct whsig_key *key, const char *id, int64_t timestamp, const char *body,
                size_t len, struct strbuf *out)
{
    unsigned char mac[MAC_LEN];
    compute_mac(key, id, timestamp, body, len, mac);
    strbuf_addstr(out, "v1,");
    whsig_base64_encode(mac, sizeof(mac), out);
}

bool whsig_verify(const struct whsig_key *key, const char *id, int64_t timestamp, const char *body,
                  size_t len, const char *header)
{
    unsigned char mac[MAC_LEN];
    bool ok = false;
    const char *p = header;

    compute_mac(key, id, timestamp, body, len, mac);
    while (p && *p) {
        size_t n;
        p += strspn(p, " ");
        n = strcspn(p, " ");
        if (n > 3 && !strncmp(p, "v1,", 3)) {
            unsigned char got[MAC_LEN + 3];
            size_t got_len = 0;
            if (!whsig_base64_decode(p + 3, n - 3, got, sizeof(got), &got_len) &&
                got_len == MAC_LEN && !CRYPTO_memcmp(got, mac, MAC_LEN))
                ok = true; /* keep going: the time taken does not say which entry matched */
        }
        p += n;
    }
    return ok;
}
