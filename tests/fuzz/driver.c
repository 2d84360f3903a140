/* SPDX-License-Identifier: MIT */
/*
 * A main() for the harnesses where libFuzzer is not linked (a gcc build,
 * the ASan+UBSan build of make test): it runs LLVMFuzzerTestOneInput()
 * once on each file named on the command line, the seed corpus, as
 * libFuzzer does when given files. A crash or a sanitizer report fails
 * the run; so does a file that cannot be read.
 */
#include "fuzz.h"

#include "util/strbuf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

static int run_file(const char *path)
{
    struct strbuf sb = STRBUF_INIT;
    char buf[8192];
    size_t n;
    FILE *fp = fopen(path, "rb");

    if (!fp) {
        fprintf(stderr, "fuzz: cannot read '%s': %s\n", path, strerror(errno));
        return 1;
    }
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&sb, buf, n);
    fclose(fp);
    LLVMFuzzerTestOneInput((const uint8_t *)sb.buf, sb.len);
    strbuf_release(&sb);
    return 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        bad |= run_file(argv[i]);
    printf("fuzz: %d input(s) run\n", argc - 1);
    return bad;
}
