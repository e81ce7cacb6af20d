"""What the job hands to SecretFlow: keys by version, cluster_config, SPU cluster_def."""
import pytest

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_config
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.topology import build_topology


@pytest.fixture
def topology():
    return build_topology([dict(host='a1', party='alice', address='10.0.0.1'),
                           dict(host='b1', party='bob', address='10.0.0.2', listen_host='10.0.0.2')], 'production')


@pytest.mark.parametrize('version,key', [('1.11.0b1', 'listen_address'), ('0.7.18', 'listen_addr'), (None, 'listen_address')])
def test_spu_listen_key_follows_the_version(version, key):
    assert job_config.spu_listen_key(version) == key


def test_spu_cluster_def_uses_each_party_heads_spu_port(topology):
    cdef = job_config.spu_cluster_def(topology, secretflow_version='1.11.0b1')
    assert cdef['nodes'] == [
        {'party': 'alice', 'address': '10.0.0.1:20009', 'listen_address': '0.0.0.0:20009'},
        {'party': 'bob', 'address': '10.0.0.2:20009', 'listen_address': '10.0.0.2:20009'},
    ]
    assert cdef['runtime_config'] == {'protocol': 'SEMI2K', 'field': 'FM128'}


def test_spu_tls_options_are_mutual(topology):
    tls = {'cert': '/c.pem', 'key': '/k.pem', 'ca_cert': '/ca.pem'}
    node = job_config.spu_cluster_def(topology, tls={'alice': tls})['nodes'][0]
    expected = {'certificate_path': '/c.pem', 'private_key_path': '/k.pem', 'ca_file_path': '/ca.pem', 'verify_depth': 1}
    assert node['tls_opts'] == {'server_ssl_opts': expected, 'client_ssl_opts': expected}


def test_behind_the_tls_front_spu_listens_on_the_loopback(topology):
    tls = {'cert': '/c.pem', 'key': '/k.pem', 'ca_cert': '/ca.pem'}
    nodes = job_config.spu_cluster_def(topology, tls={'alice': tls, 'bob': tls}, tls_front=True)['nodes']
    # Peers dial the front on the SPU port; SPU itself binds the loopback port behind it.
    assert [(n['address'], n['listen_address']) for n in nodes] == [
        ('10.0.0.1:20009', '127.0.0.1:20012'), ('10.0.0.2:20009', '127.0.0.1:20012')]
    assert nodes[0]['tls_opts']['client_ssl_opts']['certificate_path'] == '/c.pem'
    # Without TLS there is no front.
    plain = job_config.spu_cluster_def(topology, tls_front=True)['nodes']
    assert plain[1]['listen_address'] == '10.0.0.2:20009'
    front = job_config.spu_tls_front(topology, 'bob', tls, '/usr/bin/stunnel4')
    assert front == {'stunnel': '/usr/bin/stunnel4', 'ready': ') bound to ', 'cert': '/c.pem', 'key': '/k.pem', 'ca_cert': '/ca.pem',
                     'services': [{'name': 'spu', 'accept': '10.0.0.2:20009', 'connect': '127.0.0.1:20012'}]}


def test_production_init_kwargs(topology):
    kwargs = job_config.init_kwargs(topology, 'bob', '1.11.0b1',
                                    tls_config={'cert': 'c', 'key': 'k', 'ca_cert': 'ca'},
                                    allowed_list={'numpy': ['dtype']})
    assert kwargs == {
        'address': '10.0.0.2:20000',
        'cluster_config': {
            'parties': {'alice': {'address': '10.0.0.1:20008', 'listen_addr': '0.0.0.0:20008'},
                        'bob': {'address': '10.0.0.2:20008', 'listen_addr': '10.0.0.2:20008'}},
            'self_party': 'bob'},
        'tls_config': {'cert': 'c', 'key': 'k', 'ca_cert': 'ca'},
        # RayFed's proxies listen for the peers: on bob's head, by RayFed's own resource labels.
        'cross_silo_comm_options': {'serializing_allowed_list': {'numpy': ['dtype']},
                                    'send_resource_label': {'sfdeploy_head_bob': 0.001},
                                    'recv_resource_label': {'sfdeploy_head_bob': 0.001}},
    }


def test_old_secretflow_takes_the_allowlist_keyword():
    assert job_config.allowlist_kwargs('1.0.0', {'a': ['b']}) == {'cross_silo_serializing_allowed_list': {'a': ['b']}}


def test_simulation_init_kwargs():
    t = build_topology([dict(host='a', party='alice', address='127.0.0.1'),
                        dict(host='b', party='bob', address='127.0.0.1')], 'simulation')
    assert job_config.init_kwargs(t) == {'parties': ['alice', 'bob'], 'address': '127.0.0.1:20000'}


def test_unknown_party_and_bad_tls_keys_are_refused(topology):
    with pytest.raises(job_config.JobConfigError, match="self_party 'carol'"):
        job_config.init_kwargs(topology, 'carol')
    with pytest.raises(job_config.JobConfigError, match='tls_config takes exactly the keys cert, key, ca_cert'):
        job_config.init_kwargs(topology, 'alice', tls_config={'cert': 'c', 'key': 'k', 'ca': 'x'})


def test_unknown_link_options_are_refused():
    assert job_config.spu_link_desc({'recv_timeout_ms': 1}) == {'recv_timeout_ms': 1}
    assert job_config.spu_link_desc({}) is None
    with pytest.raises(job_config.JobConfigError, match='connect_retry'):
        job_config.spu_link_desc({'connect_retries': 3})


def test_a_production_job_watches_its_peers_and_names_those_rayfed_still_awaits():
    from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_runner
    topology = {'mode': 'production', 'parties': ['alice', 'bob', 'carol'], 'party_info': {
        'alice': {'address': '10.0.0.1', 'rayfed_port': 20008},
        'bob': {'address': '10.0.0.2', 'rayfed_port': 20008},
        'carol': {'address': '10.0.0.2', 'rayfed_port': 21008}}}
    watch = job_config.peer_watch(topology, 'alice', 180)
    assert watch['peers'] == {'bob': '10.0.0.2:20008', 'carol': '10.0.0.2:21008'} and watch['timeout'] == 180
    assert job_config.peer_watch(topology, 'alice', 0) is None
    assert job_config.peer_watch(dict(topology, mode='simulation'), None, 180) is None
    log = ("INFO barriers.py:521 -- Try ping ['bob', 'carol'] at 0 attemp, up to 3600 attemps.\n"
           "INFO barriers.py:521 -- Try ping ['carol'] at 1 attemp, up to 3600 attemps.\n")
    assert job_runner.peers_not_answering(watch, log) == ['carol']
    assert job_runner.peers_not_answering(watch, '') == ['bob', 'carol']


def test_a_production_driver_listens_on_its_own_rayfed_port_for_its_peers_until_sf_init():
    topology = {'mode': 'production', 'parties': ['alice', 'bob', 'carol'], 'party_info': {
        'alice': {'address': '10.0.0.1', 'listen_host': '0.0.0.0', 'rayfed_port': 20008},
        'bob': {'address': '10.0.0.2', 'listen_host': '10.0.0.2', 'rayfed_port': 20008},
        'carol': {'address': '10.0.0.2', 'listen_host': '10.0.0.2', 'rayfed_port': 21008}}}
    assert job_config.start_barrier(topology, 'carol', 'nightly') == {
        'listen': '10.0.0.2:21008', 'job': 'nightly', 'party': 'carol',
        'peers': {'alice': '10.0.0.1:20008', 'bob': '10.0.0.2:20008'}}
    assert job_config.start_barrier(dict(topology, mode='simulation'), None, 'nightly') is None
    alone = dict(topology, parties=['alice'], party_info={'alice': topology['party_info']['alice']})
    assert job_config.start_barrier(alone, 'alice', 'nightly') is None
