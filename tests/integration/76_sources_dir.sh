#!/usr/bin/env bash
# sources_dir (#20): one source per *.cfg file of a directory, in addition to sources = ( ... ),
# each with its own secret file beside it (a mounted ConfigMap + Secret per account). One --once
# pass publishes every source's tables (the three sources share one simulator); a name used
# twice (in the config and in a file) stops the start with exit 2 naming both places.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 76 --param items=60 --param token=dir-token-76a
export TESTCRM_TOKEN=dir-token-76a
write_cfg "$WORK/cfg" exactly-once 'tables = { include = ["items", "users"]; };'
mkdir -p "$WORK/sources.d"
sed -i '1i sources_dir = "sources.d";' "$WORK/cfg"
for name in acct-b acct-a; do
    printf 'dir-token-76a\n' >"$WORK/sources.d/$name.token"
    cat >"$WORK/sources.d/$name.cfg" <<CFG
type = "testcrm";
name = "$name";
base_url = "$SIM_URL";
tables = { include = ["items"]; };
options = { token_file = "$name.token"; };
CFG
done
printf 'not a source\n' >"$WORK/sources.d/README.txt"

run_once "$WORK/cfg"
passes=$(grep -c 'msg="pass done' "$WORK/run.log")
expect_eq "$passes" 4 "table passes (acme: items, users; acct-a, acct-b: items)"
truth items >"$WORK/truth-items.json"
for src in acme acct-a acct-b; do
    "$CRMTOOL" compare -c "$WORK/cfg" "$src.items" "$WORK/truth-items.json" id >"$WORK/compare-$src.txt" 2>&1 ||
        fail "$src.items differs from the simulator: $(cat "$WORK/compare-$src.txt")"
    note "$src: $(grep '^compare' "$WORK/compare-$src.txt")"
done

# the same name in a file and in the config: exit 2, both places named
sed 's/name = "acct-b"/name = "acme"/' "$WORK/sources.d/acct-b.cfg" >"$WORK/sources.d/zz.cfg"
rc=0
"$CRMSTREAM" validate -c "$WORK/cfg" >"$WORK/validate.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "validate exit code with a duplicate source name"
line=$(grep -n 'name = "acme"' "$WORK/cfg" | cut -d: -f1)
grep -q "$WORK/sources.d/zz.cfg:2: name: duplicate source name \"acme\" (also at $WORK/cfg:$line)" \
    "$WORK/validate.txt" || fail "duplicate not named with both places: $(cat "$WORK/validate.txt")"
