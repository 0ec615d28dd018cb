#!/usr/bin/env bash
# Bad config: one line naming file:line and the setting, exit code 2, nothing produced.
source "$(dirname "$0")/lib.sh"
SIM_URL=http://127.0.0.1:1
write_cfg "$WORK/cfg" exactly-once 'timeout = "soon";'
rc=0
"$CRMSTREAM" run -c "$WORK/cfg" --once >"$WORK/out.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code for a bad duration"
grep -q "$WORK/cfg:[0-9]*: sources\[0\].timeout: invalid duration" "$WORK/out.txt" ||
    fail "unclear error: $(cat "$WORK/out.txt")"
expect_eq "$(wc -l <"$WORK/out.txt")" 1 "lines of error output"
write_cfg "$WORK/cfg2" exactly-once 'options = { token_env = "CRMSTREAM_NOT_SET"; };'
rc=0
"$CRMSTREAM" check -c "$WORK/cfg2" >"$WORK/out2.txt" 2>&1 || rc=$?
expect_eq "$rc" 2 "exit code for a missing secret variable"
grep -q "environment variable CRMSTREAM_NOT_SET is not set" "$WORK/out2.txt" ||
    fail "unclear error: $(cat "$WORK/out2.txt")"
topics=$(kcat -b "$BOOTSTRAP" -L 2>/dev/null | grep -c "$PREFIX" || true)
expect_eq "$topics" 0 "topics created by failed runs"
