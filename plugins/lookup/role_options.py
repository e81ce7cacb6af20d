# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""role_options: the options of this collection's roles' argument specs, without their defaults."""

from __future__ import annotations

DOCUMENTATION = r'''
name: role_options
short_description: The options of this collection's roles' argument specs, merged, without their defaults
version_added: "0.1.0"
description:
  - Reads C(meta/argument_specs.yml) (entry point C(main)) of each named role of this collection
    and returns their options as one argument spec, each option without its C(default).
  - For checking what an inventory sets for every role at once, before any role runs, with
    C(ansible.builtin.validate_argument_spec). A default is left out because it may be a
    template that only makes sense inside its role. Role options are prefixed with the role's
    name, so they do not collide.
options:
  _terms:
    description: Role names (of this collection).
    type: list
    elements: str
    required: true
'''

EXAMPLES = r'''
- name: Check what the inventory sets for the python and ray roles
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ __spec }}"
    provided_arguments: "{{ __spec | dict2items | map(attribute='key') | select('in', hostvars[inventory_hostname]) }}"
  vars:
    __spec: "{{ lookup('sfdeploy.secretflow.role_options', 'python', 'ray') }}"
'''

RETURN = r'''
_raw:
  description: One dict, option name -> its spec (type, choices, elements, ...) without C(default).
  type: list
  elements: dict
'''

import os

import yaml

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'roles')


def _strip(spec):
    """An option's spec without its default, in nested options too."""
    out = dict((k, v) for k, v in spec.items() if k != 'default')
    if isinstance(out.get('options'), dict):
        out['options'] = dict((name, _strip(sub)) for name, sub in out['options'].items())
    return out


def role_options(roles, roles_dir=ROLES):
    merged = {}
    for role in roles:
        path = os.path.join(roles_dir, role, 'meta', 'argument_specs.yml')
        try:
            with open(path) as f:
                options = yaml.safe_load(f)['argument_specs']['main'].get('options') or {}
        except (IOError, OSError, KeyError, TypeError) as exc:
            raise AnsibleLookupError('role %s has no readable argument spec at %s: %s' % (role, path, exc))
        for name, spec in options.items():
            merged[name] = _strip(spec)
    return merged


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        return [role_options(terms)]
