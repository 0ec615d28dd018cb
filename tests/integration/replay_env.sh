# replay_env.sh — shared setup for the replay tests (7N_replay_*.sh), sourced after lib.sh: a
# throwaway PostgreSQL (tests/pg/pg.sh) on KAFKA_PORT+2, stopped when the test ends, and helpers
# to replay a config into a store and compare a replayed table with a simulator's truth.
PG=$ROOT/tests/pg/pg.sh
export PG_PORT=${PG_PORT:-$((${KAFKA_PORT:-19392} + 2))}
export PG_DIR=$ROOT/.cache/pg-run/$TEST_NAME-$PG_PORT
export PG_PASSWORD=${PG_PASSWORD:-crmstream-test}
export PGPASSWORD=$PG_PASSWORD
SQLITE_URL="sqlite:$WORK/replay.db"

replay_cleanup() {
    local st=$?
    set +e # (exit 1) below must not end the trap before cleanup ran
    "$PG" stop >/dev/null 2>&1
    [ "$st" = 0 ] && rm -rf "$PG_DIR" # kept when the test failed, for its server.log
    (exit "$st")
    cleanup
}

# start_pg — sets PG_URL (no password in it).
start_pg() {
    PG_URL=$("$PG" start 2>"$WORK/pg.err") || fail "PostgreSQL did not start: $(cat "$WORK/pg.err")"
    trap replay_cleanup EXIT
}

# replay_once CFG URL [args...] — crmstream replay --once, which must exit 0.
replay_once() {
    local cfg=$1 url=$2 rc=0
    shift 2
    "$CRMSTREAM" replay -c "$cfg" --to "$url" --once "$@" >>"$WORK/replay.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || fail "crmstream replay --once into $url exited $rc; log tail:
$(tail -n 20 "$WORK/replay.log")"
}

# replay_compare URL SQL_TABLE TRUTH_TABLE [PK [COLUMN=JSON@KEY...]] — the replayed table
# equals the simulator's truth (tests/integration/replay_check.py).
replay_compare() {
    local url=$1 sql=$2 table=$3 pk=${4:-id}
    shift 4 || shift $#
    truth "$table" >"$WORK/truth-$table.json"
    python3 "$ROOT/tests/integration/replay_check.py" "$url" "$sql" "$WORK/truth-$table.json" "$pk" "$@" \
        >"$WORK/replay-compare.txt" 2>&1 || fail "$(cat "$WORK/replay-compare.txt")"
    note "$(cat "$WORK/replay-compare.txt") [${url%%:*}]"
}

# sql URL QUERY — one value from the store.
sql() {
    case "$1" in
    sqlite:*) sqlite3 "${1#sqlite:}" "$2" ;;
    *) psql "$1" -Atq -c "$2" ;;
    esac
}
