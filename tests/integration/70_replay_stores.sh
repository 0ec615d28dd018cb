#!/usr/bin/env bash
# Replay (#18): after syncs of the testcrm and Copper simulators with creates, updates, deletes and
# a custom field added between polls, `crmstream replay` materializes the topics into SQLite and
# into a real PostgreSQL, and both equal the simulators' truth table by table (row counts, keys,
# typed values); the new custom field arrives as a new typed column (ALTER TABLE during the
# second replay), deletes remove rows, and a replay with nothing new changes nothing. A store it
# cannot reach is one error line naming it (password masked), exit 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/replay_env.sh"
start_pg

# testcrm: a first sync, then creates, updates and deletes
start_sim testcrm --seed 70
write_cfg "$WORK/cfg-t" exactly-once
run_once "$WORK/cfg-t"
replay_once "$WORK/cfg-t" "$SQLITE_URL"
replay_once "$WORK/cfg-t" "$PG_URL"
sim_ctl mutate '{"table":"items","op":"create","count":3}' >/dev/null
sim_ctl mutate '{"table":"items","op":"update","ids":["itm_000010","itm_000011"]}' >/dev/null
sim_ctl mutate '{"table":"items","op":"delete","id":"itm_000005"}' >/dev/null
sim_ctl mutate '{"table":"users","op":"delete","id":4}' >/dev/null
sim_ctl mutate '{"table":"users","op":"update","id":7}' >/dev/null
run_once "$WORK/cfg-t"
compare_table "$WORK/cfg-t" items
for url in "$SQLITE_URL" "$PG_URL"; do
    replay_once "$WORK/cfg-t" "$url"
    replay_compare "$url" acme_items items id
    replay_compare "$url" acme_users users id
    expect_eq "$(sql "$url" "SELECT count(*) FROM acme_items WHERE _key = 'itm_000005'")" 0 "deleted item gone"
done
expect_eq "$(sql "$PG_URL" "SELECT data_type FROM information_schema.columns WHERE table_name = 'acme_items' AND column_name = 'updated_at'")" \
    "timestamp with time zone" "PostgreSQL type of items.updated_at"

# Copper: people with typed custom fields; a field is added between polls, people are deleted
source "$(dirname "$0")/copper_env.sh"
start_copper --seed 70 --param rate_per_min=0
copper_cfg "$WORK/cfg-c" exactly-once '' 'rate_limit = 0;' 'reconcile_interval = "1s";' \
    'tables = { include = ["people", "companies", "custom_field_definitions"]; };'
run_once "$WORK/cfg-c"
src=$SOURCE_NAME
for url in "$SQLITE_URL" "$PG_URL"; do replay_once "$WORK/cfg-c" "$url"; done
expect_eq "$(sql "$SQLITE_URL" "SELECT count(*) FROM pragma_table_info('${src}_people') WHERE name = 'custom_lifetime_value'")" 0 \
    "lifetime_value column before the field exists"

new_id=$(sim_ctl mutate '{"table":"custom_field_definitions","op":"create","set":{"name":"Lifetime value","data_type":"Float","available_on":["person"]}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
read -r p1 p2 < <(truth people | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"]; print(r[0]["id"], r[1]["id"])')
sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p1,\"set\":{\"custom_fields\":[
    {\"custom_field_definition_id\":1001,\"value\":\"EMEA\"},
    {\"custom_field_definition_id\":1003,\"value\":true},
    {\"custom_field_definition_id\":$new_id,\"value\":1234.5}]}}" >/dev/null
sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p2,\"set\":{\"custom_fields\":[
    {\"custom_field_definition_id\":$new_id,\"value\":\"12.5\"}]}}" >/dev/null
sim_ctl mutate '{"table":"people","op":"delete","count":3}' >/dev/null
sim_ctl mutate '{"table":"people","op":"create","count":4}' >/dev/null
sim_ctl mutate '{"table":"companies","op":"delete","count":2}' >/dev/null
sleep 1
run_once "$WORK/cfg-c"
compare_table "$WORK/cfg-c" people
for url in "$SQLITE_URL" "$PG_URL"; do
    replay_once "$WORK/cfg-c" "$url"
    replay_compare "$url" "${src}_people" people id -custom_fields \
        "custom_lifetime_value=1234.5@$p1" "custom_lifetime_value=12.5@$p2" \
        "custom_region=\"EMEA\"@$p1" "custom_newsletter=true@$p1"
    replay_compare "$url" "${src}_companies" companies id -custom_fields
done
expect_eq "$(sql "$PG_URL" "SELECT data_type FROM information_schema.columns WHERE table_name = '${src}_people' AND column_name = 'custom_lifetime_value'")" \
    "double precision" "PostgreSQL type of the new custom field"

# A running replay follows five more schema versions (a resolver reads the schemas topic at
# most twice; the replay asks a fresh one when it meets a schema newer than that)
"$CRMSTREAM" replay -c "$WORK/cfg-c" --to "$SQLITE_URL" >"$WORK/replay-daemon.log" 2>&1 &
daemon=$!
CRM_PIDS+=($daemon)
for n in 1 2 3 4 5; do
    id=$(sim_ctl mutate "{\"table\":\"custom_field_definitions\",\"op\":\"create\",\"set\":{\"name\":\"Extra $n\",\"data_type\":\"Float\",\"available_on\":[\"person\"]}}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
    sim_ctl mutate "{\"table\":\"people\",\"op\":\"update\",\"id\":$p1,\"set\":{\"custom_fields\":[
        {\"custom_field_definition_id\":$id,\"value\":$n.5}]}}" >/dev/null
    run_once "$WORK/cfg-c"
    for _ in $(seq 100); do
        [ "$(sql "$SQLITE_URL" "SELECT custom_extra_$n FROM ${src}_people WHERE _key = '$p1'" 2>/dev/null)" = "$n.5" ] && break
        kill -0 "$daemon" 2>/dev/null || fail "the running replay exited: $(tail -n 3 "$WORK/replay-daemon.log")"
        sleep 0.1
    done
    expect_eq "$(sql "$SQLITE_URL" "SELECT custom_extra_$n FROM ${src}_people WHERE _key = '$p1'")" "$n.5" \
        "schema version +$n replayed by the running replay"
done
kill -TERM "$daemon"
wait_for_exit "$daemon" 20
expect_eq "$EXIT_CODE" 0 "running replay after SIGTERM"
replay_compare "$SQLITE_URL" "${src}_people" people id -custom_fields

# Nothing new: a replay writes nothing and the offsets stay
replay_once "$WORK/cfg-c" "$PG_URL"
before=$(sql "$PG_URL" "SELECT sum(next_offset) FROM crmstream_offsets")
replay_once "$WORK/cfg-c" "$PG_URL"
expect_eq "$(sql "$PG_URL" "SELECT sum(next_offset) FROM crmstream_offsets")" "$before" "offsets after an idle replay"

# An unreachable store: one line naming it, the password masked, exit 1
rc=0
"$CRMSTREAM" replay -c "$WORK/cfg-c" --to "postgresql://crm:hunter2@127.0.0.1:1/crm" --once \
    >"$WORK/unreachable.out" 2>&1 || rc=$?
expect_eq "$rc" 1 "exit code for an unreachable store"
grep -q 'crmstream: replay: postgresql postgresql://crm:\*\*\*@127.0.0.1:1/crm: cannot connect' "$WORK/unreachable.out" ||
    fail "unreachable store message: $(cat "$WORK/unreachable.out")"
grep -q hunter2 "$WORK/unreachable.out" && fail "the password was printed"
note "$(cat "$WORK/unreachable.out")"
