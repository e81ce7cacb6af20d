#!/usr/bin/env bash
# Shared pieces of the SSH-reached test bed: a podman network with a fixed subnet (so that
# hosts have addresses the inventory can name) and the SSH key the controller logs in with.
#   testbed-network.sh NETWORK SUBNET
set -euo pipefail
network=$1 subnet=$2
dir=/var/tmp/sfdeploy-testbed
mkdir -p "$dir" /var/cache/sfdeploy-testbed/uv
[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sfdeploy-testbed -f "$dir/id_ed25519"
# A network left by an interrupted run with another subnet is replaced.
if podman network exists "$network" &&
   [ "$(podman network inspect --format '{{range .Subnets}}{{.Subnet}}{{end}}' "$network")" != "$subnet" ]; then
  podman network rm -f "$network" >/dev/null
fi
podman network exists "$network" || podman network create --subnet "$subnet" "$network" >/dev/null
