#!/usr/bin/env bash
# Pipedrive backfill: all 19 tables land exactly the simulator's truth with small pages (so
# same-second update_time ties straddle page boundaries); deleted deals within 30 days are not
# published as live records, purged ones never appear; a second run publishes nothing; custom
# fields survive (v2 custom_fields as JSON, unknown keys in _unmapped); no /v1/recents, no
# per-deal products requests.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
start_pipedrive --seed 30 --param burst_limit=0 --param deals=120 --param persons=60
write_cfg "$WORK/cfg" exactly-once 'rate_limit = 0;' 'options = { page_size = 7; };'

run_once "$WORK/cfg"
compare_all "$WORK/cfg"
deals=$(truth deals | grep -o '"count":[0-9]*' | cut -d: -f2)
expect_eq "$(summary_field "$WORK/cfg" deals messages)" "$deals" "deal messages after backfill"
expect_eq "$(summary_field "$WORK/cfg" deals ops.d)" 0 "deal deletes on a first sync"
expect_eq "$(summary_field "$WORK/cfg" deals duplicates)" 0 "deals published twice"
[ "$(stat_path /v1/recents)" = 0 ] || fail "the connector used /v1/recents"
[ "$(stat_path /api/v2/deals/products)" -gt 0 ] || fail "the batch deal-products endpoint was not used"
per_deal=$(curl -fsS "$SIM_URL/_control/stats" | { grep -o '"/api/v2/deals/[0-9]*/products"' || true; } | wc -l)
expect_eq "$per_deal" 0 "per-deal products requests"

msgs=$(summary_field "$WORK/cfg" persons messages)
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" persons messages)" "$msgs" "persons messages after an unchanged re-run"
expect_eq "$(summary_field "$WORK/cfg" deals messages)" "$deals" "deal messages after an unchanged re-run"
expect_eq "$(summary_field "$WORK/cfg" dealflow messages)" "$(truth dealflow | grep -o '"count":[0-9]*' | cut -d: -f2)" "dealflow messages after an unchanged re-run"
if grep -q "$PIPEDRIVE_API_TOKEN" "$WORK/run.log"; then fail "the token was printed"; fi
