#!/usr/bin/env python3
"""shard_check.py — no shard ran on two instances at once (tests 8N_shard_group_*).

usage: shard_check.py EVENTS LOG...
Each LOG is one instance's log (its file name without .log names it); EVENTS holds lines
"<RFC 3339 ms timestamp> killed <name>" written when a test killed an instance with -9 (its
shards stop running at that moment: it logs no stop). Merges the instances' "shard group G: shard
N starting" / "... stopping" lines (src/shard_group.c logs them, whatever runs the shards) by
timestamp and fails when a shard starts on one instance while another still runs it. A stop logs
before it begins, so a start on another instance must come after it. Prints one summary line; exits 1 with the overlaps otherwise."""
import os
import re
import sys

LINE = re.compile(r'^ts=(\S+) .*msg="shard group \S+ shard (\d+) (starting|stopping)')


def events_of(path):
    name = os.path.basename(path)[: -len(".log")] if path.endswith(".log") else path
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                out.append((m.group(1), name, m.group(3), int(m.group(2))))
    return out


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    events = []
    for path in sys.argv[2:]:
        events += events_of(path)
    if os.path.exists(sys.argv[1]):
        with open(sys.argv[1], encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] == "killed":
                    events.append((parts[0], parts[2], "killed", -1))
    # stable by timestamp; at one millisecond a stop or kill goes before a start
    order = {"killed": 0, "stopping": 1, "starting": 2}
    events.sort(key=lambda e: (e[0], order[e[2]]))
    owner = {}
    overlaps = []
    starts = 0
    for ts, name, what, shard in events:
        if what == "killed":
            for s in [s for s, o in owner.items() if o == name]:
                del owner[s]
        elif what == "stopping":
            if owner.get(shard) == name:
                del owner[shard]
        else:
            starts += 1
            if shard in owner and owner[shard] != name:
                overlaps.append(f"{ts}: shard {shard} starts on {name} while {owner[shard]} runs it")
            owner[shard] = name
    if overlaps:
        print("\n".join(overlaps))
        return 1
    print(f"shard_check: {starts} starts on {len(sys.argv) - 2} instances, no shard ran twice at once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
