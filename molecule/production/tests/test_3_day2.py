"""Day 2 on the production test bed, in order: status, a party whose host is down before the
job starts, and an upgrade one party at a time. Runs after test_1_production.py."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from testbed import changed_counts, host, playbook, status  # noqa: E402

HEADS = {'alice': 'prod-alice-1', 'bob': 'prod-bob', 'carol': 'prod-carol'}
NODES = [('prod-alice-1', 'alice'), ('prod-alice-2', 'alice'), ('prod-bob', 'bob'), ('prod-carol', 'carol')]
VENV = '/opt/sfdeploy/venv'


def rows(out):
    return {line.split()[1]: line.split() for line in out.splitlines()
            if line.split()[:1] and line.split()[0] in HEADS and len(line.split()) > 6}


def test_status_shows_each_party_its_cluster_and_its_peers():
    proc = status('-e', 'status_fail_unhealthy=true')
    assert proc.returncode == 0, proc.stdout[-4000:]
    table = rows(proc.stdout)
    assert table['prod-alice-1'][2:6] == ['head', 'active', '4/4', '2/2'], table
    assert table['prod-alice-2'][2:5] == ['worker', 'active', '2/2'], table
    for party, name in HEADS.items():
        assert 300 < int(table[name][6]) <= 365, table[name]  # days until the certificate expires
        assert table[name][7] == 'idle/idle', table[name]
        peers = ' '.join(table[name][8:])
        assert peers == ' '.join('%s ok' % p for p in sorted(HEADS) if p != party), table[name]
        assert '%s: healthy' % party in proc.stdout


def test_check_diff_runs_the_production_playbooks_and_changes_nothing():
    for path in ('playbooks/production.yml', 'playbooks/teardown.yml'):
        proc = playbook(path, '--check', '--diff')
        assert proc.returncode == 0, '%s:\n%s' % (path, proc.stdout[-4000:])
    assert status('-e', 'status_fail_unhealthy=true').returncode == 0


def test_a_party_whose_host_is_down_stops_the_run_before_any_job_starts(tmp_path):
    # carol's host will not answer Ansible either: alice and bob run with carol's public
    # endpoint from a federation file, as institutions do.
    federation = tmp_path / 'federation.yml'
    export = playbook('molecule/resources/production-job.yml', '--tags', 'always',
                      '-e', 'federation_export_file=%s' % federation)
    assert export.returncode == 0, export.stdout[-3000:]
    subprocess.run(['podman', 'pause', 'prod-carol'], check=True)
    try:
        proc = playbook('molecule/resources/production-job.yml', '--limit', 'alice,bob',
                        '-e', 'federation_file=%s' % federation, '-e', 'job_reach_timeout=10')
    finally:
        subprocess.run(['podman', 'unpause', 'prod-carol'], check=True)
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0
    assert 'alice cannot reach carol at 10.211.2.31:20008 (rayfed port)' in out, proc.stdout[-4000:]
    assert 'bob cannot reach carol at 10.211.2.31:20009 (spu port)' in out, proc.stdout[-4000:]
    assert 'Start the job on every party' not in proc.stdout
    for name in ('prod-alice-1', 'prod-bob'):
        assert host(name).run("pgrep -af '[j]ob_runner[.]py'").rc == 1


def _restarted_at(name, party):
    return int(host(name).check_output('systemctl show -p ActiveEnterTimestampMonotonic --value sfdeploy-ray-%s'
                                       % party))


def _version(name):
    return host(name).check_output("%s/bin/python -c 'import importlib.metadata as m; print(m.version(\"secretflow\"))'"
                                   % VENV)


def test_an_upgrade_goes_one_party_at_a_time_and_the_job_runs_after():
    before = {name: _restarted_at(name, party) for name, party in NODES}
    packages = '["secretflow==1.11.0b0", "ray==2.9.3", "secretflow-rayfed==0.2.1a2", "spu==0.9.3b0"]'
    proc = playbook('playbooks/upgrade.yml', '-e', '{"secretflow_packages": %s}' % packages)
    assert proc.returncode == 0, proc.stdout[-4000:]
    for party in HEADS:
        assert "%s: the job's result is the expected one" % party in proc.stdout.replace("''", "'")
    after = {name: _restarted_at(name, party) for name, party in NODES}
    for name, _ in NODES:
        assert _version(name) == '1.11.0b0', name
        assert after[name] > before[name], '%s was not restarted' % name
    # alice's two nodes, then bob, then carol: each party restarts after the previous one is done.
    assert max(after['prod-alice-1'], after['prod-alice-2']) < after['prod-bob'] < after['prod-carol']
    again = playbook('playbooks/upgrade.yml', '--skip-tags', 'job', '-e', '{"secretflow_packages": %s}' % packages)
    assert again.returncode == 0 and set(changed_counts(again.stdout)) == {0}, again.stdout[-4000:]
    assert {name: _restarted_at(name, party) for name, party in NODES} == after, 'an unchanged upgrade restarted Ray'
