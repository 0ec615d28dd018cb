#!/usr/bin/env bash
# A rolling restart of three instances sharing 12 shards, the way the Kubernetes Deployment does
# it (deploy/kubernetes: maxSurge 1, maxUnavailable 0): for each instance a new one starts
# (3/3/3/3), then the old one gets SIGTERM, hands its shards over and exits 0 (4/4/4). A clean
# stop moves shards at once, not after the session timeout; each shard's stop takes 0.5 s
# (stand-in shards, CRMTOOL_SHARD_MS) and no shard ever runs on two instances at once.
# SOAK=1: three rolling restarts instead of one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_group_lib.sh"
export CRMTOOL_SHARD_MS=500
group_cfg "$WORK/cfg"

start_stand_in a1 "$WORK/cfg"
start_stand_in b1 "$WORK/cfg"
start_stand_in c1 "$WORK/cfg"
wait_spread "a1 b1 c1" "4 4 4" 60
note "4/4/4 after ${WAITED_MS} ms: a1=[$(running_here a1)] b1=[$(running_here b1)] c1=[$(running_here c1)]"

rounds=1
[ "${SOAK:-0}" = 1 ] && rounds=3
live=(a1 b1 c1)
for ((r = 0; r < rounds; r++)); do
    for i in 0 1 2; do
        old=${live[i]}
        new=${old:0:1}$((${old:1} + 1))
        start_stand_in "$new" "$WORK/cfg"
        rest="${live[*]}"
        wait_spread "$rest $new" "3 3 3 3" 60
        note "$new started: 3/3/3/3 after ${WAITED_MS} ms"
        stop_member "$old"
        live[i]=$new
        wait_spread "${live[*]}" "4 4 4" 60
        note "$old stopped (SIGTERM, exit 0): 4/4/4 over ${live[*]} after ${WAITED_MS} ms"
        [ "$WAITED_MS" -lt $((SESSION_S * 1000)) ] ||
            fail "a clean stop's shards moved only after ${WAITED_MS} ms (session timeout ${SESSION_S} s)"
        grep -q "shard group crmstream-$PREFIX: left" "${MEMBER_LOG[$old]}" 2>/dev/null ||
            grep -q "shard group crmstream-$PREFIX: left" "$WORK/$old"-*.log ||
            fail "$old did not leave the group"
    done
done
check_coordinator_view "${live[*]}"
check_exclusive
