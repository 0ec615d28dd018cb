#!/usr/bin/env bash
# Builds deploy/Dockerfile without a Docker daemon or registry: debootstrap makes a Debian 12
# base from Debian's packages, podman imports it as debian:bookworm-slim and builds the image
# with --isolation=chroot; then the image's file system is smoke-tested (the binary runs, links
# only libraries present in the image, runs as a non-root user). Run by tests/integration/61; the
# first run downloads a Debian base (~30 s here); later runs reuse it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$ROOT/.cache/image
mkdir -p "$WORK"
need() { command -v "$1" >/dev/null || { echo "build_image: $2 is missing (scripts/install-deps.sh installs it)"; exit 1; }; }
need podman podman
need debootstrap debootstrap
if ! podman image exists debian:bookworm-slim; then
    start=$(date +%s)
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
        { tail -n 20 "$WORK/debootstrap.log"; exit 1; }
    tar -C "$WORK/rootfs" -c . | podman import - debian:bookworm-slim >/dev/null
    rm -rf "$WORK/rootfs"
    echo "build_image: base image from debootstrap in $(($(date +%s) - start)) s"
fi
start=$(date +%s)
podman build --isolation=chroot -f "$ROOT/deploy/Dockerfile" -t crmstream:test "$ROOT" >"$WORK/build.log" 2>&1 ||
    { tail -n 30 "$WORK/build.log"; exit 1; }
echo "build_image: image built in $(($(date +%s) - start)) s, size $(podman image inspect crmstream:test --format '{{.Size}}') bytes"
user=$(podman image inspect crmstream:test --format '{{.Config.User}}')
[ "$user" = 10001 ] || { echo "build_image: image user is '$user', expected 10001"; exit 1; }
mnt=$(podman image mount crmstream:test)
trap 'podman image unmount crmstream:test >/dev/null 2>&1 || true' EXIT
missing=$(chroot "$mnt" ldd /usr/local/bin/crmstream | grep -c "not found" || true)
[ "$missing" = 0 ] || { chroot "$mnt" ldd /usr/local/bin/crmstream; exit 1; }
chroot --userspec=10001:10001 "$mnt" /usr/local/bin/crmstream --help >/dev/null
if chroot "$mnt" sh -c 'command -v gcc || command -v cc || ls /usr/include/librdkafka' >/dev/null 2>&1; then
    echo "build_image: the final image contains build tools or headers"; exit 1
fi
echo "build_image: smoke test passed (runs as 10001, all libraries present, no build tools)"
