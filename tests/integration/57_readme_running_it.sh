#!/usr/bin/env bash
# README "Running it" (#19): the commands of its sh block, copied as written, work with a copy of
# producer.cfg.example. The environment lines (make deps, make, scripts/demo.sh --keep/--stop)
# are replaced by this suite's broker and three simulators on ephemeral ports (the copy's
# bootstrap_servers and base_url lines are pointed at them, the only edit); everything else —
# the cp, the exported variable names and values, the table names, the options — runs verbatim.
source "$(dirname "$0")/lib.sh"
block=$(awk '/^## Running it/ {inside = 1} inside && /^```sh$/ {code = 1; next} code && /^```$/ {exit} code' "$ROOT/README.md")
[ -n "$block" ] || fail "no sh block under README's Running it"
printf '%s\n' "$block" >"$WORK/block.sh"
grep -q '^cp producer.cfg.example producer.cfg' "$WORK/block.sh" || fail "the block does not copy producer.cfg.example"

# The demo's simulators, with the keys the block exports.
declare -A URL
start_sim close --seed 42 --param api_key=demo-close-key
URL[18081]=$SIM_URL
start_sim pipedrive --seed 42 --param token=demo-pipedrive-token
URL[18082]=$SIM_URL
start_sim copper --seed 42 --param token=demo-copper-key --param email=ops@example.com
URL[18083]=$SIM_URL

# The commands run in a scratch directory holding the example and the binary, as a clone would.
RUN=$WORK/clone
mkdir -p "$RUN/scripts"
ln -s "$CRMSTREAM" "$RUN/crmstream"
sed -e "s#127.0.0.1:19092#$BOOTSTRAP#" -e "s#http://127.0.0.1:18081#${URL[18081]}#" \
    -e "s#http://127.0.0.1:18082#${URL[18082]}#" -e "s#http://127.0.0.1:18083#${URL[18083]}#" \
    -e "s#topic_prefix = \"crm\"#topic_prefix = \"$PREFIX\"#" \
    -e "s#state_topic = \"crmstream.state\"#state_topic = \"$PREFIX.state\"#" \
    -e "s#schemas_topic = \"crmstream.schemas\"#schemas_topic = \"$PREFIX.schemas\"#" \
    "$ROOT/producer.cfg.example" >"$RUN/producer.cfg.example"
cmp -s "$RUN/producer.cfg.example" "$ROOT/producer.cfg.example" && fail "the example was not pointed at the test's broker"
CFGS+=("$RUN/producer.cfg")
# Environment lines of the block become no-ops here; every other line runs as written.
sed -E -e 's/^(make( .*)?|scripts\/demo\.sh.*)$/# environment, skipped: \1/' "$WORK/block.sh" >"$RUN/run.sh"
note "running $(grep -c '^\./crmstream' "$RUN/run.sh") crmstream commands of the README block"
(cd "$RUN" && unset CLOSE_API_KEY PIPEDRIVE_API_TOKEN COPPER_API_KEY && bash -euo pipefail -x run.sh) >"$WORK/block.out" 2>&1 ||
    fail "the README block failed: $(tail -n 15 "$WORK/block.out")"
grep -q '^crmstream [0-9]' "$WORK/block.out" || fail "no --version line"
grep -Eq '^source copper +OK' "$WORK/block.out" || fail "check did not pass: $(grep -A6 '^CHECK' "$WORK/block.out")"
grep -q '"key": "lead_' "$WORK/block.out" || fail "peek close.leads printed no lead"
grep -q 'close.leads: bookmark removed' "$WORK/block.out" || fail "state --reset did not run"
# for the suite's closing decodability check of the copy's topics
export CLOSE_API_KEY=demo-close-key PIPEDRIVE_API_TOKEN=demo-pipedrive-token COPPER_API_KEY=demo-copper-key
note "README Running it: every command ran (log $WORK/block.out)"
