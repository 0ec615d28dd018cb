#!/usr/bin/env bash
# Replay (#18), exactly once into the store: a large replay (100k items, then deletes, updates and
# creates in a second sync) is killed with SIGKILL at random points (as soon as its stored offset
# passes a random 2-85% of what is left), 3 times into SQLite and 3 times into PostgreSQL; after
# each kill the table equals a prefix of its topic at the offsets stored in the same database (no
# duplicate rows, no lost deletes), and a final replay makes both stores equal the simulator's
# truth. Each restart uses a new consumer group: only the offsets in the database decide where a
# replay starts. SEED=N reproduces the kill targets.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/replay_env.sh"
SEED=${SEED:-$((RANDOM % 10000))}
RANDOM=$SEED
note "seed $SEED"
start_pg
start_sim testcrm --seed 71 --param items=100000 --param max_limit=1000
write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 1000; };'
run_once "$WORK/cfg"
sim_ctl mutate '{"table":"items","op":"delete","count":1500}' >/dev/null
sim_ctl mutate '{"table":"items","op":"update","count":2000}' >/dev/null
sim_ctl mutate '{"table":"items","op":"create","count":500}' >/dev/null
sim_ctl mutate '{"table":"users","op":"delete","count":3}' >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
TOPIC="$PREFIX.acme.items"
kcat -b "$BOOTSTRAP" -X isolation.level=read_committed -C -t "$TOPIC" -e -q -f '%p %o %S %k\n' >"$WORK/items.listing"
total=$(wc -l <"$WORK/items.listing")
note "items topic: $total records"

for url in "$SQLITE_URL" "$PG_URL"; do
    store=${url%%:*}
    midway=0
    for i in 1 2 3; do
        log="$WORK/replay-$store-$i.log"
        "$CRMSTREAM" replay -c "$WORK/cfg" --to "$url" --group "kill-$store-$i-$PREFIX" --batch 2000 \
            >"$log" 2>&1 &
        pid=$!
        CRM_PIDS+=($pid)
        # a random point: as soon as the stored offset passes a random 2-85% of what is left
        at=$(sql "$url" "SELECT next_offset FROM crmstream_offsets WHERE topic = '$TOPIC'" 2>/dev/null || true)
        at=${at:-0}
        target=$((at + (total - at) * (2 + RANDOM % 84) / 100))
        for _ in $(seq 1500); do
            at=$(sql "$url" "SELECT next_offset FROM crmstream_offsets WHERE topic = '$TOPIC'" 2>/dev/null || true)
            [ "${at:-0}" -ge "$target" ] && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.02
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        out=$(python3 "$ROOT/tests/integration/replay_prefix.py" "$url" acme_items "$TOPIC" "$WORK/items.listing" 2>&1) ||
            fail "after kill $i ($store, at offset ${at:-0} >= $target): $out"
        note "kill -9 #$i at stored offset ${at:-0} (target $target) [$store]: $out"
        case "$out" in *"(midway)"*) midway=$((midway + 1)) ;; esac
    done
    [ "$midway" -ge 1 ] || fail "no kill landed in the middle of the replay into $store (seed $SEED)"
    replay_once "$WORK/cfg" "$url" --group "final-$store-$PREFIX"
    replay_compare "$url" acme_items items id
    replay_compare "$url" acme_users users id
done
