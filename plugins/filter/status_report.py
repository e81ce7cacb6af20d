# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""status_report: the status playbook's table, summary and problems (module_utils/status.py)."""

from __future__ import annotations

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.status import report

DOCUMENTATION = r'''
name: status_report
short_description: The deployment's health table, per-party summary and problems, from what each role read
version_added: "0.1.0"
description:
  - Puts together what the status tasks of the ray, firewall, tls and job roles set on each host
    (C(ray_status), C(firewall_status), C(tls_status), and the reachability check's
    C(__job_reach)) with each host's C(federation_node).
  - A party is unhealthy when any of its hosts has a problem; each problem is one line naming the
    party and the host.
positional: _input, hosts, parties
options:
  _input:
    description: C(hostvars).
    type: raw
    required: true
  hosts:
    description: The hosts to report on (the play's hosts).
    type: list
    elements: str
    required: true
  parties:
    description: The parties to summarise (the topology's C(local_parties)).
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
report: "{{ hostvars | sfdeploy.secretflow.status_report(ansible_play_hosts, federation_topology.local_parties) }}"
'''

RETURN = r'''
_value:
  description: The report.
  type: dict
  contains:
    table:
      description: One row per host (party, host, role, service, Ray ports, nodes the head sees,
        firewall, certificate days, cross-silo ports, peers reached).
      type: str
    summary:
      description: One line per party, healthy or UNHEALTHY, with its problems under it.
      type: str
    problems:
      description: Every problem, one line each, starting with the party.
      type: list
      elements: str
    unhealthy:
      description: The unhealthy parties.
      type: list
      elements: str
'''


def status_report(hostvars, hosts, parties):
    collected = {}
    for host in hosts:
        hv = hostvars[host]
        collected[host] = {
            'node': hv['federation_node'],
            'ray': hv.get('ray_status'),
            'firewall': hv.get('firewall_status'),
            'tls': hv.get('tls_status'),
            'reach': hv.get('__job_reach'),
        }
    return report(collected, list(parties))


class FilterModule(object):
    def filters(self):
        return {'status_report': status_report}
