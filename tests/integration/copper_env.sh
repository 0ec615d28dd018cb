# copper_env.sh — shared setup for the Copper integration tests (4N_copper_*.sh): sourced after
# lib.sh. The simulator serves the API under /developer_api/v1, so the source's base_url differs
# from the control URL; each test gets its own source name (the transactional.id includes it, and
# other tests may run against the same broker at the same time).
export COPPER_API_KEY=${COPPER_API_KEY:-copper-secret-$TEST_NAME}
SOURCE_TYPE=copper
SOURCE_NAME=cu${TEST_NAME%%_*}$(date +%s%N | tail -c 6)
COPPER_EMAIL=ops@example.com

# start_copper [crmsim args...] — the copper simulator with this test's key and email.
start_copper() {
    start_sim copper --param token="$COPPER_API_KEY" --param email="$COPPER_EMAIL" "$@"
    CTL_URL=$SIM_URL
}

# copper_cfg FILE DELIVERY OPTIONS [extra source settings...] — OPTIONS go inside options = {}.
copper_cfg() {
    local file=$1 delivery=$2 opts=$3
    shift 3
    SIM_URL=$CTL_URL/developer_api/v1 write_cfg "$file" "$delivery" \
        "options = { user_email = \"$COPPER_EMAIL\"; $opts };" "$@"
}

# sim_get ACTION — GET /_control/ACTION.
sim_get() {
    curl -fsS "$CTL_URL/_control/$1"
}

# compare_all CFG TABLE... — compare_table for each, tags keyed by name.
compare_all() {
    local cfg=$1 t
    shift
    for t in "$@"; do
        if [ "$t" = tags ]; then compare_table "$cfg" tags name; else compare_table "$cfg" "$t"; fi
    done
}
