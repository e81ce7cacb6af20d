#!/usr/bin/env bash
# Prepare this machine to run the multi-host test bed: podman with runc, debootstrap, zstd (the
# container scenario's image archive), and a containers.conf that works on this kernel (see README, "Test bed").
# Needs root; does nothing that is already done.
set -euo pipefail
missing=()
for cmd in podman runc debootstrap zstd; do command -v "$cmd" >/dev/null || missing+=("$cmd"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman runc debootstrap zstd python3-venv >/dev/null
fi
mkdir -p /var/cache/sfdeploy-testbed/uv
conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p /etc/containers
  [ -f "$conf" ] && cp "$conf" "$conf.sfdeploy-backup"
  printf '%s\n' "$want" > "$conf"
fi
