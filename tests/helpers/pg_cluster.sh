#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the "pg" tests and benchmarks.
#
#   pg_cluster.sh start DIR   create a cluster in DIR, start it, print its URL
#   pg_cluster.sh stop DIR    stop it (safe when nothing runs)
#
# The cluster belongs to the tests alone: it listens only on 127.0.0.1 on a
# free port and on a unix socket inside DIR, runs without durability (fsync,
# synchronous_commit and full_page_writes off: the data is disposable), and
# never touches a cluster the system may already run (Debian's package
# starts "main" on 5432; it is ignored). It holds a database candlekeep_test
# owned by a login role with a random password; the one line printed on
# stdout is postgresql://USER:PASS@127.0.0.1:PORT/candlekeep_test.
# Everything else goes to stderr. The server's log is DIR/server.log.
#
# PostgreSQL refuses to run as root, so under root the cluster is owned and
# run by the "postgres" system user (DIR is chown'ed to it); otherwise it
# runs as the current user.
set -euo pipefail

DB=candlekeep_test
ROLE=ck_test

say() { echo "pg_cluster: $*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
    echo "usage: pg_cluster.sh start DIR | stop DIR" >&2
    exit 2
}

# The newest server installation: /usr/lib/postgresql/<major>/bin (Debian),
# then pg_config --bindir, then whatever initdb is on PATH.
find_bindir() {
    local d best="" best_major=-1 major
    for d in /usr/lib/postgresql/*/bin; do
        if [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ] || [ ! -x "$d/postgres" ]; then
            continue
        fi
        major=$(basename "$(dirname "$d")")
        major=${major%%.*}
        case $major in '' | *[!0-9]*) continue ;; esac
        if [ "$major" -gt "$best_major" ]; then
            best_major=$major
            best=$d
        fi
    done
    if [ -z "$best" ] && command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && best=$d
    fi
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v initdb)")
    fi
    [ -n "$best" ] || die "no PostgreSQL server binaries found (install the 'postgresql' package)"
    echo "$best"
}

# Run a command as the cluster's owner (see the header).
as_owner() {
    if [ "$(id -u)" -ne 0 ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$OWNER" -- "$@"
    else
        # su needs one command string; the arguments here contain no quotes.
        su -s /bin/sh "$OWNER" -c "$(printf '%q ' "$@")"
    fi
}

# A port nothing listens on right now (the kernel's pick for an ephemeral
# bind). Another process could take it before the server binds, so start
# retries with a fresh port when the bind fails.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
        return
    fi
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port found"
}

random_password() {
    # 24 bytes of hex: safe in a URL without percent-encoding.
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
}

cmd_start() {
    local dir=$1 bin port pass url attempt started=0 superuser out

    bin=$(find_bindir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/data" ] || die "$dir/data already exists (stop and remove the old cluster first)"

    if [ "$(id -u)" -eq 0 ]; then
        OWNER=postgres
        id "$OWNER" >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to own the cluster"
        chown "$OWNER" "$dir"
        chmod 700 "$dir"
        as_owner test -w "$dir" ||
            die "user '$OWNER' cannot write to $dir (use a directory under /tmp)"
        superuser=$OWNER
    else
        OWNER=$(id -un)
        superuser=$OWNER
    fi
    echo "$OWNER" >"$dir/owner"
    # The owner may not be allowed into the caller's working directory.
    cd "$dir"

    # Local (socket) connections are trusted: the socket lives in DIR, which
    # only the owner can enter. TCP needs the role's password.
    say "initdb in $dir/data ($bin)"
    as_owner "$bin/initdb" -D "$dir/data" -U "$superuser" --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed"; }

    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        rm -f "$dir/server.log"
        as_owner tee "$dir/data/conf.d.ck" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
max_wal_size = 4GB
checkpoint_timeout = 30min
log_min_messages = warning
EOF
        if ! grep -q "^include_if_exists = 'conf.d.ck'" "$dir/data/postgresql.conf"; then
            echo "include_if_exists = 'conf.d.ck'" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
        fi
        say "starting on 127.0.0.1:$port (attempt $attempt)"
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
            started=1
            break
        fi
        if grep -qi "could not bind\|address already in use" "$dir/server.log" 2>/dev/null; then
            say "port $port was taken; trying another"
            continue
        fi
        tail -n 20 "$dir/server.log" >&2 || true
        die "the server did not start (log: $dir/server.log)"
    done
    [ "$started" -eq 1 ] || die "could not find a free port for the server"
    echo "$port" >"$dir/port"
    # From here on a failure must not leave the server running.
    trap 'if [ -z "${CK_PG_STARTED:-}" ]; then cmd_stop "$dir" || true; fi' EXIT

    # pg_ctl -w returns once the server accepts connections; be sure anyway.
    for _ in $(seq 1 100); do
        if as_owner "$bin/pg_isready" -q -h "$dir" -p "$port" -d postgres; then
            break
        fi
        sleep 0.1
    done
    as_owner "$bin/pg_isready" -q -h "$dir" -p "$port" -d postgres || die "the server is not ready"

    pass=$(random_password)
    # Connect over the socket as the superuser; ignore any PG* settings of
    # the caller's environment.
    [ -x "$bin/psql" ] || die "psql not found in $bin"
    # psql's errors quote the statement: show them without the password.
    if ! out=$(as_owner env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGSERVICE -u PGOPTIONS \
        "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "$superuser" -d postgres \
        -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$pass'" \
        -c "CREATE DATABASE $DB OWNER $ROLE" 2>&1); then
        echo "${out//$pass/***}" | sed -E "s/(PASSWORD ')[^' ]*/\1***/g" >&2
        die "could not create the role and database"
    fi

    url="postgresql://$ROLE:$pass@127.0.0.1:$port/$DB"
    say "ready: postgresql://$ROLE:***@127.0.0.1:$port/$DB"
    CK_PG_STARTED=1
    echo "$url"
}

cmd_stop() {
    local dir=$1 bin
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/data/postmaster.pid" ] || return 0
    if [ -f "$dir/owner" ]; then OWNER=$(cat "$dir/owner"); else OWNER=$(id -un); fi
    bin=$(find_bindir)
    cd "$dir"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    if [ -f "$dir/data/postmaster.pid" ]; then
        # pg_ctl could not stop it (stale pid file or a dead server): make
        # sure nothing of ours keeps running, then forget the pid file.
        local pid
        pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
        case $pid in
            '' | *[!0-9]*) ;;
            *)
                if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/data"; then
                    kill -QUIT "$pid" 2>/dev/null || true
                fi
                ;;
        esac
        rm -f "$dir/data/postmaster.pid"
    fi
    say "stopped the cluster in $dir"
}

[ $# -eq 2 ] || usage
case $1 in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    *) usage ;;
esac
