"""The drivers' start barrier (job_runner.wait_for_parties), on this machine's loopback: drivers
begin once the last party is ready, not at the planned start; never before every party is ready
unless the planned start comes; a peer whose RayFed already listens counts as ready; a greeting
for another job counts for nothing; and the RayFed port is free again for sf.init."""
import socket
import threading
import time

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_runner


def free_ports(count):
    socks = [socket.socket() for _unused in range(count)]
    try:
        for sock in socks:
            sock.bind(('127.0.0.1', 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def barriers(ports, job='demo'):
    """party -> its barrier, every party on the loopback with its own port."""
    endpoints = dict((party, '127.0.0.1:%d' % port) for party, port in ports.items())
    return dict((party, {'listen': endpoints[party], 'job': job, 'party': party,
                         'peers': dict((p, e) for p, e in endpoints.items() if p != party)})
                for party in endpoints)


def run_later(delay, barrier, start_at, out):
    """Start barrier after delay in a thread; out[party] = (began waiting, returned, peers ready)."""
    def go():
        time.sleep(delay)
        began = time.time()
        ready = job_runner.wait_for_parties(barrier, start_at)
        out[barrier['party']] = (began, time.time(), ready)
    thread = threading.Thread(target=go)
    thread.start()
    return thread


def test_the_drivers_begin_together_once_the_last_is_ready_long_before_the_planned_start():
    ports = dict(zip(('alice', 'bob', 'carol'), free_ports(3)))
    start_at = time.time() + 60
    out = {}
    threads = [run_later(delay, barrier, start_at, out)
               for delay, barrier in zip((0, 0.3, 1.0), (barriers(ports)[p] for p in ('alice', 'bob', 'carol')))]
    for thread in threads:
        thread.join(70)
    last_ready = max(began for began, _unused, _ready in out.values())
    for party, (_began, returned, ready) in out.items():
        assert ready == sorted(set(ports) - {party}), (party, ready)
        assert last_ready <= returned < start_at - 30, (party, out)
    # The RayFed port is free for sf.init (which binds it as gRPC does, with SO_REUSEADDR).
    for port in ports.values():
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(('127.0.0.1', port))
            sock.listen(1)


def test_a_party_that_never_comes_leaves_the_others_to_begin_at_the_planned_start():
    ports = dict(zip(('alice', 'bob', 'carol'), free_ports(3)))  # carol never listens
    start_at = time.time() + 2
    out = {}
    threads = [run_later(0, barriers(ports)[p], start_at, out) for p in ('alice', 'bob')]
    for thread in threads:
        thread.join(10)
    assert out['alice'][2] == ['bob'] and out['bob'][2] == ['alice'], out
    for party in ('alice', 'bob'):
        assert out[party][1] >= start_at, (party, out)


def test_a_peer_whose_rayfed_already_listens_counts_as_ready():
    """The peer began at its own planned start: its port accepts and says nothing (gRPC waits for
    the client)."""
    with socket.socket() as rayfed:
        rayfed.bind(('127.0.0.1', 0))
        rayfed.listen(4)
        ports = {'alice': free_ports(1)[0], 'bob': rayfed.getsockname()[1]}
        start_at = time.time() + 60
        ready = job_runner.wait_for_parties(barriers(ports)['alice'], start_at)
        assert ready == ['bob'] and time.time() < start_at - 30


def test_a_greeting_for_another_job_or_from_a_stranger_counts_for_nothing():
    ports = dict(zip(('alice', 'bob'), free_ports(2)))  # bob never listens
    start_at = time.time() + 3
    out = {}
    thread = run_later(0, barriers(ports)['alice'], start_at, out)
    said = []
    for greeting in (b'sfdeploy-ready other bob\n', b'sfdeploy-ready demo mallory\n', b'GET / HTTP/1.0\r\n\r\n'):
        for _attempt in range(40):
            try:
                with socket.create_connection(('127.0.0.1', ports['alice']), timeout=1) as conn:
                    said.append(conn.recv(256))
                    conn.sendall(greeting)
                    conn.shutdown(socket.SHUT_WR)
                break
            except OSError:
                time.sleep(0.05)
    thread.join(10)
    assert said == [b'sfdeploy-ready demo alice\n'] * 3, said
    assert out['alice'][2] == [] and out['alice'][1] >= start_at, out


def fake_peer(behaviour):
    """A listening socket on the loopback whose accepted connections are handed to behaviour
    (in a thread); returns (port, stop)."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(8)
    server.settimeout(0.1)
    stop = threading.Event()

    def serve():
        with server:
            while not stop.is_set():
                try:
                    conn, _unused = server.accept()
                except socket.timeout:
                    continue
                threading.Thread(target=behaviour, args=(conn,), daemon=True).start()
    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], stop


def test_a_peer_whose_barrier_greets_late_is_greeted_back_not_taken_for_rayfed():
    """A loaded host's driver greets a second late: it still learns that alice is ready (alice
    greets it back), where a wait of half a second took its silence for RayFed, left it
    ungreeted, and it waited for its planned start."""
    heard = []

    def slow_barrier(conn):
        with conn:
            time.sleep(1.0)
            conn.sendall(b'sfdeploy-ready demo bob\n')
            conn.settimeout(3)
            heard.append(conn.recv(256))
    port, stop = fake_peer(slow_barrier)
    try:
        ports = {'alice': free_ports(1)[0], 'bob': port}
        start_at = time.time() + 20
        assert job_runner.wait_for_parties(barriers(ports)['alice'], start_at) == ['bob']
        for _attempt in range(40):
            if heard:
                break
            time.sleep(0.05)
        assert heard == [b'sfdeploy-ready demo alice\n']
    finally:
        stop.set()


def test_a_port_that_closes_without_the_greeting_is_not_a_ready_peer():
    """A listener that closes (a peer's barrier ending) or a service that hangs up is not a peer
    whose sf.init began: alice waits for the planned start."""
    def hang_up(conn):
        conn.close()
    port, stop = fake_peer(hang_up)
    try:
        ports = {'alice': free_ports(1)[0], 'bob': port}
        start_at = time.time() + 2
        assert job_runner.wait_for_parties(barriers(ports)['alice'], start_at) == []
        assert time.time() >= start_at
    finally:
        stop.set()
