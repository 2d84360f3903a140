/* SPDX-License-Identifier: MIT */
#ifndef CK_TESTS_TESTUTIL_H
#define CK_TESTS_TESTUTIL_H

/*
 * Helpers shared by the unit tests. Include after <cmocka.h>'s prerequisites
 * (stdarg.h, stddef.h, stdint.h, setjmp.h); this header includes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* A fresh temporary directory (removed at exit with its content). */
const char *test_tmpdir(void);
/* A new path inside test_tmpdir() ending in `suffix`; caller frees. */
char *test_tmpfile(const char *suffix);
/* The project's source directory (CK_SOURCE_DIR, set by CTest). */
const char *test_source_dir(void);

/*
 * The store URL a store-backed test should use: CK_TEST_STORE_URL if set
 * (CTest sets it to the throwaway PostgreSQL for the "pg" variants),
 * otherwise a new SQLite file in test_tmpdir(). Caller frees.
 */
char *test_store_url(void);

#endif
