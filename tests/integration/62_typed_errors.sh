#!/usr/bin/env bash
# Failures are counted by the kind they carry (crmstream_errors_total{kind=...}), the same kind
# whichever path found them: invalid JSON is a parse error both when parse_page rejects the body
# (users, parsed as a whole: three attempts, then the pass fails) and when the raw fast path
# finds a broken record inside an array parse_page only spanned (items). Both tables recover at
# the next poll and land exactly the truth.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 62 --param items=120 --param users=8
OPS_PORT=$((20000 + RANDOM % 20000))
write_cfg "$WORK/cfg" exactly-once 'tables = { include = ["items", "users"]; };' \
    'options = { page_size = 40; };'
sed -i "1i metrics = { listen = \"127.0.0.1\"; port = $OPS_PORT; };" "$WORK/cfg"
# a well-formed envelope whose records array holds a record that is not JSON
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/items",
  "body":"{\"data\":[{\"id\":\"x1\",\"name\":}],\"has_more\":false}"}' >/dev/null
# a body that is not JSON at all, for every attempt of the users page
sim_ctl fault '{"kind":"invalid_json","count":3,"path_prefix":"/api/users"}' >/dev/null
start_daemon "$WORK/cfg"
OPS=http://127.0.0.1:$OPS_PORT
metric() { # TABLE KIND
    grep "^crmstream_errors_total{source=\"acme\",table=\"$1\",kind=\"$2\"} " "$WORK/metrics.txt" |
        awk '{print $2}'
}
# each table fails one pass, then recovers at the next poll
wait_for_log 'table=users msg="pass done' 60
wait_for_log 'table=items msg="pass done' 60
grep -q 'table=items msg="pass failed: invalid JSON' "$WORK/run.log" ||
    fail "the broken items record did not fail the pass: $(grep 'table=items' "$WORK/run.log" | tail -n 5)"
grep -q 'table=users .*msg="page 0 unusable (attempt 2)' "$WORK/run.log" ||
    fail "the users page was not retried: $(grep 'table=users' "$WORK/run.log" | tail -n 5)"
grep -q 'table=users msg="pass failed: invalid JSON' "$WORK/run.log" ||
    fail "three unusable users pages did not fail the pass: $(grep 'table=users' "$WORK/run.log" | tail -n 5)"
curl -fsS "$OPS/metrics" >"$WORK/metrics.txt"
expect_eq "$(metric items parse)" 1 "items errors of kind parse (invalid JSON in the raw records)"
expect_eq "$(metric items mapping)" 0 "items errors of kind mapping"
expect_eq "$(metric users parse)" 1 "users errors of kind parse (invalid JSON body)"
expect_eq "$(metric users mapping)" 0 "users errors of kind mapping"
expect_eq "$(metric users http)" 0 "users errors of kind http"
kill -TERM "$CRM_PID"
wait_for_exit "$CRM_PID" 15
expect_eq "$EXIT_CODE" 0 "exit code after SIGTERM"
compare_table "$WORK/cfg" items
compare_table "$WORK/cfg" users
expect_eq "$(summary_field "$WORK/cfg" items duplicates)" 0 "items duplicates"
