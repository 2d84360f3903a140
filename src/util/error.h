/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_ERROR_H
#define CK_UTIL_ERROR_H

/*
 * One code space for the whole program (after libuv): fallible functions
 * return 0 on success or one of these negative codes; the detail goes into a
 * trailing `struct strbuf *err`. Library codes (errno, CURLcode, SQLite,
 * libpq) are translated at the adapter edge.
 */
enum ck_error {
    CK_OK = 0,
    CK_EINVAL = -1,     /* bad argument or input */
    CK_ENOTFOUND = -2,  /* no such record / series / symbol */
    CK_EIO = -3,        /* I/O or database failure */
    CK_ETIMEDOUT = -4,  /* an operation ran out of time */
    CK_EPARSE = -5,     /* malformed content */
    CK_ELIMIT = -6,     /* a size or rate limit was hit */
    CK_EUPSTREAM = -7,  /* the remote side failed (5xx, network) */
    CK_ECONFIG = -8,    /* bad configuration */
    CK_EAUTH = -9,      /* credentials refused */
    CK_ECONFLICT = -10, /* conflicting state (duplicate key, lock held) */
    CK_EBUSY = -11,     /* resource busy (database locked, lease held) */
};

/* A short static description of `code` ("invalid input", ...). */
const char *ck_strerror(int code);

#define CK_MUST_CHECK __attribute__((warn_unused_result))

#endif
