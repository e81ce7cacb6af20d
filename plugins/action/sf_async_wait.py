# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of sf_async_wait (the module is the host side; its DOCUMENTATION describes both).

The module waits on the host until the job's file says it has ended, for at most ``poll`` seconds a
run (another run follows until ``timeout``: the connection is never silent for longer, as a
stateful firewall between the controller and a host may drop a connection idle for minutes);
then async_status, run once, collects the result, so that it reaches the play exactly as
async_status gives it (Ansible decodes it, its warnings included). The job directory is the one
async_status uses.
"""

from __future__ import annotations

import time

from ansible.plugins.action import ActionBase
from ansible_collections.sfdeploy.secretflow.plugins.module_utils.async_job import ARGUMENT_SPEC

MODULE = 'sfdeploy.secretflow.sf_async_wait'


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        _validated, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        jid = args['jid']
        # As ansible.builtin.async_status finds it (its action plugin).
        async_dir = self._remote_expand_user(self.get_shell_option('async_dir', default='~/.ansible_async'))
        began = time.monotonic()
        deadline = began + args['timeout']
        # The job's file may appear late (the module's appear); counted from the first run.
        appear_by = began + min(args['appear'], args['timeout'])
        runs, seconds = 0, 0.0
        while True:
            now = time.monotonic()
            remaining = max(int(deadline - now + 0.999), 0)
            waited = self._execute_module(module_name=MODULE, task_vars=task_vars, module_args=dict(
                jid=jid, timeout=min(remaining, max(args['poll'], 1)), interval=args['interval'],
                appear=round(max(appear_by - now, 0.0), 1), async_dir=async_dir))
            runs, seconds = runs + 1, seconds + waited.get('waited', 0.0)
            if waited.get('failed') or waited.get('finished') or time.monotonic() >= deadline:
                break
        progress = dict(waited=round(seconds, 1), wait_runs=runs)
        if waited.get('failed') or not waited.get('finished'):
            result.update(waited, failed=True, started=True, finished=False, **progress)
            result.setdefault('msg', 'job %s has not ended after %s s (it goes on)' % (jid, args['timeout']))
            return result
        collected = self._execute_module(module_name='ansible.legacy.async_status', task_vars=task_vars,
                                         module_args=dict(jid=jid, _async_dir=async_dir))
        result.update(collected, ansible_job_id=jid, started=True, finished=bool(collected.get('finished')), **progress)
        return result
