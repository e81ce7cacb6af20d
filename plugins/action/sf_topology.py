# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-only: gather every federation host's record and validate the whole layout.

Runs once (run_once). Each host first sets ``__federation_record`` (its role-defaulted
variables and the facts that tell its machine); this plugin reads those records through
hostvars, works out each host's party from the inventory's groups, and calls
module_utils.topology. Nothing touches a host: errors are reported before any role changes
anything.
"""

from __future__ import annotations

import yaml

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.topology import (
    TopologyError, build_topology, public_party_info)

RECORD = '__federation_record'
SPECIAL_GROUPS = ('all', 'ungrouped')


def party_candidates(host, group, groups):
    """Groups inside the federation group that hold this host: its party, if exactly one."""
    members = set(groups.get(group, []))
    found = []
    for name, hosts in groups.items():
        if name in SPECIAL_GROUPS or name == group or host not in hosts:
            continue
        if hosts and set(hosts) <= members:
            found.append(name)
    return found


def empty_party_groups(group, hostvars):
    """Child groups of the federation group that hold no host (a party that would silently be
    left out). Read from the inventory itself: the flat ``groups`` variable has no hierarchy."""
    inventory = getattr(hostvars, '_inventory', None)
    parent = inventory.groups.get(group) if inventory is not None else None
    if parent is None:
        return []
    return sorted(child.name for child in parent.child_groups if not child.get_hosts())


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(('group', 'mode', 'federation_file', 'partial'))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        group = self._task.args.get('group', 'secretflow')
        mode = self._task.args.get('mode', 'simulation')
        partial = bool(self._task.args.get('partial', False))
        groups = task_vars.get('groups', {})
        hostvars = task_vars.get('hostvars', {})
        if group not in groups or not groups[group]:
            raise AnsibleActionFail("federation_group: the inventory has no group '%s' with hosts; "
                                    "put each party's hosts in a child group of it" % group)
        empty = empty_party_groups(group, hostvars)
        if empty:
            raise AnsibleActionFail('the party groups %s (children of %s) have no hosts; a party needs at least '
                                    'one host, or remove the group (nothing was changed)'
                                    % (', '.join(empty), group))
        external = self._load_federation_file(self._task.args.get('federation_file'))
        records = []
        absent = []
        for host in groups[group]:
            record = hostvars[host].get(RECORD) if host in hostvars else None
            if record is None:
                absent.append(host)
                continue
            record = dict(record, host=host)
            if not record.get('party'):
                candidates = party_candidates(host, group, groups)
                if len(candidates) == 1:
                    record['party'] = candidates[0]
                else:
                    record['party_candidates'] = candidates
            records.append(record)
        # Hosts outside this run (--limit) are fine when a federation file speaks for their party,
        # or in a partial run (teardown of some parties), which uses only each node's own names.
        absent = [h for h in absent if not (set(party_candidates(h, group, groups)) & set(external))]
        if absent and not partial:
            raise AnsibleActionFail(
                'these federation hosts are not part of this run (unreachable, or excluded by --limit): %s. '
                'Every host of the federation must take part so its ports and address are known, '
                'or its party must come from federation_file.' % ', '.join(absent))
        if not records:
            raise AnsibleActionFail('no host of this run is in the federation group %s' % group)
        try:
            topology = build_topology(records, mode, external, self._agreed(records, 'spu_devices'),
                                      self._agreed(records, 'heu_devices'), partial=bool(absent))
        except TopologyError as exc:
            result['failed'] = True
            result['errors'] = exc.errors
            result['msg'] = 'the inventory is inconsistent (nothing was changed):\n- ' + '\n- '.join(exc.errors)
            return result
        topology['partial'] = bool(absent)
        result['changed'] = False
        result['topology'] = topology
        result['public'] = {'parties': public_party_info(topology, topology['local_parties'])}
        if topology['warnings']:
            result['warnings'] = list(topology['warnings'])
        return result

    @staticmethod
    def _agreed(records, key):
        """A federation-wide agreement (the named devices): every host must say the same."""
        first = records[0]
        for record in records[1:]:
            if record.get(key) != first.get(key):
                raise AnsibleActionFail(
                    'federation_%s differs between %s and %s; the devices are one agreement of the whole '
                    'federation: set them once, for the federation group (nothing was changed)'
                    % (key, first['host'], record['host']))
        return first.get(key) or {}

    def _load_federation_file(self, path):
        if not path:
            return {}
        try:
            with open(path) as f:
                data = yaml.safe_load(f) or {}
        except (IOError, OSError, yaml.YAMLError) as exc:
            raise AnsibleActionFail('federation_file %s cannot be read: %s' % (path, exc))
        if not isinstance(data, dict) or not isinstance(data.get('parties'), dict):
            raise AnsibleActionFail("federation_file %s: expected a mapping with a 'parties' mapping" % path)
        return data['parties']
