# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the tls role, tls_ca_by_party and tls_with_ca_certs (module_utils/tls.py holds the
logic); their documentation is in the sidecar files tls_ca_by_party.yml and tls_with_ca_certs.yml."""

from __future__ import annotations

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import tls


class FilterModule(object):
    def filters(self):
        return {'tls_ca_by_party': tls.ca_by_party, 'tls_with_ca_certs': tls.with_ca_certs}
