# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of sf_job: read the job script named by ``src`` and hand it over.

The script travels as module content, so users keep jobs next to their playbooks and
never copy them to each head by hand.
"""

from __future__ import annotations

import os

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
            path = self._find_script(src)
            with open(path, 'rb') as f:
                args['content'] = to_text(f.read(), errors='surrogate_or_strict')
        result.update(self._execute_module(module_name='sfdeploy.secretflow.sf_job', module_args=args,
                                           task_vars=task_vars))
        return result

    def _find_script(self, src):
        """src as given, else among the role's/playbook's files, else inside this collection
        (so that ``examples/secure_compare.py`` names the bundled example)."""
        if os.path.isabs(src) and os.path.isfile(src):
            return src
        try:
            return self._find_needle('files', src)
        except Exception as exc:
            bundled = os.path.join(COLLECTION_ROOT, src)
            if os.path.isfile(bundled):
                return bundled
            raise AnsibleActionFail('sf_job: cannot find the job script %s on the controller: %s' % (src, exc))


COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
