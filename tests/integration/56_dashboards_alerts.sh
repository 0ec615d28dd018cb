#!/usr/bin/env bash
# Dashboards and alerts (#19, per source #20): deploy/prometheus/alerts.yml passes `promtool check rules` and its
# unit tests (alerts_test.yml); every metric the rules and deploy/grafana/crmstream.json name is
# served by a running crmstream; a real Prometheus scraping that crmstream evaluates every
# dashboard query to series; /metrics carries crmstream_build_info with the --version version
# and the per-source series (state, failures, lag, last error) of the running source.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3 # Debian's, which python3-matplotlib serves (not a python3 earlier in PATH)
[ -x "$PY" ] || PY=python3
command -v promtool >/dev/null || fail "promtool missing: make deps installs the Debian package prometheus"
RULES=$ROOT/deploy/prometheus/alerts.yml
DASH=$ROOT/deploy/grafana/crmstream.json
promtool check rules "$RULES" >"$WORK/promtool-check.txt" 2>&1 || fail "promtool check rules: $(cat "$WORK/promtool-check.txt")"
note "$(grep -o 'SUCCESS.*' "$WORK/promtool-check.txt")"
(cd "$ROOT/deploy/prometheus" && promtool test rules alerts_test.yml) >"$WORK/promtool-test.txt" 2>&1 ||
    fail "promtool test rules: $(cat "$WORK/promtool-test.txt")"
note "promtool test rules: $(grep -c 'alertname:' "$ROOT/deploy/prometheus/alerts_test.yml") alert cases pass"

# A running instance: one table syncing, one plan-gated (unavailable), metrics served.
start_sim testcrm --seed 52 --param items=120 --param users=4
OPS_PORT=$((KAFKA_PORT + 8))
write_cfg "$WORK/cfg" exactly-once 'options = { page_size = 20; };'
sed -i "1i metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };" "$WORK/cfg"
start_daemon "$WORK/cfg"
wait_for_log 'table=items msg="pass done' 60
curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"

version=$("$CRMSTREAM" --version | awk '{print $2}')
grep -q "^crmstream_build_info{version=\"$version\"} 1$" "$WORK/metrics.txt" ||
    fail "no crmstream_build_info{version=\"$version\"}: $(grep build_info "$WORK/metrics.txt")"
note "crmstream_build_info{version=\"$version\"} served"

# Per source (#20): the instance's one source runs, nothing failing; /status says the same as JSON.
for want in 'crmstream_source_state{source="acme",state="running"} 1' \
    'crmstream_source_state{source="acme",state="auth_failed"} 0' \
    'crmstream_source_consecutive_failures{source="acme"} 0' \
    'crmstream_source_failing_tables{source="acme"} 0' \
    'crmstream_source_last_error_timestamp_seconds{source="acme",kind="none"} 0.000'; do
    grep -qxF "$want" "$WORK/metrics.txt" || fail "not served: $want; per source: $(grep '^crmstream_source_' "$WORK/metrics.txt")"
done
grep -q '^crmstream_source_lag_seconds{source="acme"} [0-9.]*$' "$WORK/metrics.txt" || fail "no lag for source acme"
curl -fsS "http://127.0.0.1:$OPS_PORT/status" >"$WORK/status.json" || fail "no /status"
grep -q '"source":"acme","state":"running"' "$WORK/status.json" || fail "/status: $(head -c 600 "$WORK/status.json")"
note "per source: acme running, no failure, a lag; /status served"

# Every metric a rule or a panel names is a family the instance serves.
names=$(cat "$RULES" "$DASH" | grep -o 'crmstream_[a-z_]*' | sort -u)
missing=0
for n in $names; do
    # a histogram's series (_bucket, _sum, _count) belong to the family without the suffix
    if ! grep -q "^# TYPE $n " "$WORK/metrics.txt" && ! grep -q "^# TYPE ${n%_*} histogram$" "$WORK/metrics.txt"; then
        echo "  not served: $n" >&2
        missing=$((missing + 1))
    fi
done
expect_eq "$missing" 0 "metrics named by alerts.yml and crmstream.json that are not served (of $(echo "$names" | wc -w))"

# A real Prometheus scrapes it; every dashboard query evaluates to series.
PROM_PORT=$((KAFKA_PORT + 9))
trap '"$ROOT/scripts/prometheus.sh" stop "$WORK/prom"; cleanup' EXIT
"$ROOT/scripts/prometheus.sh" start "$WORK/prom" "$PROM_PORT" "127.0.0.1:$OPS_PORT" 1s || fail "prometheus did not start"
# rate() needs two samples in its window: wait for eight scrapes.
for _ in $(seq 60); do
    n=$(curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=count_over_time(crmstream_build_info[1m])' |
        grep -o '"value":\[[^]]*"[0-9]*"\]' | grep -o '"[0-9]*"\]' | tr -dc 0-9 || true)
    [ "${n:-0}" -ge 8 ] && break
    sleep 0.5
done
note "Prometheus has ${n:-0} scrapes"
"$PY" "$ROOT/scripts/dashboard_png.py" --prometheus "http://127.0.0.1:$PROM_PORT" --rate-interval 10s --check \
    >"$WORK/dash-check.txt" 2>&1 || fail "dashboard queries: $(cat "$WORK/dash-check.txt")"
note "$(tail -n 1 "$WORK/dash-check.txt")"
# Rules load in Prometheus itself too (not only in promtool).
curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/rules" >"$WORK/rules.json"
expect_eq "$(grep -o '"type":"alerting"' "$WORK/rules.json" | wc -l)" "$(grep -c '^      - alert:' "$RULES")" "alerting rules loaded by Prometheus"
# The picture renders from these queries.
now=$(date +%s)
"$PY" "$ROOT/scripts/dashboard_png.py" --prometheus "http://127.0.0.1:$PROM_PORT" --rate-interval 10s \
    --start $((now - 30)) --end "$now" --fed-by "test 52" --out "$WORK/dashboard.png" >"$WORK/png.txt" 2>&1 || fail "render: $(cat "$WORK/png.txt")"
[ "$(head -c 4 "$WORK/dashboard.png" | od -An -c | tr -d ' ')" = '211PNG' ] || fail "not a PNG"
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
