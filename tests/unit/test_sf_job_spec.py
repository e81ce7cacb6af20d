"""sf_job's spec for a production party behind SPU's TLS front, and the error when the host
lacks stunnel (raised while the spec is built, before any process starts)."""
import pytest

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_config
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.topology import build_topology
from ansible_collections.sfdeploy.secretflow.plugins.modules import sf_job

TLS = {'cert': '/t/node.crt', 'key': '/t/node.key', 'ca_cert': '/t/peers-ca.pem'}


def _params(**overrides):
    topology = build_topology([dict(host='a1', party='alice', address='10.0.0.1'),
                               dict(host='b1', party='bob', address='10.0.0.2')], 'production')
    p = dict((name, spec.get('default')) for name, spec in sf_job.argument_spec().items())
    p.update(mode='production', topology=topology, self_party='bob', tls_config=TLS, spu_tls_front=True)
    p.update(overrides)
    return p


def test_the_front_holds_the_spu_port_and_spu_listens_behind_it(monkeypatch):
    monkeypatch.setattr(sf_job.shutil, 'which', lambda name, path=None: '/usr/bin/' + name)
    spec = sf_job.build_spec(_params(), '/job.py')
    spu, front = spec['spu'], spec['tls_front']
    assert front['stunnel'] == '/usr/bin/stunnel4'
    assert front['services'] == [{'name': 'spu', 'accept': '0.0.0.0:20009', 'connect': '127.0.0.1:20012'}]
    assert spu['cluster_def']['nodes'][1]['listen_address'] == '127.0.0.1:20012'


def test_without_stunnel_the_job_is_refused_naming_the_party(monkeypatch):
    monkeypatch.setattr(sf_job.shutil, 'which', lambda name, path=None: None)
    with pytest.raises(job_config.JobConfigError, match=r'^bob: spu_tls_front needs stunnel, which is not installed'):
        sf_job.build_spec(_params(), '/job.py')
    # Check mode previews the spec (the tls role that installs stunnel may not have run yet).
    assert sf_job.build_spec(_params(), '/job.py', check_mode=True)['tls_front']['stunnel'] == 'stunnel4'
    # Without TLS there is no front, so no stunnel is needed.
    assert 'tls_front' not in sf_job.build_spec(_params(tls_config=None), '/job.py')


def _encoded(value):
    import base64
    import json
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_a_production_party_keeps_only_its_own_private_arguments(monkeypatch):
    monkeypatch.setattr(sf_job.shutil, 'which', lambda name, path=None: '/usr/bin/' + name)
    both = {'alice': {'path': '/data/a.csv'}, 'bob': {'path': '/data/b.csv'}}
    spec = sf_job.build_spec(_params(party_args=_encoded(both)), '/job.py')
    assert spec['party_args'] == {'bob': {'path': '/data/b.csv'}}
    # Simulation's one driver holds every party's.
    spec = sf_job.build_spec(_params(mode='simulation', party_args=_encoded(both), tls_config=None), '/job.py')
    assert spec['party_args'] == both
    # What a check-mode task shows: party names only.
    assert sf_job._shown(spec)['party_args'] == ['alice', 'bob']
    assert sf_job.build_spec(_params(), '/job.py')['party_args'] == {}


def test_private_arguments_that_are_not_encoded_are_refused_without_showing_them():
    with pytest.raises(job_config.JobConfigError, match=r'^party_args is not base64-encoded JSON: ') as err:
        sf_job.build_spec(_params(party_args='{"bob": "secret-value"}'), '/job.py')
    assert 'secret-value' not in str(err.value)


def test_named_spu_devices_reach_every_driver_with_their_own_ports_behind_the_front(monkeypatch):
    monkeypatch.setattr(sf_job.shutil, 'which', lambda name, path=None: '/usr/bin/' + name)
    topology = build_topology([dict(host='a1', party='alice', address='10.0.0.1'),
                               dict(host='b1', party='bob', address='10.0.0.2'),
                               dict(host='c1', party='carol', address='10.0.0.3')], 'production',
                              spu_devices={'psi': {'parties': ['bob', 'carol'], 'link_desc': {'recv_timeout_ms': 5}}})
    specs = dict((party, sf_job.build_spec(_params(topology=topology, self_party=party,
                                                   spu_link_desc={'connect_retry_times': 60}), '/job.py'))
                 for party in ('alice', 'bob'))
    # alice is not in the device but describes it like every party (RayFed needs the same calls).
    psi = specs['alice']['spus']['psi']
    assert psi['parties'] == ['bob', 'carol']
    assert [(n['party'], n['address']) for n in psi['cluster_def']['nodes']] == [
        ('bob', '10.0.0.2:20020'), ('carol', '10.0.0.3:20020')]
    assert psi['cluster_def']['runtime_config'] == {'protocol': 'SEMI2K', 'field': 'FM64'}
    # The device's link options win over the job's; the job's others stay.
    assert psi['link_desc']['recv_timeout_ms'] == 5 and psi['link_desc']['connect_retry_times'] == 60
    # Each party's front holds the ports of its own devices only.
    assert [s['name'] for s in specs['alice']['tls_front']['services']] == ['spu']
    assert specs['bob']['tls_front']['services'][1] == {'name': 'spu.psi', 'accept': '0.0.0.0:20020',
                                                        'connect': '127.0.0.1:20021'}
    assert specs['bob']['spus']['psi']['cluster_def']['nodes'][0]['listen_address'] == '127.0.0.1:20021'


def test_a_named_heu_device_reaches_the_job_as_secretflow_config():
    topology = build_topology([dict(host='a1', party='alice', address='10.0.0.1'),
                               dict(host='b1', party='bob', address='10.0.0.2')], 'simulation',
                              heu_devices={'heu': {'sk_keeper': 'alice', 'evaluators': ['bob'], 'key_size': 1024}})
    spec = sf_job.build_spec(_params(mode='simulation', topology=topology, tls_config=None), '/job.py')
    assert spec['heus'] == {'heu': {'field': 'FM128', 'config': {
        'sk_keeper': {'party': 'alice'}, 'evaluators': [{'party': 'bob'}], 'mode': 'PHEU',
        'he_parameters': {'schema': 'paillier', 'key_pair': {'generate': {'bit_size': 1024}}}}}}
