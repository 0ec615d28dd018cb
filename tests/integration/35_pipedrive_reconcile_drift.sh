#!/usr/bin/env bash
# Pipedrive reconciliation while its listings drift: after most pages of every listing sorted by
# id (the reconciliation passes of persons, organizations, activities, products and notes, and
# the files list), the simulator deletes the row served last or a random row before the next
# request, so later rows shift towards positions already read (v2 cursors are positions here,
# cursor=offset; v1 lists page by offset). Deleted records stay readable by id and in ids-filtered
# lists (deleted_in_ids), marked deleted. Then: no live record was deleted (every topic equals
# the truth, and the deletes published are exactly the records that went away), and every
# deleted record was deleted.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
TABLES="notes files persons organizations activities products"
start_pipedrive --seed 35 --param burst_limit=0 --param cursor=offset --param deleted_in_ids=1 \
    --param persons=60 --param organizations=40 --param activities=50 --param products=30 \
    --param notes=70 --param files=40
write_cfg "$WORK/cfg" exactly-once 'rate_limit = 0;' 'reconcile_interval = "1s";' \
    "tables = { include = [$(printf '"%s",' $TABLES | sed 's/,$//')]; };" \
    'options = { page_size = 4; };'
run_once "$WORK/cfg"
declare -A before
for t in $TABLES; do
    before[$t]=$(summary_field "$WORK/cfg" "$t" keys)
    [ "${before[$t]}" -gt 0 ] || fail "$t: nothing published by the backfill"
done

# Deletes between the pages of the id listings only (no updates, no creates).
sim_ctl param '{"churn":"35","churn_ops":"1","churn_on":"id","churn_kinds":"delete"}' >/dev/null
sleep 1.1
run_once "$WORK/cfg"
sleep 1.1
run_once "$WORK/cfg"
sim_ctl param '{"churn":"0"}' >/dev/null
churn=$(sim_ctl churn '{}')
note "churn: $churn"
boundary=$(echo "$churn" | grep -o '"boundary_deletes":[0-9]*' | cut -d: -f2)
[ "${boundary:-0}" -gt 0 ] || fail "no row served last was deleted between pages"
sleep 1.1
run_once "$WORK/cfg" # quiet: the last deletes are found, nothing else changes

for t in $TABLES; do
    compare_table "$WORK/cfg" "$t"
    now=$(truth "$t" | grep -o '"count":[0-9]*' | cut -d: -f2)
    expect_eq "$(summary_field "$WORK/cfg" "$t" ops.d)" $((before[$t] - now)) \
        "$t deletes published (= records that went away, none alive)"
    expect_eq "$(summary_field "$WORK/cfg" "$t" duplicates)" 0 "$t events published twice"
done
