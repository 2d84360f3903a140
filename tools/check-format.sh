#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every C file git tracks is formatted as .clang-format says.
# usage: check-format.sh [REPO_DIR]; exits 1 and names each file that is not.
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$repo"
mapfile -t files < <(git ls-files '*.c' '*.h')
[ ${#files[@]} -gt 0 ] || exit 0
if ! out=$(clang-format --dry-run --Werror "${files[@]}" 2>&1); then
    echo "$out" | grep -E '^[^ ].*: error:' | cut -d: -f1 | sort -u |
        sed 's/^/check-format: not formatted (make format): /'
    exit 1
fi
