#!/usr/bin/env bash
# Why this file exists: deploy/ (Dockerfile, Kubernetes manifests, compose file) repeats facts
# that must agree with each other and with what the crmstream binary accepts; a drift shows up
# only as a failing pod. This checks them offline in about a second, in two parts, and says
# which part failed:
#   [static]  tests/deploy/check_manifests.py parses every YAML file, the Dockerfile and the
#             embedded producer.cfg: probe paths/ports = the config's metrics port, Secret keys =
#             the variables the config names, grace periods > shutdown_grace, non-root, one
#             replica + Recreate, the same image name everywhere, the config mounted where the
#             ENTRYPOINT reads it; the scale-out overlay kubernetes-group/ (coordination =
#             "group", N replicas rolling with maxUnavailable 0, a PodDisruptionBudget of one
#             pod, its config equal to the base's apart from the coordination settings).
#   [binary]  the real binary accepts each config: `crmstream tables -c FILE` with an environment
#             holding ONLY the variables the Secret (or compose) provides, set to dummy values —
#             so a variable the config needs but the Secret lacks (including a connector's default
#             such as CLOSE_API_KEY) fails here with crmstream's own error.
# Usage: tests/deploy/check_manifests.sh [OUTDIR]   (CRMSTREAM=path/to/crmstream to choose the
# binary; default build/crmstream). Exit 0 all good, 1 any failure. Run by
# tests/integration/60_deploy_manifests.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/tests/integration/out/check_manifests}
CRMSTREAM=${CRMSTREAM:-$ROOT/build/crmstream}
mkdir -p "$OUT"
failed=()

# --- [static]
PY=/usr/bin/python3 # Debian's, which has python3-yaml (a pyenv/venv python3 may not)
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import yaml' 2>/dev/null; then
    echo "[static] FAIL: $PY cannot import yaml: install python3-yaml (scripts/install-deps.sh)"
    failed+=(static)
elif "$PY" "$ROOT/tests/deploy/check_manifests.py" "$ROOT" "$OUT" >"$OUT/static.txt" 2>&1; then
    echo "[static] ok: $(tail -n 1 "$OUT/static.txt")"
else
    echo "[static] FAIL:"
    sed 's/^/  /' "$OUT/static.txt"
    failed+=(static)
fi

# --- [binary]
# tables_ok ID LABEL — `crmstream validate` and `tables -c OUT/ID.cfg` in an environment holding only the
# variables listed in OUT/ID.env (dummy values); every source in OUT/ID.sources must list tables.
tables_ok() {
    local id=$1 label=$2 rc=0 v src n
    local -a envs=(PATH=/usr/bin:/bin) names=() missing=()
    while read -r v; do [ -z "$v" ] || { envs+=("$v=dummy"); names+=("$v"); }; done <"$OUT/$id.env"
    # validate needs every secret variable the config names (tables needs none of them)
    env -i "${envs[@]}" "$CRMSTREAM" validate -c "$OUT/$id.cfg" >"$OUT/tables-$id.txt" 2>&1 &&
        env -i "${envs[@]}" "$CRMSTREAM" tables -c "$OUT/$id.cfg" >>"$OUT/tables-$id.txt" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "[binary] FAIL: crmstream validate/tables rejects $label (exit $rc; environment only ${names[*]:-(none)}):"
        sed 's/^/  /' "$OUT/tables-$id.txt" | head -n 20
        return 1
    fi
    n=$(grep -cE '^[^ ]+ +[^ ]+ +(FULL_TABLE|INCREMENTAL|APPEND_ONLY) ' "$OUT/tables-$id.txt" || true)
    while read -r src; do
        grep -qE "^$src +[^ ]+ +(FULL_TABLE|INCREMENTAL|APPEND_ONLY) " "$OUT/tables-$id.txt" ||
            missing+=("$src")
    done <"$OUT/$id.sources"
    if [ ${#missing[@]} -gt 0 ]; then
        echo "[binary] FAIL: $label: crmstream tables lists no table for source(s) ${missing[*]}"
        return 1
    fi
    echo "[binary] ok: crmstream validate and tables accept $label: $n tables with only ${names[*]:-(none)} set"
}

if [ ! -x "$CRMSTREAM" ]; then
    echo "[binary] FAIL: $CRMSTREAM is missing: build it first (make)"
    failed+=(binary)
else
    for id in k8s k8s-group compose example; do
        case $id in
        k8s) label="the ConfigMap's producer.cfg (deploy/kubernetes/configmap.yaml, Secret keys)" ;;
        k8s-group) label="the scale-out ConfigMap's producer.cfg (deploy/kubernetes-group/configmap.yaml, Secret keys)" ;;
        compose) label="deploy/compose-producer.cfg (compose environment)" ;;
        example) label="producer.cfg.example (shipped in the image)" ;;
        esac
        if [ ! -s "$OUT/$id.cfg" ] || [ ! -f "$OUT/$id.env" ]; then
            echo "[binary] FAIL: $label: not extracted (see [static] above)"
            failed+=("binary-$id")
        else
            tables_ok "$id" "$label" || failed+=("binary-$id")
        fi
    done
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "check_manifests: FAILED parts: ${failed[*]}"
    exit 1
fi
echo "check_manifests: all parts passed"
