#!/usr/bin/env bash
# Build the containers scenario's machine image: the test-bed base with podman and crun installed
# and configured for a nested host, as a site's machines would have their container engine before
# the collection runs (the roles never install an engine). Installing them in each host's prepare
# took 114 s of the scenario's critical path (run D: apt in two hosts at once under the suite's
# load); built once, it is reused until its inputs change.
# Test-bed quirk: on this machine's hybrid cgroups podman nested in a container runs its
# containers with crun (runc cannot mount their cgroups).
# Tagged :testbed too, the name the scenario's platforms use. Prints the image's name.
#   podman.sh BASE_IMAGE
set -euo pipefail
base=$1
tag=$( (cat "$0"; echo "$base") | sha256sum | cut -c1-12)
name="localhost/sfdeploy-testbed-podman:$tag"

if ! podman image exists "$name"; then
  work="sfdeploy-testbed-podman-build-$$"
  trap 'podman rm -f "$work" >/dev/null 2>&1 || true' EXIT
  podman run --name "$work" --network host "$base" /bin/sh -c '
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends podman crun >/dev/null
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb
    cat >/etc/containers/containers.conf <<EOF
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=8192:8192"]
[engine]
runtime = "crun"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF' >&2
  podman commit --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' "$work" "$name" >/dev/null
fi
bash "$(dirname "$0")/testbed-tag.sh" localhost/sfdeploy-testbed-podman "$tag"
echo "$name"
