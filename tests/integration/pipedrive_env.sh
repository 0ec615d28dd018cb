# pipedrive_env.sh — shared setup for the Pipedrive integration tests (3N_pipedrive_*.sh):
# sourced after lib.sh. Each test gets its own token and source name (the transactional.id
# includes the source name, and other tests may share the broker at the same time).
export PIPEDRIVE_API_TOKEN=${PIPEDRIVE_API_TOKEN:-$(printf '%s' "pd-$TEST_NAME" | sha1sum | cut -c1-40)}
SOURCE_TYPE=pipedrive
SOURCE_NAME=pd${TEST_NAME%%_*}$(date +%s%N | tail -c 6)

PD_TABLES="deals persons organizations activities products notes stages pipelines users
activity_types currency filters files deal_fields person_fields organization_fields
product_fields deal_products dealflow"

# start_pipedrive [crmsim args...] — the pipedrive simulator with this test's token.
start_pipedrive() {
    start_sim pipedrive --param token="$PIPEDRIVE_API_TOKEN" "$@"
}

# compare_all CFG — every table's topic equals the simulator's truth.
compare_all() {
    for t in $PD_TABLES; do compare_table "$1" "$t"; done
}

# stat_path PATH_PREFIX — requests the simulator served under a path prefix.
stat_path() {
    curl -fsS "$SIM_URL/_control/stats" | tr ',{}' '\n\n\n' | { grep "\"$1" || true; } |
        awk -F: '{s += $NF} END {print s + 0}' || true
}

# status_count FILE CODE — how many responses of HTTP status CODE a stats JSON file counts.
status_count() {
    local v
    v=$(tr -d '\n' <"$1" | { grep -o "\"$2\":[0-9]*" || true; } | head -n 1 | cut -d: -f2)
    echo "${v:-0}"
}
