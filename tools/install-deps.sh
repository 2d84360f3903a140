#!/bin/sh
# Install the Debian packages candlekeep builds and tests with, if any is
# missing, and the packages named as arguments (make bench: nginx-light,
# the static file server its API figures are compared with). Needs root
# (or sudo) only when something has to be installed.
set -e
PKGS="build-essential cmake pkg-config libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
libsqlite3-dev sqlite3 libpq-dev libssl-dev libinih-dev zlib1g-dev libzstd-dev
libcmocka-dev postgresql python3 python3-croniter tzdata curl wrk prometheus clang clang-format
chromium tmux
git $*"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "error: missing packages:$missing (run as root or install them)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
