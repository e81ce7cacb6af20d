#!/usr/bin/env bash
# README command 2: the whole test suite.
#   scripts/test.sh            static checks, unit tests, then every molecule scenario
#   scripts/test.sh fast       static checks, unit and integration tests only (no containers)
#   SFDEPLOY_SCENARIOS="simulation" scripts/test.sh   a subset of the scenarios
# Prints "N passed, M failed" at the end and exits non-zero if anything failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
tools_env requirements-test.txt
cd "$ROOT"

passed=0 failed=0 failures=()
step() {  # step NAME COMMAND...: run one check, record its outcome
  local name=$1; shift
  echo "=== $name"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: passed ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($((SECONDS - start)) s)"
  fi
}

lint() { ansible-lint --profile production --offline -q; }
docs() {
  local m
  for m in sf_job sf_reach sf_topology; do
    ansible-doc -t module "sfdeploy.secretflow.$m" >/dev/null || return 1
  done
}
build() {
  local out
  out=$(mktemp -d)
  ansible-galaxy collection build --force --output-path "$out" >/dev/null || return 1
  # The tarball holds the collection, not the test bed.
  if tar -tzf "$out"/sfdeploy-secretflow-*.tar.gz | grep -E '(^|/)(molecule|tests|\.ci)/'; then
    echo "test files leaked into the collection tarball"; return 1
  fi
  rm -rf "$out"
}
unit() { python -m pytest -q -p no:cacheprovider tests/unit; }
# Roles driven by ansible-playbook on this machine (no containers).
integration() { python -m pytest -q -p no:cacheprovider tests/integration; }
scenario() {
  mkdir -p /var/cache/sfdeploy-testbed/uv
  SFDEPLOY_TESTBED_IMAGE=$(bash molecule/resources/image/build.sh | tail -n 1) || return 1
  export SFDEPLOY_TESTBED_IMAGE
  molecule test -s "$1"
}

step ansible-lint lint
step ansible-doc docs
step collection-build build
step unit-tests unit
step integration-tests integration
if [ "${1:-all}" != fast ]; then
  if [ "$(id -u)" = 0 ]; then
    bash scripts/testbed-host.sh
  fi
  for s in ${SFDEPLOY_SCENARIOS:-simulation production}; do
    step "molecule-$s" scenario "$s"
  done
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
