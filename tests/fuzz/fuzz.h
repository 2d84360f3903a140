/* SPDX-License-Identifier: MIT */
#ifndef CK_TESTS_FUZZ_FUZZ_H
#define CK_TESTS_FUZZ_FUZZ_H

/*
 * The entry point every harness in tests/fuzz defines, libFuzzer's: run
 * the code under test once on `data` (`size` bytes, not NUL-terminated),
 * freeing everything it allocated; return 0. Built with clang and
 * -fsanitize=fuzzer (make fuzz) libFuzzer calls it; built otherwise,
 * driver.c calls it once per corpus file named on the command line.
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
