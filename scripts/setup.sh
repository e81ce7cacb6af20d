#!/usr/bin/env bash
# README command 1: set up the tools, then deploy SecretFlow on this machine (alice and
# bob as two Ray nodes on one address) and run the example job, printing its result.
#   scripts/setup.sh [extra ansible-playbook arguments]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tools_env requirements.txt
cd "$ROOT"
ansible-playbook playbooks/simulate.yml "$@"
