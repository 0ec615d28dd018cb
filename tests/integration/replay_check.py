#!/usr/bin/env python3
"""replay_check.py — a replayed SQL table equals a simulator's truth (tests 7N_replay_*).

usage: replay_check.py STORE SQL_TABLE TRUTH_JSON PK [COLUMN=JSON@KEY ...]
STORE is sqlite:PATH or postgresql://... (password in PGPASSWORD). Checks: the keys (_key) are
exactly the truth's primary keys (no lost deletes, no extra rows), the row count, no duplicate
keys, and every column named like a top-level truth field holds the truth's value in its typed
form (timestamps compared as instants, numbers as numbers, booleans, strings, JSON documents).
Each COLUMN=JSON@KEY asserts one typed value (e.g. custom_lifetime_value=1234.5@17) and that the
column exists; -COLUMN leaves a column out of the field-by-field comparison (e.g. Copper's raw
custom_fields list, which the connector empties because its values are the typed custom_*
columns). Prints one summary line; exits 1 with the differences otherwise."""
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone


def rows_of(store, table):
    if store.startswith("sqlite:"):
        db = sqlite3.connect(store[7:])
        db.row_factory = sqlite3.Row
        cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
        types = {r[1]: r[2] for r in db.execute(f'PRAGMA table_info("{table}")')}
        rows = [dict(r) for r in db.execute(f'SELECT * FROM "{table}"')]
        return cols, types, rows
    q = f"SELECT row_to_json(t) FROM \"{table}\" t"
    out = subprocess.run(["psql", store, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", q],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    tq = ("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
          f"'{table}' ORDER BY ordinal_position")
    out = subprocess.run(["psql", store, "-Atq", "-F", "\t", "-c", tq], check=True,
                         capture_output=True, text=True).stdout
    types = dict(l.split("\t") for l in out.splitlines() if l.strip())
    return list(types), types, rows


def instant(v):
    """A time as epoch milliseconds: ISO text or epoch seconds/milliseconds."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v * 1000) if abs(v) < 1e11 else int(v)
    if isinstance(v, str):
        s = v.replace(" ", "T").replace("Z", "+00:00")
        d = datetime.fromisoformat(s)
        if d.tzinfo is None:
            d = d.replace(tzinfo=timezone.utc)
        return round(d.timestamp() * 1000)
    return v


def is_time_type(t):
    t = (t or "").lower()
    return "timestamp" in t


def same(col_type, got, want):
    if want is None or want == "":
        return got is None or got == "" or got == want
    if got is None:
        return False
    t = (col_type or "").lower()
    if is_time_type(t) or (isinstance(got, str) and len(got) >= 20 and got[4:5] == "-" and
                           got.endswith("Z") and not isinstance(want, bool)):
        try:
            return instant(got) == instant(want)
        except (ValueError, TypeError):
            return False
    if isinstance(want, bool):
        return got in (want, int(want))
    if t in ("json", "jsonb") or (isinstance(want, (dict, list))):
        g = json.loads(got) if isinstance(got, str) else got
        return g == want
    if isinstance(want, (int, float)) or isinstance(got, (int, float)):
        try:
            return abs(float(got) - float(want)) <= 1e-9 * max(1.0, abs(float(want)))
        except (TypeError, ValueError):
            return False
    return str(got) == str(want)


def main():
    store, table, truth_path, pk = sys.argv[1:5]
    expects = [a for a in sys.argv[5:] if not a.startswith("-")]
    skipped = {a[1:] for a in sys.argv[5:] if a.startswith("-")}
    truth = json.load(open(truth_path))["records"]
    cols, types, rows = rows_of(store, table)
    problems = []
    keys = [r["_key"] for r in rows]
    if len(keys) != len(set(keys)):
        problems.append(f"duplicate keys: {len(keys) - len(set(keys))}")
    by_key = {r["_key"]: r for r in rows}
    want = {str(r[pk]): r for r in truth}
    missing = sorted(set(want) - set(by_key))
    extra = sorted(set(by_key) - set(want))
    if missing:
        problems.append(f"{len(missing)} truth records missing, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} rows the truth does not have (lost deletes?), e.g. {extra[:5]}")
    checked = 0
    for k, rec in want.items():
        row = by_key.get(k)
        if row is None:
            continue
        for c in cols:
            if c == "_key" or c not in rec or c in skipped:
                continue
            checked += 1
            if not same(types.get(c), row[c], rec[c]):
                problems.append(f"key {k} column {c} ({types.get(c)}): {row[c]!r} != truth {rec[c]!r}")
    for e in expects:
        col, rest = e.split("=", 1)
        val, key = rest.rsplit("@", 1)
        if col not in cols:
            problems.append(f"column {col} is missing (columns: {', '.join(cols)})")
            continue
        row = by_key.get(key)
        v = json.loads(val)
        if row is None or not same(types.get(col), row[col], v):
            problems.append(f"key {key} column {col}: {row and row[col]!r} != expected {v!r}")
        checked += 1
    if problems:
        print(f"replay-compare {table} in {store.split('@')[-1]}: {len(problems)} problems",
              file=sys.stderr)
        for p in problems[:30]:
            print("  " + p, file=sys.stderr)
        sys.exit(1)
    print(f"replay-compare {table}: rows={len(rows)} keys=truth columns={len(cols)} "
          f"values_checked={checked}")


main()
