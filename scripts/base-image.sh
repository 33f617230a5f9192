#!/usr/bin/env bash
# The image the container executor's tests run jobs in: Debian bookworm (minbase, with git and
# ca-certificates), built with debootstrap and imported into podman as
# localhost/drover-ci-base:bookworm. Nothing is done when the image is there already.
#
#   bash scripts/base-image.sh [MIRROR]     (as root; MIRROR: http://deb.debian.org/debian)
set -euo pipefail
image=localhost/drover-ci-base:bookworm
mirror=${1:-http://deb.debian.org/debian}
if podman image exists "$image"; then
  exit 0
fi
work=$(mktemp -d /var/tmp/drover-base-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=git,ca-certificates bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; exit 1; }
tar -C "$work/rootfs" -c . | podman import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "built $image" >&2
