#!/usr/bin/env bash
# Upgrading from per-source transactional ids (#20 item 3). Versions before shards committed with
# transactional.id crmstream-<prefix>-<source>. An "old instance" (crmtool txn) holds a
# transaction of that id open, with an event and a bookmark far ahead in it, over state without
# the migration records. The new version fences the old id on start (the old transaction is
# aborted: neither its event nor its bookmark is ever seen, and its commit fails), picks the state
# up (nothing republished: only the 5 updates made since), records the migration so that the next
# start fences nothing, and runs on its shard's id. Then kafka.shards changes from 4 to 3: the
# start fences the old count's shards it does not run (one of them holding an open transaction
# of the "old count" instance); nothing is republished either.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 78 --param items=200 --param users=5
write_cfg "$WORK/cfg" exactly-once 'tables = { include = ["items"]; };' 'options = { page_size = 50; };'
# Shard ids are named by kafka.deployment, the per-source ids of earlier versions by topic_prefix:
# a deployment name of its own shows each is fenced under its own name.
DEPLOY=${PREFIX}_dep
sed -i "s/transaction_timeout = \"20s\";/transaction_timeout = \"20s\"; deployment = \"$DEPLOY\";/" "$WORK/cfg"
grep -q "deployment = \"$DEPLOY\"" "$WORK/cfg" || fail "no deployment in the config"
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 200 "items messages of the first run"

# hold_txn NAME ID MESSAGES... — an instance with transaction ID open; sets HOLD_PID
hold_txn() {
    local name=$1 id=$2
    shift 2
    rm -f "$WORK/go-$name"
    "$CRMTOOL" txn -c "$WORK/cfg" "$id" --hold "$WORK/go-$name" "$@" >"$WORK/$name.txt" 2>&1 &
    HOLD_PID=$!
    CRM_PIDS+=($HOLD_PID)
    for _ in $(seq 300); do
        grep -q '^open' "$WORK/$name.txt" && return 0
        kill -0 "$HOLD_PID" 2>/dev/null || fail "$name: $(cat "$WORK/$name.txt")"
        sleep 0.1
    done
    fail "$name never opened its transaction: $(cat "$WORK/$name.txt")"
}
# release_txn NAME PID — the held transaction tries to commit: it must have been fenced
release_txn() {
    touch "$WORK/go-$1"
    wait_for_exit "$2" 40
    expect_eq "$EXIT_CODE" 1 "exit code of $1's commit after the new start"
    grep -q '^commit failed' "$WORK/$1.txt" || fail "$1 committed: $(cat "$WORK/$1.txt")"
    note "$1: $(cat "$WORK/$1.txt" | tail -n 1)"
}
fences() { grep -c 'msg="fenced [0-9]* transactional ids of an earlier producer layout' "$WORK/run.log" || true; }

# The state as a version before shards left it: no mg/ and sl/ records.
"$CRMTOOL" txn -c "$WORK/cfg" "crmstream-$PREFIX-tool" del "$PREFIX.state" mg/acme \
    del "$PREFIX.state" "sl/$DEPLOY" >"$WORK/tool.txt" 2>&1 || fail "crmtool txn: $(cat "$WORK/tool.txt")"
hold_txn old "crmstream-$PREFIX-acme" put "$PREFIX.acme.items" itm_999999 not-avro \
    put "$PREFIX.state" bm/acme/items '{"v":1,"bookmark":"2099-01-01T00:00:00.000Z","paging":{},"passes":9}'
old=$HOLD_PID
sim_ctl mutate '{"table":"items","op":"update","ids":["itm_000003","itm_000010","itm_000050","itm_000100","itm_000150"]}' >/dev/null
fences0=$(fences)
run_once "$WORK/cfg"
expect_eq "$(($(fences) - fences0))" 1 "starts that fenced earlier ids"
grep -q 'msg="fenced 1 transactional ids' "$WORK/run.log" || fail "not the one per-source id fenced: $(grep 'msg="fenced' "$WORK/run.log")"
release_txn old "$old"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 205 "items messages after the upgrade (200 + the 5 updates)"
expect_eq "$(summary_field "$WORK/cfg" items ops.u)" 5 "u events after the upgrade"
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates after the upgrade"
compare_table "$WORK/cfg" items
expect_eq "$("$CRMTOOL" statekeys -c "$WORK/cfg" mg/acme)" 1 "migration record of acme"

# Recorded: the next start fences nothing.
run_once "$WORK/cfg"
expect_eq "$(($(fences) - fences0))" 1 "starts that fenced earlier ids, after one more run"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 205 "items messages after one more run"

# kafka.shards 4 -> 3: acme moves from shard 3 to shard 1; an instance still on 4 shards holds a
# transaction of shard-3 open.
hold_txn shard3 "crmstream-$DEPLOY-shard-3" put "$PREFIX.state" bm/acme/items \
    '{"v":1,"bookmark":"2099-01-01T00:00:00.000Z","paging":{},"passes":9}'
shard3=$HOLD_PID
sed -i 's/transaction_timeout = "20s";/transaction_timeout = "20s"; shards = 3;/' "$WORK/cfg"
sim_ctl mutate '{"table":"items","op":"update","ids":["itm_000004","itm_000011","itm_000051"]}' >/dev/null
run_once "$WORK/cfg"
grep -q 'msg="fenced 3 transactional ids' "$WORK/run.log" || fail "shards 0, 2 and 3 of the old count not fenced: $(grep 'msg="fenced' "$WORK/run.log")"
release_txn shard3 "$shard3"
expect_eq "$(summary_field "$WORK/cfg" items messages)" 208 "items messages after the shard count changed (+ 3 updates)"
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates after the shard count changed"
compare_table "$WORK/cfg" items
n=$(fences)
run_once "$WORK/cfg"
expect_eq "$(fences)" "$n" "fences of a start with the recorded shard count"
