#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_reach
short_description: Check that a party's head can reach every peer's cross-silo ports
version_added: "0.1.0"
description:
  - Run on every party's head at the same time (with C(async) and C(poll=0), so that C(forks)
    does not matter). Each head binds its own cross-silo ports (RayFed, SPU) for at most
    I(timeout) seconds with a listener that only reads a greeting, and meanwhile dials every
    peer's ports until they answer or the time is up.
  - Fails with one line per problem (for instance that bob cannot reach carol at 10.0.0.3, port
    20008, rayfed, timed out), or when a port of this party is already held by another process.
  - Changes nothing; the listeners are gone when the module returns (each one closes as soon as
    every peer party has greeted it).
author:
  - sfdeploy contributors (@sfdeploy)
options:
  party:
    description: This host's party.
    type: str
    required: true
  listen_host:
    description: Address to bind the listeners to (the party's C(listen_host)).
    type: str
    default: 0.0.0.0
  party_info:
    description:
      - Every party's cross-silo endpoint, party -> C(address), C(rayfed_port), C(spu_port)
        (the C(party_info) of the C(federation_topology) fact). This party's own ports are
        listened on, every other party's are dialled.
    type: dict
    required: true
  services:
    description: Which cross-silo ports to check.
    type: list
    elements: str
    choices: [rayfed, spu]
    default: [rayfed, spu]
  spu_devices:
    description:
      - Also check the named SPU devices' ports (each party's C(spu_devices) in I(party_info)) that this
        party shares with a peer - listen on its own, dial the peers' of the devices it is in.
    type: bool
    default: true
  listen:
    description: Whether to listen on this party's own ports (false to only dial).
    type: bool
    default: true
  timeout:
    description: Seconds to keep listening and dialling.
    type: int
    default: 60
  busy_ok:
    description:
      - Whether a port of this party that is already in use is fine (for a status report while
        a job runs) instead of an error (before a job starts).
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: none
'''

EXAMPLES = r'''
- name: Check that every head reaches its peers' RayFed and SPU ports
  sfdeploy.secretflow.sf_reach:
    party: alice
    party_info:
      alice: {address: 10.0.0.1, rayfed_port: 20008, spu_port: 20009}
      bob: {address: 10.0.0.2, rayfed_port: 20008, spu_port: 20009}
    timeout: 60
  async: 90
  poll: 0
  register: reach
'''

RETURN = r'''
listening:
  description: Service -> port, state (C(probe) when this module listened, C(busy) when in use) and the parties that greeted it.
  returned: always
  type: dict
dialled:
  description: One entry per peer port, with C(ok), C(attempts), C(seconds) and C(error).
  returned: always
  type: list
  elements: dict
failures:
  description: One line per problem.
  returned: always
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.reach import check


def main():
    module = AnsibleModule(
        argument_spec=dict(
            party=dict(type='str', required=True),
            listen_host=dict(type='str', default='0.0.0.0'),
            party_info=dict(type='dict', required=True),
            services=dict(type='list', elements='str', choices=['rayfed', 'spu'], default=['rayfed', 'spu']),
            spu_devices=dict(type='bool', default=True),
            listen=dict(type='bool', default=True),
            timeout=dict(type='int', default=60),
            busy_ok=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['party'] not in p['party_info']:
        module.fail_json(msg='party %s is not in party_info (%s)' % (p['party'], ', '.join(sorted(p['party_info']))))
    listen, peers = {}, []
    for party, info in sorted(p['party_info'].items()):
        for service in p['services']:
            field = '%s_port' % service
            try:
                port = int(info[field])
                address = str(info['address'])
            except (KeyError, TypeError, ValueError):
                module.fail_json(msg='party_info.%s: needs address and an integer %s' % (party, field))
            if party == p['party']:
                listen[service] = port
            else:
                peers.append({'party': party, 'address': address, 'service': service, 'port': port})
    # Named SPU devices: this party listens on each of its devices' ports and dials the ports of the
    # peers that share a device with it (no one else's firewall lets it in).
    own = (p['party_info'][p['party']].get('spu_devices') or {}) if p['spu_devices'] else {}
    for party, info in sorted(p['party_info'].items()):
        for device, ports in sorted((info.get('spu_devices') or {}).items()):
            if device not in own:
                continue
            if party == p['party']:
                listen['spu.%s' % device] = int(ports['port'])
            else:
                peers.append({'party': party, 'address': str(info['address']), 'service': 'spu.%s' % device,
                              'port': int(ports['port'])})
    result = check(p['party'], p['listen_host'], listen if p['listen'] else {}, peers, p['timeout'], p['busy_ok'])
    if result['failures']:
        module.fail_json(msg='; '.join(result['failures']), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
