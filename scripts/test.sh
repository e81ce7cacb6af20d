#!/usr/bin/env bash
# README command 2: the whole test suite.
#   scripts/test.sh            static checks, unit and integration tests, and every molecule scenario
#                              (the scenarios run side by side, in the background)
#   scripts/test.sh fast       static checks, unit and integration tests only (no containers)
#   SFDEPLOY_SCENARIOS="default" scripts/test.sh   a subset of the scenarios (default: simulation mode)
# Prints "N passed, M failed" at the end and exits non-zero if anything failed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
tools_env requirements-test.txt
cd "$ROOT" || exit 1

# Each check's and scenario's output is also kept in OUT, and the suite ends with the last lines
# of every failure's: a CI log that is cut to its tail still says why a check failed. Outcomes
# are lines "NAME passed|FAILED" in OUT/outcomes, counted at the end: checks also run in a
# background chain (below), whose shell cannot count in this one.
OUT=$(mktemp -d)
record() { echo "$1 $2" >>"$OUT/outcomes"; }  # record NAME passed|FAILED
# On 2 cores the suite is bound by the CPU, so each check and scenario reports the CPU it took
# beside its wall time. children_cpu FILE: the CPU seconds (user + system) of the finished
# children in FILE, the output of the builtin times.
children_cpu() {
  tail -n 1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%d", t }'
}
step() {  # step NAME COMMAND...: run one check, record its outcome
  local name=$1 start=$SECONDS outcome times; shift
  echo "=== $name"
  times=$(mktemp)
  # In a subshell, whose children are the check's alone (the scenarios are this shell's).
  ( "$@"; rc=$?; times >"$times"; exit "$rc" ) 2>&1 | tee "$OUT/$name"
  if [ "${PIPESTATUS[0]}" = 0 ]; then outcome=passed; else outcome=FAILED; fi
  record "$name" "$outcome"
  echo "=== $name: $outcome ($((SECONDS - start)) s, CPU $(children_cpu "$times") s)"
  rm -f "$times"
}

# Every check has a time limit (seconds), so that a hang ends the suite with a failure naming
# the check rather than running into CI's own limit. The limits are about twice the usual times
# (for the checks that run beside the scenarios, their times there).
limit() {  # limit SECONDS COMMAND...
  local secs=$1; shift
  timeout --kill-after=30 "$secs" "$@"
  local rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "=== timed out after $secs s: $*"
  return "$rc"
}
lint() { limit 1200 ansible-lint --profile production --offline -q; }
docs() {
  local m
  for m in $(cd plugins/modules && printf '%s\n' *.py | sed -n 's/\.py$//p'); do
    limit 120 ansible-doc -t module "sfdeploy.secretflow.$m" >/dev/null || return 1
  done
  for m in $(cd plugins/filter && printf '%s\n' *.py *.yml | sed -n 's/\.\(py\|yml\)$//p' | sort -u); do
    limit 120 ansible-doc -t filter "sfdeploy.secretflow.$m" >/dev/null || return 1
  done
  for m in $(cd plugins/lookup && printf '%s\n' *.py | sed -n 's/\.py$//p'); do
    limit 120 ansible-doc -t lookup "sfdeploy.secretflow.$m" >/dev/null || return 1
  done
}
# The collection tarball, built once here; the checks below that read a tarball use this one.
TARBALL_DIR=$(mktemp -d)
build() {
  limit 300 ansible-galaxy collection build --force --output-path "$TARBALL_DIR" >/dev/null || return 1
  # The tarball holds the collection, not the test bed.
  if tar -tzf "$TARBALL_DIR"/sfdeploy-secretflow-*.tar.gz | grep -E '(^|/)(molecule|tests|\.ci)/'; then
    echo "test files leaked into the collection tarball"; return 1
  fi
}
claims() { limit 60 python tests/check_claims.py; }
# The docs as the ecosystem's tools read them (the rendered docs site, Galaxy), and the changelog.
docs_lint() {
  local out
  (cd "$ROOT/.collections/ansible_collections/sfdeploy/secretflow" &&
    limit 300 antsibull-docs lint-collection-docs --plugin-docs .) || return 1
  # The docs pages (RST, as the Ansible docs site renders them): one per module, filter, lookup and role.
  out=$(mktemp -d)
  limit 300 antsibull-docs collection --use-current --dest-dir "$out" sfdeploy.secretflow >/dev/null || return 1
  local page
  for page in sf_job_module federation_role firewall_rule_pairs_filter role_options_lookup; do
    [ -s "$out/collections/sfdeploy/secretflow/$page.rst" ] || { echo "no docs page $page"; return 1; }
  done
  rm -rf "$out"
}
changelog() { limit 60 antsibull-changelog lint && limit 60 antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml; }
# The execution environment's definition (ee/) turns into a build context with the built collection.
ee() {
  local ctx
  ctx=$(mktemp -d)
  cp "$TARBALL_DIR"/sfdeploy-secretflow-*.tar.gz ee/ || return 1
  (cd ee && limit 300 ansible-builder create -f execution-environment.yml -c "$ctx" >/dev/null) || return 1
  [ -f "$ctx/Containerfile" ] && grep -q 'sfdeploy-secretflow' "$ctx/_build/requirements.yml"
  local rc=$?
  rm -rf "$ctx" ee/sfdeploy-secretflow-*.tar.gz
  return $rc
}
# The collection as users install it: from the tarball, its playbooks by their FQCN.
installed() {
  local dir pb
  dir=$(mktemp -d)
  limit 300 ansible-galaxy collection install --force --no-deps -p "$dir/cols" "$TARBALL_DIR"/sfdeploy-secretflow-*.tar.gz >/dev/null 2>&1 || return 1
  for pb in simulate production status upgrade teardown; do
    (cd "$dir" && limit 120 env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$dir/cols" ansible-playbook \
      -i "$ROOT/inventories/local" "sfdeploy.secretflow.$pb" --syntax-check >/dev/null) || { echo "sfdeploy.secretflow.$pb"; return 1; }
  done
  rm -rf "$dir"
}
# ansible-test sanity, on this checkout's files in an ansible_collections tree of its own (its
# pip bootstrap, whose host is unreachable here, is served by tests/sanity/get_pip.py).
sanity() {
  local tree
  tree=$(mktemp -d)/ansible_collections/sfdeploy/secretflow
  mkdir -p "$tree" "$HOME/.ansible/test/cache"
  cp tests/sanity/get_pip.py "$HOME/.ansible/test/cache/get_pip_24_2.py"
  git ls-files -z | xargs -0 cp --parents -t "$tree" || return 1
  (cd "$tree" && git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm tree &&
    limit 1500 ansible-test sanity --python 3.11 --venv --requirements --color no)
  local rc=$?
  rm -rf "${tree%/ansible_collections/*}"
  return "$rc"
}
# Galaxy's importer on the built tarball, from an environment of its own (it pins its own tools).
importer() {
  local env="$ROOT/.venv-importer" out
  [ -x "$env/bin/python" ] || uv venv --quiet --python "$VENV/bin/python" "$env" || return 1
  limit 300 uv pip install --quiet --python "$env/bin/python" galaxy-importer==0.4.44 || return 1
  out=$(mktemp -d)
  (cd "$out" && limit 600 "$env/bin/python" -m galaxy_importer.main "$TARBALL_DIR"/sfdeploy-secretflow-*.tar.gz) || return 1
  rm -rf "$out"
}
unit() { limit 600 python -m pytest -q -p no:cacheprovider tests/unit; }
# README command 1 (scripts/setup.sh) as a user runs it on this machine: the job's answer; again
# with nothing to do (changed=0); and in check mode (changed=0). The job is skipped in the last two.
# From a shell with PYTHONDONTWRITEBYTECODE set (as this machine's is): the local connection
# passes it on, but the Ray nodes and the job write SecretFlow's bytecode into the environment.
readme_setup() {
  local out run pid nodes
  for run in "" "--skip-tags job" "--skip-tags job --check"; do
    # shellcheck disable=SC2086  # the run's arguments, split on purpose
    out=$(PYTHONDONTWRITEBYTECODE=1 limit 1200 bash scripts/setup.sh $run 2>&1) || { printf '%s\n' "$out" | tail -40; echo "setup.sh $run failed"; return 1; }
    if [ -z "$run" ] && ! grep -q "the job''s result is the expected one" <<<"$out"; then
      printf '%s\n' "$out" | tail -40; echo "setup.sh: no expected result"; return 1
    fi
    if [ -z "$run" ]; then
      nodes=$(pgrep -f '/sfdeploy/(alice|bob)-local/venv/.*/raylet/raylet')
      [ "$(wc -w <<<"$nodes")" = 2 ] || { echo "setup.sh: not the 2 raylets of alice and bob: $nodes"; return 1; }
      for pid in $nodes; do
        if tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^PYTHONDONTWRITEBYTECODE='; then
          echo "setup.sh: the Ray node $pid runs with PYTHONDONTWRITEBYTECODE"; return 1
        fi
      done
      if ! compgen -G "$HOME/.local/share/sfdeploy/alice-local/venv/lib/python3*/site-packages/secretflow/__pycache__/*.pyc" >/dev/null; then
        echo "setup.sh: the job left no bytecode of SecretFlow in alice's environment"; return 1
      fi
    fi
    if [ -n "$run" ] && grep -E '^[a-z-]+ +: ok=' <<<"$out" | grep -qv ' changed=0 '; then
      printf '%s\n' "$out" | grep -A6 'PLAY RECAP'; echo "setup.sh $run changed something"; return 1
    fi
  done
  # inventories/local says firewall_backend: none - this machine's firewall is left as it was.
  if [ -e /etc/sfdeploy/firewall ] || { command -v nft >/dev/null && nft list tables 2>/dev/null | grep -q sfdeploy; }; then
    ls -l /etc/sfdeploy/firewall 2>&1; nft list tables 2>&1; echo "setup.sh: firewall_backend none, but rules were written"; return 1
  fi
}
# Roles driven by ansible-playbook on this machine (no containers).
integration() { limit 2400 python -m pytest -q -p no:cacheprovider tests/integration; }
# The default scenario runs as users run it: plain `molecule test`.
scenario() {
  if [ "$1" = default ]; then limit 3600 molecule test; else limit 3600 molecule test -s "$1"; fi
}
# The scenarios use separate networks and hosts: they run side by side, and alongside the
# checks above (which use only this machine's loopback), each into its own log that is printed
# at the end. The suite's wall time is then about that of the longest scenario: on 2 cores the
# suite is bound by the CPU (README, "Performance"), so only less work shortens it.
SCENARIOS=${SFDEPLOY_SCENARIOS:-default production containers}
[ "${1:-all}" = fast ] && SCENARIOS=""
LOGS=$(mktemp -d)
# Each scenario - its controller side (molecule, ansible, pytest) and its hosts (create.yml reads
# SFDEPLOY_TESTBED_CGROUP) - runs in a cgroup of its own where the machine has cgroup v1 and this
# is root (as on CI): the log reports each scenario's CPU time (and each test's: testbed_cpu.py),
# and production, the longest scenario, has twice the others' CPU weight while the scenarios
# share the cores, so that the three end about together (with four times, measured, production
# ended 7 minutes before the others; with podman's default, all containers of all scenarios share
# one group against every controller process, and production ended 10 minutes after them).
CGROUPS=/sys/fs/cgroup
# The checks beside the scenarios get a cgroup too, with a quarter of the scenarios' weight: they
# yield the CPU to the scenarios, the suite's critical path, but are not starved. Reniced in the
# root group (as before; still so without cgroups) ansible-lint took 220 s for 51 CPU-s in one
# run and failed a CI run, its output cut (most likely past its limit, then 600 s); with an
# eighth of the scenarios' weight it took 534 s for 50 CPU-s (another ansible-lint beside it for
# 4 of those minutes). A group's weight is spread over the cores where it has runnable tasks: a
# check running alone holds it on one core, against the scenarios' on both.
cpu_weight() { case $1 in production) echo 2048 ;; *) echo 1024 ;; esac; }
cgroup_name() { echo "sfdeploy-testbed-$1"; }
enter_cgroup() {  # enter_cgroup NAME: move this shell into its cgroup; false without cgroups
  local h dir
  dir=$(cgroup_name "$1")
  [ -w "$CGROUPS/cpu" ] && [ -w "$CGROUPS/cpuacct" ] || return 1
  for h in cpu cpuacct; do
    mkdir -p "$CGROUPS/$h/$dir" && echo "$BASHPID" >"$CGROUPS/$h/$dir/cgroup.procs" || return 1
  done
  echo 0 >"$CGROUPS/cpuacct/$dir/cpuacct.usage"
  cpu_weight "$1" >"$CGROUPS/cpu/$dir/cpu.shares"
}
scenario_cpu() {  # scenario_cpu SCENARIO: its CPU seconds so far, or ? without its cgroup
  local usage
  usage=$(cat "$CGROUPS/cpuacct/$(cgroup_name "$1")/cpuacct.usage" 2>/dev/null) && echo $((usage / 1000000000)) || echo '?'
}
start_scenarios() {
  local s
  mkdir -p /var/cache/sfdeploy-testbed/uv
  if ! SFDEPLOY_TESTBED_IMAGE=$(bash molecule/resources/image/build.sh | tail -n 1); then
    record testbed-image FAILED; SCENARIOS=""; return
  fi
  export SFDEPLOY_TESTBED_IMAGE
  for s in $SCENARIOS; do
    ( enter_cgroup "$s" && SFDEPLOY_TESTBED_CGROUP=/$(cgroup_name "$s") && export SFDEPLOY_TESTBED_CGROUP
      begin=$SECONDS; scenario "$s" >"$LOGS/$s.log" 2>&1
      echo "$? $((SECONDS - begin)) $(scenario_cpu "$s")" >"$LOGS/$s.rc" ) &
  done
}
finish_scenarios() {
  local s rc secs cpu outcome
  wait
  for s in $SCENARIOS; do
    echo "=== molecule-$s"
    cat "$LOGS/$s.log"
    read -r rc secs cpu <"$LOGS/$s.rc"
    if [ "$rc" = 0 ]; then outcome=passed; else outcome=FAILED; fi
    record "molecule-$s" "$outcome"
    echo "=== molecule-$s: $outcome ($secs s, CPU $cpu s)"
  done
}

# The integration test of SPU's TLS front runs the real stunnel (which the tls role installs
# on party heads).
if ! command -v stunnel4 >/dev/null && ! command -v stunnel >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 >/dev/null
fi
if [ "${1:-all}" != fast ]; then
  if [ "$(id -u)" = 0 ]; then
    bash scripts/testbed-host.sh
  fi
  echo "=== molecule scenarios started in the background: $SCENARIOS"
  start_scenarios
  # The scenarios are the suite's critical path: the checks below yield the CPU to them (children
  # inherit this shell's cgroup or priority; the scenarios started above keep theirs).
  enter_cgroup checks || renice -n 10 -p $$ >/dev/null
fi
# The checks run in chains (in the checks' cgroup while the scenarios run): the static checks
# and the integration tests (about 360 CPU-s over most of the scenarios' time) here, the unit
# tests beside them, and, once only one scenario is left, README command 1 (a SecretFlow job on
# this machine) and the ecosystem's CPU-heavy checks (Galaxy's importer, ansible-test sanity),
# two chains side by side. Measured (2026-12-06): one chain ended 3 minutes after the last
# scenario, on one core; all chains from the start starved each other (README command 1 took 17
# minutes, the integration tests 40) and the scenarios took no less; this order: 36.3 minutes
# in run R2, 32.4 and 32.5 in runs T and U with the bytecode fixes, the checks ending about 2
# minutes after the last scenario (README, "The test suite's time").
while_more_than_one_scenario_runs() {
  local s running
  while :; do
    running=0
    for s in $SCENARIOS; do [ -e "$LOGS/$s.rc" ] || running=$((running + 1)); done
    [ "$running" -le 1 ] && return
    sleep 5
  done
}
unit_tests() { step unit-tests unit; }  # they mostly wait (3 CPU-s in 75 s)
readme_last() { while_more_than_one_scenario_runs; step readme-setup readme_setup; }
ecosystem_last() {
  while_more_than_one_scenario_runs
  step collection-installed installed
  step docs-lint docs_lint
  step changelog-lint changelog
  step galaxy-importer importer
  step execution-environment ee
  step ansible-test-sanity sanity
}
CHAINS=()
beside() {  # beside CHAIN: run the function CHAIN in the background, its output into a log
  "$1" >"$OUT/$1.log" 2>&1 &
  CHAINS+=("$1:$!")
}
# The tarball first: ecosystem_last reads it.
step collection-build build
beside unit_tests
beside readme_last
beside ecosystem_last
step ansible-lint lint
step ansible-doc docs
step claims-map claims
step integration-tests integration
for chain in "${CHAINS[@]}"; do
  wait "${chain#*:}"
  cat "$OUT/${chain%%:*}.log"
done
finish_scenarios
# why LOG: why a check or scenario failed, in a few lines: a scenario's log ends with its
# destroy, so pytest's own summary (each failed test and its assertion's first lines) comes
# first, then the log's last lines.
why() {
  local plain
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$1")
  if grep -q 'short test summary info' <<<"$plain"; then
    echo "--- pytest's failed tests:"
    sed -n '/short test summary info/,/ in [0-9.]*s/p' <<<"$plain" | head -n 40
    echo "--- their assertions (pytest's E lines):"
    grep -E '^[^a-zA-Z]*E  ' <<<"$plain" | cut -c 1-240 | head -n 60
  fi
  echo "--- the last lines of its output:"
  tail -n 40 <<<"$plain"
}
passed=$(grep -c ' passed$' "$OUT/outcomes")
failures=()
while read -r name outcome; do
  [ "$outcome" = FAILED ] && failures+=("$name")
done <"$OUT/outcomes"
for name in "${failures[@]}"; do
  log="$OUT/$name"
  [[ $name == molecule-* ]] && log="$LOGS/${name#molecule-}.log"
  [ -s "$log" ] || continue
  echo; echo "=== $name failed"
  why "$log"
done
rm -rf "$LOGS" "$TARBALL_DIR" "$OUT"

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, ${#failures[@]} failed"
[ ${#failures[@]} -eq 0 ]
