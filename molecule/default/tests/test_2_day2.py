"""Day 2 on the simulation test bed, in order: status, --check --diff of every playbook, a
killed head, a node stopped or disabled by hand, teardown, an interrupted converge. Runs after test_1_deployment.py."""
import os
import re
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from testbed import (changed_counts, host, listening, playbook, playbook_args, playbooks_together, status,  # noqa: E402
                     task_output, wait_until_healthy)

RAY_PORTS = {'sim-alice': [20000, 20001, 20002, 20003], 'sim-bob': [20001, 20002]}
ANSWER = '"total": 131'  # molecule.yml's job_args: 66 + 65


def main_pid(name, party):
    return host(name).check_output('systemctl show -p MainPID --value sfdeploy-ray-%s' % party)


def test_status_shows_every_host_and_the_head_seeing_both():
    proc = status('-e', 'status_fail_unhealthy=true')
    assert proc.returncode == 0, proc.stdout[-4000:]
    out = proc.stdout
    assert 'alice: healthy' in out and 'bob: healthy' in out, out[-3000:]
    rows = {m.group(1): m.group(0).split() for m in re.finditer(r'(?m)^\s*(?:alice|bob)\s+(sim-\w+)\s.*$', out)}
    assert rows['sim-alice'][2:7] == ['head', 'active', '4/4', '2/2', 'ok'], rows
    assert rows['sim-bob'][2:7] == ['worker', 'active', '2/2', '-', 'ok'], rows
    assert set(changed_counts(out)) == {0}, out[-3000:]


def test_check_diff_runs_every_playbook_and_changes_nothing():
    pids = {name: main_pid(name, party) for name, party in (('sim-alice', 'alice'), ('sim-bob', 'bob'))}
    # Check mode changes nothing, so the four runs do not disturb each other: they run at once.
    runs = playbooks_together(dict((path, (path, '--check', '--diff'))
                                   for path in ('playbooks/simulate.yml', 'playbooks/status.yml',
                                                'playbooks/upgrade.yml', 'playbooks/teardown.yml')))
    for path, run in runs.items():
        assert run.returncode == 0, '%s:\n%s' % (path, run.stdout[-4000:])
    # teardown --check reported what it would remove, and removed nothing.
    assert pids == {name: main_pid(name, party) for name, party in (('sim-alice', 'alice'), ('sim-bob', 'bob'))}
    assert wait_until_healthy(attempts=1).returncode == 0


def test_a_killed_head_is_restarted_the_worker_rejoins_and_a_job_succeeds():
    before = main_pid('sim-alice', 'alice')
    # The bracket keeps pkill from matching the shell that runs it.
    host('sim-alice').check_output("pkill -KILL -f 'ray/core/src/ray/gcs/[g]cs_server'")
    proc = wait_until_healthy()
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert main_pid('sim-alice', 'alice') != before
    # The status runs asked the new head which nodes it sees by reading its node table, not as a
    # Ray driver: the head started no worker processes for them (a driver's job gets one a CPU,
    # "ray::IDLE", and they stay).
    assert host('sim-alice').run("pgrep -af '^ray::'").stdout == ''
    job = playbook('playbooks/simulate.yml', '--tags', 'job')
    assert job.returncode == 0, job.stdout[-4000:]
    assert "the job's result is the expected one" in job.stdout.replace("''", "'"), job.stdout[-3000:]


def test_a_node_stopped_or_disabled_by_hand_is_put_back_by_the_next_run_and_only_there():
    """The deploy run starts a node only where a start would do something (sf_ray_node's
    start_due): the worker stopped by hand is started, the head whose unit was disabled is
    enabled again without a restart, and the check run before says so and changes nothing."""
    host('sim-bob').check_output('systemctl stop sfdeploy-ray-bob')
    host('sim-alice').check_output('systemctl disable sfdeploy-ray-alice')
    head = main_pid('sim-alice', 'alice')
    try:
        for extra in (['--check'], []):
            proc = playbook('playbooks/simulate.yml', '--skip-tags', 'job', *extra)
            assert proc.returncode == 0, proc.stdout[-4000:]
            for role, name, other in (('heads', 'sim-alice', 'sim-bob'), ('workers', 'sim-bob', 'sim-alice')):
                starts = task_output(proc.stdout, 'Start the node, or restart it on its new configuration (%s)' % role)
                outcome = dict((h, o) for o, h in re.findall(r'^(\w+): \[([\w-]+)\]', starts, re.M))
                assert outcome == {name: 'changed', other: 'skipping'}, (extra, starts)
            if extra:
                assert host('sim-bob').run('systemctl is-active sfdeploy-ray-bob').stdout.strip() != 'active'
                assert host('sim-alice').run('systemctl is-enabled sfdeploy-ray-alice').stdout.strip() == 'disabled'
        assert host('sim-bob').run('systemctl is-active sfdeploy-ray-bob').stdout.strip() == 'active'
        assert host('sim-alice').run('systemctl is-enabled sfdeploy-ray-alice').stdout.strip() == 'enabled'
        assert main_pid('sim-alice', 'alice') == head, 'the head was restarted to enable its unit'
    finally:
        host('sim-alice').run('systemctl enable sfdeploy-ray-alice')
        host('sim-bob').run('systemctl start sfdeploy-ray-bob')
    assert wait_until_healthy().returncode == 0


def test_teardown_leaves_nothing_listening_and_nothing_installed():
    proc = playbook('playbooks/teardown.yml')
    assert proc.returncode == 0, proc.stdout[-4000:]
    for name, ports in RAY_PORTS.items():
        h = host(name)
        assert not set(ports) & listening(h), name
        assert h.run('pgrep -f "[r]ay/core/src/ray"').rc == 1, name
        assert not h.file('/var/lib/sfdeploy/ray/%s' % name).exists
        units = h.run('ls /etc/systemd/system | grep -E "^sfdeploy-(ray|firewall)"').stdout.split()
        assert units == [], (name, units)
        assert 'sfdeploy' not in h.check_output('nft list tables'), name
        assert h.file('/opt/sfdeploy/envs/%s/bin/python' % ('alice' if name == 'sim-alice' else 'bob')).exists  # kept
    # The site firewalls' rules are gone too (molecule.yml: firewalld on sim-alice, ufw on sim-bob).
    assert host('sim-alice').check_output('firewall-cmd --list-rich-rules').strip() == ''
    ufw = host('sim-bob').check_output('ufw status')
    assert 'Status: active' in ufw and '/tcp' not in ufw, ufw  # ufw itself stays, with no rule of ours
    again = playbook('playbooks/teardown.yml')
    assert again.returncode == 0 and set(changed_counts(again.stdout)) == {0}, again.stdout[-3000:]


@pytest.fixture
def torn_down():
    """The state the next test needs: no deployment (the teardown test leaves it so; run alone,
    the test tears down first)."""
    if host('sim-alice').file('/etc/systemd/system/sfdeploy-ray-alice.service').exists:
        proc = playbook('playbooks/teardown.yml')
        assert proc.returncode == 0, proc.stdout[-3000:]
    assert not host('sim-alice').file('/etc/systemd/system/sfdeploy-ray-alice.service').exists


def test_an_interrupted_converge_is_completed_by_the_next_run(torn_down):
    # From a torn-down deployment this run has the Ray nodes to set up. Kill it as the first
    # Ray service starts.
    args = playbook_args('playbooks/simulate.yml')
    run = subprocess.Popen(start_new_session=True, **args)
    seen = []
    for line in run.stdout:
        seen.append(line)
        if "Start the node, or restart it on its new configuration (heads)" in line:
            break
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert any("Start the node, or restart it on its new configuration (heads)" in line for line in seen), \
        ''.join(seen[-80:])
    proc = playbook('playbooks/simulate.yml')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "the job's result is the expected one" in proc.stdout.replace("''", "'"), proc.stdout[-3000:]
    assert wait_until_healthy(attempts=3).returncode == 0
