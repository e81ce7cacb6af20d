"""The status report (module_utils/status.py): its table and its verdicts, from what the roles
read on each host."""
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.status import report

HEAD = {'party': 'alice', 'ray_head': True, 'ray_cluster_nodes': ['a1', 'a2']}
WORKER = {'party': 'alice', 'ray_head': False, 'ray_cluster_nodes': ['a1', 'a2']}
BOB = {'party': 'bob', 'ray_head': True, 'ray_cluster_nodes': ['b1']}


def _ray(**kw):
    base = {'service': 'active', 'current': True, 'listening': [1, 2, 3, 4], 'closed': [], 'missing': []}
    base.update(kw)
    return base


def _reach(ok=True, state='probe'):
    return {'listening': {'rayfed': {'state': state}, 'spu': {'state': state}},
            'dialled': [{'party': 'bob', 'ok': True}, {'party': 'bob', 'ok': ok}], 'failures': [] if ok else
            ['alice cannot reach bob at 10.0.0.2:20009 (spu port): timed out']}


def _healthy():
    return {
        'a1': {'node': HEAD, 'ray': _ray(), 'firewall': {'backend': 'nftables', 'problems': []},
               'tls': {'days_left': 364, 'renew_before': 30}, 'reach': _reach()},
        'a2': {'node': WORKER, 'ray': _ray(listening=[1, 2]), 'firewall': {'backend': 'nftables', 'problems': []}},
        'b1': {'node': BOB, 'ray': _ray(), 'firewall': {'backend': 'nftables', 'problems': []},
               'tls': {'days_left': 364, 'renew_before': 30}},
    }


def test_a_healthy_federation():
    out = report(_healthy(), ['alice', 'bob'])
    assert out['problems'] == [] and out['unhealthy'] == []
    assert out['summary'] == 'alice: healthy\nbob: healthy'
    rows = {line.split()[1]: line.split() for line in out['table'].splitlines()[1:]}
    assert rows['a1'] == ['alice', 'a1', 'head', 'active', '4/4', '2/2', 'ok', '364', 'idle/idle', 'bob', 'ok']
    assert rows['a2'] == ['alice', 'a2', 'worker', 'active', '2/2', '-', 'ok', '-', '-', '-']
    assert rows['b1'][6:] == ['ok', '364', '-', '-']
    assert out['table'].splitlines()[0].split()[:3] == ['party', 'host', 'role']


def test_each_problem_makes_its_party_unhealthy_and_is_named():
    hosts = _healthy()
    hosts['a1']['ray'] = _ray(current=False, missing=['a2'])
    hosts['a1']['tls'] = {'days_left': 10, 'renew_before': 30}
    hosts['a1']['reach'] = _reach(ok=False, state='busy')
    hosts['a2']['ray'] = _ray(service='failed', closed=[20001])
    hosts['a2']['firewall'] = {'backend': 'nftables', 'problems': ['its nftables table sfdeploy_a2 is not loaded']}
    out = report(hosts, ['alice', 'bob'])
    assert out['unhealthy'] == ['alice']
    assert out['problems'] == [
        'alice: a1: runs another configuration than the last deployment wrote (re-run the deploy playbook)',
        'alice: a1: the Ray head does not see a2',
        'alice: a1: its TLS certificate expires in 10 days (the deploy playbook renews it)',
        'alice: alice cannot reach bob at 10.0.0.2:20009 (spu port): timed out',
        'alice: a2: the Ray service is failed',
        'alice: a2: firewall: its nftables table sfdeploy_a2 is not loaded',
    ]
    assert out['summary'].startswith('alice: UNHEALTHY\n  - a1: runs another configuration')
    assert out['summary'].endswith('bob: healthy')
    rows = {line.split()[1]: line.split() for line in out['table'].splitlines()[1:]}
    assert rows['a1'][3:12] == ['active', '(old)', '4/4', '1/2', 'ok', '10', 'job/job', 'bob', 'FAIL']
    assert rows['a2'][3:7] == ['failed', '4/5', '-', 'MISSING']


def test_closed_ports_and_a_missing_certificate():
    hosts = _healthy()
    hosts['b1']['ray'] = _ray(closed=[20000, 20001], listening=[1, 2])
    hosts['b1']['tls'] = {'days_left': -1, 'renew_before': 30}
    out = report(hosts, ['bob'])
    assert out['problems'] == ['bob: b1: Ray ports not listening: 20000, 20001',
                               'bob: b1: has no TLS certificate (run the deploy playbook)']
    assert out['summary'].splitlines() == ['bob: UNHEALTHY', '  - b1: Ray ports not listening: 20000, 20001',
                                           '  - b1: has no TLS certificate (run the deploy playbook)']
    row = [line for line in out['table'].splitlines() if ' b1 ' in line][0].split()
    assert row[4] == '2/4' and row[7] == 'none'


def test_a_host_without_firewall_tls_or_reach_facts():
    hosts = {'h': {'node': {'party': 'carol', 'ray_head': True, 'ray_cluster_nodes': ['h']}, 'ray': _ray()}}
    out = report(hosts, ['carol'])
    assert out['problems'] == []
    assert out['table'].splitlines()[1].split()[6:] == ['-', '-', '-', '-']


def test_a_named_spu_device_port_is_shown_after_rayfed_and_spu():
    hosts = _healthy()
    hosts['a1']['reach']['listening']['spu.psi'] = {'state': 'busy'}
    rows = {line.split()[1]: line.split() for line in report(hosts, ['alice', 'bob'])['table'].splitlines()[1:]}
    assert rows['a1'][8] == 'idle/idle,psi=job'
