"""ray_runtime container with a bridge network: the preflight's reading of the layout."""
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.container import network_problems


def _node(host, address, machine='m1'):
    return {'host': host, 'address': address, 'machine': machine}


NODES = {'carol': _node('carol', '192.168.77.10'), 'dave': _node('dave', '192.168.77.20')}


def test_host_networking_has_nothing_to_check():
    assert network_problems(NODES['carol'], NODES, 'host', [], 'auto') == []


def test_a_layout_on_one_machine_inside_the_subnet_fits():
    assert network_problems(NODES['carol'], NODES, 'sfnet', ['192.168.77.0/24'], 'none') == []


def test_every_problem_is_named_at_once():
    nodes = dict(NODES, erin=_node('erin', '10.0.0.5', machine='m2'), dave=_node('dave', '192.168.78.10'))
    problems = network_problems(nodes['dave'], nodes, 'sfnet', ['192.168.77.0/24'], 'auto')
    assert problems == [
        "federation_address 192.168.78.10 is the container's address on ray_container_network sfnet (a bridge), "
        "but not inside its subnet 192.168.77.0/24",
        'ray_container_network sfnet (a bridge) joins the containers of one machine only, but erin is on other '
        'machines: use ray_container_network host',
        "the host's firewall does not filter traffic between the containers of ray_container_network sfnet "
        "(a bridge); set firewall_backend: none for these hosts (firewall_backend is auto)",
    ]


def test_a_missing_network_without_a_subnet_and_shared_or_reserved_addresses_are_refused():
    assert 'does not exist on this host and ray_container_subnet is empty' in \
        network_problems(NODES['carol'], NODES, 'sfnet', [''], 'none')[0]
    shared = dict(NODES, dave=_node('dave', '192.168.77.10'))
    assert network_problems(shared['dave'], shared, 'sfnet', ['192.168.77.0/24'], 'none') == [
        'federation_address 192.168.77.10 is also the address of carol; on ray_container_network sfnet (a bridge) '
        'each container needs its own']
    gateway = dict(NODES, carol=_node('carol', '192.168.77.1'))
    assert network_problems(gateway['carol'], gateway, 'sfnet', ['192.168.77.0/24'], 'none') == [
        'federation_address 192.168.77.1 is the network, broadcast or gateway address of ray_container_network '
        'sfnet (a bridge)']
