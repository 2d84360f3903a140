#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fire times of cron expressions according to croniter, for test_cron.

Usage: cron_oracle.py FILE

FILE holds one case per line: "EXPR<TAB>START" or "EXPR<TAB>START<TAB>DIR",
where START is Unix seconds (UTC) and DIR is "next" (the default) or
"prev". For each line one answer is printed: the first fire time strictly
after START (next) or the last one strictly before it (prev), as Unix
seconds, or "none" when croniter finds none, or "error MESSAGE" when
croniter rejects the expression. Everything is UTC (no tzinfo is given).

croniter 1.3.5 (Debian bookworm's python3-croniter) searches correctly
within a month but makes mistakes when a day-of-month jump crosses a month
boundary:

  - get_next jumps from a February day straight to the day-of-month it
    wanted, counted from February, and lands past the first days of March:
    "0 0 1,30 * *" after 2023-02-15 gives 2023-03-30, not 2023-03-01;
  - get_prev takes the length of the previous month from a table without
    leap years, so it steps over 29 February: "0 0 20,29 * *" before
    2024-03-15 gives 2024-02-20, and "0 0 29 2 *" before 2024-06-01 finds
    nothing at all.

So that the oracle answers what cron means, croniter is asked about one
month at a time: an answer is taken only when it lies in the month where
that search started (where croniter is right); otherwise the search starts
again at the next (or previous) month boundary. Which fields, values,
steps and day-matching rules apply remains croniter's decision throughout.
A summary on stderr counts the answers that differ from a single croniter
call.

Exit status: 0 when every line was answered, 2 on bad usage or input, 3
when croniter is not installed.
"""

import calendar
import sys

try:
    from croniter import croniter, CroniterBadCronError, CroniterBadDateError
except ImportError:
    sys.stderr.write("cron_oracle: python3-croniter is not installed "
                     "(`make deps` or `make test` installs it)\n")
    sys.exit(3)

# How far back get_prev looks before it gives up, as croniter's own default.
PREV_YEARS = 50


def month_start(t):
    """Unix seconds of the first instant of the UTC month containing t."""
    y, m = _year_month(t)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def next_month_start(t):
    y, m = _year_month(t)
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return calendar.timegm((y, m, 1, 0, 0, 0))


def _year_month(t):
    days = t // 86400
    y, m, _ = _civil(days)
    return y, m


def _civil(days):
    # Howard Hinnant's civil_from_days, so that no time zone state is involved.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def raw_next(expr, start):
    """One croniter get_next call; None when it finds nothing."""
    try:
        return int(croniter(expr, start).get_next(float))
    except CroniterBadDateError:
        return None


def raw_prev(expr, start, years=None):
    """One croniter get_prev call; None when it finds nothing."""
    try:
        it = croniter(expr, start, max_years_between_matches=years)
        return int(it.get_prev(float))
    except CroniterBadDateError:
        return None


def day_halves(expr):
    """The two searches of the "either" day rule, when croniter applies it."""
    expanded = croniter(expr, 0).expanded
    fields = expr.split()
    if expanded[2][0] == "*" or expanded[4][0] == "*" or len(fields) != 5:
        return None
    return (" ".join(fields[:4] + ["*"]), " ".join(fields[:2] + ["*"] + fields[3:]))


def croniter_next(expr, start):
    found = raw_next(expr, start)
    halves = day_halves(expr) if found is None else None
    if halves:
        answers = [a for a in (raw_next(h, start) for h in halves) if a is not None]
        found = min(answers) if answers else None
    return found


def croniter_prev(expr, start, years=None):
    found = raw_prev(expr, start, years)
    halves = day_halves(expr) if found is None else None
    if halves:
        answers = [a for a in (raw_prev(h, start, years) for h in halves) if a is not None]
        found = max(answers) if answers else None
    return found


def oracle_next(expr, start):
    """First fire strictly after start, month by month."""
    found = croniter_next(expr, start)
    if found is None:
        # The forward search never misses every fire for 50 years: the
        # March days it steps over are followed by ones it does find.
        return None
    cur = start
    while True:
        first = (cur // 60) * 60 + 60  # the first minute croniter looks at
        end = next_month_start(first)
        if found < end:
            return found
        # The answer lies past this month: this month has no fire (croniter
        # is exact within a month), so start again at the next month.
        cur = end - 60
        found = croniter_next(expr, cur)
        if found is None:
            raise RuntimeError("croniter found a fire from an earlier start only")


def oracle_prev(expr, start):
    """Last fire strictly before start, month by month."""
    cur = start
    for _ in range(PREV_YEARS * 12 + 1):
        last = ((cur - 1) // 60) * 60  # the last minute croniter looks at
        begin = month_start(last)
        # A year is plenty: only an answer in this month is used.
        found = croniter_prev(expr, cur, years=1)
        if found is not None and found >= begin:
            return found
        cur = begin
    return None


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: cron_oracle.py FILE\n")
        return 2
    out = []
    lines = differ = 0
    with open(argv[1], encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("next", "prev")):
                sys.stderr.write("cron_oracle: %s:%d: expected EXPR<TAB>START[<TAB>next|prev]\n"
                                 % (argv[1], lineno))
                return 2
            expr, start = parts[0], int(parts[1])
            is_prev = len(parts) == 3 and parts[2] == "prev"
            lines += 1
            try:
                if is_prev:
                    answer = oracle_prev(expr, start)
                    single = raw_prev(expr, start)
                else:
                    answer = oracle_next(expr, start)
                    single = raw_next(expr, start)
            except CroniterBadCronError as exc:
                out.append("error %s" % str(exc).replace("\n", " "))
                continue
            if answer != single:
                differ += 1
            out.append("none" if answer is None else str(answer))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    sys.stderr.write("cron_oracle: %d cases; %d answers differ from a single croniter call "
                     "(croniter defects, see cron_oracle.py)\n" % (lines, differ))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
