#!/usr/bin/env bash
# Why this file exists: it puts tests/deploy/check_manifests.sh into the integration suite, so a
# change to deploy/ (or to the config the binary accepts) that breaks the Kubernetes manifests,
# the compose file or the Dockerfile fails CI: [static] the files agree with each other (probes
# and ports = the config's metrics port, Secret keys = the variables the config names, grace
# periods > shutdown_grace, non-root, one replica + Recreate, one image name; the scale-out
# overlay deploy/kubernetes-group: coordination = "group", N replicas rolling with
# maxUnavailable 0, a PodDisruptionBudget, its config the base's otherwise), and [binary] the
# crmstream under test accepts each config with only the Secret's variables set. Needs no broker.
source "$(dirname "$0")/lib.sh"
CRMSTREAM="$CRMSTREAM" "$ROOT/tests/deploy/check_manifests.sh" "$WORK" >"$WORK/check.txt" 2>&1 ||
    fail "deploy manifests (the part that failed is marked FAIL):
$(cat "$WORK/check.txt")"
while read -r line; do note "$line"; done <"$WORK/check.txt"
