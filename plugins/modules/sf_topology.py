#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_topology
short_description: Validate a SecretFlow federation's inventory and compute its topology
version_added: "0.1.0"
description:
  - Controller-side only (an action plugin); it contacts no host and changes nothing.
  - Reads the C(__federation_record) fact that the C(sfdeploy.secretflow.federation) role sets on
    every host, finds each host's party (its child group of I(group)), picks each party's head,
    assigns every port from the host's port block, and checks the whole layout.
  - The records' C(spu_devices) and C(heu_devices) (C(federation_spu_devices), C(federation_heu_devices))
    are one agreement of the whole federation; hosts that say different things are refused.
  - Fails listing every problem, each naming the host or party and the field.
  - Normally used through the C(sfdeploy.secretflow.federation) role, not directly.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  group:
    description: Inventory group whose child groups are the parties.
    type: str
    default: secretflow
  mode:
    description: C(simulation) (one Ray cluster) or C(production) (a Ray cluster per party).
    type: str
    choices: [simulation, production]
    default: simulation
  federation_file:
    description:
      - Production only. Controller path of a federation file (C(parties - {name - {address, rayfed_port,
        spu_port, spu_devices, ca_cert}})) with the parties this run does not manage. Entries of parties this run manages
        must agree with the inventory; every (address, port) must be distinct.
    type: str
  partial:
    description:
      - Accept that some hosts of I(group) are not in this run (C(--limit)). Only for runs that use each node's
        names and nothing of its peers (C(playbooks/teardown.yml)); ports of a partial topology can differ from
        the deployed ones.
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
- name: Validate the inventory and compute the topology
  sfdeploy.secretflow.sf_topology:
    group: secretflow
    mode: production
  run_once: true
  register: topology
'''

RETURN = r'''
topology:
  description: The federation's layout.
  returned: success
  type: dict
  contains:
    mode:
      description: The mode.
      type: str
    parties:
      description: Party names in inventory order.
      type: list
      elements: str
    party_heads:
      description: Party name -> its head host.
      type: dict
    simulation_head:
      description: Head of the single Ray cluster in simulation mode (the first party's head).
      type: str
    party_info:
      description:
        - Party -> head, address, listen_host, rayfed_port, spu_port, spu_local_port, nodes, and spu_devices
          (the named SPU devices the party is in, name -> port, local_port).
      type: dict
    spu_devices:
      description: The named SPU devices, checked - name -> parties, protocol, field, link_desc.
      type: dict
    heu_devices:
      description: The named HEU devices, checked - name -> sk_keeper, evaluators, schema, key_size, field.
      type: dict
    declared_ca_certs:
      description: CA certificates that I(federation_file) states for parties this run deploys (checked by the tls role).
      type: dict
    local_parties:
      description: The parties this run deploys (the others come from I(federation_file)).
      type: list
      elements: str
    nodes:
      description:
        - Host -> party, party_head, ray_head, address, listen_host, slot, ports, ray_cluster_head, ray_address,
          ray_cluster_nodes, firewall (its rules), firewall_id, machine, machine_leader, machine_hosts,
          spu_devices (the named SPU devices whose ports it opens).
      type: dict
    machines:
      description:
        - Machine name -> hosts (the inventory hosts that are this machine) and leader (the one that does the
          machine's shared work). Hosts are one machine when they have the same C(federation_machine), or the
          same machine id and a common IPv4 address (facts), or without facts the same C(ansible_host) and port.
      type: dict
    warnings:
      description: What a user must know but does not stop the deployment (parties sharing a machine in production).
      type: list
      elements: str
    partial:
      description: Whether some hosts of I(group) were left out (I(partial)).
      type: bool
public:
  description: This run's parties' public entries (a federation file's C(parties)).
  returned: success
  type: dict
errors:
  description: Every problem found, one per line.
  returned: failure
  type: list
  elements: str
'''

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(group=dict(type='str', default='secretflow'),
                                              mode=dict(type='str', default='simulation',
                                                        choices=['simulation', 'production']),
                                              federation_file=dict(type='str'),
                                              partial=dict(type='bool', default=False)),
                           supports_check_mode=True)
    module.fail_json(msg='sf_topology runs on the controller through its action plugin')


if __name__ == '__main__':
    main()
