#!/usr/bin/env bash
# Kafka over SASL_SSL with SCRAM (#15 item 13): a second test broker with a SCRAM-over-TLS listener
# (tests/kafka/broker.sh with KAFKA_SASL_SSL_PORT, a throw-away CA); crmstream reaches it with
# security.protocol=SASL_SSL, the CA file, and the password from an environment variable through
# kafka.properties_env; with a wrong password `crmstream check` fails (exit 3) with an
# authentication error and without the password in any output.
source "$(dirname "$0")/lib.sh"
# Three free loopback ports for the second broker (plaintext, controller, SASL_SSL).
read -r P1 P2 P3 < <(python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(*[s.getsockname()[1] for s in ss])
[s.close() for s in ss]')
export KAFKA_PORT=$P1 KAFKA_CONTROLLER_PORT=$P2 KAFKA_SASL_SSL_PORT=$P3
export KAFKA_DIR=$ROOT/.cache/kafka-run/sasl-$P1 KAFKA_SASL_PASSWORD="scram-$RANDOM-secret"
BROKER=$ROOT/tests/kafka/broker.sh
stop_second_broker() { # lib.sh's cleanup (decodable check, kills) first, while the broker runs
    local status=$?
    ( set +e; (exit "$status"); cleanup ) && status=0 || status=$?
    "$BROKER" stop >/dev/null 2>&1 || true
    rm -rf "$KAFKA_DIR"
    exit "$status"
}
trap stop_second_broker EXIT
"$BROKER" start >/dev/null 2>"$WORK/broker.err" || fail "the SASL_SSL broker did not start: $(tail -n 20 "$WORK/broker.err")"
note "SASL_SSL broker on 127.0.0.1:$P3"
start_sim testcrm --seed 19 --param items=120 --param users=5
sasl_cfg() { # FILE PASSWORD_VARIABLE
    {
        echo 'log_level = "info";'
        echo "kafka = { bootstrap_servers = \"127.0.0.1:$P3\"; topic_prefix = \"$PREFIX\";"
        echo "  state_topic = \"$PREFIX.state\"; delivery = \"exactly-once\";"
        echo "  properties = [ \"security.protocol=SASL_SSL\", \"sasl.mechanisms=SCRAM-SHA-512\","
        echo "    \"sasl.username=crmstream\", \"ssl.ca.location=$KAFKA_DIR/tls/ca.pem\" ];"
        echo "  properties_env = [ \"sasl.password=$2\" ]; };"
        echo "sources = ( { type = \"testcrm\"; name = \"acme\"; base_url = \"$SIM_URL\"; } );"
    } >"$1"
}
export CRM_TEST_KAFKA_PASSWORD=$KAFKA_SASL_PASSWORD CRM_TEST_KAFKA_WRONG="wrong-$RANDOM-pw"
sasl_cfg "$WORK/cfg" CRM_TEST_KAFKA_PASSWORD
CFGS+=("$WORK/cfg") # checked for decodable events at the end (lib.sh)
grep -q "$KAFKA_SASL_PASSWORD" "$WORK/cfg" && fail "the password is in the config file"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "duplicates over SASL_SSL"
sasl_cfg "$WORK/cfg-wrong" CRM_TEST_KAFKA_WRONG
rc=0
timeout 60 "$CRMSTREAM" check -c "$WORK/cfg-wrong" >"$WORK/wrong.log" 2>&1 || rc=$?
expect_eq "$rc" 3 "crmstream check exit code with a wrong SASL password"
grep -qi "authentication\|SASL" "$WORK/wrong.log" || fail "no authentication error: $(tail -n 5 "$WORK/wrong.log")"
grep -q "$CRM_TEST_KAFKA_WRONG\|$KAFKA_SASL_PASSWORD" "$WORK/wrong.log" "$WORK/run.log" &&
    fail "a password appears in the logs"
note "wrong password refused without showing it"
