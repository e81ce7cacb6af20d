# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status report (playbooks/status.yml), from what each role read on each host.

Each host contributes one dict (see ``report``): its ``federation_node``, and the facts the
ray, firewall, tls and job roles' status tasks set: ``ray_status`` (service, current,
listening, closed, missing), ``firewall_status`` (backend, problems), ``tls_status``
(days_left, renew_before) and ``reach`` (the reachability check's result: listening,
dialled, failures). Anything a role did not set is absent.
"""

from __future__ import annotations

COLUMNS = '%-10s %-16s %-7s %-13s %-9s %-10s %-9s %-11s %-13s %s'
HEADER = ('party', 'host', 'role', 'service', 'ray ports', 'head sees', 'firewall', 'cert days', 'rayfed/spu',
          'peers reached')
RUNNING = ('active', 'running')


def _true(value):
    """A fact that is a bool, or a string of one (as Jinja may leave it)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ('true', 'yes', '1')


def problems(host, info):
    """One line per problem of this host, each starting with its party."""
    node, ray = info['node'], info.get('ray') or {}
    party = node['party']
    out = []
    service = ray.get('service', 'unknown')
    if service not in RUNNING:
        out.append('%s: %s: the Ray service is %s' % (party, host, service))
    else:
        if not _true(ray.get('current', True)):
            out.append('%s: %s: runs another configuration than the last deployment wrote (re-run the deploy '
                       'playbook)' % (party, host))
        if ray.get('closed'):
            out.append('%s: %s: Ray ports not listening: %s' % (party, host, ', '.join(str(p) for p in ray['closed'])))
    if _true(node.get('ray_head')) and ray.get('missing'):
        out.append('%s: %s: the Ray head does not see %s' % (party, host, ', '.join(ray['missing'])))
    for line in (info.get('firewall') or {}).get('problems') or []:
        out.append('%s: %s: firewall: %s' % (party, host, line))
    tls = info.get('tls') or {}
    days = tls.get('days_left')
    if days is not None:
        if int(days) < 0:
            out.append('%s: %s: has no TLS certificate (run the deploy playbook)' % (party, host))
        elif int(days) < int(tls.get('renew_before', 0)):
            out.append('%s: %s: its TLS certificate expires in %s days (the deploy playbook renews it)'
                       % (party, host, days))
    for line in (info.get('reach') or {}).get('failures') or []:
        out.append('%s: %s' % (party, line))
    return out


def row(host, info):
    node, ray = info['node'], info.get('ray') or {}
    reach = info.get('reach') or {}
    service = ray.get('service', 'unknown')
    listening, closed = ray.get('listening') or [], ray.get('closed') or []
    cluster = node.get('ray_cluster_nodes') or []
    firewall = info.get('firewall') or {'backend': 'none', 'problems': []}
    days = (info.get('tls') or {}).get('days_left')
    cross = reach.get('listening') or {}
    peers = {}
    for entry in reach.get('dialled') or []:
        peers[entry['party']] = peers.get(entry['party'], True) and bool(entry['ok'])
    states = {'probe': 'idle', 'busy': 'job'}
    return COLUMNS % (
        node['party'], host,
        'head' if _true(node.get('ray_head')) else 'worker',
        service + ('' if _true(ray.get('current', True)) or service not in RUNNING else ' (old)'),
        '%d/%d' % (len(listening), len(listening) + len(closed)),
        '%d/%d' % (len(cluster) - len(ray.get('missing') or []), len(cluster)) if _true(node.get('ray_head')) else '-',
        '-' if firewall.get('backend') == 'none' else ('MISSING' if firewall.get('problems') else 'ok'),
        '-' if days is None else ('none' if int(days) < 0 else str(days)),
        _cross_silo(cross, states),
        ' '.join('%s %s' % (p, 'ok' if peers[p] else 'FAIL') for p in sorted(peers)) if 'dialled' in reach else '-')


def _cross_silo(cross, states):
    """The cross-silo ports' states: rayfed/spu, then each named SPU device's as ,NAME=state."""
    if not cross:
        return '-'
    state = dict((name, states.get(v['state'], v['state'])) for name, v in cross.items())
    text = '/'.join(state[name] for name in ('rayfed', 'spu') if name in state)
    return text + ''.join(',%s=%s' % (name[len('spu.'):], state[name])
                          for name in sorted(state) if name.startswith('spu.'))


def report(hosts, parties):
    """hosts: inventory host -> its dict (see the module's docstring); parties: the parties this
    run reports on. Returns the table, the per-party summary, the problem lines and the
    unhealthy parties."""
    names = sorted(hosts)
    lines = [line for h in names for line in problems(h, hosts[h])]
    summary = []
    unhealthy = []
    for party in parties:
        mine = [line[len(party) + 2:] for line in lines if line.startswith(party + ': ')]
        summary.append('%s: %s' % (party, 'UNHEALTHY' if mine else 'healthy'))
        summary += ['  - %s' % line for line in mine]
        if mine:
            unhealthy.append(party)
    table = '\n'.join([COLUMNS % HEADER] + [row(h, hosts[h]) for h in names])
    return {'table': table, 'summary': '\n'.join(summary), 'problems': lines, 'unhealthy': unhealthy}
