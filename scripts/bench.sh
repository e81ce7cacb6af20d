#!/usr/bin/env bash
# The deployment benchmark (README, "Performance"): builds three fresh hosts on the test bed,
# measures the floor (the installs themselves, by hand) and the collection's figures in one run,
# and prints one table. Needs root and podman (scripts/testbed-host.sh); about 11 minutes.
#   scripts/bench.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tools_env requirements-test.txt
cd "$ROOT"
[ "$(id -u)" = 0 ] && bash scripts/testbed-host.sh
SFDEPLOY_TESTBED_IMAGE=$(bash molecule/resources/image/build.sh | tail -n 1)
export SFDEPLOY_TESTBED_IMAGE
exec python tests/bench/bench.py "$@"
