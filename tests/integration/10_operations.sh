#!/usr/bin/env bash
# Operations: /readyz before and after the broker is up, /metrics scraped during a sync and
# checked against what landed, JSON logs, SIGHUP with a changed table list, SIGTERM.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 21 --param items=600 --param users=12 --latency-ms 20
LATE_PORT=$((${KAFKA_PORT:-19392} + 5)) # its controller takes +6 (lib.sh: a lane owns KAFKA_PORT..+9)
late_broker() {
    KAFKA_PORT=$LATE_PORT KAFKA_DIR=$ROOT/.cache/kafka-run/late-$LATE_PORT \
        "$ROOT/tests/kafka/broker.sh" "$@"
}
late_broker stop >/dev/null 2>&1 || true
rm -rf "$ROOT/.cache/kafka-run/late-$LATE_PORT"
AFTER_CHECK+=("late_broker stop >/dev/null 2>&1")

# A config whose broker is not up yet, with the ops listener on an ephemeral-ish port.
OPS_PORT=$((20000 + RANDOM % 20000))
BOOTSTRAP=127.0.0.1:$LATE_PORT
write_cfg "$WORK/cfg" exactly-once 'tables = { include = ["items"]; };' 'options = { page_size = 20; };'
sed -i "1i metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };\nlog_format = \"json\";" "$WORK/cfg"
start_daemon "$WORK/cfg"
OPS=http://127.0.0.1:$OPS_PORT
for _ in $(seq 50); do curl -s "$OPS/healthz" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o "$WORK/ready1.json" -w '%{http_code}' "$OPS/readyz")
expect_eq "$code" 503 "readyz status while Kafka is down"
grep -q "connecting to Kafka" "$WORK/ready1.json" || fail "readyz does not say why: $(cat "$WORK/ready1.json")"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$OPS/healthz")" 200 "healthz while Kafka is down"

late_broker start >/dev/null
note "late broker up"
ready=0
for _ in $(seq 300); do
    if [ "$(curl -s -o "$WORK/ready2.json" -w '%{http_code}' "$OPS/readyz")" = 200 ]; then ready=1; break; fi
    sleep 0.2
done
[ "$ready" = 1 ] || fail "never ready after the broker came up: $(cat "$WORK/ready2.json")"
note "ready: $(cat "$WORK/ready2.json")"

# Scrape during the sync, then after the first pass compare counters with the topic.
curl -fsS "$OPS/metrics" >"$WORK/metrics-during.txt"
grep -q '^# TYPE crmstream_records_published_total counter' "$WORK/metrics-during.txt" ||
    fail "no records counter in /metrics"
wait_for_log '"table":"items","msg":"pass done' 120
curl -fsS "$OPS/metrics" >"$WORK/metrics.txt"
metric() { grep "^$1{source=\"acme\",table=\"items\"${2:-}} " "$WORK/metrics.txt" | awk '{print $2}'; }
published=$(metric crmstream_records_published_total)
pages=$(metric crmstream_pages_total)
ok200=$(metric crmstream_http_requests_total ',status="200"')
landed=$(summary_field "$WORK/cfg" items messages)
expect_eq "$published" "$landed" "published counter vs messages in the topic"
expect_eq "$published" 600 "published counter"
[ "$pages" -ge 30 ] || fail "pages counter $pages < 30"
# every items record takes the raw path (text straight to Avro): no jansson fallback counted
expect_eq "$(metric crmstream_raw_fallbacks_total)" 0 "raw-path fallbacks of items"
[ "$ok200" -ge "$pages" ] || fail "HTTP 200 count $ok200 < pages $pages"
grep -q '^crmstream_kafka_transactions_committed_total{source="acme"} [1-9]' "$WORK/metrics.txt" ||
    fail "no committed transactions counted"
grep -q '^{"ts":"[^"]*","level":"info","source":"acme","table":"items"' "$WORK/run.log" ||
    fail "logs are not JSON lines"

# SIGHUP with users added: the running config is reloaded, state kept (items not republished).
sed -i 's/include = \["items"\]/include = ["items", "users"]/' "$WORK/cfg"
kill -HUP "$CRM_PID"
wait_for_log 'configuration reloaded' 30
wait_for_log '"table":"users","msg":"pass done' 60
sleep 2
expect_eq "$(summary_field "$WORK/cfg" items messages)" 600 "items messages after reload (nothing republished)"
expect_eq "$(summary_field "$WORK/cfg" users messages)" 12 "users synced after reload"

kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 10
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
