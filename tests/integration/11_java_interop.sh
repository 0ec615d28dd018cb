#!/usr/bin/env bash
# Interop with a real Avro implementation: a Java program (tests/interop: Apache Avro 1.11 and
# kafka-clients 3.9 from Maven Central) reads the schemas topic into a SchemaStore, consumes every
# table topic read_committed, checks every fingerprint against the schemas topic and against Java's
# own CRC-64-AVRO of the Parsing Canonical Form, decodes every event with BinaryMessageDecoder and
# compares the latest image of every key with the simulator's truth field by field:
#  - the test CRM after a backfill plus updates (including odd values and unknown fields that must
#    come back through _unmapped), creates and deletes (d + tombstone, by event feed and by ID
#    reconciliation);
#  - it must fail on a truth the topic has not caught up with (changed, deleted and new records)
#    and on forged messages (unknown fingerprint, truncated body, trailing bytes);
#  - Close, Pipedrive and Copper: every table (with INTEROP_TABLES=few five or so each, always
#    every table with custom fields) after a backfill, in both encodings (schemas topic, and a
#    registry simulator with HTTP Basic auth), with typed custom fields checked against the
#    definitions and the raw CRM values by Java's own conversion, and a Copper custom field
#    evolution between two syncs (two compatible writer schemas, a misfit kept in
#    custom._invalid); the test CRM in registry mode too (a delete: framed key, null value).
# Before Kafka, crmstream.SelfTest checks the checker: the documented conversion examples and the
# Confluent framing path on hand-made messages.
# The jar is built once (mvn package, offline when ~/.m2 already has everything) and reused
# until pom.xml or the sources change.
source "$(dirname "$0")/lib.sh"
INTEROP=$ROOT/tests/interop
JAR=$INTEROP/target/interop.jar
CPFILE=$INTEROP/target/classpath.txt
SCHEMAS_TOPIC="$PREFIX.schemas"
for tool in java mvn kcat; do
    command -v "$tool" >/dev/null || fail "$tool is needed (make deps)"
done

# ---- the Java program ---------------------------------------------------------------------------
build_needed() {
    [ -s "$JAR" ] && [ -s "$CPFILE" ] || return 0
    [ -z "$(find "$INTEROP/pom.xml" "$INTEROP/src" -newer "$JAR" -print -quit)" ] || return 0
    local jars j
    IFS=: read -r -a jars <"$CPFILE"
    for j in "${jars[@]}"; do [ -f "$j" ] || return 0; done # ~/.m2 was cleaned
    return 1
}
mkdir -p "$INTEROP/target"
exec 9>"$INTEROP/target/.build.lock"
flock 9 # two suites building at once
if build_needed; then
    start=$(date +%s)
    # Offline first: no network needed (and no metadata checks) once ~/.m2 has everything.
    rc=0
    (cd "$INTEROP" && mvn -B -o -Dstyle.color=never package) >"$WORK/mvn.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ] && grep -q 'offline mode' "$WORK/mvn.log"; then # first build: download
        rc=0
        (cd "$INTEROP" && mvn -B -Dstyle.color=never package) >"$WORK/mvn.log" 2>&1 || rc=$?
    fi
    [ "$rc" = 0 ] || fail "maven build failed: $(grep -E 'ERROR|BUILD' "$WORK/mvn.log" | head -n 20)"
    downloads=$(grep -c 'Downloaded from' "$WORK/mvn.log" || true)
    if [ "$downloads" -gt 0 ]; then
        note "interop program built in $(($(date +%s) - start)) s, Maven downloaded $downloads files from Maven Central (first build)"
    else
        note "interop program built in $(($(date +%s) - start)) s"
    fi
    build_needed && fail "maven did not produce $JAR and $CPFILE"
fi
exec 9>&-
CP="$JAR:$(cat "$CPFILE")"
java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.SelfTest >"$WORK/selftest.txt" 2>&1 ||
    fail "the interop program's self-test failed: $(cat "$WORK/selftest.txt")"
note "$(tail -n 1 "$WORK/selftest.txt")"

# interop NAME (TOPIC TRUTH PK)... — the Java check over those topics; output in interop-NAME.txt.
interop_run() {
    local name=$1
    shift
    local args=(--bootstrap "$BOOTSTRAP" --schemas-topic "$SCHEMAS_TOPIC" --timeout 30)
    while [ $# -gt 0 ]; do
        args+=(--topic "$1" --truth "$2" --pk "$3")
        shift 3
    done
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.Interop "${args[@]}" \
        >"$WORK/interop-$name.txt" 2>&1
}
interop() {
    local name=$1
    interop_run "$@" || fail "Java could not read back what crmstream wrote ($name):
$(cat "$WORK/interop-$name.txt")"
    grep '^interop' "$WORK/interop-$name.txt" | while read -r line; do note "$line"; done
}
# field FILE TOPIC KEY — a key=value of the topic's interop line.
field() {
    grep "^interop $2: " "$1" | tr ' ' '\n' | sed -n "s/^$3=//p"
}
# with_schemas_topic CFG — this test's own schemas topic (lib.sh's write_cfg has no setting for it).
with_schemas_topic() {
    sed -i "s/state_topic = \"$PREFIX.state\";/& schemas_topic = \"$SCHEMAS_TOPIC\";/" "$1"
    grep -q "schemas_topic = \"$SCHEMAS_TOPIC\"" "$1" || fail "could not set schemas_topic in $1"
}

# ---- the test CRM: backfill, then changes ------------------------------------------------------
start_sim testcrm --seed 31 --param items=200 --param users=15
TESTCRM_URL=$SIM_URL
write_cfg "$WORK/cfg" exactly-once
with_schemas_topic "$WORK/cfg"
run_once "$WORK/cfg"

sim_ctl mutate '{"table":"items","op":"update","ids":["itm_000010","itm_000011","itm_000150"]}' >/dev/null
# Odd values: numeric strings, unicode and escapes, empty and null collections, and unknown
# fields (nested, big integers, reals) that only _unmapped can carry.
sim_ctl mutate '{"table":"items","op":"update","id":"itm_000020","set":{
    "name":"Zoë \"quoted\" \\ back slash\ttab ✓ 𝄞","amount":"12.50","quantity":"7",
    "tags":[],"owner":null,"note":"line 1\nline 2",
    "x_extra":{"nested":{"a":[1,2.5,null,true,"s"]},"big":9007199254740993,"neg":-0.001},
    "x_new":[{"k":"v"}]}}' >/dev/null
sim_ctl mutate '{"table":"items","op":"create","count":3}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000004"}' >/dev/null
sim_ctl mutate '{"table":"users","op":"update","id":7}' >/dev/null
sim_ctl mutate '{"table":"users","op":"delete","id":3}' >/dev/null
sim_ctl mutate '{"table":"users","op":"create","count":1}' >/dev/null
run_once "$WORK/cfg"

args=()
for t in items users events; do
    truth "$t" >"$WORK/truth-$t.json"
    args+=("$PREFIX.acme.$t" "$WORK/truth-$t.json" id)
done
interop testcrm "${args[@]}"
out=$WORK/interop-testcrm.txt
expect_eq "$(field "$out" "$PREFIX.acme.items" ops)" "c:3,d:1,r:200,u:4" "items ops seen by Java"
expect_eq "$(field "$out" "$PREFIX.acme.items" tombstones)" 1 "items tombstones seen by Java"
expect_eq "$(field "$out" "$PREFIX.acme.items" keys)" 202 "items keys seen by Java"
expect_eq "$(field "$out" "$PREFIX.acme.users" ops)" "c:1,d:1,r:15,u:1" "users ops seen by Java"
grep -q '"x_new"' "$WORK/truth-items.json" || fail "the simulator did not keep x_new (set is ignored?)"

# ---- the check can fail ----------------------------------------------------------------------
# The CRM changes again and nobody syncs: the topic must now differ from the new truth.
sim_ctl mutate '{"table":"items","op":"update","id":"itm_000001","set":{"name":"renamed"}}' >/dev/null
sim_ctl mutate '{"table":"items","op":"update","id":"itm_000002","set":{"amount":1.5}}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000003"}' >/dev/null
sim_ctl mutate '{"table":"items","op":"create"}' >/dev/null
truth items >"$WORK/truth-items-changed.json"
if interop_run changed "$PREFIX.acme.items" "$WORK/truth-items-changed.json" id; then
    fail "the interop check accepted a truth the topic has not caught up with"
fi
out=$WORK/interop-changed.txt
# name + updated_at, amount + updated_at, a key too many, a key missing
expect_eq "$(field "$out" "$PREFIX.acme.items" mismatches)" 6 "mismatches with unsynced changes"
grep -q "MISMATCH .*itm_000001: name: truth" "$out" || fail "no name mismatch reported: $(cat "$out")"
grep -q "MISMATCH .*itm_000002: amount: truth" "$out" || fail "no amount mismatch reported: $(cat "$out")"
grep -q "MISMATCH .*itm_000003: in the topic, not in the CRM" "$out" || fail "no extra key reported: $(cat "$out")"
grep -q "MISMATCH .*: in the CRM, not in the topic" "$out" || fail "no missing key reported: $(cat "$out")"

# Forged messages: an unknown fingerprint, a truncated body, trailing bytes.
kc() { kcat -b "$BOOTSTRAP" -X isolation.level=read_committed "$@"; }
kc -C -t "$PREFIX.acme.items" -o beginning -c 1 -e -f '%s' >"$WORK/good.bin" 2>/dev/null ||
    fail "kcat could not read an items message"
[ "$(head -c 2 "$WORK/good.bin" | od -An -tx1 | tr -d ' ')" = c301 ] || fail "an items value does not start with C3 01"
{ printf '\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08'; tail -c +11 "$WORK/good.bin"; } >"$WORK/forged-1.bin"
head -c 14 "$WORK/good.bin" >"$WORK/forged-2.bin"
{ cat "$WORK/good.bin"; printf '\x02'; } >"$WORK/forged-3.bin"
FORGED="$PREFIX.forged"
for i in 1 2 3; do
    kc -P -t "$FORGED" -k "k$i" "$WORK/forged-$i.bin" 2>"$WORK/kcat.err" || fail "kcat -P: $(cat "$WORK/kcat.err")"
done
echo '{"records":[]}' >"$WORK/truth-empty.json"
if interop_run forged "$FORGED" "$WORK/truth-empty.json" id; then
    fail "the interop check accepted forged messages: $(cat "$WORK/interop-forged.txt")"
fi
out=$WORK/interop-forged.txt
expect_eq "$(field "$out" "$FORGED" undecodable)" 3 "forged messages found undecodable"
grep -q "fingerprint 0807060504030201 is not in the schemas topic" "$out" || fail "unknown fingerprint not reported: $(cat "$out")"
grep -q "bytes left over" "$out" || fail "trailing bytes not reported: $(cat "$out")"

# ---- Close, Pipedrive and Copper, in both encodings ---------------------------------------------
# Every table of the three CRMs (INTEROP_TABLES=few: five or so each, always every table with
# custom fields), with the schemas topic (single-object encoding) and with a registry simulator
# (Confluent wire format, HTTP Basic auth). All six syncs run at the same time (own simulator,
# source and state topic each), then Copper's custom fields evolve (a field added, one renamed,
# one retyped, a value of the wrong type) and Copper syncs again: Java must see the new compatible
# writer schema of people, the typed values and the misfit kept in custom._invalid. Before the
# first sync, values the simulators never make on their own are set: Copper Currency amounts and
# the documentation's Date 1515744000, Pipedrive enum ids as strings, a v1-style set string and
# money objects, Close numeric strings and offset datetimes in date fields, and one misfit each.
# The test CRM takes part in registry mode too: a backfill, then a delete (d + tombstone, framed
# key and null value) synced with the Copper evolution.
# The CRMs come from the connector registry (`crmstream connectors`, the test CRM aside): a
# connector this test has no setup for fails it (connectors/README.md).
CRMS=$("$CRMSTREAM" connectors | grep -vx testcrm) || fail "crmstream connectors failed"
export INTEROP_REGISTRY_PASSWORD="pw-$RANDOM$RANDOM"
REGISTRY_USER=interop
"$CRMSIM" --crm registry --port 0 --port-file "$WORK/registry.port" --param user=$REGISTRY_USER \
    --param password="$INTEROP_REGISTRY_PASSWORD" >"$WORK/registry.log" 2>&1 &
SIM_PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/registry.port" ] && break; sleep 0.05; done
[ -s "$WORK/registry.port" ] || fail "the registry simulator did not start: $(cat "$WORK/registry.log")"
REGISTRY="http://127.0.0.1:$(cat "$WORK/registry.port")"
REGISTRY_CFG="schema_registry = { url = \"$REGISTRY\"; username = \"$REGISTRY_USER\"; password_env = \"INTEROP_REGISTRY_PASSWORD\"; };"
declare -A CTL NAME PID
tables_setting() { # T... -> tables = { include = ["T", ...]; }; (nothing for all tables)
    [ "${INTEROP_TABLES:-all}" = all ] && return 0
    local list="" t
    for t in "$@"; do list="$list${list:+, }\"$t\""; done
    echo "tables = { include = [$list]; };"
}
# own_topics CFG MODE NAME — this run's state topic, and the schemas topic or the registry.
own_topics() {
    if [ "$2" = schemas ]; then with_schemas_topic "$1"; else echo "$REGISTRY_CFG" >>"$1"; fi
    # Its own deployment name too: these instances run at once on one topic prefix, and the
    # shards' transactional ids would otherwise be shared (each would fence the others).
    sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state-$2-$3\"; deployment = \"$PREFIX-$2-$3\";/" "$1"
    grep -q "state-$2-$3" "$1" || fail "could not set the state topic in $1"
}
# definition tables whose truth Java needs to type custom values, and the tables they serve
DEFS_close="custom_fields:leads contact_custom_fields:contacts opportunity_custom_fields:opportunities
    activity_custom_fields:activities shared_custom_fields:leads,contacts,opportunities,activities"
DEFS_pipedrive="deal_fields:deals person_fields:persons organization_fields:organizations product_fields:products"
DEFS_copper="custom_field_definitions:companies,leads,opportunities,people,projects,tasks"

# seed_values CRM — sets odd custom values through the control API of the simulator at $SIM_URL.
seed_values() {
    python3 - "$1" "$SIM_URL" <<'PY' || fail "could not set the custom values of $1"
import json, sys, urllib.request
crm, url = sys.argv[1], sys.argv[2]
def ctl(action, body):
    req = urllib.request.Request(url + "/_control/" + action, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
def truth(t):
    return ctl("truth", {"table": t})["records"]
def with_values(rec, values):  # Copper: custom_fields entries replaced by definition id
    cf = [e for e in rec["custom_fields"] if e["custom_field_definition_id"] not in values]
    return cf + [{"custom_field_definition_id": k, "value": v} for k, v in values.items()]
if crm == "copper":
    for rec, v in zip(truth("leads")[:3], [12.5, "99.90", "lots"]):  # 1005 Budget (Currency)
        ctl("mutate", {"table": "leads", "op": "update", "id": rec["id"],
                       "set": {"custom_fields": with_values(rec, {1005: v})}})
    for rec, v in zip(truth("opportunities")[:2], [(1000, 1515744000), (0, "2018-01-12")]):
        ctl("mutate", {"table": "opportunities", "op": "update", "id": rec["id"],
                       "set": {"custom_fields": with_values(rec, {1005: v[0], 1004: v[1]})}})
elif crm == "pipedrive":
    defs = {d["field_type"]: d["key"] for d in truth("deal_fields") if d.get("edit_flag")}
    deals = truth("deals")
    for rec, (enum, set_, money) in zip(deals[:3], [
            ("11", [22], {"value": 12.5, "currency": "EUR"}),
            (11, "21,23", {"value": "7", "currency": "SEK"}),
            (99, None, None)]):  # 99: no such option
        cf = dict(rec["custom_fields"])
        cf.update({defs["enum"]: enum, defs["set"]: set_, defs["monetary"]: money})
        ctl("mutate", {"table": "deals", "op": "update", "id": rec["id"], "set": {"custom_fields": cf}})
else:
    defs = {d["type"]: d["id"] for d in truth("custom_fields")}
    leads = truth("leads")
    for rec, v in zip(leads[:3], [{"number": "12.50", "date": "2018-01-12T23:30:00-05:00"},
                                  {"number": -3, "date": 1515744000},
                                  {"number": "lots"}]):
        ctl("mutate", {"table": "leads", "op": "update", "id": rec["id"],
                       "set": {"custom." + defs[k]: x for k, x in v.items()}})
PY
}

# budget_amounts TRUTH.json — how many records hold an amount in Copper's Budget (1005, Currency):
# a number or a numeric string (null and text like "lots" are not amounts).
budget_amounts() {
    python3 - "$1" <<'PY'
import json, sys
n = 0
for rec in json.load(open(sys.argv[1]))["records"]:
    for e in rec.get("custom_fields") or []:
        v = e.get("value") if e.get("custom_field_definition_id") == 1005 else None
        if isinstance(v, str):
            try:
                float(v)
                n += 1
            except ValueError:
                pass
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            n += 1
print(n)
PY
}

for mode in schemas registry; do
    for crm in $CRMS; do
        source "$ROOT/tests/integration/${crm}_env.sh"
        SOURCE_NAME=$SOURCE_NAME$mode
        cfg=$WORK/cfg-$mode-$crm
        case $crm in
        close)
            start_close --seed 32 --param leads=30 --param activities=60 --param send_as_status=200
            # The report tables' rows are computed reports, compared with the simulator's own
            # computation in test 58 (and decoded like a consumer by every test's final check).
            close_cfg "$cfg" exactly-once '' 'rate_limit = 0;' \
                "$(tables_setting leads contacts opportunities activities users)" \
                "$([ "${INTEROP_TABLES:-all}" = all ] && echo 'tables = { exclude = ["report_activity_metrics", "report_activity_daily", "report_activity_by_user_daily", "report_lead_statuses_daily"]; };')"
            ;;
        pipedrive)
            start_pipedrive --seed 33 --param deals=40 --param persons=20
            write_cfg "$cfg" exactly-once 'rate_limit = 0;' \
                "$(tables_setting deals persons organizations products deal_fields)"
            ;;
        copper)
            start_copper --seed 34
            copper_cfg "$cfg" exactly-once '' 'rate_limit = 0;' \
                "$(tables_setting people companies leads opportunities projects tasks)"
            ;;
        *) fail "connector $crm has no interop setup here (connectors/README.md)" ;;
        esac
        mv "$WORK/sim.log" "$WORK/sim-$mode-$crm.log"
        CTL[$mode-$crm]=$SIM_URL
        NAME[$mode-$crm]=$SOURCE_NAME
        own_topics "$cfg" $mode $crm
        seed_values $crm
    done
done
# The test CRM in registry mode: its own source name, state topic and the registry.
SIM_URL=$TESTCRM_URL SOURCE_TYPE=testcrm SOURCE_NAME=acmereg write_cfg "$WORK/cfg-registry-testcrm" exactly-once
own_topics "$WORK/cfg-registry-testcrm" registry testcrm

# run_bg KEY — crmstream run --once of cfg-KEY in the background (log run-KEY.log).
run_bg() {
    "$CRMSTREAM" run -c "$WORK/cfg-$1" --once >>"$WORK/run-$1.log" 2>&1 &
    PID[$1]=$!
    CRM_PIDS+=("${PID[$1]}")
}
wait_runs() { # KEY...
    local k rc
    for k in "$@"; do
        rc=0
        wait "${PID[$k]}" || rc=$?
        [ "$rc" = 0 ] || fail "crmstream run --once ($k) exited $rc; log tail:
$(tail -n 20 "$WORK/run-$k.log")"
    done
}
start=$(date +%s)
FIRST_RUNS=$(for crm in $CRMS; do echo schemas-$crm registry-$crm; done; echo registry-testcrm)
for k in $FIRST_RUNS; do
    run_bg $k
done
# shellcheck disable=SC2086 # one key per word
wait_runs $FIRST_RUNS
note "$(($(echo $CRMS | wc -w) * 2)) CRM syncs and the test CRM's registry backfill took $(($(date +%s) - start)) s"

# Copper's custom fields evolve (both simulators alike), the test CRM loses an item, then a
# second sync of each (Close below).
for mode in schemas registry; do
    SIM_URL=${CTL[$mode-copper]}
    nps=$(sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"NPS score","data_type":"Float","available_on":["person"]}}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
    sim_ctl mutate '{"table":"custom_field_definitions","op":"update","id":1001,"set":{"name":"Sales region"}}' >/dev/null
    sim_ctl mutate '{"table":"custom_field_definitions","op":"update","id":1007,"set":{"data_type":"String"}}' >/dev/null
    read -r p1 p2 < <(truth people | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"]; print(r[3]["id"], r[4]["id"])')
    sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p1,\"set\":{\"custom_fields\":[
        {\"custom_field_definition_id\":1001,\"value\":\"APAC\"},{\"custom_field_definition_id\":1006,\"value\":[10062]},
        {\"custom_field_definition_id\":1007,\"value\":\"medium\"},{\"custom_field_definition_id\":$nps,\"value\":\"9.5\"}]}}" >/dev/null
    sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p2,\"set\":{\"custom_fields\":[
        {\"custom_field_definition_id\":1003,\"value\":\"maybe\"},{\"custom_field_definition_id\":$nps,\"value\":7}]}}" >/dev/null
    run_bg $mode-copper
done
# Close: a shared custom field for activities appears between the passes while the event log
# publishes edits of old activities (outside the attribution window) carrying it.
for mode in schemas registry; do
    SIM_URL=${CTL[$mode-close]}
    touch_id=$(sim_ctl mutate '{"table":"shared_custom_fields","op":"create","set":{"name":"Touch","type":"text","is_shared":true,"associations":[{"object_type":"activity","editable_with_roles":[],"required":false}]}}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
    for id in $(truth activities | python3 -c '
import json,sys
r=json.load(sys.stdin)["records"]; r.sort(key=lambda a: a["date_created"])
print(" ".join(a["id"] for a in r[:8]))'); do
        sim_ctl mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$id\",\"set\":{\"custom.$touch_id\":\"touched\"}}" >/dev/null
    done
    run_bg $mode-close
done
SIM_URL=$TESTCRM_URL
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000005"}' >/dev/null
run_bg registry-testcrm
wait_runs schemas-copper registry-copper registry-testcrm schemas-close registry-close

# The truths, the definitions and the Java check of each mode.
for mode in schemas registry; do
    args=()
    defs=()
    for crm in $CRMS; do
        SIM_URL=${CTL[$mode-$crm]}
        # The tables and their keys, as crmstream lists them.
        "$CRMSTREAM" tables -c "$WORK/cfg-$mode-$crm" >"$WORK/tables-$mode-$crm.txt" 2>&1 ||
            fail "crmstream tables: $(cat "$WORK/tables-$mode-$crm.txt")"
        topics=$PREFIX.${NAME[$mode-$crm]}
        while read -r table key topic; do
            truth "$table" >"$WORK/truth-$mode-$crm-$table.json" ||
                fail "the $crm simulator has no truth for $table"
            args+=(--topic "$topic" --truth "$WORK/truth-$mode-$crm-$table.json" --pk "$key")
        done < <(awk -v s="${NAME[$mode-$crm]}" -v p="$topics." \
            '$1 == s && index($NF, p) == 1 { print $2, $4, $NF }' "$WORK/tables-$mode-$crm.txt")
        dvar=DEFS_$crm
        for d in ${!dvar}; do
            truth "${d%%:*}" >"$WORK/defs-$mode-$crm-${d%%:*}.json" || fail "no truth for ${d%%:*}"
            defs+=(--defs "$WORK/defs-$mode-$crm-${d%%:*}.json")
            IFS=, read -r -a served <<<"${d#*:}"
            for t in "${served[@]}"; do defs+=(--defs-for "$topics.$t"); done
        done
    done
    if [ $mode = schemas ]; then
        enc=(--schemas-topic "$SCHEMAS_TOPIC")
    else
        enc=(--registry "$REGISTRY" --registry-user $REGISTRY_USER --registry-password-env INTEROP_REGISTRY_PASSWORD)
        SIM_URL=$TESTCRM_URL
        for t in items users events; do
            truth "$t" >"$WORK/truth-registry-testcrm-$t.json"
            args+=(--topic "$PREFIX.acmereg.$t" --truth "$WORK/truth-registry-testcrm-$t.json" --pk id)
        done
    fi
    start=$(date +%s)
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.Interop --bootstrap "$BOOTSTRAP" \
        "${enc[@]}" --timeout 30 "${defs[@]}" "${args[@]}" >"$WORK/interop-crms-$mode.txt" 2>&1 ||
        fail "Java could not read back what crmstream wrote ($mode):
$(grep -v '^interop .* mismatches=0 undecodable=0' "$WORK/interop-crms-$mode.txt" | head -n 40)"
    out=$WORK/interop-crms-$mode.txt
    checked=$(grep -c '^interop .*: records=' "$out")
    note "$mode: Java read $checked topics in $(($(date +%s) - start)) s"
    if [ "$checked" != $((${#args[@]} / 6)) ] || [ "$checked" -lt 16 ]; then
        fail "$checked topics checked ($mode), expected $((${#args[@]} / 6)) (at least 16)"
    fi
    grep '^interop .* custom_fields=[1-9]' "$out" | while read -r line; do note "$line"; done
    # topic_of CRM TABLE — a table's topic in this mode
    topic_of() { echo "$PREFIX.${NAME[$mode-$1]}.$2"; }
    custom_topics=$(grep -c '^interop .* custom_fields=[1-9]' "$out" || true)
    expect_eq "$custom_topics" 14 "topics with typed custom fields checked against the definitions ($mode)"
    expect_eq "$(field "$out" "$(topic_of copper people)" schemas)" 2 "people writer schemas seen by Java ($mode)"
    [ "$(field "$out" "$(topic_of copper people)" versions)" -ge 2 ] ||
        fail "people: $(field "$out" "$(topic_of copper people)" versions) published versions ($mode)"
    expect_eq "$(field "$out" "$(topic_of copper people)" custom_invalid)" 1 "people values kept in custom._invalid ($mode)"
    # Copper Budget (1005, Currency) values typed as Money: every amount the CRM holds, a number
    # or a numeric string (copper-api.md: a Currency value is a number, its currency the
    # definition's). The simulator used to serve [] for every Currency field, so only the amounts
    # seed_values sets were typed (this expectation was money:2); now the simulator's own amounts
    # are typed too, and there must be more than those two.
    for t in leads opportunities; do
        money=$(budget_amounts "$WORK/truth-$mode-copper-$t.json")
        [ "$money" -gt 2 ] || fail "only $money Copper $t budgets in the truth ($mode)"
        expect_eq "$(field "$out" "$(topic_of copper $t)" custom_typed | grep -o 'money:[0-9]*')" money:$money "Copper $t budgets typed as Money ($mode)"
    done
    expect_eq "$(field "$out" "$(topic_of pipedrive deals)" custom_invalid)" 1 "Pipedrive misfits ($mode)"
    expect_eq "$(field "$out" "$(topic_of close leads)" custom_invalid)" 1 "Close misfits ($mode)"
    values=$(grep '^interop ' "$out" | tr ' ' '\n' | sed -n 's/^custom_values=//p' | awk '{ s += $1 } END { print s + 0 }')
    invalid=$(grep '^interop ' "$out" | tr ' ' '\n' | sed -n 's/^custom_invalid=//p' | awk '{ s += $1 } END { print s + 0 }')
    [ "$values" -gt 100 ] || fail "only $values custom values checked ($mode)"
    note "$mode: $checked topics decoded by Java and equal to the CRMs; $values custom values checked, $invalid of them in _invalid"
done
out=$WORK/interop-crms-registry.txt
expect_eq "$(field "$out" "$PREFIX.acmereg.items" ops)" "d:1,r:202" "registry-mode items ops seen by Java"
expect_eq "$(field "$out" "$PREFIX.acmereg.items" tombstones)" 1 "registry-mode items tombstones seen by Java"

# Registry mode needs the credentials: without them Java must fail, not pass.
if java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.Interop --bootstrap "$BOOTSTRAP" \
    --registry "$REGISTRY" --timeout 30 --topic "$PREFIX.acmereg.users" \
    --truth "$WORK/truth-registry-testcrm-users.json" >"$WORK/interop-noauth.txt" 2>&1; then
    fail "Java read registry-mode topics without the registry's credentials"
fi
grep -q "HTTP 401" "$WORK/interop-noauth.txt" || fail "no 401 without credentials: $(head -n 5 "$WORK/interop-noauth.txt")"

# The custom field checks can fail: an altered truth (a typed value and a misfit changed) and
# altered definitions (a type and a label changed) for Copper's people.
people=$PREFIX.${NAME[schemas-copper]}.people
python3 - "$WORK/truth-schemas-copper-people.json" "$WORK/defs-schemas-copper-custom_field_definitions.json" \
    "$WORK/truth-forged-people.json" "$WORK/defs-forged.json" <<'PY' || fail "could not alter the truth"
import json, sys
truth, defs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
done = set()
for r in truth["records"]:
    for e in r["custom_fields"]:
        if e["custom_field_definition_id"] == 1003 and e["value"] == "maybe":
            e["value"] = True
            done.add("misfit")
        elif e["custom_field_definition_id"] == 1006 and e["value"] and "multi" not in done:
            e["value"] = [10061] if e["value"] != [10061] else [10062]
            done.add("multi")
for d in defs["records"]:
    if d["id"] == 1003: d["data_type"] = "Float"
    if d["id"] == 1006: d["name"] = "Hobbies"
assert done == {"misfit", "multi"}, done
json.dump(truth, open(sys.argv[3], "w"))
json.dump(defs, open(sys.argv[4], "w"))
PY
if java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.Interop --bootstrap "$BOOTSTRAP" \
    --schemas-topic "$SCHEMAS_TOPIC" --timeout 30 --max-report 100 --defs "$WORK/defs-forged.json" \
    --defs-for "$people" --topic "$people" --truth "$WORK/truth-forged-people.json" \
    >"$WORK/interop-forged-custom.txt" 2>&1; then
    fail "the interop check accepted altered custom values and definitions"
fi
out=$WORK/interop-forged-custom.txt
for want in "(1003): typed boolean, the CRM's Float is number" "the CRM's label is \"Hobbies\"" \
    "_invalid holds \"maybe\" but the CRM has true" "is in _invalid, but it converts to true" \
    "(1006, enum): typed \[.*\], but \[.*\] converts to \["; do
    grep -q "$want" "$out" || fail "not reported: $want
$(cat "$out")"
done
expect_eq "$(field "$out" "$people" mismatches)" 5 "problems found in altered custom values and definitions"
