# close_env.sh — shared setup for the Close integration tests (2N_close_*.sh): sourced after
# lib.sh. The simulator serves the API under /api/v1, so the source's base_url differs from the
# control URL; each test gets its own source name (the transactional.id includes it) and key.
export CLOSE_API_KEY=${CLOSE_API_KEY:-api_secret_$TEST_NAME$RANDOM}
SOURCE_TYPE=close
SOURCE_NAME=cl${TEST_NAME%%_*}$(date +%s%N | tail -c 6)
CLOSE_MAIN_TABLES="leads contacts opportunities tasks activities"

# start_close [crmsim args...] — the Close simulator accepting this test's key.
start_close() {
    start_sim close --param api_key="$CLOSE_API_KEY" "$@"
    CTL_URL=$SIM_URL
}

# close_cfg FILE DELIVERY OPTIONS [extra source settings...] — OPTIONS go inside options = {}.
close_cfg() {
    local file=$1 delivery=$2 opts=$3
    shift 3
    SIM_URL=$CTL_URL/api/v1 write_cfg "$file" "$delivery" "options = { $opts };" "$@"
}

# close_tables T... — a tables = { include = [...] } setting line.
close_tables() {
    local list="" t
    for t in "$@"; do list="$list${list:+, }\"$t\""; done
    echo "tables = { include = [ $list ]; };"
}

# sim_get ACTION — GET /_control/ACTION.
sim_get() {
    curl -fsS "$CTL_URL/_control/$1"
}

# mutate JSON — POST /_control/mutate, prints the result.
mutate() {
    sim_ctl mutate "$1"
}

# compare_all CFG TABLE... — compare_table for each.
compare_all() {
    local cfg=$1 t
    shift
    for t in "$@"; do compare_table "$cfg" "$t"; done
}

# stat_count PATH_OR_STATUS — a count from /_control/stats ("by_status" or "by_path" key).
stat_count() {
    local v
    v=$(sim_get stats | tr -d "\n" | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2)
    echo "${v:-0}"
}
