# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""listening_ports: the TCP ports in LISTEN state in /proc/net/tcp and /proc/net/tcp6 text."""

from __future__ import annotations

DOCUMENTATION = r'''
name: listening_ports
short_description: TCP ports a host listens on, from the text of /proc/net/tcp and /proc/net/tcp6
version_added: "0.1.0"
description:
  - Reads the kernel's socket tables (as slurped from the host), so no C(ss) or C(netstat) is
    needed there. Returns the sorted, distinct ports in LISTEN state.
positional: _input
options:
  _input:
    description: The tables' text, one string or a list of strings.
    type: raw
    required: true
'''

EXAMPLES = r'''
ports: "{{ [tcp.content | b64decode, tcp6.content | b64decode] | sfdeploy.secretflow.listening_ports }}"
'''

RETURN = r'''
_value:
  description: Listening ports.
  type: list
  elements: int
'''

LISTEN = '0A'


def listening_ports(tables):
    if isinstance(tables, str):
        tables = [tables]
    ports = set()
    for text in tables:
        for line in (text or '').splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == LISTEN and ':' in fields[1]:
                ports.add(int(fields[1].rsplit(':', 1)[1], 16))
    return sorted(ports)


class FilterModule(object):
    def filters(self):
        return {'listening_ports': listening_ports}
