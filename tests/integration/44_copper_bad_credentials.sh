#!/usr/bin/env bash
# Copper: a wrong API key or a wrong user email is a 401 that stops the source (exit 5) with a
# message naming the status and Copper's message, and the key is never printed; a 403 key
# without permission is treated the same; a 422 (e.g. an unknown body attribute) is not retried
# and its body is named in the error.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/copper_env.sh"
export COPPER_API_KEY=good-key-44a7
start_copper --seed 44 --param rate_per_min=0 --param auth_message="API Key or Email not valid"
copper_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    'tables = { include = ["people", "users", "tags"]; };'

rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-ok.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "check exit code with good credentials"

export COPPER_API_KEY=wrong-secret-44f1
rc=0
"$CRMSTREAM" check -c "$WORK/cfg" >"$WORK/check-bad.txt" 2>&1 || rc=$?
expect_eq "$rc" 5 "check exit code with a bad key"
grep -q "HTTP 401.*API Key or Email not valid" "$WORK/check-bad.txt" ||
    fail "unclear check error: $(cat "$WORK/check-bad.txt")"
run_once "$WORK/cfg" 5
grep -q "credentials rejected.*HTTP 401.*API Key or Email not valid" "$WORK/run.log" ||
    fail "run did not say the credentials were rejected"

export COPPER_API_KEY=good-key-44a7
COPPER_EMAIL=someone-else@example.com copper_cfg "$WORK/cfg-email" exactly-once '' 'rate_limit = 0;' \
    'tables = { include = ["people"]; };'
rc=0
"$CRMSTREAM" check -c "$WORK/cfg-email" >"$WORK/check-email.txt" 2>&1 || rc=$?
expect_eq "$rc" 5 "check exit code with the wrong user email"
run_once "$WORK/cfg-email" 5

sim_ctl param '{"forbidden":"1"}' >/dev/null
run_once "$WORK/cfg" 5
grep -q "credentials rejected.*HTTP 403" "$WORK/run.log" || fail "a 403 did not stop the source"
sim_ctl param '{"forbidden":"0"}' >/dev/null

sim_ctl fault '{"kind":"status","status":422,"count":-1,"path_prefix":"/developer_api/v1/people/search","body":"{\"message\":\"Unknown attribute: bogus\"}"}' >/dev/null
curl -fsS -X POST "$CTL_URL/_control/stats/reset" >/dev/null
rc=0
"$CRMSTREAM" run -c "$WORK/cfg" --once >>"$WORK/run.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 5 ] || fail "a 422 exited $rc (expected a runtime failure, not auth)"
grep -q "HTTP 422.*Unknown attribute: bogus" "$WORK/run.log" || fail "the 422 body was not named"
sim_get stats >"$WORK/stats.json"
expect_eq "$(tr -d '\n' <"$WORK/stats.json" | grep -o '"/developer_api/v1/people/search":[0-9]*' | cut -d: -f2)" 1 \
    "people searches (a 422 is not retried)"
compare_table "$WORK/cfg" users
sim_ctl fault '{"kind":"reset"}' >/dev/null

for f in "$WORK"/*.txt "$WORK/run.log"; do
    if grep -q -e "wrong-secret-44f1" -e "good-key-44a7" "$f"; then fail "an API key was printed in $f"; fi
done
note "API keys never printed"
