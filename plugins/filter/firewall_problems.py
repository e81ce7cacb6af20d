# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the firewall role: a node's rules as firewalld/ufw pairs, and what a backend has
loaded compared with them (module_utils/firewall.py holds the logic). Their documentation is in
the sidecar files firewall_problems.yml, firewall_rule_pairs.yml and firewall_filtered_ports.yml."""

from __future__ import annotations

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import firewall


def firewall_problems(text, backend, rules, table=''):
    return firewall.problems(backend, text, rules, table)


class FilterModule(object):
    def filters(self):
        return {'firewall_problems': firewall_problems, 'firewall_rule_pairs': firewall.rule_pairs,
                'firewall_filtered_ports': firewall.filtered_ports}
