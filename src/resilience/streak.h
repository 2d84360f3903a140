/* SPDX-License-Identifier: MIT */
#ifndef CK_RESILIENCE_STREAK_H
#define CK_RESILIENCE_STREAK_H

#include <stdint.h>

/*
 * Failure streaks of series: a series that keeps failing (a symbol the
 * provider dropped, a plan that does not cover it) is not asked for on
 * every cycle, where it would spend the rate budget of the others, but
 * probed now and then, and resumes as soon as a probe succeeds. The
 * counts live in the database (store_series_record()); this is the rule.
 */

enum streak_action {
    STREAK_RUN,   /* fetch as usual */
    STREAK_PROBE, /* skipped series whose turn to be probed it is: fetch */
    STREAK_SKIP,  /* do not fetch this cycle */
};
/* "run", "probe", "skip". */
const char *streak_action_name(enum streak_action a);

/*
 * What to do with a series that has failed `streak` times in a row and
 * was skipped `skipped` times since its last attempt: skip it once the
 * streak reaches `skip_after` (0: never skip), except every
 * `probe_every`-th cycle (after probe_every - 1 skips), which probes it.
 */
enum streak_action streak_decide(int64_t streak, int64_t skipped, int64_t skip_after,
                                 int64_t probe_every);

#endif
