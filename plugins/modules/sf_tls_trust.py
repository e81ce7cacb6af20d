#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_tls_trust
short_description: The CA certificates a party head trusts, one file, in one call
version_added: "0.2.0"
description:
  - Writes I(content), the PEM text of the CA certificates a head trusts (its peers' CAs, or the shared CA), to
    I(path) when the file holds anything else, in one rename, mode 0644, owned by I(owner) and I(group); a file
    that already holds it only gets its owner, group and mode corrected when they differ.
  - One module run on a file that is already right, where C(ansible.builtin.copy) makes two (a stat, then the
    file module for the attributes).
  - Certificates are public, so with C(--diff) the old and new text are shown.
author:
  - sfdeploy contributors (@sfdeploy)
extends_documentation_fragment:
  - sfdeploy.secretflow.owned_files
options:
  path:
    description: The file (the tls role's C(peers-ca.pem)).
    type: path
    required: true
  content:
    description: The PEM text of the trusted CA certificates.
    type: str
    required: true
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Shows the file's old and new text when it changes (or would change in check mode).
    support: full
'''

EXAMPLES = r'''
- name: Trust the peers' CAs
  sfdeploy.secretflow.sf_tls_trust:
    path: /etc/sfdeploy/tls/alice/peers-ca.pem
    content: "{{ bob_ca_pem ~ carol_ca_pem }}"
'''

RETURN = r'''
actions:
  description: What was (or would be) changed - C(content) and/or C(attributes).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import OwnedFiles, read


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            content=dict(type='str', required=True),
            owner=dict(type='str', default='root'),
            group=dict(type='str', default='root'),
        ),
        supports_check_mode=True)
    p = module.params
    files = OwnedFiles(module, os.path.dirname(p['path']), p['owner'], p['group'])
    name = os.path.basename(p['path'])
    before = read(p['path'])
    actions, diff = [], None
    if before != p['content']:
        actions.append('content')
        diff = {'before_header': p['path'], 'after_header': p['path'], 'before': before or '', 'after': p['content']}
        if not module.check_mode:
            files.write(name, p['content'], 0o644)
    elif files.fix_attributes(name, 0o644):
        actions.append('attributes')
    result = dict(changed=bool(actions), actions=actions)
    if diff and module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
