#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_wheelhouse
short_description: Give a machine the lock's distributions, downloaded once on the controller
version_added: "0.2.0"
description:
  - B(On the controller) (the action plugin of the same name) - keeps a pool of distributions in I(pool),
    one file per distribution, found by its sha256, and downloads (C(pip download --no-deps --require-hashes))
    only the distributions of I(lock_file) that the pool lacks, for the lock's Python and platform. A second
    deployment of the same lock downloads nothing, and a new lock only what changed. Hosts of one run take
    turns on the pool, so the first downloads and the others find everything there.
  - Every file is checked against the lock's hashes; a file whose sha256 is not among its pin's hashes is
    refused, naming it, before anything reaches a host.
  - With I(source), takes the distributions from that directory (a wheelhouse the site already has) instead of
    downloading.
  - B(On the host) - copies into I(dest) only the files the machine lacks (a file of the wrong size counts as
    missing), over the management connection, checks each copy's sha256 on the host and moves it in place in
    one rename. Parties of one machine (I(machine)) take turns, so the second finds the first's copy. Files of
    earlier locks stay (a party not yet upgraded may still need them); the secretflow role's teardown removes
    the directory.
  - A download or copy that lasts shows what it does and how much is left, every I(progress_interval) seconds.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  lock_file:
    description: The lock on the controller (compiled by C(scripts/lock.py)).
    type: path
    required: true
  pool:
    description: The controller's directory of distributions, shared by every lock.
    type: path
    required: true
  source:
    description: A directory of distributions on the controller that the site already has; nothing is downloaded.
    type: path
  index_url:
    description: The index to download from.
    type: str
    default: https://pypi.org/simple
  uv_version:
    description: The uv release the hosts install from the wheelhouse (its wheel is added to the lock's files).
    type: str
    required: true
  ca_bundle:
    description: The CA bundle pip trusts to reach I(index_url), when it exists on the controller.
    type: path
    default: /etc/ssl/certs/ca-certificates.crt
  dest:
    description:
      - The machine's wheelhouse directory.
      - Without it, only the controller's pool is filled and no host is touched (a site can fill its pool
        ahead of a deployment, with the same lock, for example from C(ansible localhost -m)).
    type: path
  machine:
    description: The machine this host is on; hosts with the same value share I(dest) and take turns on it.
    type: str
  progress_interval:
    description: Seconds between two progress lines of a download or copy.
    type: float
    default: 5
  files:
    description: Internal - the action plugin's list of files (C(name), C(sha256), C(size)) for the host side.
    type: list
    elements: dict
  staged:
    description: Internal - the host directory the action plugin copied the missing files to.
    type: path
attributes:
  action:
    description: The download and the copy run in the action plugin; the module checks and places files on the host.
    support: full
  check_mode:
    description: Downloads and copies nothing; reports the pins the pool lacks (C(missing)) and the files the
      machine lacks (C(to_copy)).
    support: full
  diff_mode:
    description: Not applicable.
    support: none
'''

EXAMPLES = r'''
- name: Give this machine the lock's distributions
  sfdeploy.secretflow.sf_wheelhouse:
    lock_file: "{{ secretflow_lock_file }}"
    pool: ~/.cache/sfdeploy/wheelhouse
    uv_version: "0.13.9"
    dest: /var/cache/sfdeploy/wheelhouse
    machine: "{{ federation_node.machine }}"
  become: true

# Fill the controller's pool ahead of a deployment (no host is touched):
#   ansible localhost -m sfdeploy.secretflow.sf_wheelhouse \
#     -a 'lock_file=roles/secretflow/files/default.lock pool=~/.cache/sfdeploy/wheelhouse uv_version=0.13.9'
'''

RETURN = r'''
dest:
  description: The machine's wheelhouse directory (the hosts' C(--find-links)); null when only the pool was filled.
  returned: success
  type: str
files:
  description: The wheelhouse's files for this lock (the lock's files and uv's wheel).
  returned: success
  type: list
  elements: str
downloaded:
  description: How many files this call downloaded on the controller (0 when the pool had them all).
  returned: success
  type: int
downloaded_bytes:
  description: Their size.
  returned: success
  type: int
copied:
  description: How many files this call copied to the machine (0 when it had them all).
  returned: success
  type: int
copied_bytes:
  description: Their size.
  returned: success
  type: int
missing:
  description: Check mode - the pins the pool lacks, which a run would download.
  returned: check mode, when some are missing
  type: list
  elements: str
to_copy:
  description: The files the machine lacks (check mode, or the host side's answer to the action plugin).
  returned: success
  type: list
  elements: str
'''

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import sha256_file
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.wheelhouse import ARGUMENT_SPEC


def lacking(dest, files):
    """The names of ``files`` that ``dest`` does not hold at their size."""
    out = []
    for f in files:
        path = os.path.join(dest, f['name'])
        if not os.path.isfile(path) or os.path.getsize(path) != int(f['size']):
            out.append(f['name'])
    return out


def place(module, dest, files, staged):
    """Move the staged files into ``dest``, each checked against its sha256 first and renamed in
    place (a half-copied file is never seen under its name). Returns how many were placed."""
    placed = 0
    for f in files:
        src = os.path.join(staged, f['name'])
        if not os.path.isfile(src):
            continue
        got = sha256_file(src)
        if got != f['sha256']:
            module.fail_json(msg='%s arrived with sha256 %s, not the %s the controller sent; nothing of it was kept'
                             % (f['name'], got, f['sha256']))
        part = os.path.join(dest, '.%s.part' % f['name'])
        shutil.copyfile(src, part)
        os.chmod(part, 0o644)
        os.replace(part, os.path.join(dest, f['name']))
        os.unlink(src)
        placed += 1
    return placed


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ARGUMENT_SPEC,
            files=dict(type='list', elements='dict'),
            staged=dict(type='path'),
        ),
        supports_check_mode=True)
    p = module.params
    if p['files'] is None or not p['dest']:
        module.fail_json(msg='sf_wheelhouse runs through its action plugin (the collection installed, not the '
                             'module file alone)')
    dest, changed, placed = p['dest'], False, 0
    if not os.path.isdir(dest):
        if not module.check_mode:
            os.makedirs(dest, 0o755)
        changed = True
    if p['staged'] and not module.check_mode:
        placed = place(module, dest, p['files'], p['staged'])
    missing = lacking(dest, p['files']) if os.path.isdir(dest) else [f['name'] for f in p['files']]
    module.exit_json(changed=changed or bool(placed), dest=dest, to_copy=missing)


if __name__ == '__main__':
    main()
