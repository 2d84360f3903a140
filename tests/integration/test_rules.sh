#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The repository rules that `make test` enforces (tools/check-*.sh and
# tools/check-rings.py) catch what they are for: each checker passes a
# clean tree and fails, naming the place, on a planted violation.
source "$(dirname "$0")/lib.sh"
TOOLS=$CK_SOURCE_DIR/tools

# A tiny source tree: util < market < store, with a command on top.
mk_tree() {
    rm -rf "$T/tree"
    mkdir -p "$T/tree/src/util" "$T/tree/src/market" "$T/tree/src/store" "$T/tree/src/source" \
        "$T/tree/src/cmd"
    echo '#include "util/a.h"' >"$T/tree/src/market/m.c"
    echo '#include "market/m.h"' >"$T/tree/src/store/s.c"
    printf '#include "store/s.h"\n#include "util/a.h"\n' >"$T/tree/src/cmd/c.c"
    echo 'int main(void);' >"$T/tree/src/main.c"
}
# tool ARGS...: run a checker; its output in $T/out, $T/err, its status in $RC,
# which must be checked (expect_rc) before the next run, as for ck.
tool() {
    rc_unchecked
    set +e
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    set -e
    RC_PENDING="$*"
}
rings() { tool python3 "$TOOLS/check-rings.py" "$T/tree/src"; }

mk_tree
rings
check "rings: a tree that points down passes" expect_rc 0

echo '#include "cmd/c.h"' >>"$T/tree/src/util/a.c"
rings
check "rings: util including cmd fails" expect_rc 1
check "rings: the upward include is named with its line" out_has "src/util/a.c:1: util (ring 0) includes 'cmd/c.h'"

mk_tree
echo '#include "source/x.h"' >"$T/tree/src/store/t.c"
echo '#include "store/s.h"' >"$T/tree/src/source/x.c"
rings
check "rings: a cycle between store and source fails" expect_rc 1
check "rings: the cycle is named" out_has "a cycle between folders of one ring"

mk_tree
mkdir -p "$T/tree/src/stuff"
echo 'int x;' >"$T/tree/src/stuff/x.c"
rings
check "rings: a folder with no ring fails" expect_rc 1
check "rings: the folder is named" out_has "folder 'stuff' has no ring"

# Formatting: a planted badly formatted file in a git tree with the project's .clang-format.
mkdir -p "$T/fmt"
git -C "$T/fmt" init -q
cp "$CK_SOURCE_DIR/.clang-format" "$T/fmt/"
printf 'int f(void)\n{\n    return 0;\n}\n' >"$T/fmt/ok.c"
git -C "$T/fmt" add -A
tool bash "$TOOLS/check-format.sh" "$T/fmt"
check "format: a formatted tree passes" expect_rc 0
printf 'int  g( void ){ return 1 ;}\n' >"$T/fmt/bad.c"
git -C "$T/fmt" add -A
tool bash "$TOOLS/check-format.sh" "$T/fmt"
check "format: a badly formatted file fails" expect_rc 1
check "format: the file is named" out_has "bad.c"

# Root files: the project's own list passes, a stray file fails.
mkdir -p "$T/root"
git -C "$T/root" init -q
touch "$T/root/Makefile" "$T/root/README.md"
git -C "$T/root" add -A
tool bash "$TOOLS/check-root.sh" "$T/root"
check "root: entry points only passes" expect_rc 0
touch "$T/root/d.out"
git -C "$T/root" add -A
tool bash "$TOOLS/check-root.sh" "$T/root"
check "root: a stray file fails" expect_rc 1
check "root: the stray file is named" out_has "'d.out' does not belong"

finish
