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
#  - Close, Pipedrive and Copper: every table (five each with INTEROP_TABLES=few) after a backfill,
#    in both encodings (schemas topic, then a registry simulator), with typed custom fields checked
#    against the raw CRM values by Java's own conversion, and a Copper custom field evolution
#    between two syncs (two compatible writer schemas, a misfit kept in custom._invalid).
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

# ---- one source of each real CRM, in both encodings ---------------------------------------------
# Every table of Close, Pipedrive and Copper (INTEROP_TABLES=few: five each), first with the
# schemas topic (single-object encoding), then with a registry simulator (Confluent wire format,
# its own topic prefix). The three syncs of a mode run at the same time (own simulator, source and
# state topic). Between two syncs, Copper's custom fields evolve (a field added, one renamed, one
# retyped, a value of the wrong type): Java must see the new compatible writer schema of people,
# the typed values and the misfit kept in custom._invalid.
"$CRMSIM" --crm registry --port 0 --port-file "$WORK/registry.port" >"$WORK/registry.log" 2>&1 &
SIM_PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/registry.port" ] && break; sleep 0.05; done
REGISTRY="http://127.0.0.1:$(cat "$WORK/registry.port")"
declare -A URL NAME PID
tables_setting() { # T... -> tables = { include = ["T", ...]; }; (nothing for all tables)
    [ "${INTEROP_TABLES:-all}" = all ] && return 0
    local list="" t
    for t in "$@"; do list="$list${list:+, }\"$t\""; done
    echo "tables = { include = [$list]; };"
}
# definition tables whose truth Java needs to type custom values
DEFS_close="custom_fields contact_custom_fields opportunity_custom_fields activity_custom_fields shared_custom_fields"
DEFS_pipedrive="deal_fields person_fields organization_fields product_fields"
DEFS_copper="custom_field_definitions"

for mode in schemas registry; do
    for crm in close pipedrive copper; do
        source "$ROOT/tests/integration/${crm}_env.sh"
        SOURCE_NAME=$SOURCE_NAME$mode
        case $crm in
        close)
            start_close --seed 32 --param leads=30 --param activities=60 --param send_as_status=200
            close_cfg "$WORK/cfg-$mode-$crm" exactly-once '' 'rate_limit = 0;' \
                "$(tables_setting leads contacts opportunities activities users)"
            ;;
        pipedrive)
            start_pipedrive --seed 33 --param deals=40 --param persons=20
            write_cfg "$WORK/cfg-$mode-$crm" exactly-once 'rate_limit = 0;' \
                "$(tables_setting deals persons organizations products deal_fields)"
            ;;
        copper)
            start_copper --seed 34
            copper_cfg "$WORK/cfg-$mode-$crm" exactly-once '' 'rate_limit = 0;' \
                "$(tables_setting people companies leads opportunities custom_field_definitions)"
            ;;
        esac
        URL[$crm]=$SIM_URL
        NAME[$crm]=$SOURCE_NAME
        cfg=$WORK/cfg-$mode-$crm
        if [ $mode = schemas ]; then
            with_schemas_topic "$cfg"
        else
            echo "schema_registry = { url = \"$REGISTRY\"; };" >>"$cfg"
        fi
        sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state-$mode-$crm\";/" "$cfg"
        "$CRMSTREAM" run -c "$cfg" --once >"$WORK/run-$mode-$crm.log" 2>&1 &
        PID[$crm]=$!
        CRM_PIDS+=("${PID[$crm]}")
    done
    for crm in close pipedrive copper; do
        rc=0
        wait "${PID[$crm]}" || rc=$?
        [ "$rc" = 0 ] || fail "crmstream run --once ($mode, $crm) exited $rc; log tail:
$(tail -n 20 "$WORK/run-$mode-$crm.log")"
    done

    # Copper's custom fields evolve, then a second sync.
    SIM_URL=${URL[copper]}
    CTL_URL=${URL[copper]%/developer_api/v1}
    SIM_URL=$CTL_URL
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
    "$CRMSTREAM" run -c "$WORK/cfg-$mode-copper" --once >>"$WORK/run-$mode-copper.log" 2>&1 ||
        fail "second copper sync ($mode) failed: $(tail -n 20 "$WORK/run-$mode-copper.log")"

    args=()
    defs=()
    for crm in close pipedrive copper; do
        SIM_URL=${URL[$crm]}
        [ $crm = copper ] && SIM_URL=${URL[copper]%/developer_api/v1}
        # The tables and their keys, as crmstream lists them.
        "$CRMSTREAM" tables -c "$WORK/cfg-$mode-$crm" >"$WORK/tables-$mode-$crm.txt" 2>&1 ||
            fail "crmstream tables: $(cat "$WORK/tables-$mode-$crm.txt")"
        while read -r table key topic; do
            truth "$table" >"$WORK/truth-$mode-$crm-$table.json" ||
                fail "the $crm simulator has no truth for $table"
            args+=(--topic "$topic" --truth "$WORK/truth-$mode-$crm-$table.json" --pk "$key")
        done < <(awk -v s="${NAME[$crm]}" -v p="$PREFIX.${NAME[$crm]}." \
            '$1 == s && index($NF, p) == 1 { print $2, $4, $NF }' "$WORK/tables-$mode-$crm.txt")
        dvar=DEFS_$crm
        for d in ${!dvar}; do
            truth "$d" >"$WORK/defs-$mode-$crm-$d.json" || fail "no truth for $d"
            defs+=(--defs "$WORK/defs-$mode-$crm-$d.json")
        done
    done
    if [ $mode = schemas ]; then
        enc=(--schemas-topic "$SCHEMAS_TOPIC")
    else
        enc=(--registry "$REGISTRY")
    fi
    java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$CP" crmstream.Interop --bootstrap "$BOOTSTRAP" \
        "${enc[@]}" --timeout 30 "${defs[@]}" "${args[@]}" >"$WORK/interop-crms-$mode.txt" 2>&1 ||
        fail "Java could not read back what crmstream wrote ($mode):
$(grep -v '^interop .* mismatches=0 undecodable=0' "$WORK/interop-crms-$mode.txt" | head -n 40)"
    out=$WORK/interop-crms-$mode.txt
    checked=$(grep -c '^interop .*: records=' "$out")
    if [ "$checked" != $((${#args[@]} / 6)) ] || [ "$checked" -lt 15 ]; then
        fail "$checked CRM topics checked ($mode), expected $((${#args[@]} / 6)) (at least 15)"
    fi
    people="$PREFIX.${NAME[copper]}.people"
    expect_eq "$(field "$out" "$people" schemas)" 2 "people writer schemas seen by Java ($mode)"
    expect_eq "$(field "$out" "$people" custom_invalid)" 1 "people values kept in custom._invalid ($mode)"
    values=$(grep '^interop ' "$out" | tr ' ' '\n' | sed -n 's/^custom_values=//p' | awk '{ s += $1 } END { print s + 0 }')
    [ "$values" -gt 100 ] || fail "only $values typed custom values checked ($mode)"
    note "$mode: $checked topics decoded by Java and equal to the CRMs; $values typed custom values checked"
done
