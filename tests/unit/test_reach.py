"""The cross-silo reachability check, on loopback: heads that listen and dial at once, a peer
that is down, a port held by another process."""
import socket
import threading

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.reach import check
from netports import free_ports


def _run_all(parties, timeout=10, **kwargs):
    """Run check() for every party at once, as the heads do; party -> result."""
    results = {}

    def one(party):
        listen = {'rayfed': parties[party][0], 'spu': parties[party][1]}
        peers = [{'party': p, 'address': '127.0.0.1', 'service': s, 'port': parties[p][i]}
                 for p in parties if p != party for i, s in enumerate(['rayfed', 'spu'])]
        results[party] = check(party, '127.0.0.1', listen, peers, timeout, **kwargs)
    threads = [threading.Thread(target=one, args=(p,)) for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_every_head_reaches_every_peer_and_is_greeted_by_all():
    ports = free_ports(6)
    parties = {'alice': ports[0:2], 'bob': ports[2:4], 'carol': ports[4:6]}
    results = _run_all(parties)
    for party, r in results.items():
        assert r['failures'] == [], r
        assert all(d['ok'] for d in r['dialled'])
        for service in ('rayfed', 'spu'):
            assert r['listening'][service]['reached_by'] == sorted(set(parties) - {party})
    # The listeners are closed: the job can bind the ports right after.
    for port in ports:
        s = socket.socket()
        s.bind(('127.0.0.1', port))
        s.close()


def test_a_peer_that_is_down_is_named_with_its_address_and_port():
    alice_rayfed, alice_spu, bob_rayfed = free_ports(3)
    r = check('alice', '127.0.0.1', {'rayfed': alice_rayfed, 'spu': alice_spu},
              [{'party': 'bob', 'address': '127.0.0.1', 'service': 'rayfed', 'port': bob_rayfed}], 3)
    assert r['failures'] == ['alice cannot reach bob at 127.0.0.1:%d (rayfed port): connection refused '
                             '(nothing listens there, or a firewall rejects it) after %.0f s'
                             % (bob_rayfed, r['dialled'][0]['seconds'])]
    assert r['dialled'][0]['attempts'] >= 2


def test_a_port_held_by_another_process_is_an_error_unless_busy_is_fine():
    holder = socket.socket()
    holder.bind(('127.0.0.1', 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        r = check('alice', '127.0.0.1', {'rayfed': port}, [], 2)
        assert r['failures'] == ['alice: its rayfed port %d on 127.0.0.1 is in use by another process '
                                 '(a job still running? see sf_job state=stopped)' % port]
        r = check('alice', '127.0.0.1', {'rayfed': port}, [], 2, busy_ok=True)
        assert r['failures'] == [] and r['listening']['rayfed']['state'] == 'busy'
    finally:
        holder.close()


def test_a_device_port_waits_for_the_device_parties_only_and_ends_before_the_deadline():
    """A named SPU device of bob and carol: alice neither listens on its port nor dials it; bob's
    and carol's listeners end once the other has greeted them, long before the deadline."""
    import time
    ports = free_ports(5)
    device = {'bob': ports[0], 'carol': ports[1]}
    rayfed = dict(zip(('alice', 'bob', 'carol'), ports[2:]))
    results = {}

    def one(party):
        listen = {'rayfed': rayfed[party]}
        peers = [{'party': p, 'address': '127.0.0.1', 'service': 'rayfed', 'port': rayfed[p]}
                 for p in rayfed if p != party]
        if party in device:
            listen['spu.psi'] = device[party]
            peers += [{'party': p, 'address': '127.0.0.1', 'service': 'spu.psi', 'port': device[p]}
                      for p in device if p != party]
        results[party] = check(party, '127.0.0.1', listen, peers, 30)
    started = time.time()
    threads = [threading.Thread(target=one, args=(p,)) for p in rayfed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.time() - started < 15
    assert results['bob']['listening']['spu.psi']['reached_by'] == ['carol']
    assert results['carol']['listening']['spu.psi']['reached_by'] == ['bob']
    assert 'spu.psi' not in results['alice']['listening']
    assert all(r['failures'] == [] for r in results.values()), results
