#!/usr/bin/env bash
# Why this file exists: connectors/registry.c is the one list of CRMs (`crmstream connectors`
# prints it). Everything else that names CRMs either derives from it or is checked here against
# it, so adding or removing a connector cannot leave a stale list behind (connectors/README.md):
#  - each connector has its schemas (avro/NAME/*.avsc), a simulator personality (crmsim --list)
#    and a setup in every per-CRM script: bench/connector.sh, tests/fuzz/make-seeds.sh, and the
#    Java interop test (tests/integration/11_java_interop.sh; the test CRM has its own part);
#  - nothing names a CRM the registry lacks: avro/ directories, simulator personalities (other
#    than the non-CRM ones below), the deploy/ configs' source types, tests/integration/*_env.sh.
# Needs no broker.
source "$(dirname "$0")/lib.sh"

# Simulator personalities that are not CRMs: the engine's bench source and the schema registry.
NOT_CRMS="bench registry"

"$CRMSTREAM" connectors >"$WORK/connectors.txt" || fail "crmstream connectors exited $?"
mapfile -t CONNECTORS <"$WORK/connectors.txt"
[ ${#CONNECTORS[@]} -ge 1 ] || fail "crmstream connectors printed nothing"
[ "$(sort -u "$WORK/connectors.txt" | wc -l)" = ${#CONNECTORS[@]} ] ||
    fail "crmstream connectors lists a name twice: ${CONNECTORS[*]}"
is_connector() { grep -qx -- "$1" "$WORK/connectors.txt"; }
# The config's error for a missing type lists the same connectors.
printf 'kafka = { bootstrap_servers = "127.0.0.1:1"; };\nsources = ({ name = "x"; });\n' \
    >"$WORK/no-type.cfg"
"$CRMSTREAM" validate -c "$WORK/no-type.cfg" >"$WORK/no-type.txt" 2>&1 || true
grep -qF "type is required (one of: $(paste -sd, "$WORK/connectors.txt" | sed 's/,/, /g'))" \
    "$WORK/no-type.txt" || fail "the config error does not list the connectors: $(cat "$WORK/no-type.txt")"

problems=()
personalities=$("$CRMSIM" --list | tr '\n' ' ')
[ -n "$personalities" ] || fail "crmsim --list printed no personalities"

# has_case FILE NAME — FILE's per-CRM `case` has a branch for NAME.
has_case() { grep -qE "^[[:space:]]*$2\)" "$ROOT/$1"; }
for c in "${CONNECTORS[@]}"; do
    compgen -G "$ROOT/avro/$c/*.avsc" >/dev/null || problems+=("connector $c has no avro/$c/*.avsc")
    [[ " $personalities " == *" $c "* ]] || problems+=("connector $c has no simulator (crmsim --list)")
    for f in bench/connector.sh tests/fuzz/make-seeds.sh; do
        has_case "$f" "$c" || problems+=("connector $c has no setup in $f")
    done
    [ "$c" = testcrm ] || has_case tests/integration/11_java_interop.sh "$c" ||
        problems+=("connector $c has no setup in tests/integration/11_java_interop.sh")
done

for d in "$ROOT"/avro/*/; do
    is_connector "$(basename "$d")" || problems+=("avro/$(basename "$d")/ belongs to no connector")
done
for p in $personalities; do
    [[ " $NOT_CRMS " == *" $p "* ]] || is_connector "$p" ||
        problems+=("simulator personality $p is no connector (nor one of: $NOT_CRMS)")
done
while read -r t; do
    is_connector "$t" || problems+=("deploy/ configures a source of type $t, no connector")
done < <(grep -rhoE 'type = "[^"]+"' "$ROOT/deploy" --include='*.cfg' --include='*.yaml' |
    sed 's/.*"\(.*\)"/\1/' | sort -u)
for f in "$ROOT"/tests/integration/*_env.sh; do
    n=$(basename "$f" _env.sh)
    [ "$n" = replay ] || is_connector "$n" || problems+=("tests/integration/${n}_env.sh names no connector")
done

[ ${#problems[@]} -eq 0 ] || fail "the tree disagrees with the connector registry:
$(printf '  %s\n' "${problems[@]}")"
note "registry: ${CONNECTORS[*]}; schemas, simulator, bench, fuzz seeds and interop setups agree"
