#!/usr/bin/env bash
# Why this file exists: a fresh Debian 12 machine (developer or CI) has none of crmstream's build and
# test dependencies, and nothing installed by hand survives a machine change. This script installs
# every Debian package the build, the tests and the real-Kafka broker need, then fetches the broker's
# jars from Maven Central. Idempotent: it touches apt only when a package is missing, and the jars are
# fetched once (tests/kafka/broker.sh fetch skips when they are already in .cache/kafka/libs).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

PACKAGES=(
    build-essential pkg-config
    librdkafka-dev libavro-dev libconfig-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev
    valgrind clang-format kcat
    clang libclang-rt-14-dev # make CC=clang, make fuzz (libFuzzer: libclang_rt.fuzzer for clang-14), make SAN=tsan
    openjdk-17-jdk-headless maven
    curl jq # test scripts drive the CRM simulator with the curl CLI (libcurl-dev has no binary) and jq
    python3 python3-yaml # tests pick ids out of simulator truth; the manifest check parses YAML
    prometheus python3-matplotlib # promtool checks the alert rules; a throwaway Prometheus runs the dashboard's queries (test 52, make demo's dashboard picture, plotted by matplotlib)
    libsqlite3-dev sqlite3 libpq-dev postgresql # `crmstream replay` stores; tests start a throwaway PostgreSQL (tests/pg/pg.sh) and read both stores
    podman buildah debootstrap # the image build test: a Debian base from packages, podman build --isolation=chroot, buildah run for the smoke test
)

say() { echo "install-deps: $*" >&2; }
die() { say "error: $*"; exit 1; }

missing_packages() {
    local pkg status
    for pkg in "${PACKAGES[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [ "$status" = installed ] || echo "$pkg"
    done
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@" || die "sudo failed (need passwordless sudo, or run this script as root)"
    else
        die "not root and sudo is not installed: run this script as root"
    fi
}

run_apt() {
    # Quiet apt: output goes to a log that is shown only when apt fails.
    local log
    log="$(mktemp)"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 "$@" \
        </dev/null >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        die "apt-get $1 failed"
    fi
    rm -f "$log"
}

install_debian_packages() {
    command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian 12 only"
    local missing
    mapfile -t missing < <(missing_packages)
    if [ "${#missing[@]}" -eq 0 ]; then
        say "Debian packages: all ${#PACKAGES[@]} present"
        return 0
    fi
    say "installing ${#missing[@]} Debian package(s): ${missing[*]}"
    local started=$SECONDS
    run_apt update
    run_apt install -y --no-install-recommends "${missing[@]}"
    mapfile -t missing < <(missing_packages)
    [ "${#missing[@]}" -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
    say "Debian packages installed in $((SECONDS - started)) s"
}

check_java_version() {
    local version
    version="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
    [ -n "$version" ] || die "cannot run 'java -version'"
    [ "$version" -ge 17 ] ||
        die "java $version is too old for the Kafka broker: need 17+ (update-alternatives --config java)"
}

fetch_kafka_broker_jars() {
    "$REPO_ROOT/tests/kafka/broker.sh" fetch
}

main() {
    install_debian_packages
    check_java_version
    fetch_kafka_broker_jars
}

main "$@"
