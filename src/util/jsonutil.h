/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_JSONUTIL_H
#define CK_UTIL_JSONUTIL_H

#include <jansson.h>

/* "an object", "a string", "a number", ... for messages about a JSON value of the wrong type. */
const char *json_type_name(const json_t *v);

#endif
