# -*- coding: utf-8 -*-
# Copyright: sfdeploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: counts, per host, the tasks that ran and the round trips to the host (module
executions on it; controller-side actions and skips are not round trips), and writes them as
JSON to $SFDEPLOY_COUNT_FILE at the end of the run; with $SFDEPLOY_TIMELINE_FILE also every
task's result per host as [host, task, task start, result time, ran] (epoch seconds)."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: sfdeploy_count
type: aggregate
short_description: Count tasks and round trips per host (the benchmark's)
description:
  - Writes {host - {tasks, round_trips}} to the file named by SFDEPLOY_COUNT_FILE.
  - Writes [host, task, task start, result time, ran] for every result to the file named by SFDEPLOY_TIMELINE_FILE.
'''

# Actions that run on the controller only.
LOCAL = {'set_fact', 'assert', 'debug', 'fail', 'meta', 'include_tasks', 'import_tasks', 'include_role',
         'import_role', 'include_vars', 'add_host', 'group_by', 'validate_argument_spec', 'sf_topology',
         }


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'sfdeploy_count'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.counts = {}
        self.timeline = []
        self.task_started = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.task_started = time.time()

    def _count(self, result, ran=True):
        host = result._host.get_name()
        entry = self.counts.setdefault(host, {'tasks': 0, 'round_trips': 0})
        entry['tasks'] += 1
        self.timeline.append((host, result._task.get_name(), self.task_started, time.time(), ran))
        action = result._task.action.rsplit('.', 1)[-1]
        delegated = result._task.delegate_to in ('localhost', '127.0.0.1')
        if ran and action not in LOCAL and not delegated:
            items = result._result.get('results')
            # A loop runs once per item; an until-loop once per attempt.
            entry['round_trips'] += (len(items) if isinstance(items, list) and items
                                     else int(result._result.get('attempts', 1)))

    def v2_runner_on_ok(self, result):
        self._count(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._count(result)

    def v2_runner_on_skipped(self, result):
        self._count(result, ran=False)

    def v2_runner_on_unreachable(self, result):
        self._count(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get('SFDEPLOY_COUNT_FILE')
        if path:
            with open(path, 'w') as f:
                json.dump(self.counts, f)
        path = os.environ.get('SFDEPLOY_TIMELINE_FILE')
        if path:
            with open(path, 'w') as f:
                json.dump(self.timeline, f)
