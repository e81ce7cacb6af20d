#!/usr/bin/env bash
# The default scenario's dependency step: build the test-bed image if needed (build.sh) and tag
# it localhost/sfdeploy-testbed:latest, the image the scenarios use when SFDEPLOY_TESTBED_IMAGE
# is not set (plain `molecule test`, `molecule list`).
set -euo pipefail
name=$(bash "$(dirname "$0")/build.sh" | tail -n 1)
podman tag "$name" localhost/sfdeploy-testbed:latest
echo "$name"
