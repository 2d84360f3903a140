#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that #include lines point down candlekeep's ring order.

Every folder under src/ sits on a ring (DESIGN.md): a file may include
headers of its own folder, of lower rings, and of other folders on its own
ring as long as no two folders on one ring include each other (directly or
round a longer cycle). A folder with no ring is an error too, so a new
subsystem has to be placed before it can be built on.

usage: check-rings.py [SRC_DIR]     (default: src next to this script)
Prints one line per violation, `path:line: reason`, and exits 1 if any.
"""
import os
import re
import sys

# Bottom to top. Keep in step with the ring order in README.md's layout.
RINGS = [
    ["util"],
    ["market"],
    ["store", "source", "net"],
    ["resilience", "sched"],
    ["ingest", "signal", "alert", "health", "maint", "migrate", "backup", "report", "export"],
    ["ck"],
    ["jobs"],
    ["cmd", "api", "daemon"],
    ["main"],
]
RING = {folder: i for i, ring in enumerate(RINGS) for folder in ring}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(src, path):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    return "main" if len(parts) == 1 else parts[0]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src")
    problems = []
    edges = {}  # (from, to) on the same ring -> first place seen
    for root, _dirs, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            shown = os.path.relpath(path, os.path.join(src, ".."))
            here = folder_of(src, path)
            if here not in RING:
                problems.append(f"{shown}:1: folder '{here}' has no ring; add it to "
                                "tools/check-rings.py and the README's layout")
                continue
            with open(path, encoding="utf-8", errors="replace") as fp:
                for lineno, line in enumerate(fp, 1):
                    m = INCLUDE.match(line)
                    if not m or "/" not in m.group(1):
                        continue
                    there = m.group(1).split("/")[0]
                    if there == here:
                        continue
                    if there not in RING:
                        problems.append(f"{shown}:{lineno}: includes '{m.group(1)}' from "
                                        f"folder '{there}', which has no ring")
                    elif RING[there] > RING[here]:
                        problems.append(
                            f"{shown}:{lineno}: {here} (ring {RING[here]}) includes "
                            f"'{m.group(1)}' of {there} (ring {RING[there]}), a higher ring")
                    elif RING[there] == RING[here]:
                        edges.setdefault((here, there), f"{shown}:{lineno}")

    # Folder cycles among folders of one ring.
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    for (a, b), where in sorted(edges.items()):
        if reaches(b, a, {b}):
            problems.append(f"{where}: {a} includes {b}, and {b} reaches back to {a}: "
                            "a cycle between folders of one ring")

    for p in problems:
        print(p)
    if problems:
        print(f"check-rings: {len(problems)} include(s) against the ring order", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
