#!/usr/bin/env bash
# Build the crownest/python-node sandbox template image from Debian packages
# with debootstrap + `docker import` (no container registry needed).
#
# Usage: images/python-node/build.sh [--print-tag] [--force]
#
#   --print-tag  print the image reference (crownest/python-node:TAG) and exit
#   --force      rebuild even if crownest/python-node:TAG already exists
#
# TAG = first 12 hex chars of sha256(build.sh bytes + packages.txt bytes).
# Python equivalent:
#   hashlib.sha256(open('build.sh','rb').read()
#                  + open('packages.txt','rb').read()).hexdigest()[:12]
#
# Steps: debootstrap a bare bookworm "minbase" rootfs, install packages.txt
# inside it with apt-get (bookworm + bookworm-updates + bookworm-security),
# add the sandbox user, scrub caches/docs, `docker import` the tree.
# Packages are not passed to `debootstrap --include`: debootstrap's resolver
# ignores virtual packages (Provides:), and npm's dependency tree needs them.
#
# Output: progress lines ("==> ...") go to stderr; the only line written to
# stdout is the image reference, so callers can do REF=$(build.sh).
#
# Environment (optional, does not affect the tag):
#   CROWNEST_DEBIAN_MIRROR           Debian mirror URL (default: detected
#                                    from the host's APT sources)
#   CROWNEST_DEBIAN_SECURITY_MIRROR  Debian security mirror URL
#   CROWNEST_DEBOOTSTRAP_CACHE       .deb cache dir
#                                    (default /var/cache/crownest-debootstrap)
set -euo pipefail

NAME=python-node
REPO=crownest/$NAME
SUITE=bookworm
SANDBOX_UID=1000
SANDBOX_GID=1000

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TAG=$(cat "$HERE/build.sh" "$HERE/packages.txt" | sha256sum | cut -c1-12)
REF=$REPO:$TAG

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '5,8s/^# \{0,1\}//p' "$HERE/build.sh" >&2; }

PRINT_TAG=0
FORCE=0
for arg in "$@"; do
    case "$arg" in
        --print-tag) PRINT_TAG=1 ;;
        --force) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; printf '==> ERROR: unknown argument: %s\n' "$arg" >&2; exit 2 ;;
    esac
done

if [ "$PRINT_TAG" = 1 ]; then
    echo "$REF"
    exit 0
fi

image_exists() { docker image inspect "$REF" >/dev/null 2>&1; }

if [ "$FORCE" = 0 ] && image_exists; then
    log "$REF already exists (use --force to rebuild)"
    echo "$REF"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap/chroot)"
command -v debootstrap >/dev/null || die "debootstrap is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the Docker daemon"

# Serialise concurrent builds (same host, same cache dir).
exec 9>"/var/lock/crownest-$NAME.build.lock"
if ! flock -n 9; then
    log "another build is running; waiting for it"
    flock 9
fi
if [ "$FORCE" = 0 ] && image_exists; then
    log "$REF was built by a concurrent run"
    echo "$REF"
    exit 0
fi

# --------------------------------------------------------------------------
# Package list
# --------------------------------------------------------------------------
PACKAGES=()
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    for word in $line; do PACKAGES+=("$word"); done
done <"$HERE/packages.txt"
[ "${#PACKAGES[@]}" -gt 0 ] || die "packages.txt lists no packages"

# --------------------------------------------------------------------------
# Mirror detection: use what the host's APT uses (the host may only reach
# Debian through that mirror/proxy).
# --------------------------------------------------------------------------
# Print the first URI of an enabled "deb" source whose suites include $1.
host_uri_for_suite() {
    local want=$1 f
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # deb [opts] URI suite comp...
            awk -v want="$want" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == want) { print $i; exit }
                }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            # deb822 paragraphs separated by blank lines
            awk -v want="$want" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && enabled != "no" &&
                        (" " suites " ") ~ (" " want " ") && uris != "") {
                        split(uris, u, " "); print u[1]; found = 1
                    }
                    types = ""; suites = ""; uris = ""; enabled = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); if (found) exit; next }
                {
                    key = tolower($1); sub(/:$/, "", key)
                    val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                    if (key == "types") types = val
                    else if (key == "suites") suites = val
                    else if (key == "uris") uris = val
                    else if (key == "enabled") enabled = tolower(val)
                }
                END { if (!found) flush() }' "$f"
        done
    } | head -n1
}

MIRROR=${CROWNEST_DEBIAN_MIRROR:-$(host_uri_for_suite "$SUITE" || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
SECURITY_MIRROR=${CROWNEST_DEBIAN_SECURITY_MIRROR:-$(host_uri_for_suite "$SUITE-security" || true)}
if [ -z "$SECURITY_MIRROR" ]; then
    case "$MIRROR" in
        */debian) SECURITY_MIRROR=${MIRROR%/debian}/debian-security ;;
        *) SECURITY_MIRROR=http://deb.debian.org/debian-security ;;
    esac
fi
SECURITY_MIRROR=${SECURITY_MIRROR%/}

CACHE_DIR=${CROWNEST_DEBOOTSTRAP_CACHE:-/var/cache/crownest-debootstrap}
mkdir -p "$CACHE_DIR/debootstrap-$SUITE" "$CACHE_DIR/apt-$SUITE/partial"

# --------------------------------------------------------------------------
# Temporary rootfs + cleanup
# --------------------------------------------------------------------------
DIR=$(mktemp -d "/var/tmp/crownest-$NAME.XXXXXX")
case "$DIR" in /var/tmp/crownest-"$NAME".?*) ;; *) die "bad temp dir '$DIR'" ;; esac
chmod 0755 "$DIR"   # it becomes the chroot's /; apt's _apt user must traverse it

mounts_below() {
    awk -v d="$DIR" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r
}

cleanup() {
    local rc=$? m
    trap - EXIT
    # Unmount anything still mounted below $DIR (deepest first) -- never
    # rm -rf through the bind-mounted .deb cache.
    for m in $(mounts_below); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    if [ -n "$(mounts_below)" ]; then
        warn "mounts remain below $DIR; not removing it"
    else
        rm -rf --one-file-system "$DIR"
    fi
    rm -f "$DIR.debootstrap.log"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Drop dpkg's per-package chatter and known-harmless noise from apt output.
apt_filter() {
    grep -vE '^(Selecting previously unselected|Preparing to unpack|Unpacking|Setting up|Processing triggers|\(Reading database|update-alternatives: (using|warning: skip creation of /usr/share/(man|doc)/)|debconf: delaying package configuration)' || true
}

in_chroot() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
        chroot "$DIR" "$@"
}

START=$(date +%s)
log "building $REF"
log "packages: ${PACKAGES[*]}"
log "mirror: $MIRROR (security: $SECURITY_MIRROR)"
log "rootfs: $DIR, .deb cache: $CACHE_DIR"

# --------------------------------------------------------------------------
# 1. debootstrap (bare minbase; ca-certificates so https mirrors work in apt)
# --------------------------------------------------------------------------
log "debootstrap --variant=minbase $SUITE"
KEYRING_ARGS=()
if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    KEYRING_ARGS=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
fi
if ! debootstrap --variant=minbase --merged-usr "${KEYRING_ARGS[@]}" \
        --cache-dir="$CACHE_DIR/debootstrap-$SUITE" \
        --include=ca-certificates \
        "$SUITE" "$DIR" "$MIRROR" >"$DIR.debootstrap.log" 2>&1; then
    tail -n 40 "$DIR.debootstrap.log" >&2
    if [ -f "$DIR/debootstrap/debootstrap.log" ]; then
        tail -n 40 "$DIR/debootstrap/debootstrap.log" >&2
    fi
    die "debootstrap failed"
fi
grep -E '^(W|E): ' "$DIR.debootstrap.log" | sed 's/^/    debootstrap: /' >&2 || true
rm -f "$DIR.debootstrap.log"
log "debootstrap done ($(( $(date +%s) - START ))s)"

# --------------------------------------------------------------------------
# 2. Install packages.txt inside the chroot
# --------------------------------------------------------------------------
mount -t proc proc "$DIR/proc"
# Persistent apt .deb cache shared between builds.
mount --bind "$CACHE_DIR/apt-$SUITE" "$DIR/var/cache/apt/archives"

# Never start services inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 0755 "$DIR/usr/sbin/policy-rc.d"

# Keep docs/man pages/translations out of the image, now and for any later
# dpkg run (same rules as Debian's -slim images).
mkdir -p "$DIR/etc/dpkg/dpkg.cfg.d"
printf '%s\n' \
    'path-exclude /usr/share/doc/*' \
    'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' \
    'path-exclude /usr/share/groff/*' \
    'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/lintian/*' \
    'path-exclude /usr/share/linda/*' \
    'path-exclude /usr/share/locale/*' \
    'path-include /usr/share/locale/locale.alias' \
    >"$DIR/etc/dpkg/dpkg.cfg.d/crownest-slim"

printf '%s\n' \
    "deb $MIRROR $SUITE main" \
    "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main" \
    >"$DIR/etc/apt/sources.list"
printf '%s\n' \
    'APT::Install-Recommends "false";' \
    'APT::Install-Suggests "false";' \
    'Acquire::Languages "none";' \
    'Dpkg::Use-Pty "false";' \
    >"$DIR/etc/apt/apt.conf.d/90crownest"
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true

log "apt-get update ($SUITE, $SUITE-updates, $SUITE-security)"
if ! in_chroot apt-get -qq update --error-on=any >&2; then
    warn "apt-get update reported errors (security/updates mirror unreachable?); continuing with the lists that were fetched"
fi
log "apt-get upgrade + install ${#PACKAGES[@]} packages"
APT_GET=(apt-get -qq -y -o Dpkg::Options::=--force-unsafe-io)
in_chroot "${APT_GET[@]}" upgrade 2>&1 | apt_filter >&2
in_chroot "${APT_GET[@]}" install "${PACKAGES[@]}" 2>&1 | apt_filter >&2
log "$(in_chroot dpkg-query -W -f '.\n' | wc -l) packages installed ($(( $(date +%s) - START ))s)"

log "creating user sandbox ($SANDBOX_UID:$SANDBOX_GID), /workspace, /tmp"
in_chroot groupadd --gid "$SANDBOX_GID" sandbox
in_chroot useradd --uid "$SANDBOX_UID" --gid "$SANDBOX_GID" \
    --home-dir /home/sandbox --create-home --shell /bin/bash sandbox
install -d -m 0755 -o "$SANDBOX_UID" -g "$SANDBOX_GID" "$DIR/workspace"
install -d -m 1777 "$DIR/tmp"
chmod 1777 "$DIR/tmp"

PY=$(in_chroot python3 -c 'import platform;print(platform.python_version())')
NODE=$(in_chroot node --version)
NODE=${NODE#v}
NPM=$(in_chroot npm --version 2>/dev/null || echo unknown)
log "python $PY, node $NODE, npm $NPM"

printf '%s\n' \
    "name=$NAME" \
    "image=$REF" \
    "tag=$TAG" \
    "python=$PY" \
    "node=$NODE" \
    "npm=$NPM" \
    "suite=$SUITE" \
    "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    >"$DIR/etc/crownest-template"

# --------------------------------------------------------------------------
# 3. Shrink / scrub
# --------------------------------------------------------------------------
log "cleaning rootfs"
umount "$DIR/var/cache/apt/archives"
umount "$DIR/proc"
rm -f "$DIR/usr/sbin/policy-rc.d"
rm -rf "$DIR"/var/lib/apt/lists/* "$DIR"/var/cache/apt/*.bin \
    "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/cache/apt/archives/partial/* \
    "$DIR"/var/cache/debconf/*-old "$DIR"/var/lib/dpkg/*-old \
    "$DIR"/usr/share/man/* "$DIR"/usr/share/info/* "$DIR"/usr/share/groff/* \
    "$DIR"/usr/share/lintian/* "$DIR"/usr/share/linda/* \
    "$DIR"/root/.cache "$DIR"/root/.npm "$DIR"/root/.config "$DIR"/debootstrap
if [ -d "$DIR/usr/share/doc" ]; then
    find "$DIR/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$DIR/usr/share/doc" -mindepth 1 -type d -empty -delete
fi
if [ -d "$DIR/usr/share/locale" ]; then
    find "$DIR/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
fi
find "$DIR/var/log" -type f -delete
find "$DIR/tmp" "$DIR/var/tmp" -mindepth 1 -delete
# Host-specific files copied in by debootstrap; Docker provides its own.
: >"$DIR/etc/resolv.conf"
echo localhost >"$DIR/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$DIR/etc/hosts"
if [ -e "$DIR/etc/machine-id" ]; then : >"$DIR/etc/machine-id"; fi
# No setuid/setgid programs (su, passwd, mount, ...): the sandbox never needs
# to gain privileges, even if a runner forgets no-new-privileges.
find "$DIR" -xdev -type f -perm /6000 -exec chmod ug-s {} +

# --------------------------------------------------------------------------
# 4. Import into Docker
# --------------------------------------------------------------------------
OLD_ID=$(docker image inspect -f '{{.Id}}' "$REF" 2>/dev/null || true)
log "importing $REF (rootfs $(du -sh --one-file-system "$DIR" | cut -f1))"
tar --numeric-owner -C "$DIR" -c . | docker import \
    --change "USER $SANDBOX_UID:$SANDBOX_GID" \
    --change 'WORKDIR /workspace' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV HOME=/home/sandbox' \
    --change "LABEL org.crownest.template=$NAME" \
    --change "LABEL org.crownest.python=$PY" \
    --change "LABEL org.crownest.node=$NODE" \
    --change "LABEL org.crownest.npm=$NPM" \
    --change "LABEL org.crownest.recipe=$TAG" \
    --change 'CMD ["/bin/bash"]' \
    - "$REF" >/dev/null
docker tag "$REF" "$REPO:latest"

ID=$(docker image inspect -f '{{.Id}}' "$REF")
# --force: drop the image we just replaced unless something still uses it
# (no -f, so docker refuses if it is tagged elsewhere or has containers).
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$ID" ]; then
    docker image rm "$OLD_ID" >/dev/null 2>&1 && log "removed replaced image $OLD_ID" || true
fi
log "built $REF in $(( $(date +%s) - START ))s"
log "image id: $ID"
echo "$REF"
