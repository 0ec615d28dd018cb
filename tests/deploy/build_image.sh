#!/usr/bin/env bash
# Why this file exists: deploy/Dockerfile must really build and its image must really be what
# the manifests assume, but CI has no Docker daemon and no registry (only Debian's apt mirror).
# So this script:
#   1. makes the debian:bookworm-slim base from Debian packages with debootstrap (minbase, then
#      slimmed like the official image: no docs/man/locales, apt caches off) and imports it into
#      podman's local storage — once; later runs reuse it (REBUILD_BASE=1 forces a new one);
#   2. builds deploy/Dockerfile with `podman build --isolation=chroot --pull=never` (no daemon,
#      no registry; the RUN steps' apt-get reach the Debian mirror);
#   3. smoke-tests the image: its config (user 10001:10001, ENTRYPOINT, port 9400, PATH), its file
#      system (ldd resolves every library, the libraries the binary links come from exactly the
#      runtime packages, no compiler/-dev package present), and runs it as the image's user with
#      `buildah run --isolation chroot`: `id`, `crmstream --help`, and `crmstream tables` on the
#      Kubernetes ConfigMap's producer.cfg with only the Secret's variables set.
#      (`podman run` cannot work on the CI machine: crun refuses its hybrid cgroup v1/v2 layout
#      and the RLIMIT_NOFILE podman asks for; buildah's chroot isolation needs neither.)
# Prints a few "build_image: ..." lines (times, sizes, libraries); exit 0 = built and smoke-tested.
# Needs root, podman, buildah, debootstrap, binutils (scripts/install-deps.sh). Run by
# tests/integration/61_image_build.sh; by hand: sudo tests/deploy/build_image.sh.
# Environment: IMAGE (tag to build), DEBIAN_MIRROR, REBUILD_BASE=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${IMAGE:-crmstream:latest}
BASE=debian:bookworm-slim
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=$ROOT/.cache/image
# The packages whose libraries crmstream links directly (deploy/Dockerfile installs all but libc6;
# libsqlite3-0 and libpq5 are the replay command's stores).
LINKED_PACKAGES="libavro23 libc6 libconfig9 libcurl4 libjansson4 libmicrohttpd12 libpq5 librdkafka1 libsqlite3-0"
UID_GID=10001:10001
# Bumped when make_base changes, so an older base in the local storage is made again.
BASE_RECIPE="debootstrap-minbase-slim-2"
ENTRYPOINT='["crmstream","run","-c","/etc/crmstream/producer.cfg"]'

say() { echo "build_image: $*"; }
die() {
    echo "build_image: FAIL: $*"
    exit 1
}
need() { command -v "$1" >/dev/null || die "$1 is missing (Debian package $2; scripts/install-deps.sh installs it)"; }
need podman podman
need buildah buildah
need debootstrap debootstrap
need readelf binutils
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, podman image mount, chroot)"
mkdir -p "$CACHE"
exec 9>"$CACHE/lock" # one build at a time on this machine
flock -w 1200 9 || die "another build_image.sh held $CACHE/lock for 20 minutes"

# --- 1. the base image
make_base() {
    local rootfs=$CACHE/rootfs start=$SECONDS
    rm -rf "$rootfs"
    debootstrap --variant=minbase --components=main bookworm "$rootfs" "$MIRROR" \
        >"$CACHE/debootstrap.log" 2>&1 || {
        tail -n 20 "$CACHE/debootstrap.log"
        die "debootstrap bookworm from $MIRROR failed (log: $CACHE/debootstrap.log)"
    }
    # What the official debian:*-slim images do (debuerreotype --slimify / minimizing config).
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian,locale,man}/* \
        "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
    tar --numeric-owner -C "$rootfs" -c . |
        podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' --change "LABEL io.crmstream.base-recipe=$BASE_RECIPE" - "$BASE" >"$CACHE/import.log" 2>&1 ||
        die "podman import of the base failed: $(tail -n 5 "$CACHE/import.log")"
    rm -rf "$rootfs"
    say "base $BASE made with debootstrap in $((SECONDS - start)) s," \
        "$(($(podman image inspect "$BASE" --format '{{.Size}}') / 1000000)) MB"
}
# Reuse the base when it is ours at the current recipe, or the official image pulled earlier.
base_ok() {
    podman image exists "$BASE" || return 1
    case $(podman image inspect "$BASE" --format '{{.RepoTags}}') in
    *docker.io/library/$BASE*) return 0 ;;
    esac
    [ "$(podman image inspect "$BASE" --format '{{index .Labels "io.crmstream.base-recipe"}}')" = "$BASE_RECIPE" ]
}
if [ "${REBUILD_BASE:-0}" = 1 ] || ! base_ok; then
    make_base
else
    say "base $BASE reused (built $(podman image inspect "$BASE" --format '{{.Created}}' | cut -c1-19); REBUILD_BASE=1 to renew)"
fi

# --- 2. the image
start=$SECONDS
podman build --isolation=chroot --pull=never --layers \
    --ignorefile "$ROOT/deploy/Dockerfile.dockerignore" \
    -f "$ROOT/deploy/Dockerfile" -t "$IMAGE" "$ROOT" >"$CACHE/build.log" 2>&1 || {
    tail -n 40 "$CACHE/build.log"
    die "podman build failed (log: $CACHE/build.log)"
}
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
say "$IMAGE built in $((SECONDS - start)) s, $((size / 1000000)) MB ($(grep -c 'Using cache' "$CACHE/build.log" || true) cached steps)"

# --- 3. smoke test
# The image's config.
cfg() { podman image inspect "$IMAGE" --format "$1"; }
[ "$(cfg '{{.Config.User}}')" = "$UID_GID" ] || die "image user is '$(cfg '{{.Config.User}}')', expected $UID_GID"
ep=$(cfg '{{json .Config.Entrypoint}}' | tr -d ' ')
[ "$ep" = "$ENTRYPOINT" ] || die "ENTRYPOINT is $ep, expected $ENTRYPOINT"
cfg '{{json .Config.ExposedPorts}}' | grep -q '"9400/tcp"' || die "port 9400 is not exposed: $(cfg '{{json .Config.ExposedPorts}}')"
cfg '{{json .Config.Env}}' | grep -q 'PATH=[^"]*/usr/local/bin' || die "PATH lacks /usr/local/bin: $(cfg '{{json .Config.Env}}')"

# The file system.
mnt=$(podman image mount "$IMAGE")
ctr=
cleanup() {
    [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null 2>&1 || true
    podman image unmount "$IMAGE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
bin=$mnt/usr/local/bin/crmstream
[ -x "$bin" ] || die "/usr/local/bin/crmstream is missing or not executable"
[ -f "$mnt/etc/crmstream/producer.cfg.example" ] || die "/etc/crmstream/producer.cfg.example is missing"
if [ -u "$bin" ] || [ -g "$bin" ]; then die "the binary is setuid/setgid"; fi
chroot "$mnt" ldd /usr/local/bin/crmstream >"$CACHE/ldd.txt" 2>&1 || die "ldd failed: $(cat "$CACHE/ldd.txt")"
! grep -q 'not found' "$CACHE/ldd.txt" || die "libraries missing from the image: $(grep 'not found' "$CACHE/ldd.txt" | tr -s ' \t' ' ')"
# Owner package of a library path (usrmerge: dpkg may know /lib/... or /usr/lib/...).
owner() {
    chroot "$mnt" dpkg -S "$1" 2>/dev/null || chroot "$mnt" dpkg -S "/usr${1#/usr}" 2>/dev/null ||
        chroot "$mnt" dpkg -S "${1#/usr}" 2>/dev/null || echo "NONE: $1"
}
direct=()
for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }' "$CACHE/ldd.txt")
    [ -n "$path" ] || die "ldd does not resolve $lib"
    direct+=("$(owner "$path" | cut -d: -f1)")
done
got=$(printf '%s\n' "${direct[@]}" | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$LINKED_PACKAGES" ] || die "the binary links libraries of: $got; expected exactly: $LINKED_PACKAGES"
all=$(awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }' "$CACHE/ldd.txt" | while read -r p; do owner "$p" | cut -d: -f1; done | sort -u | wc -l)
# shellcheck disable=SC2016 # ${Package} is dpkg-query's, not the shell's
installed=$(chroot "$mnt" dpkg-query -W -f '${Package}\n')
tools=$(echo "$installed" | grep -E -- '-dev$|^(gcc|g\+\+|cpp)(-[0-9]+)?$|^(make|binutils|binutils-.*|pkg-config|pkgconf|build-essential)$' || true)
[ -z "$tools" ] || die "build tools or -dev packages in the final image: ${tools//$'\n'/ }"
for p in /usr/bin/cc /usr/bin/gcc /usr/bin/make /usr/include/librdkafka; do
    [ ! -e "$mnt$p" ] || die "$p is in the final image"
done
pkgs=$(echo "$installed" | wc -l)
say "file system: $(wc -l <"$CACHE/ldd.txt") libraries resolved (from $all packages), direct ones from exactly" \
    "$LINKED_PACKAGES; $pkgs packages, no compiler or -dev package"

# Run it as the image's user (buildah run applies the image's USER and Env).
"$ROOT/tests/deploy/check_manifests.py" "$ROOT" "$CACHE/manifests" >/dev/null 2>&1 || true
[ -s "$CACHE/manifests/k8s.cfg" ] || die "could not extract the ConfigMap's producer.cfg (run tests/deploy/check_manifests.sh)"
ctr=$(buildah from --pull-never --name "crmstream-smoke-$$" "$IMAGE")
brun() { buildah run --isolation chroot "$@"; }
ids=$(brun "$ctr" -- id -u):$(brun "$ctr" -- id -g)
[ "$ids" = "$UID_GID" ] || die "the image runs as $ids, expected $UID_GID"
brun "$ctr" -- crmstream --help >/dev/null || die "crmstream --help fails in the image"
envs=()
while read -r v; do [ -z "$v" ] || envs+=(--env "$v=dummy"); done <"$CACHE/manifests/k8s.env"
brun "${envs[@]}" -v "$CACHE/manifests/k8s.cfg:/etc/crmstream/producer.cfg:ro" "$ctr" -- \
    crmstream validate -c /etc/crmstream/producer.cfg >"$CACHE/validate.txt" 2>&1 ||
    die "in the image, crmstream validate rejects the ConfigMap's producer.cfg: $(cat "$CACHE/validate.txt")"
brun "${envs[@]}" -v "$CACHE/manifests/k8s.cfg:/etc/crmstream/producer.cfg:ro" "$ctr" -- \
    crmstream tables -c /etc/crmstream/producer.cfg >"$CACHE/tables.txt" 2>&1 ||
    die "in the image, crmstream tables rejects the ConfigMap's producer.cfg: $(cat "$CACHE/tables.txt")"
n=$(grep -cE '^[^ ]+ +[^ ]+ +(FULL_TABLE|INCREMENTAL|APPEND_ONLY) ' "$CACHE/tables.txt" || true)
say "runs as uid:gid $ids; crmstream --help ok; crmstream tables on the ConfigMap's producer.cfg" \
    "(Secret variables only): $n tables"
say "smoke test passed"
