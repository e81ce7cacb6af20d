#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_job
short_description: Run a SecretFlow job on a deployed federation
version_added: "0.1.0"
description:
  - Runs a user's SecretFlow script as the job's driver on this host, with C(sf.init)
    arguments, PYU devices and an SPU device derived from the deployment's topology
    (the C(federation_topology) fact set by the C(sfdeploy.secretflow.federation) role),
    never typed by hand.
  - In C(simulation) mode the job runs once, on the simulation head, and drives every party
    (C(sf.init(parties=..., address=head))).
  - In C(production) mode each party's head runs the same job at the same time with its own
    C(self_party) (RayFed C(cluster_config), optional TLS and deserialization allowlist).
    Use I(state=started) on every party, then I(state=finished), so that all parties start
    together whatever C(forks) is.
  - The user's script defines C(main(ctx)) and returns a JSON-serialisable value. C(ctx) has
    C(sf), C(mode), C(parties), C(self_party), C(args), C(party_args), C(pyu) (party -> PYU),
    C(spu) (the SPU device over every party, or None), C(spus) (the topology's named SPU devices,
    name -> SPU, each built when the script first reads it), C(heus) (the named HEU devices, the
    same way) and C(workdir). Functions of the
    script are pickled by value, so Ray workers need not import it.
  - Named SPU devices (C(federation_spu_devices)) come from the topology with their parties,
    protocol, field and link options; their ports are the topology's, behind the same TLS front
    as the default device. In production every party's driver sees every device (RayFed needs the
    same calls on every party), but only the device's parties run its SPU runtime.
  - The job runs in a process session of its own; a timeout ends it and everything it started.
  - The action plugin of the same name reads I(src) on the controller and hands its content
    to the module, so a script need not be copied first.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  state:
    description:
      - C(run) starts the job and waits for its result.
      - C(started) starts the job detached and returns at once (with the start time).
      - C(finished) waits for a job started earlier under the same I(name) and returns its
        result (see I(wait)); while the job still runs, C(phase) says what its driver last reported.
      - C(watched) (production, on every party head in one task) collects the job in rounds of I(wait)
        seconds until it ends, and shares each head's state with the others through I(watch_dir) on the
        controller (the action plugin does this); a head whose peer failed or became unreachable stops its
        own job at once and returns C(stopped_after_failure_of). One result per head, however long the job.
      - C(stopped) ends a running job of that I(name), if any.
    type: str
    choices: [run, started, finished, watched, stopped]
    default: run
  watch_dir:
    description:
      - With I(state=watched), a directory on the controller, the same for every head of the task (see
        C(ansible.builtin.tempfile)); the heads' watches leave one small state file each there.
    type: path
  mode:
    description: Deployment mode; decides how C(sf.init) is called.
    type: str
    choices: [simulation, production]
    required: true
  topology:
    description: The deployment's topology, the C(federation_topology) fact. Required to start a job.
    type: dict
  self_party:
    description: The party this host drives. Required in production mode.
    type: str
  python:
    description:
      - The SecretFlow environment's interpreter on this host (with I(container), in the container). Required to
        start a job.
    type: str
  script:
    description: Path of the job script on this host. Exactly one of I(script), I(content) (or I(src)).
    type: path
  content:
    description: The job script's source. The action plugin fills it from I(src).
    type: str
  src:
    description: Path of the job script on the controller (read by the action plugin).
    type: path
  args:
    description: Job arguments, available to the script as C(ctx.args) (the same for every party).
    type: dict
    default: {}
  party_args:
    description:
      - Private job arguments, party -> its arguments, as base64-encoded JSON (so that C(no_log)
        hides the value whole). Available to the script as C(ctx.party_args).
      - In production give each head only its own party's, as the job role does, so that they stay
        on that host; a production driver keeps only its own party's entry.
    type: str
  name:
    description: The job's name; its files live in I(workdir)/I(name).
    type: str
    default: sfjob
  workdir:
    description: Directory holding job directories on this host.
    type: path
    default: /var/tmp/sfdeploy-jobs
  timeout:
    description: Seconds after the job's start at which it is ended and the task fails.
    type: int
    default: 900
  spu:
    description: Whether to build an SPU device spanning every party.
    type: bool
    default: true
  spu_protocol:
    description: SPU protocol (a C(spu.ProtocolKind) name).
    type: str
    default: SEMI2K
  spu_field:
    description: SPU field (a C(spu.FieldType) name).
    type: str
    default: FM128
  spu_link_desc:
    description:
      - SPU link options (C(connect_retry_times), C(connect_retry_interval_ms), C(recv_timeout_ms), ...).
        Unknown keys are refused rather than silently ignored.
    type: dict
    default: {}
  tls_config:
    description:
      - Production only. File paths on this host of this party's certificate, key and the
        peers' CA bundle (keys C(cert), C(key), C(ca_cert)). Also used for SPU mutual TLS.
    type: dict
  spu_tls_front:
    description:
      - Production with I(tls_config) only. For the job's lifetime, C(stunnel) holds this party's SPU
        ports (the default device's and each named device's it is in) and admits only clients with a
        certificate from a peer's CA; SPU listens behind it on the head's loopback, on the topology's
        C(spu_local_port) (C(spu_local.NAME) for a named device). Fails when stunnel is not installed.
    type: bool
    default: false
  allowed_list:
    description:
      - Production only. The cross-silo deserialization allowlist (module -> list of names).
    type: dict
  secretflow_version:
    description: The installed SecretFlow version, to pick the keys that version reads.
    type: str
  start_at:
    description:
      - With I(state=started) or C(run), the epoch time (this host's clock) at which the driver begins its
        work (C(sf.init)) at the latest; it imports SecretFlow before it waits. The same value on every party
        makes their starts agree whatever C(forks) is. Ignored when it is in the past or more than 120 seconds
        ahead (clocks that disagree must not hold a job back).
      - In production the drivers begin earlier, together, once every party's driver is ready (the start
        barrier) - while it waits, a driver listens on its own RayFed port and knocks on its peers', greeting
        them with the job's name and its party; the planned start bounds the wait for a party that never
        comes.
    type: float
  peer_timeout:
    description:
      - Production only. Seconds the job waits in C(sf.init) for its peers' RayFed to answer (each peer's job
        must be running) before it fails naming the peers that never answered. C(0) waits as long as RayFed
        does (hours). Once every peer has answered, I(timeout) alone bounds the job.
    type: int
    default: 180
  wait:
    description:
      - With I(state=finished), seconds to wait for the result before returning RV(finished=false)
        with the job still running. Lets a playbook watch every party in short rounds and stop
        them all as soon as one fails. C(0) waits until the job ends or I(timeout).
    type: int
    default: 0
  env:
    description: Extra environment variables for the job's driver.
    type: dict
    default: {}
  container:
    description:
      - Run the driver in this running container (the party head's Ray node, C(ray_runtime=container)) with
        I(container_engine) C(exec), instead of on the host. I(python) is then the image's interpreter, the job's
        directory must be mounted at its own path, and the SPU TLS front runs the image's C(stunnel4) or C(stunnel).
    type: str
  container_engine:
    description:
      - The container engine's command (C(podman) or C(docker), a path or a name); C(auto) is podman if installed,
        else docker.
    type: str
    default: auto
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
    details: In check mode nothing is started; the task returns the spec the job would run with.
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: none
notes:
  - The job's result is returned as RV(result); its log stays in the job directory.
  - "The module reports C(changed=false) when a job ran successfully, since running a job does
    not change the deployment; a job that writes outputs may return C({'changed': true})."
'''

EXAMPLES = r'''
- name: Run the example job in simulation mode (on the simulation head only)
  sfdeploy.secretflow.sf_job:
    mode: simulation
    topology: "{{ federation_topology }}"
    python: /opt/secretflow/venv/bin/python
    src: examples/secure_compare.py
    args:
      values: {alice: [5, 10, 20], bob: [7, 30]}
  when: inventory_hostname == federation_topology.simulation_head

- name: Start the job on every party's head at the same time (production)
  sfdeploy.secretflow.sf_job:
    state: started
    mode: production
    topology: "{{ federation_topology }}"
    self_party: "{{ federation_node.party }}"
    python: /opt/secretflow/venv/bin/python
    src: examples/secure_compare.py
  when: federation_node.party_head

- name: Collect each party's result
  sfdeploy.secretflow.sf_job:
    state: finished
    mode: production
    topology: "{{ federation_topology }}"
    self_party: "{{ federation_node.party }}"
    python: /opt/secretflow/venv/bin/python
  when: federation_node.party_head

# PSI between bob and carol of a three-party federation. The inventory defines the device once
# (federation_spu_devices - {psi - {parties - [bob, carol]}}), so the topology gives it its ports;
# each party's head receives only its own input path (job_party_args, set per party).
# examples/psi.py reads ctx.spus['psi'] and ctx.party_args[party]['psi_input'].
- name: Start the PSI on every party's head, each with its own private arguments
  sfdeploy.secretflow.sf_job:
    state: started
    mode: production
    name: psi
    topology: "{{ federation_topology }}"
    self_party: "{{ federation_node.party }}"
    python: /opt/secretflow/venv/bin/python
    src: examples/psi.py
    party_args: "{{ {federation_node.party: job_party_args} | to_json | b64encode }}"
  when: federation_node.party_head

- name: Watch every head's PSI until it ends (a failure on one party stops the others)
  sfdeploy.secretflow.sf_job:
    state: watched
    watch_dir: /tmp/psi-watch  # a directory on the controller, e.g. from ansible.builtin.tempfile
    mode: production
    name: psi
    self_party: "{{ federation_node.party }}"
  register: psi
  when: federation_node.party_head
'''

RETURN = r'''
phase:
  description: While the job still runs, what its driver last reported (C(starting), C(initialized)).
  returned: when a collected job is still running
  type: str
stopped_after_failure_of:
  description: With I(state=watched), the parties whose failure made this head stop its own job.
  returned: when another party failed first
  type: list
  elements: str
rc:
  description: 0 when the job succeeded.
  returned: when a job ran or was collected
  type: int
party:
  description: The party this host drove (null in simulation mode).
  returned: always
  type: str
result:
  description: What the script's C(main(ctx)) returned.
  returned: success
  type: raw
  sample: {"total": 72, "richest": "bob"}
started:
  description:
    - Epoch seconds at which the driver begins its work (see I(start_at)) - with I(state=started), the planned
      instant; once collected, the instant the driver really began, after its import of SecretFlow (earlier
      than planned once every party was ready, later when it was launched late or its import ended late).
  returned: when a job was started or collected
  type: float
pid:
  description: The driver's process id (its session holds everything the job starts).
  returned: when a job was started with I(state=started)
  type: int
spec:
  description: What the driver would run with (C(sf.init) arguments, SPU cluster definition, ...).
  returned: in check mode, when a job would start
  type: dict
duration:
  description: Seconds from the driver's start (RV(started)) to its result.
  returned: when a job was collected
  type: float
log_tail:
  description: The last lines of the job's log.
  returned: when a job was collected
  type: list
  elements: str
log_path:
  description: The job's log file on this host.
  returned: always
  type: str
finished:
  description: False when I(state=finished) returned after I(wait) with the job still running.
  returned: when a job was collected
  type: bool
shutdown_error:
  description:
    - The job computed its result, but C(sf.shutdown()) then failed or hung (a RayFed race when parties
      finish at different moments); the result stands.
  returned: when it happened
  type: str
error:
  description: Why the job failed (the script's exception, a timeout, a stopped peer, peers that never answered).
  returned: failure
  type: str
peers_missing:
  description: Production - the peers that never answered within I(peer_timeout), when that ended the job.
  returned: when it happened
  type: list
  elements: str
'''

import base64
import inspect
import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import job_config, job_runner
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.job_process import JobDir, fatal_error, job_path, log_tail


# stunnel's name on Debian (stunnel4) and elsewhere.
STUNNEL_NAMES = ('stunnel4', 'stunnel')


def argument_spec():
    return dict(
        state=dict(type='str', default='run', choices=['run', 'started', 'finished', 'watched', 'stopped']),
        watch_dir=dict(type='path'),
        mode=dict(type='str', required=True, choices=['simulation', 'production']),
        topology=dict(type='dict'),
        self_party=dict(type='str'),
        python=dict(type='str'),
        script=dict(type='path'),
        content=dict(type='str'),
        src=dict(type='path'),
        args=dict(type='dict', default={}),
        name=dict(type='str', default='sfjob'),
        workdir=dict(type='path', default='/var/tmp/sfdeploy-jobs'),
        timeout=dict(type='int', default=900),
        spu=dict(type='bool', default=True),
        spu_protocol=dict(type='str', default='SEMI2K'),
        spu_field=dict(type='str', default='FM128'),
        spu_link_desc=dict(type='dict', default={}),
        tls_config=dict(type='dict'),
        spu_tls_front=dict(type='bool', default=False),
        allowed_list=dict(type='dict'),
        secretflow_version=dict(type='str', no_log=False),
        peer_timeout=dict(type='int', default=180),
        start_at=dict(type='float'),
        wait=dict(type='int', default=0),
        env=dict(type='dict', default={}),
        party_args=dict(type='str', no_log=True),
        container=dict(type='str'),
        container_engine=dict(type='str', default='auto'),
    )


def build_spec(p, script_path, check_mode=False):
    """The runner's spec: everything derived from the topology, nothing typed by hand."""
    topology = dict(p['topology'], mode=p['mode'])
    self_party = p['self_party'] if p['mode'] == 'production' else None
    tls_by_party = None
    if p['tls_config'] and self_party:
        # Each party reads only its own node's options; the same layout serves every node.
        tls_by_party = dict((party, p['tls_config']) for party in topology['parties'])
    spec = {
        'mode': p['mode'],
        'parties': list(topology['parties']),
        'self_party': self_party,
        'init': job_config.init_kwargs(topology, self_party, p['secretflow_version'], p['tls_config'],
                                       p['allowed_list']),
        'script': script_path,
        'args': p['args'],
        'party_args': _party_args(p['party_args'], self_party),
        # The Ray resource of each party's head: the runner places SPU's runtimes there.
        'head_resources': job_config.head_resources(topology),
        'spu': None,
        'peer_watch': job_config.peer_watch(topology, self_party, p['peer_timeout']),
        'start_barrier': job_config.start_barrier(topology, self_party, p['name']),
    }
    # The front needs the TLS files; without tls_config there is no front.
    front = bool(p['spu_tls_front'] and tls_by_party)
    version = p['secretflow_version']
    if p['spu']:
        spec['spu'] = {
            'cluster_def': job_config.spu_cluster_def(topology, p['spu_protocol'], p['spu_field'], version,
                                                      tls_by_party, front),
            'link_desc': job_config.spu_link_desc(p['spu_link_desc']),
        }
    # Named SPU devices (the topology's spu_devices): every party's driver describes every device,
    # as RayFed needs the same calls on every party; the runner builds each one when first used.
    spec['spus'] = {}
    for name, device in sorted((topology.get('spu_devices') or {}).items()):
        spec['spus'][name] = {
            'parties': list(device['parties']),
            'cluster_def': job_config.spu_cluster_def(topology, device['protocol'], device['field'], version,
                                                      tls_by_party, front, device=name),
            'link_desc': job_config.spu_link_desc(p['spu_link_desc'], device['link_desc']),
        }
    # Named HEU devices: their config and the SPU field whose scale they share (FM64...).
    spec['heus'] = dict((name, {'config': job_config.heu_config(device), 'field': device['field']})
                        for name, device in sorted((topology.get('heu_devices') or {}).items()))
    if front:
        spec['tls_front'] = job_config.spu_tls_front(topology, self_party, p['tls_config'],
                                                     None if p['container'] else _stunnel(self_party, check_mode),
                                                     default_device=p['spu'])
        if not spec['tls_front']['services']:
            del spec['tls_front']
    return spec


def _party_args(encoded, self_party):
    """The decoded party_args; in production only this party's own entry is kept."""
    if not encoded:
        return {}
    try:
        value = json.loads(base64.b64decode(encoded).decode('utf-8'))
    except (ValueError, TypeError) as exc:
        raise job_config.JobConfigError('party_args is not base64-encoded JSON: %s' % type(exc).__name__)
    if not isinstance(value, dict):
        raise job_config.JobConfigError('party_args must map each party to its arguments')
    if self_party:
        value = dict((party, args) for party, args in value.items() if party == self_party)
    return value


def _shown(spec):
    """The spec as the task may show it: private arguments by party name only."""
    return dict(spec, party_args=sorted(spec.get('party_args') or {}))


def _stunnel(party, check_mode):
    """stunnel's path on this host. Check mode only previews: the tls role may not have run yet."""
    for name in STUNNEL_NAMES:
        path = shutil.which(name, path=os.environ.get('PATH', '') + ':/usr/bin:/usr/sbin:/bin')
        if path:
            return path
    if check_mode:
        return STUNNEL_NAMES[0]
    raise job_config.JobConfigError(
        '%s: spu_tls_front needs stunnel, which is not installed on this host (package stunnel4 on Debian, '
        'stunnel on Red Hat; the tls role installs it)' % party)


def _collect(job, started, timeout, wait=0):
    """Wait for the job's result; ``wait`` > 0 returns early (finished=False) if still running."""
    deadline = started + timeout
    if wait:
        deadline = min(deadline, time.time() + wait)
    result, reason = job.wait(deadline, stop_at_deadline=not wait or deadline >= started + timeout)
    now = time.time()
    # The driver's own start (after its wait for start_at): a driver that began late is not
    # hidden behind the planned instant, and the duration is the job's, not the launch's.
    began = (result or {}).get('started') or started
    out = {
        'started': began,
        'finished': reason != 'still running',
        'duration': round(((result or {}).get('finished') or now) - began, 3),
        'log_tail': log_tail(job.log),
        'log_path': job.log,
    }
    if reason == 'still running':
        fatal = fatal_error(job.log)
        if not fatal:
            # What the driver last said it was doing (starting, initialized).
            out['phase'] = (job.status_phase() or 'starting')
            return out, None
        # It would only hang until its timeout: end it now.
        job.stop()
        out.update(finished=True, rc=1, log_tail=log_tail(job.log))
        return out, fatal
    if result and result.get('ok'):
        value = result.get('result')
        out.update(rc=0, result=value,
                   changed=bool(isinstance(value, dict) and value.get('changed')))
        if result.get('shutdown_error'):
            out['shutdown_error'] = result['shutdown_error']
        return out, None
    if result:
        reason = result.get('error') or 'the job failed'
        if result.get('peers_missing'):
            out['peers_missing'] = result['peers_missing']
    out['rc'] = 1
    return out, reason


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[('script', 'content')],
        required_if=[('mode', 'production', ('self_party',)),
                     ('state', 'run', ('topology', 'python')),
                     ('state', 'started', ('topology', 'python'))],
        supports_check_mode=True,
    )
    p = module.params
    party = p['self_party'] if p['mode'] == 'production' else None
    job = JobDir(job_path(p['workdir'], p['name'], party))
    base = {'party': party, 'log_path': job.log, 'changed': False}

    if p['state'] == 'stopped':
        running = job.running()
        if running and not module.check_mode:
            job.stop()
        out = dict(base)
        out['changed'] = running
        module.exit_json(**out)

    if p['state'] in ('finished', 'watched'):  # watched: the action plugin's rounds (one here)
        started = os.path.getmtime(job.pidfile) if os.path.exists(job.pidfile) else None
        if module.check_mode:
            module.exit_json(msg='check mode: would collect the job', **base)
        if started is None:
            error = 'no job named %s was started here' % p['name']
            module.fail_json(msg='%s: %s' % (party or 'simulation', error), error=error, **base)
        out, error = _collect(job, started, p['timeout'], p['wait'])
        _finish(module, dict(base, **out), error, party)

    # run / started: validate everything before anything starts.
    if not p['script'] and p['content'] is None:
        module.fail_json(msg='one of script, content (or src, through the action plugin) is required', **base)
    if p['script'] and not os.path.isfile(p['script']):
        module.fail_json(msg='script %s does not exist on this host' % p['script'], **base)
    try:
        spec = build_spec(p, p['script'] or os.path.join(job.path, 'job_script.py'), module.check_mode)
    except (job_config.JobConfigError, KeyError) as exc:
        module.fail_json(msg='invalid job configuration: %s' % exc, **base)
    engine = None
    if p['container']:
        engine = shutil.which('podman') or shutil.which('docker') if p['container_engine'] == 'auto' \
            else shutil.which(p['container_engine'])
        if not engine:
            module.fail_json(msg='the container engine %s is not installed here (container %s)'
                             % (p['container_engine'], p['container']), **base)
    if not p['container'] and not os.access(p['python'], os.X_OK):
        if module.check_mode:
            # A fresh host in check mode: the run would create the environment before the job.
            module.exit_json(msg='check mode: the job would run here, once %s exists' % p['python'],
                             spec=_shown(spec), **base)
        module.fail_json(msg='the job interpreter %s does not exist or is not executable' % p['python'], **base)

    if module.check_mode:
        # A run reports changed=false (a job does not alter the deployment); so does its preview.
        module.exit_json(msg='check mode: the job would run here', spec=_shown(spec), **base)
    if job.running():
        module.fail_json(msg='a job named %s is already running here (pid %s); stop it with state=stopped'
                         % (p['name'], job.pid()), **base)

    if p['content'] is not None:
        os.makedirs(job.path, mode=0o700, exist_ok=True)
        with open(spec['script'], 'w') as f:
            f.write(p['content'])
    container = (engine, p['container']) if p['container'] else None
    started = job.launch(p['python'], inspect.getsource(job_runner), spec, env=p['env'], start_at=p['start_at'],
                         container=container)
    if p['state'] == 'started':
        module.exit_json(started=started, pid=job.pid(), **base)
    out, error = _collect(job, started, p['timeout'], p['wait'])
    _finish(module, dict(base, **out), error, party)


def _finish(module, out, error, party):
    if error:
        out['error'] = error
        module.fail_json(msg='SecretFlow job failed on %s: %s' % (party or 'the simulation head', error), **out)
    module.exit_json(**out)


if __name__ == '__main__':
    main()
