# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a validated topology (see topology.py) into what SecretFlow's API takes.

Every key SecretFlow reads is named here once, with the version that reads it, because
the wrong key is silently ignored (SPU's ``listen_addr`` vs ``listen_address``).
"""

from __future__ import annotations

import re

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.topology import SPU_LINK_OPTIONS

TLS_KEYS = ('cert', 'key', 'ca_cert')
# The Ray resource a party head carries (the ray role sets it); what listens for peers runs there.
HEAD_RESOURCE = 'sfdeploy_head_%s'
HEAD_RESOURCE_AMOUNT = 0.001
# What the tools the job drives write in its log, by version: the job reads these lines.
# While sf.init waits for its peers (production), RayFed (0.2, the ping barrier of fed.init) logs
# the parties that have not answered yet: "Try ping ['carol'] at 3 attemp, up to 3600 attemps."
RAYFED_WAITING_FOR_PEERS = r"Try ping \[([^\]]*)\] at"
# Errors after which a production job can only hang until its timeout (RayFed keeps the sender
# waiting): the refusal of a class outside the deserialization allowlist (SecretFlow 1.x).
FATAL_LOG_PATTERNS = (
    (re.compile(r"UnpicklingError: global '([^']+)' is forbidden"),
     "a peer sent an object of class %s, which is outside the deserialization allowlist (job_allowed_list); "
     "it was refused"),
)
# stunnel (5.x, at debug = info) logs this once a service's port is bound; "Configuration
# successful" comes before the bind, which can still fail (the port in use).
STUNNEL_BOUND = ') bound to '


class JobConfigError(ValueError):
    pass


def parse_version(version):
    """'1.11.0b1' -> (1, 11, 0). Unknown or empty -> a version newer than any we know."""
    numbers = re.findall(r'\d+', str(version or ''))[:3]
    if not numbers:
        return (999, 0, 0)
    return tuple(int(n) for n in numbers + ['0'] * (3 - len(numbers)))


def spu_listen_key(secretflow_version):
    """The cluster_def node key SPU binds to. SecretFlow before 0.8 read ``listen_addr``;
    every release since reads ``listen_address`` and ignores ``listen_addr`` silently."""
    return 'listen_addr' if parse_version(secretflow_version) < (0, 8, 0) else 'listen_address'


def allowlist_kwargs(secretflow_version, allowed_list):
    """sf.init keyword arguments that carry the cross-silo deserialization allowlist."""
    if allowed_list is None:
        return {}
    if parse_version(secretflow_version) < (1, 1, 0):
        return {'cross_silo_serializing_allowed_list': allowed_list}
    return {'cross_silo_comm_options': {'serializing_allowed_list': allowed_list}}


def head_resources(topology):
    """party -> the Ray resource its head carries (for the job runner's SPU runtime placement)."""
    return dict((party, HEAD_RESOURCE % party) for party in topology['parties'])


def proxy_placement(secretflow_version, self_party):
    """RayFed's options that put its proxies, which listen for the peers, on this party's head."""
    if parse_version(secretflow_version) < (1, 1, 0):
        return {}
    label = {HEAD_RESOURCE % self_party: HEAD_RESOURCE_AMOUNT}
    return {'cross_silo_comm_options': {'send_resource_label': dict(label), 'recv_resource_label': dict(label)}}


def _endpoint(host, port):
    return '%s:%d' % (host, port)


def _spu_ports(info, device):
    """(public port, loopback port or None) of a party's SPU: the default device (``device`` None)
    or a named one (topology ``spu_devices``; a peer from a federation file has no loopback port)."""
    if device is None:
        return info['spu_port'], info.get('spu_local_port')
    ports = info['spu_devices'][device]
    return ports['port'], ports.get('local_port')


def spu_parties(topology, device=None):
    """The parties of the default SPU device (every party) or of a named one."""
    if device is None:
        return list(topology['parties'])
    return list(topology['spu_devices'][device]['parties'])


def spu_cluster_def(topology, protocol='SEMI2K', field='FM128', secretflow_version=None, tls=None,
                    tls_front=False, device=None):
    """SPU cluster_def: one node per party, on the party head's SPU port. ``device`` names one of
    the topology's named SPU devices (its parties, its ports); None is the default over every party.

    ``tls`` maps party -> {'cert', 'key', 'ca_cert'} paths on that party's head; the same
    files serve as SPU server and client options (mutual TLS).

    ``tls_front``: the party heads run the job's TLS front (see spu_tls_front) on their SPU port.
    SPU itself then listens on the head's loopback (``spu_local_port``) and peers dial the front, which
    admits only clients whose certificate a peer CA signed. It exists because SPU's brpc server
    also answers cleartext on its TLS port. SPU keeps its server options (it enables TLS for
    server and client together) and its client options, so its own links to peers stay mutual TLS."""
    listen_key = spu_listen_key(secretflow_version)
    nodes = []
    for party in spu_parties(topology, device):
        info = topology['party_info'][party]
        port, local_port = _spu_ports(info, device)
        if tls_front and tls and local_port:  # peers from a federation file have none
            listen = _endpoint('127.0.0.1', local_port)
        else:
            listen = _endpoint(info['listen_host'], port)
        node = {
            'party': party,
            'address': _endpoint(info['address'], port),
            listen_key: listen,
        }
        if tls and party in tls:
            opts = {
                'certificate_path': tls[party]['cert'],
                'private_key_path': tls[party]['key'],
                'ca_file_path': tls[party]['ca_cert'],
                'verify_depth': 1,
            }
            node['tls_opts'] = {'server_ssl_opts': dict(opts), 'client_ssl_opts': dict(opts)}
        nodes.append(node)
    return {'nodes': nodes, 'runtime_config': {'protocol': protocol, 'field': field}}


def spu_tls_front(topology, self_party, tls_config, stunnel, default_device=True):
    """What the job runner's SPU TLS front needs (see spu_cluster_def's ``tls_front``): for each SPU
    device of this party (the default one, unless ``default_device`` is false, and every named device
    it is in), listen on its public port and hand SPU on the loopback what passed mutual TLS."""
    info = topology['party_info'][self_party]
    devices = ([None] if default_device else []) + sorted(info.get('spu_devices') or {})
    services = []
    for device in devices:
        port, local_port = _spu_ports(info, device)
        services.append({'name': 'spu' if device is None else 'spu.%s' % device,
                         'accept': _endpoint(info['listen_host'], port),
                         'connect': _endpoint('127.0.0.1', local_port)})
    return {
        'stunnel': stunnel,
        'ready': STUNNEL_BOUND,
        'services': services,
        'cert': tls_config['cert'],
        'key': tls_config['key'],
        'ca_cert': tls_config['ca_cert'],
    }


def spu_link_desc(options, device_options=None):
    """Validated SPU link_desc (None when empty); a named device's own options win over the job's."""
    options = dict(options or {}, **(device_options or {}))
    unknown = sorted(set(options) - set(SPU_LINK_OPTIONS))
    if unknown:
        raise JobConfigError('spu_link_desc: unknown option(s) %s; SPU accepts only %s'
                             % (', '.join(unknown), ', '.join(SPU_LINK_OPTIONS)))
    return options or None


def heu_config(device):
    """sf.HEU's config for one of the topology's named HEU devices (``heu_devices``)."""
    return {
        'sk_keeper': {'party': device['sk_keeper']},
        'evaluators': [{'party': p} for p in device['evaluators']],
        'mode': 'PHEU',
        'he_parameters': {'schema': device['schema'], 'key_pair': {'generate': {'bit_size': device['key_size']}}},
    }


def cluster_config(topology, self_party):
    """RayFed cluster_config for production: every party's address, our own listen address."""
    if self_party not in topology['party_info']:
        raise JobConfigError('self_party %r is not a party of this federation (%s)'
                             % (self_party, ', '.join(topology['parties'])))
    parties = {}
    for party in topology['parties']:
        info = topology['party_info'][party]
        parties[party] = {
            'address': _endpoint(info['address'], info['rayfed_port']),
            'listen_addr': _endpoint(info['listen_host'], info['rayfed_port']),
        }
    return {'parties': parties, 'self_party': self_party}


def peer_watch(topology, self_party, timeout):
    """What the job runner needs to end a production job whose peers never answer: the peers'
    RayFed endpoints, the bound in seconds, and the log line that names those still awaited."""
    if topology['mode'] != 'production' or not timeout:
        return None
    return {'timeout': int(timeout), 'peers': _rayfed_peers(topology, self_party),
            'waiting_pattern': RAYFED_WAITING_FOR_PEERS}


def _rayfed_peers(topology, self_party):
    """party -> the RayFed endpoint this party dials, for every party but self_party."""
    return dict((party, _endpoint(info['address'], info['rayfed_port']))
                for party, info in topology['party_info'].items() if party != self_party)


def start_barrier(topology, self_party, job_name):
    """What the job runner needs to begin as soon as every party's driver is ready, before the
    planned start (job_runner.wait_for_parties): this party's RayFed listen address (the driver
    listens there until its sf.init), the peers' RayFed endpoints, and the job's name, which the
    drivers tell each other. None outside production or without peers."""
    if topology['mode'] != 'production' or self_party not in topology['party_info']:
        return None
    peers = _rayfed_peers(topology, self_party)
    if not peers:
        return None
    info = topology['party_info'][self_party]
    return {'listen': _endpoint(info['listen_host'], info['rayfed_port']), 'peers': peers, 'job': job_name,
            'party': self_party}


def init_kwargs(topology, self_party=None, secretflow_version=None, tls_config=None, allowed_list=None,
                extra=None):
    """Keyword arguments of sf.init for the topology's mode.

    simulation: one Ray cluster; ``parties`` + the simulation head's GCS address.
    production: this party's own Ray cluster + RayFed cluster_config (+ TLS, allowlist).
    """
    mode = topology['mode']
    if mode == 'simulation':
        head = topology['nodes'][topology['simulation_head']]
        kwargs = {'parties': list(topology['parties']), 'address': head['ray_address']}
    else:
        head = topology['nodes'][topology['party_info'][self_party]['head']] \
            if self_party in topology['party_info'] else None
        kwargs = {'cluster_config': cluster_config(topology, self_party), 'address': head['ray_address']}
        if tls_config:
            missing = [k for k in TLS_KEYS if not tls_config.get(k)]
            extra_keys = sorted(set(tls_config) - set(TLS_KEYS))
            if missing or extra_keys:
                raise JobConfigError('tls_config takes exactly the keys %s (file paths); missing %s, unknown %s'
                                     % (', '.join(TLS_KEYS), missing or 'none', extra_keys or 'none'))
            kwargs['tls_config'] = dict((k, tls_config[k]) for k in TLS_KEYS)
        kwargs.update(allowlist_kwargs(secretflow_version, allowed_list))
        for key, value in proxy_placement(secretflow_version, self_party).items():
            kwargs[key] = dict(kwargs.get(key) or {}, **value)
    kwargs.update(extra or {})
    return kwargs
