#!/usr/bin/env python3
"""replay_prefix.py — after a kill -9, a replayed table equals a prefix of its topic
(tests/integration/71_replay_kill9.sh).

usage: replay_prefix.py STORE SQL_TABLE TOPIC LISTING
LISTING: the topic as `kcat -f '%p %o %S %k\\n'` printed it (read_committed). The store's
crmstream_offsets give the next offset N of each partition; the keys alive after the records
before N (an upsert makes a key alive; crmstream writes a delete as a `d` event immediately
followed by a tombstone, and either one removes the key) must be exactly the table's _key set.
Prints "prefix TOPIC: offsets=... rows=N of M records", with "(midway)" when some partition
stopped before its last record; exits 1 on a difference."""
import json
import sqlite3
import subprocess
import sys


def query(store, q):
    if store.startswith("sqlite:"):
        db = sqlite3.connect(store[7:])
        try:
            return [tuple(r) for r in db.execute(q)]
        except sqlite3.OperationalError:
            return []
    out = subprocess.run(["psql", store, "-Atq", "-F", "\t", "-c", q], capture_output=True,
                         text=True)
    if out.returncode:
        return []
    return [tuple(l.split("\t")) for l in out.stdout.splitlines() if l]


def main():
    store, table, topic, listing = sys.argv[1:5]
    recs = []
    for line in open(listing):
        p, o, size, key = line.rstrip("\n").split(" ", 3)
        recs.append((int(p), int(o), int(size), key))
    recs.sort()
    at = {(p, o): (size, key) for p, o, size, key in recs}
    stored = {int(p): int(n) for p, n in query(
        store, f"SELECT \"partition\", next_offset FROM crmstream_offsets WHERE topic = '{topic}'")}
    alive = {}
    for p, o, size, key in recs:
        if o >= stored.get(p, 0):
            continue
        nxt = at.get((p, o + 1))
        is_delete_event = nxt is not None and nxt[1] == key and nxt[0] <= 0 and size > 0
        alive[key] = size > 0 and not is_delete_event
    want = {k for k, v in alive.items() if v}
    got_rows = [r[0] for r in query(store, f'SELECT _key FROM "{table}"')]
    got = set(got_rows)
    problems = []
    if len(got_rows) != len(got):
        problems.append(f"duplicate keys: {len(got_rows) - len(got)}")
    if got != want:
        problems.append(f"store has {len(got - want)} keys the prefix has not (e.g. "
                        f"{sorted(got - want)[:5]}), lacks {len(want - got)} (e.g. "
                        f"{sorted(want - got)[:5]})")
    if problems:
        print(f"prefix {topic}: offsets={stored}: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)
    last = {}
    for p, o, _, _ in recs:
        last[p] = max(last.get(p, -1), o)
    midway = any(0 < n <= last.get(p, -1) for p, n in stored.items())
    print(f"prefix {topic}: offsets={json.dumps(stored)} rows={len(got)} of {len(recs)} records"
          + (" (midway)" if midway else ""))


main()
