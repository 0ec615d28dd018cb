#!/usr/bin/env bash
# Close activities beyond the 24 h attribution window: edits and backdated creations are caught
# from the event log (the activities table only re-reads the window), published to the activities
# topic through dedupe; a newest-first feed never lets an older snapshot win (two edits of one
# activity; an edit followed by a delete), and nothing is republished when nothing changed.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 26 --param leads=40 --param activities=300 --param consolidate_ms=0
close_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    "$(close_tables leads activities event_log)"
run_once "$WORK/cfg"
compare_table "$WORK/cfg" activities

# Three activities created more than two days ago, and one created now.
read -r old1 old2 old3 < <(truth activities | python3 -c '
import json,sys,datetime
r=json.load(sys.stdin)["records"]
r.sort(key=lambda a: a["date_created"])
print(" ".join(a["id"] for a in r[:3]))')
fresh=$(mutate '{"table":"activities","op":"create","type":"Call"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
run_once "$WORK/cfg"
u0=$(summary_field "$WORK/cfg" activities ops.u)
c0=$(summary_field "$WORK/cfg" activities ops.c)
t0=$(summary_field "$WORK/cfg" activities tombstones)

# Old1 edited twice (two events, newest first in the log), old2 edited then deleted, a backdated
# activity created, and the fresh one (inside the window) edited.
mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$old1\",\"set\":{\"note\":\"first edit\"}}" >/dev/null
mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$old1\",\"set\":{\"note\":\"second edit\"}}" >/dev/null
mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$old2\",\"set\":{\"note\":\"doomed edit\"}}" >/dev/null
mutate "{\"table\":\"activities\",\"op\":\"delete\",\"id\":\"$old2\"}" >/dev/null
back=$(mutate "{\"table\":\"activities\",\"op\":\"create\",\"type\":\"Note\",\"date_created\":\"$(date -u -d '-5 days' +%Y-%m-%dT%H:%M:%S.000000+00:00)\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')
mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$fresh\"}" >/dev/null
run_once "$WORK/cfg"
compare_table "$WORK/cfg" activities
grep -q "second edit" "$WORK/truth-activities.json" || fail "the simulator did not keep the edit"
expect_eq "$(($(summary_field "$WORK/cfg" activities ops.u) - u0))" 2 "activity updates (old edit + fresh edit)"
expect_eq "$(($(summary_field "$WORK/cfg" activities ops.c) - c0))" 1 "backdated activity created"
expect_eq "$(($(summary_field "$WORK/cfg" activities tombstones) - t0))" 1 "deleted old activity tombstoned"
"$CRMTOOL" summary -c "$WORK/cfg" activities >"$WORK/summary-latest.json" 2>/dev/null
python3 - "$WORK/summary-latest.json" "$old1" "$old2" "$back" <<'PY' || fail "latest images are wrong"
import json, sys
s = json.load(open(sys.argv[1]))
latest = s.get("latest", {})
assert latest[sys.argv[2]]["note"] == "second edit", latest[sys.argv[2]].get("note")
assert sys.argv[3] not in latest, "the deleted activity was revived by an older event"
assert sys.argv[4] in latest, "the backdated activity is missing"
PY
note "old edit: newest of two wins; edit+delete stays deleted; backdated create caught"

# Nothing changed: nothing published.
p0=$(summary_field "$WORK/cfg" activities messages)
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" activities messages)" "$p0" "activity messages after an idle poll"

# A non-admin key: events older than an hour come without `data`, so an edit of an old activity
# is read by id (GET /activity/?id__in=...) after the event walk.
sim_ctl param "{\"nonadmin_keys\":\"$CLOSE_API_KEY\"}" >/dev/null
mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$old3\",\"set\":{\"note\":\"edit seen without data\"}}" >/dev/null
sim_ctl clock '{"advance_ms":7200000}' >/dev/null
u1=$(summary_field "$WORK/cfg" activities ops.u)
run_once "$WORK/cfg"
compare_table "$WORK/cfg" activities
grep -q "edit seen without data" "$WORK/truth-activities.json" || fail "the simulator did not keep the edit"
expect_eq "$(($(summary_field "$WORK/cfg" activities ops.u) - u1))" 1 "old activity edit read by id (event without data)"
[ "$(stat_count /api/v1/activity/)" -ge 1 ] || fail "no /activity/ request"
