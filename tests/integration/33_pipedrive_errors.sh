#!/usr/bin/env bash
# Pipedrive errors: a bad token fails check and run with exit 5 and is never printed; 500, 502,
# 503, 524, invalid JSON, a 200 "null" body on /flow and the burst limit (honoured through the
# x-ratelimit-* headers, so the Cloudflare HTML 403 that follows ignored 429s never comes) are
# all retried through, and the topics equal the truth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pipedrive_env.sh"
start_pipedrive --seed 33 --param deals=30 --param persons=20 --param activities=15 \
    --param notes=15 --param organizations=10 --param files=5 --param burst_limit=20 \
    --param html403_after=3 --param flow_null_every=25
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
for st in 500 502 503 524; do
    sim_ctl fault "{\"kind\":\"status\",\"status\":$st,\"count\":1,\"path_prefix\":\"/api/v2/deals\"}" >/dev/null
done
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/v1/notes"}' >/dev/null
sim_ctl fault '{"kind":"invalid_json","count":1,"path_prefix":"/api/v2/persons"}' >/dev/null
sim_ctl fault '{"kind":"status","status":503,"count":2,"path_prefix":"/api/v2/deals/products"}' >/dev/null
run_once "$WORK/cfg"
compare_all "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" deals duplicates)" 0 "deals published twice"
curl -fsS "$SIM_URL/_control/stats" >"$WORK/stats.json"
faults=$(json_get "$WORK/stats.json" faults)
expect_eq "$faults" 8 "faults injected"
html=$(tr -d '\n' <"$WORK/stats.json" | grep -o '"403":[0-9]*' | cut -d: -f2)
expect_eq "${html:-0}" 0 "Cloudflare HTML 403s"
limited=$(tr -d '\n' <"$WORK/stats.json" | grep -o '"429":[0-9]*' | cut -d: -f2)
note "burst 429s: ${limited:-0} (limit 20 per 2 s, client limiter off)"
grep -q "null body" "$WORK/run.log" || fail "the 200 null body on /flow was never seen"
grep -q "HTTP 524" "$WORK/run.log" || fail "the 524 was not logged"
