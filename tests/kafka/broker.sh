#!/usr/bin/env bash
# Why this file exists: the librdkafka mock cannot prove transaction fencing, abort invisibility,
# compaction or broker outages, so integration tests run a real single-node Apache Kafka 3.9 broker
# (KRaft, combined broker+controller, loopback only) from Maven Central jars — no Docker, no tarball.
#
# Usage: tests/kafka/broker.sh fetch|start|stop|status|kill9|restart-keep|logs
#   fetch         copy the broker jars into <repo>/.cache/kafka/libs (once; needs Java + Maven)
#   start         format a FRESH data dir, start the broker, wait until it takes produce requests,
#                 print the bootstrap address (the only line on stdout)
#   stop          SIGTERM, wait for exit, SIGKILL after KAFKA_STOP_TIMEOUT seconds (no-op if stopped)
#   status        exit 0 and print the bootstrap address if running, exit 3 if not
#   kill9         SIGKILL the broker (crash tests); the data dir is kept
#   restart-keep  stop (if running) and start again on the SAME data dir (outage/recovery tests)
#   logs          print the tail of the broker log
# Environment:
#   KAFKA_PORT             PLAINTEXT port (default 19092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1)
#   KAFKA_DIR              data/pid/log dir (default <repo>/.cache/kafka-run/$KAFKA_PORT)
#   KAFKA_HEAP_OPTS        JVM heap (default "-Xms64m -Xmx512m")
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM before SIGKILL (default 30)
#   KAFKA_SASL_SSL_PORT    when set, a second listener SASL_SSL://127.0.0.1:<port> (SCRAM-SHA-256
#                          and -512 over TLS) for security tests: a test CA and broker certificate
#                          are made in <run dir>/tls (CA bundle: tls/ca.pem), and `start` creates
#                          the SCRAM user KAFKA_SASL_USER (default crmstream) with password
#                          KAFKA_SASL_PASSWORD (default crmstream-test-secret). Needs openssl.
# Several brokers may run at once with different KAFKA_PORTs. The readiness probe leaves one tiny
# topic, "broker-probe", on each broker.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
POM="$SCRIPT_DIR/pom.xml"
CACHE_DIR="$REPO_ROOT/.cache/kafka"
LIBS_DIR="$CACHE_DIR/libs"
LIBS_MARKER="$LIBS_DIR/.fetched"
CORE_JAR="kafka_2.13-3.9.1.jar"

KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_DIR="${KAFKA_DIR:-$REPO_ROOT/.cache/kafka-run/$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms64m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
KAFKA_SASL_USER="${KAFKA_SASL_USER:-crmstream}"
KAFKA_SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-crmstream-test-secret}"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
PROBE_TOPIC="broker-probe"

JAVA=java
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then JAVA="$JAVA_HOME/bin/java"; fi

say() { echo "broker.sh[$KAFKA_PORT]: $*" >&2; }
die() { say "error: $*"; exit 1; }

need_command() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found; run scripts/install-deps.sh ($2)"
}

make_paths_absolute() {
    case "$KAFKA_DIR" in /*) ;; *) KAFKA_DIR="$PWD/$KAFKA_DIR" ;; esac
    DATA_DIR="$KAFKA_DIR/data"
    LOG_DIR="$KAFKA_DIR/logs"
    PID_FILE="$KAFKA_DIR/broker.pid"
    PROPS="$KAFKA_DIR/server.properties"
    LOG4J_PROPS="$KAFKA_DIR/log4j.properties"
    CONSOLE_LOG="$LOG_DIR/console.log"
    TLS_DIR="$KAFKA_DIR/tls"
}

check_ports_are_numbers() {
    [[ -z "$KAFKA_SASL_SSL_PORT" || "$KAFKA_SASL_SSL_PORT" =~ ^[0-9]+$ ]] ||
        die "KAFKA_SASL_SSL_PORT ('$KAFKA_SASL_SSL_PORT') must be a number"
    [[ "$KAFKA_PORT" =~ ^[0-9]+$ && "$KAFKA_CONTROLLER_PORT" =~ ^[0-9]+$ ]] ||
        die "KAFKA_PORT ('$KAFKA_PORT') and KAFKA_CONTROLLER_PORT ('$KAFKA_CONTROLLER_PORT') must be numbers"
    [ "$KAFKA_PORT" != "$KAFKA_CONTROLLER_PORT" ] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ"
}

# ---------------------------------------------------------------------------------------- fetch

libs_are_fetched() {
    [ -f "$LIBS_MARKER" ] && [ -f "$LIBS_DIR/$CORE_JAR" ] &&
        [ "$(cat "$LIBS_MARKER")" = "$(sha256sum <"$POM" | cut -d' ' -f1)" ]
}

fetch_libs() {
    libs_are_fetched && return 0
    need_command mvn "Maven"
    need_command "$JAVA" "Java 17"
    mkdir -p "$CACHE_DIR"
    # One fetch at a time (parallel test jobs may all call fetch).
    exec 8>"$CACHE_DIR/fetch.lock"
    flock 8
    if libs_are_fetched; then exec 8>&-; return 0; fi
    say "fetching Kafka broker jars from Maven Central into ${LIBS_DIR#"$REPO_ROOT"/} ..."
    local tmp="$CACHE_DIR/libs.tmp" log="$CACHE_DIR/fetch.log" started=$SECONDS
    rm -rf "$tmp"
    if ! mvn -q -B -f "$POM" -Dcrm.cache="$CACHE_DIR" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "mvn dependency:copy-dependencies failed (full log: $log)"
    fi
    [ -f "$tmp/$CORE_JAR" ] || die "mvn finished but $CORE_JAR is missing from $tmp"
    sha256sum <"$POM" | cut -d' ' -f1 >"$tmp/.fetched"
    rm -rf "$LIBS_DIR"
    mv "$tmp" "$LIBS_DIR"
    exec 8>&-
    local jars size
    jars="$(find "$LIBS_DIR" -name '*.jar' | wc -l)"
    size="$(du -sh "$LIBS_DIR" | cut -f1)"
    say "fetched $jars jars ($size) in $((SECONDS - started)) s"
}

# -------------------------------------------------------------------------------- process state

broker_pid() {
    # Prints the pid of THIS run dir's broker if it is alive (guards against pid reuse).
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid="$(cat "$PID_FILE" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$PROPS" || return 1
    echo "$pid"
}

port_is_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

process_is_gone() {
    # Gone, or a zombie whose threads have all exited (a killed JVM's main thread turns zombie
    # while its other threads, which still hold the listening sockets, are being torn down).
    [ -d "/proc/$1" ] || return 0
    [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ] || return 1
    [ "$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -le 1 ]
}

wait_for_exit() {
    local pid="$1" deadline=$((SECONDS + $2))
    until process_is_gone "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
    # Reap it if it is our own child (only the case inside one script run).
    wait "$pid" 2>/dev/null || true
    return 0
}

show_log_tail() {
    local f
    for f in "$LOG_DIR/server.log" "$CONSOLE_LOG"; do
        [ -s "$f" ] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 40 "$f" >&2
    done
}

# ------------------------------------------------------------------------------------ configure

new_cluster_id() {
    # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (22 chars), not starting with '-'.
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [ "${id:0:1}" != - ] && { echo "$id"; return; }
    done
}

make_tls_files() {
    # A throw-away CA and a broker certificate for 127.0.0.1/localhost (PEM keystore: key + chain).
    [ -s "$TLS_DIR/broker-keystore.pem" ] && return 0
    need_command openssl "openssl"
    mkdir -p "$TLS_DIR"
    (
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=crmstream test CA" \
            -keyout ca.key -out ca.pem
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key \
            -out broker.csr
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
            -extfile san.ext -out broker.pem
        openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.pkcs8.key
        cat broker.pkcs8.key broker.pem ca.pem >broker-keystore.pem
    ) >"$LOG_DIR/tls.log" 2>&1 || { cat "$LOG_DIR/tls.log" >&2; die "making the TLS files failed"; }
}

write_sasl_ssl_properties() {
    cat >>"$PROPS" <<EOF

# KAFKA_SASL_SSL_PORT: SCRAM over TLS for clients (inter-broker traffic stays PLAINTEXT).
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker-keystore.pem
EOF
}

write_server_properties() {
    cat >"$PROPS" <<EOF
# Written by tests/kafka/broker.sh on every launch: single-node KRaft test broker on loopback.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR

# One node: every internal topic must have RF 1, or the coordinators never come up.
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0

# Fast startup / small footprint on a 2-core CI box.
broker.heartbeat.interval.ms=500
# After kill -9 the restarted controller refuses the broker's re-registration until the old
# session expires (default 9 s, plus registration backoff: ~13 s to become ready); keep it short.
broker.session.timeout.ms=3000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.initial.task.delay.ms=1000

# Make log compaction observable within seconds (topics still need cleanup.policy=compact and a
# small segment.ms / segment.bytes, because only closed segments are cleaned).
log.cleaner.enable=true
log.cleaner.threads=1
log.cleaner.backoff.ms=1000
log.cleaner.min.cleanable.ratio=0.01
log.cleaner.dedupe.buffer.size=16777216
log.segment.delete.delay.ms=1000
log.retention.check.interval.ms=5000
EOF
}

write_log4j_properties() {
    cat >"$LOG4J_PROPS" <<'EOF'
# Written by tests/kafka/broker.sh: every broker log line goes to logs/server.log in the run dir,
# nothing to stdout.
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=${kafka.logs.dir}/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients.NetworkClient=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.kafka.log.LogCleaner=INFO
log4j.logger.state.change.logger=WARN
EOF
}

format_storage() {
    local cluster_id
    cluster_id="$(new_cluster_id)"
    echo "$cluster_id" >"$KAFKA_DIR/cluster.id"
    # C1-only + serial GC: this short-lived JVM starts ~0.3 s faster.
    if ! "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
        -Dlog4j.configuration="file:$LOG4J_PROPS" -Dkafka.logs.dir="$LOG_DIR" \
        -cp "$LIBS_DIR/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" \
        ${KAFKA_SASL_SSL_PORT:+--add-scram "SCRAM-SHA-256=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]"} \
        ${KAFKA_SASL_SSL_PORT:+--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]"} \
        >"$LOG_DIR/format.log" 2>&1; then
        cat "$LOG_DIR/format.log" >&2
        die "kafka-storage format failed"
    fi
}

# ---------------------------------------------------------------------------------------- start

check_ports_free() {
    # Waits a few seconds first: a broker that was just stopped or killed may still be closing.
    local p deadline=$((SECONDS + 5))
    for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" $KAFKA_SASL_SSL_PORT; do
        while port_is_open "$p"; do
            [ "$SECONDS" -lt "$deadline" ] ||
                die "port 127.0.0.1:$p is already in use by another process (choose another KAFKA_PORT)"
            sleep 0.2
        done
    done
}

launch_jvm() {
    # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags
    nohup "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true -Dlog4j.configuration="file:$LOG4J_PROPS" -Dkafka.logs.dir="$LOG_DIR" \
        -cp "$LIBS_DIR/*" kafka.Kafka "$PROPS" </dev/null >>"$CONSOLE_LOG" 2>&1 &
    echo $! >"$PID_FILE"
}

probe_produce_and_consume() {
    # Ready = a produce request is acknowledged AND the record can be fetched back.
    local token
    token="probe-$$-$RANDOM-$(date +%s%N)"
    printf '%s\n' "$token" | timeout 10 kcat -P -q -b "$BOOTSTRAP" -t "$PROBE_TOPIC" \
        -X message.timeout.ms=5000 -X socket.timeout.ms=5000 >/dev/null 2>&1 || return 1
    timeout 10 kcat -C -q -b "$BOOTSTRAP" -t "$PROBE_TOPIC" -o beginning -e -m 5 \
        -X socket.timeout.ms=5000 2>/dev/null | grep -qxF "$token"
}

wait_until_ready() {
    local pid="$1" started="$2" deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while :; do
        if ! broker_pid >/dev/null; then
            show_log_tail
            die "broker process $pid exited during startup ($(how_it_ended "$pid"); logs in $LOG_DIR)"
        fi
        if port_is_open "$KAFKA_PORT" && probe_produce_and_consume; then
            say "ready at $BOOTSTRAP (pid $pid, $(elapsed_since "$started") s," \
                "run dir ${KAFKA_DIR#"$REPO_ROOT"/})"
            return 0
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail
            kill -KILL "$pid" 2>/dev/null || true
            wait_for_exit "$pid" 10 || true
            rm -f "$PID_FILE"
            die "broker not ready after ${KAFKA_START_TIMEOUT} s; killed it (logs in $LOG_DIR)"
        fi
        sleep 0.5
    done
}

# How our child $1 ended: "exit status N" or "killed by signal N" (a signal it did not log, such
# as SIGKILL from the OOM killer, leaves the log ending mid-startup).
how_it_ended() {
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    if [ "$rc" -gt 128 ] && [ "$rc" -ne 255 ]; then
        echo "killed by signal $((rc - 128))"
    else
        echo "exit status $rc"
    fi
}

now_ms() { date +%s%3N; }
elapsed_since() { local ms=$(($(now_ms) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

start_broker() {
    # $1 = fresh|keep
    local mode="$1" started pid
    started="$(now_ms)"
    need_command "$JAVA" "Java 17"
    need_command kcat "kcat"
    fetch_libs
    if pid="$(broker_pid)"; then
        die "a broker is already running from $KAFKA_DIR (pid $pid); run 'stop' first"
    fi
    check_ports_free
    mkdir -p "$KAFKA_DIR"
    if [ "$mode" = fresh ]; then
        rm -rf "$DATA_DIR" "$LOG_DIR"
    elif [ ! -f "$DATA_DIR/meta.properties" ]; then
        die "no formatted data dir at $DATA_DIR to keep; use 'start'"
    fi
    mkdir -p "$LOG_DIR"
    write_server_properties
    if [ -n "$KAFKA_SASL_SSL_PORT" ]; then
        make_tls_files
        write_sasl_ssl_properties
    fi
    write_log4j_properties
    if [ "$mode" = fresh ]; then format_storage; fi
    launch_jvm
    pid="$(cat "$PID_FILE")"
    wait_until_ready "$pid" "$started"
    echo "$BOOTSTRAP"
}

# ------------------------------------------------------------------------------------ stop/kill

stop_broker() {
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        say "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for_exit "$pid" "$KAFKA_STOP_TIMEOUT"; then
        say "still running ${KAFKA_STOP_TIMEOUT} s after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_for_exit "$pid" 10 || die "pid $pid survived SIGKILL"
    fi
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

kill9_broker() {
    local pid
    if ! pid="$(broker_pid)"; then
        rm -f "$PID_FILE"
        say "not running"
        return 0
    fi
    kill -KILL "$pid"
    wait_for_exit "$pid" 10 || die "pid $pid survived SIGKILL"
    rm -f "$PID_FILE"
    say "killed with SIGKILL (pid $pid); data kept in ${DATA_DIR#"$REPO_ROOT"/}"
}

status_broker() {
    local pid
    if pid="$(broker_pid)"; then
        local rss_kb
        rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
        say "running (pid $pid, RSS $((rss_kb / 1024)) MiB, run dir ${KAFKA_DIR#"$REPO_ROOT"/})"
        echo "$BOOTSTRAP"
        return 0
    fi
    say "not running"
    return 3
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

main() {
    [ $# -eq 1 ] || usage
    check_ports_are_numbers
    make_paths_absolute
    case "$1" in
        fetch) fetch_libs ;;
        start) start_broker fresh ;;
        stop) stop_broker ;;
        status) status_broker ;;
        kill9) kill9_broker ;;
        restart-keep) stop_broker && start_broker keep ;;
        logs) show_log_tail ;;
        -h | --help | help) usage ;;
        *) say "unknown command '$1'"; usage ;;
    esac
}

main "$@"
