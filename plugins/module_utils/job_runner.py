# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The driver process of a SecretFlow job.

The sf_job module does not import SecretFlow itself (it runs under Ansible's Python).
It writes this file's source next to a JSON spec and runs it with the SecretFlow
environment's interpreter:  ``python job_runner.py spec.json``.

The spec holds everything derived from the inventory: the ``sf.init`` keyword
arguments, the parties, the SPU cluster definition. The user's script only has to
define ``main(ctx)`` and return something JSON-serialisable.

Kept free of Ansible imports; it must run on the job interpreter's standard library
plus SecretFlow.
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping


class Devices(Mapping):
    """ctx.spus and ctx.heus: the named devices, each built when the script first reads it, so a job
    pays only for the devices it uses. Every party runs the same script, so every party builds the
    same devices in the same order, as RayFed requires."""

    def __init__(self, kind, build, specs):
        self._kind = kind
        self._build = build
        self._specs = specs
        self._built = {}

    def __getitem__(self, name):
        if name not in self._specs:
            raise KeyError('no %s device %r; the federation defines %s (federation_%s_devices)'
                           % (self._kind, name, ', '.join(sorted(self._specs)) or 'none', self._kind.lower()))
        if name not in self._built:
            self._built[name] = self._build(self._specs[name])
        return self._built[name]

    def __iter__(self):
        return iter(sorted(self._specs))

    def __len__(self):
        return len(self._specs)


def _build_heu(sf):
    def build(device):
        from spu import spu_pb2
        return sf.HEU(device['config'], spu_pb2.FieldType.Value(device['field']))
    return build


class JobContext(object):
    """What a job script receives: ready devices and the job's arguments."""

    def __init__(self, sf, spec, pyu, spu):
        self.sf = sf
        self.mode = spec['mode']
        self.parties = list(spec['parties'])
        self.self_party = spec.get('self_party')
        self.args = spec.get('args') or {}
        # Private arguments, party -> its own. In production a party's driver holds only its own
        # party's entry (the others' stay on their hosts); in simulation the one driver holds all.
        self.party_args = spec.get('party_args') or {}
        self.pyu = pyu
        self.spu = spu
        # The named devices (federation_spu_devices, federation_heu_devices), built when first read.
        self.spus = Devices('SPU', lambda d: sf.SPU(d['cluster_def'], link_desc=d.get('link_desc') or None),
                            spec.get('spus') or {})
        self.heus = Devices('HEU', _build_heu(sf), spec.get('heus') or {})
        self.workdir = os.getcwd()


# Heads carry the resource sfdeploy_head_<party> (the ray role sets it; the spec names it in
# ``head_resources``, see job_config.HEAD_RESOURCE). Peers dial a party's head, so what listens for them must run there:
#  * RayFed's proxies (production): placed with RayFed's own options, send_resource_label and
#    recv_resource_label (job_config.init_kwargs). An actor that names a resource holds one CPU
#    for its life in Ray (DEFAULT_ACTOR_CREATION_CPU_SPECIFIED), so the two proxies would fill a
#    2-CPU head and leave the job's tasks pending: rayfed_proxies_take_no_cpu() sets num_cpus 0 in
#    RayFed's default proxy options (they mostly wait on the network);
#  * SPU's runtimes: SecretFlow exposes no placement for them, so one narrow hook (below) gives
#    the actors of SPU's runtime class, and nothing else, their party head's resource.
# Every other actor, the users' own included, keeps Ray's normal placement.
HEAD_RESOURCE_AMOUNT = 0.001
# The SecretFlow releases whose SPU device creates its runtimes as the hook expects: SPU.init calls
# ``sfd.remote(SPURuntime).party(party).remote(...)`` in secretflow.device.device.spu.
SPU_HOOK_VERIFIED = ('1.11.',)


class _PlacedSPURuntime(object):
    """sfd.remote(SPURuntime), with the party head's resource added when the party is chosen."""

    def __init__(self, remote_class, head_resources):
        self._remote_class = remote_class
        self._head_resources = head_resources

    def party(self, party):
        placed = self._remote_class.party(party)
        head = self._head_resources.get(party)
        if head is None:
            return placed
        # Reserve no CPU: the runtime mostly waits on its peers, and must not wait for a CPU.
        return placed.options(resources={head: HEAD_RESOURCE_AMOUNT}, num_cpus=0)


class _SPUDistributed(object):
    """What secretflow.device.device.spu sees as ``sfd``: secretflow.distributed, except that
    remote(SPURuntime) is placed on the party's head."""

    def __init__(self, sfd, runtime_class, head_resources):
        self._sfd = sfd
        self._runtime_class = runtime_class
        self._head_resources = head_resources

    def remote(self, *args, **kwargs):
        remote_class = self._sfd.remote(*args, **kwargs)
        if len(args) == 1 and not kwargs and args[0] is self._runtime_class:
            return _PlacedSPURuntime(remote_class, self._head_resources)
        return remote_class

    def __getattr__(self, name):
        return getattr(self._sfd, name)


# RayFed's default options of its proxy actors (fed.proxy.barriers, RayFed 0.2), copied and then
# extended with the resource labels for each proxy it starts.
RAYFED_PROXY_OPTIONS = ('_DEFAULT_RECEIVER_PROXY_OPTIONS', '_DEFAULT_SENDER_PROXY_OPTIONS')


def rayfed_proxies_take_no_cpu(barriers):
    """Make RayFed's proxies reserve no CPU (see above), after checking RayFed's shape."""
    missing = [name for name in RAYFED_PROXY_OPTIONS if not isinstance(getattr(barriers, name, None), dict)]
    if missing:
        raise RuntimeError('sfdeploy starts RayFed\'s proxies with no CPU reserved through its default proxy options, '
                           'and this RayFed has no %s (RayFed 0.2 has them). Install a verified RayFed '
                           '(secretflow_packages) or update job_runner.rayfed_proxies_take_no_cpu' % ', '.join(missing))
    for name in RAYFED_PROXY_OPTIONS:
        getattr(barriers, name)['num_cpus'] = 0


def place_spu_runtimes_on_heads(spu_module, secretflow_version, head_resources):
    """Install the hook into SecretFlow's SPU module (``secretflow.device.device.spu``), after
    checking that this SecretFlow is one it was verified with and still has the expected shape."""
    import inspect

    problems = []
    if not str(secretflow_version).startswith(SPU_HOOK_VERIFIED):
        problems.append('SecretFlow %s is not a release this hook was verified with (%s)'
                        % (secretflow_version, ', '.join(v + 'x' for v in SPU_HOOK_VERIFIED)))
    runtime = getattr(spu_module, 'SPURuntime', None)
    sfd = getattr(spu_module, 'sfd', None)
    try:
        init_source = inspect.getsource(spu_module.SPU.init)
    except (AttributeError, TypeError, OSError):
        init_source = ''
    if runtime is None or sfd is None or 'sfd.remote(SPURuntime)' not in init_source.replace('\n', '').replace(' ', ''):
        problems.append('its SPU device no longer creates runtimes with sfd.remote(SPURuntime)')
    if problems:
        raise RuntimeError('sfdeploy places SPU runtimes on their party heads (where peers dial them) through a '
                           'hook on SecretFlow\'s SPU module, and cannot here: %s. Install a verified SecretFlow '
                           '(secretflow_packages) or update job_runner.place_spu_runtimes_on_heads'
                           % '; '.join(problems))
    if not isinstance(sfd, _SPUDistributed):
        spu_module.sfd = _SPUDistributed(sfd, runtime, head_resources)


def _load_script(path):
    spec = importlib.util.spec_from_file_location('sfdeploy_user_job', path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not callable(getattr(module, 'main', None)):
        raise RuntimeError('%s defines no main(ctx) function' % path)
    # Ray workers cannot import the user's script by name: ship its functions by value.
    # Ray's vendored cloudpickle is the one that pickles tasks.
    import ray.cloudpickle
    ray.cloudpickle.register_pickle_by_value(module)
    return module


def _write(path, payload):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(payload, f, default=_jsonable)
    os.replace(tmp, path)


def _jsonable(value):
    # numpy scalars and arrays come back from sf.reveal; make them plain JSON.
    if hasattr(value, 'tolist'):
        return value.tolist()
    if hasattr(value, 'item'):
        return value.item()
    return str(value)


# SPU's TLS front (production with TLS): stunnel on the party's SPU port, in front of SPU on
# the head's loopback. brpc, which carries SPU's links, also answers cleartext on the port
# where it serves TLS; the front completes a mutual TLS handshake (a certificate signed by a
# peer's CA) before any byte reaches SPU, and refuses everything else. It lives exactly as
# long as the job: the runner starts it, and it dies with the runner (PR_SET_PDEATHSIG).
TLS_FRONT_CONF = """; Written by sfdeploy's job runner for this job; SPU's TLS front.
foreground = yes
pid =
debug = info
"""
TLS_FRONT_SERVICE = """
[{name}]
accept = {accept}
connect = {connect}
cert = {cert}
key = {key}
CAfile = {ca_cert}
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.2
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
"""
TLS_FRONT_START_SECONDS = 20


def _die_with_parent():
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_tls_front(front, directory):
    """Start the front (one stunnel, a service per SPU port) and wait until every port listens;
    raises with its log when it cannot."""
    conf = os.path.join(directory, 'spu-tls-front.conf')
    log = os.path.join(directory, 'spu-tls-front.log')
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(TLS_FRONT_CONF)
        for service in front['services']:
            f.write(TLS_FRONT_SERVICE.format(**dict(front, **service)))
    with open(log, 'w') as out:
        # No path given: the container's own stunnel.
        stunnel = front['stunnel'] or shutil.which('stunnel4') or shutil.which('stunnel')
        if not stunnel:
            raise RuntimeError('the SPU TLS front needs stunnel, which this image does not have (stunnel4 or stunnel '
                               'on its PATH); add it to the image or set job_spu_tls_front: false')
        proc = subprocess.Popen([stunnel, conf], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True, preexec_fn=_die_with_parent)
    deadline = time.time() + TLS_FRONT_START_SECONDS
    while time.time() < deadline:
        with open(log) as f:
            text = f.read()
        # stunnel's line for a bound port (job_config.STUNNEL_BOUND), once per service.
        if text.count(front['ready']) >= len(front['services']):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    with open(log) as f:
        # Without its "[ ]" lines (how it shut down), the end of the log says why.
        tail = ' | '.join([line.strip() for line in f.read().splitlines() if not line.startswith('[ ]')][-3:])
    raise RuntimeError('the SPU TLS front (stunnel on %s) did not start: %s'
                       % (', '.join(s['accept'] for s in front['services']), tail))


def stop_tls_front(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


SHUTDOWN_GRACE_SECONDS = 30


def _say(message):
    """A line in the job's log: the runner is the job's own process (not a module), its stderr is the log."""
    print('sfdeploy: ' + message, file=sys.stderr)  # pylint: disable=ansible-bad-function


def peers_not_answering(watch, log_text):
    """The peers sf.init still waits for: named by RayFed's last "waiting" line, else every peer."""
    found = re.findall(watch['waiting_pattern'], log_text)
    if found:
        named = [p.strip().strip('\'"') for p in found[-1].split(',') if p.strip()]
        named = [p for p in named if p in watch['peers']]
        if named:
            return named
    return sorted(watch['peers'])


def _watch_peers(spec, initialized):
    """sf.init (production) waits for every peer's RayFed to answer, for hours if one never starts
    its job. After ``peer_watch.timeout`` seconds without them, end the job naming those peers."""
    watch = spec.get('peer_watch')
    if not watch:
        return

    def give_up():
        if initialized.wait(watch['timeout']):
            return
        log = os.path.join(os.path.dirname(spec['status_path']), 'job.log')
        try:
            with open(log, errors='replace') as f:
                text = f.read()
        except (IOError, OSError):
            text = ''
        missing = peers_not_answering(watch, text)
        error = ('%s never answered within %d s (job_peer_timeout): %s. Their job did not start (each party must '
                 'run the job at the same time), or %s cannot reach them'
                 % (', '.join(missing), watch['timeout'],
                    ', '.join('%s at %s (rayfed port)' % (p, watch['peers'][p]) for p in missing),
                    spec.get('self_party')))
        _say(error)
        _write(spec['result_path'], {'ok': False, 'error': error, 'party': spec.get('self_party'),
                                     'peers_missing': missing})
        sys.stderr.flush()
        os._exit(1)

    threading.Thread(target=give_up, name='sfdeploy-peer-watch', daemon=True).start()


def _shutdown(sf, spec, result):
    """sf.shutdown() ends with a barrier across parties. A party that finishes first can close
    its RayFed proxy while a peer's last message is in flight, and the peer then exits inside
    the barrier. The job's answer is already known: keep it, note the error, and never let
    the shutdown outlive SHUTDOWN_GRACE_SECONDS."""

    def give_up():
        result['shutdown_error'] = 'sf.shutdown() did not finish in %d s' % SHUTDOWN_GRACE_SECONDS
        _write(spec['result_path'], result)
        os._exit(0)

    timer = threading.Timer(SHUTDOWN_GRACE_SECONDS, give_up)
    timer.daemon = True
    timer.start()
    try:
        sf.shutdown()
    except BaseException as exc:  # SystemExit from Ray included
        traceback.print_exc()
        result['shutdown_error'] = '%s: %s' % (type(exc).__name__, exc)
    finally:
        timer.cancel()


# The drivers' start barrier (production). A driver that has imported SecretFlow (prepared) listens
# on its RayFed port, which its peers may reach and nothing holds before sf.init, and knocks on each
# peer's: a peer is ready once a knock between the two drivers went through, in either direction
# (each side greets the other with the job's name and its party). When every peer is ready, or at
# the planned start (start_at) whichever comes first, the listener closes and sf.init begins.
# The planned start alone left each driver idle for whatever remained of job_start_margin after its
# import; the barrier ends that wait once the last party is ready. A peer whose RayFed already
# answers (it began, at its planned start) counts as ready: its port accepts and stays silent
# (gRPC waits for its client) for BARRIER_SILENCE_SECONDS. A driver's barrier greets at once, but
# a loaded host's can take longer than half a second to accept; read as RayFed (the wait was half
# a second), that peer was never greeted back, and once this driver's listener had closed it
# waited for its planned start (seen in a unit run on this loaded machine: 59 s after the others).
# A port that closes or resets the connection without the greeting (a listener closing) does not
# count. The listener is shut down as soon as the wait ends: its accept's timeout held every start
# up to 0.2 s more (measured in the production scenario: the three drivers began together, 0.20 s
# after the last was ready; 0.00-0.13 s in unit runs now).
BARRIER_GREETING = 'sfdeploy-ready'
BARRIER_POLL_SECONDS = 0.05
BARRIER_TALK_SECONDS = 0.5
BARRIER_SILENCE_SECONDS = 2.0


def _host_port(endpoint):
    host, port = endpoint.rsplit(':', 1)
    return host.strip('[]'), int(port)


def _greeting(conn, job, peers):
    """What the other side of conn said: (its party, 'greeted') for a peer's greeting for this job;
    (None, 'silent') when it said nothing within conn's timeout and kept the connection open (RayFed
    listens there); (None, 'closed') when it closed or reset it first, or said anything else."""
    data = b''
    try:
        while len(data) < 256 and not data.endswith(b'\n'):
            chunk = conn.recv(256)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        if not data:
            return None, 'silent'
    except OSError:
        pass
    words = data.decode('ascii', 'replace').split()
    if len(words) == 3 and words[0] == BARRIER_GREETING and words[1] == job and words[2] in peers:
        return words[2], 'greeted'
    return None, 'closed'


def wait_for_parties(barrier, start_at):
    """Wait until every peer's driver is ready, at most until start_at; the peers found ready."""
    job, peers = barrier['job'], barrier['peers']
    greeting = ('%s %s %s\n' % (BARRIER_GREETING, job, barrier['party'])).encode('ascii')
    ready, lock = set(), threading.Lock()
    all_ready, stop = threading.Event(), threading.Event()

    def mark(party):
        with lock:
            ready.add(party)
            if len(ready) == len(peers):
                all_ready.set()

    def answer(conn):
        with conn:
            conn.settimeout(BARRIER_SILENCE_SECONDS)
            try:
                conn.sendall(greeting)
            except OSError:
                return
            party, _said = _greeting(conn, job, peers)
            if party:
                mark(party)

    def serve(server):
        while not stop.is_set():
            try:
                conn, _unused = server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def knock(party, endpoint):
        while not stop.is_set() and party not in ready:
            try:
                with socket.create_connection(_host_port(endpoint), timeout=BARRIER_TALK_SECONDS) as conn:
                    conn.settimeout(BARRIER_SILENCE_SECONDS)
                    said, how = _greeting(conn, job, {party: endpoint})
                    if said == party:
                        conn.sendall(greeting)
                        conn.shutdown(socket.SHUT_WR)  # this side closes first (TIME_WAIT here, not on the port)
                    if how != 'closed':
                        # Greeted, or accepted in silence: its RayFed listens, its sf.init began.
                        mark(party)
                        return
            except OSError:
                pass
            stop.wait(BARRIER_POLL_SECONDS)

    server = None
    host, port = _host_port(barrier['listen'])
    try:
        family, kind, proto, _unused, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                   flags=socket.AI_PASSIVE)[0]
        server = socket.socket(family, kind, proto)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(address)
        server.listen(16)
        server.settimeout(BARRIER_POLL_SECONDS * 4)
    except OSError as exc:
        # The peers still learn of this driver from its knocks; sf.init will say why the port is taken.
        _say('the start barrier cannot listen on %s (%s); knocking only' % (barrier['listen'], exc))
        if server is not None:
            server.close()
        server = None
    for item in sorted(peers.items()):
        # Not joined: a knock that hangs (a peer's host drops it) must not hold back this start.
        threading.Thread(target=knock, args=item, daemon=True).start()
    server_thread = threading.Thread(target=serve, args=(server,), daemon=True) if server else None
    if server_thread:
        server_thread.start()
    try:
        all_ready.wait(max(0.0, start_at - time.time()))
    finally:
        stop.set()
        if server_thread:
            try:  # wakes its accept now (Linux), instead of at its timeout
                server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            server_thread.join(BARRIER_TALK_SECONDS * 2)
            server.close()  # sf.init binds the port next
    with lock:
        found = sorted(ready)
    ahead = start_at - time.time()
    if len(found) == len(peers):
        _say('every party is ready; the job begins %.1f s before its planned start' % max(0.0, ahead))
    else:
        _say('the planned start came; not ready yet: %s' % ', '.join(sorted(set(peers) - set(found))))
    return found


# How long the job waits for its Ray head's port before it gives up (a head that restarts is back
# well within it). ray.init itself would retry a head that does not listen for about 140 s (Ray 2.9)
# and then raise a ConnectionError without a message, while the other parties wait. The ray role's
# node probe asks the same way (roles/ray/files/ray_nodes.py, gcs_answers, one try); each of the two
# files runs alone on the host, with only the standard library, so each has its own few lines.
RAY_HEAD_WAIT_SECONDS = 15


def ray_head_unanswered(address, seconds=None):
    """None once the Ray head's GCS port at address ("host:port", as job_config writes it) accepts
    a connection; the last error if it does not within seconds (RAY_HEAD_WAIT_SECONDS)."""
    endpoint = _host_port(address)
    deadline = time.time() + (RAY_HEAD_WAIT_SECONDS if seconds is None else seconds)
    while True:
        try:
            socket.create_connection(endpoint, timeout=2).close()
            return None
        except OSError as exc:
            if time.time() >= deadline:
                return exc
            time.sleep(0.5)


def run(spec):
    # What needs no peer comes first: the Ray head's check, the script, SecretFlow's import (several
    # seconds, more on a loaded host) and the TLS front. Then the driver waits for the instant the
    # parties agreed on (job_process.planned_start), so that their sf.init calls begin together
    # whatever forks is; the wait overlaps the import, so a start planned a few seconds ahead
    # costs the job little or nothing.
    address = spec['init'].get('address')
    unanswered = address and ray_head_unanswered(address)
    if unanswered:
        raise RuntimeError('the Ray head at %s does not answer (%s): its node is not running; playbooks/status.yml '
                           'shows which, and the deploy playbook starts it again' % (address, unanswered))
    module = _load_script(spec['script'])

    import secretflow as sf
    import secretflow.device.device.spu as spu_module

    place_spu_runtimes_on_heads(spu_module, sf.__version__, spec.get('head_resources') or {})
    if spec['mode'] == 'production':
        import fed.proxy.barriers

        rayfed_proxies_take_no_cpu(fed.proxy.barriers)
    front = None
    try:
        if spec.get('tls_front'):
            front = start_tls_front(spec['tls_front'], os.path.dirname(spec['status_path']))
        prepared = time.time()
        start_at = spec.get('start_at') or 0
        ready = None
        if start_at > prepared and spec.get('start_barrier'):
            ready = wait_for_parties(spec['start_barrier'], start_at)
        delay = start_at - time.time()
        if delay > 0 and ready is None:
            time.sleep(delay)
        started = time.time()
        result = {'party': spec.get('self_party'), 'prepared': prepared, 'started': started}
        if ready is not None:
            result['peers_ready'] = ready
        _write(spec['status_path'], {'phase': 'starting', 'pid': os.getpid(), 'started': started})
        result = _run_job(sf, spec, module, result, started)
    finally:
        stop_tls_front(front)
    return result


def _run_job(sf, spec, module, result, started):
    initialized = threading.Event()
    _watch_peers(spec, initialized)
    sf.init(**spec['init'])
    initialized.set()
    _write(spec['status_path'], {'phase': 'initialized', 'pid': os.getpid(), 'started': started})
    try:
        pyu = dict((p, sf.PYU(p)) for p in spec['parties'])
        spu = None
        if spec.get('spu'):
            spu = sf.SPU(spec['spu']['cluster_def'], link_desc=spec['spu'].get('link_desc') or None)
        ctx = JobContext(sf, spec, pyu, spu)
        value = module.main(ctx)
        result['result'] = json.loads(json.dumps(value, default=_jsonable))
        result['finished'] = time.time()
        result['ok'] = True
    except BaseException:
        _shutdown(sf, spec, result)
        raise
    _shutdown(sf, spec, result)
    return result


def main(argv):
    # A session of its own (already so when started on the host; not under a container's exec),
    # so that stopping the job ends everything it started.
    try:
        os.setsid()
    except OSError:
        pass
    with open(argv[1]) as f:
        spec = json.load(f)
    try:
        result = run(spec)
        rc = 0
    except BaseException as exc:  # report everything, including KeyboardInterrupt
        traceback.print_exc()
        result = {'ok': False, 'error': '%s: %s' % (type(exc).__name__, exc), 'party': spec.get('self_party')}
        rc = 1
    _write(spec['result_path'], result)
    sys.stdout.flush()
    sys.stderr.flush()
    # Ray and gRPC threads can keep an interpreter alive after shutdown; the job is done.
    os._exit(rc)


if __name__ == '__main__':
    main(sys.argv)
