# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployment's topology: who is in which party, who leads it, which inventory hosts are
one machine, and every port.

This is the single place that turns the inventory into a validated layout. Roles and
the job module never compute addresses or ports themselves; they read the result.

Pure Python with no Ansible imports, so it runs in the controller (action plugin),
on hosts (modules) and in unit tests alike. ``build_topology`` runs its phases in order;
each phase is a function of its own and reports every problem it finds (TopologyError).
"""

from __future__ import annotations

import ipaddress
import re

# Every port a SecretFlow node may open, as an offset inside the node's port block.
# A node's block starts at ``port_base + slot * port_block_size`` where ``slot`` counts
# the nodes that share a machine or an address (several parties on one machine, the seed's
# WSL case). Distinct slots therefore never collide, whatever the inventory says.
PORT_OFFSETS = {
    'ray_gcs': 0,
    'ray_node_manager': 1,
    'ray_object_manager': 2,
    'ray_client_server': 3,
    'ray_dashboard_agent_grpc': 4,
    'ray_dashboard_agent_listen': 5,
    'ray_metrics_export': 6,
    'ray_runtime_env_agent': 7,
    'rayfed': 8,
    'spu': 9,
    'ray_dashboard': 10,
    'ray_dashboard_grpc': 11,
    'spu_local': 12,
}
# Named SPU devices (spu_devices): device i, in name order, listens on offset SPU_DEVICE_OFFSET + 2 * i
# of its parties' heads (port name ``spu.NAME``) and, behind the job's TLS front, on the next offset
# (``spu_local.NAME``, loopback only).
SPU_DEVICE_OFFSET = 20
MAX_SPU_DEVICES = 16
# Protocols SPU implements, and how many parties each takes (min, max; None: no upper bound).
SPU_PROTOCOLS = {'REF2K': (2, None), 'SEMI2K': (2, None), 'ABY3': (3, 3), 'CHEETAH': (2, 2), 'SECURENN': (3, 3)}
SPU_FIELDS = ('FM32', 'FM64', 'FM128')
SPU_DEVICE_KEYS = ('parties', 'protocol', 'field', 'link_desc')
# SPU link options that sf.SPU(link_desc=...) accepts; anything else is a typo.
SPU_LINK_OPTIONS = (
    'connect_retry_times', 'connect_retry_interval_ms', 'recv_timeout_ms', 'http_max_payload_size',
    'http_timeout_ms', 'throttle_window_size', 'brpc_channel_protocol', 'brpc_channel_connection_type',
)
# Named HEU devices (heu_devices): homomorphic encryption between parties over RayFed (no port
# of their own). A key holder, the evaluators, and the scheme with its key size.
HEU_SCHEMAS = ('paillier', 'zpaillier', 'fpaillier', 'ou', 'ipcl', 'elgamal', 'dgk', 'dj', 'icpaillier')
HEU_DEVICE_KEYS = ('sk_keeper', 'evaluators', 'schema', 'key_size', 'field')
# Ray worker processes take ports from [min, max]; the range sits at the end of the block.
WORKER_RANGE_OFFSETS = (100, 999)
DEFAULT_PORT_BASE = 20000
DEFAULT_PORT_BLOCK_SIZE = 1000
MIN_WORKER_PORTS = 16

# Which ports a node opens, by its role. Ray's GCS and client server run on heads only;
# RayFed and SPU endpoints live on each party's head, where the job's driver runs.
# The dashboard is off, but Ray 2.9 still runs a minimal dashboard process on heads: pin it
# too, or two heads on one machine fight over 8265.
HEAD_ONLY_PORTS = ('ray_gcs', 'ray_client_server', 'ray_dashboard', 'ray_dashboard_grpc')
PARTY_PORTS = ('rayfed', 'spu')
# Bound on the head's loopback only: with the job's TLS front SPU itself listens here and
# the front, on the SPU port, hands it the connections whose mutual TLS handshake succeeded.
# No firewall rule names these ports; nothing outside the host can reach them.
LOCAL_PORTS = ('spu_local',)
RAY_PORTS = tuple(p for p in PORT_OFFSETS if p not in PARTY_PORTS + LOCAL_PORTS)

MODES = ('simulation', 'production')
PARTY_NAME_RE = re.compile(r'^[A-Za-z][A-Za-z0-9_]{0,62}$')
# Name of a node's own firewall table (nftables) and unit: the inventory name, made safe.
FIREWALL_ID_UNSAFE = re.compile(r'[^A-Za-z0-9_]')


class TopologyError(Exception):
    """Raised with every problem found, one line each, so a user fixes them in one go."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__('\n'.join(self.errors))


def _is_loopback(address):
    if address in ('localhost',):
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _port_errors(where, field, value):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value), 10)
        except (TypeError, ValueError):
            return None, ['%s: %s must be an integer port, got %r' % (where, field, value)]
    if not 1 <= value <= 65535:
        return None, ['%s: %s must be between 1 and 65535, got %d' % (where, field, value)]
    return value, []


def spu_device_port_names(name):
    """The port names of SPU device ``name``: its public port and its loopback port."""
    return 'spu.%s' % name, 'spu_local.%s' % name


def assign_ports(slot, port_base=DEFAULT_PORT_BASE, port_block_size=DEFAULT_PORT_BLOCK_SIZE, spu_devices=()):
    """Default ports of the node in ``slot`` (0 for the first node on a machine); ``spu_devices``
    are the named SPU devices' names (each gets two ports, in name order)."""
    start = port_base + slot * port_block_size
    ports = {name: start + offset for name, offset in PORT_OFFSETS.items()}
    for i, device in enumerate(sorted(spu_devices)):
        public, local = spu_device_port_names(device)
        ports[public] = start + SPU_DEVICE_OFFSET + 2 * i
        ports[local] = start + SPU_DEVICE_OFFSET + 2 * i + 1
    ports['ray_min_worker'] = start + WORKER_RANGE_OFFSETS[0]
    ports['ray_max_worker'] = start + min(WORKER_RANGE_OFFSETS[1], port_block_size - 1)
    return ports


def _used_ports(node):
    """(name, low, high) for every port or range this node actually listens on."""
    used = []
    for name in RAY_PORTS:
        if name in HEAD_ONLY_PORTS and not node['ray_head']:
            continue
        used.append((name, node['ports'][name], node['ports'][name]))
    used.append(('ray_worker_ports', node['ports']['ray_min_worker'], node['ports']['ray_max_worker']))
    if node['party_head']:
        for name in PARTY_PORTS + LOCAL_PORTS:
            used.append((name, node['ports'][name], node['ports'][name]))
        for device in node.get('spu_devices', ()):
            for name in spu_device_port_names(device):
                used.append((name, node['ports'][name], node['ports'][name]))
    return used


def public_party_info(topology, parties=None):
    """What a party tells its peers (a federation file entry): nothing secret, nothing of Ray."""
    out = {}
    for party in parties or topology['parties']:
        info = topology['party_info'][party]
        out[party] = {'address': info['address'], 'rayfed_port': info['rayfed_port'], 'spu_port': info['spu_port']}
        if info.get('spu_devices'):
            out[party]['spu_devices'] = dict((d, p['port']) for d, p in sorted(info['spu_devices'].items()))
    return out


def build_topology(hosts, mode, external_parties=None, spu_devices=None, heu_devices=None, partial=False):
    """Validate the inventory and return the deployment's layout.

    ``hosts`` is a list, in inventory order, of dicts with keys:
      host: inventory name; party: party name or None; party_candidates: list (when
      the party could not be told); head: True/False/None (explicit ``federation_head``);
      address: what peers dial; listen_host: where services bind;
      port_base, port_block_size: ints; ports: {name: explicit override} (may be empty);
      machine: an explicit machine name (``federation_machine``; hosts with the same one are one
      machine), else the machine is found from machine_id and ipv4 (facts: the same machine id
      and a common IPv4 address) or, without facts, from ssh_host (the same connection address).
    ``external_parties`` (production only): peers that this run does not manage, known from a
    federation file as {party: {address, rayfed_port, spu_port[, ca_cert]}}; see public_party_info().
    The entries of parties this run manages must agree with the inventory.
    ``spu_devices``: named SPU devices besides the default one over every party,
    {name: {parties: [...], protocol, field, link_desc}} (``federation_spu_devices``); each gets
    its own port on its parties' heads, open to exactly its parties.
    ``heu_devices``: named HEU devices, {name: {sk_keeper, evaluators, schema, key_size, field}}
    (``federation_heu_devices``), checked against the parties.
    ``partial``: some hosts of the federation are not in this run (teardown --limit): the devices'
    parties that are not here are left out of them rather than refused.

    Raises TopologyError listing every problem; nothing is partially returned. Problems that do
    not stop a deployment but that a user must know are returned in ``warnings``.
    """
    if mode not in MODES:
        raise TopologyError(['federation_mode must be one of %s, got %r' % (', '.join(MODES), mode)])
    if not hosts:
        raise TopologyError(['the inventory has no hosts in the federation group'])
    if external_parties and mode != 'production':
        raise TopologyError(['federation_file: peers from a federation file need production mode (one Ray '
                             'cluster spans every host in simulation, so every host must be in the run)'])

    parties, members = _check(_parties(hosts))
    every_party = parties + sorted(set(external_parties or {}) - set(parties))
    devices = _check(_spu_devices(spu_devices, every_party, partial))
    heus = _check(_heu_devices(heu_devices, every_party, partial))
    party_heads = _check(_heads(parties, members))
    _check(_addresses(parties, members, len(hosts)))
    machines = _machines([h for p in parties for h in members[p]])
    nodes = _check(_nodes(parties, members, party_heads, machines, mode, devices))
    _check(_collisions(nodes, machines))
    peers, declared_ca_certs = _check(_external_parties(external_parties, parties, nodes, party_heads, devices))

    party_info = {}
    for p in parties:
        head = nodes[party_heads[p]]
        party_info[p] = {
            'head': head['host'],
            'address': head['address'],
            'listen_host': head['listen_host'],
            'rayfed_port': head['ports']['rayfed'],
            'spu_port': head['ports']['spu'],
            'spu_local_port': head['ports']['spu_local'],
            # The named SPU devices this party is in: {name: {port, local_port}}.
            'spu_devices': dict((d, dict(zip(('port', 'local_port'),
                                             (head['ports'][n] for n in spu_device_port_names(d)))))
                                for d in head.get('spu_devices', ())),
            'nodes': [h['host'] for h in members[p]],
        }
    _cluster_links(nodes, party_heads, mode)
    party_info.update(peers)
    for node in nodes.values():
        node['firewall'] = _firewall(node, nodes, party_info, mode, devices)
    return {
        'mode': mode,
        'spu_devices': devices,
        'heu_devices': heus,
        'parties': parties + sorted(peers),
        'local_parties': parties,
        'party_heads': party_heads,
        'simulation_head': party_heads[parties[0]],
        'party_info': party_info,
        'nodes': nodes,
        'machines': machines,
        # CA certificates the federation file states for parties this run deploys; the tls role
        # checks them against the CAs on their heads.
        'declared_ca_certs': declared_ca_certs,
        'warnings': _warnings(nodes, machines, mode),
    }


def _check(phase_result):
    """A phase returns (value, errors); raise on errors, else hand the value on."""
    value, errors = phase_result
    if errors:
        raise TopologyError(errors)
    return value


def _parties(hosts):
    """Each host's party: parties in inventory order, and their member records."""
    errors = []
    parties = []
    members = {}
    seen_hosts = set()
    for h in hosts:
        name = h['host']
        if name in seen_hosts:
            errors.append('%s: listed twice' % name)
            continue
        seen_hosts.add(name)
        party = h.get('party')
        if not party:
            candidates = h.get('party_candidates') or []
            if candidates:
                errors.append('%s: federation_party is ambiguous, the host is in the groups %s; set '
                              'federation_party to one of them' % (name, ', '.join(sorted(candidates))))
            else:
                errors.append('%s: federation_party is unknown: put the host in exactly one party group '
                              '(a child group of the federation group) or set federation_party' % name)
            continue
        if not PARTY_NAME_RE.match(str(party)):
            errors.append('%s: federation_party %r is not a valid party name (a letter, then letters, '
                          'digits or _; at most 63 characters)' % (name, party))
            continue
        if party not in members:
            parties.append(party)
            members[party] = []
        members[party].append(h)
    return (parties, members), errors


def _device_entries(variable, devices, keys, errors):
    """(name, where, device) of each well-formed entry of a devices variable, in name order; the
    problems of the others (and of unknown keys) go to ``errors``."""
    if devices in (None, '', {}):
        return []
    if not isinstance(devices, dict):
        errors.append('%s must map device names to {%s}, got %s' % (variable, ', '.join(keys), type(devices).__name__))
        return []
    entries = []
    for name, device in sorted(devices.items(), key=lambda item: str(item[0])):
        where = '%s.%s' % (variable, name)
        if not PARTY_NAME_RE.match(str(name)):
            errors.append('%s: not a valid device name (a letter, then letters, digits or _)' % where)
            continue
        if not isinstance(device, dict):
            errors.append('%s: must be a mapping of %s' % (where, ', '.join(keys)))
            continue
        unknown = sorted(set(device) - set(keys))
        if unknown:
            errors.append('%s: unknown key(s) %s; a device takes %s' % (where, ', '.join(map(str, unknown)),
                                                                        ', '.join(keys)))
        entries.append((name, where, device))
    return entries


def _spu_devices(devices, parties, partial=False):
    """The named SPU devices, checked: {name: {parties, protocol, field, link_desc}}. ``parties``
    are every party of the federation (this run's and the federation file's); in a ``partial`` run
    the parties that are not here are left out of each device."""
    errors = []
    out = {}
    if isinstance(devices, dict) and len(devices) > MAX_SPU_DEVICES:
        errors.append('federation_spu_devices: %d devices, at most %d' % (len(devices), MAX_SPU_DEVICES))
    for name, where, device in _device_entries('federation_spu_devices', devices, SPU_DEVICE_KEYS, errors):
        members = device.get('parties')
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            errors.append('%s: parties must be a list of party names' % where)
            continue
        strangers = [m for m in members if m not in parties]
        if partial:
            members, strangers = [m for m in members if m in parties], []
        if strangers:
            errors.append('%s: %s %s not a party of this federation (parties: %s)'
                          % (where, ', '.join(strangers), 'is' if len(strangers) == 1 else 'are', ', '.join(parties)))
        if len(set(members)) != len(members):
            errors.append('%s: parties lists a party twice: %s' % (where, ', '.join(members)))
        protocol = str(device.get('protocol', 'SEMI2K'))
        field = str(device.get('field', 'FM64'))
        if protocol not in SPU_PROTOCOLS:
            errors.append('%s: protocol %s is not one of SPU\'s (%s)' % (where, protocol, ', '.join(SPU_PROTOCOLS)))
        else:
            low, high = SPU_PROTOCOLS[protocol]
            if not partial and (len(members) < low or (high is not None and len(members) > high)):
                errors.append('%s: protocol %s runs between %s parties, but the device has %d (%s)'
                              % (where, protocol, low if high == low else '%d or more' % low if high is None
                                 else '%d to %d' % (low, high), len(members), ', '.join(members)))
        if field not in SPU_FIELDS:
            errors.append('%s: field %s is not one of %s' % (where, field, ', '.join(SPU_FIELDS)))
        link_desc = device.get('link_desc') or {}
        if not isinstance(link_desc, dict):
            errors.append('%s: link_desc must be a mapping' % where)
            link_desc = {}
        bad = sorted(set(link_desc) - set(SPU_LINK_OPTIONS))
        if bad:
            errors.append('%s: link_desc: unknown option(s) %s; SPU accepts only %s'
                          % (where, ', '.join(map(str, bad)), ', '.join(SPU_LINK_OPTIONS)))
        out[str(name)] = {'parties': list(members), 'protocol': protocol, 'field': field,
                          'link_desc': dict(link_desc)}
    return out, errors


def _heu_devices(devices, parties, partial=False):
    """The named HEU devices, checked: {name: {sk_keeper, evaluators, schema, key_size, field}}
    (a ``partial`` run does not check their parties: they hold no port or file of their own)."""
    errors = []
    out = {}
    for name, where, device in _device_entries('federation_heu_devices', devices, HEU_DEVICE_KEYS, errors):
        keeper = device.get('sk_keeper')
        evaluators = device.get('evaluators')
        if not isinstance(keeper, str) or not keeper:
            errors.append('%s: sk_keeper must name the party that holds the secret key' % where)
            continue
        if not isinstance(evaluators, list) or not evaluators or not all(isinstance(e, str) for e in evaluators):
            errors.append('%s: evaluators must be a non-empty list of party names' % where)
            continue
        strangers = [] if partial else [p for p in [keeper] + evaluators if p not in parties]
        if strangers:
            errors.append('%s: %s %s not a party of this federation (parties: %s)'
                          % (where, ', '.join(strangers), 'is' if len(strangers) == 1 else 'are', ', '.join(parties)))
        if keeper in evaluators:
            errors.append('%s: %s is both sk_keeper and an evaluator' % (where, keeper))
        if len(set(evaluators)) != len(evaluators):
            errors.append('%s: evaluators lists a party twice: %s' % (where, ', '.join(evaluators)))
        schema = str(device.get('schema', 'paillier'))
        if schema not in HEU_SCHEMAS:
            errors.append('%s: schema %s is not one of HEU\'s (%s)' % (where, schema, ', '.join(HEU_SCHEMAS)))
        key_size = device.get('key_size', 2048)
        if isinstance(key_size, bool) or not isinstance(key_size, int) or not 256 <= key_size <= 16384:
            errors.append('%s: key_size must be an integer number of bits from 256 to 16384, got %r' % (where, key_size))
        field = str(device.get('field', 'FM128'))
        if field not in SPU_FIELDS:
            errors.append('%s: field %s is not one of %s (the SPU field whose scale the device shares)'
                          % (where, field, ', '.join(SPU_FIELDS)))
        out[str(name)] = {'sk_keeper': keeper, 'evaluators': list(evaluators), 'schema': schema,
                          'key_size': key_size, 'field': field}
    return out, errors


def _heads(parties, members):
    """One head per party: an explicit federation_head wins, else the party's first host."""
    errors = []
    party_heads = {}
    for party in parties:
        explicit = [h['host'] for h in members[party] if h.get('head') is True]
        if len(explicit) > 1:
            errors.append('party %s: federation_head is true on %d hosts (%s); a party has exactly one head'
                          % (party, len(explicit), ', '.join(explicit)))
            continue
        party_heads[party] = explicit[0] if explicit else members[party][0]['host']
    return party_heads, errors


def _addresses(parties, members, host_count):
    """Every host has an address; loopback only when every node is on this machine."""
    errors = []
    loopback = [h['host'] for p in parties for h in members[p] if _is_loopback(str(h.get('address') or ''))]
    for p in parties:
        for h in members[p]:
            if not h.get('address'):
                errors.append('%s: federation_address is empty: set the address peers dial to reach this host'
                              % h['host'])
    if loopback and len(loopback) != host_count:
        errors.append('%s: federation_address is a loopback address, which other hosts cannot dial; '
                      'use an address the peers can reach (loopback works only when every host is this machine)'
                      % ', '.join(loopback))
    return None, errors


def _same_machine(a, b):
    """Whether two host records are one machine (see build_topology)."""
    if a.get('machine') or b.get('machine'):
        return bool(a.get('machine')) and a.get('machine') == b.get('machine')
    if a.get('machine_id') and b.get('machine_id'):
        # A cloned image can repeat a machine id on other machines; a common address cannot.
        shared = set(a.get('ipv4') or []) & set(b.get('ipv4') or [])
        both_without = not a.get('ipv4') and not b.get('ipv4')
        return a['machine_id'] == b['machine_id'] and bool(shared or both_without)
    return bool(a.get('ssh_host')) and (a.get('ssh_host'), a.get('ssh_port')) == (b.get('ssh_host'), b.get('ssh_port'))


def _machines(records):
    """{machine name: {'hosts': [...], 'leader': host}}, hosts in inventory order. The leader (the
    first host) does the machine's shared work; the name is the machine's first connection address."""
    groups = []
    for record in records:
        for group in groups:
            if _same_machine(group[0], record):
                group.append(record)
                break
        else:
            groups.append([record])
    machines = {}
    for group in groups:
        base = str(group[0].get('machine') or group[0].get('ssh_host') or group[0]['host'])
        name, n = base, 1
        while name in machines:
            n += 1
            name = '%s#%d' % (base, n)
        machines[name] = {'hosts': [r['host'] for r in group], 'leader': group[0]['host']}
    return machines


def _nodes(parties, members, party_heads, machines, mode, devices):
    """Each host's node: its ports (a free block on its machine and address), role and machine."""
    errors = []
    machine_of = dict((h, name) for name, m in machines.items() for h in m['hosts'])
    sim_head = party_heads[parties[0]]
    nodes = {}
    taken = set()  # (machine or address, port base, slot)
    for p in parties:
        for h in members[p]:
            name = h['host']
            where = '%s (party %s)' % (name, p)
            base, e1 = _port_errors(where, 'federation_port_base', h.get('port_base', DEFAULT_PORT_BASE))
            block, e2 = _port_errors(where, 'federation_port_block_size',
                                     h.get('port_block_size', DEFAULT_PORT_BLOCK_SIZE))
            errors.extend(e1 + e2)
            if base is None or block is None:
                continue
            if block < WORKER_RANGE_OFFSETS[0] + MIN_WORKER_PORTS:
                errors.append('%s: federation_port_block_size must be at least %d, got %d'
                              % (where, WORKER_RANGE_OFFSETS[0] + MIN_WORKER_PORTS, block))
                continue
            # The first block free both on the host's machine and on its address (hosts behind one
            # NAT address are dialled on one address).
            keys = (('machine', machine_of[name]), ('address', str(h['address'])))
            slot = 0
            while any((key, base, slot) in taken for key in keys):
                slot += 1
            taken.update((key, base, slot) for key in keys)
            ports = assign_ports(slot, base, block, devices)
            for field, value in (h.get('ports') or {}).items():
                if value is None or value == '':
                    continue
                if field not in ports:
                    errors.append('%s: federation_ports: unknown port name %r (names: %s)'
                                  % (where, field, ', '.join(sorted(ports))))
                    continue
                checked, e = _port_errors(where, 'federation_ports.%s' % field, value)
                errors.extend(e)
                if checked is not None:
                    ports[field] = checked
            if ports['ray_max_worker'] - ports['ray_min_worker'] + 1 < MIN_WORKER_PORTS:
                errors.append('%s: the Ray worker port range %d-%d holds fewer than %d ports'
                              % (where, ports['ray_min_worker'], ports['ray_max_worker'], MIN_WORKER_PORTS))
            party_head = party_heads[p] == name
            machine = machines[machine_of[name]]
            nodes[name] = {
                'host': name,
                'party': p,
                'party_head': party_head,
                'ray_head': party_head if mode == 'production' else name == sim_head,
                'address': str(h['address']),
                'listen_host': str(h.get('listen_host') or '0.0.0.0'),
                'slot': slot,
                'ports': ports,
                'machine': machine_of[name],
                'machine_leader': machine['leader'] == name,
                'machine_hosts': list(machine['hosts']),
                'firewall_id': FIREWALL_ID_UNSAFE.sub('_', name),
                # The named SPU devices whose ports this node opens (its party's head only).
                'spu_devices': sorted(d for d, dev in devices.items() if p in dev['parties']) if party_head else [],
            }
    for machine in machines.values():
        ids = {}
        for host in machine['hosts']:
            if host in nodes:
                ids.setdefault(nodes[host]['firewall_id'], []).append(host)
        for fid, hosts_ in sorted(ids.items()):
            if len(hosts_) > 1:
                errors.append('%s: one machine, and names that differ only in characters other than letters, '
                              'digits and _; their firewall tables would both be called sfdeploy_%s. Rename one '
                              'of them' % (' and '.join(hosts_), fid))
    return nodes, errors


def _collisions(nodes, machines):
    """Every pair of ports (or worker ranges) that two services would both open: on one machine
    (services bind every address of their machine) or on one address (hosts behind one NAT
    address are dialled on it)."""
    spaces = {}
    for node in nodes.values():
        # Ray resolves a loopback node address to the machine's own IP, so every
        # loopback node shares one address space.
        addr = 'loopback' if _is_loopback(node['address']) else node['address']
        for name, low, high in _used_ports(node):
            entry = (low, high, node['host'], node['party'], name)
            spaces.setdefault(('address', addr), []).append(entry)
            spaces.setdefault(('machine', node['machine']), []).append(entry)
    errors = []
    reported = set()
    for (kind, where), used in sorted(spaces.items()):
        used.sort()
        for i, (low, high, host, party, name) in enumerate(used):
            for low2, high2, host2, party2, name2 in used[i + 1:]:
                if low2 > high:
                    break
                pair = (host, name, host2, name2)
                if pair in reported:
                    continue
                reported.add(pair)
                place = where if kind == 'address' else 'one machine (%s)' % ', '.join(machines[where]['hosts'])
                errors.append(
                    'port collision on %s: %s (party %s) %s %s and %s (party %s) %s %s overlap; '
                    'give one of them another port or federation_port_base'
                    % (place, host, party, name, _span(low, high), host2, party2, name2, _span(low2, high2)))
    return None, errors


def _external_parties(external, local_parties, nodes, party_heads, devices):
    """Peers known only from a federation file: {party: {address, rayfed_port, spu_port[, ca_cert]}}.

    Entries of parties this run deploys must say what the inventory says (a stale or hand-edited
    file would send the peers elsewhere); every (address, port) of the file and of this run's
    nodes must be distinct (two institutions on one machine that both took the default block)."""
    errors = []
    peers = {}
    declared_ca_certs = {}
    for party, info in sorted((external or {}).items()):
        where = 'federation_file: party %s' % party
        if not PARTY_NAME_RE.match(str(party)):
            errors.append('%s: not a valid party name' % where)
            continue
        if not isinstance(info, dict) or not info.get('address'):
            errors.append('%s: address is missing' % where)
            continue
        rayfed, e1 = _port_errors(where, 'rayfed_port', info.get('rayfed_port'))
        spu, e2 = _port_errors(where, 'spu_port', info.get('spu_port'))
        errors.extend(e1 + e2)
        if rayfed is None or spu is None:
            continue
        if rayfed == spu:
            errors.append('%s: rayfed_port and spu_port are both %d' % (where, rayfed))
            continue
        if party in local_parties:
            head = nodes[party_heads[party]]
            said = {'address': str(info['address']), 'rayfed_port': rayfed, 'spu_port': spu}
            deployed = {'address': head['address'], 'rayfed_port': head['ports']['rayfed'],
                        'spu_port': head['ports']['spu']}
            for field in ('address', 'rayfed_port', 'spu_port'):
                if said[field] != deployed[field]:
                    errors.append('%s: %s is %s in the file, but this run deploys %s (head %s) with %s %s; '
                                  'export the file again (federation_export_file) or fix the inventory'
                                  % (where, field, said[field], party, head['host'], field, deployed[field]))
            if info.get('ca_cert'):
                declared_ca_certs[party] = str(info['ca_cert'])
            continue
        peers[party] = {'head': None, 'address': str(info['address']),
                        'listen_host': str(info.get('listen_host') or '0.0.0.0'),
                        'rayfed_port': rayfed, 'spu_port': spu, 'nodes': [], 'spu_devices': {}}
        given = info.get('spu_devices') or {}
        for device in sorted(d for d, dev in devices.items() if party in dev['parties']):
            if device not in given:
                errors.append('%s: has no port for the SPU device %s (federation_spu_devices); the party must '
                              'define the device too and export its file again' % (where, device))
                continue
            port, e = _port_errors(where, 'spu_devices.%s' % device, given[device])
            errors.extend(e)
            if port is not None:
                peers[party]['spu_devices'][device] = {'port': port}
        if info.get('ca_cert'):
            ca_cert = str(info['ca_cert'])
            if '-----BEGIN CERTIFICATE-----' not in ca_cert:
                errors.append('%s: ca_cert must be a PEM certificate (the party\'s CA)' % where)
            peers[party]['ca_cert'] = ca_cert
    # Every (address, port) once: the file's peers against each other and against this run's nodes.
    owners = {}
    for node in nodes.values():
        addr = 'loopback' if _is_loopback(node['address']) else node['address']
        for name, low, high in _used_ports(node):
            for port in (low, high):
                owners.setdefault((addr, port), '%s (party %s) %s' % (node['host'], node['party'], name))
    for party, info in sorted(peers.items()):
        addr = 'loopback' if _is_loopback(info['address']) else info['address']
        fields = [(f, info[f]) for f in ('rayfed_port', 'spu_port')]
        fields += [('SPU device %s\'s port' % d, p['port']) for d, p in sorted(info['spu_devices'].items())]
        for field, port in fields:
            key = (addr, port)
            if key in owners:
                errors.append('federation_file: party %s: %s %s:%d is also %s; two parties on one address need '
                              'distinct ports (give each its own federation_port_base)'
                              % (party, field, info['address'], port, owners[key]))
            else:
                owners[key] = 'party %s\'s %s (federation_file)' % (party, field)
    return (peers, declared_ca_certs), errors


def _cluster_links(nodes, party_heads, mode):
    """Each node's Ray cluster: its head, the GCS address, and the members (the only hosts its Ray
    ports may accept)."""
    sim_head = nodes[list(party_heads.values())[0]]
    for node in nodes.values():
        cluster_head = nodes[party_heads[node['party']]] if mode == 'production' else sim_head
        node['ray_cluster_head'] = cluster_head['host']
        node['ray_address'] = '%s:%d' % (cluster_head['address'], cluster_head['ports']['ray_gcs'])
    for node in nodes.values():
        node['ray_cluster_nodes'] = [n for n, o in nodes.items() if o['ray_cluster_head'] == node['ray_cluster_head']]


def _firewall(node, nodes, party_info, mode, devices):
    """What this node's firewall lets in: its Ray ports from its own Ray cluster only, and (on a
    party head) its RayFed and SPU ports from the peers only - in production the other parties'
    heads; in simulation, where SPU links run inside the one cluster, the cluster's nodes. A named
    SPU device's port lets in the heads of the device's other parties only."""
    used = _used_ports(node)
    cluster = sorted(set(nodes[n]['address'] for n in node['ray_cluster_nodes']))
    device_ports = dict((spu_device_port_names(d)[0], d) for d in node['spu_devices'])
    used = [u for u in used if u[0] not in LOCAL_PORTS and not u[0].startswith('spu_local.')
            and u[0] not in device_ports]
    rules = [{'name': 'ray', 'ports': [[low, high] for name, low, high in used if name not in PARTY_PORTS],
              'sources': cluster}]
    silo = [[low, high] for name, low, high in used if name in PARTY_PORTS]
    if silo:
        if mode == 'production':
            sources = sorted(set(info['address'] for p, info in party_info.items() if p != node['party']))
        else:
            sources = cluster
        rules.append({'name': 'cross_silo', 'ports': silo, 'sources': sources})
    for name, device in sorted(device_ports.items(), key=lambda item: item[1]):
        if mode == 'production':
            sources = sorted(set(party_info[p]['address'] for p in devices[device]['parties'] if p != node['party']))
        else:
            sources = cluster
        rules.append({'name': 'spu_%s' % device, 'ports': [[node['ports'][name]] * 2], 'sources': sources})
    return rules


def _warnings(nodes, machines, mode):
    """Parties sharing a machine in production: a firewall tells parties apart by source address,
    and traffic between processes of one machine never leaves it, so they reach each other's Ray."""
    if mode != 'production':
        return []
    out = []
    for name, machine in sorted(machines.items()):
        parties = []
        for host in machine['hosts']:
            if host in nodes and nodes[host]['party'] not in parties:
                parties.append(nodes[host]['party'])
        if len(parties) > 1:
            out.append('the parties %s share one machine (%s): no firewall can keep them out of each other\'s '
                       'Ray ports (Ray has no authentication), so they must trust each other; give each party '
                       'its own machine where they do not' % (', '.join(parties), ', '.join(machine['hosts'])))
    return out


def _span(low, high):
    return str(low) if low == high else '%d-%d' % (low, high)
