#!/usr/bin/env bash
# cg_per_record.sh RECORDS CALLGRIND_FILE... — instructions per record of a crmstream run under
# callgrind with --separate-threads=yes (bench/connector.sh with WRAP, see there): all threads,
# the table threads (those running sync_table_thread: fetch, scan, encode, dedupe, commit) and
# the others (librdkafka's, the main thread). Instruction counts do not move with the host's
# load as CPU time does, so builds can be compared on a busy machine; librdkafka's main thread
# spins on the clock for sub-millisecond timers, so "others" still varies with timing.
set -euo pipefail
[ $# -ge 2 ] || {
    echo "usage: $0 RECORDS CALLGRIND_FILE..." >&2
    exit 2
}
records=$1
shift
for f in "$@"; do
    [ -s "$f" ] || continue # with --separate-threads, the process's own file stays empty
    ir=$(awk '/^summary:/ { print $2; exit }' "$f")
    if grep -q 'sync_table_thread' "$f"; then kind=table; else kind=other; fi
    echo "${ir:-0} $kind"
done | awk -v n="$records" '{ s += $1; k[$2] += $1 } END {
    printf "instructions per record: %.0f (table threads %.0f, other threads %.0f)\n",
        s / n, k["table"] / n, k["other"] / n }'
