#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_host_firewall
short_description: One node's rules in the firewall the host already runs (firewalld or ufw), in one call
version_added: "0.2.0"
description:
  - Reads what the firewall has loaded, compares it with I(rules) and changes only the difference - one
    module call for all of a node's rules, where a rule per task took a round trip each.
  - C(firewalld) - a rich rule per port range and source in the default zone, in the permanent and the
    runtime configuration alike (no reload, so runtime rules of others stay); the zone's policy rejects the
    same ports from everybody else.
  - C(ufw) - an allow rule per port range and source, put first (C(ufw prepend)), and a deny rule per port
    range after them; an allow rule found after the deny of its ports is moved in front of it.
  - The rules applied are recorded in I(record). On the next run, recorded rules that are no longer wanted
    (a peer's address or a port range changed) are removed; rules the module did not write are never touched.
  - With I(state=absent), removes the recorded and the wanted rules and the record.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  backend:
    description: The firewall the host runs.
    type: str
    choices: [firewalld, ufw]
    required: true
  rules:
    description: The node's rules, the topology's C(firewall) entry, a list of C(name), C(ports) (C([[low, high]])) and C(sources).
    type: list
    elements: dict
    required: true
  record:
    description: The file that records the rules applied (JSON).
    type: path
    required: true
  state:
    description: C(present) or C(absent).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports the rules before and after with --diff.
    support: full
'''

EXAMPLES = r'''
- name: Add or remove this node's rules
  sfdeploy.secretflow.sf_host_firewall:
    backend: firewalld
    rules: "{{ federation_node.firewall }}"
    record: /etc/sfdeploy/firewall/alice_1.firewalld.json
'''

RETURN = r'''
added:
  description: The rules added (or that would be), as the backend states them.
  returned: always
  type: list
  elements: str
removed:
  description: The rules removed (or that would be).
  returned: always
  type: list
  elements: str
'''

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils import firewall
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import read, write_atomic


class Firewalld(object):
    """Rich rules, in the permanent and the runtime configuration."""

    def __init__(self, module):
        self.m = module
        self.cmd = module.get_bin_path('firewall-cmd', required=True)

    def wanted(self, rules):
        return firewall.rule_pairs(rules, 'firewalld')

    def loaded(self, permanent):
        rc, out, err = self.m.run_command([self.cmd] + (['--permanent'] if permanent else []) + ['--list-rich-rules'])
        if rc != 0:
            self.m.fail_json(msg='firewall-cmd --list-rich-rules failed: %s' % (err or out).strip())
        return [' '.join(line.split()) for line in out.splitlines() if line.strip()]

    def plan(self, wanted, ours, present):
        """(to add, to remove) over both configurations."""
        add, remove = [], []
        for permanent in (True, False):
            have = set(self.loaded(permanent))
            add.append((permanent, [r for r in wanted if present and r not in have]))
            remove.append((permanent, [r for r in ours if r in have and not (present and r in wanted)]))
        return add, remove

    def apply(self, add, remove):
        for verb, batches in (('--remove-rich-rule', remove), ('--add-rich-rule', add)):
            for permanent, items in batches:
                if items:
                    argv = [self.cmd] + (['--permanent'] if permanent else []) + ['%s=%s' % (verb, r) for r in items]
                    rc, out, err = self.m.run_command(argv)
                    if rc != 0:
                        self.m.fail_json(msg='%s failed: %s' % (' '.join(argv[:3]), (err or out).strip()))

    @staticmethod
    def names(batches):
        return sorted(set(r for _permanent, items in batches for r in items))


class Ufw(object):
    """Allow rules first, deny rules after them; rules carry the comment sfdeploy."""

    def __init__(self, module):
        self.m = module
        self.cmd = module.get_bin_path('ufw', required=True, opt_dirs=['/usr/sbin'])

    def wanted(self, rules):
        return [' '.join(firewall.ufw_args(r)) for r in firewall.ufw_rules(rules)]

    def plan(self, wanted, ours, present):
        rc, out, err = self.m.run_command([self.cmd, 'show', 'added'])
        if rc != 0:
            self.m.fail_json(msg='ufw show added failed: %s' % (err or out).strip())
        have = [' '.join(firewall.ufw_args(r)) for r in firewall.ufw_added(out)]
        remove = [r for r in ours if r in have and not (present and r in wanted)]
        if not present:
            return [], remove
        add = [r for r in wanted if r not in have]
        # An allow rule behind the deny of its ports lets nobody in: take it out and put it first.
        for rule in wanted:
            if rule.startswith('allow ') and rule in have:
                deny = ' '.join(firewall.ufw_args(('deny', 'any', rule.split()[6])))
                if deny in have and have.index(deny) < have.index(rule):
                    remove.append(rule)
                    add.append(rule)
        return add, remove

    def apply(self, add, remove):
        for rule in remove:
            self.run(['delete'] + rule.split())
        # Denies are appended; allows are put in front of everything, so before the denies.
        for rule in [r for r in add if r.startswith('deny ')] + [r for r in reversed(add) if r.startswith('allow ')]:
            self.run((['prepend'] if rule.startswith('allow ') else []) + rule.split() + ['comment', 'sfdeploy'])

    def run(self, words):
        rc, out, err = self.m.run_command([self.cmd] + words)
        if rc != 0 or 'ERROR' in out:
            self.m.fail_json(msg='ufw %s failed: %s' % (' '.join(words), (err or out).strip()))

    @staticmethod
    def names(items):
        return list(items)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            backend=dict(type='str', required=True, choices=['firewalld', 'ufw']),
            rules=dict(type='list', elements='dict', required=True),
            record=dict(type='path', required=True),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        supports_check_mode=True)
    p = module.params
    present = p['state'] == 'present'
    backend = (Firewalld if p['backend'] == 'firewalld' else Ufw)(module)
    try:
        wanted = backend.wanted(p['rules'])
    except (KeyError, TypeError, ValueError) as e:
        module.fail_json(msg='rules: each entry needs name, ports [[low, high]] and sources (%s)' % e)
    try:
        recorded = json.loads(read(p['record']) or '[]')
    except ValueError:
        recorded = []
    ours = list(dict.fromkeys(recorded + wanted))
    add, remove = backend.plan(wanted, ours, present)
    record = json.dumps(wanted, indent=1) + '\n' if present else None
    rewrite_record = read(p['record']) != record if present else os.path.exists(p['record'])
    changed = bool(backend.names(add) or backend.names(remove) or rewrite_record)
    if changed and not module.check_mode:
        backend.apply(add, remove)
        if present:
            write_atomic(p['record'], record, 0o640)
        elif os.path.exists(p['record']):
            os.unlink(p['record'])
    module.exit_json(changed=changed, added=backend.names(add), removed=backend.names(remove),
                     diff={'before_header': p['record'], 'after_header': p['record'],
                           'before': ''.join(r + '\n' for r in recorded),
                           'after': ''.join(r + '\n' for r in wanted) if present else ''})


if __name__ == '__main__':
    main()
