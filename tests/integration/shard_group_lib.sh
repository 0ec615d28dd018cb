# shard_group_lib.sh — shared setup for the shard-group tests (8N_shard_group_*.sh): sourced after
# lib.sh. Instances are named (a, b, c...); each logs to $WORK/<name>.log, and each start gets a
# new log so that a restarted instance's lines follow its predecessor's. Kills with -9 are
# recorded in $WORK/events for shard_check.py.
SHARDS=${SHARDS:-12}
SESSION_S=${SESSION_S:-6} # the broker's group.min.session.timeout.ms is 6 s
declare -A MEMBER_PID=()
declare -A MEMBER_LOG=()
MEMBER_LOGS=()

now_ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
now_ms() { date +%s%3N; }

# group_cfg FILE — a config of this test's prefix with coordination = "group".
group_cfg() {
    SIM_URL=${SIM_URL:-http://127.0.0.1:9} write_cfg "$1" exactly-once
    sed -i "s|^  transaction_timeout = \"20s\"; };|  transaction_timeout = \"20s\"; coordination = \"group\"; group_session_timeout = \"${SESSION_S}s\"; };|" "$1"
    grep -q 'coordination = "group"' "$1" || fail "group_cfg: could not set coordination in $1"
}

# start_member NAME CMD... — runs CMD in the background as instance NAME.
start_member() {
    local name=$1 n=${#MEMBER_LOGS[@]}
    shift
    MEMBER_LOG[$name]=$WORK/$name-$n.log
    MEMBER_LOGS+=("$WORK/$name-$n.log")
    "$@" >"${MEMBER_LOG[$name]}" 2>&1 &
    MEMBER_PID[$name]=$!
    CRM_PIDS+=($!)
}

# start_stand_in NAME CFG — an instance with stand-in shards (crmtool shards).
start_stand_in() {
    start_member "$1" "$CRMTOOL" shards -c "$2" "$SHARDS"
}

# kill9_member NAME
kill9_member() {
    kill -9 "${MEMBER_PID[$1]}"
    echo "$(now_ts) killed ${MEMBER_LOG[$1]##*/}" | sed 's/\.log$//' >>"$WORK/events"
    { wait "${MEMBER_PID[$1]}"; } 2>/dev/null || true
    unset "MEMBER_PID[$1]"
}

# stop_member NAME — SIGTERM, then it must exit 0 within 60 s.
stop_member() {
    kill -TERM "${MEMBER_PID[$1]}"
    wait_for_exit "${MEMBER_PID[$1]}" 60
    [ "$EXIT_CODE" = 0 ] || fail "instance $1 exited $EXIT_CODE after SIGTERM; log tail:
$(tail -n 20 "${MEMBER_LOG[$1]}")"
    unset "MEMBER_PID[$1]"
}

# running_here NAME — the shards instance NAME runs now ("0,3,6,9" or "none").
running_here() {
    grep -o 'running here: [0-9,a-z]*' "${MEMBER_LOG[$1]}" | tail -n 1 | cut -d' ' -f3
}

count_list() { # "0,3,6" -> 3, "none" or "" -> 0
    case "$1" in none | "") echo 0 ;; *) echo "$1" | tr ',' '\n' | wc -l ;; esac
}

# spread_ok "a b c" "4 4 4" — 0 when each named instance runs the wanted count and together they
# run every shard exactly once.
spread_ok() {
    local names=($1) want=($2) i all=""
    for i in "${!names[@]}"; do
        local r
        r=$(running_here "${names[i]}")
        [ "$(count_list "$r")" = "${want[i]}" ] || return 1
        [ "$r" = none ] || all="$all,$r"
    done
    [ "$(echo "${all#,}" | tr ',' '\n' | sort -n | uniq | wc -l)" = "$SHARDS" ] &&
        [ "$(echo "${all#,}" | tr ',' '\n' | wc -l)" = "$SHARDS" ]
}

# wait_spread "a b c" "4 4 4" SECONDS — sets WAITED_MS; fails with each instance's shards.
wait_spread() {
    local start
    start=$(now_ms)
    for _ in $(seq $(($3 * 10))); do
        if spread_ok "$1" "$2"; then
            WAITED_MS=$(($(now_ms) - start))
            return 0
        fi
        sleep 0.1
    done
    local n report=""
    for n in $1; do report="$report $n=[$(running_here "$n")]"; done
    fail "shards never spread $2 over $1 within $3 s:$report"
}

# check_exclusive — no shard ran on two instances at once, over every log so far.
check_exclusive() {
    python3 "$ROOT/tests/integration/shard_check.py" "$WORK/events" "${MEMBER_LOGS[@]}" >"$WORK/shard_check.txt" ||
        fail "a shard ran on two instances at once:
$(cat "$WORK/shard_check.txt")"
    note "$(cat "$WORK/shard_check.txt")"
}

sorted_list() { # "6,0,3" -> "0,3,6"
    echo "$1" | tr ',' '\n' | sort -n | paste -sd, -
}

# check_coordinator_view "a b c" — the group's coordinator (DescribeConsumerGroups) has exactly
# these instances as members, each assigned the shards it says it runs.
check_coordinator_view() {
    local n line want got members=0
    "$CRMTOOL" shards -c "$WORK/cfg" members >"$WORK/members.txt" 2>&1 ||
        fail "crmtool shards members: $(cat "$WORK/members.txt")"
    for n in $1; do
        members=$((members + 1))
        line=$(grep -- "-${MEMBER_PID[$n]} " "$WORK/members.txt") ||
            fail "instance $n (pid ${MEMBER_PID[$n]}) is no member of the group:
$(cat "$WORK/members.txt")"
        got=$(sorted_list "${line##* }")
        want=$(sorted_list "$(running_here "$n")")
        [ "$got" = "$want" ] || fail "the coordinator assigned $n shards $got, it runs $want"
    done
    [ "$(wc -l <"$WORK/members.txt")" = "$members" ] ||
        fail "the group has other members than $1:
$(cat "$WORK/members.txt")"
    note "the coordinator's view agrees: $(tr '\n' ' ' <"$WORK/members.txt" | sed 's/crmstream-[^ ]*-\([0-9]* \)/pid \1/g')"
}
