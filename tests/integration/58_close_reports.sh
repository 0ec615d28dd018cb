#!/usr/bin/env bash
# Close activity reports (#22): after a backfill from start_date, every report_activity_daily row
# (one per day, every metric typed) and every report_activity_by_user_daily row (one per user and
# day) equals the simulator's report, whose numbers are checked against the simulator's own
# activities; an activity backdated into the trailing window changes exactly that day's row (and
# that user's row of that day) at the next pass; an idle pass publishes nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/close_env.sh"
start_close --seed 50 --param leads=60 --param activities=900 --param history_days=20 \
    --param report_metrics=20
START=$(date -u -d '-13 days' +%Y-%m-%d)
TABLES=$(close_tables report_activity_metrics report_activity_daily report_activity_by_user_daily \
    report_lead_statuses_daily)
close_cfg "$WORK/cfg" exactly-once '' "start_date = \"$START\";" 'rate_limit = 0;' "$TABLES"
API="$CTL_URL/api/v1"

# report_truth KIND FILE — the simulator's report rows from START to today, as the connector
# keys them: overview in one request (daily buckets up to 31 days), comparison one day at a time.
# Rows dated before $NEW_FROM lack the metrics after the first $OLD_METRICS (never recomputed).
report_truth() {
    python3 - "$1" "$API" "$CLOSE_API_KEY" "$START" "${NEW_FROM:-0000}" "${OLD_METRICS:-999}" >"$2" <<'EOF'
import base64, datetime, json, sys, urllib.request
kind, api, key, start, new_from, old_n = sys.argv[1:7]
auth = "Basic " + base64.b64encode((key + ":").encode()).decode()
def call(path, body=None):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
day = datetime.date.fromisoformat(start)
end = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
iso = lambda d: d.isoformat() + "T00:00:00Z"
if kind == "statuses":
    org = call("/me/")["organizations"][0]
    recs = []
    while day < end:
        rep = call("/report/statuses/lead/%s/?date_start=%s&date_end=%s" % (org, day, day))
        rec = {k: [{f: v for f, v in e.items() if not f.startswith("_")} for e in rep[k]]
               for k in ("status_overview", "status_transitions", "status_transitions_summary")}
        rec["date"] = day.isoformat()
        recs.append(rec)
        day += datetime.timedelta(days=1)
    print(json.dumps({"records": recs})); sys.exit()
metrics = call("/report/activity/metrics/")["metrics"]
if kind == "metrics":
    print(json.dumps({"records": metrics})); sys.exit()
keys = [m["key"] for m in metrics]
def age(row):
    if row["date"] < new_from:
        for k in keys[int(old_n):]:
            del row[k]
recs = []
if kind == "daily":
    rep = call("/report/activity/", {"type": "overview", "metrics": keys,
                                     "datetime_range": {"start": iso(day), "end": iso(end)}})
    for row in rep["data"]:
        row["date"] = row["datetime"][:10]
        age(row)
        recs.append(row)
else:
    while day < end:
        nxt = day + datetime.timedelta(days=1)
        rep = call("/report/activity/", {"type": "comparison", "metrics": keys,
                                         "datetime_range": {"start": iso(day), "end": iso(nxt)}})
        for row in rep["data"]:
            row.update(date=day.isoformat(), datetime=iso(day), id=day.isoformat() + "/" + row["user_id"])
            age(row)
            recs.append(row)
        day = nxt
print(json.dumps({"records": recs}))
EOF
}

# compare_report TABLE KIND PK — the topic equals the simulator's report.
compare_report() {
    report_truth "$2" "$WORK/truth-$1.json"
    "$CRMTOOL" compare -c "$WORK/cfg" "$1" "$WORK/truth-$1.json" "$3" >"$WORK/compare-$1.txt" 2>&1 ||
        fail "topic $1 differs from the simulator's report:
$(cat "$WORK/compare-$1.txt")"
    note "$(grep '^compare' "$WORK/compare-$1.txt")"
}

# The simulator's report numbers, recomputed here from its raw activities and leads.
check_report_numbers() {
    truth activities >"$WORK/acts.json"
    truth leads >"$WORK/leads.json"
    python3 - "$WORK/truth-report_activity_daily.json" "$WORK/acts.json" "$WORK/leads.json" <<'EOF' ||
import collections, json, sys
rows = {r["date"]: r for r in json.load(open(sys.argv[1]))["records"]}
want = collections.defaultdict(collections.Counter)
for a in json.load(open(sys.argv[2]))["records"]:
    d = (a.get("activity_at") or a["date_created"])[:10]
    if a["_type"] == "Call":
        want[d]["calls.all.all.count"] += 1
        want[d]["calls.all.all.sum_duration"] += a.get("duration") or 0
    if a["_type"] == "Email" and a.get("direction") == "outgoing" and a.get("status") == "sent":
        want[d]["emails.sent.all.count"] += 1
for l in json.load(open(sys.argv[3]))["records"]:
    want[l["date_created"][:10]]["leads.created.all.count"] += 1
checked = 0
for d, r in rows.items():
    for k in ("calls.all.all.count", "calls.all.all.sum_duration", "emails.sent.all.count",
              "leads.created.all.count"):
        if r[k] != want[d][k]:
            sys.exit("%s %s: report %s, activities say %s" % (d, k, r[k], want[d][k]))
        checked += 1
busy = sum(1 for r in rows.values() if r["calls.all.all.count"] > 0)
if busy < 5:
    sys.exit("only %d days with calls: the data does not exercise the report" % busy)
print("report numbers match the raw records: %d values, %d days with calls" % (checked, busy))
EOF
        fail "the simulator's report disagrees with its records"
}

run_once "$WORK/cfg"
days=$(($(($(date -u +%s) - $(date -u -d "$START" +%s))) / 86400 + 1))
compare_report report_activity_metrics metrics key
compare_report report_activity_daily daily date
compare_report report_activity_by_user_daily by_user id
note "$(check_report_numbers)"
compare_report report_lead_statuses_daily statuses date
# The day's transitions are its status changes and created leads (raw records).
check_transitions() {
    python3 - "$WORK/truth-report_lead_statuses_daily.json" "$WORK/acts.json" "$WORK/leads.json" <<'EOF' ||
import collections, json, sys
rows = {r["date"]: r for r in json.load(open(sys.argv[1]))["records"]}
want = collections.Counter()
for a in json.load(open(sys.argv[2]))["records"]:
    if a["_type"] == "LeadStatusChange":
        want[(a.get("activity_at") or a["date_created"])[:10]] += 1
for l in json.load(open(sys.argv[3]))["records"]:
    want[l["date_created"][:10]] += 1
for d, r in rows.items():
    got = sum(t["count"] for t in r["status_transitions"])
    if got != want[d]:
        sys.exit("%s: %d transitions, the records say %d" % (d, got, want[d]))
print("lead status transitions match the raw records on %d days (%d in all)" % (len(rows), sum(want[d] for d in rows)))
EOF
        fail "the simulator's lead status report disagrees with its records"
}
note "$(check_transitions)"
expect_eq "$(summary_field "$WORK/cfg" report_activity_daily keys)" "$days" "daily rows ($START to today)"
users=$(truth users | python3 -c "import json,sys; print(json.load(sys.stdin)['count'])")
expect_eq "$(summary_field "$WORK/cfg" report_activity_by_user_daily keys)" $((days * users)) \
    "per-user rows ($days days x $users users)"

# A call backdated 6 days (inside the default 7-day window): exactly one row of each report
# changes.
back=$(date -u -d '-6 days' +%Y-%m-%d)
user=$(mutate "{\"table\":\"activities\",\"op\":\"create\",\"type\":\"Call\",\"date_created\":\"${back}T12:00:00Z\"}" |
    python3 -c "import json,sys; print(json.load(sys.stdin)['records'][0]['user_id'])")
mutate "{\"table\":\"activities\",\"op\":\"create\",\"type\":\"LeadStatusChange\",\"date_created\":\"${back}T13:00:00Z\"}" >/dev/null
s0=$(summary_field "$WORK/cfg" report_lead_statuses_daily messages)
d0=$(summary_field "$WORK/cfg" report_activity_daily messages)
u0=$(summary_field "$WORK/cfg" report_activity_by_user_daily messages)
before=$(python3 -c "import json,sys; print([r for r in json.load(open('$WORK/truth-report_activity_daily.json'))['records'] if r['date']=='$back'][0]['calls.all.all.count'])")
run_once "$WORK/cfg"
compare_report report_activity_daily daily date
compare_report report_activity_by_user_daily by_user id
after=$(python3 -c "import json,sys; print([r for r in json.load(open('$WORK/truth-report_activity_daily.json'))['records'] if r['date']=='$back'][0]['calls.all.all.count'])")
expect_eq "$after" $((before + 1)) "calls on $back after the backdated call"
expect_eq "$(summary_field "$WORK/cfg" report_activity_daily messages)" $((d0 + 1)) \
    "daily rows published after the backdated call (only $back)"
expect_eq "$(summary_field "$WORK/cfg" report_activity_by_user_daily messages)" $((u0 + 1)) \
    "per-user rows published after the backdated call (only $back/$user)"
compare_report report_lead_statuses_daily statuses date
s1=$(summary_field "$WORK/cfg" report_lead_statuses_daily messages)
# the status change moves that day's transitions and, when it changed the lead's status, the
# counts of every later day up to today: between 1 and 7 rows, none before $back (compare)
[ $((s1 - s0)) -ge 1 ] && [ $((s1 - s0)) -le 7 ] ||
    fail "lead status rows republished after a status change backdated 6 days: $((s1 - s0)), expected 1..7"
note "lead status rows republished after the backdated status change = $((s1 - s0))"
# One message each, and every row equals the report again (the $back row with one more call):
# the message is that row.

# An idle pass publishes nothing.
d1=$(summary_field "$WORK/cfg" report_activity_daily messages)
u1=$(summary_field "$WORK/cfg" report_activity_by_user_daily messages)
m1=$(summary_field "$WORK/cfg" report_activity_metrics messages)
s1=$(summary_field "$WORK/cfg" report_lead_statuses_daily messages)
run_once "$WORK/cfg"
expect_eq "$(summary_field "$WORK/cfg" report_lead_statuses_daily messages)" "$s1" "lead status rows after an idle pass"
expect_eq "$(summary_field "$WORK/cfg" report_activity_daily messages)" "$d1" "daily rows after an idle pass"
expect_eq "$(summary_field "$WORK/cfg" report_activity_by_user_daily messages)" "$u1" "per-user rows after an idle pass"
expect_eq "$(summary_field "$WORK/cfg" report_activity_metrics messages)" "$m1" "metrics after an idle pass"

# Close adds two metrics; the source now recomputes 3 days (report_window) plus today: those
# rows are republished with the new typed fields, older rows keep them null.
sim_ctl param '{"report_metrics":"22"}' >/dev/null
close_cfg "$WORK/cfg3" exactly-once 'report_window = "3d";' "start_date = \"$START\";" \
    'rate_limit = 0;' "$TABLES"
run_once "$WORK/cfg3"
expect_eq "$(summary_field "$WORK/cfg" report_activity_metrics messages)" $((m1 + 2)) "metrics after Close added two"
expect_eq "$(summary_field "$WORK/cfg" report_activity_daily messages)" $((d1 + 4)) \
    "daily rows republished with the new metrics (3-day window + today)"
expect_eq "$(summary_field "$WORK/cfg" report_activity_by_user_daily messages)" $((u1 + 4 * users)) \
    "per-user rows republished with the new metrics"
export NEW_FROM OLD_METRICS=20
NEW_FROM=$(date -u -d '-3 days' +%Y-%m-%d)
compare_report report_activity_metrics metrics key
compare_report report_activity_daily daily date
compare_report report_activity_by_user_daily by_user id
grep -q "custom_fields=22 " "$WORK/compare-report_activity_daily.txt" ||
    fail "the daily report schema has not 22 typed metrics: $(cat "$WORK/compare-report_activity_daily.txt")"

# The simulator's report endpoint answers bad requests like Close: 400 with field errors.
bad_report() { # BODY FIELD
    local out code
    out=$(curl -s -w '\n%{http_code}' -u "$CLOSE_API_KEY:" -H 'Content-Type: application/json' \
        -X POST -d "$1" "$API/report/activity/")
    code=$(echo "$out" | tail -n 1)
    [ "$code" = 400 ] && echo "$out" | head -n 1 | grep -q "\"field-errors\":{\"$2\"" ||
        fail "report request $1: expected 400 on $2, got $code $(echo "$out" | head -n 1)"
}
bad_report '{"type":"overview","metrics":["calls.all.all.count"]}' datetime_range
bad_report '{"type":"overview","metrics":["calls.all.all.count"],"datetime_range":{"start":"2026-01-08T00:00:00Z","end":"2026-01-01T00:00:00Z"}}' datetime_range
bad_report '{"type":"overview","metrics":["calls.all.all.count"],"datetime_range":{"start":"2026-01-08T00:00:00Z","end":"2026-01-08T00:00:00Z"}}' datetime_range
bad_report '{"type":"overview","metrics":["no.such.metric"],"datetime_range":{"start":"2026-01-01T00:00:00Z","end":"2026-01-08T00:00:00Z"}}' metrics
bad_report '{"type":"overview","datetime_range":{"start":"2026-01-01T00:00:00Z","end":"2026-01-08T00:00:00Z"}}' metrics
bad_report '{"type":"daily","metrics":["calls.all.all.count"],"relative_range":"today"}' type
note "bad report requests: 400 with field errors"
