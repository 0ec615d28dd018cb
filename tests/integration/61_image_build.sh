#!/usr/bin/env bash
# The container image builds offline (debootstrap base + podman build --isolation=chroot, no
# daemon, no registry) and its file system passes the smoke test: the binary runs as uid 10001,
# every library it links is present, and no build tools are left in the final stage.
source "$(dirname "$0")/lib.sh"
"$ROOT/tests/deploy/build_image.sh" >"$WORK/build.txt" 2>&1 || fail "image build failed:
$(tail -n 30 "$WORK/build.txt")"
while read -r line; do note "$line"; done <"$WORK/build.txt"
