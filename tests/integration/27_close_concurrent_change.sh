#!/usr/bin/env bash
# Close under concurrent change: while passes page (small pages, so there are many boundaries),
# the simulator updates or deletes the record served LAST on each page of leads, contacts,
# opportunities, tasks and activities, and makes random creates/updates/deletes after every page
# (event-log pages too); the search cursor counts objects served (an offset, the least favourable
# reading of Close's cursor). After three such passes and one quiet pass, every topic equals the
# simulator's truth (0 missing, 0 stale, 0 deleted-but-present) and no event was published twice
# (exactly-once). Seeds: SEEDS (default "27 127"); SOAK=1 runs 12 seeds.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
SEEDS=${SEEDS:-27 127}
[ "${SOAK:-0}" = 1 ] && SEEDS="27 127 227 327 427 527 627 727 827 927 1027 1127"
TABLES="leads contacts opportunities tasks activities event_log"
base_name=$SOURCE_NAME
for seed in $SEEDS; do
    SOURCE_NAME=$base_name$seed
    PREFIX=${PREFIX%_s*}_s$seed
    start_close --seed "$seed" --param leads=120 --param activities=700 \
        --param boundary_op=mix --param drift_ops=1 --param search_cursor=offset
    close_cfg "$WORK/cfg$seed" exactly-once 'search_page_size = 15; opportunity_page_size = 12;
        task_page_size = 12; activity_page_size = 25; event_page_size = 20;' 'rate_limit = 0;' \
        "$(close_tables $TABLES)"
    for _ in 1 2 3; do run_once "$WORK/cfg$seed"; done
    sim_ctl param '{"boundary_op":"none","drift_ops":"0"}' >/dev/null
    mutations=$(sim_get stats | tr -d '\n' | grep -o '"requests":[0-9]*' | head -n 1 | cut -d: -f2)
    run_once "$WORK/cfg$seed"
    compare_all "$WORK/cfg$seed" $CLOSE_MAIN_TABLES
    for t in $CLOSE_MAIN_TABLES; do
        expect_eq "$(summary_field "$WORK/cfg$seed" "$t" duplicates)" 0 "seed $seed: $t events published twice"
    done
    note "seed $seed: $mutations API requests while drifting"
    { kill -9 "${SIM_PIDS[-1]}" && wait "${SIM_PIDS[-1]}"; } 2>/dev/null || true
done
