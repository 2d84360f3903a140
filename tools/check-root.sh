#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The repository root holds entry points and project files only: anything
# else git tracks there (a smoke test's config, a captured output) is a
# leftover. usage: check-root.sh [REPO_DIR]; exits 1 naming each stray entry.
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
allowed=" .ci .clang-format .gitignore CMakeLists.txt LICENSE Makefile README.md
          bench docs examples src tests tools "
bad=0
while IFS= read -r top; do
    case $allowed in
    *" $top "* | *" $top"$'\n'*) ;;
    *)
        echo "check-root: '$top' does not belong at the repository root (entry points and" \
            "project files only; see tools/check-root.sh)"
        bad=1
        ;;
    esac
done < <(git -C "$repo" ls-files | cut -d/ -f1 | sort -u)
exit $bad
