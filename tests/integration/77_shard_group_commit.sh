#!/usr/bin/env bash
# Shared transactional producers (#20 item 3): six sources on kafka.shards = 2 commit through two
# producers (crmstream-<prefix>-shard-0 and -1), pages of several sources in one transaction:
# the shards' transaction counters stay below the sum of the sources' commits (a table commits
# every 2 pages here, commit_max_events = 40, so its commits overlap its shard's others').
# kill -9 in the middle of the backfill, then a restart: every table equals the simulator's truth, each record
# once, 0 duplicates under read_committed (the killed process's open transactions, each holding
# pages of several sources, are aborted when the restart fences the shards).
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 77 --param items=1500 --param users=20 --latency-ms 40
SOURCES="s1 s2 s3 s4 s5 s6" # shards (FNV-1a mod 2): s2 s4 s6 on 0, s1 s3 s5 on 1
LOG_LEVEL=debug COMMIT_MAX_EVENTS=40 write_sources_cfg "$WORK/cfg" exactly-once 2 $SOURCES
start_daemon "$WORK/cfg"
wait_for_log 'table=items msg="page 25:' 60
kill -9 "$CRM_PID"
wait "$CRM_PID" 2>/dev/null || true
before=0
for s in $SOURCES; do
    n=$(summary_field "$WORK/cfg" "$s.items" messages)
    before=$((before + n))
done
note "items committed before the kill: $before of 9000"
[ "$before" -gt 0 ] && [ "$before" -lt 9000 ] || fail "the kill did not land mid-backfill ($before)"

# The restart finishes the backfill; /metrics shows who committed what.
sed -i 's/^log_level = "debug"/log_level = "info"/' "$WORK/cfg"
run_scraped "$WORK/cfg"
shard_txns=0
for n in 0 1; do
    t=$(metric_sum crmstream_kafka_transactions_committed_total "source=\"shard-$n\"")
    [ "$t" -gt 0 ] || fail "shard-$n committed no transaction: $(grep transactions_committed "$WORK/metrics.txt")"
    shard_txns=$((shard_txns + t))
done
grep -q 'transactions_committed_total{source="shard-[2-9]' "$WORK/metrics.txt" &&
    fail "a shard beyond kafka.shards = 2: $(grep transactions_committed "$WORK/metrics.txt")"
source_commits=0
for s in $SOURCES; do
    source_commits=$((source_commits + $(metric_sum crmstream_kafka_transactions_committed_total "source=\"$s\"")))
done
note "the restart's commits: $source_commits by the sources in $shard_txns transactions of 2 shards"
[ "$shard_txns" -lt "$source_commits" ] ||
    fail "no transaction held commits of several tables ($shard_txns transactions for $source_commits commits)"

truth items >"$WORK/truth-items.json"
truth users >"$WORK/truth-users.json"
for s in $SOURCES; do
    for t in items users; do
        "$CRMTOOL" compare -c "$WORK/cfg" "$s.$t" "$WORK/truth-$t.json" id >"$WORK/compare-$s-$t.txt" 2>&1 ||
            fail "topic $s.$t differs from the simulator: $(head -c 2000 "$WORK/compare-$s-$t.txt")"
        expect_eq "$(summary_field "$WORK/cfg" "$s.$t" duplicates)" 0 "$s.$t duplicates"
    done
    expect_eq "$(summary_field "$WORK/cfg" "$s.items" messages)" 1500 "$s.items messages (each record once)"
done
