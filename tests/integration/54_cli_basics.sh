#!/usr/bin/env bash
# CLI basics (#19): `tables`, `state` and `peek` need no CRM secrets (`validate` and the commands
# that talk to a CRM do); `check` answers within
# seconds when nothing answers (parallel probes, one try, short timeouts) and prints one summary
# table; --version; an unknown command is rejected before the config is read; `peek TABLE`
# asks for SOURCE.TABLE when two sources have that table; `tables` columns are aligned and the
# lookback carries its unit.
source "$(dirname "$0")/lib.sh"
EXAMPLE=$ROOT/producer.cfg.example
nosecrets() { env -u CLOSE_API_KEY -u PIPEDRIVE_API_TOKEN -u COPPER_API_KEY -u TESTCRM_TOKEN "$@"; }

# --version, and unknown commands rejected before the (missing) config is read.
version=$("$CRMSTREAM" --version)
[[ "$version" =~ ^crmstream\ [0-9]+\.[0-9] ]] || fail "--version printed \"$version\""
note "$version"
rc=0
"$CRMSTREAM" stats -c /nonexistent/x.cfg >"$WORK/unknown.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code of an unknown command"
grep -q 'unknown command "stats"' "$WORK/unknown.txt" || fail "unknown command not named: $(head -3 "$WORK/unknown.txt")"
if grep -q "nonexistent" "$WORK/unknown.txt"; then fail "the config was read before the command was checked"; fi

# tables: no secrets needed (the example's own comment sends users there first).
rc=0
nosecrets "$CRMSTREAM" tables -c "$EXAMPLE" >"$WORK/tables.txt" 2>"$WORK/tables.err" || rc=$?
expect_eq "$rc" 0 "tables exit code with no API key exported"
# Columns aligned: every table row has its TOPIC at the header's TOPIC offset.
python3 - "$WORK/tables.txt" <<'PY' || fail "tables columns are not aligned: $(head -5 "$WORK/tables.txt")"
import sys
lines = open(sys.argv[1]).read().split("\n\n")[0].splitlines()
head = lines[0]
cols = [head.index(c) for c in ("TABLE", "METHOD", "KEY", "REPLICATION", "LOOKBACK", "TOPIC")]
assert len(lines) > 60, len(lines)
for l in lines[1:]:
    for c in cols:
        assert l[c - 2:c] == "  " and l[c] != " ", (l, c)
PY
grep -Eq '^close +activities +APPEND_ONLY +id +date_created +24h +crm\.close\.activities$' "$WORK/tables.txt" ||
    fail "activities lookback not shown as 24h: $(grep activities "$WORK/tables.txt")"
grep -Eq '^copper +activities_search .* 1h +crm\.' "$WORK/tables.txt" || fail "copper lookback unit missing"
note "tables: $(grep -c ' crm\.' "$WORK/tables.txt") rows aligned, lookbacks with units"
# Commands that talk to a CRM still need the secrets.
rc=0
nosecrets "$CRMSTREAM" run --once -c "$EXAMPLE" >"$WORK/run-nosecret.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "run exit code with no API key exported"
grep -q "environment variable CLOSE_API_KEY" "$WORK/run-nosecret.txt" || fail "$(cat "$WORK/run-nosecret.txt")"

# validate: the config as run loads it, secrets included.
rc=0
nosecrets "$CRMSTREAM" validate -c "$EXAMPLE" >"$WORK/validate-nosecret.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "validate exit code with no API key exported"
grep -q "environment variable CLOSE_API_KEY is not set" "$WORK/validate-nosecret.txt" || fail "$(cat "$WORK/validate-nosecret.txt")"
CLOSE_API_KEY=k PIPEDRIVE_API_TOKEN=t COPPER_API_KEY=c "$CRMSTREAM" validate -c "$EXAMPLE" >"$WORK/validate.txt" 2>&1 ||
    fail "validate with the secrets set: $(cat "$WORK/validate.txt")"
grep -Eq "valid, 3 sources, [0-9]+ enabled tables" "$WORK/validate.txt" || fail "validate: $(cat "$WORK/validate.txt")"

# peek: "leads" is in Close and Copper.
rc=0
nosecrets "$CRMSTREAM" peek -c "$EXAMPLE" leads >"$WORK/peek-ambiguous.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "peek exit code for an ambiguous table"
grep -q 'name one as SOURCE.TABLE (close.leads, copper.leads)' "$WORK/peek-ambiguous.txt" ||
    fail "peek did not ask for SOURCE.TABLE: $(cat "$WORK/peek-ambiguous.txt")"

# A real sync, then state and peek with no secret exported.
start_sim testcrm --seed 50 --param items=40 --param users=3
write_cfg "$WORK/cfg" exactly-once
run_once "$WORK/cfg"
nosecrets "$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state.txt" 2>&1 || fail "state without secrets: $(cat "$WORK/state.txt")"
grep -Eq '^acme/items +[^ ]+ +1 +40 +no( |$)' "$WORK/state.txt" || fail "state: $(cat "$WORK/state.txt")"
sort -c <(grep '^acme/' "$WORK/state.txt") || fail "state rows not sorted"
nosecrets "$CRMSTREAM" peek -c "$WORK/cfg" items 2 >"$WORK/peek.txt" 2>&1 || fail "peek without secrets: $(cat "$WORK/peek.txt")"
expect_eq "$(grep -c '"offset"' "$WORK/peek.txt")" 2 "events shown by peek without secrets"

# check with everything answering: fast, one summary table.
start=$(date +%s.%N)
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-ok.txt" 2>&1 || fail "check: $(cat "$WORK/check-ok.txt")"
note "check (all reachable) took $(echo "$(date +%s.%N) - $start" | bc) s"
grep -Eq '^CHECK +RESULT +TARGET +DETAIL$' "$WORK/check-ok.txt" || fail "no summary header: $(cat "$WORK/check-ok.txt")"
expect_eq "$(grep -c ' OK ' "$WORK/check-ok.txt")" 3 "OK rows (config, kafka, source)"

# check with nothing answering in time: a source whose API hangs, one nobody listens on, and a
# broker that is not there. The old check retried 7 times per source, one source at a time.
sim_ctl latency '{"ms":60000}' >/dev/null
dead_port=$((KAFKA_PORT + 7))
{
    echo "kafka = { bootstrap_servers = \"127.0.0.1:$dead_port\"; topic_prefix = \"$PREFIX\"; };"
    echo "sources = ( { type = \"testcrm\"; name = \"slow\"; base_url = \"$SIM_URL\"; },"
    echo "  { type = \"testcrm\"; name = \"gone\"; base_url = \"http://127.0.0.1:$dead_port\"; },"
    echo "  { type = \"testcrm\"; name = \"gone2\"; base_url = \"http://127.0.0.1:$dead_port\"; } );"
} >"$WORK/cfg-dead"
start=$(date +%s.%N)
rc=0
"$CRMSTREAM" check -c "$WORK/cfg-dead" >"$WORK/check-dead.txt" 2>"$WORK/check-dead.err" || rc=$?
took=$(echo "$(date +%s.%N) - $start" | bc)
note "check (nothing reachable) took $took s, exit $rc"
[ "$rc" != 0 ] || fail "check passed with nothing reachable"
(($(echo "$took < 15" | bc))) || fail "check took $took s with nothing reachable: $(cat "$WORK/check-dead.txt")"
expect_eq "$(grep -c ' ERROR ' "$WORK/check-dead.txt")" 4 "ERROR rows (kafka and three sources)"
grep -Eq '^source slow +ERROR .*timed out' "$WORK/check-dead.txt" || fail "the hanging API is not said to time out: $(cat "$WORK/check-dead.txt")"
grep -q "after 1 attempt" "$WORK/check-dead.txt" || fail "check retried: $(cat "$WORK/check-dead.txt")"
[ "$(head -n 1 "$WORK/check-dead.txt" | cut -c1-5)" = "CHECK" ] || fail "output before the summary: $(head -3 "$WORK/check-dead.txt")"
if grep -Eq 'retrying|librdkafka|attempt [0-9]+ of' "$WORK/check-dead.err"; then
    fail "probe log lines around the summary: $(head -5 "$WORK/check-dead.err")"
fi
sim_ctl latency '{"ms":0}' >/dev/null
