#!/usr/bin/env bash
# smoke.sh — starts build/crmsim (testcrm) on an ephemeral port and checks the framework and the
# testcrm API with curl + jq: auth, keyset paging, scheduled mutations between pages, faults,
# rate limiting, stats, the clock, the delete feed and a clean SIGTERM exit.
# Usage: tests/sim/smoke.sh [path/to/crmsim]    (VALGRIND=1 runs the simulator under valgrind)
set -u
SIM=${1:-build/crmsim}
command -v jq >/dev/null || { echo "smoke: jq is required"; exit 2; }
[ -x "$SIM" ] || { echo "smoke: $SIM not built (make build/crmsim)"; exit 2; }

tmp=$(mktemp -d)
pass=0 fail=0
check() { # check <description> <command...>
    local what=$1
    shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what"; fi
}

N=250
run=("$SIM")
[ "${VALGRIND:-0}" = 1 ] && run=(valgrind -q --leak-check=full --errors-for-leak-kinds=all
    --error-exitcode=99 "$SIM")
"${run[@]}" --crm testcrm --port 0 --port-file "$tmp/port" --seed 42 \
    --epoch 2026-03-01T00:00:00Z --param items=$N >"$tmp/out" 2>"$tmp/err" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "smoke: simulator did not start"; cat "$tmp/err"; exit 1; }
B=http://127.0.0.1:$(cat "$tmp/port")
AUTH="Authorization: Bearer test-token"

api() { curl -s -H "$AUTH" "$B$1"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
ctl() { curl -s -X POST -H 'Content-Type: application/json' -d "$2" "$B/_control/$1"; }
eq() { [ "$1" = "$2" ] || { echo "  expected '$2', got '$1'"; return 1; }; }

check "banner line" grep -q "^crmsim: testcrm listening on http://127.0.0.1:[0-9]*$" "$tmp/out"

# --- auth --------------------------------------------------------------------------------------
check "401 without token" eq "$(status "$B/api/items")" 401
check "401 wrong token" eq "$(status -H 'Authorization: Bearer nope' "$B/api/me")" 401
check "401 body" eq "$(curl -s "$B/api/me")" '{"error":"invalid token"}'
check "/api/me" eq "$(api /api/me | jq -r .account)" testcrm-acct
check "400 bad updated_since" eq "$(status -H "$AUTH" "$B/api/items?updated_since=yesterday")" 400
check "400 unknown param" eq "$(status -H "$AUTH" "$B/api/items?since=x")" 400

# --- full paging: exactly N unique ids, sorted -------------------------------------------------
page_all() { # page_all <limit> -> one "id<TAB>updated_at" line per row, in order
    local cursor="" q
    : >"$tmp/rows"
    while :; do
        q="/api/items?limit=$1&updated_since=2020-01-01T00:00:00Z"
        [ -n "$cursor" ] && q="$q&cursor=$cursor"
        api "$q" >"$tmp/page" || return 1
        jq -r '.data[] | "\(.updated_at)\t\(.id)"' "$tmp/page" >>"$tmp/rows" || return 1
        cursor=$(jq -r '.next_cursor // empty' "$tmp/page")
        [ -z "$cursor" ] && break
    done
}
page_all 37
check "paging returns $N rows" eq "$(wc -l <"$tmp/rows")" $N
check "paging returns $N unique ids" eq "$(cut -f2 "$tmp/rows" | sort -u | wc -l)" $N
check "rows sorted by (updated_at, id)" cmp -s "$tmp/rows" <(LC_ALL=C sort "$tmp/rows")
check "ties present" test "$(cut -f1 "$tmp/rows" | sort | uniq -d | wc -l)" -gt 0
check "ids match truth" eq "$(cut -f2 "$tmp/rows" | sort | md5sum)" \
    "$(curl -s "$B/_control/truth?table=items" | jq -r '.records[].id' | sort | md5sum)"
check "limit clamped to max_limit" eq "$(api '/api/items?limit=1000' | jq '.data | length')" 100

# --- scheduled mutation between pages -----------------------------------------------------------
api "/api/items?limit=100" >"$tmp/p1"
first=$(jq -r '.data[0].id' "$tmp/p1")
cursor=$(jq -r .next_cursor "$tmp/p1")
ctl schedule "{\"after_requests\":1,\"action\":\"mutate\",
  \"args\":{\"table\":\"items\",\"op\":\"update\",\"id\":\"$first\"}}" >/dev/null
ctl schedule '{"after_requests":2,"action":"mutate","args":{"table":"items","op":"create"}}' \
    >/dev/null
: >"$tmp/rows"
jq -r '.data[].id' "$tmp/p1" >>"$tmp/rows"
while [ -n "$cursor" ]; do
    api "/api/items?limit=100&cursor=$cursor" >"$tmp/page"
    jq -r '.data[].id' "$tmp/page" >>"$tmp/rows"
    cursor=$(jq -r '.next_cursor // empty' "$tmp/page")
done
check "updated item served again after its change" eq "$(grep -c "^$first\$" "$tmp/rows")" 2
check "created item served" eq "$(sort -u "$tmp/rows" | wc -l)" $((N + 1))
check "updated item has rev suffix" eq "$(jq -r --arg id "$first" \
    '.data[] | select(.id == $id) | .name | test(" \\(rev 1\\)$")' "$tmp/page")" true
check "schedules done" eq "$(curl -s "$B/_control/schedule" | jq '[.done[].status] | join(",")' -r)" \
    "200,200"

# --- touch, delete and the events feed ------------------------------------------------------------
before=$(curl -s "$B/_control/truth?table=items" | jq -c --arg id itm_000010 \
    '.records[] | select(.id == $id) | del(.updated_at)')
ctl mutate '{"table":"items","op":"touch","id":"itm_000010"}' >/dev/null
after=$(curl -s "$B/_control/truth?table=items" | jq -c --arg id itm_000010 \
    '.records[] | select(.id == $id) | del(.updated_at)')
check "touch keeps content" eq "$after" "$before"
ctl mutate '{"table":"items","op":"delete","id":"itm_000010"}' >"$tmp/del"
check "delete returns event" eq "$(jq -r '.events[0].object_id' "$tmp/del")" itm_000010
check "events feed has the delete" eq \
    "$(api '/api/events?since=2026-03-01T00:00:00Z' | jq -r '.data[-1].object_id')" itm_000010
check "unknown id is 404" eq "$(ctl mutate '{"table":"items","op":"delete","id":"itm_999999"}' |
    jq -r .error)" "no such item"
ctl mutate '{"table":"users","op":"delete","id":3}' >/dev/null
check "deleted user vanishes" eq "$(api '/api/users?limit=100' | jq '[.data[].id] | index(3)')" null

# --- faults and stats ---------------------------------------------------------------------------
ctl stats/reset '' >/dev/null
ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/items"}' >/dev/null
check "fault skips other paths" eq "$(status -H "$AUTH" "$B/api/me")" 200
check "503 #1" eq "$(status -H "$AUTH" "$B/api/items")" 503
check "503 #2" eq "$(status -H "$AUTH" "$B/api/items")" 503
check "fault consumed" eq "$(status -H "$AUTH" "$B/api/items")" 200
ctl fault '{"kind":"truncate"}' >/dev/null
api "/api/items?limit=20" >"$tmp/trunc"
full=$(api "/api/items?limit=20" | wc -c)
check "truncated body is invalid JSON" test "$(jq . "$tmp/trunc" >/dev/null 2>&1; echo $?)" != 0
check "truncated body is half" eq "$(wc -c <"$tmp/trunc")" $((full / 2))
ctl fault '{"kind":"invalid_json"}' >/dev/null
check "invalid_json gives 200" eq "$(status -H "$AUTH" "$B/api/items")" 200
ctl fault '{"kind":"truncate","mode":"abort"}' >/dev/null
curl -s -o /dev/null -H "$AUTH" "$B/api/items?limit=50"
check "abort truncation is a transport error (curl 18)" eq "$?" 18
ctl fault '{"kind":"timeout","seconds":3}' >/dev/null
curl -s -o /dev/null --max-time 1 -H "$AUTH" "$B/api/items"
check "timeout fault times the client out (curl 28)" eq "$?" 28
stats=$(curl -s "$B/_control/stats")
check "stats requests" eq "$(jq .requests <<<"$stats")" 9
check "stats 503" eq "$(jq '.by_status["503"]' <<<"$stats")" 2
check "stats 200" eq "$(jq '.by_status["200"]' <<<"$stats")" 6
check "stats by_path" eq "$(jq '.by_path["/api/items"]' <<<"$stats")" 8
check "stats timeout" eq "$(jq '.by_status.timeout' <<<"$stats")" 1
check "stats faults" eq "$(jq .faults <<<"$stats")" 6

# --- rate limit -----------------------------------------------------------------------------------
ctl stats/reset '' >/dev/null
ctl ratelimit '{"rate":1,"burst":2}' >/dev/null
for i in 1 2 3 4; do
    curl -s -D "$tmp/h$i" -o "$tmp/b$i" -H "$AUTH" "$B/api/me"
done
check "429 after the burst" grep -q "^HTTP/1.1 429" "$tmp/h4"
check "Retry-After header" grep -qi "^Retry-After: 1" "$tmp/h4"
check "429 body" eq "$(jq -c . "$tmp/b4")" '{"error":"rate limited","retry_after":1}'
check "control not rate limited" eq "$(status "$B/_control/stats")" 200
check "stats rate_limited" test "$(curl -s "$B/_control/stats" | jq .rate_limited)" -ge 1
ctl ratelimit '{"rate":0}' >/dev/null
check "rate limit off" eq "$(status -H "$AUTH" "$B/api/me")" 200

# --- clock and latency ------------------------------------------------------------------------------
t0=$(curl -s "$B/_control/clock" | jq .now_ms)
t1=$(ctl clock '{"advance_ms":3600000}' | jq .now_ms)
check "clock advances" test $((t1 - t0)) -ge 3600000
ctl latency '{"ms":300}' >/dev/null
ms=$(curl -s -o /dev/null -w '%{time_total}' -H "$AUTH" "$B/api/me")
check "latency applied" awk "BEGIN{exit !($ms >= 0.3)}"
ctl latency '{"ms":0}' >/dev/null

# --- clean exit -----------------------------------------------------------------------------------
kill -TERM "$pid"
wait "$pid"
rc=$?
check "clean exit on SIGTERM (rc $rc)" eq "$rc" 0
[ -s "$tmp/err" ] && { echo "--- simulator stderr:"; cat "$tmp/err"; }

echo "sim smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
