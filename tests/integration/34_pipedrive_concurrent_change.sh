#!/usr/bin/env bash
# Pipedrive under concurrent change, randomized: after most list pages the simulator changes the
# table being read before the next request (churn): the row served last on that page is updated
# (it moves to the end of the update_time order) or deleted, random rows are updated or deleted,
# rows are created. Several passes with churn (backfill, incremental passes, reconciliations
# whose id listings drift too), then a quiet pass; every incremental table (deals, persons,
# organizations, activities, products, notes, dealflow) and the files list then equal the
# simulator's truth: nothing missing, nothing stale, no deleted record left, and no event
# published twice (exactly-once). Seeds: PD_SEEDS (default 3401 3402); SOAK=1 runs 20 seeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"

SEEDS=${PD_SEEDS:-3401 3402}
[ "${SOAK:-0}" = 1 ] && SEEDS=$(seq 3401 3420)
TABLES=${PD_TABLES_34:-deals persons organizations activities products notes dealflow files}

for seed in $SEEDS; do
    SOURCE_NAME=pd34s${seed}x$(date +%s%N | tail -c 5)
    PREFIX="t$(date +%s%N | tail -c 7)_34_s$seed"
    start_pipedrive --seed "$seed" --param burst_limit=0 --param churn=70 --param churn_ops=2 \
        --param deals=60 --param persons=70 --param organizations=30 --param activities=50 \
        --param products=25 --param notes=90 --param files=40 --param deleted_deals=0 ${PD_SIM_EXTRA:-}
    write_cfg "$WORK/cfg-$seed" exactly-once 'rate_limit = 0;' 'reconcile_interval = "1s";' \
        "tables = { include = [$(printf '"%s",' $TABLES | sed 's/,$//')]; };" \
        'options = { page_size = 4; deal_ids_per_request = 7; };'
    cfg=$WORK/cfg-$seed
    run_once "$cfg" # the backfill, under churn
    for _ in 1 2; do
        sleep 1.1 # the reconciliation interval: each run also re-lists by id, under churn
        run_once "$cfg"
    done
    sim_ctl param '{"churn":"0"}' >/dev/null
    sim_get_churn=$(curl -fsS -X POST -d '{}' "$SIM_URL/_control/churn")
    note "seed $seed churn: $sim_get_churn"
    boundary=$(echo "$sim_get_churn" | grep -o '"boundary_[a-z]*":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s + 0}')
    [ "$boundary" -gt 0 ] || fail "seed $seed: no boundary row was changed between pages"
    sleep 1.1
    run_once "$cfg" # quiet: incremental pass + reconciliation
    for t in $TABLES; do
        compare_table "$cfg" "$t"
        expect_eq "$(summary_field "$cfg" "$t" duplicates)" 0 "seed $seed: $t events published twice"
    done
    { kill -9 "${SIM_PIDS[-1]}" && wait "${SIM_PIDS[-1]}"; } 2>/dev/null || true
done
