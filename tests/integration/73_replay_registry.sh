#!/usr/bin/env bash
# Replay (#18) in Schema Registry mode: Confluent-framed values and keys (registry simulator)
# are decoded through the registry, keys become their text, and a custom field added between
# polls (a new registered version) arrives as a new typed column; SQLite and PostgreSQL equal the
# Copper simulator's truth. The registry password never appears in the replay's output.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/replay_env.sh"
source "$(dirname "$0")/copper_env.sh"
start_pg
"$CRMSIM" --crm registry --port 0 --port-file "$WORK/registry.port" \
    --param user=crm --param password=sr-secret >"$WORK/registry.log" 2>&1 &
SIM_PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/registry.port" ] && break; sleep 0.05; done
REGISTRY="http://127.0.0.1:$(cat "$WORK/registry.port")"
start_copper --seed 73 --param rate_per_min=0
export SR_PASSWORD=sr-secret
copper_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' 'reconcile_interval = "1s";' \
    'tables = { include = ["people", "custom_field_definitions"]; };'
echo "schema_registry = { url = \"$REGISTRY\"; username = \"crm\"; password_env = \"SR_PASSWORD\"; };" >>"$WORK/cfg"
run_once "$WORK/cfg"
for url in "$SQLITE_URL" "$PG_URL"; do replay_once "$WORK/cfg" "$url"; done

new_id=$(sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"Lifetime value","data_type":"Float","available_on":["person"]}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
p1=$(truth people | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p1,\"set\":{\"custom_fields\":[
    {\"custom_field_definition_id\":$new_id,\"value\":99.5}]}}" >/dev/null
sim_ctl mutate '{"table":"people","op":"delete","count":2}' >/dev/null
sleep 1
run_once "$WORK/cfg"
compare_table "$WORK/cfg" people
for url in "$SQLITE_URL" "$PG_URL"; do
    replay_once "$WORK/cfg" "$url"
    replay_compare "$url" "${SOURCE_NAME}_people" people id -custom_fields "custom_lifetime_value=99.5@$p1"
done
grep -q "sr-secret" "$WORK/replay.log" && fail "the registry password was logged"
note "registry password not in the replay log"
