#!/usr/bin/env bash
# Close backfill from a start date: every table lands exactly as the simulator's truth (leads via
# search with custom.cf_* values, activities from the start date on), a re-run publishes nothing,
# and `crmstream check` passes.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 20 --param leads=1500 --param activities=10000 --param history_days=90
close_cfg "$WORK/cfg" exactly-once 'search_page_size = 200;' \
    'start_date = "'"$(date -u -d '-80 days' +%Y-%m-%d)"'";' 'rate_limit = 0;'

rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "check exit code"
grep -q "^source $SOURCE_NAME .* OK" "$WORK/check.txt" || fail "no OK line: $(cat "$WORK/check.txt")"

start=$(date +%s.%N)
run_once "$WORK/cfg"
note "backfill took $(echo "$(date +%s.%N) - $start" | bc) s"
grep -aq "unavailable" "$WORK/run.log" && ! grep -aq "send_as.*unavailable" "$WORK/run.log" &&
    fail "a table other than send_as was unavailable"
grep -aq "table=send_as.*unavailable" "$WORK/run.log" || fail "send_as (402) was not reported unavailable"

# Records before the start date are not replicated; the truth is filtered the same way.
cutoff=$(date -u -d '-80 days' +%Y-%m-%dT00:00:00Z)
for t in leads contacts opportunities tasks activities; do
    key=date_updated
    [ "$t" = activities ] && key=date_created
    truth "$t" >"$WORK/truth-all-$t.json"
    python3 - "$WORK/truth-all-$t.json" "$WORK/truth-$t.json" "$key" "$cutoff" <<'PY'
import json, sys, datetime
src, dst, key, cutoff = sys.argv[1:]
c = datetime.datetime.fromisoformat(cutoff.replace("Z", "+00:00"))
d = json.load(open(src))
d["records"] = [r for r in d["records"] if datetime.datetime.fromisoformat(r[key]) >= c]
json.dump(d, open(dst, "w"))
print(len(d["records"]))
PY
done >"$WORK/counts.txt"
for t in leads contacts opportunities tasks activities; do
    "$CRMTOOL" compare -c "$WORK/cfg" "$t" "$WORK/truth-$t.json" id >"$WORK/compare-$t.txt" 2>&1 ||
        fail "topic $t differs: $(cat "$WORK/compare-$t.txt")"
    note "$(grep '^compare' "$WORK/compare-$t.txt")"
done
compare_all "$WORK/cfg" users custom_fields contact_custom_fields lead_statuses \
    opportunity_statuses pipelines email_templates roles organization memberships event_log
[ "$(head -n 1 "$WORK/counts.txt")" -gt 1000 ] || fail "too few leads in the window"
grep -q '"custom.cf_' "$WORK/truth-leads.json" || fail "no custom fields in the truth"

m_leads=$(summary_field "$WORK/cfg" leads messages)
m_acts=$(summary_field "$WORK/cfg" activities messages)
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" leads messages)" "$m_leads" "leads messages after a re-run"
expect_eq "$(summary_field "$WORK/cfg" activities messages)" "$m_acts" "activity messages after a re-run"
expect_eq "$(stat_count 400)" 0 "HTTP 400 answers"
