#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: sf_ray_node
short_description: One Ray node's files and service, in one call
version_added: "0.1.0"
description:
  - Writes the node's files into I(node_dir) (its launcher, its record, its helpers) and, under systemd,
    its unit; each only when its content differs. Then, by I(state), leaves the service alone
    (C(configured)), makes sure it runs on the files as written (C(started)), stops it (C(stopped)) or
    removes the node (C(absent)).
  - A node is I(stale) when it runs another launcher than the one written (its launcher records its own
    checksum in C(running.sha256) when it starts), which survives an interrupted run. C(started) restarts a
    stale node, one whose unit changed, or any running node when I(restart) is set; it leaves a current
    one running.
  - Under systemd the node is the service I(service) (C(ray start --block), C(Restart=on-failure)); with
    I(manager=process) the node's C(ray-nodectl) helper supervises it.
author:
  - sfdeploy contributors (@sfdeploy)
options:
  state:
    description:
      - C(configured) writes the node's files (not the unit) and reports whether the running node is stale,
        and whether a C(started) call would do anything (RV(start_due)); C(started) also writes the unit and
        starts or restarts the node as needed; C(stopped) stops it; C(absent) stops it and removes its unit,
        I(node_dir) and I(remove).
    type: str
    choices: [configured, started, stopped, absent]
    default: started
  node_dir:
    description: The node's directory.
    type: path
    required: true
  files:
    description: File name (inside I(node_dir)) -> C(content) and C(mode) (an octal string).
    type: dict
    default: {}
  launcher:
    description: The name, among I(files), of the node's launcher.
    type: str
    default: ray-node.sh
  manager:
    description: C(systemd) or C(process) (the C(ray-nodectl) helper among I(files)).
    type: str
    choices: [systemd, process]
    default: systemd
  service:
    description: The systemd unit's name, without C(.service).
    type: str
  unit:
    description:
      - The systemd unit's content. C(started) writes it; C(configured) only compares it, for RV(start_due).
    type: str
  restart:
    description: With C(started), restart a running node even when it is current.
    type: bool
    default: false
  remove:
    description: With C(absent), more paths to remove (Ray's temporary directory).
    type: list
    elements: path
    default: []
attributes:
  check_mode:
    description: Can run in check mode and report what it would change without changing it.
    support: full
  diff_mode:
    description: Reports what it changes (or would change in check mode) with --diff.
    support: full
'''

EXAMPLES = r'''
- name: Run the node on its files as written
  sfdeploy.secretflow.sf_ray_node:
    node_dir: /var/lib/sfdeploy/ray/alice-1
    files:
      ray-node.sh: {content: "{{ lookup('ansible.builtin.template', 'ray-node.sh.j2') }}", mode: "0750"}
    service: sfdeploy-ray-alice
    unit: "{{ lookup('ansible.builtin.template', 'ray.service.j2') }}"
'''

RETURN = r'''
stale:
  description: Whether the node ran another launcher than the one written (before this call).
  returned: always
  type: bool
running:
  description: Whether the node ran before this call.
  returned: always
  type: bool
action:
  description: What was done to the service - C(none), C(started), C(restarted), C(enabled), C(stopped) or C(removed).
  returned: always
  type: str
files_changed:
  description: The files (and C(unit)) that were (or would be) written.
  returned: always
  type: list
  elements: str
start_due:
  description:
    - Whether a C(started) call without I(restart) would change anything (start, restart, reload or enable the
      service), given this call's files and I(unit). The ray role skips that call when it would not.
  returned: when I(state=configured)
  type: bool
'''

import hashlib
import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sfdeploy.secretflow.plugins.module_utils.files import read, write_atomic

UNIT_DIR = '/etc/systemd/system'
# systemd's ActiveState of a running node; the action start_plan reports for each command.
RUNNING = ('active', 'activating', 'reloading')
ACTIONS = {'start': 'started', 'restart': 'restarted'}


class Node(object):
    def __init__(self, module):
        self.m = module
        p = module.params
        self.dir = p['node_dir']
        self.systemd = p['manager'] == 'systemd'
        self.service = p['service']
        self.unit_path = os.path.join(UNIT_DIR, '%s.service' % self.service) if self.service else None
        self.nodectl = os.path.join(self.dir, 'ray-nodectl')

    def run(self, argv, check=True):
        rc, out, err = self.m.run_command(argv)
        if check and rc != 0:
            self.m.fail_json(msg='%s failed: %s' % (' '.join(argv), (err or out).strip()))
        return rc, out.strip()

    # What is there now.
    def stale(self, launcher_content):
        running = read(os.path.join(self.dir, 'running.sha256'))
        if running is None or launcher_content is None:
            return False
        return running.strip() != hashlib.sha256(launcher_content.encode()).hexdigest()

    def systemd_state(self):
        rc, out = self.run(['systemctl', 'show', '%s.service' % self.service,
                            '--property=LoadState,ActiveState,UnitFileState,NeedDaemonReload'], check=False)
        return dict(line.split('=', 1) for line in out.splitlines() if '=' in line)

    def start_due(self, running, unit):
        """Whether C(started) without I(restart) would change anything on this node, its files
        already written: a node not running, a unit that differs or that systemd has not loaded
        as written, a unit not enabled. (A stale node is reported on its own.)"""
        if not running:
            return True
        if not self.systemd:
            return False
        if unit is not None and self.write_files({}, unit, True)[0]:
            return True
        state = self.systemd_state()
        return self.reload_due(False, state) or bool(self.start_plan(False, running, state)[0])

    def start_plan(self, restart, running, state=None):
        """What C(started) does once the node's files are written: the commands, and the action
        it reports (C(started), C(restarted), C(enabled) or C(none)). The one decision that a
        real run carries out and that check mode and C(start_due) only report. Under systemd,
        whether the node runs is read from I(state) (the unit's, read now when not given)."""
        if self.systemd:
            state = self.systemd_state() if state is None else state
            running = state.get('ActiveState') in RUNNING
        verb = 'start' if not running else 'restart' if restart else None
        if self.systemd:
            unit = '%s.service' % self.service
            steps = [['systemctl', 'enable', unit]] if state.get('UnitFileState') != 'enabled' else []
            steps += [['systemctl', verb, unit]] if verb else []
        else:
            steps = [[self.nodectl, verb, self.dir]] if verb else []
        return steps, ACTIONS[verb] if verb else ('enabled' if steps else 'none')

    def is_running(self):
        if self.systemd:
            return self.systemd_state().get('ActiveState') in RUNNING
        if not os.path.exists(self.nodectl):
            return False
        return self.run([self.nodectl, 'status', self.dir], check=False)[0] == 0

    # Changes.
    def write_files(self, files, unit, check_mode):
        """Write the files whose content or mode differs; the names of those, and one diff
        each (before and after, as ansible.builtin.copy shows them with --diff)."""
        changed, diffs = [], []
        wanted = [(name, os.path.join(self.dir, name), spec['content'], int(str(spec.get('mode') or '0640'), 8))
                  for name, spec in sorted(files.items())]
        if self.systemd and unit is not None and self.unit_path:
            wanted.append(('unit', self.unit_path, unit, 0o644))
        for name, path, content, mode in wanted:
            current = read(path)
            mode_now = os.stat(path).st_mode & 0o7777 if current is not None else None
            if current != content or mode_now != mode:
                changed.append(name)
                diffs.append({'before_header': path, 'after_header': path, 'before': current or '', 'after': content})
                if not check_mode:
                    write_atomic(path, content, mode)
        if not check_mode and not os.path.isdir(self.dir):
            os.makedirs(self.dir, mode=0o750)
        return changed, diffs

    @staticmethod
    def reload_due(unit_changed, state):
        return unit_changed or state.get('LoadState') != 'loaded' or state.get('NeedDaemonReload') == 'yes'

    def reload_if_needed(self, unit_changed):
        if self.reload_due(unit_changed, self.systemd_state()):
            self.run(['systemctl', 'daemon-reload'])

    def stop(self):
        if self.systemd:
            if not self.service or self.systemd_state().get('LoadState') in (None, 'not-found'):
                return False
            # A unit left half-loaded by an interrupted run (LoadState=error) cannot be stopped
            # before systemd has read it again.
            self.reload_if_needed(False)
            was = self.is_running()
            if was:
                self.run(['systemctl', 'stop', '%s.service' % self.service])
            return was
        if not os.path.exists(self.nodectl):
            return False
        rc, out = self.run([self.nodectl, 'stop', self.dir])
        return 'was running' in out


def _result(out, changed, action):
    """The module's result: what it found, whether it changed, and what it did to the service."""
    result = dict(out)
    result.update(changed=changed, action=action)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type='str', default='started', choices=['configured', 'started', 'stopped', 'absent']),
            node_dir=dict(type='path', required=True),
            files=dict(type='dict', default={}),
            launcher=dict(type='str', default='ray-node.sh'),
            manager=dict(type='str', default='systemd', choices=['systemd', 'process']),
            service=dict(type='str'),
            unit=dict(type='str'),
            restart=dict(type='bool', default=False),
            remove=dict(type='list', elements='path', default=[]),
        ),
        required_if=[('manager', 'systemd', ('service',))],
        supports_check_mode=True)
    p = module.params
    node = Node(module)
    check = module.check_mode
    launcher = (p['files'].get(p['launcher']) or {}).get('content')
    stale = node.stale(launcher)
    running = node.is_running()
    out = dict(stale=stale, running=running, action='none', files_changed=[])

    if p['state'] in ('stopped', 'absent'):
        if p['state'] == 'stopped':
            if running and not check:
                node.stop()
            module.exit_json(**_result(out, running, 'stopped' if running else 'none'))
        present = [path for path in [node.unit_path if node.systemd else None, node.dir] + p['remove']
                   if path and os.path.lexists(path)]
        if check or not (present or running):
            module.exit_json(**_result(out, bool(present or running), 'removed' if present else 'none'))
        node.stop()
        if node.systemd and node.unit_path and os.path.exists(node.unit_path):
            node.run(['systemctl', 'disable', '%s.service' % node.service], check=False)
        for path in present:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.unlink(path)
        if node.systemd:
            node.run(['systemctl', 'daemon-reload'])
        module.exit_json(**_result(out, True, 'removed'))

    # The unit is written with C(started) only, which restarts a running node whose unit changed.
    changed_files, diffs = node.write_files(p['files'], p['unit'] if p['state'] == 'started' else None, check)
    out['files_changed'] = changed_files
    out['diff'] = diffs + [{'before': {'stale': stale, 'running': running},
                            'after': {'stale': False, 'running': p['state'] == 'started' or running}}]
    if p['state'] == 'configured':
        out['start_due'] = stale or node.start_due(running, p['unit'])
        module.exit_json(changed=bool(changed_files), **out)

    unit_changed = 'unit' in changed_files
    restart = stale or unit_changed or p['restart']
    if node.systemd and not check:
        node.reload_if_needed(unit_changed)
    steps, action = node.start_plan(restart, running)
    for argv in [] if check else steps:
        node.run(argv)
    module.exit_json(**_result(out, bool(changed_files) or action != 'none', action))


if __name__ == '__main__':
    main()
