#!/usr/bin/env bash
# Three crmstream instances share 12 shards of 6 sources (one testcrm simulator behind all of
# them, so every source's topics must equal the same truth): the shards spread 4/4/4; kill -9 of
# one moves its shards to the other two within the session timeout plus a few seconds plus their
# start (fencing, state restore); a rolling restart of all three (the Deployment's way: a new
# instance first, then SIGTERM of an old one); the simulator's records change throughout. At the
# end every source's topics equal the simulator's truth with 0 duplicates under read_committed,
# and no shard ever ran on two instances at once. SOAK=1: three kill rounds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/shard_group_lib.sh"
N_SOURCES=6
start_sim testcrm --seed 82 --param items=200 --param users=20 --latency-ms 20
POLL=2s group_cfg "$WORK/cfg"
# group_cfg wrote one source (acme); add s01..s12 on the same simulator, and the shard count
sed -i "s|coordination = \"group\";|coordination = \"group\"; shards = $SHARDS;|" "$WORK/cfg"
sed -i '/^sources = (/,$d' "$WORK/cfg"
{
    echo "sources = ("
    for i in $(seq -w 1 $N_SOURCES); do
        echo "  { type = \"testcrm\"; name = \"s$i\"; base_url = \"$SIM_URL\"; poll_interval = \"2s\";"
        echo "    lookback = { items = \"3650d\"; }; }$([ "$i" = $N_SOURCES ] || echo ,)"
    done
    echo ");"
} >>"$WORK/cfg"

MUTATIONS=0
mutate_some() { # an update and two creates of items, a user update (ids 10, 13, 16...: seed 82 has them)
    MUTATIONS=$((MUTATIONS + 1))
    sim_ctl mutate "{\"table\":\"items\",\"op\":\"update\",\"id\":\"itm_0000$((7 + 3 * MUTATIONS))\"}" >/dev/null
    sim_ctl mutate '{"table":"items","op":"create","count":2}' >/dev/null
    sim_ctl mutate "{\"table\":\"users\",\"op\":\"update\",\"id\":$((1 + MUTATIONS % 20))}" >/dev/null
}

start_member a "$CRMSTREAM" run -c "$WORK/cfg"
start_member b "$CRMSTREAM" run -c "$WORK/cfg"
start_member c "$CRMSTREAM" run -c "$WORK/cfg"
wait_spread "a b c" "4 4 4" 90
note "4/4/4 after ${WAITED_MS} ms: a=[$(running_here a)] b=[$(running_here b)] c=[$(running_here c)]"
check_coordinator_view "a b c"
mutate_some

rounds=1
[ "${SOAK:-0}" = 1 ] && rounds=3
victims=(b c a)
for ((r = 0; r < rounds; r++)); do
    v=${victims[r]}
    others=$(echo a b c | tr ' ' '\n' | grep -v "^$v$" | tr '\n' ' ')
    sleep 3 # mid-pass: some transactions open
    kill9_member "$v"
    mutate_some
    wait_spread "$others" "6 6" $((SESSION_S + 60))
    note "kill -9 $v: its shards run on $others after ${WAITED_MS} ms (session timeout ${SESSION_S} s)"
    [ "$WAITED_MS" -le $(((SESSION_S + 20) * 1000)) ] ||
        fail "shards moved after ${WAITED_MS} ms, more than the session timeout + 20 s"
    start_member "$v" "$CRMSTREAM" run -c "$WORK/cfg"
    wait_spread "a b c" "4 4 4" 90
    mutate_some
done

# rolling restart: a new instance joins (3/3/3/3), then the old one stops
live=(a b c)
for i in 0 1 2; do
    old=${live[i]}
    new=${old}2
    start_member "$new" "$CRMSTREAM" run -c "$WORK/cfg"
    wait_spread "${live[*]} $new" "3 3 3 3" 90
    stop_member "$old"
    live[i]=$new
    wait_spread "${live[*]}" "4 4 4" 90
    note "rolling: $old -> $new, 4/4/4 after ${WAITED_MS} ms"
    mutate_some
done
check_coordinator_view "${live[*]}"

# let every source catch up with the last changes, then compare and stop
sleep 8
for n in "${live[@]}"; do stop_member "$n"; done
truth items >"$WORK/truth-items.json"
truth users >"$WORK/truth-users.json"
for i in $(seq -w 1 $N_SOURCES); do
    for t in items users; do
        "$CRMTOOL" compare -c "$WORK/cfg" "s$i.$t" "$WORK/truth-$t.json" id >"$WORK/compare-s$i-$t.txt" 2>&1 ||
            fail "topic s$i.$t differs from the simulator:
$(cat "$WORK/compare-s$i-$t.txt")"
    done
    expect_eq "$(summary_field "$WORK/cfg" "s$i.items" duplicates)" 0 "s$i items published twice"
    expect_eq "$(summary_field "$WORK/cfg" "s$i.users" duplicates)" 0 "s$i users published twice"
done
check_exclusive
