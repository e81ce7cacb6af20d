# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which CA certificate each party has, for the trust each head builds and for the federation
file's export (the tls role's party and shared CA modes)."""

from __future__ import annotations

import base64


def ca_by_party(topology, hostvars, register='__tls_ca_pem'):
    """party -> its CA certificate (PEM, '' when unknown): read from its head when this run manages
    the party (the head's slurped ``register``), else the ca_cert of its federation file entry."""
    out = {}
    for party in topology['parties']:
        info = topology['party_info'][party]
        head = info.get('head')
        if head:
            content = ((hostvars[head].get(register) if head in hostvars else None) or {}).get('content') or ''
            out[party] = base64.b64decode(content).decode() if content else ''
        else:
            out[party] = info.get('ca_cert') or ''
    return out


def with_ca_certs(entries, cas):
    """The federation file's party entries, each with its party's CA certificate when known."""
    return dict((party, dict(entry, ca_cert=cas[party]) if cas.get(party) else dict(entry))
                for party, entry in entries.items())
