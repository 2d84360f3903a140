/* SPDX-License-Identifier: MIT */
/* Temporary directories and paths for unit tests. */
#include "testutil.h"

#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static unsigned counter;

static void remove_tmpdir(void)
{
    char cmd[300];
    if (!tmpdir[0] || getenv("CK_KEEP_TMP"))
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "testutil: could not remove %s\n", tmpdir);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/cktest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

char *test_tmpfile(const char *suffix)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s/f%u%s", test_tmpdir(), counter++, suffix ? suffix : "");
    return strbuf_detach(&sb, NULL);
}

const char *test_source_dir(void)
{
    const char *d = getenv("CK_SOURCE_DIR");
    return d && *d ? d : ".";
}

char *test_store_url(void)
{
    const char *u = getenv("CK_TEST_STORE_URL");
    struct strbuf sb = STRBUF_INIT;
    char *f;
    if (u && *u)
        return xstrdup(u);
    f = test_tmpfile(".db");
    strbuf_addf(&sb, "sqlite:%s", f);
    free(f);
    return strbuf_detach(&sb, NULL);
}
