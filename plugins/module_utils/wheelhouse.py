# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sf_wheelhouse's options, shared by its action plugin (the controller side) and its module (the
host side, which also takes the internal ``files`` and ``staged``)."""

from __future__ import annotations

ARGUMENT_SPEC = dict(
    lock_file=dict(type='path', required=True),
    pool=dict(type='path', required=True),
    source=dict(type='path'),
    index_url=dict(type='str', default='https://pypi.org/simple'),
    uv_version=dict(type='str', required=True),
    ca_bundle=dict(type='path', default='/etc/ssl/certs/ca-certificates.crt'),
    dest=dict(type='path'),
    machine=dict(type='str'),
    progress_interval=dict(type='float', default=5),
)
