"""roles/ray/files/ray_nodes.py, the parts that need no Ray: the port-only wait (a head alone in
its cluster, not restarted) and the matching of ray.nodes() against the expected nodes."""
import importlib.util
import json
import os
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    'ray_nodes', os.path.join(HERE, '..', '..', 'roles', 'ray', 'files', 'ray_nodes.py'))
ray_nodes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ray_nodes)


def _report(capsys):
    return json.loads(capsys.readouterr().out)


def test_port_mode_answers_when_the_gcs_port_listens(capsys):
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        address = '127.0.0.1:%d' % listener.getsockname()[1]
        assert ray_nodes.main(address, [], 5, 'port') == 0
    assert _report(capsys) == {'seen': [], 'missing': [], 'error': ''}


def test_port_mode_fails_naming_the_address_when_nothing_listens(capsys):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        address = '127.0.0.1:%d' % s.getsockname()[1]  # bound, not listening: refused
        start = time.time()
        assert ray_nodes.main(address, [], 1, 'port') == 2
        assert time.time() - start < 10
    report = _report(capsys)
    assert 'nothing answers at %s' % address in report['error']


def test_missing_nodes_needs_address_port_and_party_resource():
    expected = [{'host': 'h1', 'address': '10.0.0.1', 'party': 'alice', 'ports': {'ray_node_manager': 20001}},
                {'host': 'h2', 'address': '10.0.0.2', 'party': 'alice', 'ports': {'ray_node_manager': 20001}},
                {'host': 'h3', 'address': '127.0.0.1', 'party': 'bob', 'ports': {'ray_node_manager': 21001}}]
    nodes = [
        {'Alive': True, 'NodeManagerAddress': '10.0.0.1', 'NodeManagerPort': 20001, 'Resources': {'alice': 16}},
        # h2: alive, right port, but without its party's resource
        {'Alive': True, 'NodeManagerAddress': '10.0.0.2', 'NodeManagerPort': 20001, 'Resources': {}},
        # h3: loopback address is replaced by Ray with the machine's own; the port decides
        {'Alive': True, 'NodeManagerAddress': '10.0.0.9', 'NodeManagerPort': 21001, 'Resources': {'bob': 16}},
        {'Alive': False, 'NodeManagerAddress': '10.0.0.2', 'NodeManagerPort': 20001, 'Resources': {'alice': 16}},
    ]
    seen, missing = ray_nodes.missing_nodes(nodes, expected)
    assert missing == ['h2']
    assert len(seen) == 3


def test_a_wait_for_the_head_ends_when_its_own_node_is_seen_and_one_for_all_when_every_node_is():
    expected = [{'host': 'head', 'ray_head': True}, {'host': 'worker', 'ray_head': False}]
    # The head's GCS answers before its raylet has registered: not yet.
    assert not ray_nodes.reached(['head', 'worker'], expected, 'answers')
    assert ray_nodes.reached(['worker'], expected, 'answers')
    assert not ray_nodes.reached(['worker'], expected, 'all')
    assert ray_nodes.reached([], expected, 'all')
