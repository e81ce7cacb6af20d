#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_nftables
short_description: One node's nftables table, its rule file and its boot unit, in one call
version_added: "0.1.0"
description:
  - With I(state=present), checks I(ruleset) with C(nft -c), writes it to I(path) when it differs, loads it
    atomically (the file deletes and re-creates I(table)) when it changed or the table is not loaded, and
    installs and enables the systemd unit I(service) that loads it at boot. The rules of other tables -
    other nodes on the machine, the host's own - are not touched.
  - With I(state=absent), deletes I(table) and removes I(path) and the unit.
  - I(legacy) names a table, file and unit of an earlier layout to remove as well.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  state:
    description: C(present) or C(absent).
    type: str
    choices: [present, absent]
    default: present
  table:
    description: The table's name (family C(inet)).
    type: str
    required: true
  path:
    description: The rule file.
    type: path
    required: true
  ruleset:
    description: The rule file's content. Required with I(state=present).
    type: str
  service:
    description: The systemd unit (without C(.service)) that loads I(path) at boot; none without systemd.
    type: str
  unit:
    description: The unit's content.
    type: str
  legacy:
    description: C(table), C(file) and C(unit) of an earlier layout, removed when present.
    type: dict
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: full
'''

EXAMPLES = r'''
- name: Load this node's rules
  sfdeploy.secretflow.sf_nftables:
    table: sfdeploy_alice_1
    path: /etc/sfdeploy/firewall/alice_1.nft
    ruleset: "{{ lookup('ansible.builtin.template', 'firewall.nft.j2') }}"
    service: sfdeploy-firewall-alice_1
    unit: "{{ lookup('ansible.builtin.template', 'firewall.service.j2') }}"
'''

RETURN = r'''
actions:
  description: What was (or would be) done - C(wrote rules), C(loaded), C(wrote unit), C(enabled unit), C(removed ...).
  returned: always
  type: list
  elements: str
'''

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import read, write_atomic

UNIT_DIR = '/etc/systemd/system'


class Nft(object):
    def __init__(self, module):
        self.m = module
        self.nft = module.get_bin_path('nft', opt_dirs=['/usr/sbin', '/sbin'])
        if not self.nft:
            if module.check_mode and module.params['state'] == 'present':
                # A fresh host in check mode: the role's package task would install nftables first.
                module.exit_json(changed=True, actions=['wrote rules', 'loaded (nftables not installed yet)'])
            if module.params['state'] == 'present':
                module.fail_json(msg='nft is not installed on this host (the firewall role installs nftables)')
            # state=absent without nft: no table can be loaded; its file and unit are still removed.
        self.systemctl = module.get_bin_path('systemctl')

    def run(self, argv, check=True):
        rc, out, err = self.m.run_command(argv)
        if check and rc != 0:
            self.m.fail_json(msg='%s failed: %s' % (' '.join(argv), (err or out).strip()))
        return rc, out

    def loaded(self, table):
        return bool(self.nft) and self.run([self.nft, 'list', 'table', 'inet', table], check=False)[0] == 0

    def unit_path(self, service):
        return os.path.join(UNIT_DIR, '%s.service' % service)

    def remove(self, table, path, service, actions, check):
        """Delete a table, its file and its unit, whichever exist."""
        if table and self.loaded(table):
            actions.append('removed table %s' % table)
            if not check:
                self.run([self.nft, 'delete', 'table', 'inet', table])
        unit = self.unit_path(service) if service else None
        for p in (unit, path):
            if p and os.path.lexists(p):
                actions.append('removed %s' % p)
                if not check:
                    if p == unit and self.systemctl:
                        self.run([self.systemctl, 'disable', os.path.basename(unit)], check=False)
                    os.unlink(p)
        if unit and not check and self.systemctl and any(a == 'removed %s' % unit for a in actions):
            self.run([self.systemctl, 'daemon-reload'])


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='present', choices=['present', 'absent']),
            table=dict(type='str', required=True),
            path=dict(type='path', required=True),
            ruleset=dict(type='str'),
            service=dict(type='str'),
            unit=dict(type='str'),
            legacy=dict(type='dict'),
        ),
        required_if=[('state', 'present', ('ruleset',))],
        supports_check_mode=True)
    p = module.params
    check = module.check_mode
    nft = Nft(module)
    actions = []
    legacy = p['legacy'] or {}
    if legacy:
        nft.remove(legacy.get('table'), legacy.get('file'), legacy.get('unit'), actions, check)

    if p['state'] == 'absent':
        nft.remove(p['table'], p['path'], p['service'], actions, check)
        module.exit_json(changed=bool(actions), actions=actions)

    current = read(p['path'])
    if current != p['ruleset']:
        # Check the new rules before they replace the file.
        fd, tmp = tempfile.mkstemp(prefix='sfdeploy-nft-')
        with os.fdopen(fd, 'w') as f:
            f.write(p['ruleset'])
        try:
            rc, out, err = module.run_command([nft.nft, '-c', '-f', tmp])
        finally:
            os.unlink(tmp)
        if rc != 0:
            module.fail_json(msg='nft refuses the rules for %s: %s' % (p['table'], (err or out).strip()))
        actions.append('wrote rules')
        if not check:
            write_atomic(p['path'], p['ruleset'], 0o640)
    if 'wrote rules' in actions or not nft.loaded(p['table']):
        actions.append('loaded')
        if not check:
            nft.run([nft.nft, '-f', p['path']])

    if p['service'] and p['unit'] is not None and nft.systemctl:
        unit_path = nft.unit_path(p['service'])
        if read(unit_path) != p['unit']:
            actions.append('wrote unit')
            if not check:
                write_atomic(unit_path, p['unit'], 0o644)
                nft.run([nft.systemctl, 'daemon-reload'])
        rc, out = nft.run([nft.systemctl, 'is-enabled', '%s.service' % p['service']], check=False)
        if out.strip() != 'enabled':
            actions.append('enabled unit')
            if not check:
                nft.run([nft.systemctl, 'enable', '%s.service' % p['service']])
    module.exit_json(changed=bool(actions), actions=actions,
                     diff={'before': {'rules': current or ''}, 'after': {'rules': p['ruleset']}})


if __name__ == '__main__':
    main()
