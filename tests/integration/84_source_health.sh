#!/usr/bin/env bash
# Per-source observability (#20 item 5) on the real broker: one daemon runs three sources, each on
# its own simulator — ok (healthy), badkey (its token file holds a token the CRM rejects: the
# source stops, auth_failed) and flaky (its items endpoint answers 400 on every request: that
# table fails pass after pass, the others go on). /metrics (crmstream_source_*), /status and
# `crmstream state` (the table view, --unhealthy, --summary) show each source's state, lag, failures
# in a row and last error kind; then the faults are removed — the endpoint heals (the next pass
# succeeds by itself), the token file is fixed and SIGHUP restarts the sources — and both show
# every source healthy again. Per shard: assigned here, its sources, its transactions, and the
# SHARD column of `state`.
source "$(dirname "$0")/lib.sh"
OPS_PORT=$((KAFKA_PORT + 4))
M="http://127.0.0.1:$OPS_PORT"

start_sim testcrm --seed 84 --param items=40 --param users=4
SIM_OK=$SIM_URL
start_sim testcrm --seed 85 --param items=40 --param users=4 --param token=good-token-84
SIM_BAD=$SIM_URL
start_sim testcrm --seed 86 --param items=40 --param users=4
SIM_FLAKY=$SIM_URL
SIM_URL=$SIM_FLAKY sim_ctl fault '{"kind":"status","status":400,"count":-1,"path_prefix":"/api/items","body":"{\"error\":\"flaky-84\"}"}' >/dev/null

mkdir -p "$WORK/secrets"
printf 'wrong-token-84\n' >"$WORK/secrets/badkey"
CFGS+=("$WORK/cfg")
cat >"$WORK/cfg" <<EOF
log_level = "info";
metrics = { listen = "127.0.0.1"; port = $OPS_PORT; };
kafka = { bootstrap_servers = "$BOOTSTRAP"; topic_prefix = "$PREFIX";
  state_topic = "$PREFIX.state"; delivery = "exactly-once"; transaction_timeout = "20s"; };
sources = (
  { type = "testcrm"; name = "ok"; base_url = "$SIM_OK"; poll_interval = "1s"; },
  { type = "testcrm"; name = "badkey"; base_url = "$SIM_BAD"; poll_interval = "1s";
    options = { token_file = "secrets/badkey"; }; },
  { type = "testcrm"; name = "flaky"; base_url = "$SIM_FLAKY"; poll_interval = "1s"; }
);
EOF

# scrape — /metrics into metrics.txt, /status into status.json.
scrape() {
    curl -fsS "$M/metrics" >"$WORK/metrics.txt" && curl -fsS "$M/status" >"$WORK/status.json"
}
# series NAME{LABELS} — its value in the last scrape ("absent" when not there).
series() {
    awk -v s="$1" 'index($0, s " ") == 1 { v = $2; n++ } END { print n ? v : "absent" }' "$WORK/metrics.txt"
}
# wait_until DESCRIPTION SECONDS COMMAND... — scrapes until COMMAND succeeds.
wait_until() {
    local what=$1 secs=$2
    shift 2
    for _ in $(seq $((secs * 4))); do
        if scrape 2>/dev/null && "$@"; then return 0; fi
        kill -0 "$CRM_PID" 2>/dev/null || fail "crmstream exited; log tail: $(tail -n 20 "$WORK/run.log")"
        sleep 0.25
    done
    fail "$what within ${secs}s; metrics: $(grep '^crmstream_source_' "$WORK/metrics.txt" | head -40)"
}
failing_twice() { [ "$(series 'crmstream_source_consecutive_failures{source="flaky"}')" -ge 2 ] 2>/dev/null; }
ok_synced() { [ "$(series 'crmstream_source_last_success_timestamp_seconds{source="ok"}')" != 0.000 ] &&
    [ "$(series 'crmstream_source_last_success_timestamp_seconds{source="ok"}')" != absent ]; }
bad_stopped() { [ "$(series 'crmstream_source_state{source="badkey",state="auth_failed"}')" = 1 ]; }

start_daemon "$WORK/cfg"
wait_until "ok synced, badkey auth_failed, flaky failing twice" 60 eval 'ok_synced && bad_stopped && failing_twice'

# /metrics: the three states, failures in a row, last error kinds, lag
expect_eq "$(series 'crmstream_source_state{source="ok",state="running"}')" 1 "ok running"
expect_eq "$(series 'crmstream_source_state{source="ok",state="auth_failed"}')" 0 "ok not auth_failed"
expect_eq "$(series 'crmstream_source_state{source="badkey",state="running"}')" 0 "badkey not running"
expect_eq "$(series 'crmstream_source_state{source="flaky",state="running"}')" 1 "flaky still running"
expect_eq "$(series 'crmstream_source_consecutive_failures{source="ok"}')" 0 "ok failures in a row"
expect_eq "$(series 'crmstream_source_failing_tables{source="flaky"}')" 1 "flaky failing tables (items only)"
expect_eq "$(series 'crmstream_source_last_error_timestamp_seconds{source="ok",kind="none"}')" 0.000 "ok: no error"
[ "$(series 'crmstream_source_last_error_timestamp_seconds{source="badkey",kind="auth"}')" != absent ] ||
    fail "badkey's last error is not of kind auth: $(grep 'last_error_timestamp_seconds{source="badkey"' "$WORK/metrics.txt")"
[ "$(series 'crmstream_source_last_error_timestamp_seconds{source="flaky",kind="http"}')" != absent ] ||
    fail "flaky's last error is not of kind http: $(grep 'last_error_timestamp_seconds{source="flaky"' "$WORK/metrics.txt")"
lag=$(series 'crmstream_source_lag_seconds{source="ok"}')
awk -v l="$lag" 'BEGIN { exit !(l >= 0 && l < 86400 * 365 * 30) }' || fail "ok lag $lag"
expect_eq "$(series 'crmstream_source_lag_seconds{source="badkey"}')" absent "badkey lag (no bookmark ever)"
# the flaky source's healthy tables commit: it has a lag; its items table does not
[ "$(series 'crmstream_source_lag_seconds{source="flaky"}')" != absent ] || fail "flaky has no lag"
expect_eq "$(series 'crmstream_bookmark_age_seconds{source="flaky",table="items"}')" absent "flaky items lag"
note "metrics: ok running, badkey auth_failed, flaky failing $(series 'crmstream_source_consecutive_failures{source="flaky"}') passes in a row (kind http), ok lag ${lag}s"

# /status carries the message of the last error
python3 - "$WORK/status.json" <<'EOF' || fail "/status: $(cat "$WORK/status.json")"
import json, sys
s = {x["source"]: x for x in json.load(open(sys.argv[1]))["sources"]}
assert s["badkey"]["state"] == "auth_failed", s["badkey"]
items = [t for t in s["flaky"]["table_status"] if t["table"] == "items"][0]
assert items["last_error_kind"] == "http" and "400" in items["last_error"], items
assert "wrong-token" not in json.dumps(s), "a secret in /status"
EOF

# per shard (kafka.shards, default 4): the sources' shards are assigned here, hold 3 sources in
# all, and ok's shard has committed
python3 - "$WORK/status.json" "$WORK/metrics.txt" <<'EOF' || fail "per shard: $(grep '^crmstream_shard_' "$WORK/metrics.txt")"
import json, re, sys
st = json.load(open(sys.argv[1]))
m = {}
for line in open(sys.argv[2]):
    g = re.match(r'(crmstream_shard_\w+)\{shard="(\d+)"\} (\S+)$', line)
    if g:
        m[(g.group(1), int(g.group(2)))] = float(g.group(3))
src = {x["source"]: x for x in st["sources"]}
assert sum(v for (k, _), v in m.items() if k == "crmstream_shard_sources") == 3, m
for name in ("ok", "badkey", "flaky"):
    assert m[("crmstream_shard_assigned", src[name]["shard"])] == 1, name
okshard = src["ok"]["shard"]
assert m[("crmstream_shard_transactions_committed_total", okshard)] > 0, m
assert m[("crmstream_shard_last_commit_timestamp_seconds", okshard)] > 0, m
print("  [84_source_health] shards: ok on %d, badkey on %d, flaky on %d; %d transactions on ok's" %
      (okshard, src["badkey"]["shard"], src["flaky"]["shard"],
       m[("crmstream_shard_transactions_committed_total", okshard)]))
EOF

# crmstream state: the table view with the live columns (STATUS 9, FAILS 10, LAST ERROR 11)
"$CRMSTREAM" state -c "$WORK/cfg" >"$WORK/state.txt" 2>&1 || fail "state: $(cat "$WORK/state.txt")"
col() { awk -v t="$1" -v c="$2" '$1 == t { print $c }' "$WORK/state.txt"; }
expect_eq "$(col ok/items 9)" running "state: ok/items status"
expect_eq "$(col ok/items 10)" 0 "state: ok/items failures"
expect_eq "$(col flaky/users 9)" running "state: flaky/users status"
[ "$(col ok/items 6)" != - ] || fail "state: no lag for ok/items: $(cat "$WORK/state.txt")"
grep -q "(live status: $M: 3 sources)" "$WORK/state.txt" || fail "state: live note: $(tail -n 2 "$WORK/state.txt")"
ok_shard=$(python3 -c 'import json,sys; print([s["shard"] for s in json.load(open(sys.argv[1]))["sources"] if s["source"] == "ok"][0])' "$WORK/status.json")
expect_eq "$(col ok/items 8)" "$ok_shard" "state: ok/items shard"
# --unhealthy: the tables of badkey (never synced, auth_failed) and flaky, not ok's
"$CRMSTREAM" state -c "$WORK/cfg" --unhealthy >"$WORK/unhealthy.txt" 2>&1 || fail "state --unhealthy: $(cat "$WORK/unhealthy.txt")"
grep -q '^ok/' "$WORK/unhealthy.txt" && fail "--unhealthy lists the healthy source: $(cat "$WORK/unhealthy.txt")"
grep -Eq '^badkey/[a-z]+ +- .* auth_failed +[0-9]+ +auth ' "$WORK/unhealthy.txt" || fail "--unhealthy badkey: $(cat "$WORK/unhealthy.txt")"
grep -Eq '^flaky/items .* running +[0-9]+ +http .*400' "$WORK/unhealthy.txt" || fail "--unhealthy flaky/items: $(cat "$WORK/unhealthy.txt")"
# --summary: counts and one line per unhealthy source
"$CRMSTREAM" state -c "$WORK/cfg" --summary >"$WORK/summary.txt" 2>&1 || fail "state --summary: $(cat "$WORK/summary.txt")"
grep -q 'sources: 3 configured; live from 1 of 1 instances: 1 running, 1 failing, 1 auth_failed, 0 stopped, 0 not reported' \
    "$WORK/summary.txt" || fail "--summary counts: $(cat "$WORK/summary.txt")"
grep -q '^unhealthy sources (2):' "$WORK/summary.txt" || fail "--summary unhealthy: $(cat "$WORK/summary.txt")"
grep -Eq '^badkey +auth_failed ' "$WORK/summary.txt" || fail "--summary badkey: $(cat "$WORK/summary.txt")"
grep -Eq '^flaky +failing +[0-3] +[0-9]+ .* http [0-9]+s ago ' "$WORK/summary.txt" || fail "--summary flaky: $(cat "$WORK/summary.txt")"
grep -q 'lag (now - bookmark) over [0-9]* tables: p50' "$WORK/summary.txt" || fail "--summary lag: $(cat "$WORK/summary.txt")"
grep -Eq '^shards: 4 \(kafka.shards\), [1-3] with sources, 0 of them run by no answering instance:' "$WORK/summary.txt" ||
    fail "--summary shards: $(cat "$WORK/summary.txt")"
grep -Eq "^$ok_shard +[1-3] +$M +[0-9]+s +[1-9]" "$WORK/summary.txt" || fail "--summary ok's shard: $(cat "$WORK/summary.txt")"
if grep -q "wrong-token" "$WORK"/*.txt "$WORK/run.log"; then fail "a secret was printed"; fi
note "state: table view, --unhealthy (badkey, flaky) and --summary agree with /metrics"

# The endpoint heals: flaky's next pass succeeds by itself.
SIM_URL=$SIM_FLAKY sim_ctl fault '{"kind":"reset"}' >/dev/null
flaky_ok() { [ "$(series 'crmstream_source_consecutive_failures{source="flaky"}')" = 0 ] &&
    [ "$(series 'crmstream_bookmark_age_seconds{source="flaky",table="items"}')" != absent ]; }
wait_until "flaky recovered" 30 flaky_ok
expect_eq "$(series 'crmstream_source_failing_tables{source="flaky"}')" 0 "flaky failing tables after the fix"
[ "$(series 'crmstream_source_last_error_timestamp_seconds{source="flaky",kind="http"}')" != absent ] ||
    fail "flaky's last error (kept after recovery) lost"
note "flaky recovered by itself (last error kept, 0 failures in a row)"

# The token file is fixed; SIGHUP re-reads the config and restarts the sources.
printf 'good-token-84\n' >"$WORK/secrets/badkey"
kill -HUP "$CRM_PID"
bad_ok() { [ "$(series 'crmstream_source_state{source="badkey",state="running"}')" = 1 ] &&
    [ "$(series 'crmstream_source_last_success_timestamp_seconds{source="badkey"}')" != 0.000 ]; }
wait_until "badkey running after the fixed token and SIGHUP" 60 bad_ok
"$CRMSTREAM" state -c "$WORK/cfg" --summary >"$WORK/summary2.txt" 2>&1 || fail "state --summary: $(cat "$WORK/summary2.txt")"
grep -q 'live from 1 of 1 instances: 3 running, 0 failing, 0 auth_failed, 0 stopped, 0 not reported' "$WORK/summary2.txt" ||
    fail "--summary after the fixes: $(cat "$WORK/summary2.txt")"
grep -q '^unhealthy sources: none' "$WORK/summary2.txt" || fail "--summary after the fixes: $(cat "$WORK/summary2.txt")"
note "after the fixes: 3 running, no unhealthy source"

kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 30
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
