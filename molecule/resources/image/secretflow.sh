#!/usr/bin/env bash
# Build the image the container scenario's Ray nodes run (ray_runtime: container): the test-bed
# base (Debian bookworm), SecretFlow from the role's own lock (uv, --require-hashes, through the
# test bed's shared package cache) and stunnel4 for the SPU TLS front - and save it as an archive,
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
uv=${SFDEPLOY_UV:-$(command -v uv)}
cache=/var/cache/sfdeploy-testbed/uv
tag=$( (cat "$0" "$lock"; echo "$base") | sha256sum | cut -c1-12)
name="localhost/sfdeploy-secretflow:$tag"
archive=/var/cache/sfdeploy-testbed/images/sfdeploy-secretflow.tar

if ! podman image exists "$name"; then
  work="sfdeploy-image-build-$tag"
  podman rm -f "$work" >/dev/null 2>&1 || true
  mkdir -p "$cache"
  podman run --name "$work" --network host \
    -v "$cache:/var/cache/uv" -v "$uv:/usr/local/bin/uv:ro" -v "$lock:/tmp/sfdeploy.lock:ro" \
    "$base" /bin/sh -c '
      set -e
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends stunnel4 libgomp1 >/dev/null
      rm -rf /var/lib/apt/lists/*
      python3 -m venv --without-pip /opt/secretflow
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt UV_CACHE_DIR=/var/cache/uv UV_LINK_MODE=copy uv pip install --quiet --python /opt/secretflow/bin/python \
        --require-hashes --no-deps -r /tmp/sfdeploy.lock' >&2
  podman commit --quiet --change 'ENV PATH=/opt/secretflow/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' --change 'STOPSIGNAL SIGTERM' "$work" "$name" >&2
  podman rm -f "$work" >/dev/null
fi
podman tag "$name" localhost/sfdeploy-secretflow:testbed
if [ ! -s "$archive" ] || [ "$(cat "$archive.tag" 2>/dev/null)" != "$tag" ]; then
  mkdir -p "$(dirname "$archive")"
  rm -f "$archive" "$archive.tag"
  podman save -o "$archive.part" localhost/sfdeploy-secretflow:testbed >&2
  mv "$archive.part" "$archive"
  echo "$tag" > "$archive.tag"
fi
echo "$archive"
