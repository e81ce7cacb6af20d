# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can every party's head open a TCP connection to every peer's cross-silo ports?

A party's RayFed and SPU ports listen only while a job runs, so each head stands in for its
job: it binds its own cross-silo ports for a short while (a listener that only reads a
greeting), and at the same time dials every peer's ports until they answer or a deadline
passes. A port that is already in use is either an error (before a job: something else holds
it) or, with ``busy_ok``, a sign that a job is running there; it is then dialled as it is.

Standard library only: this runs with the managed host's Ansible interpreter.
"""

from __future__ import annotations

import errno
import socket
import threading
import time

GREETING = b'sfdeploy-reach '


def _describe(exc):
    if isinstance(exc, socket.timeout):
        return 'timed out (a firewall dropping the traffic, or no route)'
    if isinstance(exc, ConnectionRefusedError):
        return 'connection refused (nothing listens there, or a firewall rejects it)'
    if isinstance(exc, socket.gaierror):
        return 'the address does not resolve (%s)' % exc
    return '%s: %s' % (type(exc).__name__, exc)


class Listener(object):
    """Accepts connections on one port and records which parties greeted it."""

    def __init__(self, name, host, port):
        self.name, self.host, self.port = name, host, port
        self.sock = None
        self.busy = None
        self.greeted = set()
        self._thread = None

    def bind(self):
        sock = socket.socket(socket.AF_INET6 if ':' in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                self.busy = 'in use by another process'
                return False
            raise
        sock.listen(16)
        sock.settimeout(0.2)
        self.sock = sock
        return True

    def serve(self, deadline, expected):
        def loop():
            while time.time() < deadline and not expected <= self.greeted:
                try:
                    conn, _unused = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    break
                with conn:
                    conn.settimeout(2)
                    data = b''
                    try:
                        while not data.endswith(b'\n') and len(data) < 200:
                            chunk = conn.recv(200)
                            if not chunk:
                                break
                            data += chunk
                        # The dialler closes first, so the TIME_WAIT stays on its side and
                        # the job can bind this port right after.
                        conn.recv(1)
                    except OSError:
                        pass
                if data.startswith(GREETING):
                    self.greeted.add(data[len(GREETING):].strip().decode('ascii', 'replace'))
            self.sock.close()
        self._thread = threading.Thread(target=loop, name='listen-%s' % self.name)
        self._thread.daemon = True
        self._thread.start()

    def join(self):
        if self._thread:
            self._thread.join()


def dial(self_party, target, deadline, retry_interval=1.0, connect_timeout=3.0):
    """Dial one peer port until it answers or the deadline passes."""
    started = time.time()
    attempts = 0
    last = None
    while True:
        attempts += 1
        try:
            with socket.create_connection((target['address'], target['port']), timeout=connect_timeout) as conn:
                conn.sendall(GREETING + self_party.encode('ascii') + b'\n')
            return dict(target, ok=True, attempts=attempts, seconds=round(time.time() - started, 2), error='')
        except (OSError, socket.timeout) as exc:
            last = exc
        if time.time() + retry_interval >= deadline:
            return dict(target, ok=False, attempts=attempts, seconds=round(time.time() - started, 2),
                        error=_describe(last))
        time.sleep(retry_interval)


def check(self_party, listen_host, listen, peers, timeout, busy_ok=False):
    """Listen on this party's ports while dialling every peer's.

    listen: {service_name: port}; peers: [{party, address, service, port}].
    Returns a result dict; result['failures'] lists human-readable problems.
    """
    deadline = time.time() + timeout
    listeners = [Listener(name, listen_host, port) for name, port in sorted(listen.items())]
    failures = []
    for lst in listeners:
        if not lst.bind() and not busy_ok:
            failures.append('%s: its %s port %d on %s is %s (a job still running? see sf_job state=stopped)'
                            % (self_party, lst.name, lst.port, listen_host, lst.busy))
    if failures:
        return {'listening': {}, 'dialled': [], 'failures': failures}
    # Who dials a port is who this party dials on the same service (every peer for RayFed and the
    # default SPU, a device's other parties for a named SPU device's port).
    for lst in listeners:
        if lst.sock is not None:
            lst.serve(deadline, set(p['party'] for p in peers if p['service'] == lst.name))

    results = [None] * len(peers)

    def run(i, target):
        results[i] = dial(self_party, target, deadline)
    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(peers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for lst in listeners:
        lst.join()

    for r in results:
        if not r['ok']:
            failures.append('%s cannot reach %s at %s:%d (%s port): %s after %.0f s'
                            % (self_party, r['party'], r['address'], r['port'], r['service'], r['error'],
                               r['seconds']))
    listening = {}
    for lst in listeners:
        listening[lst.name] = {
            'port': lst.port,
            'state': 'busy' if lst.busy else 'probe',
            'reached_by': sorted(lst.greeted),
        }
    return {'listening': listening, 'dialled': results, 'failures': failures}
