"""Verify the simulation test bed: one Ray cluster over two machines and a real job's answer."""
import json
import os
import re
import shlex
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from testbed import (a_second_run_changes_nothing, changed_counts, host, knock, knock_from_here, playbook,  # noqa: E402
                     task_output)

VENV = '/opt/sfdeploy/envs/alice'  # the head's party's environment
# molecule.yml's job_args: each party's private numbers.
VALUES = {'alice': [11, 22, 33], 'bob': [40, 25]}


def test_a_second_run_changes_nothing():
    proc = a_second_run_changes_nothing('playbooks/simulate.yml')
    # Every node runs current, enabled and loaded as written (sf_ray_node's start_due): no start
    # call anywhere, only the one call that compares the node's files.
    for role in ('heads', 'workers'):
        starts = task_output(proc.stdout, 'Start the node, or restart it on its new configuration (%s)' % role)
        assert re.findall(r'^(\w+): \[', starts, re.M) == ['skipping', 'skipping'], starts


@pytest.mark.parametrize('name,party', [('sim-alice', 'alice'), ('sim-bob', 'bob')])
def test_ray_service_active(name, party):
    h = host(name)
    service = h.service('sfdeploy-ray-%s' % party)
    assert service.is_running, h.run('journalctl -u sfdeploy-ray-%s --no-pager -n 50' % party).stdout
    assert service.is_enabled


def test_head_sees_every_node_with_its_party():
    h = host('sim-alice')
    address = h.check_output('hostname -I').split()[0]
    status = h.check_output('%s/bin/ray status --address %s:20000' % (VENV, address))
    assert '0.0/16.0 alice' in status, status
    assert '0.0/16.0 bob' in status, status
    assert status.count(' node_') == 2, status


@pytest.mark.parametrize('name,ports', [
    # head: GCS, node manager, object manager, client server; worker: node manager, object manager
    ('sim-alice', [20000, 20001, 20002, 20003]),
    ('sim-bob', [20001, 20002]),
])
def test_pinned_ports_listen(name, ports):
    listening = {line.rsplit(':', 1)[-1] for line in host(name).check_output("ss -Htln | awk '{print $4}'").split()}
    missing = [p for p in ports if str(p) not in listening]
    assert not missing, 'not listening: %s (listening: %s)' % (missing, sorted(listening))


def _covers(ranges, port):
    """Whether one of the (low, high or '') port ranges found in a firewall's listing holds port."""
    return any(int(low) <= port <= int(high or low) for low, high in ranges)


def _address(name):
    return host(name).check_output('hostname -I').split()[0]


def test_the_hosts_own_firewalld_and_ufw_let_in_the_cluster_and_keep_out_a_stranger():
    """sim-alice runs firewalld and sim-bob ufw (molecule.yml): the role found each and added its
    rules there, and they filter: the cluster's nodes reach each other's Ray ports, this machine
    (on the same network, in no party) does not."""
    alice, bob = _address('sim-alice'), _address('sim-bob')
    rich = host('sim-alice').check_output('firewall-cmd --list-rich-rules')
    assert _covers(re.findall(r'source address="%s" port port="(\d+)(?:-(\d+))?"' % re.escape(bob), rich), 20000), rich
    ufw = host('sim-bob').check_output('ufw status')
    assert _covers(re.findall(r'(?m)^(\d+)(?::(\d+))?/tcp\s+ALLOW(?: IN)?\s+%s\s' % re.escape(alice), ufw), 20001), ufw
    assert _covers(re.findall(r'(?m)^(\d+)(?::(\d+))?/tcp\s+DENY(?: IN)?\s+Anywhere', ufw), 20001), ufw
    # Positive controls: each node reaches the other's ports (they listen: test_pinned_ports_listen).
    assert knock('sim-bob', ['%s:20000' % alice]) == {'%s:20000' % alice: 'open'}
    assert knock('sim-alice', ['%s:20001' % bob]) == {'%s:20001' % bob: 'open'}
    stranger = knock_from_here(['%s:20000' % alice, '%s:20001' % bob])
    assert 'open' not in stranger.values(), stranger


def test_job_result_matches_plaintext():
    result = json.loads(host('sim-alice').file('/var/tmp/sfdeploy-jobs/sfjob/result.json').content_string)
    assert result['ok'], result
    sums = {p: sum(v) for p, v in VALUES.items()}
    assert result['result'] == {'total': sum(sums.values()), 'richest': max(sums, key=sums.get)}


# molecule.yml: each party's PSI input path (job_party_args) on its own host, and their ids.
PSI_INPUT = {'alice': ('sim-alice', '/srv/alice-data/ids.csv'), 'bob': ('sim-bob', '/var/lib/bob-data/customers.csv')}
PSI_IDS = {'alice': ['k%03d' % i for i in range(0, 40, 2)], 'bob': ['k%03d' % i for i in range(0, 40, 3)]}


def test_psi_on_a_named_spu_device_over_files_on_each_party_host():
    common = sorted(set(PSI_IDS['alice']) & set(PSI_IDS['bob']))
    for party, (name, path) in PSI_INPUT.items():
        rows = 'id,score\n' + ''.join('%s,%d\n' % (k, i) for i, k in enumerate(PSI_IDS[party]))
        host(name).check_output('mkdir -p %s && printf %%s %s > %s' % (os.path.dirname(path), shlex.quote(rows), path))
    expected = {'device': 'psi', 'parties': ['alice', 'bob'], 'intersection': len(common),
                'rows': {'alice': len(PSI_IDS['alice']), 'bob': len(PSI_IDS['bob'])}}
    psi = ('playbooks/simulate.yml', '--tags', 'job', '-e', 'job_src=examples/psi.py', '-e', 'job_name=psi',
           '-e', json.dumps({'job_expected_result': expected}))
    proc = playbook(*psi)
    assert proc.returncode == 0, proc.stdout[-4000:]
    # A job is a run, not a state: on the converged bed it changes nothing (the second run left it out).
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-4000:]
    result = json.loads(host('sim-alice').file('/var/tmp/sfdeploy-jobs/psi/result.json').content_string)
    assert result['ok'] and result['result'] == expected, result
    # Each party's SPU runtime wrote its intersection next to its input, on its own host.
    for party, (name, path) in PSI_INPUT.items():
        lines = host(name).check_output('cat %s.psi.csv' % path).splitlines()
        assert sorted(line.split(',')[0].strip('"') for line in lines[1:]) == common, (party, lines)


def test_each_nodes_processes_work_in_its_own_directory():
    """ray-node.sh starts the node in its own directory, so what its processes write to their
    working directory stays with the node: SPU's runtime log (the jobs above ran SPU on both
    hosts) is in the node's directory, not at the root of the machine."""
    for name in ('sim-alice', 'sim-bob'):
        h = host(name)
        node_dir = '/var/lib/sfdeploy/ray/%s' % name
        pids = h.check_output("pgrep -f '[r]aylet/raylet|[g]cs_server|[d]efault_worker'").split()
        # A process that ended meanwhile has no cwd ('').
        cwds = {h.check_output('readlink /proc/%s/cwd || true' % pid) for pid in pids} - {''}
        assert cwds == {node_dir}, (name, cwds)
        assert h.file(node_dir + '/spu.log').exists, name
        assert not h.file('/spu.log').exists, name


def test_a_named_heu_device_sums_under_the_key_holder_key():
    """examples/heu_sum.py: bob (evaluator) adds alice's encrypted numbers to his own; alice decrypts."""
    expected = {'device': 'heu', 'sk_keeper': 'alice', 'evaluator': 'bob', 'sum': [11.5, 22.0, 33.25]}
    proc = playbook('playbooks/simulate.yml', '--tags', 'job', '-e', 'job_src=examples/heu_sum.py', '-e', 'job_name=heu',
                    '-e', json.dumps({'job_expected_result': expected}))
    assert proc.returncode == 0, proc.stdout[-4000:]
    result = json.loads(host('sim-alice').file('/var/tmp/sfdeploy-jobs/heu/result.json').content_string)
    assert result['ok'] and result['result'] == expected, result


def test_a_vertical_model_trains_in_spu_on_columns_split_between_the_parties():
    """examples/vertical_lr.py on the named SPU device psi (alice: two features and the label; bob:
    three features): SS-SGD logistic regression, scored by the label holder."""
    proc = playbook('playbooks/simulate.yml', '--tags', 'job', '-e', 'job_src=examples/vertical_lr.py',
                    '-e', 'job_name=vlr', '-e', json.dumps({'job_expected_result': None, 'job_args': {'lr_spu': 'psi'}}))
    assert proc.returncode == 0, proc.stdout[-4000:]
    result = json.loads(host('sim-alice').file('/var/tmp/sfdeploy-jobs/vlr/result.json').content_string)
    assert result['ok'], result
    assert result['result']['features'] == {'alice': 2, 'bob': 3} and result['result']['rows'] == 200, result
    # A model that learned nothing scores about 0.5 on this data.
    assert result['result']['accuracy'] >= 0.9, result
