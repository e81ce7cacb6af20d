"""Verify ray_runtime container on two machines (one party each, production converged by molecule):
the nodes run in containers on their host's network with no SecretFlow on the host, the job runs
in the heads' containers, status reads them, bad runtime input stops the run in the preflight, an
upgrade to another image replaces the containers one party at a time, simulation mode runs in
containers too, and teardown leaves no container (and, on request, no image). In file order."""
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get('MOLECULE_PROJECT_DIRECTORY', os.getcwd()), 'molecule', 'resources'))
from testbed import (a_second_run_changes_nothing, changed_counts, host, listening, playbook, status,  # noqa: E402
                     task_output)

HOSTS = {'ctr-alice': 'alice', 'ctr-bob': 'bob'}
ADDRESS = {'ctr-alice': '10.211.5.11', 'ctr-bob': '10.211.5.12'}
IMAGE = 'localhost/sfdeploy-secretflow:testbed'
EXPECTED = {'total': 136, 'richest': 'bob'}
JOB_PLAYBOOK = 'molecule/resources/production-job.yml'


def containers(name):
    """The machine's containers: name -> (image, state: Up, Exited...)."""
    out = host(name).check_output("sudo podman ps -a --format '{{.Names}} {{.Image}} {{.State}}'")
    return {line.split()[0]: tuple(line.split()[1:3]) for line in out.splitlines() if line.strip()}


def results(out):
    """Each party's result, from the job summary's table."""
    found = re.findall(r'^\s*(\w+)\s+ok\s+[\d.]+s\s+(\{.*\})\s*$', out, re.M)
    return {party: json.loads(result) for party, result in found}


def test_a_second_run_changes_nothing():
    a_second_run_changes_nothing('playbooks/production.yml')


@pytest.mark.parametrize('name', sorted(HOSTS))
def test_each_node_runs_in_its_container_on_the_hosts_network_without_secretflow_on_the_host(name):
    h = host(name)
    party = HOSTS[name]
    assert containers(name) == {'sfdeploy-ray-%s' % name: (IMAGE, 'Up')}
    assert h.service('sfdeploy-ray-%s' % party).is_running
    # The host's network: the head's GCS port listens on the host itself (no port mapping).
    assert 20000 in listening(h)
    gcs = h.check_output("ss -Htlnp 'sport = :20000'")
    assert 'gcs_server' in gcs, gcs
    # Nothing of SecretFlow on the host: no environment, no ray for the host's Python.
    assert not h.file('/opt/sfdeploy/envs').exists
    assert h.run('python3 -c "import ray"').rc != 0
    # The raylet runs in the container's file system (another mount namespace than the host's
    # init), on the host's network (the same network namespace).
    pid = h.check_output('pgrep -f raylet | head -1')
    ns = {kind: h.check_output('sudo readlink /proc/%s/ns/%s /proc/1/ns/%s' % (pid, kind, kind)).split()
          for kind in ('mnt', 'net')}
    assert ns['mnt'][0] != ns['mnt'][1] and ns['net'][0] == ns['net'][1], ns


def test_the_job_runs_in_the_heads_containers_and_reports_each_partys_result():
    proc = playbook(JOB_PLAYBOOK)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert results(proc.stdout) == {'alice': EXPECTED, 'bob': EXPECTED}, proc.stdout[-3000:]
    # A job is a run, not a state: on the converged hosts it changes nothing (the second run left it out).
    assert set(changed_counts(proc.stdout)) == {0}, proc.stdout[-4000:]
    # The driver (which only the image can run: the host has no SecretFlow, see above) wrote its
    # result and log into the job directory, mounted at its own path.
    for name, party in HOSTS.items():
        result = json.loads(host(name).check_output('sudo cat /var/tmp/sfdeploy-jobs/sfjob-%s/result.json' % party))
        assert result['ok'] and result['result'] == EXPECTED, result
        assert 'Shutdowned rayfed' in host(name).check_output('sudo cat /var/tmp/sfdeploy-jobs/sfjob-%s/job.log' % party)
    assert re.search(r'launch skew \(latest start - earliest start\): [\d.]+ s', proc.stdout), \
        task_output(proc.stdout, "Report each party's result")


def test_status_reads_the_nodes_in_their_containers():
    proc = status('-e', 'status_fail_unhealthy=true')
    assert proc.returncode == 0, proc.stdout[-4000:]
    for party in HOSTS.values():
        assert '%s: healthy' % party in proc.stdout, proc.stdout[-3000:]


def test_check_mode_on_the_deployed_containers_changes_nothing():
    a_second_run_changes_nothing('playbooks/production.yml', '--check')


@pytest.mark.parametrize('extra, said', [
    # An image no host has, no archive: the registry is asked, and has it not.
    (['-e', 'ray_container_image=localhost/sfdeploy-no-such-image:1', '-e', 'ray_container_image_archive='],
     r"(ctr-alice|ctr-bob): the image localhost/sfdeploy-no-such-image:1 \(ray_container_image\) is not on this host "
     r"and cannot be obtained: no registry has it"),
    (['-e', 'ray_container_image=localhost/sfdeploy-no-such-image:1', '-e', 'ray_container_image_archive=',
      '-e', 'ray_container_image_pull=never'],
     r"(ctr-alice|ctr-bob): the image localhost/sfdeploy-no-such-image:1 .* ray_container_image_pull is never"),
    (['-e', 'ray_container_image_archive=/nonexistent/image.tar'],
     r"(ctr-alice|ctr-bob): ray_container_image_archive /nonexistent/image.tar is not a file on the controller"),
    (['-e', 'ray_container_engine=docker'],
     r"(ctr-alice|ctr-bob): ray_runtime is container, but no container engine \(docker\) is installed"),
])
def test_bad_runtime_input_stops_the_run_in_the_preflight_naming_the_host(extra, said):
    before = {name: containers(name) for name in HOSTS}
    proc = playbook('playbooks/production.yml', *extra)
    out = ' '.join(proc.stdout.split())
    assert proc.returncode != 0, out[-3000:]
    assert re.search(said, out), out[-3000:]
    assert 'Deploy SecretFlow for production' not in proc.stdout, out[-3000:]
    assert set(changed_counts(proc.stdout)) == {0}, out[-2000:]
    assert {name: containers(name) for name in HOSTS} == before


def _restarted_at(name):
    return int(host(name).check_output('systemctl show -p ActiveEnterTimestampMonotonic --value sfdeploy-ray-%s'
                                       % HOSTS[name]))


def _restart_order(before):
    """The machines whose node restarted since ``before``, in the order they restarted."""
    after = {name: _restarted_at(name) for name in HOSTS}
    return sorted((n for n in HOSTS if after[n] > before[n]), key=after.get), after


def test_an_upgrade_to_another_image_replaces_the_containers_one_party_at_a_time():
    for name in HOSTS:
        host(name).check_output('sudo podman tag %s localhost/sfdeploy-secretflow:next' % IMAGE)
    before = {name: _restarted_at(name) for name in HOSTS}
    proc = playbook('playbooks/upgrade.yml', '-e', 'ray_container_image=localhost/sfdeploy-secretflow:next')
    assert proc.returncode == 0, proc.stdout[-4000:]
    for name in HOSTS:
        assert containers(name) == {'sfdeploy-ray-%s' % name: ('localhost/sfdeploy-secretflow:next', 'Up')}
    assert results(proc.stdout) == {'alice': EXPECTED, 'bob': EXPECTED}, proc.stdout[-3000:]
    # One party after the other, in the inventory's order: alice's turn ends before bob's node
    # restarts (machines' clocks are one: the test bed's containers share this kernel).
    order, after = _restart_order(before)
    assert order == ['ctr-alice', 'ctr-bob'], (before, after)
    a_second_run_changes_nothing('playbooks/upgrade.yml', '-e', 'ray_container_image=localhost/sfdeploy-secretflow:next')
    assert {name: _restarted_at(name) for name in HOSTS} == after, 'an unchanged upgrade restarted a node'


def test_simulation_mode_runs_in_containers_and_a_second_run_changes_nothing():
    down = playbook('playbooks/teardown.yml')
    assert down.returncode == 0, down.stdout[-3000:]
    assert containers('ctr-alice') == {} and containers('ctr-bob') == {}
    proc = playbook('playbooks/simulate.yml')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "the job's result is the expected one" in proc.stdout.replace("''", "'"), proc.stdout[-3000:]
    # One cluster across both machines: bob's container is a worker of alice's head.
    assert '--address=10.211.5.11:' in host('ctr-bob').check_output('sudo cat /var/lib/sfdeploy/ray/ctr-bob/ray-node.sh')
    a_second_run_changes_nothing('playbooks/simulate.yml')


def test_teardown_leaves_no_container_and_on_request_no_image():
    remove = ['-e', 'ray_teardown_remove_image=true', '-e', 'ray_container_image=localhost/sfdeploy-secretflow:next']
    proc = playbook('playbooks/teardown.yml', *remove)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for name in HOSTS:
        h = host(name)
        assert containers(name) == {}
        images = h.check_output("sudo podman images --format '{{.Repository}}:{{.Tag}}'")
        assert 'localhost/sfdeploy-secretflow:next' not in images, images
        assert not h.file('/etc/systemd/system/sfdeploy-ray-%s.service' % HOSTS[name]).exists
    a_second_run_changes_nothing('playbooks/teardown.yml', *remove)


BRIDGE_INVENTORY = {
    'secretflow': {
        'children': {'carol': {'hosts': {'br-carol': {'federation_address': '192.168.77.10'}}},
                     'dave': {'hosts': {'br-dave': {'federation_address': '192.168.77.20'}}}},
        'vars': {
            # One machine (ctr-alice) carries both parties, each in a container of its own with a
            # fixed address on the bridge sfnet: the seed guide's single-machine Docker case.
            'ansible_host': ADDRESS['ctr-alice'], 'ansible_user': 'deploy', 'ansible_become': True,
            'ansible_ssh_private_key_file': '/var/tmp/sfdeploy-testbed/id_ed25519',
            'ansible_ssh_common_args': '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null',
            'ansible_python_interpreter': '/usr/bin/python3',
            'ray_runtime': 'container', 'ray_container_image': IMAGE,
            'ray_container_image_archive': '/var/cache/sfdeploy-testbed/images/sfdeploy-secretflow.tar.zst',
            'ray_container_network': 'sfnet', 'ray_container_subnet': '192.168.77.0/24',
            'firewall_backend': 'none', 'ray_num_cpus': 2, 'ray_object_store_memory': 300000000,
            'job_args': {'values': {'carol': [5, 6], 'dave': [1, 2]}},
            'job_expected_result': {'total': 14, 'richest': 'carol'},
        },
    },
}


def test_bridge_networking_runs_two_parties_of_one_machine_in_containers_with_their_own_addresses(tmp_path):
    inventory = tmp_path / 'bridge.yml'
    inventory.write_text(json.dumps(BRIDGE_INVENTORY))

    def bridge_playbook(path, *extra):  # this inventory alone, not the scenario's
        return playbook(path, *extra, inventory=str(inventory))

    # The host's firewall would not see the traffic between the containers: refused by name.
    refused = bridge_playbook('playbooks/production.yml', '-e', 'firewall_backend=auto')
    out = ' '.join(refused.stdout.split())
    assert refused.returncode != 0 and re.search(
        r"br-(carol|dave): the host's firewall does not filter traffic between the containers of "
        r"ray_container_network sfnet \(a bridge\); set firewall_backend: none", out), out[-3000:]
    assert set(changed_counts(refused.stdout)) == {0}, out[-2000:]
    proc = bridge_playbook('playbooks/production.yml')
    try:
        assert proc.returncode == 0, proc.stdout[-4000:]
        expected = {'total': 14, 'richest': 'carol'}
        assert results(proc.stdout) == {'carol': expected, 'dave': expected}, proc.stdout[-3000:]
        h = host('ctr-alice')
        for name, address in (('br-carol', '192.168.77.10'), ('br-dave', '192.168.77.20')):
            ip = h.check_output("sudo podman inspect --format '{{.NetworkSettings.Networks.sfnet.IPAddress}}' "
                                "sfdeploy-ray-%s" % name)
            assert ip == address
        # Nothing of theirs listens on the machine's own address: their ports are the containers'.
        assert not {20000, 21000} & listening(h)
        a_second_run_changes_nothing('playbooks/production.yml', inventory=str(inventory))
    finally:
        down = bridge_playbook('playbooks/teardown.yml')
    assert down.returncode == 0, down.stdout[-3000:]
    assert containers('ctr-alice') == {}
