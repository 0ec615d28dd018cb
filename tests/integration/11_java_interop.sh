#!/usr/bin/env bash
# Interop with a real Avro implementation: a Java program (tests/interop, Apache Avro 1.11 and
# kafka-clients from Maven Central) resolves every writer schema from the schemas topic by
# fingerprint, decodes every event read_committed, and compares the latest image of every key
# with the simulator's truth field by field — after a backfill plus updates, creates and deletes,
# for the test CRM and for Close, Pipedrive and Copper tables.
source "$(dirname "$0")/lib.sh"
INTEROP=$ROOT/tests/interop
if [ ! -f "$INTEROP/target/classpath.txt" ] || [ -n "$(find "$INTEROP/src" "$INTEROP/pom.xml" -newer "$INTEROP/target/classpath.txt")" ]; then
    start=$(date +%s)
    (cd "$INTEROP" && mvn -q -B package && mvn -q -B dependency:build-classpath \
        -Dmdep.outputFile=target/classpath.txt) >"$WORK/mvn.log" 2>&1 ||
        fail "maven build failed: $(tail -n 20 "$WORK/mvn.log")"
    note "interop program built in $(($(date +%s) - start)) s"
fi
CP="$INTEROP/target/interop-1.jar:$(cat "$INTEROP/target/classpath.txt")"
SCHEMAS_TOPIC="$PREFIX.schemas"

interop() { # CFG (TOPIC_TABLE TRUTH PK)...
    java -cp "$CP" crmstream.Interop "$BOOTSTRAP" "$SCHEMAS_TOPIC" "$@" >"$WORK/interop.txt" 2>&1 ||
        fail "Java could not read back what crmstream wrote:
$(cat "$WORK/interop.txt")"
    grep '^interop' "$WORK/interop.txt" | while read -r line; do note "$line"; done
}

# The test CRM, after a backfill and a round of changes.
start_sim testcrm --seed 31 --param items=200 --param users=15
write_cfg "$WORK/cfg" exactly-once
sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state\"; schemas_topic = \"$SCHEMAS_TOPIC\";/" "$WORK/cfg"
run_once "$WORK/cfg"
sim_ctl mutate '{"table":"items","op":"update","count":5}' >/dev/null
sim_ctl mutate '{"table":"items","op":"create","count":3}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000004"}' >/dev/null
sim_ctl mutate '{"table":"users","op":"delete","id":3}' >/dev/null
run_once "$WORK/cfg"
args=()
for t in items users events; do
    truth "$t" >"$WORK/truth-$t.json"
    args+=("$PREFIX.acme.$t" "$WORK/truth-$t.json" id)
done
interop "${args[@]}"

# The comparison can fail: an altered truth (one item renamed) must be reported.
sed 's/"name":"/"name":"altered /' "$WORK/truth-items.json" >"$WORK/truth-items-altered.json"
if java -cp "$CP" crmstream.Interop "$BOOTSTRAP" "$SCHEMAS_TOPIC" "$PREFIX.acme.items" \
    "$WORK/truth-items-altered.json" id >"$WORK/interop-negative.txt" 2>&1; then
    fail "the interop check accepted an altered truth"
fi
grep -q "MISMATCH .*name" "$WORK/interop-negative.txt" || fail "no name mismatch reported"
note "an altered truth is reported: $(grep -c MISMATCH "$WORK/interop-negative.txt") mismatches shown"

# One source of each real CRM, a handful of tables each.
for crm in close pipedrive copper; do
    source "$ROOT/tests/integration/${crm}_env.sh"
    case $crm in
    close) start_close --seed 32 --param leads=30 --param activities=60
        cfgfn() { close_cfg "$WORK/cfg-$crm" exactly-once '' 'rate_limit = 0;' \
            "$(close_tables leads contacts opportunities activities users)"; }
        tables="leads contacts opportunities activities users" ;;
    pipedrive) start_pipedrive --seed 33 --param deals=40 --param persons=20
        cfgfn() { write_cfg "$WORK/cfg-$crm" exactly-once 'rate_limit = 0;' \
            'tables = { include = ["deals", "persons", "organizations", "notes", "deal_fields"]; };'; }
        tables="deals persons organizations notes deal_fields" ;;
    copper) start_copper --seed 34
        cfgfn() { copper_cfg "$WORK/cfg-$crm" exactly-once '' 'rate_limit = 0;' \
            'tables = { include = ["people", "companies", "opportunities", "tasks", "users"]; };'; }
        tables="people companies opportunities tasks users" ;;
    esac
    cfgfn
    sed -i "s/state_topic = \"$PREFIX.state\";/state_topic = \"$PREFIX.state\"; schemas_topic = \"$SCHEMAS_TOPIC\";/" "$WORK/cfg-$crm"
    run_once "$WORK/cfg-$crm"
    args=()
    for t in $tables; do
        truth "$t" >"$WORK/truth-$crm-$t.json"
        args+=("$PREFIX.$SOURCE_NAME.$t" "$WORK/truth-$crm-$t.json" id)
    done
    interop "${args[@]}"
done
