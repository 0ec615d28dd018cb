#!/usr/bin/env python3
"""sim_pages.py — walks a CRM simulator's main listings the way the connectors page them and
prints, per listing, the pages read, a SHA-256 over the records served and the simulator's CPU
per page. Two uses (bench/sim_speed.sh):
  - serving cost: simulator process CPU (from /proc/PID/stat) per page at large N;
  - "same data for the same seed": the hashes before and after a simulator change must match.
Volatile parts of a page (Close search cursors carry their issue time) are left out of the hash.
usage: sim_pages.py CRM BASE_URL SIM_PID [MAX_PAGES]   (CRM: close, pipedrive, copper)
Credentials: the defaults of bench/sim_speed.sh (CLOSE_KEY, PD_TOKEN, COPPER_TOKEN/EMAIL)."""
import base64
import hashlib
import json
import os
import sys
import time
import urllib.request

CRM, BASE, PID = sys.argv[1], sys.argv[2].rstrip("/"), int(sys.argv[3])
MAX_PAGES = int(sys.argv[4]) if len(sys.argv) > 4 else 10**9
TICK = os.sysconf("SC_CLK_TCK")


def sim_cpu():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def call(path, body=None, headers=None):
    req = urllib.request.Request(BASE + path, data=None if body is None else
                                 json.dumps(body).encode(), headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/json")
    for _ in range(50):
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return json.loads(r.read() or b"null"), dict(r.headers)
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise SystemExit(f"{path}: HTTP {e.code}: {e.read()[:300]!r}")
            time.sleep(1)
    raise SystemExit(f"{path}: still 429")


def walk(name, pages):
    """pages: a generator of record lists; prints one line per listing."""
    h, n, recs = hashlib.sha256(), 0, 0
    cpu0, t0 = sim_cpu(), time.time()
    for data in pages:
        h.update(json.dumps(data, sort_keys=True).encode())
        n += 1
        recs += len(data)
        if n >= MAX_PAGES:
            break
    cpu = sim_cpu() - cpu0
    print(f"{CRM:9} {name:26} pages {n:6} records {recs:8} sha256 {h.hexdigest()[:16]}  "
          f"sim CPU {cpu * 1000 / max(n, 1):8.2f} ms/page  wall {time.time() - t0:7.1f} s",
          flush=True)


def close():
    auth = base64.b64encode((os.environ.get("CLOSE_KEY", "api_test_key") + ":").encode())
    hd = {"Authorization": "Basic " + auth.decode()}

    def offset(path, order):
        skip = 0
        while True:
            body, _ = call(f"/api/v1{path}?_limit=100&_skip={skip}&_order_by={order}", None, hd)
            yield body["data"]
            if not body["has_more"]:
                return
            skip += 100

    def search(obj):
        q = {"query": {"type": "and", "queries": [{"type": "object_type", "object_type": obj}]},
             "sort": [{"field": {"type": "regular_field", "field_name": "date_updated"},
                       "direction": "asc"}],
             "_limit": 200, "_fields": {obj: ["id", "date_updated", "display_name", "contacts",
                                              "opportunities", "tasks", "name", "emails"]}}
        while True:
            body, _ = call("/api/v1/data/search/", q, hd)
            yield body["data"]
            if not body.get("cursor"):
                return
            q["cursor"] = body["cursor"]

    walk("leads (search)", search("lead"))
    walk("contacts (search)", search("contact"))
    walk("activities", offset("/activity/", "date_created"))
    walk("opportunities", offset("/opportunity/", "date_updated"))
    walk("tasks", offset("/task/", "date_created"))


def pipedrive():
    hd = {"x-api-token": os.environ.get("PD_TOKEN", "0123456789abcdef0123456789abcdef01234567")}

    def v2(path, extra=""):
        cur = None
        while True:
            url = f"/api/v2/{path}?limit=500&sort_by=update_time&sort_direction=asc{extra}"
            body, _ = call(url + (f"&cursor={cur}" if cur else ""), None, hd)
            yield body["data"] or []
            cur = (body.get("additional_data") or {}).get("next_cursor")
            if not cur:
                return

    def flows():
        ids = [d["id"] for page in v2("deals", "&status=open,won,lost,deleted") for d in page]
        for i in ids:
            body, _ = call(f"/api/v1/deals/{i}/flow?start=0&limit=500&items=dealChange"
                           "&all_changes=1", None, hd)
            yield (body or {}).get("data") or []

    walk("deals", v2("deals", "&status=open,won,lost,deleted"))
    walk("persons", v2("persons"))
    walk("organizations", v2("organizations"))
    walk("activities", v2("activities"))
    walk("dealflow (per deal)", flows())


def copper():
    hd = {"X-PW-AccessToken": os.environ.get("COPPER_TOKEN", "copper-token"),
          "X-PW-UserEmail": os.environ.get("COPPER_EMAIL", "admin@example.com"),
          "X-PW-Application": "developer_api"}

    def search(entity, sort):
        page = 1
        while True:
            body, _ = call(f"/developer_api/v1/{entity}/search",
                           {"page_size": 200, "page_number": page, "sort_by": sort}, hd)
            yield body
            if len(body) < 200:
                return
            page += 1

    walk("people", search("people", "date_modified"))
    walk("companies", search("companies", "date_modified"))
    walk("opportunities", search("opportunities", "date_modified"))


{"close": close, "pipedrive": pipedrive, "copper": copper}[CRM]()
