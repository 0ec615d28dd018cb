#!/usr/bin/env bash
# Shared producers in at-least-once mode (#20 item 3): four sources on kafka.shards = 1 (one
# producer for all) commit in groups, every data batch of a group before any of its state
# batches. kill -9 in the middle of the backfill: no source's state is ahead of its data (the
# state topic knows no more keys than the topic holds), and after a restart every table equals
# the simulator's truth (nothing lost; a re-sent page is what at-least-once allows).
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 79 --param items=1200 --param users=20 --latency-ms 40
SOURCES="a1 a2 a3 a4"
LOG_LEVEL=debug COMMIT_MAX_EVENTS=40 write_sources_cfg "$WORK/cfg" at-least-once 1 $SOURCES
start_daemon "$WORK/cfg"
wait_for_log 'table=items msg="page 20:' 60
kill -9 "$CRM_PID"
wait "$CRM_PID" 2>/dev/null || true
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state-killed.txt" 2>&1 || fail "crmstream state: $(cat "$WORK/state-killed.txt")"
before=0
for s in $SOURCES; do
    topic_keys=$(summary_field "$WORK/cfg" "$s.items" keys)
    state_keys=$(awk -v t="$s/items" '$1 == t { print $4 }' "$WORK/state-killed.txt")
    state_keys=${state_keys:-0}
    [ "$state_keys" -le "$topic_keys" ] ||
        fail "$s.items: the state knows $state_keys keys, the topic holds only $topic_keys"
    note "$s.items after the kill: $topic_keys keys in the topic, $state_keys in the state"
    before=$((before + topic_keys))
done
[ "$before" -gt 0 ] && [ "$before" -lt 4800 ] || fail "the kill did not land mid-backfill ($before keys of 4800)"
sed -i 's/^log_level = "debug"/log_level = "info"/' "$WORK/cfg"
run_once "$WORK/cfg"
grep -q 'source=shard-0 ' "$WORK/run.log" && grep 'source=shard-0 ' "$WORK/run.log" | grep -q 'level=error' &&
    fail "the shard producer failed: $(grep 'source=shard-0 ' "$WORK/run.log" | head -n 3)"
truth items >"$WORK/truth-items.json"
truth users >"$WORK/truth-users.json"
for s in $SOURCES; do
    for t in items users; do
        "$CRMTOOL" compare -c "$WORK/cfg" "$s.$t" "$WORK/truth-$t.json" id >"$WORK/compare-$s-$t.txt" 2>&1 ||
            fail "topic $s.$t differs from the simulator: $(head -c 2000 "$WORK/compare-$s-$t.txt")"
    done
    expect_eq "$(summary_field "$WORK/cfg" "$s.items" keys)" 1200 "$s.items keys (nothing lost)"
done
