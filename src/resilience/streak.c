/* SPDX-License-Identifier: MIT */
/*
 * The skip-and-probe rule for failing series (see streak.h). It is a pure
 * function of the counts kept in the database, so every instance sharing
 * the database makes the same decision for a series, and a restart does
 * not give a dead symbol a fresh run of attempts.
 */
#include "resilience/streak.h"

#include "util/banned.h"

const char *streak_action_name(enum streak_action a)
{
    switch (a) {
    case STREAK_RUN:
        return "run";
    case STREAK_PROBE:
        return "probe";
    case STREAK_SKIP:
        return "skip";
    }
    return "unknown";
}

enum streak_action streak_decide(int64_t streak, int64_t skipped, int64_t skip_after,
                                 int64_t probe_every)
{
    if (skip_after <= 0 || streak < skip_after)
        return STREAK_RUN;
    if (probe_every <= 1 || skipped + 1 >= probe_every)
        return STREAK_PROBE;
    return STREAK_SKIP;
}
