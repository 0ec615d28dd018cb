#!/usr/bin/env bash
# Typed custom fields evolve with the CRM's definitions (Copper people): a field added, one
# renamed and one retyped between polls give a new schema version that keeps every earlier field
# (BACKWARD compatible), values arrive typed (option ids -> labels, a number, a string), a value of
# the wrong type is kept as text in custom._invalid and counted, and a restart rebuilds the same
# schema from the state topic without republishing anything.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 12 --param rate_per_min=0
SCHEMAS_TOPIC="$PREFIX.schemas"
copper_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    'tables = { include = ["people", "custom_field_definitions"]; };'
sed -i "s/state_topic = \"$PREFIX.state\";/& schemas_topic = \"$SCHEMAS_TOPIC\";/" "$WORK/cfg"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" people

# people's envelope schemas on the schemas topic, one JSON per line: the latest text of each
# fingerprint (the topic is compacted by fingerprint; a renamed label only changes a doc, which
# the fingerprint of the canonical form ignores, so it rewrites the same key)
people_schemas() {
    kcat -b "$BOOTSTRAP" -X isolation.level=read_committed -C -t "$SCHEMAS_TOPIC" -e -q \
        -f '%k %s\n' | grep "\"crmstream.copper.people\"" | tac | sort -u -s -k1,1 | cut -d' ' -f2-
}
expect_eq "$(people_schemas | wc -l)" 1 "people schemas after the first sync"

# Between polls: a field added, one renamed, one retyped; values set, one of the wrong type.
new_id=$(sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"Lifetime value","data_type":"Float","available_on":["person"]}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
sim_ctl mutate '{"table":"custom_field_definitions","op":"update","id":1001,"set":{"name":"Sales region"}}' >/dev/null
sim_ctl mutate '{"table":"custom_field_definitions","op":"update","id":1007,"set":{"data_type":"String"}}' >/dev/null
read -r p1 p2 < <(truth people | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"]; print(r[0]["id"], r[1]["id"])')
sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p1,\"set\":{\"custom_fields\":[
    {\"custom_field_definition_id\":1001,\"value\":\"EMEA\"},
    {\"custom_field_definition_id\":1003,\"value\":true},
    {\"custom_field_definition_id\":1006,\"value\":[10061,10063]},
    {\"custom_field_definition_id\":1007,\"value\":\"high\"},
    {\"custom_field_definition_id\":$new_id,\"value\":1234.5}]}}" >/dev/null
sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p2,\"set\":{\"custom_fields\":[
    {\"custom_field_definition_id\":1003,\"value\":\"yes please\"},
    {\"custom_field_definition_id\":$new_id,\"value\":\"12.5\"}]}}" >/dev/null
# `crmstream schemas` sees the pending version before the next pass and judges it.
COPPER_API_KEY=$COPPER_API_KEY "$CRMSTREAM" schemas -c "$WORK/cfg" people >"$WORK/schemas-before.txt" 2>"$WORK/schemas.err" ||
    fail "crmstream schemas failed: $(cat "$WORK/schemas.err")"
grep -q '^[^ ]*\.people .*published=yes .*next=new version [0-9a-f]*, BACKWARD compatible' "$WORK/schemas-before.txt" ||
    fail "schemas did not report a compatible pending version: $(head -c 600 "$WORK/schemas-before.txt")"
note "schemas before the pass: $(head -n 1 "$WORK/schemas-before.txt" | cut -c 1-160)"
# This pass runs as a daemon (one pass, then /metrics is read): the misfit is counted.
sed -i 's/poll_interval = "[^"]*"/poll_interval = "1h"/' "$WORK/cfg"
run_scraped "$WORK/cfg"
expect_eq "$(people_schemas | wc -l)" 2 "people schemas after the definitions changed"
expect_eq "$(metric_sum crmstream_custom_field_misfits_total "source=\"$SOURCE_NAME\",table=\"people\"")" 1 \
    "people custom values that did not fit their type"
compare_table "$WORK/cfg" people

people_schemas >"$WORK/schemas.jsonl"
python3 - "$WORK/schemas.jsonl" "$new_id" <<'PY' || fail "schema evolution check failed"
import json, sys
schemas = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
schemas.sort(key=lambda e: len(json.dumps(e)))  # v1 has fewer fields
assert len(schemas) == 2, f"expected 2 people schemas, got {len(schemas)}"
def custom(env):
    rec = env["fields"][0]["type"][1]
    f = [f for f in rec["fields"] if f.get("json") == "$custom"][0]
    return {x["name"]: x for x in f["type"][1]["fields"]}
old, new = custom(schemas[0]), custom(schemas[1])
for name, f in old.items():   # BACKWARD: nothing removed, nothing retyped in place
    assert name in new and new[name]["type"] == f["type"], f"{name} changed or vanished"
for name in set(new) - set(old):
    assert new[name]["type"][0] == "null" and new[name]["default"] is None, f"{name} not nullable"
assert new["region"]["doc"] == "Sales region" and new["region"]["crm_id"] == "1001", new["region"]
assert new["score"]["crm_active"] is False and new["score"]["type"] == ["null", "double"]
assert new["score_text"]["type"] == ["null", "string"] and new["score_text"]["crm_id"] == "1007"
assert new["lifetime_value"]["type"] == ["null", "double"], new["lifetime_value"]
assert new["lifetime_value"]["crm_id"] == sys.argv[2]
print("  schema v2 custom fields:", ", ".join(sorted(new)))
PY

# Typed values as a consumer decodes them.
COPPER_API_KEY=$COPPER_API_KEY "$CRMSTREAM" peek -c "$WORK/cfg" people 400 >"$WORK/peek.json"
python3 - "$WORK/peek.json" "$p1" "$p2" <<'PY' || fail "typed values check failed"
import json, sys
text = open(sys.argv[1]).read()
dec = json.JSONDecoder(); pos = 0; latest = {}
while pos < len(text):
    while pos < len(text) and text[pos].isspace(): pos += 1
    if pos >= len(text): break
    ev, pos = dec.raw_decode(text, pos)
    if ev["value"] and ev["value"].get("after"): latest[ev["key"]] = ev["value"]["after"]
a, b = latest[sys.argv[2]]["$custom"], latest[sys.argv[3]]["$custom"]
assert a["region"] == "EMEA" and a["newsletter"] is True, a
assert a["interests"] == ["API", "Ünïcode"], a["interests"]
assert a["score_text"] == "high" and a["score"] is None and a["lifetime_value"] == 1234.5, a
assert a["_invalid"] is None, a
assert b["newsletter"] is None and b["_invalid"] == {"newsletter": '"yes please"'}, b
assert b["lifetime_value"] == 12.5, b
print("  typed:", json.dumps(a, ensure_ascii=False))
print("  misfit kept:", json.dumps(b["_invalid"]))
PY

COPPER_API_KEY=$COPPER_API_KEY "$CRMSTREAM" schemas -c "$WORK/cfg" people >"$WORK/schemas-after.txt" 2>>"$WORK/schemas.err"
grep -q 'custom_fields=6 (5 active)  published=yes  next=unchanged' "$WORK/schemas-after.txt" ||
    fail "schemas after the pass: $(head -c 400 "$WORK/schemas-after.txt")"

# A restart: the history comes back from the state topic, nothing is republished.
run_once "$WORK/cfg"
expect_eq "$(people_schemas | wc -l)" 2 "people schemas after a restart without changes"
grep 'table=people msg="summary' "$WORK/run.log" | tail -n 1 | grep -q ' published=0 ' ||
    fail "records republished after a restart: $(grep 'table=people msg="summary' "$WORK/run.log" | tail -n 1)"
note "restart: no new schema, nothing republished"
