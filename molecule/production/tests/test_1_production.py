"""Verify the production test bed: a Ray cluster per party, the job on every party, a dead
peer stopping everyone, and forks=1."""
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from testbed import host, playbook, playbook_args  # noqa: E402

JOB_PLAYBOOK = 'molecule/resources/production-job.yml'
VENV = '/opt/sfdeploy/venv'
HEADS = {'alice': ('prod-alice-1', '10.211.2.11'), 'bob': ('prod-bob', '10.211.2.21'),
         'carol': ('prod-carol', '10.211.2.31')}
VALUES = {'alice': [11, 22, 33], 'bob': [40, 25], 'carol': [70]}  # molecule.yml job_args


def plaintext_answer():
    sums = {p: sum(v) for p, v in VALUES.items()}
    return {'total': sum(sums.values()), 'richest': max(sums, key=sums.get)}


def run_job(*extra):
    """Run production.yml's job part (the deployment is converged) against the test bed."""
    return playbook(JOB_PLAYBOOK, *extra)


@pytest.mark.parametrize('party,nodes', [('alice', 2), ('bob', 1), ('carol', 1)])
def test_each_party_cluster_holds_exactly_its_own_nodes(party, nodes):
    name, address = HEADS[party]
    status = host(name).check_output('%s/bin/ray status --address %s:20000' % (VENV, address))
    assert status.count(' node_') == nodes, status
    assert '/%.1f %s' % (16.0 * nodes, party) in status, status
    for other in set(HEADS) - {party}:
        assert ' %s\n' % other not in status + '\n', status


@pytest.mark.parametrize('party', sorted(HEADS))
def test_job_result_is_right_on_every_party(party):
    path = '/var/tmp/sfdeploy-jobs/sfjob-%s/result.json' % party
    result = json.loads(host(HEADS[party][0]).file(path).content_string)
    assert result['ok'], result
    assert result['result'] == plaintext_answer()


def test_a_dead_party_fails_the_job_naming_it_and_stops_the_others():
    bob = host('prod-bob')
    bob.check_output('sudo systemctl stop sfdeploy-ray-bob')
    try:
        proc = run_job('-e', 'job_watch_interval=5')
        assert proc.returncode != 0
        assert 'The job failed on bob' in proc.stdout, proc.stdout[-4000:]
        for party in ('alice', 'carol'):
            leftover = host(HEADS[party][0]).run("pgrep -af '[j]ob_runner[.]py'")
            assert leftover.rc == 1, '%s still runs %s' % (party, leftover.stdout)
    finally:
        bob.check_output('sudo systemctl start sfdeploy-ray-bob')


def test_each_institution_runs_only_its_party_from_a_federation_file(tmp_path):
    """Way 2: every institution knows the others only from the shared, public federation file."""
    federation = tmp_path / 'federation.yml'
    export = playbook(JOB_PLAYBOOK, '--tags', 'always', '-e', 'federation_export_file=%s' % federation)
    assert export.returncode == 0, export.stdout[-3000:]
    text = federation.read_text()
    assert 'rayfed_port' in text and 'PRIVATE' not in text
    runs = {party: subprocess.Popen(**playbook_args(JOB_PLAYBOOK, '--limit', party, '-e', 'job_name=split',
                                                '-e', 'federation_file=%s' % federation))
            for party in sorted(HEADS)}
    outputs = {party: proc.communicate(timeout=1200)[0] for party, proc in runs.items()}
    for party, proc in runs.items():
        assert proc.returncode == 0, '%s:\n%s' % (party, outputs[party][-4000:])
        assert "%s: the job's result is the expected one" % party in outputs[party].replace("''", "'")
