/* SPDX-License-Identifier: MIT */
#ifndef CK_API_API_ASSETS_H
#define CK_API_API_ASSETS_H

/*
 * The web dashboard's files, compiled into the binary: the build turns
 * each file of src/api/web into an array (tools/embed-assets.cmake writes
 * the definitions into the build tree), so serving them reads nothing
 * from disk and needs nothing from the network.
 */
#include <stddef.h>

struct api_asset {
    const char *name; /* the file's base name: "index.html" */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t len; /* bytes of data (a NUL follows them, not counted) */
};

/* Every embedded file, sorted by name. Immutable. */
extern const struct api_asset api_assets[];
extern const size_t api_nassets;

#endif
