# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of sf_job: read the job script named by ``src`` and hand it over.

The script travels as module content, so users keep jobs next to their playbooks and
never copy them to each head by hand.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        src = args.pop('src', None)
        if src is not None:
            if args.get('script') or args.get('content') is not None:
                raise AnsibleActionFail('sf_job: src, script and content are mutually exclusive')
            try:
                path = self._find_needle('files', src)
            except Exception as exc:
                raise AnsibleActionFail('sf_job: cannot find the job script %s on the controller: %s' % (src, exc))
            with open(path, 'rb') as f:
                args['content'] = to_text(f.read(), errors='surrogate_or_strict')
        result.update(self._execute_module(module_name='sfdeploy.secretflow.sf_job', module_args=args,
                                           task_vars=task_vars))
        return result
