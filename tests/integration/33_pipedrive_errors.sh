#!/usr/bin/env bash
# Pipedrive errors: a bad token fails check and run with exit 5 and is never printed (a good one
# passes check, which probes /v1/currencies, an endpoint the reference names); 500, 502,
# 503, 524, invalid JSON, a 200 "null" body on /flow and the burst limit (honoured through the
# x-ratelimit-* headers, so the Cloudflare HTML 403 that follows ignored 429s never comes) are
# all retried through, and the topics equal the truth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
start_pipedrive --seed 33 --param deals=30 --param persons=20 --param activities=15 \
    --param notes=15 --param organizations=10 --param files=5 --param burst_limit=20 \
    --param html403_after=6 --param flow_null_every=25
good=$PIPEDRIVE_API_TOKEN
write_cfg "$WORK/cfg" at-least-once 'rate_limit = 0;' 'timeout = "5s";' \
    'options = { page_size = 10; };'

export PIPEDRIVE_API_TOKEN=0badbadbadbadbadbadbadbadbadbadbadbad77
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-bad.txt" 2>&1 || rc=$?
expect_eq "$rc" 5 "check exit code with a bad token"
grep -q "HTTP 401.*unauthorized access" "$WORK/check-bad.txt" ||
    fail "unclear check error: $(cat "$WORK/check-bad.txt")"
run_once "$WORK/cfg" 5
grep -q "credentials rejected" "$WORK/run.log" || fail "run did not say the credentials were rejected"
if grep -rq "0badbadbadbadbad" "$WORK"/*.txt "$WORK/run.log"; then fail "the token was printed"; fi
note "bad token never printed"

export PIPEDRIVE_API_TOKEN=$good
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-ok.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "check exit code with a good token"
expect_eq "$(stat_path /api/v1/users/me)" 0 "check requests of /v1/users/me (not in the reference)"
[ "$(stat_path /api/v1/currencies)" -ge 2 ] || fail "check did not probe /v1/currencies"
for st in 500 502 503 524; do
    sim_ctl fault "{\"kind\":\"status\",\"status\":$st,\"count\":1,\"path_prefix\":\"/api/v2/deals\"}" >/dev/null
done
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/v1/notes"}' >/dev/null
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/v2/persons"}' >/dev/null
sim_ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/v2/deals/products"}' >/dev/null
sim_ctl fault '{"kind":"status","status":429,"count":1,"path_prefix":"/api/v2/activities","body":"{\"success\":false,\"error\":\"Request over limit\",\"errorCode\":429}"}' >/dev/null
sed -i 's/poll_interval = "[^"]*"/poll_interval = "1h"/' "$WORK/cfg" # one pass, then /metrics
run_scraped "$WORK/cfg"
compare_all "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" deals duplicates)" 0 "deals published twice"
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
faults=$(json_get "$WORK/stats.json" faults)
expect_eq "$faults" 9 "faults injected"
html=$(status_count "$WORK/stats.json" 403)
expect_eq "${html:-0}" 0 "Cloudflare HTML 403s"
limited=$(status_count "$WORK/stats.json" 429)
note "burst 429s: ${limited:-0} (limit 20 per 2 s, client limiter off)"
grep -q "rate-limit budget at 0" "$WORK/run.log" || fail "x-ratelimit-remaining: 0 never paused the source"
src="source=\"$SOURCE_NAME\""
expect_eq "$(metric_sum crmstream_http_rate_limited_total "$src")" "${limited:-0}" "429s counted as rate limiting"
grep -q "null body" "$WORK/run.log" || fail "the 200 null body on /flow was never seen"
expect_eq "$(metric_sum crmstream_http_requests_total "$src" 'status="524"')" 1 "524 answers counted"

# A deal whose /flow answers 404 (purged after the deal list was read) is skipped with a warning:
# the pass completes, and every other table still equals the truth.
sim_ctl mutate '{"table":"deals","op":"update","id":1}' >/dev/null 2>&1 || true
sim_ctl fault '{"kind":"status","status":404,"count":-1,"path_prefix":"/api/v1/deals/1/flow","body":"{\"success\":false,\"error\":\"Deal not found\"}"}' >/dev/null
run_once "$WORK/cfg"
grep -q "skipping one request's object: HTTP 404" "$WORK/run.log" ||
    fail "the 404 on a deal's flow was not skipped with a warning"
sim_ctl fault '{"kind":"reset"}' >/dev/null
compare_table "$WORK/cfg" deals
