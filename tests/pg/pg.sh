#!/usr/bin/env bash
# Why this file exists: the replay tests need a real PostgreSQL. This starts a throwaway cluster
# from Debian's postgresql package on a loopback port, as the `postgres` user (initdb refuses
# root), like tests/kafka/broker.sh does for Kafka.
#
# Usage: tests/pg/pg.sh start|stop|status|url
#   start   initialize a FRESH cluster in PG_DIR, start it, create the database "crmstream"
#           with password authentication for user "crmstream", print its URL (without the
#           password; the password is $PG_PASSWORD, exported to the tests as PGPASSWORD)
#   stop    fast shutdown (no-op if stopped)
#   status  exit 0 if running
#   url     print the URL
# Environment:
#   PG_PORT      port (default 15432)
#   PG_DIR       data/log dir (default <repo>/.cache/pg-run/$PG_PORT)
#   PG_PASSWORD  the crmstream user's password (default crmstream-test)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
PG_PORT=${PG_PORT:-15432}
PG_DIR=${PG_DIR:-$REPO_ROOT/.cache/pg-run/$PG_PORT}
PG_PASSWORD=${PG_PASSWORD:-crmstream-test}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() { echo "postgresql://crmstream@127.0.0.1:$PG_PORT/crmstream"; }

running() { [ -f "$PG_DIR/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; }

case "${1:-}" in
start)
    running && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
    pwfile="$PG_DIR/pw"
    echo "$PG_PASSWORD" >"$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
        { echo "pg.sh: initdb failed: $(tail -n 5 "$PG_DIR/initdb.log")" >&2; exit 1; }
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR -c fsync=off" \
        start >/dev/null ||
        { echo "pg.sh: start failed: $(tail -n 5 "$PG_DIR/server.log")" >&2; exit 1; }
    as_pg "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE crmstream LOGIN PASSWORD '$PG_PASSWORD'" \
        -c "CREATE DATABASE crmstream OWNER crmstream" >/dev/null
    rm -f "$pwfile"
    echo "pg.sh[$PG_PORT]: ready" >&2
    url
    ;;
stop)
    if running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null; fi
    ;;
status) running ;;
url) url ;;
*)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
