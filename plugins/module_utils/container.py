# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ray_runtime container: what keeps a node's bridge network layout from working (the ray role's
preflight, through the filter container_network_problems)."""

from __future__ import annotations

import ipaddress


def network_problems(node, nodes, network, subnets, firewall_backend):
    """Sentences naming what is wrong with running ``node`` (a topology node) in a container on the
    bridge ``network``: ``subnets`` are the network's (as the host has it; else the one to create
    it with), ``nodes`` every node of the topology. Empty with host networking or when it fits."""
    if network == 'host':
        return []
    problems = []
    subnets = [s for s in (subnets or []) if s]
    where = 'ray_container_network %s (a bridge)' % network
    if not subnets:
        problems.append('%s does not exist on this host and ray_container_subnet is empty: give its subnet '
                        '(e.g. 192.168.0.0/24) to create it' % where)
    else:
        try:
            address = ipaddress.ip_address(node['address'])
            nets = [ipaddress.ip_network(s, strict=False) for s in subnets]
        except ValueError as exc:
            problems.append('%s: %s' % (where, exc))
        else:
            if not any(address in net for net in nets):
                problems.append('federation_address %s is the container\'s address on %s, but not inside its '
                                'subnet %s' % (node['address'], where, ', '.join(subnets)))
            elif any(address in (net.network_address, net.broadcast_address) or
                     (net.num_addresses > 2 and address == next(net.hosts())) for net in nets if address in net):
                problems.append('federation_address %s is the network, broadcast or gateway address of %s'
                                % (node['address'], where))
    elsewhere = sorted(n['host'] for n in nodes.values() if n['machine'] != node['machine'])
    if elsewhere:
        verb = 'is' if len(elsewhere) == 1 else 'are'
        problems.append('%s joins the containers of one machine only, but %s %s on other machines: use '
                        'ray_container_network host' % (where, ', '.join(elsewhere), verb))
    same = sorted(n['host'] for n in nodes.values()
                  if n['host'] != node['host'] and n['machine'] == node['machine'] and n['address'] == node['address'])
    if same:
        problems.append('federation_address %s is also the address of %s; on %s each container needs its own'
                        % (node['address'], ', '.join(same), where))
    if firewall_backend != 'none':
        problems.append('the host\'s firewall does not filter traffic between the containers of %s; set '
                        'firewall_backend: none for these hosts (firewall_backend is %s)' % (where, firewall_backend))
    return problems
