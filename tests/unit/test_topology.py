"""The inventory -> topology rules: parties, heads, port blocks, collisions."""
import pytest

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.topology import (
    PORT_OFFSETS, TopologyError, assign_ports, build_topology, public_party_info)


def h(host, party, address, **kw):
    return dict(host=host, party=party, address=address, **kw)


def test_one_host_per_party_on_distinct_addresses_share_the_default_block():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('b1', 'bob', '10.0.0.2')], 'production')
    assert t['parties'] == ['alice', 'bob']
    assert t['nodes']['a1']['ports'] == t['nodes']['b1']['ports'] == assign_ports(0)
    assert t['party_info']['bob'] == {
        'head': 'b1', 'address': '10.0.0.2', 'listen_host': '0.0.0.0',
        'rayfed_port': 20008, 'spu_port': 20009, 'spu_local_port': 20012, 'spu_devices': {}, 'nodes': ['b1']}


def test_parties_sharing_an_address_get_consecutive_blocks():
    t = build_topology([h('a', 'alice', '127.0.0.1'), h('b', 'bob', '127.0.0.1')], 'simulation')
    assert t['nodes']['a']['ports']['ray_gcs'] == 20000
    assert t['nodes']['b']['ports']['ray_gcs'] == 21000
    assert t['nodes']['b']['ports']['ray_min_worker'] == 21100
    assert t['nodes']['b']['ports']['ray_max_worker'] == 21999


def test_every_port_of_a_block_is_distinct():
    ports = assign_ports(0)
    singles = [ports[k] for k in PORT_OFFSETS]
    assert len(set(singles)) == len(singles)
    assert max(singles) < ports['ray_min_worker']


def test_simulation_has_one_ray_cluster_headed_by_the_first_party():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.3'), h('b1', 'bob', '10.0.0.2')],
                       'simulation')
    assert t['simulation_head'] == 'a1'
    assert [n for n, v in t['nodes'].items() if v['ray_head']] == ['a1']
    assert all(v['ray_address'] == '10.0.0.1:20000' for v in t['nodes'].values())
    assert t['nodes']['b1']['ray_cluster_nodes'] == ['a1', 'a2', 'b1']


def test_production_has_one_ray_cluster_per_party():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.3'), h('b1', 'bob', '10.0.0.2')],
                       'production')
    assert {n for n, v in t['nodes'].items() if v['ray_head']} == {'a1', 'b1'}
    assert t['nodes']['a2']['ray_address'] == '10.0.0.1:20000'
    assert t['nodes']['b1']['ray_address'] == '10.0.0.2:20000'
    assert t['nodes']['a1']['ray_cluster_nodes'] == ['a1', 'a2']
    assert t['nodes']['b1']['ray_cluster_nodes'] == ['b1']


def test_explicit_head_wins_over_the_first_host():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.3', head=True)], 'production')
    assert t['party_heads'] == {'alice': 'a2'}
    assert t['party_info']['alice']['address'] == '10.0.0.3'


def test_explicit_ports_override_the_block():
    t = build_topology([h('a1', 'alice', '10.0.0.1', ports={'ray_gcs': 6379, 'spu': '9100'})], 'production')
    assert t['nodes']['a1']['ports']['ray_gcs'] == 6379
    assert t['nodes']['a1']['ports']['spu'] == 9100


@pytest.mark.parametrize('hosts,mode,expected', [
    ([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.2', head=True), h('a3', 'alice', '10.0.0.3', head=True)],
     'production', 'party alice: federation_head is true on 2 hosts (a2, a3)'),
    ([h('a1', None, '10.0.0.1')], 'production', 'a1: federation_party is unknown'),
    ([h('a1', None, '10.0.0.1', party_candidates=['alice', 'gpu'])], 'production',
     'a1: federation_party is ambiguous, the host is in the groups alice, gpu'),
    ([h('a1', 'al ice', '10.0.0.1')], 'production', "a1: federation_party 'al ice' is not a valid party name"),
    ([h('a1', 'alice', '127.0.0.1'), h('b1', 'bob', '10.0.0.2')], 'production',
     'a1: federation_address is a loopback address'),
    ([h('a1', 'alice', '')], 'production', 'a1: federation_address is empty'),
    ([h('a1', 'alice', '10.0.0.1', ports={'spu': 70000})], 'production',
     'a1 (party alice): federation_ports.spu must be between 1 and 65535, got 70000'),
    ([h('a1', 'alice', '10.0.0.1', ports={'rayfed': 'x'})], 'production',
     "a1 (party alice): federation_ports.rayfed must be an integer port, got 'x'"),
    ([h('a1', 'alice', '10.0.0.1', ports={'sup': 1})], 'production', "a1 (party alice): federation_ports: unknown port name 'sup'"),
    ([h('a1', 'alice', '10.0.0.1', ports={'spu': 20008})], 'production',
     'port collision on 10.0.0.1: a1 (party alice) rayfed 20008 and a1 (party alice) spu 20008 overlap'),
    ([h('a1', 'alice', '10.0.0.1'), h('b1', 'bob', '10.0.0.1', ports={'rayfed': 20150})], 'production',
     'port collision on 10.0.0.1: a1 (party alice) ray_worker_ports 20100-20999 and b1 (party bob) rayfed 20150'),
    ([h('a1', 'alice', '10.0.0.1', ports={'ray_min_worker': 20500, 'ray_max_worker': 20501})], 'production',
     'the Ray worker port range 20500-20501 holds fewer than 16 ports'),
    ([h('a1', 'alice', '10.0.0.1', port_block_size=50)], 'production',
     'federation_port_block_size must be at least 116'),
    ([h('a1', 'alice', '10.0.0.1')], 'cluster', 'federation_mode must be one of simulation, production'),
])
def test_bad_inventories_are_refused_naming_host_and_field(hosts, mode, expected):
    with pytest.raises(TopologyError) as err:
        build_topology(hosts, mode)
    assert any(expected in e for e in err.value.errors), err.value.errors


def test_every_problem_is_reported_at_once():
    with pytest.raises(TopologyError) as err:
        build_topology([h('a1', None, '10.0.0.1'), h('b1', 'b c', '10.0.0.2')], 'production')
    assert len(err.value.errors) == 2


def test_nodes_of_one_party_on_one_machine_do_not_collide():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.1')], 'production')
    assert t['nodes']['a2']['ports']['ray_node_manager'] == 21001


def test_peers_from_a_federation_file_join_the_production_topology():
    t = build_topology([h('a1', 'alice', '10.0.0.1')], 'production',
                       {'bob': {'address': '10.0.0.2', 'rayfed_port': 9001, 'spu_port': 9002}})
    assert t['parties'] == ['alice', 'bob'] and t['local_parties'] == ['alice']
    assert t['party_heads'] == {'alice': 'a1'}
    assert t['party_info']['bob']['rayfed_port'] == 9001


@pytest.mark.parametrize('peers,expected', [
    ({'bob': {'rayfed_port': 1, 'spu_port': 2}}, 'federation_file: party bob: address is missing'),
    ({'bob': {'address': 'x', 'rayfed_port': 9, 'spu_port': 9}}, 'rayfed_port and spu_port are both 9'),
    ({'bob': {'address': 'x', 'rayfed_port': 0, 'spu_port': 9}}, 'rayfed_port must be between 1 and 65535'),
])
def test_bad_federation_files_are_refused(peers, expected):
    with pytest.raises(TopologyError) as err:
        build_topology([h('a1', 'alice', '10.0.0.1')], 'production', peers)
    assert any(expected in e for e in err.value.errors), err.value.errors


def test_federation_file_needs_production_mode():
    with pytest.raises(TopologyError, match='need production mode'):
        build_topology([h('a1', 'alice', '10.0.0.1')], 'simulation', {'bob': {}})


def test_firewall_rules_let_ray_in_from_the_cluster_and_cross_silo_from_peer_heads_only():
    t = build_topology([h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.3'), h('b1', 'bob', '10.0.0.2'),
                        h('c1', 'carol', '10.0.0.4')], 'production')
    head, worker = t['nodes']['a1']['firewall'], t['nodes']['a2']['firewall']
    assert head[0]['name'] == 'ray' and head[0]['sources'] == ['10.0.0.1', '10.0.0.3']
    assert [20000, 20000] in head[0]['ports'] and [20100, 20999] in head[0]['ports']
    assert head[1] == {'name': 'cross_silo', 'ports': [[20008, 20008], [20009, 20009]],
                       'sources': ['10.0.0.2', '10.0.0.4']}
    assert [r['name'] for r in worker] == ['ray'] and [20000, 20000] not in worker[0]['ports']
    # SPU's port behind the TLS front is bound to the loopback: no rule names it.
    assert not any([20012, 20012] in r['ports'] for r in head)
    # Simulation: SPU links run inside the one cluster.
    s = build_topology([h('a1', 'alice', '10.0.0.1'), h('b1', 'bob', '10.0.0.2')], 'simulation')
    assert s['nodes']['b1']['firewall'][1]['sources'] == ['10.0.0.1', '10.0.0.2']


def test_the_loopback_spu_port_collides_like_any_other():
    with pytest.raises(TopologyError, match='spu_local'):
        build_topology([dict(h('a1', 'alice', '10.0.0.1'), ports={'spu_local': 20008})], 'production')


# Machines: several inventory hosts on one machine (the seed's WSL case, reached over SSH).
def m(host, party, address, ssh_host=None, machine_id='', ipv4=(), **kw):
    return dict(h(host, party, address, **kw), ssh_host=ssh_host or address, ssh_port=22,
                machine_id=machine_id, ipv4=list(ipv4))


def test_hosts_with_one_connection_address_are_one_machine_with_one_leader():
    t = build_topology([m('a1', 'alice', '10.0.0.1'), m('b1', 'bob', '10.0.0.2'), m('c1', 'carol', '10.0.0.2'),
                        m('c2', 'carol', '10.0.0.3')], 'production')
    assert t['machines']['10.0.0.2'] == {'hosts': ['b1', 'c1'], 'leader': 'b1'}
    assert [t['nodes'][n]['machine_leader'] for n in ('b1', 'c1', 'c2')] == [True, False, True]
    assert t['nodes']['c1']['machine_hosts'] == ['b1', 'c1']
    assert t['nodes']['b1']['ports']['rayfed'] == 20008 and t['nodes']['c1']['ports']['rayfed'] == 21008
    # carol's worker has a machine of its own: the first block.
    assert t['nodes']['c2']['ports']['ray_node_manager'] == 20001


def test_facts_tell_one_machine_reached_under_two_names():
    same = dict(machine_id='f00d', ipv4=['10.0.0.2', '172.17.0.1'])
    t = build_topology([m('b1', 'bob', '10.0.0.2', ssh_host='bob.example', **same),
                        m('c1', 'carol', '172.17.0.1', ssh_host='carol.example', **same)], 'production')
    assert list(t['machines']) == ['bob.example']
    # Distinct addresses, one machine: still distinct blocks (services bind every address).
    assert t['nodes']['c1']['ports']['spu_local'] == 21012


def test_a_cloned_machine_id_on_other_addresses_is_another_machine():
    t = build_topology([m('b1', 'bob', '10.0.0.2', machine_id='f00d', ipv4=['10.0.0.2']),
                        m('c1', 'carol', '10.0.0.3', machine_id='f00d', ipv4=['10.0.0.3'])], 'production')
    assert len(t['machines']) == 2 and t['nodes']['c1']['ports']['ray_gcs'] == 20000


def test_federation_machine_names_the_machine_explicitly():
    t = build_topology([m('b1', 'bob', '10.0.0.2', machine='box'), m('c1', 'carol', '10.0.0.3', machine='box'),
                        m('d1', 'dan', '10.0.0.2', ssh_host='10.0.0.2', machine='other')], 'production')
    assert t['machines']['box']['hosts'] == ['b1', 'c1']
    # d1 is another machine but shares b1's address (NAT): another block too.
    assert t['nodes']['d1']['ports']['ray_gcs'] == 21000


def test_ports_that_collide_on_one_machine_are_refused_even_on_distinct_addresses():
    with pytest.raises(TopologyError) as err:
        build_topology([m('b1', 'bob', '10.0.0.2', machine='box'),
                        m('c1', 'carol', '10.0.0.3', machine='box', ports={'rayfed': 20008})], 'production')
    assert any('port collision on one machine (b1, c1): b1 (party bob) rayfed 20008 and c1 (party carol) rayfed 20008'
               in e for e in err.value.errors), err.value.errors


def test_each_node_has_its_own_firewall_table_name():
    t = build_topology([m('prod-bob', 'bob', '10.0.0.2'), m('prod-carol', 'carol', '10.0.0.2')], 'production')
    assert [t['nodes'][n]['firewall_id'] for n in ('prod-bob', 'prod-carol')] == ['prod_bob', 'prod_carol']
    with pytest.raises(TopologyError, match='would both be called sfdeploy_b_1'):
        build_topology([m('b-1', 'bob', '10.0.0.2'), m('b_1', 'carol', '10.0.0.2')], 'production')


def test_parties_sharing_a_machine_are_warned_about_in_production_only():
    hosts = [m('a1', 'alice', '10.0.0.1'), m('b1', 'bob', '10.0.0.2'), m('c1', 'carol', '10.0.0.2')]
    warnings = build_topology(hosts, 'production')['warnings']
    assert len(warnings) == 1 and 'the parties bob, carol share one machine (b1, c1)' in warnings[0]
    assert build_topology(hosts, 'simulation')['warnings'] == []


def test_a_federation_file_must_agree_with_the_parties_this_run_deploys():
    hosts = [m('c1', 'carol', '10.0.0.2', port_base=21000)]
    ok = {'carol': {'address': '10.0.0.2', 'rayfed_port': 21008, 'spu_port': 21009, 'ca_cert': 'PEM'},
          'bob': {'address': '10.0.0.2', 'rayfed_port': 20008, 'spu_port': 20009}}
    t = build_topology(hosts, 'production', ok)
    assert t['parties'] == ['carol', 'bob'] and t['declared_ca_certs'] == {'carol': 'PEM'}
    stale = dict(ok, carol={'address': '10.0.0.2', 'rayfed_port': 20008, 'spu_port': 21009})
    with pytest.raises(TopologyError) as err:
        build_topology(hosts, 'production', stale)
    assert err.value.errors == [
        'federation_file: party carol: rayfed_port is 20008 in the file, but this run deploys carol (head c1) with '
        'rayfed_port 21008; export the file again (federation_export_file) or fix the inventory']


def test_two_institutions_on_one_machine_with_the_default_block_are_refused():
    # Each institution's own inventory knows only its party: both took the first block.
    peers = {'bob': {'address': '10.0.0.2', 'rayfed_port': 20008, 'spu_port': 20009}}
    with pytest.raises(TopologyError) as err:
        build_topology([m('c1', 'carol', '10.0.0.2')], 'production', peers)
    assert any('federation_file: party bob: rayfed_port 10.0.0.2:20008 is also c1 (party carol) rayfed' in e
               for e in err.value.errors), err.value.errors
    # Two peers of the file on one address and port.
    peers['dan'] = {'address': '10.0.0.2', 'rayfed_port': 20009, 'spu_port': 20010}
    with pytest.raises(TopologyError, match="party dan: rayfed_port 10.0.0.2:20009 is also party bob's spu_port"):
        build_topology([m('c1', 'carol', '10.0.0.9')], 'production', peers)


# Named SPU devices (federation_spu_devices).
THREE = [h('a1', 'alice', '10.0.0.1'), h('a2', 'alice', '10.0.0.3'), h('b1', 'bob', '10.0.0.2'),
         h('c1', 'carol', '10.0.0.4')]
PSI = {'psi': {'parties': ['alice', 'bob']}}


def test_a_named_spu_device_gets_its_own_port_on_its_parties_heads_only():
    t = build_topology(THREE, 'production', spu_devices=dict(PSI, tri={'parties': ['alice', 'bob', 'carol'],
                                                                       'protocol': 'ABY3'}))
    assert t['spu_devices']['psi'] == {'parties': ['alice', 'bob'], 'protocol': 'SEMI2K', 'field': 'FM64',
                                       'link_desc': {}}
    # Name order: psi first (offsets 20, 21), then tri (22, 23).
    assert t['party_info']['alice']['spu_devices'] == {'psi': {'port': 20020, 'local_port': 20021},
                                                       'tri': {'port': 20022, 'local_port': 20023}}
    assert t['party_info']['carol']['spu_devices'] == {'tri': {'port': 20022, 'local_port': 20023}}
    assert t['nodes']['a1']['spu_devices'] == ['psi', 'tri'] and t['nodes']['a2']['spu_devices'] == []
    assert t['nodes']['c1']['spu_devices'] == ['tri']
    # A federation file entry carries each device's public port.
    assert public_party_info(t)['bob']['spu_devices'] == {'psi': 20020, 'tri': 20022}
    assert 'spu_devices' in public_party_info(t)['carol'] and 'psi' not in public_party_info(t)['carol']['spu_devices']


def test_a_named_spu_device_port_lets_in_the_device_parties_heads_only():
    t = build_topology(THREE, 'production', spu_devices=PSI)
    rules = dict((r['name'], r) for r in t['nodes']['a1']['firewall'])
    assert rules['spu_psi'] == {'name': 'spu_psi', 'ports': [[20020, 20020]], 'sources': ['10.0.0.2']}
    assert rules['cross_silo']['sources'] == ['10.0.0.2', '10.0.0.4']
    # The loopback port behind the TLS front is in no rule; carol and alice's worker open nothing of it.
    assert not any([20021, 20021] in r['ports'] for r in t['nodes']['a1']['firewall'])
    assert 'spu_psi' not in [r['name'] for r in t['nodes']['c1']['firewall'] + t['nodes']['a2']['firewall']]
    # Simulation: the one cluster.
    s = build_topology(THREE, 'simulation', spu_devices=PSI)
    assert dict((r['name'], r['sources']) for r in s['nodes']['b1']['firewall'])['spu_psi'] == \
        ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']


def test_a_named_spu_device_port_can_be_set_and_collides_like_any_other():
    hosts = [dict(THREE[0], ports={'spu.psi': 9500}), THREE[2]]
    t = build_topology(hosts, 'production', spu_devices=PSI)
    assert t['party_info']['alice']['spu_devices']['psi']['port'] == 9500
    with pytest.raises(TopologyError, match=r'a1 \(party alice\) spu.one 20020 and a1 \(party alice\) spu.two 20020'):
        build_topology([dict(THREE[0], ports={'spu.two': 20020}), THREE[2]], 'production',
                       spu_devices={'one': PSI['psi'], 'two': PSI['psi']})


@pytest.mark.parametrize('devices,expected', [
    ({'psi': {'parties': ['alice', 'dave']}}, 'federation_spu_devices.psi: dave is not a party of this federation'),
    ({'psi': {'parties': ['alice', 'bob'], 'protocol': 'ABY3'}},
     'federation_spu_devices.psi: protocol ABY3 runs between 3 parties, but the device has 2 (alice, bob)'),
    ({'psi': {'parties': ['alice', 'bob', 'carol'], 'protocol': 'CHEETAH'}}, 'protocol CHEETAH runs between 2 parties'),
    ({'psi': {'parties': ['alice']}}, 'protocol SEMI2K runs between 2 or more parties, but the device has 1'),
    ({'psi': {'parties': ['alice', 'bob'], 'protocol': 'SPDZ'}}, 'protocol SPDZ is not one of SPU\'s'),
    ({'psi': {'parties': ['alice', 'bob'], 'field': 'FM256'}}, 'field FM256 is not one of FM32, FM64, FM128'),
    ({'psi': {'parties': ['alice', 'bob'], 'link_desc': {'recv_timeout': 1}}},
     'link_desc: unknown option(s) recv_timeout'),
    ({'psi': {'parties': ['alice', 'bob'], 'protcol': 'SEMI2K'}}, 'federation_spu_devices.psi: unknown key(s) protcol'),
    ({'psi': {'parties': 'alice,bob'}}, 'federation_spu_devices.psi: parties must be a list of party names'),
    ({'p si': {'parties': ['alice', 'bob']}}, 'not a valid device name'),
    ({'psi': {'parties': ['alice', 'alice']}}, 'parties lists a party twice'),
    (['psi'], 'federation_spu_devices must map device names'),
])
def test_bad_spu_devices_are_refused_naming_the_device_and_field(devices, expected):
    with pytest.raises(TopologyError) as err:
        build_topology(THREE, 'production', spu_devices=devices)
    assert any(expected in e for e in err.value.errors), err.value.errors


def test_a_device_with_a_federation_file_peer_takes_its_port_from_the_file():
    peers = {'bob': {'address': '10.0.0.9', 'rayfed_port': 20008, 'spu_port': 20009, 'spu_devices': {'psi': 20020}}}
    t = build_topology([THREE[0]], 'production', peers, spu_devices=PSI)
    assert t['party_info']['bob']['spu_devices'] == {'psi': {'port': 20020}}
    with pytest.raises(TopologyError, match='party bob: has no port for the SPU device psi'):
        build_topology([THREE[0]], 'production', dict(bob=dict(peers['bob'], spu_devices={})), spu_devices=PSI)


def test_a_named_heu_device_is_checked_and_kept_with_its_defaults():
    t = build_topology(THREE, 'production', heu_devices={'heu': {'sk_keeper': 'alice', 'evaluators': ['bob']}})
    assert t['heu_devices'] == {'heu': {'sk_keeper': 'alice', 'evaluators': ['bob'], 'schema': 'paillier',
                                        'key_size': 2048, 'field': 'FM128'}}
    # No port of its own: HEU talks over RayFed.
    assert t['nodes']['a1']['ports'] == build_topology(THREE, 'production')['nodes']['a1']['ports']


@pytest.mark.parametrize('devices,expected', [
    ({'heu': {'sk_keeper': 'dave', 'evaluators': ['bob']}}, 'federation_heu_devices.heu: dave is not a party'),
    ({'heu': {'sk_keeper': 'alice', 'evaluators': ['alice', 'bob']}}, 'alice is both sk_keeper and an evaluator'),
    ({'heu': {'sk_keeper': 'alice', 'evaluators': []}}, 'evaluators must be a non-empty list of party names'),
    ({'heu': {'sk_keeper': 'alice', 'evaluators': ['bob'], 'schema': 'rsa'}}, "schema rsa is not one of HEU's"),
    ({'heu': {'sk_keeper': 'alice', 'evaluators': ['bob'], 'key_size': 'big'}}, 'key_size must be an integer'),
    ({'heu': {'evaluators': ['bob']}}, 'sk_keeper must name the party that holds the secret key'),
    ({'heu': {'sk_keeper': 'alice', 'evaluators': ['bob'], 'keysize': 1}}, 'unknown key(s) keysize'),
])
def test_bad_heu_devices_are_refused_naming_the_device_and_field(devices, expected):
    with pytest.raises(TopologyError) as err:
        build_topology(THREE, 'production', heu_devices=devices)
    assert any(expected in e for e in err.value.errors), err.value.errors


def test_a_partial_run_leaves_the_absent_parties_out_of_the_devices():
    """teardown.yml --limit bob: carol is not in the run, bob's device ports stay where they were."""
    devices = {'psi': {'parties': ['bob', 'carol']}}
    t = build_topology([THREE[2]], 'production', spu_devices=devices,
                       heu_devices={'h': {'sk_keeper': 'carol', 'evaluators': ['bob']}}, partial=True)
    assert t['spu_devices']['psi']['parties'] == ['bob']
    assert t['party_info']['bob']['spu_devices'] == {'psi': {'port': 20020, 'local_port': 20021}}
    with pytest.raises(TopologyError, match='carol is not a party'):
        build_topology([THREE[2]], 'production', spu_devices=devices)
