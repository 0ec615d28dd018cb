#!/usr/bin/env bash
# Close limits each endpoint group per key on its own (close-api.md §5): the simulator at 4
# requests/s per key and group, the connector at its default pacing (no rate_limit/burst), so
# every group's limiter learns the limit from the responses. Two groups are busy at once: the
# activities (GET /activity/) and the searches of leads and contacts, which share POST
# /data/search/. No request may be answered 429, every table equals the truth, and the backfill
# takes about its busiest group's bound rather than that of all requests through one limiter
# (the bound is checked loosely: a loaded machine slows the pages themselves).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
RPS=4
start_close --seed 88 --param leads=200 --param activities=480 --param key_rps=$RPS \
    --param history_days=30 --param seed_events=0
close_cfg "$WORK/cfg" exactly-once 'activity_page_size = 12; search_page_size = 10;' \
    "start_date = \"$(date -u -d '-35 days' +%Y-%m-%d)\";" \
    "$(close_tables leads contacts activities)"
run_once "$WORK/cfg"
# the backfill's time: the longest first pass (process start-up and topic creation aside)
wall_ms=$(grep -o 'msg="pass done in [0-9.]*s' "$WORK/run.log" | grep -o '[0-9.]*s$' | tr -d s |
    awk '{ms = $1 * 1000; if (ms > m) m = ms} END {printf "%d", m}')
compare_all "$WORK/cfg" leads contacts activities
expect_eq "$(stat_count 429)" 0 "429 answers"

# Requests per group, from the simulator's per-path counts.
stats=$(sim_get stats | tr -d '\n')
group_requests() {
    python3 -c 'import json,sys; p=json.loads(sys.argv[1]).get("by_path",{}); print(sum(n for k,n in p.items() if k.startswith(sys.argv[2])))' "$stats" "$1"
}
act=$(group_requests /api/v1/activity/)
search=$(group_requests /api/v1/data/search/)
[ "$act" -ge 30 ] && [ "$search" -ge 30 ] || fail "too few requests to compare: activity $act, search $search"
# The minimum the limits allow (a bucket of RPS per second, RPS deep): per group, and for all
# requests through one limiter.
busiest=$((act > search ? act : search))
group_bound_ms=$(((busiest - RPS) * 1000 / RPS))
one_limiter_ms=$(((act + search - RPS) * 1000 / RPS))
note "requests: activity $act, search $search; wall ${wall_ms} ms; busiest group's bound ${group_bound_ms} ms; one limiter's ${one_limiter_ms} ms"
[ "$wall_ms" -ge "$group_bound_ms" ] || fail "faster than the limits allow (${wall_ms} < ${group_bound_ms} ms) with no 429?"
[ "$wall_ms" -lt $((one_limiter_ms * 85 / 100)) ] ||
    fail "the groups waited on each other: ${wall_ms} ms, one limiter's bound ${one_limiter_ms} ms"
