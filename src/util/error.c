/* SPDX-License-Identifier: MIT */
/* Messages for the project-wide error codes of util/error.h. */
#include "util/error.h"

const char *ck_strerror(int code)
{
    switch (code) {
    case CK_OK:
        return "success";
    case CK_EINVAL:
        return "invalid input";
    case CK_ENOTFOUND:
        return "not found";
    case CK_EIO:
        return "input/output error";
    case CK_ETIMEDOUT:
        return "timed out";
    case CK_EPARSE:
        return "malformed content";
    case CK_ELIMIT:
        return "limit exceeded";
    case CK_EUPSTREAM:
        return "upstream failure";
    case CK_ECONFIG:
        return "bad configuration";
    case CK_EAUTH:
        return "authentication failed";
    case CK_ECONFLICT:
        return "conflict";
    case CK_EBUSY:
        return "busy";
    }
    return "unknown error";
}
