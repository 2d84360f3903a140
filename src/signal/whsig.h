/* SPDX-License-Identifier: MIT */
#ifndef CK_SIGNAL_WHSIG_H
#define CK_SIGNAL_WHSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

/*
 * Standard Webhooks signatures (https://www.standardwebhooks.com/, the
 * symmetric scheme): the signed content is "<webhook-id>.<webhook-timestamp>.<body>",
 * its HMAC-SHA256 under the receiver's secret is base64-encoded and sent
 * as `webhook-signature: v1,<base64>`.
 *
 * The secret of a receiver ([webhook.NAME] secret) is read the way the
 * specification serialises it: "whsec_<base64>" means the key is the
 * base64-decoded bytes after the prefix (what the official libraries
 * generate and accept). A secret without the prefix is taken as it is:
 * its bytes are the key. A "whsec_" secret whose rest is not valid base64
 * is an error, never silently used as text.
 *
 * Nothing here logs, and no error message contains the secret.
 */

/* The largest key: the specification allows secrets of up to 512 bytes; text ones may be longer. */
#define WHSIG_KEY_MAX 1024

struct whsig_key {
    unsigned char bytes[WHSIG_KEY_MAX];
    size_t len;
};

/*
 * Turn a configured secret into key bytes. CK_EINVAL with a reason in
 * `err` (which never quotes the secret) for an empty secret, a "whsec_"
 * one whose rest is not base64 or decodes to nothing, or one longer than
 * WHSIG_KEY_MAX bytes.
 */
int whsig_key_parse(const char *secret, struct whsig_key *out, struct strbuf *err);

/*
 * Append the `webhook-signature` value ("v1,<base64>") of `body` (`len`
 * bytes) sent with webhook id `id` at Unix second `timestamp` to `out`.
 */
void whsig_sign(const struct whsig_key *key, const char *id, int64_t timestamp, const char *body,
                size_t len, struct strbuf *out);

/*
 * Does `header` (a webhook-signature value: space-separated "vN,<base64>"
 * entries) hold a valid v1 signature of (id, timestamp, body)? Compared
 * in constant time. No timestamp tolerance is applied here; receivers
 * check the age of `timestamp` themselves.
 */
bool whsig_verify(const struct whsig_key *key, const char *id, int64_t timestamp, const char *body,
                  size_t len, const char *header);

/*
 * Strict base64 (RFC 4648 standard alphabet) into `out` (at most `cap`
 * bytes); padding is optional, whitespace is not allowed. 0 with the
 * length in `*out_len`, CK_EPARSE for anything else, CK_ELIMIT when it does
 * not fit.
 */
int whsig_base64_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *out_len);
/* Append the standard, padded base64 of `data` to `out`. */
void whsig_base64_encode(const unsigned char *data, size_t len, struct strbuf *out);

#endif
