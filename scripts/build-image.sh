#!/usr/bin/env bash
# Build an image for ray_runtime: container from the collection's own package lock: a Debian-
# family base with python3 (python3-venv), SecretFlow and its pins installed with uv from the
# lock (--require-hashes, so every file is the one the lock names) with their bytecode, stunnel4
# for SPU's TLS front and libgomp1. The image's PATH starts with its SecretFlow environment (ray, python).
#   scripts/build-image.sh --base IMAGE --tag NAME [--lock FILE] [--save ARCHIVE] [--uv-cache DIR] [--engine podman|docker]
#     --base      the base image (e.g. debian:bookworm with python3-venv, or your site's)
#     --tag       the image's name: ray_container_image
#     --lock      default: roles/secretflow/files/default.lock (scripts/lock.py makes others)
#     --save      also write an archive: ray_container_image_archive, for hosts without a registry;
#                 compressed by its name: .gz (gzip), .xz, .zst (zstd: podman loads it, docker does not)
#     --uv-cache  a uv cache directory to reuse downloads
#     --engine    default: podman if installed, else docker
# Needs the package index (or a warm --uv-cache) and the Debian mirror from the build container.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
base="" tag="" lock="$ROOT/roles/secretflow/files/default.lock" save="" cache="" engine=""
while [ $# -gt 0 ]; do
  case $1 in
    --base) base=$2 ;; --tag) tag=$2 ;; --lock) lock=$2 ;; --save) save=$2 ;;
    --uv-cache) cache=$2 ;; --engine) engine=$2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [ -z "$base" ] || [ -z "$tag" ]; then echo "usage: $0 --base IMAGE --tag NAME [--lock FILE] [--save ARCHIVE]" >&2; exit 2; fi
[ -f "$lock" ] || { echo "no lock file $lock" >&2; exit 2; }
engine=${engine:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "neither podman nor docker is installed" >&2; exit 2; }
uv=$(command -v uv || true)
[ -n "$uv" ] || { tools_env requirements.txt; uv=$VENV/bin/uv; }
work="sfdeploy-image-build-$$"
trap '"$engine" rm -f "$work" >/dev/null 2>&1 || true' EXIT
mounts=(-v "$uv:/usr/local/bin/uv:ro" -v "$(cd "$(dirname "$lock")" && pwd)/$(basename "$lock"):/tmp/sfdeploy.lock:ro")
# Without a cache of the user's, uv's cache stays out of the image (removed before the commit).
if [ -n "$cache" ]; then mkdir -p "$cache"; mounts+=(-v "$cache:/var/cache/uv" -e UV_CACHE_DIR=/var/cache/uv)
else mounts+=(-e UV_CACHE_DIR=/tmp/sfdeploy-uv-cache); fi
"$engine" run --name "$work" --network host "${mounts[@]}" "$base" /bin/sh -c '
  set -e
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv stunnel4 libgomp1 ca-certificates >/dev/null
  rm -rf /var/lib/apt/lists/*
  python3 -m venv --without-pip /opt/secretflow
  # With the bytecode: each start of a node is a new container (--rm), where Python would
  # otherwise compile Ray and SecretFlow again in every process of the node and of each job.
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt UV_LINK_MODE=copy \
    uv pip install --quiet --compile-bytecode --python /opt/secretflow/bin/python --require-hashes --no-deps -r /tmp/sfdeploy.lock
  rm -rf /tmp/sfdeploy-uv-cache' >&2
"$engine" commit --change 'ENV PATH=/opt/secretflow/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' --change 'STOPSIGNAL SIGTERM' "$work" "$tag" >/dev/null
echo "built $tag" >&2
if [ -n "$save" ]; then
  mkdir -p "$(dirname "$save")"
  case $save in
    *.gz) "$engine" save "$tag" | gzip -1 >"$save.part" ;;
    *.xz) "$engine" save "$tag" | xz -T0 -1 >"$save.part" ;;
    *.zst) "$engine" save "$tag" | zstd -q -T0 -3 -o "$save.part" ;;
    *) "$engine" save -o "$save.part" "$tag" ;;
  esac
  mv "$save.part" "$save"
  echo "saved $save" >&2
fi
