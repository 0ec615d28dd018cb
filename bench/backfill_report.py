#!/usr/bin/env python3
"""backfill_report.py — the table bench/backfill.sh prints: per table the requests crmstream
made (its summary line: every HTTP response, 429s included), the minimum time the CRM's default
limits allow for that many requests, the time the table's first pass took and its 429s; then
the CRM's totals (bound of all the source's requests together, since they share one budget).
usage: backfill_report.py CRM RUN_LOG SIM_STATS_JSON WALL_MS

Bounds (minimum seconds for n requests under the limit model):
  window L per W s (pipedrive 20/2 s, copper 180/60 s): (ceil(n / L) - 1) * W, 0 for n <= L.
  token bucket of rate r and capacity r per endpoint group (close, r = 20): (n - r) / r per
  group; groups run in parallel, so the CRM's bound is that of its busiest group (the
  simulator's by_path counts give the groups: the first path segment under /api/v1/)."""
import json
import math
import re
import sys

CRM, LOG, STATS, WALL_MS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
WINDOWS = {"pipedrive": (20, 2.0), "copper": (180, 60.0)}
CLOSE_RPS = 20.0


def window_bound(n, limit, window_s):
    return max(0, math.ceil(n / limit) - 1) * window_s if n else 0.0


def bucket_bound(n, rate):
    return max(0.0, n - rate) / rate


def bound(n):
    if CRM in WINDOWS:
        return window_bound(n, *WINDOWS[CRM])
    return bucket_bound(n, CLOSE_RPS)


tables, order = {}, []
line_re = re.compile(r'table=(\S+) msg="(.*)"$')
with open(LOG) as f:
    for line in f:
        m = line_re.search(line.rstrip("\n"))
        if not m:
            continue
        table, msg = m.groups()
        t = tables.setdefault(table, {})
        if table not in order:
            order.append(table)
        done = re.match(r"(?:first pass|pass|backfill)?.*done in ([0-9.]+)s", msg)
        if done and "secs" not in t:
            t["secs"] = float(done.group(1))
        if msg.startswith("summary:"):
            for k in ("requests", "rate_limited", "published"):
                v = re.search(rf"\b{k}=([0-9]+)", msg)
                t[k] = int(v.group(1)) if v else 0

rows = [(n, tables[n]) for n in order if "requests" in tables[n]]
if not rows:
    sys.exit(f"backfill_report: no summary lines in {LOG}")
print(f"\n{CRM}: backfill at the default limits, connector pacing by default")
print(f"  {'table':28} {'requests':>8} {'bound s':>8} {'actual s':>9} {'429s':>5} {'records':>8}")
for name, t in rows:
    print(f"  {name:28} {t['requests']:8d} {bound(t['requests']):8.1f} {t.get('secs', 0):9.1f} "
          f"{t['rate_limited']:5d} {t.get('published', 0):8d}")
total = sum(t["requests"] for _, t in rows)
limited = sum(t["rate_limited"] for _, t in rows)
actual = max(t.get("secs", 0) for _, t in rows)
if CRM in WINDOWS:
    total_bound = bound(total)
    model = "%d requests per %g s" % WINDOWS[CRM]
else:
    with open(STATS) as f:
        by_path = json.load(f).get("by_path", {})
    groups = {}
    for path, n in by_path.items():
        seg = path.split("/api/v1/", 1)[-1].strip("/").split("/")[0]
        groups[seg] = groups.get(seg, 0) + n
    busiest = max(groups, key=groups.get) if groups else "-"
    total_bound = bucket_bound(groups.get(busiest, 0), CLOSE_RPS)
    model = "%g requests/s per endpoint group; busiest group %s: %d requests" % (
        CLOSE_RPS, busiest, groups.get(busiest, 0))
ratio = actual / total_bound if total_bound > 0 else float("nan")
print(f"  {'TOTAL':28} {total:8d} {total_bound:8.1f} {actual:9.1f} {limited:5d}   "
      f"ratio {ratio:.2f} (goal <= 1.10, zero 429s); process wall {WALL_MS / 1000:.1f} s")
print(f"  limits: {model}")
