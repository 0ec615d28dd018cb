#!/usr/bin/env bash
# Three instances of one deployment (coordination = "group") share 12 shards 4/4/4 through the
# Kafka consumer group on the coordination topic; kill -9 of one moves its 4 shards to the other
# two within the session timeout plus a few seconds (6/6), a restarted instance takes 4 back
# (4/4/4) without a shard ever running on two instances at once; at each step the group's
# coordinator (DescribeConsumerGroups) assigns each instance exactly the shards it runs. The
# instances run stand-in shards (crmtool shards: membership only; test 82 runs the engine's).
# SOAK=1: five kill -9 / restart rounds instead of one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_group_lib.sh"
group_cfg "$WORK/cfg"

start_stand_in a "$WORK/cfg"
start_stand_in b "$WORK/cfg"
start_stand_in c "$WORK/cfg"
wait_spread "a b c" "4 4 4" 60
note "12 shards spread 4/4/4 after ${WAITED_MS} ms: a=[$(running_here a)] b=[$(running_here b)] c=[$(running_here c)]"
check_coordinator_view "a b c"
# The coordination topic was created with one partition per shard: an instance configured with
# another shard count is refused, naming both.
"$CRMTOOL" shards -c "$WORK/cfg" 5 >"$WORK/five.log" 2>&1 && fail "an instance with 5 shards joined a 12-shard group"
grep -q "coordination topic $PREFIX.shards has 12 partitions but shards = 5" "$WORK/five.log" ||
    fail "no partition-count error: $(cat "$WORK/five.log")"

rounds=1
[ "${SOAK:-0}" = 1 ] && rounds=5
victims=(b c a b c)
for ((r = 0; r < rounds; r++)); do
    v=${victims[r]}
    others=$(echo a b c | tr ' ' '\n' | grep -v "^$v$" | tr '\n' ' ')
    kill9_member "$v"
    wait_spread "$others" "6 6" $((SESSION_S + 30))
    note "round $((r + 1)): kill -9 $v: its shards run on $others after ${WAITED_MS} ms (session timeout ${SESSION_S} s)"
    [ "$WAITED_MS" -le $(((SESSION_S + 5) * 1000)) ] ||
        fail "shards moved after ${WAITED_MS} ms, more than the session timeout + 5 s"
    # the session runs from the last heartbeat (every 2 s at a 6 s timeout), up to 2 s before the
    # kill; a clean stop moves shards in about 1.5 s (test 81)
    [ "$WAITED_MS" -ge $(((SESSION_S - 3) * 1000)) ] ||
        fail "shards moved after ${WAITED_MS} ms, long before the session timeout: not the expiry moving them"
    check_coordinator_view "$others"
    start_stand_in "$v" "$WORK/cfg"
    wait_spread "a b c" "4 4 4" 60
    note "round $((r + 1)): $v restarted, 4/4/4 again after ${WAITED_MS} ms"
    check_coordinator_view "a b c"
done
check_exclusive
