#!/usr/bin/env bash
# Per-source secrets from files (#20, a mounted Kubernetes Secret): a source's token_file (the
# file twin of token_env) is read at start, relative to the config's directory, its trailing
# newline stripped, and is what the source authenticates with — the variable the connector would
# otherwise read holds a wrong token here and is not used. A file with a wrong token is rejected
# by the CRM (exit 5); a file holding a CR/LF injection or missing is a config error (exit 2)
# naming file:line, the setting and the file, never the secret; `tables` does not read it.
source "$(dirname "$0")/lib.sh"
start_sim testcrm --seed 75 --param items=120 --param token=file-token-75c1
export TESTCRM_TOKEN=env-token-not-used
mkdir -p "$WORK/secrets"
printf 'file-token-75c1\n' >"$WORK/secrets/acme-token"
chmod 600 "$WORK/secrets/acme-token"
write_cfg "$WORK/cfg" exactly-once 'options = { token_file = "secrets/acme-token"; page_size = 50; };'

# the file's token authenticates; every record arrives
run_once "$WORK/cfg"
compare_table "$WORK/cfg" items
expect_eq "$(summary_field "$WORK/cfg" items messages)" 120 "items messages"

# a wrong token in the file: the CRM rejects it (so the file, not the variable, is used)
printf 'wrong-secret-75d2\n' >"$WORK/secrets/acme-token"
run_once "$WORK/cfg" 5
grep -q "credentials rejected" "$WORK/run.log" || fail "run did not say the credentials were rejected"

# a control character: refused at load, the file named at its config line, the secret not shown
printf 'tok-75e3\r\nX-Injected: 1\n' >"$WORK/secrets/acme-token"
rc=0
"$CRMSTREAM" validate -c "$WORK/cfg" >"$WORK/validate.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "validate exit code with a control character in the secret file"
line=$(grep -n 'token_file' "$WORK/cfg" | cut -d: -f1)
grep -q "$WORK/cfg:$line: .*options.token_file: secret file $WORK/secrets/acme-token contains a control character" \
    "$WORK/validate.txt" || fail "unclear error: $(cat "$WORK/validate.txt")"

# missing: exit 2 for run; tables needs no CRM secret and does not read it
rm "$WORK/secrets/acme-token"
run_once "$WORK/cfg" 2
grep -q "cannot read secret file $WORK/secrets/acme-token" "$WORK/run.log" ||
    fail "missing file not named: $(tail -n 3 "$WORK/run.log")"
rc=0
"$CRMSTREAM" tables -c "$WORK/cfg" >"$WORK/tables.txt" 2>&1 || rc=$?
expect_eq "$rc" 0 "tables exit code with the secret file missing"
grep -Eq '^ +token_file +file ' "$WORK/tables.txt" || fail "tables does not list token_file"

if grep -rqE "file-token-75c1|wrong-secret-75d2|tok-75e3|Injected" "$WORK"/*.txt "$WORK/run.log"; then
    fail "a secret was printed"
fi
note "no secret printed"
