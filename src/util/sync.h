/* SPDX-License-Identifier: MIT */
#ifndef CK_UTIL_SYNC_H
#define CK_UTIL_SYNC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * Timed waits that do not jump with the wall clock: a condition variable
 * initialised by cond_init_monotonic() times its waits on CLOCK_MONOTONIC,
 * and mono_deadline() gives the absolute time for pthread_cond_timedwait()
 * on it, `ms` from now (a negative `ms` counts as 0).
 */
void cond_init_monotonic(pthread_cond_t *cond);
struct timespec mono_deadline(int64_t ms);

#endif
