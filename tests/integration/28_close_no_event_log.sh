#!/usr/bin/env bash
# Close with a key that cannot read the event log (400 on /event/): deletes still land. The
# event_log table warns once, stops asking /event/, and leads, contacts, opportunities, tasks and
# activities find their deletes by ID reconciliation every deletes_fallback_interval (2 s here),
# counted in crmstream_fallback_reconciliations_total. Also: /me/ listing organizations as
# objects ({"id": ...}) still gives the organization and its memberships.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 28 --param leads=60 --param activities=300 --param event_log=0 \
    --param me_org_objects=1
OPS_PORT=$((20000 + RANDOM % 20000))
close_cfg "$WORK/cfg" exactly-once 'deletes_fallback_interval = "2s";' 'rate_limit = 0;' \
    "$(close_tables $CLOSE_MAIN_TABLES event_log organization memberships)"
sed -i "1i metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };" "$WORK/cfg"

id_of() { # TABLE [N] — the id of the Nth truth record (1-based)
    truth "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['records'][${2:-1}-1]['id'])"
}

start_daemon "$WORK/cfg"
wait_for_log "table=activities.*pass done" 60
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES organization memberships

# Deletes of every main table (the lead's cascade included).
mutate "{\"table\":\"leads\",\"op\":\"delete\",\"id\":\"$(id_of leads 3)\"}" >/dev/null
for t in contacts opportunities tasks activities; do
    mutate "{\"table\":\"$t\",\"op\":\"delete\",\"id\":\"$(id_of "$t" 2)\"}" >/dev/null
done
ok=0
for _ in $(seq 40); do
    sleep 1
    all=1
    for t in $CLOSE_MAIN_TABLES; do
        truth "$t" >"$WORK/truth-$t.json"
        "$CRMTOOL" compare -c "$WORK/cfg" "$t" "$WORK/truth-$t.json" id >/dev/null 2>&1 || all=0
    done
    [ $all = 1 ] && ok=1 && break
done
[ $ok = 1 ] || fail "deletes did not land without the event log"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES
for t in $CLOSE_MAIN_TABLES; do
    [ "$(summary_field "$WORK/cfg" "$t" tombstones)" -ge 1 ] || fail "$t: no tombstone"
done
curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" >"$WORK/metrics.txt"
for t in $CLOSE_MAIN_TABLES; do
    n=$(grep "^crmstream_fallback_reconciliations_total{.*table=\"$t\"}" "$WORK/metrics.txt" | awk '{print $2}')
    [ "${n:-0}" -ge 1 ] || fail "$t: crmstream_fallback_reconciliations_total is ${n:-absent}"
done
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
warnings=$(grep -c "event log is unavailable to this key" "$WORK/run.log" || true)
expect_eq "$warnings" 1 "fallback warnings"
expect_eq "$(stat_count /api/v1/event/)" 1 "/event/ requests (asked once, then not again)"
