#!/usr/bin/env bash
# Build the container image (deploy/container/Dockerfile) with buildah FROM a Debian bookworm root
# file system made here with mmdebstrap (no base image can be pulled on the CI machines), then run
# the smoke test (tests/smoke/smoke.py) inside it with `buildah run`, as the image's uid 10025.
# Needs root, buildah and mmdebstrap (Debian's packages). Prints how long each stage took.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="ci-$$"
base="localhost/smgw-debian-base:$tag"
image="localhost/seller-mail-gateway:$tag"
work="$(mktemp -d /tmp/smgw-image.XXXXXX)"
ctr=""
cleanup() {
    [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
    buildah rmi "$image" "$base" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
stage() { printf 'container: %-40s %4d s\n' "$1" "$(( $(date +%s) - $2 ))"; }

t=$(date +%s)
# The base trusts what this host trusts: the local CAs in /usr/local/share/ca-certificates (where a
# machine whose egress to the package registries passes a TLS proxy keeps its CA), and pip is told
# to use that bundle as this host's pip is (pip.conf cert = ...). Nothing else of the host goes in.
hooks=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    hooks+=(--customize-hook='mkdir -p "$1/usr/local/share/ca-certificates"'
            --customize-hook="copy-in $(echo /usr/local/share/ca-certificates/*.crt) /usr/local/share/ca-certificates/"
            --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1')
fi
hooks+=(--customize-hook='printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" > "$1/etc/pip.conf"')
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates "${hooks[@]}" bookworm \
    "$work/rootfs.tar"
stage "mmdebstrap bookworm root file system" "$t"

t=$(date +%s)
ctr="$(buildah from scratch)"
buildah add --quiet "$ctr" "$work/rootfs.tar" / >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
buildah commit --quiet --rm "$ctr" "$base" >/dev/null
ctr=""
stage "base image from it" "$t"

t=$(date +%s)
# Docker format: the OCI image format has no HEALTHCHECK.
buildah bud --quiet --format docker --isolation chroot --network host --pull=never --layers=false \
    --build-arg BASE_IMAGE="$base" -f deploy/container/Dockerfile -t "$image" . >/dev/null
stage "buildah bud (Dockerfile)" "$t"

# What the image says about itself: numeric user, the health check, the baked-in config valid.
t=$(date +%s)
user="$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")"
[ "$user" = "10025:10025" ] || { echo "image runs as '$user', expected 10025:10025" >&2; exit 1; }
health="$(buildah inspect --type image --format '{{.Docker.Config.Healthcheck.Test}}' "$image")"
[ "$health" = "[CMD gateway health]" ] || { echo "image health check is '$health'" >&2; exit 1; }
ctr="$(buildah from --pull=never "$image")"
run() { buildah run --isolation chroot --network host --user 10025:10025 "$ctr" -- "$@"; }
run gateway config check /etc/gateway/gateway.toml
buildah copy --quiet --chown 10025:10025 "$ctr" tests/smoke/smoke.py tests/bounces/data/amazon-optout-en.eml \
    /tmp/smoke/ >/dev/null
run /opt/gateway/bin/python -I /tmp/smoke/smoke.py /opt/gateway/bin/gateway /tmp/smoke/run \
    --optout /tmp/smoke/amazon-optout-en.eml
stage "smoke test inside the image" "$t"
