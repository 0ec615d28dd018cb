#!/usr/bin/env bash
# Every event decodable (issue #21): events that reach a table through another table's pass —
# the Close event log's upserts and deletes into activities — use a writer schema a consumer can
# find, also before the activities table has read its custom field definitions (delayed here by
# a slow definitions endpoint) and after its custom fields change between two polls while the
# event log publishes edits of old activities. Both encodings: schemas topic and registry. Also:
# shared custom fields associated with activities are typed, and smart views of every type land.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"

"$CRMSIM" --crm registry --port 0 --port-file "$WORK/registry.port" >"$WORK/registry.log" 2>&1 &
SIM_PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/registry.port" ] && break; sleep 0.05; done
REGISTRY="http://127.0.0.1:$(cat "$WORK/registry.port")"

TABLES=$(close_tables leads activities event_log activity_custom_fields shared_custom_fields smart_views)

# old_activities N — ids of the N oldest activities (outside the 24 h attribution window).
old_activities() {
    truth activities | python3 -c '
import json,sys
r=json.load(sys.stdin)["records"]
r.sort(key=lambda a: a["date_created"])
print(" ".join(a["id"] for a in r[:int(sys.argv[1])]))' "$1"
}

# edit_activities IDS... — one event-log "updated" event (with data) per activity.
edit_activities() {
    local id
    for id in "$@"; do
        mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$id\"}" >/dev/null
    done
}

# slow_definitions — the activities' custom field definitions answer only after retries, so the
# event log's first pages come before the activities table knows its custom fields.
slow_definitions() {
    sim_ctl fault '{"kind":"status","status":503,"count":3,"path_prefix":"/api/v1/custom_field/activity/"}' >/dev/null
}

run_mode() { # MODE (schemas|registry)
    local mode=$1 cfg=$WORK/cfg-$1
    SOURCE_NAME=cl27$mode$(date +%s%N | tail -c 5)
    close_cfg "$cfg" exactly-once '' 'rate_limit = 0;' "$TABLES"
    if [ "$mode" = schemas ]; then
        sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state-$mode\"; schemas_topic = \"$PREFIX.schemas\";/" "$cfg"
    else
        sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state-$mode\";/" "$cfg"
        echo "schema_registry = { url = \"$REGISTRY\"; };" >>"$cfg"
    fi
    grep -q "state-$mode" "$cfg" || fail "could not set the state topic in $cfg"

    # 1. first sync while edits of old activities wait in the event log
    edit_activities $(old_activities 25)
    slow_definitions
    run_once "$cfg"
    check_decodable
    compare_table "$cfg" activities

    # 2. a shared custom field for activities appears between two polls, and the event log
    #    publishes edits of old activities carrying it
    local field
    field=$(mutate "{\"table\":\"shared_custom_fields\",\"op\":\"create\",\"set\":{\"name\":\"Touch $mode\",\"type\":\"text\",\"is_shared\":true,\"associations\":[{\"object_type\":\"activity\",\"editable_with_roles\":[],\"required\":false}]}}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
    local id n=0
    for id in $(old_activities 40 | tr ' ' '\n' | tail -n 15); do
        mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$id\",\"set\":{\"custom.$field\":\"touch $n\"}}" >/dev/null
        n=$((n + 1))
    done
    mutate "{\"table\":\"activities\",\"op\":\"delete\",\"id\":\"$(old_activities 41 | tr ' ' '\n' | tail -n 1)\"}" >/dev/null
    slow_definitions
    run_once "$cfg"
    check_decodable
    compare_table "$cfg" activities
    # 3. the next edits of those activities carry the field typed (the activities' schema with
    #    it was published in step 2; the event log's images of step 2 may predate it)
    n=0
    for id in $(old_activities 40 | tr ' ' '\n' | tail -n 15); do
        mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$id\",\"set\":{\"custom.$field\":\"touch again $n\"}}" >/dev/null
        n=$((n + 1))
    done
    run_once "$cfg"
    check_decodable
    compare_table "$cfg" activities
    "$CRMTOOL" summary -c "$cfg" activities >"$WORK/summary-$mode.json" 2>/dev/null ||
        fail "crmtool summary failed"
    python3 - "$WORK/summary-$mode.json" "$mode" <<'PY' || fail "the new shared field is not typed in activities"
import json, sys
s = json.load(open(sys.argv[1]))
typed = [a for a in s["latest"].values()
         if any(k.startswith("touch_") and v for k, v in (a.get("$custom") or {}).items())]
assert len(typed) >= 15, f"{len(typed)} activities carry the new shared field typed"
PY
    note "$mode: 15 edits with the new shared field typed, every event decodable"

    # 4. smart views: lead and contact views both land
    compare_table "$cfg" smart_views
    local types
    types=$("$CRMTOOL" summary -c "$cfg" smart_views | python3 -c '
import json,sys
print(",".join(sorted({v.get("type") or "?" for v in json.load(sys.stdin)["latest"].values()})))')
    expect_eq "$types" "contact,lead" "$mode: smart view types landed"
}

start_close --seed 27 --param leads=40 --param activities=300 --param consolidate_ms=0
run_mode schemas
run_mode registry

# One custom field definitions endpoint unreadable on a first sync (the shared fields answer 404):
# the activities' own fields are typed all the same, and the failure is said once.
SOURCE_NAME=cl27cf$(date +%s%N | tail -c 5)
close_cfg "$WORK/cfg-cf" exactly-once '' 'rate_limit = 0;' "$(close_tables activities)"
sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state-cf\"; schemas_topic = \"$PREFIX.schemas\";/" "$WORK/cfg-cf"
sim_ctl fault '{"kind":"status","status":404,"count":-1,"path_prefix":"/api/v1/custom_field/shared/"}' >/dev/null
: >"$WORK/run.log"
run_once "$WORK/cfg-cf"
sim_ctl fault '{"kind":"reset"}' >/dev/null
expect_eq "$(grep -c 'typing only the fields of the other endpoints' "$WORK/run.log")" 1 \
    "warnings for the unreadable shared definitions"
compare_table "$WORK/cfg-cf" activities
grep -q "custom_fields=1 " "$WORK/compare-activities.txt" ||
    fail "the activities' own custom field is not typed: $(cat "$WORK/compare-activities.txt")"
