#!/usr/bin/env bash
# deploy/ is consistent: the Kubernetes manifests agree with the producer.cfg they carry (probe
# paths and ports, Secret keys, grace period, non-root, one replica), and that producer.cfg is
# valid for the real binary (`crmstream tables` accepts it, and so does the compose copy).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" "$ROOT/tests/deploy/check_manifests.py" "$ROOT" "$WORK/k8s-producer.cfg" >"$WORK/check.txt" 2>&1 ||
    fail "manifest checks failed:
$(cat "$WORK/check.txt")"
note "$(tail -n 1 "$WORK/check.txt")"
export CLOSE_API_KEY=x PIPEDRIVE_API_TOKEN=x COPPER_API_KEY=x
for cfg in "$WORK/k8s-producer.cfg" "$ROOT/deploy/compose-producer.cfg" "$ROOT/producer.cfg.example"; do
    "$CRMSTREAM" tables -c "$cfg" >"$WORK/tables.txt" 2>&1 ||
        fail "crmstream rejects $(basename "$cfg"): $(cat "$WORK/tables.txt")"
    n=$(grep -c '^[a-z]* *[a-z_]* *\(FULL_TABLE\|INCREMENTAL\|APPEND_ONLY\)' "$WORK/tables.txt" || true)
    expect_eq "$n" 67 "tables configured by $(basename "$cfg")"
done
