#!/usr/bin/env bash
# Schema Registry mode against the registry simulator: values and keys in the Confluent wire
# format, value and key schemas registered under TopicNameStrategy subjects, topics decoded back
# through the registry and equal to the CRM; a custom field added between polls registers a new
# compatible version; a registry that rejects a table's new schema stops only that table with the
# registry's message, its state does not move, and once the registry accepts, nothing was lost.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"

# the registry simulator (its own port file)
"$CRMSIM" --crm registry --port 0 --port-file "$WORK/registry.port" \
    --param user=crm --param password=sr-secret >"$WORK/registry.log" 2>&1 &
SIM_PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/registry.port" ] && break; sleep 0.05; done
REGISTRY="http://127.0.0.1:$(cat "$WORK/registry.port")"
reg() { curl -fsS -u crm:sr-secret "$REGISTRY$1"; }

start_copper --seed 13 --param rate_per_min=0
export SR_PASSWORD=sr-secret
copper_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    'tables = { include = ["people", "companies", "custom_field_definitions", "tags"]; };'
cat >>"$WORK/cfg" <<CFG
schema_registry = { url = "$REGISTRY"; username = "crm"; password_env = "SR_PASSWORD"; };
CFG
run_once "$WORK/cfg"
for t in people companies custom_field_definitions; do compare_table "$WORK/cfg" "$t"; done
compare_table "$WORK/cfg" tags name
grep -q "sr-secret" "$WORK/run.log" && fail "the registry password was logged"

topic="$PREFIX.$SOURCE_NAME.people"
subjects=$(reg /subjects)
for s in "$topic-value" "$topic-key" "$PREFIX.$SOURCE_NAME.tags-key"; do
    [[ "$subjects" == *"\"$s\""* ]] || fail "subject $s not registered: $subjects"
done
expect_eq "$(reg "/subjects/$topic-key/versions/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["schema"])')" \
    '"string"' "key schema"
# the first value and key bytes: magic 0 + the registered id
first=$(kcat -b "$BOOTSTRAP" -X isolation.level=read_committed -C -t "$topic" -c 1 -e -q -f '%k|%s' | head -c 1 | od -An -tx1 | tr -d ' ')
expect_eq "$first" "00" "first key byte (Confluent magic)"
value_id=$(reg "/subjects/$topic-value/versions/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
got_id=$(kcat -b "$BOOTSTRAP" -X isolation.level=read_committed -C -t "$topic" -c 1 -e -q -f '%s' | head -c 5 | od -An -tu1 | awk '{print $2*16777216+$3*65536+$4*256+$5}')
expect_eq "$got_id" "$value_id" "schema id in the first value"
grep -q "$PREFIX.schemas" <(kcat -b "$BOOTSTRAP" -L 2>/dev/null) && fail "the schemas topic was used in registry mode"

# A custom field for people only: a new, compatible version of people-value.
sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"NPS","data_type":"Float","available_on":["person"]}}' >/dev/null
"$CRMSTREAM" schemas -c "$WORK/cfg" people >"$WORK/schemas.txt" 2>"$WORK/schemas.err" ||
    fail "crmstream schemas: $(cat "$WORK/schemas.err")"
grep -q "published=$topic-value version 1 (id [0-9]*)  next=new version [0-9a-f]*, BACKWARD compatible; registry: compatible" "$WORK/schemas.txt" ||
    fail "schemas in registry mode: $(head -n 1 "$WORK/schemas.txt")"
note "schemas: $(head -n 1 "$WORK/schemas.txt" | cut -c 1-200)"
sim_ctl mutate '{"table":"people","op":"update","count":3}' >/dev/null
run_once "$WORK/cfg"
expect_eq "$(reg "/subjects/$topic-value/versions" | tr -d '[] \n')" "1,2" "people-value versions"
compare_table "$WORK/cfg" people

# The registry refuses the next companies schema: companies stops, people goes on.
ctopic="$PREFIX.$SOURCE_NAME.companies"
curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"subject\":\"$ctopic-value\",\"message\":\"Schema rejected by policy: no new company fields\",\"count\":1}" \
    "$REGISTRY/_control/reject" >/dev/null
sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"Churn risk","data_type":"String","available_on":["company"]}}' >/dev/null
sim_ctl mutate '{"table":"companies","op":"update","count":2}' >/dev/null
sim_ctl mutate '{"table":"people","op":"update","count":2}' >/dev/null
before=$(summary_field "$WORK/cfg" companies messages)
: >"$WORK/run.log"
run_once "$WORK/cfg" 1
grep -q 'table=companies msg="the schema registry rejected the table.s schema; the table stops.*Schema rejected by policy: no new company fields' "$WORK/run.log" ||
    fail "no clear rejection message for companies: $(grep companies "$WORK/run.log" | tail -n 3)"
grep -q 'table=people msg="pass done' "$WORK/run.log" || fail "people did not go on"
expect_eq "$(summary_field "$WORK/cfg" companies messages)" "$before" "companies messages after the rejection"
compare_table "$WORK/cfg" people

# The registry accepts again (the reject was for one attempt): companies catches up, nothing lost.
: >"$WORK/run.log"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" companies
expect_eq "$(reg "/subjects/$ctopic-value/versions" | tr -d '[] \n')" "1,2" "companies-value versions"
