#!/usr/bin/env bash
# Close changes between polls: edits of every main table land as u events (child edits also
# republish their lead, whose embedded lists changed), activity edits inside the 24 h
# attribution window are caught, deletes (lead deletion cascading to its children) and merges
# from the event log become d events plus tombstones, and every topic equals the truth.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 21 --param leads=200 --param activities=1200
close_cfg "$WORK/cfg" exactly-once '' 'rate_limit = 0;' \
    "$(close_tables leads contacts opportunities tasks activities event_log users)"

id_of() { # TABLE [N] — the id of the Nth truth record (1-based)
    truth "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['records'][${2:-1}-1]['id'])"
}

# Three activities created now: inside the attribution window at the next poll.
for _ in 1 2 3; do mutate '{"table":"activities","op":"create","type":"Call"}' >/dev/null; done
run_once "$WORK/cfg"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES users event_log

# Edits: direct updates of each table, one custom field set and one removed on leads.
mutate '{"table":"leads","op":"update","count":3}' >/dev/null
cf=$(truth custom_fields | python3 -c "import json,sys; print(json.load(sys.stdin)['records'][0]['id'])")
lead2=$(id_of leads 2)
mutate "{\"table\":\"leads\",\"op\":\"update\",\"id\":\"$lead2\",\"set\":{\"custom.$cf\":\"Set by test\"}}" >/dev/null
mutate '{"table":"contacts","op":"update","count":2}' >/dev/null
mutate '{"table":"opportunities","op":"update","count":2}' >/dev/null
mutate '{"table":"tasks","op":"update","count":2}' >/dev/null
mutate '{"table":"users","op":"update","count":1}' >/dev/null
recent=$(truth activities | python3 -c "
import json,sys
r=[a for a in json.load(sys.stdin)['records'] if a['_type']=='Call' and a['source']=='api' and a.get('duration') is not None]
r.sort(key=lambda a: a['date_created'])
print(' '.join(a['id'] for a in r[-3:][:2]))")
for a in $recent; do mutate "{\"table\":\"activities\",\"op\":\"update\",\"id\":\"$a\"}" >/dev/null; done
run_once "$WORK/cfg"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES users
expect_eq "$(summary_field "$WORK/cfg" opportunities ops.u)" 2 "opportunity updates"
expect_eq "$(summary_field "$WORK/cfg" tasks ops.u)" 2 "task updates"
expect_eq "$(summary_field "$WORK/cfg" contacts ops.u)" 2 "contact updates"
expect_eq "$(summary_field "$WORK/cfg" activities ops.u)" 2 "activity edits inside the attribution window"
expect_eq "$(summary_field "$WORK/cfg" users ops.u)" 1 "user updates"
lu=$(summary_field "$WORK/cfg" leads ops.u)
[ "$lu" -ge 4 ] && [ "$lu" -le 12 ] || fail "lead updates: got $lu, expected 4..12 (4 direct + up to 8 child edits)"
note "lead updates = $lu"
grep -q "Set by test" "$WORK/truth-leads.json" || fail "the custom field edit is not in the truth"
expect_eq "$(summary_field "$WORK/cfg" leads duplicates)" 0 "leads published twice"

# Deletes: a lead (cascade), a contact and an opportunity of other leads.
victim=$(id_of leads 5)
res=$(mutate "{\"table\":\"leads\",\"op\":\"delete\",\"id\":\"$victim\"}")
cascade=$(echo "$res" | python3 -c "import json,sys; print(len(json.load(sys.stdin)['events']))")
mutate "{\"table\":\"contacts\",\"op\":\"delete\",\"id\":\"$(id_of contacts 7)\"}" >/dev/null
mutate "{\"table\":\"opportunities\",\"op\":\"delete\",\"id\":\"$(id_of opportunities 3)\"}" >/dev/null
c0=$(summary_field "$WORK/cfg" contacts tombstones)
a0=$(summary_field "$WORK/cfg" activities tombstones)
run_once "$WORK/cfg"
compare_all "$WORK/cfg" $CLOSE_MAIN_TABLES event_log
expect_eq "$(summary_field "$WORK/cfg" leads tombstones)" 1 "lead tombstones"
expect_eq "$(summary_field "$WORK/cfg" opportunities ops.d)" \
    "$(grep -o '"ops":{[^}]*}' "$WORK/summary-opportunities.json" | grep -o '"d":[0-9]*' | cut -d: -f2)" \
    "opportunity d events (== tombstones)"
[ "$(summary_field "$WORK/cfg" opportunities tombstones)" -ge 1 ] || fail "no opportunity tombstone"
ct=$(summary_field "$WORK/cfg" contacts tombstones)
at=$(summary_field "$WORK/cfg" activities tombstones)
[ $((ct - c0)) -ge 2 ] || fail "contacts: expected the cascade and the direct delete, got $((ct - c0)) tombstones"
note "cascade: $cascade deleted events; contacts +$((ct - c0)), activities +$((at - a0)) tombstones"

# Merge: the source lead is tombstoned, its children now belong to the destination.
src=$(id_of leads 10)
dst=$(id_of leads 11)
mutate "{\"table\":\"leads\",\"op\":\"merge\",\"source\":\"$src\",\"destination\":\"$dst\"}" >/dev/null
run_once "$WORK/cfg"
compare_all "$WORK/cfg" leads contacts opportunities tasks event_log
expect_eq "$(summary_field "$WORK/cfg" leads tombstones)" 2 "lead tombstones after the merge"
grep -q "\"$src\"" "$WORK/truth-leads.json" && fail "the merge source is still a lead"
note "merge tombstoned $src"
