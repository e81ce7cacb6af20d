# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the firewall role: a node's rules as firewalld/ufw pairs, and what a backend has
loaded compared with them (module_utils/firewall.py holds the logic)."""

from __future__ import annotations

DOCUMENTATION = r'''
name: firewall_problems
short_description: What a host's firewall has loaded compared with a node's rules
version_added: "0.1.0"
description:
  - Compares the listing of a firewall backend with the node's rules from the topology
    (C(federation_node.firewall)) and returns one sentence per problem; an empty list when every
    port is closed to others and open to exactly the rule's sources.
  - The same file provides C(firewall_rule_pairs) - one C([[low, high], source]) per port range and
    source, as firewalld and ufw take them.
positional: _input, backend, rules, table
options:
  _input:
    description:
      - The backend's listing - C(nft -j list table inet TABLE), C(firewall-cmd --list-rich-rules), or
        C(ufw status).
    type: str
    required: true
  backend:
    description: C(nftables), C(firewalld), C(ufw) or C(none).
    type: str
    required: true
  rules:
    description: The node's rules, C([{name, ports, sources}]).
    type: list
    elements: dict
    required: true
  table:
    description: The node's nftables table name (for the messages).
    type: str
    default: ""
'''

EXAMPLES = r'''
problems: "{{ listing.stdout | sfdeploy.secretflow.firewall_problems('nftables', federation_node.firewall, 'sfdeploy_alice_1') }}"
pairs: "{{ federation_node.firewall | sfdeploy.secretflow.firewall_rule_pairs }}"
'''

RETURN = r'''
_value:
  description: One sentence per problem.
  type: list
  elements: str
'''

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import firewall


def firewall_problems(text, backend, rules, table=''):
    return firewall.problems(backend, text, rules, table)


class FilterModule(object):
    def filters(self):
        return {'firewall_problems': firewall_problems, 'firewall_rule_pairs': firewall.rule_pairs}
