#!/usr/bin/env bash
# Live reload of sources_dir (#20): a running daemon with two source files. A file removed while
# that source is mid-backfill stops it alone (its in-flight page committed or aborted); a file
# added starts its source; a changed file restarts that source alone, with the new settings; a
# broken file is logged with file:line and setting and stops nothing (its source keeps running
# as it was); the removed file put back resumes from the state its stop committed; SIGHUP
# re-reads the config file (a source added there starts; another setting changed restarts the
# engine, unless the configuration would not load). The sources not concerned are never
# restarted (no log line of theirs, their counters never reset). At the end every topic equals
# the simulator's truth with 0 duplicates, and the reloads are counted in /metrics.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 83 --param items=300 --param users=15 --param token=tok-83 --latency-ms 30
export TESTCRM_TOKEN=tok-83
OPS_PORT=$((20000 + RANDOM % 20000))
CFG=$WORK/cfg
CFGS+=("$CFG")
SRC=$WORK/sources.d
mkdir -p "$SRC"
main_cfg() { # the config file, with the inline sources given (may be none)
    cat >"$CFG" <<CFG
log_level = "info";
metrics = { listen = "127.0.0.1"; port = $OPS_PORT; };
kafka = { bootstrap_servers = "$BOOTSTRAP"; topic_prefix = "$PREFIX";
  state_topic = "$PREFIX.state"; delivery = "exactly-once"; transaction_timeout = "20s"; };
sources_dir = "sources.d";
$1
CFG
}
# source_text NAME [extra settings]: a source file's content (its secret file beside it)
source_text() {
    local name=$1
    shift
    printf 'tok-83\n' >"$SRC/$name.token"
    echo "type = \"testcrm\";"
    echo "name = \"$name\";"
    echo "base_url = \"$SIM_URL\"; poll_interval = \"1s\";"
    echo "options = { token_file = \"$name.token\"; page_size = 10; };"
    for extra in "$@"; do echo "$extra"; done
}
# source_file NAME FILE [extra settings]: written beside and renamed into place, as a deploy does
source_file() {
    local name=$1 file=$2
    shift 2
    source_text "$name" "$@" >"$SRC/.$file.tmp"
    mv "$SRC/.$file.tmp" "$SRC/$file"
}
# configmap_update VERSION: the kubelet's atomic update of a ConfigMap volume: the files of
# VERSION (a hidden directory, already written) become current by renaming a new ..data link
# over the old one; FILE itself is a link to ..data/FILE.
configmap_update() {
    ln -sfn "$1" "$SRC/..data_tmp"
    mv -T "$SRC/..data_tmp" "$SRC/..data"
}
scrape() { curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"; }
requests() { scrape && metric_sum crmstream_http_requests_total "source=\"$1\""; }
# lines the reloads logged for a source (started, stopped, restarted)
reload_lines() { grep -c "source=$1 msg=\"source " "$WORK/run.log" || true; }
# not_restarted NAME BEFORE: no reload line of its own since, and its counter only grew
not_restarted() {
    expect_eq "$(reload_lines "$1")" "$2" "reload log lines of $1"
    local now
    now=$(requests "$1")
    [ "$now" -ge "${3:-0}" ] || fail "$1's request counter went back from $3 to $now: restarted"
}
wait_pass() { wait_for_log "source=$1 table=${2:-items} msg=\"pass done" "${3:-60}"; }
mutate() {
    for id in itm_000010 itm_000120 itm_000250; do
        sim_ctl mutate "{\"table\":\"items\",\"op\":\"update\",\"id\":\"$id\"}" >/dev/null
    done
    sim_ctl mutate '{"table":"items","op":"create","count":2}' >/dev/null
    sim_ctl mutate "{\"table\":\"items\",\"op\":\"delete\",\"id\":\"$1\"}" >/dev/null
}

main_cfg ""
source_file acct-a a.cfg 'tables = { include = ["items", "events"]; };'
source_file acct-b b.cfg 'tables = { include = ["items", "events"]; };' 'rate_limit = 4;' # a slow backfill
start_daemon "$CFG"
wait_for_log 'watching sources_dir' 30
wait_pass acct-a

# 1. b.cfg removed while acct-b is mid-backfill: acct-b alone stops.
for _ in $(seq 100); do
    scrape
    [ "$(metric_sum crmstream_pages_total 'source="acct-b"')" -ge 3 ] && break
    sleep 0.1
done
b_pages=$(metric_sum crmstream_pages_total 'source="acct-b"')
[ "$b_pages" -lt 30 ] || fail "acct-b finished its backfill ($b_pages pages) before the test removed it"
a_req=$(requests acct-a)
rm "$SRC/b.cfg"
wait_for_log 'source=acct-b msg="source stopped (sources_dir changed)' 20
wait_for_log 'configuration reloaded from sources_dir: sources started=0 stopped=1 restarted=0 unchanged=1 errors=0' 20
note "acct-b stopped after $b_pages pages of its backfill"
grep -q 'source=acct-b table=items msg="summary:' "$WORK/run.log" || fail "acct-b's summary not logged"
not_restarted acct-a 0 "$a_req"
scrape
expect_eq "$(metric_sum crmstream_http_requests_total 'source="acct-b"')" 0 "acct-b series left in /metrics"
mutate itm_000005

# 2. c.cfg added (a ConfigMap volume's layout): acct-c starts and syncs; acct-a goes on untouched.
a_req=$(requests acct-a)
mkdir "$SRC/..v1" # as a ConfigMap volume holds it (test 76 covers plain files)
source_text acct-c 'tables = { include = ["items", "events"]; };' >"$SRC/..v1/c.cfg"
configmap_update ..v1
ln -s ..data/c.cfg "$SRC/c.cfg"
wait_for_log 'source=acct-c msg="source started (sources_dir changed)' 30
wait_pass acct-c
not_restarted acct-a 0 "$a_req"
mutate itm_000006

# 3. a.cfg changed (users added): acct-a alone restarts, with its new tables.
c_req=$(requests acct-c)
source_file acct-a a.cfg 'tables = { include = ["items", "events", "users"]; };'
wait_for_log 'source=acct-a msg="source restarted with changed settings (sources_dir changed)' 30
wait_pass acct-a users
not_restarted acct-c 1 "$c_req"
expect_eq "$(reload_lines acct-a)" 1 "reload log lines of acct-a"

# 4. c.cfg broken by a ConfigMap update: the error names file:line and setting; nothing stops.
a_req=$(requests acct-a)
c_req=$(requests acct-c)
mkdir "$SRC/..v2" # a ConfigMap update: only the ..data link changes in the directory
printf 'type = "testcrm";\nname = "acct-c";\npoll_intervall = "1s";\n' >"$SRC/..v2/c.cfg"
configmap_update ..v2
rm -rf "$SRC/..v1"
wait_for_log "level=error msg=\"sources_dir changed: $SRC/c.cfg:3: poll_intervall: unknown setting" 20
wait_for_log 'configuration reloaded from sources_dir: sources started=0 stopped=0 restarted=0 unchanged=2 errors=1' 20
sleep 2
not_restarted acct-a 1 "$a_req"
not_restarted acct-c 1 "$c_req"
mutate itm_000007

# 5. b.cfg back: acct-b resumes its backfill from what its stop committed.
source_file acct-b b.cfg 'tables = { include = ["items", "events"]; };'
wait_for_log 'source=acct-b msg="source started (sources_dir changed)' 30
grep -q 'source=acct-b table=items msg="resuming' "$WORK/run.log" || fail "acct-b did not resume from its state"
wait_pass acct-b

# 6. SIGHUP: the config file re-read; a source added there starts, the others go on.
a_req=$(requests acct-a)
main_cfg "sources = ( { type = \"testcrm\"; name = \"acme\"; base_url = \"$SIM_URL\"; poll_interval = \"1s\";
  tables = { include = [\"items\", \"events\"]; }; options = { page_size = 50; }; } );"
kill -HUP "$CRM_PID"
wait_for_log 'source=acme msg="source started (SIGHUP)' 30
wait_for_log "SIGHUP: configuration reloaded from $CFG: sources started=1 stopped=0 restarted=0 unchanged=3 errors=1" 30
wait_pass acme
not_restarted acct-a 1 "$a_req"
expect_eq "$(reload_lines acct-b)" 2 "reload log lines of acct-b (stopped, started)"

# 7. SIGHUP after a setting outside the sources changed, while c.cfg is broken: the whole
#    configuration would not load, so nothing changes. c.cfg fixed (as the running version: no
#    restart), SIGHUP again: every source restarts from the state topic.
a_req=$(requests acct-a)
sed -i '1i progress_interval = "20s";' "$CFG"
kill -HUP "$CRM_PID"
wait_for_log "SIGHUP: settings outside the sources changed in $CFG, but the configuration is rejected, nothing changed: $SRC/c.cfg:3: poll_intervall" 20
sleep 1
not_restarted acct-a 1 "$a_req"
source_file acct-c c.cfg 'tables = { include = ["items", "events"]; };'
wait_for_log 'configuration reloaded from sources_dir: sources started=0 stopped=0 restarted=0 unchanged=4 errors=0' 20
not_restarted acct-c 1 "$c_req"
restores=$(grep -c 'msg="state restored' "$WORK/run.log")
kill -HUP "$CRM_PID"
wait_for_log "SIGHUP: settings outside the sources changed in $CFG: restarting every source" 20
wait_for_log "SIGHUP: configuration reloaded from $CFG\"" 30
for _ in $(seq 300); do
    [ "$(grep -c 'msg="state restored' "$WORK/run.log")" -gt "$restores" ] && break
    sleep 0.1
done
expect_eq "$(grep -c 'msg="state restored' "$WORK/run.log")" $((restores + 1)) "state reads (the engine restarted)"

# 8. Everything caught up; the reloads are counted; SIGTERM.
mutate itm_000008
sleep 4
scrape
counter() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/metrics.txt"; }
expect_eq "$(counter crmstream_config_reloads_total)" 9 "reloads counted"
expect_eq "$(counter crmstream_config_reload_errors_total)" 4 "reload errors counted (c.cfg broken in four)"
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 30
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
grep -q 'level=error' <(grep -v 'poll_intervall' "$WORK/run.log") &&
    fail "errors besides the broken file: $(grep 'level=error' "$WORK/run.log" | grep -v poll_intervall | head -5)"

truth items >"$WORK/truth-items.json"
truth users >"$WORK/truth-users.json"
for spec in acct-a.items acct-a.users acct-b.items acct-c.items acme.items; do
    table=${spec#*.}
    "$CRMTOOL" compare -c "$CFG" "$spec" "$WORK/truth-$table.json" id >"$WORK/compare-$spec.txt" 2>&1 ||
        fail "$spec differs from the simulator: $(cat "$WORK/compare-$spec.txt")"
    grep -q ' duplicates=0 ' "$WORK/compare-$spec.txt" || fail "$spec has duplicates: $(cat "$WORK/compare-$spec.txt")"
    note "$(grep '^compare' "$WORK/compare-$spec.txt")"
done
