"""Check that a Ray head sees every expected node, alive, with its party resource.

    python ray_nodes.py GCS_ADDRESS EXPECTED_JSON

EXPECTED_JSON: the topology entries of the expected nodes (host, address, party, ports)
Prints {"seen": [...], "missing": [hosts]}; exits 0 when nothing is missing, 2 otherwise.
Managed by sfdeploy.
"""
import ipaddress
import json
import sys


def _loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == 'localhost'


def main(address, expected):
    import ray

    try:
        ray.init(address=address, logging_level='ERROR', log_to_driver=False, configure_logging=False)
        try:
            nodes = [n for n in ray.nodes() if n.get('Alive')]
        finally:
            ray.shutdown()
    except Exception as exc:  # the head itself is not up (yet)
        print(json.dumps({'seen': [], 'missing': [w['host'] for w in expected],
                          'error': '%s: %s' % (type(exc).__name__, exc)}))
        return 2
    seen = [{'address': n['NodeManagerAddress'], 'node_manager_port': n['NodeManagerPort'],
             'resources': n.get('Resources', {})} for n in nodes]
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
    print(json.dumps({'seen': seen, 'missing': missing}))
    return 2 if missing else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1], json.loads(sys.argv[2])))
