#!/usr/bin/env bash
# Pipedrive deletes out of the box: the daemon runs with producer.cfg.example's delete-related
# settings (reconcile_interval not set: the connector default, 2 h), except that the
# reconciliation interval is shortened to 3 s through that same setting so the test is quick.
# Two records (one of the two pipelines) of every table that can lose records are deleted (deals, persons, organizations,
# activities, products, notes, files, deal products, stages, pipelines, filters, activity types,
# users); every delete lands (a d event and a tombstone) within the documented delay at these
# settings: one reconciliation interval + one poll interval + a pass (here 3 s + 1 s + slack).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
DELETABLE="deals persons organizations activities products notes files deal_products stages
pipelines filters activity_types users"
grep -q '^ *# reconcile_interval' "$ROOT/producer.cfg.example" ||
    fail "producer.cfg.example sets reconcile_interval: this test assumes the default"
start_pipedrive --seed 36 --param burst_limit=0 --param deals=30 --param persons=25 \
    --param organizations=12 --param activities=20 --param products=10 --param notes=25 \
    --param files=10 --param deleted_deals=0
POLL=1s write_cfg "$WORK/cfg" exactly-once 'rate_limit = 0;' 'reconcile_interval = "3s";' \
    'options = { page_size = 10; };'
run_once "$WORK/cfg" # the backfill
declare -A before
for t in $DELETABLE; do before[$t]=$(summary_field "$WORK/cfg" "$t" keys); done

start_daemon "$WORK/cfg"
sleep 4 # past the first reconciliation of the daemon: the deletes below find it idle
for t in $DELETABLE; do
    n=2
    [ "$t" = pipelines ] && n=1 # 2 seeded: a listing that comes back empty deletes nothing
    sim_ctl mutate "{\"table\":\"$t\",\"op\":\"delete\",\"count\":$n}" >/dev/null
done
deleted_at=$(date +%s%N)
declare -A want
for t in $DELETABLE; do
    want[$t]=$((before[$t] - $(truth "$t" | grep -o '"count":[0-9]*' | cut -d: -f2)))
    [ "${want[$t]}" -ge 1 ] || fail "$t: the simulator deleted nothing"
done

LIMIT_S=20 # 3 s reconciliation + 1 s poll + passes, + about 6 s for one round of these checks
pending=$DELETABLE
while [ -n "$pending" ] && [ $((($(date +%s%N) - deleted_at) / 1000000000)) -lt "$LIMIT_S" ]; do
    left=""
    for t in $pending; do
        [ "$(summary_field "$WORK/cfg" "$t" ops.d)" = "${want[$t]}" ] || left="$left $t"
    done
    pending=$left
done
elapsed_ms=$((($(date +%s%N) - deleted_at) / 1000000))
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
[ -z "$pending" ] || fail "deletes of$pending did not land within ${LIMIT_S}s"
note "every delete landed ${elapsed_ms} ms after the deletes (limit ${LIMIT_S}s)"
for t in $DELETABLE; do
    expect_eq "$(summary_field "$WORK/cfg" "$t" tombstones)" "${want[$t]}" "$t tombstones"
    compare_table "$WORK/cfg" "$t"
done
