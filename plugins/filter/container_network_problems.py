# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter for the ray role's preflight: what keeps a node's bridge network layout from working
(module_utils/container.py holds the logic; the documentation is in the sidecar
container_network_problems.yml)."""

from __future__ import annotations

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import container


def container_network_problems(node, nodes, network, subnets, firewall_backend):
    return container.network_problems(node, nodes, network, subnets, firewall_backend)


class FilterModule(object):
    def filters(self):
        return {'container_network_problems': container_network_problems}
