#!/usr/bin/env bash
# Copper: a first sync lands all 17 Stitch tables exactly as the simulator holds them (converted
# leads, activity duplicates from full_result, polymorphic custom fields, ids above 2^31), and a
# second pass republishes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 40 --param rate_per_min=0 --param tie_order=hash --param people=150 \
    --param activities=300
copper_cfg "$WORK/cfg" exactly-once 'page_size = 50; full_result = true;' 'rate_limit = 0;'

ALL="account activities_search companies contact_types custom_field_definitions customer_sources
lead_statuses leads loss_reasons opportunities people pipeline_stages pipelines projects tags
tasks users"

run_once "$WORK/cfg"
compare_all "$WORK/cfg" $ALL
expect_eq "$(summary_field "$WORK/cfg" people ops.r)" 150 "people snapshot reads"
expect_eq "$(summary_field "$WORK/cfg" activities_search messages)" 300 \
    "activities messages (full_result duplicates published once)"
converted=$(truth leads | grep -o '"converted_at":[0-9]' | wc -l)
[ "$converted" -gt 0 ] || fail "the simulator has no converted leads, the test proves nothing"
note "converted leads in the truth: $converted"
big=$(truth activities | grep -o '"id":30[0-9]\{8\}' | wc -l)
[ "$big" -gt 0 ] || fail "no activity id above 2^31"

run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" people messages)" 150 "people messages after an unchanged re-read"
expect_eq "$(summary_field "$WORK/cfg" activities_search messages)" 300 \
    "activities messages after an unchanged re-read (a full refresh)"
expect_eq "$(summary_field "$WORK/cfg" tags messages)" "$(truth tags | grep -o '"count":[0-9]*,"records' | grep -o '[0-9]*')" \
    "tags messages after an unchanged re-read"
if grep -q "$COPPER_API_KEY" "$WORK/run.log"; then fail "the API key was printed"; fi
