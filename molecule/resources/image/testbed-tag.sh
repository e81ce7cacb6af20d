#!/usr/bin/env bash
# The test bed's derived images (secretflow.sh, podman.sh): tag a build as REPOSITORY:testbed,
# the name the scenarios use, and remove REPOSITORY's earlier builds (other inputs).
#   testbed-tag.sh REPOSITORY TAG
set -euo pipefail
repo=$1 tag=$2
podman tag "$repo:$tag" "$repo:testbed"
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$repo:" |
  grep -v -e ":$tag\$" -e ':testbed$' | xargs -r podman rmi >/dev/null 2>&1 || true
