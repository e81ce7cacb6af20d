"""Check that a Ray head sees every expected node, alive, with its party resource.

    python ray_nodes.py GCS_ADDRESS EXPECTED_JSON [WAIT_SECONDS [UNTIL]]

EXPECTED_JSON: the topology entries of the expected nodes (host, address, party, ports).
Polls every half second for up to WAIT_SECONDS (default 0: ask once), in one process (one
connection, not one per try), until the head answers with its own node up (UNTIL=answers: the
expected entry with ray_head) or until it sees every expected node (UNTIL=all, the default).
UNTIL=port only waits for the head's GCS port to take connections, without connecting to Ray
(no "seen", "missing" is empty): for a head alone in its cluster that was not restarted.
It reads the GCS's node table as `ray start` does while it waits for its own node (Ray's
GlobalState), not as a driver: ray.init would register a job, and the head would then start
worker processes for it (the "ray::IDLE" workers, about 1 CPU-second each, which then stay).
Prints {"seen": [...], "missing": [hosts], "error": "..."}; exits 0 when that happened, 2 otherwise.
Managed by sfdeploy.
"""
import ipaddress
import json
import socket
import sys
import time

POLL_SECONDS = 0.5


def _loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == 'localhost'


def missing_nodes(nodes, expected):
    """Hosts of ``expected`` that no alive node of ``nodes`` (ray.nodes()) stands for."""
    seen = [{'address': n['NodeManagerAddress'], 'node_manager_port': n['NodeManagerPort'],
             'resources': n.get('Resources', {})} for n in nodes if n.get('Alive')]
    missing = []
    for want in expected:
        for n in seen:
            # Ray replaces a loopback node address with the machine's own: match the port only.
            same_address = _loopback(want['address']) or n['address'] == want['address']
            if same_address and n['node_manager_port'] == want['ports']['ray_node_manager'] \
                    and n['resources'].get(want['party'], 0) > 0:
                break
        else:
            missing.append(want['host'])
    return seen, missing


def reached(missing, expected, until):
    """Whether the wait is over: every expected node is seen (all), or the head's own is (answers;
    its GCS answers before its raylet has registered)."""
    if until == 'answers':
        return not {w['host'] for w in expected if w.get('ray_head')} & set(missing)
    return not missing


def gcs_answers(address, timeout=1.0):
    """Whether the head's GCS port takes connections (a GCS client waits minutes for one that does not)."""
    host, port = address.rsplit(':', 1)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_for_port(address, deadline):
    while not gcs_answers(address):
        if time.time() >= deadline:
            print(json.dumps({'seen': [], 'missing': [],
                              'error': 'nothing answers at %s (the head\'s GCS port)' % address}))
            return 2
        time.sleep(POLL_SECONDS)
    print(json.dumps({'seen': [], 'missing': [], 'error': ''}))
    return 0


def main(address, expected, wait=0.0, until='all'):
    deadline = time.time() + wait
    if until == 'port':
        return wait_for_port(address, deadline)
    # Ray's own readers of the node table (ray start's wait, ray.nodes()) go through these.
    from ray._private.state import GlobalState
    from ray._raylet import GcsClientOptions

    report = {'seen': [], 'missing': [w['host'] for w in expected], 'error': ''}
    state = None
    while True:
        try:
            if state is None:
                if not gcs_answers(address):
                    raise ConnectionError('nothing answers at %s (the head\'s GCS port)' % address)
                state = GlobalState()
                state._initialize_global_state(GcsClientOptions.from_gcs_address(address))
            report['seen'], report['missing'] = missing_nodes(state.node_table(), expected)
            report['error'] = ''
            answered = True
        except Exception as exc:  # the head itself is not up (yet)
            report['error'] = '%s: %s' % (type(exc).__name__, exc)
            answered = False
            if state is not None:
                state.disconnect()
                state = None
        if (answered and reached(report['missing'], expected, until)) or time.time() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    if state is not None:
        state.disconnect()
    print(json.dumps(report))
    return 0 if answered and reached(report['missing'], expected, until) else 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0,
                  sys.argv[4] if len(sys.argv) > 4 else 'all'))
