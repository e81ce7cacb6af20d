#!/usr/bin/env bash
# Build the image the container scenario's Ray nodes run (ray_runtime: container) with the
# collection's scripts/build-image.sh: the test-bed base (Debian bookworm), SecretFlow from the
# role's own lock (through the test bed's shared package cache) - and save it as an archive
# (zstd-compressed: a third of the bytes to copy to each host, which podman load reads as is),
# which the ray role copies to the hosts that lack the image (ray_container_image_archive), as a
# site without a registry would.
# Rebuilt only when its inputs change (the image is also tagged :testbed, the name the scenario's
# inventory uses). Prints the archive's path.
#   secretflow.sh BASE_IMAGE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
base=$1
lock="$root/roles/secretflow/files/default.lock"
cache=/var/cache/sfdeploy-testbed/uv
tag=$( (cat "$0" "$root/scripts/build-image.sh" "$lock"; echo "$base") | sha256sum | cut -c1-12)
name="localhost/sfdeploy-secretflow:$tag"
archive=/var/cache/sfdeploy-testbed/images/sfdeploy-secretflow.tar.zst

if ! podman image exists "$name"; then
  mkdir -p "$cache"
  bash "$root/scripts/build-image.sh" --engine podman --base "$base" --tag "$name" --lock "$lock" --uv-cache "$cache"
fi
# Earlier builds go: each is the size of a SecretFlow installation.
bash "$here/testbed-tag.sh" localhost/sfdeploy-secretflow "$tag"
if [ ! -s "$archive" ] || [ "$(cat "$archive.tag" 2>/dev/null)" != "$tag" ]; then
  mkdir -p "$(dirname "$archive")"
  rm -f "$archive" "$archive.tag" "${archive%.zst}" "${archive%.zst}.tag"  # and the uncompressed one of earlier runs
  podman save localhost/sfdeploy-secretflow:testbed | zstd -q -T0 -3 -o "$archive.part"
  mv "$archive.part" "$archive"
  echo "$tag" > "$archive.tag"
fi
echo "$archive"
